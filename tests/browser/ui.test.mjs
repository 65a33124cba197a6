// Browser tests: Debian's headless Chromium, driven by playwright-core, against a running
// warga (WARGA_URL; the administrator's password in WARGA_ADMIN_PASSWORD). Run by .ci/run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.WARGA_URL;
const adminPassword = process.env.WARGA_ADMIN_PASSWORD;
const stamp = Date.now().toString(36);
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function newPage() {
  // warga's certificate is self-signed in this setup; the browser is told to accept it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'id-ID' });
  return context.newPage();
}

async function signIn(page, username, password) {
  await page.goto(`${base}/masuk`);
  await page.waitForSelector('h1:has-text("Masuk ke warga")');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(/\/(akun|dinas|dasbor|penduduk\/tautan|bpjs)$/), page.click('button[type=submit]')]);
}

test('a resident signs up, signs in and signs out', async () => {
  const page = await newPage();
  const username = `siti.${stamp}`;
  const password = 'Kopi-Tubruk-Pagi-2026';

  await page.goto(`${base}/daftar`);
  assert.equal(await page.getAttribute('html', 'lang'), 'id', 'Bahasa Indonesia first');
  await page.fill('#display_name', 'Siti Aminah');
  await page.fill('#username', username);
  await page.fill('#password', password);
  // Signed up is signed in: the account page, without typing the password again.
  await Promise.all([page.waitForURL(/\/akun$/), page.click('main button[type=submit]')]);
  assert.equal((await page.textContent('#account-username')).trim(), username);
  await Promise.all([page.waitForURL((url) => new URL(url).pathname === '/'), page.click('header button:has-text("Keluar")')]);

  // The sign-in page leads to sign-up for those without an account.
  await page.goto(`${base}/masuk`);
  await page.waitForSelector('h1:has-text("Masuk ke warga")');
  assert.ok(await page.$('a[href="/daftar"]'), 'a link to sign up');
  await signIn(page, username, password);
  assert.equal((await page.textContent('#account-username')).trim(), username);
  assert.match(await page.textContent('header'), /Siti Aminah/);

  await Promise.all([page.waitForURL((url) => new URL(url).pathname === '/'), page.click('header button:has-text("Keluar")')]);
  assert.match(await page.textContent('.notice'), /Anda telah keluar/);
  // The provider's session ended too: asking for the account page leads to the sign-in page.
  await page.goto(`${base}/akun`);
  await page.waitForSelector('h1:has-text("Masuk ke warga")');
});

test('a wrong password is refused on the sign-in page', async () => {
  const page = await newPage();
  await page.goto(`${base}/masuk`);
  await page.fill('#username', 'admin');
  await page.fill('#password', 'bukan-kata-sandinya');
  await page.click('button[type=submit]');
  await page.waitForSelector('p.error');
  assert.match(await page.textContent('p.error'), /Nama pengguna atau kata sandi salah/);
});

test('an administrator creates a department and an officer', async () => {
  const page = await newPage();
  await signIn(page, 'admin', adminPassword);

  await page.goto(`${base}/admin/departemen`);
  const department = `dinas-uji-${stamp}`;
  await page.fill('#id', department);
  await page.fill('#name', 'Dinas Uji Coba');
  await page.click('main button[type=submit]');
  await page.waitForSelector('.notice');
  assert.match(await page.textContent('.notice'), /Departemen dibuat/);
  assert.match(await page.textContent('table'), new RegExp(department));

  await page.goto(`${base}/admin/petugas`);
  const officer = `budi.${stamp}`;
  await page.fill('#username', officer);
  await page.fill('#display_name', 'Budi Santoso');
  await page.selectOption('#department', department);
  await page.selectOption('#level', 'head');
  await page.click('#create-officer');
  await page.waitForSelector('.notice');
  assert.match(await page.textContent('.notice'), /Kata sandi sekali pakai/);
  assert.match(await page.textContent('table'), new RegExp(officer));
});

test('English is one click away', async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await page.click('a[hreflang=en]');
  await page.waitForSelector('h1:has-text("Welcome to warga")');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await page.goto(`${base}/daftar`);
  assert.match(await page.textContent('h1'), /Create a resident account/, 'the choice is remembered');
});

