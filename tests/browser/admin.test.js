// (i) The admin page at /admin against the real server: sign in with the admin token, add and
// edit an expert, remove another, write/edit/delete a canned response (each checked through
// the API too), and the reports drawn from a few real chats. Saves docs/screenshots/admin.png.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

// Three categories, one of them 1-to-1 (claim) behind a certification.
const CONFIG = `
[[categories]]
id = "general"
name = "General questions"

[[categories]]
id = "billing"
name = "Billing"

[[categories]]
id = "reset"
name = "Password reset"
mode = "claim"
certification = "identity"
`;

let server;
let browser;

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-admin-'));
  fs.writeFileSync(path.join(dir, 'config.toml'), CONFIG);
  [server, browser] = await Promise.all([
    // Customers may end unanswered chats at once, so the test can make an abandoned one.
    h.startServer({ dir, env: { SWITCHBOARD_CONVERSATION_CUSTOMER_MAY_END: 'always' } }),
    h.launchBrowser(),
  ]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

/** Polls an async condition in the test (API state) until it holds, within the deadline. */
async function until(what, fn) {
  const end = Date.now() + h.TIMEOUT;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const row = (username) => `#experts-body tr[data-username="${username}"]`;

async function expertByUsername(username) {
  return (await h.api(server, 'GET', '/api/v1/experts')).find((e) => e.username === username);
}

test('the admin manages experts and canned responses and reads the reports', { timeout: 90000 }, async () => {
  await h.createExpert(server, { username: 'bruno', name: 'Bruno Costa' });
  await h.createExpert(server, { username: 'carla', name: 'Carla Diaz' });

  const { page } = await h.newPage(browser, {
    viewport: { width: 1280, height: 900 },
    allowConfirm: [/^Remove Carla Diaz/, /^Delete the canned response/],
  });

  // ---- Sign in: a wrong token is refused with a message; the right one is kept for the tab.
  await page.goto(server.url + '/admin');
  await page.fill('#login-token', 'not-the-token');
  await page.click('#login-submit');
  await h.waitFor(page, () => document.getElementById('login-error').textContent !== '', 'the sign-in error');
  assert.match(await page.textContent('#login-error'), /does not know this token/);
  await page.fill('#login-token', h.ADMIN_TOKEN);
  await page.click('#login-submit');
  await page.waitForSelector('#app:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.admin_token')), h.ADMIN_TOKEN);
  await page.waitForSelector(row('bruno'));
  await page.waitForSelector(row('carla'));
  assert.match(await page.textContent(row('bruno') + ' .cell-categories'), /general/);

  // ---- Add an expert; the same username again is refused in the form.
  await page.click('#expert-add');
  await page.waitForSelector('#expert-dialog[open]');
  await page.fill('#expert-name', 'Alice Martin');
  await page.fill('#expert-username', 'alice');
  await page.fill('#expert-password', 'short');
  await page.fill('#expert-categories', 'general');
  await page.fill('#expert-max', '2');
  await page.click('#expert-save');
  assert.match(await page.textContent('#expert-error'), /at least 8 characters/);
  await page.fill('#expert-password', 'correct-horse-battery');
  await page.click('#expert-save');
  await page.waitForSelector('#expert-dialog', { state: 'hidden' });
  await page.waitForSelector(row('alice'));
  assert.equal((await page.textContent(row('alice') + ' .cell-max')).trim(), '2');
  let alice = await expertByUsername('alice');
  assert.deepEqual([alice.name, alice.categories, alice.max_concurrent], ['Alice Martin', ['general'], 2]);

  await page.click('#expert-add');
  await page.fill('#expert-name', 'Another Alice');
  await page.fill('#expert-username', 'alice');
  await page.fill('#expert-password', 'correct-horse-battery');
  await page.click('#expert-save');
  await h.waitFor(page, () => /taken/.test(document.getElementById('expert-error').textContent), 'the taken username');
  await page.click('#expert-dialog [data-close]');
  await page.waitForSelector('#expert-dialog', { state: 'hidden' });

  // ---- Edit her capacity and categories; an unknown category is refused with the server's word.
  await page.click(row('alice') + ' .expert-edit');
  await page.waitForSelector('#expert-dialog[open]');
  assert.equal(await page.inputValue('#expert-username'), 'alice');
  assert.ok(await page.isDisabled('#expert-username'), 'a username cannot change');
  await page.fill('#expert-max', '4');
  await page.fill('#expert-categories', 'general, nope');
  await page.click('#expert-save');
  await h.waitFor(page, () => /unknown category/.test(document.getElementById('expert-error').textContent), 'the unknown category');
  await page.fill('#expert-categories', 'general, billing');
  await page.fill('#expert-certifications', 'identity');
  await page.click('#expert-save');
  await page.waitForSelector('#expert-dialog', { state: 'hidden' });
  await h.waitFor(page, () => {
    const r = document.querySelector('#experts-body tr[data-username="alice"]');
    return r && r.querySelector('.cell-max').textContent === '4' && /billing/.test(r.querySelector('.cell-categories').textContent);
  }, 'the edited row');
  alice = await expertByUsername('alice');
  assert.deepEqual([alice.max_concurrent, alice.categories, alice.certifications], [4, ['general', 'billing'], ['identity']]);
  // Her password was not sent, so it still works.
  await h.api(server, 'POST', '/api/v1/login', { username: 'alice', password: 'correct-horse-battery' }, '');

  // ---- Remove Carla: she leaves the list, the API shows her inactive, "Show removed" shows her.
  await page.click(row('carla') + ' .expert-remove');
  await page.waitForSelector(row('carla'), { state: 'detached' });
  assert.ok(page.dialogsSeen.some((d) => /^confirm: Remove Carla Diaz/.test(d)));
  assert.equal((await expertByUsername('carla')).active, false);
  await page.check('#show-removed');
  await page.waitForSelector(row('carla') + '.row-removed .pill-removed');
  assert.equal(await page.$(row('carla') + ' .expert-edit'), null, 'a removed expert cannot be edited');
  await page.uncheck('#show-removed');

  // ---- Canned responses: create (two paragraphs: two messages), edit, delete.
  await page.click('#tab-canned');
  await page.waitForSelector('#canned-view:not([hidden])');
  await page.waitForSelector('#canned-empty:not([hidden])');
  await page.click('#canned-add');
  await page.waitForSelector('#canned-dialog[open]');
  assert.match(await page.textContent('#canned-text-hint'), /blank line[\s\S]*separate messages/);
  await page.fill('#canned-title', 'Refund on its way');
  await page.fill('#canned-shortcut', '/refund');
  await page.fill('#canned-text', 'Your refund is on its way.\n\nIt reaches your account within 5 working days.');
  assert.equal(await page.textContent('#canned-count'), '2 messages');
  await page.click('#canned-save');
  await page.waitForSelector('#canned-dialog', { state: 'hidden' });
  await page.waitForSelector('.canned-card .canned-title >> text=Refund on its way');
  let canned = await h.api(server, 'GET', '/api/v1/canned');
  assert.equal(canned.length, 1);
  assert.deepEqual([canned[0].title, canned[0].shortcut], ['Refund on its way', 'refund']);
  assert.match(canned[0].text, /on its way\.\n\nIt reaches/);

  await page.click('.canned-card .canned-edit');
  await page.waitForSelector('#canned-dialog[open]');
  assert.equal(await page.inputValue('#canned-title'), 'Refund on its way');
  await page.fill('#canned-title', 'Refund sent');
  await page.click('#canned-save');
  await page.waitForSelector('.canned-card .canned-title >> text=Refund sent');
  canned = await h.api(server, 'GET', '/api/v1/canned');
  assert.deepEqual(canned.map((c) => c.title), ['Refund sent']);

  await page.click('.canned-card .canned-delete');
  await page.waitForSelector('.canned-card', { state: 'detached' });
  assert.deepEqual(await h.api(server, 'GET', '/api/v1/canned'), []);

  // ---- Reports: three real chats today (two answered and rated, one abandoned).
  const { page: clients } = await h.newPage(browser);
  await clients.goto(server.url + '/healthz');
  const conversations = await clients.evaluate(makeChats, {
    expert: { username: 'bruno', password: 'correct-horse-battery' },
    timeoutMs: 10000,
  });
  assert.equal(conversations.length, 3);
  await until('both ratings stored', async () => {
    const rated = await Promise.all(conversations.slice(0, 2).map((id) => h.api(server, 'GET', `/api/v1/conversations/${id}`)));
    return rated.every((c) => c.rating && c.rating.score);
  });

  // A failing report says why, and the refresh button tries again.
  await page.route('**/api/v1/stats?*', (route) =>
    route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"no such endpoint"}}' })
  );
  await page.click('#tab-reports');
  await page.waitForSelector('#reports-view:not([hidden]) #report[data-state="error"]');
  assert.match(await page.textContent('#reports-error'), /not available on this server yet.*no such endpoint/);
  await page.unroute('**/api/v1/stats?*');
  await page.click('#reports-refresh');
  await page.waitForSelector('#report[data-state="ready"]');
  assert.ok(await page.isHidden('#reports-error'));
  // Last 7 days per day is the default.
  assert.equal(await page.getAttribute('#period-group [data-period="7d"]', 'aria-checked'), 'true');
  assert.equal(await page.getAttribute('#group-group [data-group="day"]', 'aria-checked'), 'true');
  assert.equal(await page.textContent('[data-figure="conversations"] .total-value'), '3');
  assert.match(await page.textContent('[data-figure="abandonment_rate"] .total-value'), /^33\.3%$/);
  assert.match(await page.textContent('[data-figure="rating"] .total-value'), /^4\.5$/);
  const today = new Date().toISOString().slice(0, 10);
  const todayBar = `[data-chart="conversations"] .bar-group[data-key="${today}"]`;
  assert.equal(await page.getAttribute(todayBar, 'data-value'), '3');
  assert.equal(await page.getAttribute(todayBar + ' rect[data-series="Abandoned"]', 'data-value'), '1');
  assert.equal(await page.getAttribute(todayBar + ' rect[data-series="Answered"]', 'data-value'), '2');
  // Seven days on the axis, the empty ones too; the drawing is labelled for screen readers.
  assert.equal(await page.locator('[data-chart="conversations"] .bar-group').count(), 7);
  const svg = page.locator('[data-chart="conversations"] svg');
  assert.equal(await svg.getAttribute('role'), 'img');
  assert.match(await page.textContent('[data-chart="conversations"] desc'), /3 conversations/);
  assert.ok(await page.locator('[data-chart="first_response"] rect.bar').count() >= 2, 'first response median and p90');

  // Per expert: Bruno answered two, one was never assigned.
  await page.click('#group-group [data-group="expert"]');
  await h.waitFor(page, () => document.querySelector('#report[data-state="ready"] [data-chart="conversations"] .bar-group[data-label="Bruno Costa"]'), 'the per-expert chart');
  const brunoId = (await expertByUsername('bruno')).id;
  assert.equal(await page.getAttribute(`[data-chart="conversations"] .bar-group[data-key="${brunoId}"]`, 'data-value'), '2');
  assert.equal(await page.getAttribute('[data-chart="conversations"] .bar-group[data-key="unassigned"]', 'data-value'), '1');
  assert.equal(await page.getAttribute(`[data-chart="rating"] .bar-group[data-key="${brunoId}"]`, 'data-value'), '4.5');
  assert.equal(await page.getAttribute('[data-chart="abandonment_rate"] .bar-group[data-key="unassigned"]', 'data-value'), '1');

  // Today, per category: all three were general questions.
  await page.click('#period-group [data-period="today"]');
  await page.click('#group-group [data-group="category"]');
  await h.waitFor(page, () => document.querySelector('#report[data-state="ready"] [data-chart="conversations"] .bar-group[data-label="General questions"]'), 'the per-category chart');
  assert.equal(await page.getAttribute('[data-chart="conversations"] .bar-group[data-key="general"]', 'data-value'), '3');

  // The token is kept for the tab: a reload stays signed in, on the reports, back to the
  // default last 7 days per day.
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForSelector('#reports-view:not([hidden]) #report[data-state="ready"]');
  assert.equal(await page.getAttribute(todayBar, 'data-value'), '3');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: h.screenshotPath('admin.png'), fullPage: true });

  // Signing out forgets the token.
  await page.click('#logout-btn');
  await page.waitForSelector('#login-view:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.admin_token')), null);
  assert.deepEqual(page.errors, []);
});

