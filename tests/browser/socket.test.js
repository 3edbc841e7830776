// The shared websocket client (static/shared/socket.js), on its own: no server and no
// browser, but a fake WebSocket and a fake clock, so every timeout and backoff is checked
// without waiting. The piece is run the way the server's bundles run it (src/assets.rs).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const SOURCE = fs.readFileSync(path.resolve(__dirname, '../../static/shared/socket.js'), 'utf8');

/** Timers that fire only when the test moves the clock. */
function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn, ms });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    /** The delays of the timers still waiting. */
    waiting() {
      return [...timers.values()].map((t) => t.ms);
    },
    /** Moves the clock by `ms`, firing what falls due in order. */
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
}

/** Loads socket.js in a fresh context; `sockets` lists every WebSocket it opens. */
function load({ random = Math.random, crypto = globalThis.crypto } = {}) {
  const clock = fakeClock();
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(JSON.parse(data));
    }
    close() {
      this.readyState = 3;
    }
    // What the network does, driven by the test:
    open() {
      this.readyState = 1;
      this.onopen();
    }
    receive(frame) {
      this.onmessage({ data: JSON.stringify(frame) });
    }
    drop() {
      this.readyState = 3;
      this.onclose({ code: 1006 });
    }
  }
  const app = {};
  const context = vm.createContext({
    app,
    WebSocket: FakeWebSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    window: { crypto },
  });
  vm.runInContext('Math.random = random;', Object.assign(context, { random }));
  vm.runInContext(`(function () {\n'use strict';\n(function (app) {\n${SOURCE}\n})(app);\n})();`, context, {
    filename: 'static/shared/socket.js',
  });
  return { ...app.socket, clock, sockets };
}

/** Lets every settled promise run its callbacks. */
const flush = () => new Promise((r) => setImmediate(r));

/** How a promise settled: { ok, value } or { ok: false, error }. */
function settled(p) {
  const out = { pending: true };
  p.then(
    (value) => Object.assign(out, { pending: false, ok: true, value }),
    (error) => Object.assign(out, { pending: false, ok: false, error })
  );
  return out;
}

/** A socket with every callback recorded in `log`. */
function newSocket(mod, extra = {}) {
  const log = { welcomes: [], helloErrors: [], events: [], downs: 0, retries: [] };
  const socket = new mod.Socket({
    url: 'ws://example.test/ws/expert',
    refPrefix: 't',
    hello: () => ({ type: 'hello', token: 'tok' }),
    onWelcome: (w) => log.welcomes.push(w),
    onHelloError: (e) => log.helloErrors.push(e),
    onEvent: (f) => log.events.push(f),
    onDown: () => log.downs++,
    onRetry: (delay, attempt) => log.retries.push({ delay, attempt }),
    ...extra,
  });
  return { socket, log };
}

/** Starts `socket`, opens its connection and answers the hello; returns that WebSocket. */
async function welcomed(mod, socket) {
  socket.start();
  const ws = mod.sockets[mod.sockets.length - 1];
  ws.open();
  const hello = ws.sent[ws.sent.length - 1];
  ws.receive({ type: 'ack', ref: hello.ref, expert: { id: 'e_1' } });
  await flush();
  assert.ok(socket.ready, 'welcomed');
  return ws;
}

test('the socket says hello on open and takes requests only once welcomed', async () => {
  const mod = load();
  const { socket, log } = newSocket(mod);
  const early = settled(socket.request({ type: 'presence', status: 'away' }));
  socket.start();
  assert.equal(mod.sockets.length, 1);
  const ws = mod.sockets[0];
  assert.equal(ws.url, 'ws://example.test/ws/expert');

  ws.open();
  assert.deepEqual(ws.sent, [{ type: 'hello', token: 'tok', ref: 't1' }]);
  const beforeWelcome = settled(socket.request({ type: 'presence', status: 'away' }));
  await flush();
  assert.equal(early.error.code, 'disconnected', 'nothing goes out before connecting');
  assert.equal(beforeWelcome.error.code, 'disconnected', 'nothing but hello goes out before the welcome');
  assert.equal(ws.sent.length, 1);
  assert.equal(socket.ready, false);

  ws.receive({ type: 'ack', ref: 't1', presence: 'available' });
  await flush();
  assert.equal(socket.ready, true);
  assert.equal(log.welcomes.length, 1);
  assert.equal(log.welcomes[0].presence, 'available');
  assert.equal(log.events.length, 0, 'the welcome is the answer to hello, not an event');
  // Starting again while connected opens nothing new.
  socket.start();
  socket.connect();
  assert.equal(mod.sockets.length, 1);
});