test('a registry officer registers a resident and sees the statistics change', async () => {
  const username = process.env.WARGA_REGISTRAR;
  const oneTime = process.env.WARGA_REGISTRAR_PASSWORD;
  assert.ok(username && oneTime, 'WARGA_REGISTRAR and WARGA_REGISTRAR_PASSWORD are set');
  const page = await newPage();
  // First sign-in with the one-time password: the provider asks for a new one.
  await page.goto(`${base}/masuk`);
  await page.fill('#username', username);
  await page.fill('#password', oneTime);
  await page.click('button[type=submit]');
  await page.waitForSelector('#new_password');
  await page.fill('#password', oneTime);
  await page.fill('#new_password', `Loket-Dukcapil-${stamp}`);
  await page.fill('#confirm', `Loket-Dukcapil-${stamp}`);
  await Promise.all([page.waitForURL(/\/penduduk\/tautan$/), page.click('button[type=submit]')]);

  const total = async () => {
    await page.goto(`${base}/statistik?provinsi=31`);
    return Number((await page.textContent('#stats-total')).trim());
  };
  const before = await total();

  await page.goto(`${base}/penduduk/baru`);
  const serial = String(1 + (Date.now() % 9999)).padStart(4, '0');
  const nik = `317107520395${serial}`;
  await page.fill('#nik', nik);
  await page.click('button[value=check]');
  await page.waitForSelector('#nik-info');
  assert.match(await page.textContent('#nik-info'), /NIK sah: Perempuan/);
  assert.equal(await page.inputValue('#birth_date'), '1995-03-12', 'filled from the NIK');
  assert.equal(await page.inputValue('#district'), '317107');
  await page.fill('#full_name', `Siti Uji ${stamp}`);
  await page.fill('#birth_place', 'Jakarta');
  await page.fill('#address', 'Jl. Kebon Kacang Raya No. 5');
  await page.fill('#rt_rw', '003/007');
  await page.selectOption('#village', '3171071006');
  await page.selectOption('#religion', 'Islam');
  await page.selectOption('#marital_status', 'Kawin');
  await page.fill('#occupation', 'Guru');
  await Promise.all([page.waitForURL(/m=registered/), page.click('#register')]);
  assert.equal((await page.textContent('#resident-nik')).trim(), nik);

  // The registry's search results reflow on a phone at 390 px.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/penduduk?nama=${encodeURIComponent(`siti uji ${stamp}`.slice(0, 30))}`);
  await fitsA390pxPhone(page, 'the search results');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/penduduk?nama=${encodeURIComponent(`siti uji ${stamp}`.slice(0, 30))}`);
  assert.match(await page.textContent('#results'), new RegExp(`Siti Uji ${stamp}`));

  let after = before;
  // Polled once a second: every page view from this address counts against the edge's
  // per-address limit for pages (120 a minute), shared by all the tests' browsers.
  for (let i = 0; i < 30 && after !== before + 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    after = await total();
  }
  assert.equal(after, before + 1, 'the dashboard counts the new resident');
  assert.ok(await page.$('svg.chart'), 'the charts are drawn');
  // The statistics on a phone: they fit at 390 px, and each chart has a table beside it.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/statistik?provinsi=31`);
  await fitsA390pxPhone(page, 'the statistics');
  assert.ok(await page.$('details.chart-table table'), 'each chart has a table');
});

// A phone's screen: the pages must fit without sideways scrolling.
async function fitsA390pxPhone(page, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `${what} is ${width}px wide on a 390px phone`);
}

// A photo as a phone's camera would give it, drawn by the browser itself.
async function cameraPhoto() {
  const page = await newPage();
  await page.setContent('<canvas id="c" width="96" height="64"></canvas>');
  const url = await page.evaluate(() => {
    const canvas = document.getElementById('c');
    const g = canvas.getContext('2d');
    g.fillStyle = '#7a5c3a'; g.fillRect(0, 0, 96, 64);
    g.fillStyle = '#222'; g.beginPath(); g.arc(48, 32, 18, 0, 7); g.fill();
    return canvas.toDataURL('image/jpeg', 0.9);
  });
  await page.close();
  return Buffer.from(url.split(',')[1], 'base64');
}

async function phonePage(options = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, locale: 'id-ID', viewport: { width: 390, height: 844 }, isMobile: true, ...options,
  });
  return context.newPage();
}