/**
 * Runs in a page of the server's origin: an expert and three customers over the real
 * websockets. Two chats are accepted, answered, ended and rated (5 and 4); the third is ended
 * by its customer before anyone answers (abandoned). Returns the conversation ids.
 */
async function makeChats({ expert, timeoutMs }) {
  const base = `ws://${location.host}`;
  // Every wait has a deadline: a missing frame fails the test instead of hanging it.
  const deadline = (what, promise) =>
    Promise.race([
      promise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)),
    ]);
  async function connect(path) {
    const ws = new WebSocket(base + path);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open ${path}`));
    });
    const events = [];
    let waiters = [];
    const pending = new Map();
    let ref = 0;
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.ref !== undefined && pending.has(f.ref)) {
        const settle = pending.get(f.ref);
        pending.delete(f.ref);
        settle(f);
        return;
      }
      events.push(f);
      waiters = waiters.filter((w) => !w());
    };
    return {
      call(frame) {
        const r = ++ref;
        return deadline(`the answer to ${frame.type} on ${path}`, new Promise((resolve, reject) => {
          pending.set(r, (f) => (f.type === 'error' ? reject(new Error(`${frame.type}: ${f.code} ${f.message}`)) : resolve(f)));
          ws.send(JSON.stringify({ ...frame, ref: r }));
        }));
      },
      next(what, pred) {
        return deadline(`${what} on ${path} (got ${JSON.stringify(events.map((e) => e.type))})`, new Promise((resolve) => {
          const take = () => {
            const i = events.findIndex(pred);
            if (i < 0) return false;
            resolve(events.splice(i, 1)[0]);
            return true;
          };
          if (!take()) waiters.push(take);
        }));
      },
      send: (frame) => ws.send(JSON.stringify(frame)),
      close: () => ws.close(),
    };
  }

  const login = await fetch('/api/v1/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(expert),
  }).then((r) => r.json());
  const agent = await connect('/ws/expert');
  await agent.call({ type: 'hello', token: login.token });
  await agent.call({ type: 'presence', status: 'available' });

  const ids = [];
  for (const [text, score] of [['My tent pole snapped', 5], ['Where is my parcel?', 4]]) {
    const customer = await connect('/ws/customer');
    await customer.call({ type: 'hello' });
    const started = await customer.call({ type: 'start', text, category: 'general' });
    const id = started.conversation_id;
    await agent.next('the offer', (f) => f.type === 'offer' && f.conversation && f.conversation.id === id);
    await agent.call({ type: 'accept', conversation_id: id });
    await agent.call({ type: 'send', conversation_id: id, text: 'Hi! Let me look into it.' });
    await agent.call({ type: 'end', conversation_id: id });
    // Sent without a ref: the server stores the rating but does not ack `rate` yet, so the
    // test waits for it through the API instead.
    customer.send({ type: 'rate', conversation_id: id, score });
    await agent.call({ type: 'leave', conversation_id: id });
    customer.close();
    ids.push(id);
  }

  // Nobody answers this one: the agent steps away and the customer gives up.
  await agent.call({ type: 'presence', status: 'away' });
  const quitter = await connect('/ws/customer');
  await quitter.call({ type: 'hello' });
  const started = await quitter.call({ type: 'start', text: 'Anyone there?', category: 'general' });
  await quitter.call({ type: 'end', conversation_id: started.conversation_id });
  ids.push(started.conversation_id);
  quitter.close();
  agent.close();
  return ids;
}
