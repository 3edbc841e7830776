// The admin page's customers view (data rights) against the real server: a customer who chatted
// and asked for a callback is looked up by a conversation id, their export downloaded, and
// erased only once the confirmation names them: a wrong id keeps the button off, Cancel keeps
// everything; afterwards the API knows nothing of them. Saves docs/screenshots/admin-erase.png.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./helpers');

const up = h.serverAndBrowser();

/** A customer over the real websocket in a page of the server: a chat and a callback request. */
async function customerWhoChatted({ timeoutMs }) {
  const ws = new WebSocket(`ws://${location.host}/ws/customer`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('cannot open the widget socket'));
  });
  const answers = new Map();
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (answers.has(f.ref)) answers.get(f.ref)(f);
  };
  let ref = 0;
  const call = (frame) =>
    Promise.race([
      new Promise((resolve) => {
        answers.set(++ref, resolve);
        ws.send(JSON.stringify({ ...frame, ref }));
      }),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer to ${frame.type}`)), timeoutMs)),
    ]);
  const welcome = await call({ type: 'hello' });
  const started = await call({ type: 'start', text: 'Please forget me', category: 'general' });
  await call({ type: 'callback', phone: '+41 44 555 01 00' });
  return { customer: welcome.customer_id, conversation: started.conversation_id };
}

test('the admin downloads a customer export and erases them after a typed confirmation', { timeout: 90000 }, async () => {
  const { server, browser } = up;
  const { page } = await h.newPage(browser, { viewport: { width: 1280, height: 860 } });
  await page.goto(server.url + '/admin');
  const made = await page.evaluate(customerWhoChatted, { timeoutMs: h.TIMEOUT });

  await page.fill('#login-token', h.ADMIN_TOKEN);
  await page.click('#login-submit');
  await page.click('#tab-customers');
  await page.fill('#customer-id', made.conversation);
  await page.click('#customer-find');
  await page.waitForSelector('#customer-card:not([hidden])');
  assert.match(await page.textContent('#customer-title'), new RegExp(made.customer));
  assert.match(await page.textContent('#customer-summary'), /1 conversation · 1 callback request · 0 ratings/);
  assert.ok(await page.isVisible(`#customer-conversations li[data-id="${made.conversation}"]`));

  // The export downloads as a JSON file holding what the API holds.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#customer-export')]);
  assert.equal(download.suggestedFilename(), `customer-${made.customer}.json`);
  const saved = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(saved.conversations[0].messages[0].text, 'Please forget me');
  assert.equal(saved.callbacks[0].phone, '+41 44 555 01 00');

  // The confirmation: the button stays off until the customer's id is typed; Cancel keeps all.
  await page.click('#customer-erase');
  await page.waitForSelector('#erase-dialog[open]');
  await page.fill('#erase-confirm', made.customer + '9');
  assert.ok(await page.isDisabled('#erase-submit'), 'a wrong id cannot erase');
  await page.click('#erase-dialog [data-close]');
  await page.waitForSelector('#erase-dialog', { state: 'hidden' });
  await h.api(server, 'GET', `/api/v1/customers/${made.customer}/export`);

  await page.click('#customer-erase');
  await page.waitForSelector('#erase-dialog[open]');
  await page.fill('#erase-confirm', made.customer);
  assert.ok(await page.isEnabled('#erase-submit'));
  await page.screenshot({ path: h.screenshotPath('admin-erase.png') });
  await page.click('#erase-submit');
  await page.waitForSelector('#erase-dialog', { state: 'hidden' });
  await page.waitForSelector('#customer-card', { state: 'hidden' });
  await h.waitFor(page, (id) => document.getElementById('toasts').textContent.includes(`Erased ${id}`), 'the toast', made.customer);

  await assert.rejects(h.api(server, 'GET', `/api/v1/customers/${made.customer}/export`), / 404: /);
  await assert.rejects(h.api(server, 'GET', `/api/v1/conversations/${made.conversation}`), / 404: /);
  // Looking them up again says nothing is kept.
  await page.fill('#customer-id', made.customer);
  await page.click('#customer-find');
  await h.waitFor(page, () => !document.getElementById('customers-error').hidden, 'the lookup error');
  assert.match(await page.textContent('#customers-error'), /Nothing is kept/);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(page.dialogsSeen, [], 'the confirmation is the page dialog, not a browser prompt');
});
