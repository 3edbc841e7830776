// Waiting, seen from both sides, against the real server: the console's live queue panel
// (a waiting chat, how long, offered to whom, updating by itself), the widget's estimated
// wait next to its place in line (nothing before any chat was accepted, "About N min" after),
// and the admin page's live view (queued, open, experts by presence and load, today's chart).
// Saves docs/screenshots/queue.png and docs/screenshots/admin-live.png.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const up = h.serverAndBrowser();

const QUEUE = '#switchboard-widget .queue';

/** A customer on the demo shop who writes `text` in the widget; returns the page. */
async function customer(text) {
  const { page } = await h.newPage(up.browser, { viewport: { width: 1100, height: 760 } });
  await page.goto(up.server.url + '/');
  await page.click(h.W.launcher);
  await page.waitForSelector(h.W.panel + ':not([hidden])');
  await page.fill(h.W.input, text);
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  return page;
}

/** The console's queue rows: [{id, text}] in order. */
function queueRows(page) {
  return page.$$eval('#queue-list .queue-item', (items) =>
    items.map((li) => ({ id: li.getAttribute('data-conversation-id'), text: li.textContent }))
  );
}

test('the queue panel, the estimated wait and the admin live view follow the queue by themselves', { timeout: 120000 }, async () => {
  // Ada takes one chat at a time, so a second customer waits while she answers the first.
  await h.api(up.server, 'POST', '/api/v1/experts', {
    username: 'ada', password: 'correct-horse-battery', name: 'Ada Lovelace',
    categories: ['general'], certifications: [], max_concurrent: 1,
  });
  const ada = { username: 'ada', password: 'correct-horse-battery' };
  const { page: console_ } = await h.newPage(up.browser, { viewport: { width: 1360, height: 820 } });
  await h.loginConsole(console_, up.server, ada);
  await console_.selectOption('#presence-select', 'away');
  await h.waitFor(console_, () => document.getElementById('presence-dot').classList.contains('dot-away'), 'ada away');
  assert.match(await console_.textContent('#queue-empty'), /Nobody is waiting|appear here/);

  // ---- A first customer waits; nothing was accepted yet, so no estimate is shown.
  const first = await customer('Hello, is anyone there?');
  await h.waitFor(first, () => {
    const q = document.getElementById('switchboard-widget').shadowRoot.querySelector('.queue');
    return q && !q.hidden && /next in line/.test(q.textContent);
  }, 'the first customer told their place');
  assert.doesNotMatch(await first.textContent(QUEUE), /About/);

  // The console's panel shows the chat without a reload, not offered (Ada is away), and its
  // waiting time counts on.
  await h.waitFor(console_, () => document.querySelectorAll('#queue-list .queue-item').length === 1, 'the waiting chat in the panel');
  let rows = await queueRows(console_);
  assert.match(rows[0].text, /general/);
  assert.match(rows[0].text, /Not offered yet/);
  assert.equal(await console_.textContent('#queue-count'), '1');
  const firstWait = await console_.textContent('#queue-list .queue-wait');
  await h.waitFor(console_, (before) => document.querySelector('#queue-list .queue-wait').textContent !== before, 'the waiting time to count on', firstWait);

  // ---- Ada comes back: the panel shows the offer to her, then the chat leaves it on accept.
  await console_.selectOption('#presence-select', 'available');
  await console_.waitForSelector('.offer');
  await h.waitFor(console_, () => /Offered to you/.test(document.getElementById('queue-list').textContent), 'the offer in the panel');
  await console_.click('.offer-accept');
  await h.waitFor(console_, () => document.querySelectorAll('#queue-list .queue-item').length === 0, 'the accepted chat to leave the panel');
  assert.equal(await console_.isHidden('#queue-empty'), false);

  // ---- Ada is full: a second customer waits, now told an estimate next to their place.
  const second = await customer('My order has not arrived');
  await h.waitFor(second, () => {
    const q = document.getElementById('switchboard-widget').shadowRoot.querySelector('.queue');
    return q && !q.hidden && /next in line\. About \d+ min\./.test(q.textContent);
  }, 'the second customer told the estimated wait');
  await h.waitFor(console_, () => document.querySelectorAll('#queue-list .queue-item').length === 1, 'the second chat in the panel');
  rows = await queueRows(console_);
  const waitingId = rows[0].id;
  assert.match(rows[0].text, /Not offered yet/);
  await second.screenshot({ path: h.screenshotPath('widget-wait.png') });
  await console_.screenshot({ path: h.screenshotPath('queue.png') });

  // ---- The admin's live view, signed in with the token.
  const { page: admin } = await h.newPage(up.browser, { viewport: { width: 1280, height: 1000 } });
  await admin.goto(up.server.url + '/admin#live');
  await admin.fill('#login-token', h.ADMIN_TOKEN);
  await admin.click('#login-submit');
  await admin.waitForSelector('#live-view:not([hidden])');
  const figure = (key) => admin.textContent(`#live-totals [data-figure="${key}"] .total-value`);
  await h.waitFor(admin, () => document.querySelector('#live-totals [data-figure="queued"]'), 'the live figures');
  assert.equal(await figure('queued'), '1');
  assert.equal(await figure('open'), '1');
  assert.equal(await figure('available'), '1');
  assert.equal(await figure('free'), '0');
  const adaRow = await admin.textContent('#live-experts-body tr[data-presence="available"]');
  assert.match(adaRow, /Ada Lovelace/);
  assert.match(adaRow, /1 \/ 1/);
  assert.equal(await admin.getAttribute('#live-queue-body tr', 'data-conversation-id'), waitingId);
  // Today's chart: both chats counted in the current hour.
  await admin.waitForSelector('#live-chart svg .bar-group', { state: 'attached' });
  const thisHour = new Date().toISOString().slice(0, 13);
  const counted = await admin.getAttribute(`#live-chart .bar-group[data-key="${thisHour}"]`, 'data-value');
  assert.equal(counted, '2');

  // It updates by itself: a third customer raises the queued figure without a reload, and Ada
  // going away shows in her row.
  const third = await customer('A question about sizes');
  await h.waitFor(admin, () => document.querySelector('#live-totals [data-figure="queued"] .total-value').textContent === '2', 'the queued figure to reach 2');
  await h.waitFor(admin, () => document.querySelectorAll('#live-queue-body tr').length === 2, 'two waiting chats listed');
  await admin.screenshot({ path: h.screenshotPath('admin-live.png'), fullPage: true });
  await console_.selectOption('#presence-select', 'away');
  await h.waitFor(admin, () => document.querySelector('#live-experts-body tr[data-presence="away"]'), 'ada shown away');

  for (const p of [console_, first, second, third, admin]) assert.deepEqual(p.errors, []);
});
