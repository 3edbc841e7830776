// (b) Markup sent from either side is shown as text on both sides; nothing runs, no dialog
// opens, and only http(s) links become clickable.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const up = h.serverAndBrowser();

const FROM_CUSTOMER = '<img src=x onerror=alert(1)><script>alert(2)</script> javascript:alert(3)';
const FROM_EXPERT = '<b onmouseover=alert(4)>bold</b><img src=x onerror="window.__pwned=1;alert(5)"> <a href="javascript:alert(6)">click</a>';
const SNEAKY_LINK = 'see https://example.com/"onmouseover="alert(7) and javascript://example.com/%0aalert(8)';

test('markup from either side is shown as text and never runs', async () => {
  const expert = await h.createExpert(up.server, { username: 'bob', name: 'Bob <i>Bold</i>' });
  const { page: consolePage } = await h.newPage(up.browser);
  await h.loginConsole(consolePage, up.server, expert);
  const { page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);

  await shop.fill(h.W.input, FROM_CUSTOMER);
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');

  // The offer preview shows the text as text.
  await consolePage.waitForSelector('.offer .offer-text');
  assert.equal(await consolePage.textContent('.offer .offer-text'), FROM_CUSTOMER);
  assert.equal(await consolePage.$('.offer img, .offer script'), null);
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-customer');

  const composer = '.chat:not([hidden]) .composer-input';
  await consolePage.fill(composer, FROM_EXPERT);
  await consolePage.press(composer, 'Enter');
  await consolePage.fill(composer, SNEAKY_LINK);
  await consolePage.press(composer, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert >> nth=1');
  await shop.fill(h.W.input, SNEAKY_LINK);
  await shop.press(h.W.input, 'Enter');
  await h.waitFor(
    consolePage,
    () => document.querySelectorAll('.chat:not([hidden]) .msg-customer').length === 2,
    'the second customer message in the console'
  );

  // Each bubble's text is exactly what was typed, and no element was created from it.
  const widget = await h.widgetMessages(shop);
  const widgetTexts = widget.filter((m) => m.kind !== 'bot').map((m) => m.text);
  assert.deepEqual(widgetTexts, [FROM_CUSTOMER, FROM_EXPERT, SNEAKY_LINK, SNEAKY_LINK]);
  const consoleTexts = (await h.consoleMessages(consolePage)).filter((m) => m.kind !== 'bot').map((m) => m.text);
  assert.deepEqual(consoleTexts, [FROM_CUSTOMER, FROM_EXPERT, SNEAKY_LINK, SNEAKY_LINK]);

  for (const page of [shop, consolePage]) {
    const found = await page.evaluate(() => {
      const roots = [document];
      const w = document.getElementById('switchboard-widget');
      if (w && w.shadowRoot) roots.push(w.shadowRoot);
      const q = (sel) => roots.flatMap((r) => Array.from(r.querySelectorAll(sel)));
      return {
        injected: q('.bubble img, .bubble script, .bubble b, .bubble i, .who i').length,
        links: q('.bubble a').map((a) => ({ href: a.getAttribute('href'), rel: a.getAttribute('rel'), text: a.textContent })),
        pwned: window.__pwned || null,
      };
    });
    assert.equal(found.injected, 0, 'no element was created from message text');
    assert.equal(found.pwned, null);
    // Only the http(s) link became clickable, cut before the quote, and it opens safely.
    assert.ok(found.links.length >= 2, JSON.stringify(found.links));
    for (const a of found.links) {
      assert.match(a.href, /^https:\/\/example\.com\/$/, JSON.stringify(a));
      assert.match(a.rel, /noopener/);
    }
  }

  // The expert's name is shown as text too.
  assert.match(await shop.textContent(h.W.subtitle), /Bob <i>Bold<\/i>/);

  // Hovering over and clicking around fires nothing.
  await shop.hover('#switchboard-widget .msg.expert .bubble');
  await consolePage.hover('.chat:not([hidden]) .msg-expert .bubble');

  assert.deepEqual(shop.dialogsSeen, []);
  assert.deepEqual(consolePage.dialogsSeen, []);
  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
});
