// SLA targets in the console: a chat whose first-response target passes unanswered is
// highlighted in the chat list and carries a notice in its view; the reply clears both. A
// reloaded console shows the breach again until the reply. The admin page's reports show
// the breach rates per category.
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
next_response_target = "${TARGET_MS}ms"
`;

const up = h.serverAndBrowser({ config: CONFIG });

const { CHAT, COMPOSER } = h;
const BREACHED_TAB = '.tab.tab-sla-breach';
const NOTICE = CHAT + ' .sla-breach';

/**
 * A new expert's console and a new customer's widget whose chat the expert accepted; `started`:
 * just before the customer's first words, when the first-response clock starts.
 */
async function acceptedChat(username, name, text) {
  const expert = await h.createExpert(up.server, { username, name });
  const { context, page } = await h.newPage(up.browser);
  await h.loginConsole(page, up.server, expert);
  const { page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  const started = Date.now();
  await shop.fill(h.W.input, text);
  await shop.press(h.W.input, 'Enter');
  await page.click('.offer-accept');
  await page.waitForSelector(CHAT + ' .msg-customer');
  return { context, page, shop, started };
}

test('a breached chat is highlighted until the reply', async () => {
  const { context, page, started } = await acceptedChat('iris', 'Iris Vale', 'Is anyone there?');

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
  // Offline, so the next test's chats go to its own expert.
  await context.close();
});

test('a reloaded console still highlights a breached chat until the reply', async () => {
  const { context, page, shop } = await acceptedChat('juno', 'Juno Park', 'Hello? Anyone?');
  await page.waitForSelector(BREACHED_TAB);

  // A reload (or an owner who was away): the welcome says the chat is still in breach.
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForSelector(CHAT + ' .msg-customer');
  await page.waitForSelector(BREACHED_TAB);
  await page.waitForSelector(NOTICE + ':not([hidden])');
  assert.match(await page.textContent(NOTICE), /first-response target \(missed at \d/);

  // The reply clears it, and a reload after it shows none.
  await page.fill(COMPOSER, 'Here now, sorry.');
  await page.press(COMPOSER, 'Enter');
  await page.waitForSelector(NOTICE, { state: 'hidden' });
  assert.equal(await page.locator(BREACHED_TAB).count(), 0);
  await page.reload();
  await page.waitForSelector(CHAT + ' .msg-expert');
  assert.equal(await page.locator(BREACHED_TAB).count(), 0, 'answered: not highlighted after a reload');
  assert.ok(await page.locator(NOTICE).isHidden());

  // A next reply in time: a met next-response target, for the report below.
  await shop.fill(h.W.input, 'Thanks, one more question.');
  await shop.press(h.W.input, 'Enter');
  await page.waitForSelector(CHAT + ' .msg-customer >> text=one more question');
  await page.fill(COMPOSER, 'Sure, go ahead.');
  await page.press(COMPOSER, 'Enter');
  await page.waitForSelector(CHAT + ' .msg-expert >> text=go ahead');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the admin reports show breach rates per category', async () => {
  const { page } = await h.newPage(up.browser, { viewport: { width: 1280, height: 1400 } });
  await page.goto(up.server.url + '/admin');
  await page.fill('#login-token', h.ADMIN_TOKEN);
  await page.click('#login-submit');
  await page.waitForSelector('#app:not([hidden])');
  await page.click('#tab-reports');
  // Per day by default: the targets are still per category.
  const row = '#sla-report[data-state="ready"] #sla-table tr[data-category="general"]';
  await page.waitForSelector(row);
  const cell = (kind, figure) => page.textContent(`${row} td[data-kind="${kind}"][data-figure="${figure}"]`);
  // Both first responses came late; the one next response came in time.
  assert.equal(await cell('first_response', 'met'), '0');
  assert.equal(await cell('first_response', 'breached'), '2');
  assert.equal(await cell('first_response', 'breach_rate'), '100%');
  assert.equal(await cell('next_response', 'met'), '1');
  assert.equal(await cell('next_response', 'breached'), '0');
  assert.equal(await cell('next_response', 'breach_rate'), '0%');
  const bars = '[data-chart="sla_breach_rate"] .bar-group[data-key="general"]';
  assert.equal(await page.getAttribute(bars + ' rect[data-series="First response"]', 'data-value'), '1');
  assert.equal(await page.getAttribute(bars + ' rect[data-series="Next response"]', 'data-value'), '0');
  assert.match(await page.textContent('[data-chart="sla_breach_rate"] desc'), /General: First response 100%, Next response 0%/);
  await page.locator('#sla-report').screenshot({ path: h.screenshotPath('admin-sla.png') });

  // Grouped per category, the report's own figures serve.
  await page.click('#group-group [data-group="category"]');
  await h.waitFor(page, () => document.querySelector('#report[data-state="ready"] [data-chart="conversations"] .bar-group[data-key="general"]'), 'the per-category report');
  await page.waitForSelector(row);
  assert.equal(await cell('first_response', 'breached'), '2');
  assert.deepEqual(page.errors, []);
});