test('JagaWarga: a citizen reports with a photo, the department resolves it, the reporter is told; an anonymous report is followed by receipt', async () => {
  const registrarPassword = `Loket-Dukcapil-${stamp}`;
  const citizenName = `rina.${stamp}`;
  const password = 'Kopi-Tubruk-Pagi-2026';
  const serial = String(1 + ((Date.now() + 4321) % 9999)).padStart(4, '0');
  const nik = `317107520395${serial}`;
  // Not the stamp: it is part of the reporter's name, which is scrubbed from what they write.
  const title = `Jalan berlubang di pasar blok ${serial}`;

  // The registry holds the citizen, and their account is linked to the record.
  const registrar = await newPage();
  await signIn(registrar, process.env.WARGA_REGISTRAR, registrarPassword);
  await registrar.goto(`${base}/penduduk/baru`);
  await registrar.fill('#nik', nik);
  await registrar.click('button[value=check]');
  await registrar.waitForSelector('#nik-info');
  await registrar.fill('#full_name', `Rina Pelapor ${stamp}`);
  await registrar.fill('#birth_place', 'Jakarta');
  await registrar.fill('#address', 'Jl. Kebon Kacang Raya No. 9');
  await registrar.fill('#rt_rw', '003/007');
  await registrar.selectOption('#village', '3171071006');
  await registrar.selectOption('#religion', 'Islam');
  await registrar.selectOption('#marital_status', 'Kawin');
  await registrar.fill('#occupation', 'Pedagang');
  await Promise.all([registrar.waitForURL(/m=registered/), registrar.click('#register')]);

  // The citizen's phone is in Tanah Abang, and lets the page know.
  const citizen = await phonePage({ geolocation: { latitude: -6.1862, longitude: 106.8063 }, permissions: ['geolocation'] });
  await citizen.goto(`${base}/daftar`);
  await citizen.fill('#display_name', `Rina Pelapor ${stamp}`);
  await citizen.fill('#username', citizenName);
  await citizen.fill('#password', password);
  await Promise.all([citizen.waitForURL(/\/akun$/), citizen.click('main button[type=submit]')]);
  await citizen.fill('#nik', nik);
  await citizen.fill('#birth_date', '1995-03-12');
  await Promise.all([citizen.waitForURL(/m=link-asked/), citizen.click('#citizen-link button[type=submit]')]);

  await registrar.goto(`${base}/penduduk/tautan`);
  const request = registrar.locator('article.request', { hasText: citizenName });
  await request.locator('button[value=approve]').click();
  await registrar.waitForSelector('.notice');
  await citizen.goto(`${base}/akun`);
  assert.match(await citizen.textContent('#link-status'), /tertaut/);

  // A department officer of Dinas PU, created by the administrator.
  const admin = await newPage();
  await signIn(admin, 'admin', adminPassword);
  await admin.goto(`${base}/admin/departemen`);
  if (!(await admin.textContent('main')).includes('dinas-pu')) {
    await admin.fill('#id', 'dinas-pu');
    await admin.fill('#name', 'Dinas Pekerjaan Umum');
    await admin.click('main button[type=submit]');
    await admin.waitForSelector('.notice');
  }
  await admin.goto(`${base}/admin/petugas`);
  const officerName = `pu.${stamp}`;
  await admin.fill('#username', officerName);
  await admin.fill('#display_name', 'Budi Dinas PU');
  await admin.selectOption('#department', 'dinas-pu');
  await admin.selectOption('#level', 'staff');
  await admin.click('#create-officer');
  await admin.waitForSelector('.notice');
  const oneTime = (await admin.textContent('.notice')).split(':').slice(1).join(':').trim().split(' ')[0];

  // The citizen reports on a phone, with a photo.
  await citizen.goto(`${base}/lapor`);
  await fitsA390pxPhone(citizen, 'the report form');
  await citizen.selectOption('#category', 'jalan-rusak');
  await citizen.fill('#title', title);
  await citizen.fill('#description', 'Lubang besar di depan pasar, berbahaya untuk motor. <b>tebal</b>');
  await citizen.selectOption('#province', '31');
  await citizen.click('button[value=pick]');
  await citizen.selectOption('#regency', '3171');
  await citizen.click('button[value=pick]');
  await citizen.selectOption('#district', '317107');
  await citizen.fill('#title', title);
  // "Use my location": warga's own script, allowed by the page's policy, fills the point.
  await citizen.click('#use-location');
  await citizen.waitForFunction(() => document.getElementById('latitude').value !== '');
  assert.equal(await citizen.inputValue('#latitude'), '-6.186200');
  assert.equal(await citizen.inputValue('#longitude'), '106.806300');
  await citizen.setInputFiles('#photos', { name: 'IMG_0001.jpg', mimeType: 'image/jpeg', buffer: await cameraPhoto() });
  await Promise.all([citizen.waitForURL(/\/laporan\/[^/]+\?m=submitted/), citizen.click('#submit-report')]);
  const reportUrl = citizen.url().split('?')[0];
  assert.match(await citizen.textContent('#report-status'), /Terkirim/);
  assert.match(await citizen.textContent('.description'), /<b>tebal<\/b>/, 'markup is shown as text');
  const photoWidth = await citizen.evaluate(() => document.querySelector('.photos img').naturalWidth);
  assert.equal(photoWidth, 96, 'the photo is served to its reporter');
  await fitsA390pxPhone(citizen, 'a report');

  // The officer: first sign-in sets a password; the queue has the report; verify, start, resolve.
  const officer = await phonePage();
  await officer.goto(`${base}/masuk`);
  await officer.fill('#username', officerName);
  await officer.fill('#password', oneTime);
  await officer.click('button[type=submit]');
  await officer.waitForSelector('#new_password');
  await officer.fill('#password', oneTime);
  await officer.fill('#new_password', `Dinas-PU-${stamp}-Aman`);
  await officer.fill('#confirm', `Dinas-PU-${stamp}-Aman`);
  await Promise.all([officer.waitForURL(/\/dinas$/), officer.click('button[type=submit]')]);
  await officer.goto(`${base}/dinas`);
  await fitsA390pxPhone(officer, 'the department queue');
  assert.match(await officer.textContent('#queue'), new RegExp(title));
  const href = await officer.getAttribute(`#queue a:has-text("${title}")`, 'href');
  assert.equal(`${base}${href}`, reportUrl, 'the queue links to the report');
  await officer.goto(reportUrl);
  for (const [action, note] of [['acknowledge', ''], ['start', ''], ['resolve', 'Lubang sudah ditambal aspal.']]) {
    await officer.selectOption('#action', action);
    await officer.fill('#note', note);
    await Promise.all([officer.waitForURL(/m=done/), officer.click('#triage-submit')]);
  }
  assert.match(await officer.textContent('#report-status'), /Selesai/);

  // The reporter sees it resolved, and their inbox says so (delivered through the bus).
  let told = false;
  for (let i = 0; i < 30 && !told; i++) {
    await citizen.goto(`${base}/laporan`);
    told = (await citizen.textContent('#inbox')).includes('sudah diselesaikan');
    if (!told) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.ok(told, 'the inbox tells the reporter');
  await fitsA390pxPhone(citizen, 'my reports');
  await citizen.goto(reportUrl);
  assert.match(await citizen.textContent('#timeline'), /Lubang sudah ditambal aspal/);

  // Anonymous: the receipt is shown once, and a browser without any session follows it.
  await citizen.goto(`${base}/lapor`);
  await citizen.selectOption('#category', 'sampah-liar');
  await citizen.fill('#title', `Sampah liar di kali blok ${serial}`);
  await citizen.fill('#description', 'Tumpukan sampah di tepi sungai setiap malam.');
  await citizen.selectOption('#province', '31');
  await citizen.click('button[value=pick]');
  await citizen.selectOption('#regency', '3171');
  await citizen.click('button[value=pick]');
  await citizen.selectOption('#district', '317107');
  await citizen.fill('#latitude', '-6.1870');
  await citizen.fill('#longitude', '106.8070');
  await citizen.check('#visibility-anonymous');
  await citizen.click('#submit-report');
  await citizen.waitForSelector('#receipt-code');
  const code = (await citizen.textContent('#receipt-code')).trim();
  await fitsA390pxPhone(citizen, 'the receipt');

  const stranger = await phonePage();
  await stranger.goto(`${base}/laporan/tanda-terima`);
  await stranger.fill('#code', code);
  await stranger.click('button[value=show]');
  await stranger.waitForSelector('#followed');
  assert.match(await stranger.textContent('#followed'), new RegExp(`Sampah liar di kali blok ${serial}`));
  await fitsA390pxPhone(stranger, 'following by receipt');
});

// Registers a resident through the registry's form (the NIK fills birth date, sex and district).
async function registerAt(page, nik, name) {
  await page.goto(`${base}/penduduk/baru`);
  await page.fill('#nik', nik);
  await page.click('button[value=check]');
  await page.waitForSelector('#nik-info');
  await page.fill('#full_name', name);
  await page.fill('#birth_place', 'Jakarta');
  await page.fill('#address', 'Jl. Kebon Kacang Raya No. 11');
  await page.fill('#rt_rw', '004/007');
  await page.selectOption('#village', '3171071006');
  await page.selectOption('#religion', 'Islam');
  await page.selectOption('#marital_status', 'Kawin');
  await page.fill('#occupation', 'Wiraswasta');
  await Promise.all([page.waitForURL(/m=registered/), page.click('#register')]);
  return new URL(page.url()).pathname.split('/').pop();
}

test('a registry officer makes a family card, adds the wife and their newborn, and moves the family with a printable letter', async () => {
  const page = await newPage();
  await signIn(page, process.env.WARGA_REGISTRAR, `Loket-Dukcapil-${stamp}`);
  const serial = String(1 + ((Date.now() + 777) % 9999)).padStart(4, '0');
  const husbandNik = `317107140780${serial}`;
  const wifeNik = `317107520382${serial}`;
  // The registration form shows every refused field at once, in Indonesian.
  await page.goto(`${base}/penduduk/baru`);
  await page.fill('#nik', husbandNik);
  await page.fill('#rt_rw', '4/7');
  await page.fill('#postal_code', '123');
  await page.click('#register');
  await page.waitForSelector('#rt_rw-error');
  assert.equal((await page.textContent('#rt_rw-error')).trim(), 'harus seperti 001/002');
  assert.equal((await page.textContent('#postal_code-error')).trim(), 'harus 5 angka');
  assert.equal(await page.getAttribute('#postal_code', 'aria-invalid'), 'true');
  const husband = await registerAt(page, husbandNik, `Budi Kepala ${stamp}`);
  await registerAt(page, wifeNik, `Sri Istri ${stamp}`);

  // A card from the head's record; warga issues its number.
  await page.goto(`${base}/penduduk/${husband}`);
  await Promise.all([page.waitForURL(/\/kk\/[^/]+\?m=created$/), page.click('#create-family')]);
  assert.match((await page.textContent('#kk-number')).trim(), /^317107\d{10}$/);
  const card = new URL(page.url()).pathname;

  // An unknown NIK is refused in Indonesian, tied to its field.
  await page.fill('#add-nik', '3171071407800000');
  await page.click('#add-member');
  await page.waitForSelector('#add-nik-error');
  assert.match(await page.textContent('#add-nik-error'), /Tidak ada penduduk dengan NIK ini/);
  assert.equal(await page.getAttribute('#add-nik', 'aria-invalid'), 'true');
  assert.equal(await page.getAttribute('#add-nik', 'aria-describedby'), 'add-nik-error');

  await page.fill('#add-nik', wifeNik);
  await page.selectOption('#add-relationship', 'istri');
  await page.selectOption('#add-reason', 'perkawinan');
  await Promise.all([page.waitForURL(/m=added$/), page.click('#add-member')]);
  assert.match(await page.textContent('#members'), new RegExp(`Sri Istri ${stamp}[\\s\\S]*Istri`));

  // Their baby is registered and put on the card in one step; a missing choice is refused
  // beside its field, and what was typed stays.
  const babyNik = `317107011126${serial}`;
  await page.fill('#nb-nik', babyNik);
  await page.fill('#nb-full_name', `Rafi Anak ${stamp}`);
  await page.fill('#nb-birth_place', 'Jakarta');
  await page.fill('#nb-birth_date', '2026-11-01');
  await page.selectOption('#nb-religion', 'Islam');
  await page.click('#add-newborn');
  await page.waitForSelector('#nb-sex-error');
  assert.equal(await page.getAttribute('#nb-sex', 'aria-describedby'), 'nb-sex-error');
  assert.equal(await page.inputValue('#nb-full_name'), `Rafi Anak ${stamp}`);
  await page.selectOption('#nb-sex', 'male');
  await Promise.all([page.waitForURL(/m=born$/), page.click('#add-newborn')]);
  assert.match(await page.textContent('#members'), new RegExp(`Rafi Anak ${stamp}[\\s\\S]*Anak[\\s\\S]*Kelahiran`));

  // The whole family moves to Bandung; the letter is the page that follows.
  await page.fill('#address', 'Jl. Setiabudi No. 7');
  await page.fill('#rt_rw', '004/002');
  await page.selectOption('#province', '32');
  await page.click('button[value=pick]');
  await page.selectOption('#regency', '3273');
  await page.click('button[value=pick]');
  await page.selectOption('#district', '327301');
  await page.click('button[value=pick]');
  await page.selectOption('#village', '3273011001');
  assert.equal(await page.inputValue('#address'), 'Jl. Setiabudi No. 7', 'typed values survive the region picker');
  await page.fill('#moved_on', '2026-11-30');
  await page.selectOption('#move-reason', 'pekerjaan');
  // A malformed RT/RW is refused in Indonesian beside its field; the rest stays as typed.
  await page.fill('#rt_rw', '4/2');
  await page.click('#move-family');
  await page.waitForSelector('#rt_rw-error');
  assert.equal((await page.textContent('#rt_rw-error')).trim(), 'harus seperti 001/002');
  assert.equal(await page.getAttribute('#rt_rw', 'aria-invalid'), 'true');
  assert.equal(await page.inputValue('#village'), '3273011001');
  await page.fill('#rt_rw', '004/002');
  await Promise.all([page.waitForURL(/\/kk\/[^/]+\/pindah\/[^/]+$/), page.click('#move-family')]);
  assert.match(await page.textContent('#letter-number'), /^Nomor: SKPWNI\/317107\/\d{8}\/\d{4}$/);
  assert.match(await page.textContent('#letter-head'), new RegExp(`Budi Kepala ${stamp}`));
  assert.equal(await page.textContent('#letter-classification'), 'Antar provinsi');
  assert.equal(await page.locator('#letter-members tbody tr').count(), 3);
  assert.match(await page.textContent('#letter-to'), /Sukarasa/);

  // On a phone the card and the letter fit; printed, the letter leaves the navigation out.
  await page.setViewportSize({ width: 390, height: 844 });
  await fitsA390pxPhone(page, 'the move letter');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('header').isVisible(), false, 'no navigation on paper');
  await page.emulateMedia({ media: 'screen' });
  await page.goto(`${base}${card}`);
  await fitsA390pxPhone(page, 'the family card');
  assert.match(await page.textContent('#kk-place'), /Sukarasa/);
  assert.match(await page.textContent('#moves'), /SKPWNI/);

  // The statistics count the household where it lives now (once the consumer ran).
  let households = 0;
  for (let i = 0; i < 30 && households < 1; i++) {
    const response = await page.goto(`${base}/statistik?provinsi=32`);
    const shown = await page.$('#stats-households');
    assert.ok(shown, `the statistics page answered ${response.status()}: ${(await page.content()).slice(0, 3000)}`);
    households = Number((await shown.textContent()).trim());
    if (households < 1) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  assert.ok(households >= 1, 'the household is counted in Jawa Barat');
  assert.equal((await page.textContent('#stats-household-size')).trim(), '3,0');
});

// First sign-in with a one-time password: the provider asks for a new one; lands on `landing`.
async function firstSignIn(page, username, oneTime, password, landing) {
  await page.goto(`${base}/masuk`);
  await page.fill('#username', username);
  await page.fill('#password', oneTime);
  await page.click('button[type=submit]');
  await page.waitForSelector('#new_password');
  await page.fill('#password', oneTime);
  await page.fill('#new_password', password);
  await page.fill('#confirm', password);
  await Promise.all([page.waitForURL(landing), page.click('button[type=submit]')]);
}

test('BPJS: a card is issued, checked at the counter, a visit claimed and approved, and the patient sees it', async () => {
  for (const name of ['WARGA_BPJS', 'WARGA_BPJS_PASSWORD', 'WARGA_PUSKESMAS', 'WARGA_PUSKESMAS_PASSWORD']) {
    assert.ok(process.env[name], `${name} is set`);
  }
  const password = 'Kopi-Tubruk-Pagi-2026';
  const serial = String(1 + ((Date.now() + 777) % 9999)).padStart(4, '0');
  const nik = `317107520395${serial}`;
  const patientName = `sari.${stamp}`;

  // The registry holds the patient; her account is linked to her record.
  const registrar = await newPage();
  await signIn(registrar, process.env.WARGA_REGISTRAR, `Loket-Dukcapil-${stamp}`);
  await registerAt(registrar, nik, `Sari Pasien ${stamp}`);
  const patient = await phonePage();
  await patient.goto(`${base}/daftar`);
  await patient.fill('#display_name', `Sari Pasien ${stamp}`);
  await patient.fill('#username', patientName);
  await patient.fill('#password', password);
  await Promise.all([patient.waitForURL(/\/akun$/), patient.click('main button[type=submit]')]);
  await patient.fill('#nik', nik);
  await patient.fill('#birth_date', '1995-03-12');
  await Promise.all([patient.waitForURL(/m=link-asked/), patient.click('#citizen-link button[type=submit]')]);
  await registrar.goto(`${base}/penduduk/tautan`);
  await registrar.locator('article.request', { hasText: patientName }).locator('button[value=approve]').click();
  await registrar.waitForSelector('.notice');

  // A BPJS officer issues her card: no card for a NIK the registry does not know.
  const bpjs = await newPage();
  await firstSignIn(bpjs, process.env.WARGA_BPJS, process.env.WARGA_BPJS_PASSWORD, `Kantor-BPJS-${stamp}`, /\/bpjs$/);
  await bpjs.fill('#issue-nik', '3171075203959999');
  await bpjs.click('#issue button[type=submit]');
  await bpjs.waitForSelector('#issue-nik-error');
  assert.match(await bpjs.textContent('#issue-nik-error'), /penduduk terdaftar/);
  assert.equal(await bpjs.getAttribute('#issue-nik', 'aria-invalid'), 'true');
  await bpjs.fill('#issue-nik', nik);
  await bpjs.selectOption('#issue-class', '2');
  await Promise.all([bpjs.waitForURL(/m=issued/), bpjs.click('#issue button[type=submit]')]);
  assert.equal((await bpjs.textContent('#card-status')).trim(), 'AKTIF');

  // At the Puskesmas counter, on a phone: the card at a glance, today's visit, its claim.
  const counter = await phonePage();
  await firstSignIn(counter, process.env.WARGA_PUSKESMAS, process.env.WARGA_PUSKESMAS_PASSWORD, `Loket-Puskesmas-${stamp}`, /\/bpjs$/);
  await counter.fill('#nik', nik);
  await Promise.all([counter.waitForURL(/nik=/), counter.click('form[action="/bpjs"] button[type=submit]')]);
  assert.equal((await counter.textContent('#card-status')).trim(), 'AKTIF');
  assert.equal((await counter.textContent('#card-class')).trim(), '2');
  await fitsA390pxPhone(counter, 'the card check');
  await counter.fill('#visit-nik', nik);
  await counter.fill('#visit-diagnosis', 'J06.9');
  await Promise.all([counter.waitForURL(/m=visit/), counter.click('#visit button[type=submit]')]);
  const visitId = (await counter.textContent('#notice-id')).trim();
  assert.match(visitId, /^V-/);
  assert.equal(await counter.inputValue('#claim-visit'), visitId, 'the claim form names the visit');
  await counter.fill('#claim-amount', '1000000');
  await counter.selectOption('#claim-class', 'I');
  await Promise.all([counter.waitForURL(/m=claim/), counter.click('#claim button[type=submit]')]);
  const claimId = (await counter.textContent('#notice-id')).trim();

  // BPJS approves the claim from its queue.
  await bpjs.goto(`${base}/bpjs`);
  const row = bpjs.locator('#claims tr', { hasText: claimId });
  assert.equal(await row.locator('input[name=value]').first().inputValue(), '1000000');
  await Promise.all([bpjs.waitForURL(/m=processed/), row.locator('button', { hasText: 'Setujui' }).click()]);
  assert.equal((await bpjs.textContent('#notice-id')).trim(), claimId);
  assert.equal(await bpjs.locator('#claims tr', { hasText: claimId }).count(), 0, 'the claim left the queue');

  // The patient sees her card and the visit, on her phone.
  await patient.goto(`${base}/bpjs/saya`);
  assert.equal((await patient.textContent('#card-status')).trim(), 'AKTIF');
  assert.match(await patient.textContent('#visits'), /J06\.9/);
  await fitsA390pxPhone(patient, 'the patient\'s BPJS page');
});
