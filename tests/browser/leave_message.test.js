// Leaving a message outside office hours, against the real server: the widget shows the
// hours with the message form (and the callback form a click away), thanks the customer, the
// console marks the left message in the queue, the offer and the chat, with the name and
// email beside it; the expert answers while the customer is gone, and the customer reads the
// answer on returning. Saves docs/screenshots/widget-leave-message.png.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

// The usual weekday hours, with today (and the days either side, wherever midnight falls
// during the run) a holiday in Paris: the widget shows hours, and the office is closed.
function parisDate(offsetDays) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris' }).format(d);
}
const CLOSED = `
[office_hours]
enabled = true
timezone = "Europe/Paris"
holidays = ["${parisDate(-1)}", "${parisDate(0)}", "${parisDate(1)}"]
`;

const up = h.serverAndBrowser({ config: CLOSED, env: { SWITCHBOARD_CONVERSATION_LEFT_SITE_AFTER: '500ms' } });

const { CHAT, COMPOSER } = h;
const W = '#switchboard-widget';

/** The text of the widget's node `sel`. */
function text(page, sel) {
  return page.textContent(`${W} ${sel}`);
}

test('a message left outside office hours is answered in the console and read on return', async () => {
  const { context: shopContext, page: shop } = await h.newPage(up.browser, { viewport: { width: 1100, height: 860 } });
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.waitForSelector(`${W} .subtitle >> text=Outside office hours`);

  // Closed: the hours, the message form shown at once, the callback form a click away, and
  // no chat composer.
  await shop.waitForSelector(`${W} .offline:not([hidden])`);
  assert.match(await text(shop, '.offline'), /We are closed right now[\s\S]*Leave a message/);
  assert.match(await text(shop, '.offline .hours'), /Mon–Fri/);
  await shop.waitForSelector(`${W} .leave:not([hidden])`);
  assert.ok(await shop.$(`${W} .offline .show-callback`), 'a callback can be asked for instead');
  assert.ok(await shop.isHidden(`${W} .composer`), 'no chat composer while closed');

  // The form checks the email before sending anything.
  await shop.fill(`${W} #sb-leave-text`, 'My order #4411 arrived without the charger. Can you send one?');
  await shop.fill(`${W} #sb-leave-name`, 'Mo Ali');
  await shop.fill(`${W} #sb-leave-email`, 'mo at shop');
  await shop.click(`${W} .leave button[type="submit"]`);
  await shop.waitForSelector(`${W} .leave-status >> text=Please enter a valid email address.`);
  await shop.fill(`${W} #sb-leave-email`, 'mo@shop.example');
  assert.equal(await text(shop, '.leave-status'), '', 'the refusal goes once corrected');
  // The shot for the docs: the notice with the hours, and the form filled in below it.
  await shop.evaluate(() => {
    const root = document.getElementById('switchboard-widget').shadowRoot;
    root.activeElement.blur();
    root.querySelector('.body').scrollTop = 0;
  });
  await shop.screenshot({ path: h.screenshotPath('widget-leave-message.png') });
  await shop.click(`${W} .leave button[type="submit"]`);

  // Thanked, the message shown as theirs, waiting.
  await shop.waitForSelector(`${W} .notice.left:not([hidden])`);
  assert.match(await text(shop, '.notice.left'), /Thanks! We have your message/);
  assert.equal(await text(shop, '.subtitle'), 'Your message is waiting for an expert');
  assert.ok(await shop.isHidden(`${W} .leave`), 'the form is gone');
  await h.waitFor(
    shop,
    () => !!document.getElementById('switchboard-widget').shadowRoot.querySelector('.msg.customer[data-seq="1"]'),
    'the left message in the transcript'
  );
  const convId = (await h.api(up.server, 'GET', '/api/v1/conversations'))[0].id;

  // The customer leaves the site; the message outlasts left_site_after.
  const shopState = await shopContext.storageState();
  await shopContext.close();

  // An expert signs in (working late): the queue, the offer and the chat say it was left.
  const ada = await h.createExpert(up.server, { username: 'ada', name: 'Ada Quill' });
  const { page: consolePage } = await h.newPage(up.browser);
  await h.loginConsole(consolePage, up.server, ada);
  await consolePage.waitForSelector('.offer .chip-offline');
  assert.match(await consolePage.textContent('.offer'), /Mo Ali[\s\S]*Left message[\s\S]*charger/);
  await consolePage.waitForSelector(`#queue-list [data-conversation-id="${convId}"] .queue-left`);
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector(CHAT + ' .pill-offline:not([hidden])');
  const info = await consolePage.textContent(CHAT + ' .chat-info');
  assert.match(info, /Mo Ali/);
  assert.match(info, /mo@shop\.example/);
  await consolePage.fill(COMPOSER, 'Sorry about that, Mo: a charger is on its way today.');
  await consolePage.press(COMPOSER, 'Enter');
  await consolePage.waitForSelector(CHAT + ' .msg-expert');
  assert.equal((await h.api(up.server, 'GET', `/api/v1/conversations/${convId}`)).status, 'open');

  // The customer comes back (same browser): the conversation, with the answer.
  const back = await up.browser.newContext({ storageState: shopState, viewport: { width: 1100, height: 860 } });
  const page = await back.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(up.server.url + '/');
  await page.click(h.W.launcher);
  await h.waitFor(
    page,
    () => Array.from(document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.expert .bubble')).some((b) => /charger is on its way/.test(b.textContent)),
    'the answer in the widget'
  );
  const texts = (await h.widgetMessages(page)).map((m) => m.text);
  assert.deepEqual(texts, [
    'My order #4411 arrived without the charger. Can you send one?',
    'Sorry about that, Mo: a charger is on its way today.',
  ]);
  assert.ok(await page.isHidden(`${W} .notice.left`), 'no longer waiting');
  assert.match(await text(page, '.subtitle'), /Ada Quill/);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
  await back.close();
});
