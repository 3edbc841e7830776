// The console's transfer dialog against the real server: colleagues are picked by name, with
// their presence and free capacity; a 1-to-1 chat shows who holds its certification; the chat
// moves to the one picked, and a refusal from the server is shown in the dialog.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const CONFIG = `
[[categories]]
id = "general"
name = "General"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
`;

const { CHAT, COMPOSER } = h;

const up = h.serverAndBrowser({ config: CONFIG });

/** Creates an expert over REST; returns what `loginConsole` needs and the id. */
async function expert(username, name, categories, certifications = [], maxConcurrent = 3) {
  const e = await h.api(up.server, 'POST', '/api/v1/experts', {
    username,
    password: 'correct-horse-battery',
    name,
    categories,
    certifications,
    max_concurrent: maxConcurrent,
  });
  return { id: e.id, username, name, password: 'correct-horse-battery' };
}

/** Opens the demo shop's widget, picks the category and sends the first message. */
async function startChat(category, text) {
  const { context, page } = await h.newPage(up.browser);
  await page.goto(up.server.url + '/');
  await page.click(h.W.launcher);
  await page.click(`#switchboard-widget .cat[data-category="${category}"]`);
  await page.waitForSelector(`#switchboard-widget .cat[data-category="${category}"][aria-checked="true"]`);
  await page.fill(h.W.input, text);
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  return { context, page };
}

/** The dialog's colleague rows as shown: name, presence, meta text, chip, whether pickable. */
function rows(page) {
  return page.$$eval('#transfer-colleagues .pick', (labels) =>
    labels.map((l) => ({
      name: l.querySelector('.pick-name').textContent,
      presence: l.getAttribute('data-presence'),
      meta: l.querySelector('.pick-meta').textContent,
      chip: l.querySelector('.chip') ? l.querySelector('.chip').textContent : null,
      enabled: !l.querySelector('input').disabled,
    }))
  );
}

async function waitForRows(page, n) {
  await h.waitFor(page, (n) => document.querySelectorAll('#transfer-colleagues .pick').length === n, `${n} colleagues listed`, n);
}