test('a request settles with the frame that answers its ref, or times out', async () => {
  const mod = load();
  const { socket, log } = newSocket(mod);
  const ws = await welcomed(mod, socket);

  const a = settled(socket.request({ type: 'accept', conversation_id: 'c_1' }));
  const b = settled(socket.request({ type: 'claim', conversation_id: 'c_2' }));
  const c = settled(socket.request({ type: 'history', customer_id: 'u_1' }));
  const [ra, rb, rc] = ws.sent.slice(-3).map((f) => f.ref);
  assert.deepEqual([ra, rb, rc], ['t2', 't3', 't4'], 'each request gets a fresh ref');

  // Answers come in any order; frames with no pending ref are events.
  ws.receive({ type: 'error', ref: rb, code: 'conflict', message: 'someone else claimed it' });
  ws.receive({ type: 'typing', conversation_id: 'c_1', on: true });
  ws.receive({ type: 'ack', ref: ra, conversation: { id: 'c_1' } });
  await flush();
  assert.equal(a.ok, true);
  assert.equal(a.value.conversation.id, 'c_1');
  assert.equal(b.ok, false);
  assert.equal(b.error.code, 'conflict');
  assert.equal(c.pending, true);
  assert.deepEqual(log.events.map((f) => f.type), ['typing']);

  // No answer within 20 s: a timeout; a late answer is then only an event.
  mod.clock.advance(19999);
  await flush();
  assert.equal(c.pending, true);
  mod.clock.advance(1);
  await flush();
  assert.equal(c.error.code, 'timeout');
  ws.receive({ type: 'ack', ref: rc });
  assert.deepEqual(log.events.map((f) => f.type), ['typing', 'ack']);

  // Frames that are not JSON are ignored.
  ws.onmessage({ data: 'not json' });
  assert.equal(log.events.length, 2);
});

test('a lost connection rejects what waits and reconnects with growing, jittered delays', async () => {
  const mod = load();
  const { socket, log } = newSocket(mod);
  const ws = await welcomed(mod, socket);
  const waiting = settled(socket.request({ type: 'sync', conversation_id: 'c_1', after_seq: 0 }));

  ws.drop();
  await flush();
  assert.equal(waiting.error.code, 'disconnected');
  assert.equal(socket.ready, false);
  assert.equal(log.downs, 1);
  assert.equal(socket.send({ type: 'typing' }), false, 'nothing is sent while down');

  // Each failed try waits about twice as long, never more than 30 s, with a random part.
  const bounds = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000];
  for (let i = 0; i < bounds.length; i++) {
    const retry = log.retries[i];
    assert.equal(retry.attempt, i + 1);
    assert.ok(retry.delay >= bounds[i] / 2 && retry.delay <= bounds[i], `try ${i + 1}: ${retry.delay} ms within ${bounds[i]}`);
    assert.deepEqual(mod.clock.waiting(), [retry.delay], 'one retry is scheduled');
    const before = mod.sockets.length;
    mod.clock.advance(retry.delay - 1);
    assert.equal(mod.sockets.length, before, 'not before its time');
    mod.clock.advance(1);
    assert.equal(mod.sockets.length, before + 1, 'a new connection at its time');
    mod.sockets[mod.sockets.length - 1].drop();
  }
  assert.equal(log.downs, 1 + bounds.length);

  // A welcome starts the backoff afresh; a late close of an old socket changes nothing.
  const retries = log.retries.length;
  const next = mod.sockets.length;
  mod.clock.advance(log.retries[retries - 1].delay);
  const fresh = mod.sockets[next];
  fresh.open();
  fresh.receive({ type: 'ack', ref: fresh.sent[0].ref });
  await flush();
  assert.equal(socket.ready, true);
  assert.equal(log.welcomes.length, 2);
  ws.onclose({ code: 1006 });
  assert.equal(socket.ready, true, 'an old connection closing late is ignored');
  fresh.drop();
  const after = log.retries[log.retries.length - 1];
  assert.equal(after.attempt, 1);
  assert.ok(after.delay >= 250 && after.delay <= 500, `${after.delay}`);
});

test('the jitter spreads retries over the upper half of each delay', () => {
  const low = load({ random: () => 0 });
  const high = load({ random: () => 0.999999 });
  assert.deepEqual(
    [0, 1, 2, 5, 6, 7, 20].map((attempt) => low.backoffDelay(attempt, 0)),
    [250, 500, 1000, 8000, 15000, 15000, 15000]
  );
  assert.deepEqual(
    [0, 1, 2, 5, 6, 7, 20].map((attempt) => high.backoffDelay(attempt, 1)),
    [500, 1000, 2000, 16000, 30000, 30000, 30000]
  );
  for (const mod of [low, high]) {
    const { socket, log } = newSocket(mod);
    socket.start();
    mod.sockets[0].drop();
    assert.equal(log.retries[0].delay, mod === low ? 250 : 500, 'the socket uses Math.random for the jitter');
  }
});

