// Bots against the real server (PRODUCT.md v1.1, "Bots"): the example bot (examples/bot.rs)
// answers the customer's question about opening hours in the widget, hands the next one off,
// and the expert who accepts the chat reads the bot's messages, marked as a bot's, and its
// handoff note in the console.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const readline = require('node:readline');
const h = require('./helpers');

const { CHAT } = h;
const HOURS = 'Open every weekday from 8:00 to 18:00.';

const up = h.serverAndBrowser();

/** The example bot, built by `cargo test` next to the server binary. */
const BOT_BIN = path.join(
  path.dirname(path.resolve(__dirname, process.env.SWITCHBOARD_BIN || '../../target/release/switchboard')),
  'examples',
  'bot'
);

const running = [];
after(() => running.forEach((p) => p.kill()));

/** Starts the example bot with `token`; resolves once it printed `bot connected`. */
function startBot(token) {
  assert.ok(fs.existsSync(BOT_BIN), `${BOT_BIN} is missing: the examples are built by \`cargo test\``);
  const child = spawn(BOT_BIN, [up.server.url, token, '--hours', HOURS], { stdio: ['ignore', 'pipe', 'inherit'] });
  running.push(child);
  const lines = readline.createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bot never connected')), h.TIMEOUT);
    lines.on('line', (line) => {
      if (line.startsWith('bot connected')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`the bot exited with ${code}`)));
  });
}

/** Waits until the router has the bot (the admin's list shows it connected). */
async function untilConnected(id) {
  const deadline = Date.now() + h.TIMEOUT;
  for (;;) {
    const bots = await h.api(up.server, 'GET', '/api/v1/bots');
    if (bots.some((b) => b.id === id && b.connected)) return;
    if (Date.now() > deadline) throw new Error(`bot ${id} never connected: ${JSON.stringify(bots)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('the console shows the bot’s messages, marked as a bot’s, and its handoff note after accepting', async () => {
  const ivy = await h.createExpert(up.server, { username: 'ivy', name: 'Ivy Moss' });
  const bot = await h.api(up.server, 'POST', '/api/v1/bots', { name: 'Concierge', categories: ['general'] });
  await startBot(bot.token);
  await untilConnected(bot.id);

  const { context: ivyContext, page: console_ } = await h.newPage(up.browser);
  await h.loginConsole(console_, up.server, ivy);

  const { context: shopContext, page: shop } = await h.newPage(up.browser);
  await shop.goto(up.server.url + '/');
  await shop.click(h.W.launcher);
  await shop.fill(h.W.input, 'What are your opening hours?');
  await shop.press(h.W.input, 'Enter');
  // The bot answers in the widget, before any human is involved.
  await h.waitFor(
    shop,
    (hours) => {
      const root = document.getElementById('switchboard-widget').shadowRoot;
      return Array.from(root.querySelectorAll('.log .msg.bot')).some((m) => m.textContent.includes(hours));
    },
    'the bot’s answer in the widget',
    HOURS
  );
  assert.equal(await console_.locator('.offer-accept').count(), 0, 'no human is offered the bot’s chat');

  // Anything else is handed off: Ivy is offered the chat and accepts it.
  await shop.fill(h.W.input, 'My invoice is wrong');
  await shop.press(h.W.input, 'Enter');
  await console_.click('.offer-accept');
  await h.waitFor(console_, () => document.querySelector('.chat:not([hidden]) .transcript .msg-bot.msg-internal'), 'the handoff note');

  const messages = await h.consoleMessages(console_);
  const answer = messages.find((m) => m.kind === 'bot' && !m.internal && m.text.includes(HOURS));
  assert.ok(answer, `the bot’s answer is shown as a bot’s: ${JSON.stringify(messages)}`);
  const note = messages.find((m) => m.kind === 'bot' && m.internal);
  assert.match(note.text, /Handoff note: .*My invoice is wrong/);
  assert.ok(messages.some((m) => m.kind === 'customer' && m.text.includes('opening hours')));
  const who = await console_.$$eval(CHAT + ' .transcript .msg-bot .who-name', (n) => n.map((x) => x.textContent));
  assert.ok(who.includes('Concierge (bot)'), `the bot is named as a bot: ${who}`);
  assert.ok(who.includes('Concierge (bot) · internal note'), `the note is marked internal: ${who}`);

  // The reports per expert on /admin name the bot as a bot, never as a person.
  const { context: adminContext, page: admin } = await h.newPage(up.browser);
  await admin.goto(up.server.url + '/admin');
  await admin.fill('#login-token', h.ADMIN_TOKEN);
  await admin.click('#login-submit');
  await admin.click('#tab-reports');
  await admin.click('#group-group [data-group="expert"]');
  await h.waitFor(
    admin,
    (id) => document.querySelector(`#report[data-state="ready"] [data-chart="conversations"] .bar-group[data-key="${id}"]`),
    'the per-expert report',
    bot.id
  );
  const label = await admin.getAttribute(`[data-chart="conversations"] .bar-group[data-key="${bot.id}"]`, 'data-label');
  assert.equal(label, 'Concierge (bot)');
  const rows = await admin.$$eval('#report-table tbody th', (n) => n.map((x) => x.textContent));
  assert.ok(rows.includes('Concierge (bot)') && rows.includes('Ivy Moss'), `the table rows: ${rows}`);

  await adminContext.close();
  await ivyContext.close();
  await shopContext.close();
});
