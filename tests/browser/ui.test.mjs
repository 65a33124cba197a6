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
