// What the console does that is built but was not asserted: the sound and the desktop
// notification on an offer, the Enter-sends setting, and the history panel with a customer's
// earlier, closed chat. The sound and notification are observed, not replaced: page script
// wraps the real AudioContext (recording each oscillator started) and Notification
// (recording each one shown), and `document.hasFocus` says whether the console is in front.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

// Ending a live chat closes it at once, so the history test has a closed earlier chat.
const CONFIG = `
[conversation]
style = "live_chat"
`;

const { CHAT, COMPOSER } = h;

const up = h.serverAndBrowser({ config: CONFIG });

/** A console page whose sounds and notifications are recorded, with notifications allowed. */
async function observedConsole() {
  const context = await up.browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(h.TIMEOUT);
  await context.grantPermissions(['notifications'], { origin: up.server.url });
  await context.addInitScript(() => {
    window.__sounds = [];
    window.__notes = [];
    window.__focused = true;
    const RealContext = window.AudioContext;
    window.AudioContext = class extends RealContext {
      createOscillator() {
        const osc = super.createOscillator();
        const start = osc.start.bind(osc);
        osc.start = (when) => {
          window.__sounds.push({ frequency: osc.frequency.value, state: this.state });
          return start(when);
        };
        return osc;
      }
    };
    const RealNotification = window.Notification;
    window.Notification = class {
      constructor(title, options) {
        this.title = title;
        this.body = options && options.body;
        window.__notes.push(this);
      }
      close() {
        this.closed = true;
      }
      static get permission() {
        return RealNotification.permission;
      }
      static requestPermission(cb) {
        return RealNotification.requestPermission(cb);
      }
    };
    document.hasFocus = () => window.__focused;
  });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('dialog', (d) => d.accept()); // "End the chat …?"
  return { context, page };
}

/** The demo shop's widget with a first message sent. */
async function startChat(text) {
  const { context, page } = await h.newPage(up.browser);
  await page.goto(up.server.url + '/');
  await page.click(h.W.launcher);
  await page.fill(h.W.input, text);
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  return { context, page };
}

