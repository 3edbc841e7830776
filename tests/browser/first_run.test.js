// The first run against the real server: a fresh data dir, the console's "create the first
// admin" form with the setup code read from the server's output (a wrong code refused first),
// the admin signed in to the console; then the admin page's username/password sign-in, which
// refuses a non-admin account and admits the admin. Saves docs/screenshots/first-run.png.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const up = h.serverAndBrowser();

/** The setup code from the server's output, once it is printed. */
async function setupCode() {
  const end = Date.now() + h.TIMEOUT;
  for (;;) {
    const m = /setup code: (\S+)/.exec(up.server.output());
    if (m) return m[1];
    if (Date.now() > end) throw new Error(`no setup code in the server's output:\n${up.server.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setupNeeded() {
  return (await h.api(up.server, 'GET', '/api/v1/setup', undefined, '')).needed;
}

test('the first admin is created in the console and signs in to the admin page', { timeout: 90000 }, async () => {
  assert.equal(await setupNeeded(), true);
  const code = await setupCode();

  // ---- The console offers the first-run form above its sign-in.
  const { page } = await h.newPage(up.browser, { viewport: { width: 1280, height: 1000 } });
  await page.goto(up.server.url + '/console');
  await page.waitForSelector('#setup-form:not([hidden])');
  assert.ok(await page.isVisible('#login-form'), 'the sign-in stays for other accounts');
  await page.fill('#setup-code', 'not-the-code');
  await page.fill('#setup-name', 'Ada Admin');
  await page.fill('#setup-username', 'ada');
  await page.fill('#setup-password', 'first-admin-pw');
  await page.screenshot({ path: h.screenshotPath('first-run.png') });
  await page.click('#setup-submit');
  await h.waitFor(page, () => /not the setup code/.test(document.getElementById('setup-error').textContent), 'the wrong-code error');
  assert.equal(await setupNeeded(), true, 'a wrong code made nobody admin');

  await page.fill('#setup-code', code);
  await page.click('#setup-submit');
  await page.waitForSelector('#app:not([hidden])');
  await h.waitFor(page, () => document.getElementById('presence-dot').classList.contains('dot-available'), 'the admin available');
  assert.equal(await page.textContent('#me-name'), 'Ada Admin');
  assert.ok(await page.isVisible('#admin-link'), 'an admin gets the admin page link');
  assert.equal(await setupNeeded(), false);
  const experts = await h.api(up.server, 'GET', '/api/v1/experts');
  assert.deepEqual(experts.map((e) => [e.username, e.roles]), [['ada', ['admin']]]);

  // ---- Once done, the console shows only its sign-in.
  const fresh = await h.newPage(up.browser);
  await fresh.page.goto(up.server.url + '/console');
  await fresh.page.waitForSelector('#login-view:not([hidden])');
  await h.waitFor(fresh.page, () => document.getElementById('login-lead').textContent === 'Sign in to answer customers.', 'the plain sign-in');
  assert.equal(await fresh.page.isVisible('#setup-form'), false);

  // ---- The admin page: a plain expert's account is refused, the admin's admitted.
  await h.createExpert(up.server, { username: 'bruno', name: 'Bruno Costa' });
  const admin = await h.newPage(up.browser, { viewport: { width: 1280, height: 900 } });
  const p = admin.page;
  await p.goto(up.server.url + '/admin');
  await p.fill('#account-username', 'bruno');
  await p.fill('#account-password', 'correct-horse-battery');
  await p.click('#account-submit');
  await h.waitFor(p, () => /not an admin/.test(document.getElementById('account-error').textContent), 'the non-admin refusal');
  await p.fill('#account-username', 'ada');
  await p.fill('#account-password', 'wrong-password');
  await p.click('#account-submit');
  await h.waitFor(p, () => /Wrong username or password/.test(document.getElementById('account-error').textContent), 'the wrong password');
  await p.fill('#account-password', 'first-admin-pw');
  await p.click('#account-submit');
  await p.waitForSelector('#app:not([hidden])');
  await p.waitForSelector('#experts-body tr[data-username="bruno"]');
  assert.match(await p.textContent('#experts-body tr[data-username="ada"] .expert-name'), /Admin/);
  assert.equal(await p.evaluate(() => sessionStorage.getItem('switchboard.admin_login')), '1');

  // ---- Making Bruno an admin in the page: the API shows the role, and his account gets in.
  await p.click('#experts-body tr[data-username="bruno"] .expert-edit');
  await p.waitForSelector('#expert-dialog[open]');
  assert.equal(await p.isChecked('#expert-admin'), false);
  await p.check('#expert-admin');
  await p.click('#expert-save');
  await p.waitForSelector('#expert-dialog', { state: 'hidden' });
  await h.waitFor(p, () => /Admin/.test(document.querySelector('#experts-body tr[data-username="bruno"] .expert-name').textContent), 'Bruno marked admin');
  const bruno = (await h.api(up.server, 'GET', '/api/v1/experts')).find((e) => e.username === 'bruno');
  assert.deepEqual(bruno.roles, ['admin']);

  // ---- Signing out ends the admin's login on the server too.
  const token = await p.evaluate(() => sessionStorage.getItem('switchboard.admin_token'));
  await p.click('#logout-btn');
  await p.waitForSelector('#login-view:not([hidden])');
  const end = Date.now() + h.TIMEOUT;
  for (;;) {
    const res = await fetch(up.server.url + '/api/v1/experts', { headers: { Authorization: `Bearer ${token}` } });
    if (res.status === 401) break;
    if (Date.now() > end) throw new Error(`the signed-out token still answers ${res.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual([page.errors, p.errors], [[], []]);
});
