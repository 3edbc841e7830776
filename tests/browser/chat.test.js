// (a) A whole chat between the demo page's widget and the expert console, in two browser
// contexts against the real server: login, offer with countdown, accept, messages both ways
// with typing indicators, end. Also saves the screenshots in docs/screenshots/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const h = require('./helpers');

const IDENTITY_SECRET = 'browser-test-identity-secret';

let server;
let browser;
let hostSite;
let otherOrigin;

const USER_HASH = crypto.createHmac('sha256', IDENTITY_SECRET).update('cust-42').digest('hex');
function hostPage(url) {
  const attrs = url.includes('bad')
    ? 'data-user-id="cust-42" data-user-hash="0000"'
    : `data-user-id="cust-42" data-user-hash="${USER_HASH}" data-user-name="Jane Doe" data-user-email="jane@example.com"`;
  return `<!doctype html><html><head><title>Other shop</title>
    <style>* { all: unset; font-family: serif !important; color: red !important; } button { display: none !important; }</style>
    </head><body><h1>Another shop</h1>
    <script src="${server.url}/widget.js" data-category="general" ${attrs} async></script></body></html>`;
}

before(async () => {
  // Another site (another origin) embedding the widget, served by the test on the loopback:
  // chromium's local network rules keep a public page from reaching a loopback server.
  hostSite = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(hostPage(req.url));
  });
  await new Promise((r) => hostSite.listen(0, '127.0.0.1', r));
  otherOrigin = `http://127.0.0.1:${hostSite.address().port}`;
  [server, browser] = await Promise.all([
    h.startServer({
      env: {
        SWITCHBOARD_SERVER_IDENTITY_SECRET: IDENTITY_SECRET,
        // Pages of other origins may open the widget's socket only when allowed.
        SWITCHBOARD_SERVER_ALLOWED_ORIGINS: JSON.stringify([otherOrigin]),
      },
    }),
    h.launchBrowser(),
  ]);
});