function widgetHas(page, re) {
  return h.waitFor(
    page,
    (src) => Array.from(document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.expert .bubble')).some((b) => new RegExp(src).test(b.textContent)),
    `an expert message matching ${re} in the widget`,
    re.source
  );
}

test('an offer plays the offer sound, and notifies on the desktop when the console is not in front', async () => {
  const expert = await h.createExpert(up.server, { username: 'nora', name: 'Nora Quinn' });
  const { context, page } = await observedConsole();
  await h.loginConsole(page, up.server, expert); // clicks and keys: the page may play sound now
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');
  assert.ok(await page.isHidden('#notify-btn'), 'no "Enable notifications" once granted');

  // In front: the two-tone sound, no notification.
  const { context: shop1 } = await startChat('Is the tent waterproof?');
  await page.waitForSelector('.offer');
  await h.waitFor(page, () => window.__sounds.length >= 2, 'the offer sound');
  const sounds = await page.evaluate(() => window.__sounds);
  assert.deepEqual(sounds.map((s) => s.frequency), [784, 1046]);
  assert.ok(sounds.every((s) => s.state === 'running'), `played, not muted: ${JSON.stringify(sounds)}`);
  assert.deepEqual(await page.evaluate(() => window.__notes.length), 0);

  // Behind another window: a notification too, naming the customer's words; clicking it
  // brings the offer's Accept button into focus.
  await page.evaluate(() => (window.__focused = false));
  const { context: shop2 } = await startChat('Do you ship to Norway?');
  await h.waitFor(page, () => window.__notes.length === 1, 'a desktop notification');
  const note = await page.evaluate(() => ({ title: window.__notes[0].title, body: window.__notes[0].body }));
  assert.equal(note.title, 'New chat offer');
  assert.match(note.body, /Do you ship to Norway\?/);
  await h.waitFor(page, () => window.__sounds.length >= 4, 'the sound for the second offer');
  await page.evaluate(() => window.__notes[0].onclick());
  assert.ok(await page.evaluate(() => document.activeElement.classList.contains('offer-accept')));
  assert.ok(await page.evaluate(() => window.__notes[0].closed), 'the notification is closed once clicked');

  assert.deepEqual(page.errors, []);
  await Promise.all([context.close(), shop1.close(), shop2.close()]);
});

test('Enter sends when the setting is on; off, Enter makes a new line and the button sends', async () => {
  const expert = await h.createExpert(up.server, { username: 'omar', name: 'Omar Sy' });
  const { context, page } = await h.newPage(up.browser);
  await h.loginConsole(page, up.server, expert);
  const { context: shopContext, page: shop } = await startChat('Can I change my delivery address?');
  // Chats the last test left waiting may be offered too: accept this one.
  await page.click('.offer:has-text("Can I change my delivery address?") .offer-accept');
  await page.waitForSelector(CHAT + ' .msg-customer');

  assert.ok(await page.isChecked('#enter-sends'), 'on by default');
  assert.equal(await page.textContent(CHAT + ' .composer-hint'), 'Enter sends · Shift+Enter new line');
  await page.fill(COMPOSER, 'Yes, which address?');
  await page.press(COMPOSER, 'Enter');
  await h.waitFor(page, () => document.querySelectorAll('.chat:not([hidden]) .msg-expert').length === 1, 'sent by Enter');
  assert.equal(await page.inputValue(COMPOSER), '');
  await widgetHas(shop, /which address/);

  await page.uncheck('#enter-sends');
  assert.equal(await page.textContent(CHAT + ' .composer-hint'), 'Ctrl+Enter sends · Enter new line');
  assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.enterSends')), '0');
  await page.click(COMPOSER);
  await page.keyboard.type('Street: Main 1');
  await page.keyboard.press('Enter');
  await page.keyboard.type('City: Oslo');
  assert.equal(await page.inputValue(COMPOSER), 'Street: Main 1\nCity: Oslo', 'Enter made a new line');
  await page.click(CHAT + ' .composer button[type="submit"]');
  await h.waitFor(page, () => document.querySelectorAll('.chat:not([hidden]) .msg-expert').length === 2, 'sent by the button');
  // One message with both lines: the Enter in between sent nothing.
  const texts = await page.$$eval(CHAT + ' .msg-expert .bubble', (b) => b.map((x) => x.textContent));
  assert.deepEqual(texts.length, 2);
  assert.match(texts[1], /Street: Main 1\s*City: Oslo/);
  await widgetHas(shop, /City: Oslo/);

  // The setting is kept for the next visit.
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  assert.equal(await page.isChecked('#enter-sends'), false);

  assert.deepEqual(page.errors, []);
  await Promise.all([context.close(), shopContext.close()]);
});

test("the history panel shows the customer's earlier, closed chat", async () => {
  const expert = await h.createExpert(up.server, { username: 'pia', name: 'Pia Lund' });
  const { context, page } = await h.newPage(up.browser, { allowConfirm: [/End the chat/] });
  await h.loginConsole(page, up.server, expert);
  const { context: shopContext, page: shop } = await startChat('Where is my parcel 77?');
  await page.click('.offer:has-text("Where is my parcel 77?") .offer-accept');
  await page.waitForSelector(CHAT + ' .msg-customer');
  const first = await page.getAttribute(CHAT, 'data-conversation');
  await page.fill(COMPOSER, 'It left the warehouse yesterday.');
  await page.press(COMPOSER, 'Enter');
  await widgetHas(shop, /left the warehouse/);
  await page.click(CHAT + ' .chat-actions >> text=End chat');
  const deadline = Date.now() + h.TIMEOUT;
  while ((await h.api(up.server, 'GET', `/api/v1/conversations/${first}`)).status !== 'closed') {
    assert.ok(Date.now() < deadline, 'the first chat closed');
    await new Promise((r) => setTimeout(r, 50));
  }

  // The same customer comes back with a new chat.
  await shop.fill(h.W.input, 'Me again: can I return the boots?');
  await shop.press(h.W.input, 'Enter');
  await page.click('.offer:has-text("can I return the boots?") .offer-accept');
  await page.waitForSelector(`.chat[data-conversation]:not([data-conversation="${first}"]):not([hidden]) .msg-customer`);
  await page.click(CHAT + ' .chat-info >> text=Show past conversations');
  await page.waitForSelector(CHAT + ' .chat-info details.history');
  const past = await page.$$eval(CHAT + ' .chat-info details.history', (ds) =>
    ds.map((d) => ({ summary: d.querySelector('summary').textContent, text: d.querySelector('.history-log').textContent }))
  );
  assert.equal(past.length, 1, JSON.stringify(past));
  assert.match(past[0].summary, /Closed$/);
  assert.match(past[0].text, /Where is my parcel 77\?/);
  assert.match(past[0].text, /left the warehouse yesterday/);
  assert.doesNotMatch(past[0].text, /return the boots/, 'not the current chat');

  assert.deepEqual(page.errors, []);
  await Promise.all([context.close(), shopContext.close()]);
});
