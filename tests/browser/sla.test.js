// SLA targets in the console: a chat whose first-response target passes unanswered is
// highlighted in the chat list and carries a notice in its view; the reply clears both.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const TARGET_MS = 3000;
const CONFIG = `
[[categories]]
id = "general"
name = "General"
first_response_target = "${TARGET_MS}ms"
`;

const up = h.serverAndBrowser({ config: CONFIG });

const { CHAT, COMPOSER } = h;
const BREACHED_TAB = '.tab.tab-sla-breach';
const NOTICE = CHAT + ' .sla-breach';

test('a breached chat is highlighted until the reply', async () => {
  const iris = await h.createExpert(up.server, { username: 'iris', name: 'Iris Vale' });
  const { page } = await h.newPage(up.browser);
  await h.loginConsole(page, up.server, iris);
  const { page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  const started = Date.now();
  await shop.fill(h.W.input, 'Is anyone there?');
  await shop.press(h.W.input, 'Enter');
  await page.click('.offer-accept');
  await page.waitForSelector(CHAT + ' .msg-customer');

  // Before the target: no highlight.
  if (Date.now() - started < TARGET_MS - 500) {
    assert.equal(await page.locator(BREACHED_TAB).count(), 0, 'not highlighted before the target');
    assert.ok(await page.locator(NOTICE).isHidden(), 'no notice before the target');
  }

  // The target passes unanswered: the tab is highlighted and the view says so.
  await page.waitForSelector(BREACHED_TAB);
  assert.ok(Date.now() - started >= TARGET_MS, 'highlighted only once the target passed');
  await page.waitForSelector(NOTICE + ':not([hidden])');
  assert.match(await page.textContent(NOTICE), /first-response target/);
  assert.match(await page.textContent(NOTICE), /3 ?s/);
  await page.screenshot({ path: h.screenshotPath('console-sla-breach.png') });

  // The reply clears both.
  await page.fill(COMPOSER, 'Sorry for the wait, I am here now.');
  await page.press(COMPOSER, 'Enter');
  await page.waitForSelector(CHAT + ' .msg-expert');
  await page.waitForSelector(NOTICE, { state: 'hidden' });
  assert.equal(await page.locator(BREACHED_TAB).count(), 0, 'the highlight is cleared by the reply');
  assert.deepEqual(page.errors, []);
});
