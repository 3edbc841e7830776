// The console's tools beyond a plain chat, against the real server: nudges, the duplicate
// confirmation, transfer with a note, callbacks, and pushing a chat to a customer from the
// follow-up list (the widget opens by itself).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const up = h.serverAndBrowser({
  env: {
    SWITCHBOARD_CONVERSATION_NUDGE_AFTER: '1s',
    SWITCHBOARD_CONVERSATION_LEFT_SITE_AFTER: '1s',
  },
});

const { CHAT, COMPOSER } = h;

test('nudge, duplicate confirmation and transfer with a note', async () => {
  const gina = await h.createExpert(up.server, { username: 'gina', name: 'Gina Hart' });
  const hugo = await h.createExpert(up.server, { username: 'hugo', name: 'Hugo Lind' });
  const hugoId = (await h.api(up.server, 'GET', '/api/v1/experts')).find((e) => e.username === 'hugo').id;

  const { context: ginaContext, page: ginaPage } = await h.newPage(up.browser);
  await h.loginConsole(ginaPage, up.server, gina);
  const { page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.fill(h.W.input, 'My order never arrived');
  await shop.press(h.W.input, 'Enter');
  await ginaPage.click('.offer-accept');
  await ginaPage.waitForSelector(CHAT + ' .msg-customer');

  // Nobody answered yet: the expert is nudged.
  await ginaPage.waitForSelector(CHAT + ' .nudge:not([hidden])');
  assert.match(await ginaPage.textContent(CHAT + ' .nudge'), /waiting/);

  // The same reply twice asks first; confirming sends it anyway.
  await ginaPage.fill(COMPOSER, 'Let me check.');
  await ginaPage.press(COMPOSER, 'Enter');
  await ginaPage.waitForSelector(CHAT + ' .msg-expert');
  await ginaPage.waitForSelector(CHAT + ' .nudge', { state: 'hidden' });
  await ginaPage.fill(COMPOSER, 'Let me check.');
  await ginaPage.press(COMPOSER, 'Enter');
  await ginaPage.waitForSelector('#dup-dialog[open]');
  assert.equal(await ginaPage.textContent('#dup-text'), 'Let me check.');
  await ginaPage.click('#dup-dialog button[value="force"]');
  await h.waitFor(ginaPage, () => document.querySelectorAll('.chat:not([hidden]) .msg-expert').length === 2, 'the confirmed duplicate');

  // Transfer to Hugo with a note: he gets the whole transcript and the note.
  const { context: hugoContext, page: hugoPage } = await h.newPage(up.browser);
  await h.loginConsole(hugoPage, up.server, hugo);
  await ginaPage.click(CHAT + ' .chat-actions >> text=Transfer');
  await ginaPage.click(`#transfer-colleagues [data-expert-id="${hugoId}"]`);
  await ginaPage.fill('#transfer-note', 'Parcel lost by the courier, refund approved');
  await ginaPage.click('#transfer-form button[type="submit"]');
  await ginaPage.waitForSelector('.tab', { state: 'detached' });
  await hugoPage.waitForSelector(CHAT + ' .transfer-note:not([hidden])');
  assert.match(await hugoPage.textContent(CHAT + ' .transfer-note'), /Gina Hart[\s\S]*refund approved/);
  await h.waitFor(
    hugoPage,
    () => Array.from(document.querySelectorAll('.chat:not([hidden]) .msg-customer .bubble')).some((b) => b.textContent === 'My order never arrived'),
    'the transcript at the new owner'
  );
  await hugoPage.fill(COMPOSER, 'Hi, Hugo here: your refund is on its way.');
  await hugoPage.press(COMPOSER, 'Enter');
  await h.waitFor(
    shop,
    () => Array.from(document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.expert .bubble')).some((b) => /Hugo here/.test(b.textContent)),
    'the new expert message in the widget'
  );
  assert.ok(!(await h.widgetMessages(shop)).some((m) => /refund approved/.test(m.text)), 'the note stays internal');

  for (const p of [ginaPage, hugoPage, shop]) assert.deepEqual(p.errors, []);
  // Sign both experts out of the way: the next test needs nobody available.
  await Promise.all([ginaContext.close(), hugoContext.close()]);
});

test('callbacks and pushing a chat from the follow-up list', async () => {
  const ivy = await h.createExpert(up.server, { username: 'ivy', name: 'Ivy Stone' });
  const { page: ivyPage } = await h.newPage(up.browser);
  await h.loginConsole(ivyPage, up.server, ivy);
  // Away: no offers, so the next chat goes unanswered.
  await ivyPage.selectOption('#presence-select', 'away');
  await h.waitFor(ivyPage, () => document.getElementById('presence-dot').className.includes('away'), 'away');

  // No expert available: the widget offers a callback.
  const { context, page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.waitForSelector('#switchboard-widget .offline:not([hidden])');
  await shop.click('#switchboard-widget .offline .show-callback');
  await shop.fill('#switchboard-widget #sb-cb-phone', '+33 6 12 34 56 78');
  await shop.fill('#switchboard-widget #sb-cb-msg', 'About my <b>order</b>');
  await shop.click('#switchboard-widget .callback button[type="submit"]');
  await shop.waitForSelector('#switchboard-widget .callback >> text=We will call you back');

  await ivyPage.click('#callbacks-refresh');
  await ivyPage.waitForSelector('#callbacks-list .side-item');
  assert.match(await ivyPage.textContent('#callbacks-list'), /\+33 6 12 34 56 78[\s\S]*About my <b>order<\/b>/);
  await ivyPage.click('#callbacks-list .side-item button');
  await ivyPage.waitForSelector('#callbacks-list .side-item', { state: 'detached' });

  // A chat nobody answered, then the customer leaves the site: it is abandoned.
  await shop.fill(h.W.input, 'Is the Stormshell jacket waterproof?');
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  await shop.close();
  // Wait for the server to resolve it (left_site_after is 1 s here).
  const deadline = Date.now() + h.TIMEOUT;
  while ((await h.api(up.server, 'GET', '/api/v1/abandoned')).length === 0) {
    assert.ok(Date.now() < deadline, 'the chat was not abandoned after the customer left');
    await new Promise((r) => setTimeout(r, 100));
  }

  // The customer comes back; the expert follows up with a pushed chat.
  const shop2 = await context.newPage();
  shop2.errors = [];
  shop2.on('pageerror', (e) => shop2.errors.push(String(e)));
  await shop2.goto(up.server.url + '/#jackets');
  await shop2.evaluate(() => window.SwitchboardWidget.close());
  await ivyPage.selectOption('#presence-select', 'available');
  // The customer's widget is connected again, so the chat can be pushed.
  await shop2.waitForSelector(h.W.conn, { state: 'hidden' });
  await h.waitFor(shop2, () => Object.keys(localStorage).some((k) => k.endsWith(':visitor_token')), 'the widget hello');
  const until = Date.now() + h.TIMEOUT;
  for (;;) {
    await ivyPage.click('#followup-refresh');
    const ready = await ivyPage
      .waitForSelector('#followup-list .side-item button:not([disabled])', { timeout: 1000 })
      .then(() => true, () => false);
    if (ready) break;
    assert.ok(Date.now() < until, 'the abandoned chat with the customer online');
  }
  await ivyPage.click('#followup-list .side-item button:not([disabled])');
  await ivyPage.fill('#push-text', 'Hi! Yes, it is fully waterproof. Anything else?');
  await ivyPage.click('#push-form button[type="submit"]');
  await ivyPage.waitForSelector(CHAT + ' .msg-expert');

  // The widget opens by itself and shows the message.
  await shop2.waitForSelector(h.W.panel + ':not([hidden])');
  await shop2.waitForSelector('#switchboard-widget .msg.expert >> text=fully waterproof');
  assert.match(await shop2.textContent(h.W.subtitle), /Ivy Stone/);
  await shop2.fill(h.W.input, 'Great, thanks!');
  await shop2.press(h.W.input, 'Enter');
  await ivyPage.waitForSelector(CHAT + ' .msg-customer >> text=Great, thanks!');

  assert.deepEqual(ivyPage.errors, []);
  assert.deepEqual(shop2.errors, []);
});
