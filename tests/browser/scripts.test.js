// The browser code's shape: each page loads one script assembled by the server from the
// shared pieces and its own (src/assets.rs), the widget still touches nothing of its host
// page but `window.SwitchboardWidget`, and the console and the widget, which share one
// rich-text helper, show the same message text the same way.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const vm = require('node:vm');
const h = require('./helpers');

const up = h.serverAndBrowser();

const SCRIPTS = {
  '/widget.js': ['shared/dom.js', 'shared/text.js', 'shared/socket.js', 'widget/main.js'],
  '/console.js': ['shared/dom.js', 'shared/text.js', 'shared/socket.js', 'console/offers.js', 'console/main.js'],
  '/admin.js': ['shared/dom.js', 'admin/admin.js'],
};

test('each page loads one script, assembled from the shared pieces and its own', async () => {
  for (const [path, pieces] of Object.entries(SCRIPTS)) {
    const res = await fetch(up.server.url + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8', path);
    const text = await res.text();
    assert.doesNotThrow(() => new vm.Script(text, { filename: path }), `${path} parses`);
    let at = -1;
    for (const piece of pieces) {
      const next = text.indexOf(`// ---- static/${piece}\n(function (app) {\n`);
      assert.ok(next > at, `${path} has ${piece}, in order, in its own scope`);
      at = next;
    }
  }
  // The pieces are not scripts of their own.
  for (const piece of ['/shared/socket.js', '/shared/dom.js', '/widget/main.js', '/console/offers.js', '/console/console.js']) {
    assert.equal((await fetch(up.server.url + piece)).status, 404, piece);
  }

  const { page } = await h.newPage(up.browser);
  for (const [url, script] of [['/console', '/console.js'], ['/admin', '/admin.js']]) {
    await page.goto(up.server.url + url);
    const srcs = await page.evaluate(() => Array.from(document.scripts, (s) => new URL(s.src).pathname));
    assert.deepEqual(srcs, [script], url);
  }
  assert.deepEqual(page.errors, []);
});

test('the widget adds only window.SwitchboardWidget to its host page, once', async () => {
  const { page } = await h.newPage(up.browser);
  await page.route(up.server.url + '/blank', (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Blank</title><body><p>Host page</p></body>' })
  );
  await page.goto(up.server.url + '/blank');
  const globalsBefore = await page.evaluate(() => Object.getOwnPropertyNames(window));
  await page.addScriptTag({ url: up.server.url + '/widget.js' });
  await page.waitForSelector(h.W.launcher);
  const added = await page.evaluate((known) => Object.getOwnPropertyNames(window).filter((k) => !known.includes(k)), globalsBefore);
  assert.deepEqual(added, ['SwitchboardWidget']);

  // A second copy of the tag does nothing.
  await page.addScriptTag({ url: up.server.url + '/widget.js' });
  await page.evaluate(() => window.SwitchboardWidget.open());
  await page.waitForSelector(h.W.panel + ':not([hidden])');
  assert.equal(await page.locator('#switchboard-widget').count(), 1);
  assert.deepEqual(page.errors, []);
});

test('the console and the widget show links in a message the same way', async () => {
  const expert = await h.createExpert(up.server, { username: 'lena', name: 'Lena Berg' });
  const { page: consolePage } = await h.newPage(up.browser);
  await h.loginConsole(consolePage, up.server, expert);
  const { page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);

  const fromCustomer = 'My order: https://shop.example/orders/7?x=1, and (see https://shop.example/help). Not javascript:alert(1)';
  const fromExpert = 'Track it at https://example.com/track/7. Or call us.';
  await shop.fill(h.W.input, fromCustomer);
  await shop.press(h.W.input, 'Enter');
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-customer');
  const composer = '.chat:not([hidden]) .composer-input';
  await consolePage.fill(composer, fromExpert);
  await consolePage.press(composer, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert');
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-expert');

  // Every link of each message, as each page shows it.
  const linksIn = (page, root, selector) =>
    page.evaluate(
      ([root, selector]) => {
        const base = root ? document.getElementById(root).shadowRoot : document;
        return Array.from(base.querySelectorAll(selector), (bubble) =>
          Array.from(bubble.querySelectorAll('a'), (a) => ({
            href: a.getAttribute('href'),
            text: a.textContent,
            target: a.getAttribute('target'),
            rel: a.getAttribute('rel'),
          }))
        );
      },
      [root, selector]
    );
  const widget = {
    customer: await linksIn(shop, 'switchboard-widget', '.msg.customer[data-seq] .bubble'),
    expert: await linksIn(shop, 'switchboard-widget', '.msg.expert .bubble'),
  };
  const inConsole = {
    customer: await linksIn(consolePage, null, '.chat:not([hidden]) .msg-customer .bubble'),
    expert: await linksIn(consolePage, null, '.chat:not([hidden]) .msg-expert .bubble'),
  };
  const safe = { target: '_blank', rel: 'noopener noreferrer nofollow' };
  assert.deepEqual(widget.customer, [
    [
      { href: 'https://shop.example/orders/7?x=1', text: 'https://shop.example/orders/7?x=1', ...safe },
      { href: 'https://shop.example/help', text: 'https://shop.example/help', ...safe },
    ],
  ]);
  assert.deepEqual(widget.expert, [[{ href: 'https://example.com/track/7', text: 'https://example.com/track/7', ...safe }]]);
  assert.deepEqual(inConsole, widget, 'the console shows the same links as the widget');

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
});
