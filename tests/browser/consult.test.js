// Specialist consult in the console against the real server: the owner asks a colleague from
// the chat's actions; the colleague's console shows the chat as a consult whose composer
// writes internal notes only; the owner's console shows the note; ending the consult removes
// the chat from the specialist's console.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const { CHAT, COMPOSER } = h;

const up = h.serverAndBrowser({});

async function expert(username, name) {
  const e = await h.api(up.server, 'POST', '/api/v1/experts', {
    username,
    password: 'correct-horse-battery',
    name,
    categories: ['general'],
  });
  return { id: e.id, username, name, password: 'correct-horse-battery' };
}

test('the owner asks a specialist, who advises in internal notes until the consult ends', async () => {
  const owner = await expert('oda', 'Oda Lind');
  const spec = await expert('sam', 'Sam Reyes');

  // Only the owner is online when the customer writes, so the offer is hers.
  const { context: odaContext, page: oda } = await h.newPage(up.browser);
  await h.loginConsole(oda, up.server, owner);
  const { context: shopContext, page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.fill(h.W.input, 'My order arrived broken');
  await shop.press(h.W.input, 'Enter');
  await oda.click('.offer-accept');
  await oda.waitForSelector(CHAT + ' .msg-customer');
  const chatId = await oda.getAttribute(CHAT, 'data-conversation');

  const { context: samContext, page: sam } = await h.newPage(up.browser);
  await h.loginConsole(sam, up.server, spec);

  // Ask a specialist: pick Sam, with a note.
  await oda.click(CHAT + ' .chat-actions >> text=Ask a specialist');
  await oda.waitForSelector('#consult-dialog[open]');
  await oda.click('#consult-experts .pick:has-text("Sam Reyes")');
  await oda.fill('#consult-note', 'Is this covered by the warranty?');
  await oda.click('#consult-form button[type="submit"]');
  await oda.waitForSelector('#consult-dialog', { state: 'hidden' });
  await oda.waitForSelector(CHAT + ' .consult-banner:not([hidden])');
  assert.match(await oda.textContent(CHAT + ' .consult-banner'), /Sam Reyes/);

  // Sam's console shows the chat as a consult, with the transcript and the note.
  const samChat = `.chat[data-conversation="${chatId}"]`;
  await sam.waitForSelector(samChat + ' .consult-banner:not([hidden])');
  assert.match(await sam.textContent(samChat + ' .consult-banner'), /Oda Lind[\s\S]*warranty/);
  await sam.waitForSelector(samChat + ' .msg-customer');
  assert.ok(await sam.isChecked(samChat + ' .internal-toggle'), 'the composer writes notes');
  assert.ok(await sam.isDisabled(samChat + ' .internal-toggle'), 'and only notes');
  assert.ok(await sam.isHidden(samChat + ' .chat-actions >> text=End chat'), 'none of the owner’s actions');
  assert.ok(await sam.isHidden(samChat + ' .chat-actions >> text=Transfer'));
  await sam.screenshot({ path: h.screenshotPath('console-consult.png') });

  // Sam's note reaches Oda's console as an internal note, and never the widget.
  await sam.fill(COMPOSER, 'Yes, two-year warranty: replace it.');
  await sam.press(COMPOSER, 'Enter');
  await oda.waitForSelector(CHAT + ' .msg-internal:has-text("two-year warranty")');
  await h.waitFor(sam, (sel) => !!document.querySelector(sel + ' .msg-internal.msg-mine'), 'the note in Sam’s own transcript', samChat);
  // The customer's next message reaches Sam live.
  await shop.fill(h.W.input, 'Hello?');
  await shop.press(h.W.input, 'Enter');
  await sam.waitForSelector(samChat + ' .msg-customer:has-text("Hello?")');
  const widget = await h.widgetMessages(shop);
  assert.ok(!widget.some((m) => /warranty/.test(m.text)), 'the widget never shows a note: ' + JSON.stringify(widget));

  // Reconnects lose nothing: reloaded, both consoles show the consult again.
  await sam.reload();
  await sam.waitForSelector(samChat + ' .consult-banner:not([hidden])');
  await sam.waitForSelector(samChat + ' .msg-internal:has-text("two-year warranty")');
  await oda.reload();
  await oda.waitForSelector(`.chat[data-conversation="${chatId}"] .consult-banner:not([hidden])`);
  assert.match(await oda.textContent(CHAT + ' .consult-banner'), /Sam Reyes/);

  // Ending the consult removes the chat from Sam's console; Oda keeps it.
  await oda.click(CHAT + ' .chat-actions >> text=End consult');
  await sam.waitForSelector(samChat, { state: 'detached' });
  await oda.waitForSelector(CHAT + ' .consult-banner', { state: 'hidden' });
  assert.ok(await oda.isVisible(`.chat[data-conversation="${chatId}"]`));

  for (const p of [oda, sam, shop]) assert.deepEqual(p.errors, []);
  await Promise.all([odaContext.close(), samContext.close(), shopContext.close()]);
});
