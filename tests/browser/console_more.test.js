// More of the console against the real server and the real widget: a canned response picked
// with the `/` shortcut goes out as one message per paragraph; the customer rates a chat the
// expert ended (checked over REST); a claim-mode chat is listed with its response target and
// shows no tool link until it is claimed, then a signed one.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./helpers');

const IDENTITY_SECRET = 'browser-test-identity-secret';
const CONFIG = `
[[categories]]
id = "general"
name = "General"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
first_response_target = "10m"

[[categories.tools]]
name = "Reset tool"
url = "https://tools.example/reset?customer={customer_id}"
`;

const { CHAT, COMPOSER } = h;

const up = h.serverAndBrowser({ config: CONFIG, env: { SWITCHBOARD_SERVER_IDENTITY_SECRET: IDENTITY_SECRET } });

/** Polls an async condition in the test process until it returns something truthy. */
async function until(fn, what) {
  const deadline = Date.now() + h.TIMEOUT;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Closes the browser contexts, then waits until the server has the expert offline. */
async function finish(contexts, username) {
  for (const c of contexts) await c.close();
  await until(
    async () => (await h.api(up.server, 'GET', '/api/v1/experts')).find((x) => x.username === username).presence === 'offline',
    `${username} offline after closing the console`
  );
}

/** Opens the demo shop's widget, picks the category and sends the first message. */
async function startChat(browserRef, category, text) {
  const { context, page } = await h.newPage(browserRef);
  await page.goto(up.server.url + '/');
  await page.click(h.W.launcher);
  // Two categories and none on the embed tag: the widget asks first.
  await page.click(`#switchboard-widget .cat[data-category="${category}"]`);
  await page.waitForSelector(`#switchboard-widget .cat[data-category="${category}"][aria-checked="true"]`);
  await page.fill(h.W.input, text);
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  return { context, page };
}

/** Collects the JSON frames a websocket sends or receives (`framesent`/`framereceived`). */
function framesOf(ws, direction) {
  const frames = [];
  ws.on(direction, (f) => {
    try {
      frames.push(JSON.parse(typeof f.payload === 'string' ? f.payload : f.payload.toString()));
    } catch {
      /* not JSON */
    }
  });
  return frames;
}

test('a canned response picked with / goes out as one message per paragraph', async () => {
  const first = 'Standard parcels take two to three working days.';
  const second = 'You will get a tracking link by email as soon as it ships.';
  await h.api(up.server, 'POST', '/api/v1/canned', {
    title: 'Shipping times',
    shortcut: 'ship',
    text: `${first}\n\n${second}`,
  });
  const expert = await h.createExpert(up.server, { username: 'carla', name: 'Carla Diaz' });

  const { context: consoleContext, page: consolePage } = await h.newPage(up.browser);
  const cannedLoaded = consolePage.waitForResponse(
    (r) => new URL(r.url()).pathname === '/api/v1/canned' && r.request().method() === 'GET' && r.ok()
  );
  await h.loginConsole(consolePage, up.server, expert);
  await cannedLoaded;

  const { context: shopContext, page: shop } = await startChat(up.browser, 'general', 'How long does shipping take?');
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector(CHAT + ' .msg-customer');

  // `/` at the start of an empty composer opens the picker; the shortcut finds the response.
  await consolePage.click(COMPOSER);
  await consolePage.keyboard.type('/');
  await consolePage.waitForSelector('#canned-dialog[open]');
  assert.equal(await consolePage.inputValue(COMPOSER), '', 'the / is not left in the composer');
  await consolePage.fill('#canned-search', 'ship');
  await consolePage.waitForSelector('#canned-list .canned-item[aria-selected="true"] >> text=Shipping times');
  await consolePage.press('#canned-search', 'Enter');
  await consolePage.waitForSelector('#canned-dialog', { state: 'hidden' });

  // The customer gets two messages, in order.
  await h.waitFor(
    shop,
    () => document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.log .msg.expert').length >= 2,
    'two expert messages in the widget'
  );
  const experts = (await h.widgetMessages(shop)).filter((m) => m.kind === 'expert');
  assert.deepEqual(
    experts.map((m) => m.text.trim()),
    [first, second]
  );
  assert.ok(experts[0].seq < experts[1].seq, `in order: ${JSON.stringify(experts)}`);

  // The console shows the same two, and nothing was left in the composer.
  await h.waitFor(consolePage, () => document.querySelectorAll('.chat:not([hidden]) .msg-expert').length === 2, 'both in the console');
  assert.deepEqual(
    (await h.consoleMessages(consolePage)).filter((m) => m.kind === 'expert').map((m) => m.text.trim()),
    [first, second]
  );
  assert.equal(await consolePage.inputValue(COMPOSER), '');

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
  assert.deepEqual(consolePage.dialogsSeen, []);
  await finish([consoleContext, shopContext], 'carla');
});

test('after the expert ends the chat the customer rates it, with a comment', async () => {
  const expert = await h.createExpert(up.server, { username: 'dario', name: 'Dario Rossi' });
  const { context: consoleContext, page: consolePage } = await h.newPage(up.browser, { allowConfirm: [/^End the chat/] });
  await h.loginConsole(consolePage, up.server, expert);

  const { context: shopContext, page: shop } = await h.newPage(up.browser);
  let sent = null;
  shop.on('websocket', (ws) => {
    if (new URL(ws.url()).pathname === '/ws/customer') sent = framesOf(ws, 'framesent');
  });
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.click('#switchboard-widget .cat[data-category="general"]');
  await shop.fill(h.W.input, 'Can I swap the colour of my order?');
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');

  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector(CHAT + ' .msg-customer');
  const conversationId = await consolePage.getAttribute(CHAT, 'data-conversation');
  assert.ok(conversationId);
  await consolePage.fill(COMPOSER, 'Done, it ships in green.');
  await consolePage.press(COMPOSER, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert');

  // No rating while the chat runs.
  assert.ok(await shop.isHidden('#switchboard-widget .rating'), 'no rating form during the chat');

  await consolePage.click(CHAT + ' .chat-actions >> text=End chat');
  await consolePage.waitForSelector(CHAT + ' .ended:not([hidden])');
  await shop.waitForSelector(h.W.ended + ':not([hidden])');
  await shop.waitForSelector('#switchboard-widget .rating:not([hidden])');
  assert.equal(await shop.locator('#switchboard-widget .rating .star').count(), 5, 'a 1–5 scale');
  const submit = '#switchboard-widget .rating button[type="submit"]';
  assert.ok(await shop.isDisabled(submit), 'nothing to send before a score is picked');

  await shop.click('#switchboard-widget .rating .star[aria-label="4 stars"]');
  assert.equal(await shop.getAttribute('#switchboard-widget .rating .star[aria-label="4 stars"]', 'aria-checked'), 'true');
  await shop.fill('#switchboard-widget #sb-rate-comment', 'Quick and friendly, thanks!');
  await shop.click(submit);

  // The `rate` frame goes out with the score and the comment, and the server stores both.
  const rate = await until(() => sent.find((f) => f.type === 'rate'), 'the rate frame');
  assert.deepEqual(
    { conversation_id: rate.conversation_id, score: rate.score, comment: rate.comment },
    { conversation_id: conversationId, score: 4, comment: 'Quick and friendly, thanks!' }
  );
  const rating = await until(
    async () => (await h.api(up.server, 'GET', `/api/v1/conversations/${encodeURIComponent(conversationId)}`)).rating,
    'the rating over REST'
  );
  assert.equal(rating.score, 4);
  assert.equal(rating.comment, 'Quick and friendly, thanks!');

  // The widget thanks the customer once the server acked the `rate` frame.
  try {
    await shop.waitForSelector('#switchboard-widget .thanks:not([hidden])');
  } catch (e) {
    const status = await shop.textContent('#switchboard-widget .rate-status');
    throw new Error(`no thanks after rating (widget says ${JSON.stringify(status)}; was the rate frame answered?): ${e.message.split('\n')[0]}`);
  }
  assert.match(await shop.textContent('#switchboard-widget .thanks'), /You rated this chat 4 of 5/);
  assert.ok(await shop.isHidden('#switchboard-widget .rating'), 'the form is gone after rating');
  assert.equal(sent.filter((f) => f.type === 'rate').length, 1, 'one rate frame');

  // The rating is remembered: a reload shows the thanks, not the form again.
  // (The panel was open, so the widget reopens it by itself.)
  await shop.reload();
  await shop.waitForSelector(h.W.panel + ':not([hidden])');
  await shop.waitForSelector('#switchboard-widget .thanks:not([hidden])');
  assert.ok(await shop.isHidden('#switchboard-widget .rating'));

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
  await finish([consoleContext, shopContext], 'dario');
});

test('a claim-mode chat is listed with its response target and shows its signed tool link only once claimed', async () => {
  const expert = await h.createExpert(up.server, {
    username: 'ivan',
    name: 'Ivan Petrov',
    categories: ['reset'],
    certifications: ['identity'],
  });
  const { context: consoleContext, page: consolePage } = await h.newPage(up.browser);
  let received = [];
  consolePage.on('websocket', (ws) => {
    if (new URL(ws.url()).pathname === '/ws/expert') received = framesOf(ws, 'framereceived');
  });
  await h.loginConsole(consolePage, up.server, expert);

  const { context: shopContext, page: shop } = await startChat(up.browser, 'reset', 'I am locked out of my account');

  // Listed for claiming, with no tool link anywhere yet.
  const item = '#claimable-list .side-item';
  await consolePage.waitForSelector(item);
  const conversationId = await consolePage.getAttribute(item, 'data-conversation');
  assert.match(await consolePage.textContent(item), /reset/);
  // With its response target, so the chat nearest to it can be claimed first.
  assert.match(await consolePage.textContent(item + ' .claim-sla'), /^10 min target, due /);
  assert.equal(await consolePage.textContent('#claimable-count'), '1');
  assert.equal(await consolePage.$('.offer'), null, 'claim mode makes no offer');
  assert.equal(await consolePage.locator('a[href*="tools.example"]').count(), 0, 'no tool link before the claim');
  assert.ok(
    !received.some((f) => JSON.stringify(f).includes('tools.example')),
    'no tool link reached the console before the claim'
  );

  await consolePage.click(item + ' button');
  await consolePage.waitForSelector(CHAT + ' .msg-customer');
  await consolePage.waitForSelector('#claimable-list .side-item', { state: 'detached' });
  assert.equal(await consolePage.getAttribute(CHAT, 'data-conversation'), conversationId);
  assert.ok(
    (await h.consoleMessages(consolePage)).some((m) => m.kind === 'customer' && m.text === 'I am locked out of my account'),
    'the claimed transcript'
  );

  const tool = CHAT + ' .chat-info .tools a';
  await consolePage.waitForSelector(tool);
  assert.equal((await consolePage.textContent(tool)).trim(), 'Reset tool');
  const href = await consolePage.getAttribute(tool, 'href');
  assert.ok(href.startsWith('https://tools.example/reset?customer='), href);
  const url = new URL(href);
  const conv = await h.api(up.server, 'GET', `/api/v1/conversations/${encodeURIComponent(conversationId)}`);
  assert.equal(url.searchParams.get('customer'), String(conv.customer.id));
  const ts = Number(url.searchParams.get('ts'));
  assert.ok(Math.abs(ts - Date.now() / 1000) < 120, `ts is the current Unix time in seconds: ${ts}`);
  const [unsigned, sig] = href.split('&sig=');
  assert.equal(sig, crypto.createHmac('sha256', IDENTITY_SECRET).update(unsigned).digest('hex'), 'sig signs the rest');

  // The customer is told who took the chat.
  await h.waitFor(
    shop,
    () => /Ivan Petrov/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.subtitle').textContent),
    'the expert name in the widget'
  );

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
  await finish([consoleContext, shopContext], 'ivan');
});