test('stop closes for good until start; reconnectNow skips the wait', async () => {
  const mod = load();
  const { socket, log } = newSocket(mod);
  const ws = await welcomed(mod, socket);
  const waiting = settled(socket.request({ type: 'history', customer_id: 'u_1' }));

  socket.stop();
  await flush();
  assert.equal(ws.readyState, 3, 'the connection is closed');
  assert.equal(waiting.error.code, 'disconnected');
  assert.equal(socket.ready, false);
  ws.onclose({ code: 1000 });
  socket.connect();
  socket.reconnectNow();
  mod.clock.advance(60000);
  assert.equal(mod.sockets.length, 1, 'stopped: nothing reconnects');
  assert.deepEqual(log.retries, []);

  // Signed in again: a new connection with a new hello.
  const again = await welcomed(mod, socket);
  assert.notEqual(again, ws);
  assert.equal(log.welcomes.length, 2);

  // Offline for a while: the backoff grew, and coming back online tries at once.
  again.drop();
  for (let i = 0; i < 4; i++) {
    mod.clock.advance(log.retries[log.retries.length - 1].delay);
    mod.sockets[mod.sockets.length - 1].drop();
  }
  assert.equal(log.retries[log.retries.length - 1].attempt, 5);
  const count = mod.sockets.length;
  socket.reconnectNow();
  assert.equal(mod.sockets.length, count + 1, 'connected at once');
  assert.deepEqual(mod.clock.waiting(), [], 'the scheduled retry is dropped');
  mod.sockets[count].drop();
  assert.equal(log.retries[log.retries.length - 1].attempt, 1, 'and the backoff starts afresh');
});

test('a refused hello is reported and leaves the socket unwelcomed', async () => {
  const mod = load();
  let stopped = null;
  const { socket, log } = newSocket(mod, {
    onHelloError: (err) => {
      stopped = err.code;
      socket.stop();
    },
  });
  socket.start();
  const ws = mod.sockets[0];
  ws.open();
  ws.receive({ type: 'error', ref: ws.sent[0].ref, code: 'unauthorized', message: 'token revoked' });
  await flush();
  assert.equal(stopped, 'unauthorized');
  assert.equal(socket.ready, false);
  assert.deepEqual(log.welcomes, []);
  assert.equal(ws.readyState, 3);
  mod.clock.advance(60000);
  assert.equal(mod.sockets.length, 1, 'a refused page does not retry');
});

test('a transcript keeps each seq once, and sync asks only for what came after', async () => {
  const mod = load();
  const t = new mod.Transcript('c_7');
  assert.equal(t.lastSeq, 0);
  assert.equal(t.add({ seq: 2, text: 'second' }), true);
  assert.equal(t.add({ seq: 1, text: 'first' }), true);
  assert.equal(t.add({ seq: 2, text: 'second, replayed' }), false, 'a replay is not added again');
  assert.equal(t.add({ text: 'no seq' }), false);
  assert.equal(t.add(null), false);
  assert.equal(t.lastSeq, 2);
  assert.deepEqual(Array.from(t.messages(), (m) => m.text), ['first', 'second']);

  const { socket, log } = newSocket(mod);
  const ws = await welcomed(mod, socket);
  const synced = settled(socket.sync(t));
  const frame = ws.sent[ws.sent.length - 1];
  assert.deepEqual({ ...frame, ref: undefined }, { type: 'sync', conversation_id: 'c_7', after_seq: 2, ref: undefined });
  // Of what the sync replays, only the new message is added.
  ws.receive({ type: 'message', message: { conversation_id: 'c_7', seq: 2, text: 'second' } });
  ws.receive({ type: 'message', message: { conversation_id: 'c_7', seq: 3, text: 'third' } });
  ws.receive({ type: 'ack', ref: frame.ref, last_seq: 3 });
  await flush();
  assert.equal(synced.ok, true);
  assert.deepEqual(log.events.map((f) => t.add(f.message)), [false, true]);
  assert.equal(t.lastSeq, 3);
  assert.deepEqual(Array.from(t.messages(), (m) => m.seq), [1, 2, 3]);
});

test('client message ids are random v4 UUIDs, also without crypto.randomUUID', () => {
  const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const secure = load();
  const plain = load({ crypto: { getRandomValues: (b) => globalThis.crypto.getRandomValues(b) } });
  for (const mod of [secure, plain]) {
    const a = mod.clientMsgId();
    const b = mod.clientMsgId();
    assert.match(a, v4);
    assert.notEqual(a, b);
  }
});