test('the transfer picker lists colleagues by name with presence and room; the chat moves to the one picked', async () => {
  const ivy = await expert('ivy', 'Ivy Moss', ['general']);
  const jon = await expert('jon', 'Jon Berg', ['general'], [], 2);
  const kim = await expert('kim', 'Kim Park', ['general']);
  await expert('lou', 'Lou Vance', ['general']); // never signs in
  await expert('max', 'Max Roth', ['reset'], ['identity']); // serves nothing Ivy serves

  const { context: ivyContext, page: ivyPage } = await h.newPage(up.browser);
  await h.loginConsole(ivyPage, up.server, ivy);
  const { context: shopContext, page: shop } = await startChat('general', 'I was charged twice for order 1042');
  await ivyPage.click('.offer-accept');
  await ivyPage.waitForSelector(CHAT + ' .msg-customer');
  const chatId = await ivyPage.getAttribute(CHAT, 'data-conversation');

  const { context: jonContext, page: jonPage } = await h.newPage(up.browser);
  await h.loginConsole(jonPage, up.server, jon);
  const { context: kimContext, page: kimPage } = await h.newPage(up.browser);
  await h.loginConsole(kimPage, up.server, kim);
  await kimPage.selectOption('#presence-select', 'away');
  await h.waitFor(kimPage, () => document.getElementById('presence-dot').classList.contains('dot-away'), 'kim away');

  await ivyPage.click(CHAT + ' .chat-actions >> text=Transfer');
  await ivyPage.waitForSelector('#transfer-dialog[open]');
  await waitForRows(ivyPage, 3);
  // Who can take it first, then by presence; never Ivy herself, nor Max (another category).
  assert.deepEqual(await rows(ivyPage), [
    { name: 'Jon Berg', presence: 'available', meta: 'Available · 2 of 2 free', chip: null, enabled: true },
    { name: 'Kim Park', presence: 'away', meta: 'Away · 3 of 3 free', chip: null, enabled: true },
    { name: 'Lou Vance', presence: 'offline', meta: 'Offline · 3 of 3 free', chip: null, enabled: true },
  ]);
  await ivyPage.click('#transfer-colleagues .pick:has-text("Jon Berg")');
  await ivyPage.fill('#transfer-note', 'Refund the second charge, the bank confirmed it');
  await ivyPage.screenshot({ path: h.screenshotPath('console-transfer.png') });

  // The categories are there too, named.
  await ivyPage.click('input[name="transfer-kind"][value="category"]');
  assert.deepEqual(await ivyPage.$$eval('#transfer-categories .pick-name', (n) => n.map((x) => x.textContent)), ['General', 'Password reset']);
  await ivyPage.click('input[name="transfer-kind"][value="expert"]');
  assert.ok(await ivyPage.isChecked('#transfer-colleagues .pick:has-text("Jon Berg") input'), 'the pick is kept');

  await ivyPage.click('#transfer-form button[type="submit"]');
  await ivyPage.waitForSelector('#transfer-dialog', { state: 'hidden' });
  await ivyPage.waitForSelector(`.chat[data-conversation="${chatId}"]`, { state: 'detached' });
  // Jon has it, with the note and the transcript; the server says he owns it.
  await jonPage.waitForSelector(`.chat[data-conversation="${chatId}"] .transfer-note:not([hidden])`);
  assert.match(await jonPage.textContent(CHAT + ' .transfer-note'), /Ivy Moss[\s\S]*second charge/);
  const conv = await h.api(up.server, 'GET', `/api/v1/conversations/${chatId}`);
  assert.equal(conv.expert.id, jon.id);
  await jonPage.fill(COMPOSER, 'Jon here, refunding it now.');
  await jonPage.press(COMPOSER, 'Enter');
  await h.waitFor(
    shop,
    () => Array.from(document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.expert .bubble')).some((b) => /Jon here/.test(b.textContent)),
    'the new owner answering in the widget'
  );

  for (const p of [ivyPage, jonPage, kimPage, shop]) assert.deepEqual(p.errors, []);
  await Promise.all([ivyContext.close(), jonContext.close(), kimContext.close(), shopContext.close()]);
});

test('a 1-to-1 chat offers only certified colleagues, and a refusal from the server is shown', async () => {
  const ana = await expert('ana', 'Ana Roy', ['reset'], ['identity']);
  await expert('ben', 'Ben Cole', ['reset']); // serves it, lacks the certification
  const cat = await expert('cat', 'Cat Diaz', ['reset'], ['identity']); // certified, offline

  const { context: anaContext, page: anaPage } = await h.newPage(up.browser);
  await h.loginConsole(anaPage, up.server, ana);
  const { context: shopContext, page: shop } = await startChat('reset', 'Please reset my password');
  await anaPage.click('#claimable-list >> text=Claim');
  await anaPage.waitForSelector(CHAT + ' .msg-customer');

  await anaPage.click(CHAT + ' .chat-actions >> text=Transfer');
  await anaPage.waitForSelector('#transfer-dialog[open]');
  await h.waitFor(anaPage, () => document.querySelectorAll('#transfer-colleagues .pick').length >= 2, 'colleagues listed');
  assert.match(await anaPage.textContent('#transfer-cert-note'), /certified for identity/);
  const listed = await rows(anaPage);
  const ben = listed.find((r) => r.name === 'Ben Cole');
  const catRow = listed.find((r) => r.name === 'Cat Diaz');
  assert.deepEqual([ben.chip, ben.enabled], ['Not certified for identity', false]);
  assert.deepEqual([catRow.chip, catRow.enabled, catRow.presence], ['Certified', true, 'offline']);

  // Cat is offline: the dialog lets Ana pick her, the server refuses, the dialog says why.
  await anaPage.click('#transfer-colleagues .pick:has-text("Cat Diaz")');
  await anaPage.click('#transfer-form button[type="submit"]');
  await h.waitFor(anaPage, () => /not available/.test(document.getElementById('transfer-error').textContent), 'the refusal shown');
  assert.ok(await anaPage.isVisible('#transfer-dialog[open]'), 'the dialog stays open');
  const conv = await h.api(up.server, 'GET', `/api/v1/conversations/${await anaPage.getAttribute(CHAT, 'data-conversation')}`);
  assert.equal(conv.expert.id, ana.id, 'the chat stays with Ana');
  assert.notEqual(cat.id, ana.id);

  for (const p of [anaPage, shop]) assert.deepEqual(p.errors, []);
  await Promise.all([anaContext.close(), shopContext.close()]);
});
