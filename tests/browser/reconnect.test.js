// (c) The widget survives a server restart: it reconnects with backoff, says hello with its
// stored visitor token, syncs from the highest seq it shows, resends what the customer wrote
// while offline, and shows every message exactly once. The console reconnects too.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

let server;
let browser;
let dir;
let bind;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-browser-restart-'));
  // The port must survive the restart, so pick a free one instead of port 0.
  bind = `127.0.0.1:${await h.freePort()}`;
  [server, browser] = await Promise.all([h.startServer({ dir, bind }), h.launchBrowser()]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

function assertExactlyOnce(where, messages, expectedTexts) {
  const seqs = messages.map((m) => m.seq);
  assert.ok(seqs.every((s) => Number.isInteger(s) && s > 0), `${where}: every message is stored: ${JSON.stringify(messages)}`);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${where}: seqs are 1..n in order, no gaps, no repeats: ${JSON.stringify(messages)}`);
  const texts = messages.map((m) => m.text);
  for (const t of expectedTexts) {
    assert.equal(texts.filter((x) => x === t).length, 1, `${where}: "${t}" shown exactly once in ${JSON.stringify(messages)}`);
  }
}

test('the widget reconnects after a restart and shows every message exactly once', async () => {
  const expert = await h.createExpert(server, { username: 'carol', name: 'Carol Diaz' });
  const { page: consolePage } = await h.newPage(browser);
  await h.loginConsole(consolePage, server, expert);
  const { page: shop } = await h.newPage(browser);
  await shop.goto(server.url + '/#tents');
  await shop.click(h.W.launcher);

  await shop.fill(h.W.input, 'one: before the restart');
  await shop.press(h.W.input, 'Enter');
  await consolePage.click('.offer-accept', { timeout: h.TIMEOUT });
  await consolePage.waitForSelector('.chat:not([hidden]) .msg-customer');
  const composer = '.chat:not([hidden]) .composer-input';
  await consolePage.fill(composer, 'two: expert before the restart');
  await consolePage.press(composer, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.expert');

  // The page changes on navigation are sent along (hash change).
  await shop.evaluate(() => {
    location.hash = '#boots';
  });
  await h.waitFor(
    consolePage,
    () => /#boots/.test(document.querySelector('.chat:not([hidden]) .current-page').textContent),
    'the page update in the console'
  );

  // Kill the server hard: acknowledged messages must survive.
  await server.stop('SIGKILL');
  await shop.waitForSelector(h.W.conn + ':not([hidden])');
  assert.match(await shop.textContent(h.W.conn), /Reconnecting/);

  // Written while offline: shown as pending, sent after reconnecting.
  await shop.fill(h.W.input, 'three: written while offline');
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.pending');

  server = await h.startServer({ dir, bind });
  await shop.waitForSelector(h.W.conn, { state: 'hidden', timeout: 20000 });
  await h.waitFor(
    shop,
    () => !document.getElementById('switchboard-widget').shadowRoot.querySelector('.msg.pending'),
    'the offline message to be sent'
  );

  // The console reconnects on its own and gets the offline message.
  await h.waitFor(
    consolePage,
    () => Array.from(document.querySelectorAll('.chat:not([hidden]) .msg-customer .bubble')).some((b) => b.textContent === 'three: written while offline'),
    'the offline message in the console',
  );
  await consolePage.fill(composer, 'four: expert after the restart');
  await consolePage.press(composer, 'Enter');
  await h.waitFor(
    shop,
    () => Array.from(document.getElementById('switchboard-widget').shadowRoot.querySelectorAll('.msg.expert .bubble')).some((b) => b.textContent === 'four: expert after the restart'),
    'the expert message after the restart'
  );
  // The console shows its own message once the server acknowledges it, which may come after
  // the widget already has it: the two pages are told on separate sockets.
  await h.waitFor(
    consolePage,
    () => Array.from(document.querySelectorAll('.chat:not([hidden]) .msg-expert .bubble')).some((b) => b.textContent === 'four: expert after the restart'),
    'the acknowledged expert message in the console'
  );

  const texts = ['one: before the restart', 'two: expert before the restart', 'three: written while offline', 'four: expert after the restart'];
  assertExactlyOnce('widget', await h.widgetMessages(shop), texts);
  assertExactlyOnce('console', await h.consoleMessages(consolePage), texts);

  // A reload fetches the whole transcript again with the stored token: still once each.
  await shop.reload();
  await h.waitFor(
    shop,
    (n) => document.getElementById('switchboard-widget')?.shadowRoot.querySelectorAll('.log .msg[data-seq]').length >= n,
    'the transcript after a reload',
    texts.length + 1
  );
  assertExactlyOnce('widget after a reload', await h.widgetMessages(shop), texts);

  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
});
