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
  await Promise.all([page.waitForURL(/\/akun$/), page.click('button[type=submit]')]);
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
  await Promise.all([page.waitForURL(/m=registered/), page.click('main button[type=submit]')]);
  assert.match(await page.textContent('.notice'), /Pendaftaran berhasil/);

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
  await page.click('main button[type=submit]');
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
  await Promise.all([page.waitForURL(/\/akun$/), page.click('button[type=submit]')]);

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
  await page.fill('#village', 'Kebon Kacang');
  await page.selectOption('#religion', 'Islam');
  await page.selectOption('#marital_status', 'Kawin');
  await page.fill('#occupation', 'Guru');
  await Promise.all([page.waitForURL(/m=registered/), page.click('#register')]);
  assert.equal((await page.textContent('#resident-nik')).trim(), nik);

  await page.goto(`${base}/penduduk?nama=${encodeURIComponent(`siti uji ${stamp}`.slice(0, 30))}`);
  assert.match(await page.textContent('#results'), new RegExp(`Siti Uji ${stamp}`));

  let after = before;
  for (let i = 0; i < 40 && after !== before + 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    after = await total();
  }
  assert.equal(after, before + 1, 'the dashboard counts the new resident');
  assert.ok(await page.$('svg.chart'), 'the charts are drawn');
});