after(async () => {
  if (hostSite) hostSite.close();
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('a customer and an expert hold a whole chat', async () => {
  const expert = await h.createExpert(server, { username: 'alice', name: 'Alice Martin' });

  const { page: consolePage } = await h.newPage(browser, {
    viewport: { width: 1360, height: 820 },
    allowConfirm: [/^End the chat/],
  });
  await h.loginConsole(consolePage, server, expert);
  assert.equal(await consolePage.textContent('#me-name'), 'Alice Martin');
  // The token is kept for this tab only.
  assert.ok(await consolePage.evaluate(() => sessionStorage.getItem('switchboard.token')));

  const { page: shop } = await h.newPage(browser, { viewport: { width: 1280, height: 800 } });
  await shop.goto(server.url + '/');
  await shop.click(h.W.launcher);
  await shop.waitForSelector(h.W.panel + ':not([hidden])');
  // The widget said hello and kept its visitor token.
  await h.waitFor(shop, () => Object.keys(localStorage).some((k) => k.endsWith(':visitor_token')), 'visitor token stored');

  // The first message starts the chat; the bot greets and the expert gets an offer.
  await shop.fill(h.W.input, 'Hello! The pole of my Ridgeline tent snapped.');
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  await shop.waitForSelector('#switchboard-widget .msg.bot');

  const offer = await consolePage.waitForSelector('.offer', { timeout: h.TIMEOUT });
  assert.match(await offer.textContent(), /Ridgeline tent snapped/);
  const first = await consolePage.textContent('.offer-countdown');
  const secs = Number(/(\d+) s/.exec(first)[1]);
  assert.ok(secs > 20 && secs <= 30, `countdown starts near the 30 s window, got ${first}`);
  await h.waitFor(
    consolePage,
    (before) => document.querySelector('.offer-countdown').textContent !== before,
    'the countdown to tick',
    first
  );

  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector('.tab[aria-selected="true"]');
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-customer');
  assert.equal(await consolePage.$('.offer'), null, 'the accepted offer is gone');
  // The expert sees the whole transcript, bot greeting included, and the customer's page.
  const kinds = (await h.consoleMessages(consolePage)).map((m) => m.kind);
  assert.deepEqual(kinds.slice(0, 2), ['customer', 'bot']);
  assert.match(await consolePage.textContent('.chat:not([hidden]) .current-page'), /Northwind Outdoor/);

  // The customer learns who is answering.
  await h.waitFor(
    shop,
    () => /Alice Martin/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.subtitle').textContent),
    'the expert name in the widget'
  );

  // Expert typing shows in the widget.
  const composer = '.chat:not([hidden]) .composer-input';
  await consolePage.type(composer, 'Sorry to hear that', { delay: 10 });
  await shop.waitForSelector(h.W.typing + ' .dots');
  assert.match(await shop.textContent(h.W.typing), /Alice Martin is typing/);
  await consolePage.type(composer, '! A new pole is on its way.', { delay: 5 });
  await consolePage.press(composer, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert');
  assert.equal(
    (await shop.textContent('#switchboard-widget .msg.expert .bubble')).trim(),
    'Sorry to hear that! A new pole is on its way.'
  );
  await h.waitFor(
    shop,
    () => !document.getElementById('switchboard-widget').shadowRoot.querySelector('.typing .dots'),
    'the typing indicator to clear'
  );

  // Customer typing shows in the console; the reply arrives.
  await shop.type(h.W.input, 'Great, thank you', { delay: 10 });
  await consolePage.waitForSelector('.chat:not([hidden]) .typing .dots');
  assert.match(await consolePage.textContent('.chat:not([hidden]) .typing'), /is typing/);
  await shop.type(h.W.input, ' so much!', { delay: 5 });
  await shop.press(h.W.input, 'Enter');
  await h.waitFor(
    consolePage,
    () => Array.from(document.querySelectorAll('.chat:not([hidden]) .msg-customer .bubble')).some((b) => b.textContent === 'Great, thank you so much!'),
    'the customer reply in the console'
  );
  await h.waitFor(
    consolePage,
    () => !document.querySelector('.chat:not([hidden]) .typing .dots'),
    'the customer typing indicator to clear'
  );

  // The customer read the expert's message: the console shows it.
  await h.waitFor(
    consolePage,
    () => /Seen/.test(document.querySelector('.chat:not([hidden]) .msg-expert .receipt').textContent),
    'the read receipt'
  );

  // An internal note stays in the console.
  await consolePage.click('.chat:not([hidden]) .switch');
  await consolePage.fill(composer, 'Warranty checked: bought 12 May.');
  await consolePage.press(composer, 'Enter');
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-internal');
  await consolePage.click('.chat:not([hidden]) .switch');
  await consolePage.fill(composer, 'It ships today, tracking https://example.com/track/42 will follow.');
  await consolePage.press(composer, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert >> nth=1');
  const widgetTexts = (await h.widgetMessages(shop)).map((m) => m.text);
  assert.ok(!widgetTexts.some((t) => t.includes('Warranty')), 'the internal note never reaches the customer');
  const link = await shop.$('#switchboard-widget .msg.expert a[href="https://example.com/track/42"]');
  assert.ok(link, 'links are clickable');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');

  // Screenshots for the docs, taken mid-chat.
  await h.waitFor(
    shop,
    () => /Read/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.msg.customer[data-seq] .receipt:not(:empty)')?.textContent || ''),
    'the widget read receipt'
  ).catch(() => {}); // cosmetic only
  await shop.screenshot({ path: h.screenshotPath('widget.png') });
  await consolePage.screenshot({ path: h.screenshotPath('console.png') });

  // The expert ends the chat; the customer sees the end and is offered a rating.
  await consolePage.click('.chat:not([hidden]) .chat-actions >> text=End chat');
  await shop.waitForSelector(h.W.ended + ':not([hidden])');
  assert.match(await shop.textContent(h.W.ended), /The expert ended this chat/);
  await shop.waitForSelector('#switchboard-widget .rating:not([hidden])');
  await consolePage.waitForSelector('.chat:not([hidden]) .ended:not([hidden])');
  assert.ok(await consolePage.isHidden('.chat:not([hidden]) .composer'), 'no composer after the end');

  // Leaving removes it from the console.
  await consolePage.click('.chat:not([hidden]) .chat-actions >> text=Leave');
  await consolePage.waitForSelector('.tab', { state: 'detached' });
  await consolePage.waitForSelector('#empty-state:not([hidden])');

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
  assert.deepEqual(shop.dialogsSeen, []);
});

test('the widget works at 375 px and from the keyboard', async () => {
  const { page } = await h.newPage(browser, { viewport: { width: 375, height: 740 } });
  await page.goto(server.url + '/');
  await page.waitForSelector(h.W.launcher);
  await page.focus(h.W.launcher);
  await page.keyboard.press('Enter');
  await page.waitForSelector(h.W.panel + ':not([hidden])');
  // Focus moved into the composer.
  assert.equal(
    await page.evaluate(() => document.getElementById('switchboard-widget').shadowRoot.activeElement?.tagName),
    'TEXTAREA'
  );
  const box = await page.locator(h.W.panel).boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 375, `panel fits the screen: ${JSON.stringify(box)}`);
  assert.equal(await page.getAttribute('#switchboard-widget .log', 'role'), 'log');
  assert.equal(await page.getAttribute('#switchboard-widget .log', 'aria-live'), 'polite');
  await page.keyboard.press('Escape');
  await page.waitForSelector(h.W.panel, { state: 'hidden' });
  assert.deepEqual(page.errors, []);
});

test('the one-tag embed works on another site, with a signed identity', async () => {
  const expert = await h.createExpert(server, { username: 'erin', name: 'Erin Wolf' });
  const { page: consolePage } = await h.newPage(browser);
  await h.loginConsole(consolePage, server, expert);

  const other = otherOrigin;
  const { page: shop } = await h.newPage(browser);

  // A forged identity is refused and the widget says so instead of retrying forever.
  await shop.goto(other + '/shop/bad');
  await shop.click(h.W.launcher);
  await shop.waitForSelector(h.W.conn + ':not([hidden])');
  await h.waitFor(
    shop,
    () => /unavailable/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.conn').textContent),
    'the refused identity message'
  );

  // The real one works, whatever the host page's CSS says.
  await shop.goto(other + '/shop/account');
  await shop.waitForSelector(h.W.launcher);
  const display = await shop.$eval(h.W.launcher, (b) => getComputedStyle(b).display);
  assert.notEqual(display, 'none', 'host CSS does not reach the widget');
  await shop.evaluate(() => window.SwitchboardWidget.open());
  await shop.fill(h.W.input, 'Hi, it is Jane');
  await shop.press(h.W.input, 'Enter');
  const offer = await consolePage.waitForSelector('.offer', { timeout: h.TIMEOUT });
  assert.match(await offer.textContent(), /Jane Doe/);
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector('.chat:not([hidden]) .chat-info');
  const info = await consolePage.textContent('.chat:not([hidden]) .chat-info');
  assert.match(info, /jane@example\.com/);
  assert.match(info, /cust-42/);
  assert.match(info, /127\.0\.0\.1:\d+\/shop\/account/);
  assert.deepEqual(shop.errors, []);
});
