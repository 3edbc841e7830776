/*
 * The websocket client of the console and the widget (docs/PROTOCOL.md), one per page.
 *
 * A `Socket` says hello on every (re)connect and is `ready` once the server has welcomed it.
 * `request(frame)` stamps the frame with a ref and settles with the frame that answers that
 * ref: the ack resolves it, an `error` frame rejects it, and so do { code: 'timeout' } when no
 * answer comes in time and { code: 'disconnected' } when there is no welcomed connection or it
 * is lost. Every other frame is an event for `onEvent`. A lost connection is tried again with
 * exponential backoff and jitter until `stop()`.
 *
 * A `Transcript` keeps one conversation's messages by seq: `socket.sync(transcript)` asks only
 * for what came after the last one shown, and a message that arrives twice (replayed by a
 * sync after a reconnect, or both in an ack and as an event) is added once.
 */

/** How long a request waits for its answer. */
var REQUEST_TIMEOUT_MS = 20000;
var CONNECTING = 0;
var OPEN = 1;

/**
 * The wait before reconnect attempt `attempt` (0 for the first), given `random` in [0, 1):
 * doubling from 0.5 s up to 30 s, with a random upper half so that the pages a restart
 * dropped together do not all come back in the same instant.
 */
function backoffDelay(attempt, random) {
  var base = Math.min(30000, 500 * Math.pow(2, attempt));
  return Math.round(base / 2 + (random * base) / 2);
}

function notConnected(message) {
  return { code: 'disconnected', message: message };
}

/**
 * `options`:
 * - `url`: the websocket endpoint; `refPrefix`: what this page's refs start with.
 * - `hello()`: the hello frame, built afresh for each connection (tokens change).
 * - `onWelcome(ack)`: the server accepted the hello; requests may go out now.
 * - `onHelloError(err)`: the hello was answered with an error, or not answered.
 * - `onEvent(frame)`: a frame that answers no pending request.
 * - `onDown()`: the connection was lost; its pending requests are already rejected.
 * - `onRetry(delayMs, attempt)`: the next try is in `delayMs` (attempt counts from 1).
 */
function Socket(options) {
  this.options = options;
  /** The current WebSocket; a closed one is dropped, so its late events are ignored. */
  this.ws = null;
  /** Between the server's welcome and the loss of that connection. */
  this.ready = false;
  /** Until `start()` and after `stop()`: nothing connects or reconnects. */
  this.stopped = true;
  /** Failed tries since the last welcome, which sets the backoff. */
  this.attempt = 0;
  this.retryTimer = null;
  this.nextRef = 1;
  /** ref -> { resolve, reject, timer } of each request still waiting for its answer. */
  this.pending = {};
}

Socket.prototype.start = function () {
  this.stopped = false;
  this.connect();
};

/** Connects now unless stopped or already connected (a scheduled retry is brought forward). */
Socket.prototype.connect = function () {
  clearTimeout(this.retryTimer);
  if (this.stopped) return;
  if (this.ws && (this.ws.readyState === CONNECTING || this.ws.readyState === OPEN)) return;
  var self = this;
  var ws;
  try {
    ws = new WebSocket(this.options.url);
  } catch (e) {
    this.retryLater();
    return;
  }
  this.ws = ws;
  ws.onopen = function () {
    if (self.ws === ws) self.sayHello();
  };
  ws.onmessage = function (ev) {
    if (self.ws !== ws) return;
    var frame;
    try {
      frame = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    self.receive(frame);
  };
  ws.onclose = function () {
    if (self.ws === ws) self.lost();
  };
  ws.onerror = function () {
    /* onclose follows */
  };
};

/** After the network came back: try at once, with the backoff started afresh. */
Socket.prototype.reconnectNow = function () {
  if (this.stopped || this.ws) return;
  this.attempt = 0;
  this.connect();
};

/** Closes the connection for good (until `start()`); pending requests are rejected. */
Socket.prototype.stop = function () {
  this.stopped = true;
  clearTimeout(this.retryTimer);
  var ws = this.ws;
  this.ws = null;
  this.ready = false;
  this.failPending('Disconnected.');
  if (ws) ws.close();
};

/** Sends a frame that expects no answer (typing, read, page); false when not connected. */
Socket.prototype.send = function (frame) {
  if (!this.ws || this.ws.readyState !== OPEN) return false;
  try {
    this.ws.send(JSON.stringify(frame));
    return true;
  } catch (e) {
    return false;
  }
};

/** Sends a frame with a fresh ref; see the top of this file for how it settles. */
Socket.prototype.request = function (frame) {
  var self = this;
  return new Promise(function (resolve, reject) {
    var open = self.ws && self.ws.readyState === OPEN;
    if (!open || (!self.ready && frame.type !== 'hello')) {
      reject(notConnected('Not connected to the server.'));
      return;
    }
    var ref = self.options.refPrefix + self.nextRef++;
    frame.ref = ref;
    var entry = { resolve: resolve, reject: reject };
    entry.timer = setTimeout(function () {
      delete self.pending[ref];
      reject({ code: 'timeout', message: 'The server did not answer in time.' });
    }, REQUEST_TIMEOUT_MS);
    self.pending[ref] = entry;
    if (!self.send(frame)) {
      clearTimeout(entry.timer);
      delete self.pending[ref];
      reject(notConnected('Not connected to the server.'));
    }
  });
};

/** Asks for the messages of `transcript`'s conversation after the last one it holds. */
Socket.prototype.sync = function (transcript) {
  return this.request({ type: 'sync', conversation_id: transcript.conversationId, after_seq: transcript.lastSeq });
};

Socket.prototype.sayHello = function () {
  var self = this;
  this.request(this.options.hello()).then(
    function (welcome) {
      self.ready = true;
      self.attempt = 0;
      self.options.onWelcome(welcome);
    },
    function (err) {
      if (self.options.onHelloError) self.options.onHelloError(err);
    }
  );
};

Socket.prototype.receive = function (frame) {
  var entry = frame.ref !== undefined && frame.ref !== null ? this.pending[frame.ref] : null;
  if (entry) {
    clearTimeout(entry.timer);
    delete this.pending[frame.ref];
    if (frame.type === 'error') entry.reject(frame);
    else entry.resolve(frame);
    return;
  }
  if (this.options.onEvent) this.options.onEvent(frame);
};

Socket.prototype.lost = function () {
  this.ws = null;
  this.ready = false;
  this.failPending('Connection lost.');
  if (this.options.onDown) this.options.onDown();
  this.retryLater();
};

Socket.prototype.retryLater = function () {
  if (this.stopped) return;
  clearTimeout(this.retryTimer);
  var delay = backoffDelay(this.attempt, Math.random());
  this.attempt++;
  if (this.options.onRetry) this.options.onRetry(delay, this.attempt);
  this.retryTimer = setTimeout(this.connect.bind(this), delay);
};

Socket.prototype.failPending = function (message) {
  var pending = this.pending;
  this.pending = {};
  Object.keys(pending).forEach(function (ref) {
    clearTimeout(pending[ref].timer);
    pending[ref].reject(notConnected(message));
  });
};

/** One conversation's messages as this page shows them, by seq. */
function Transcript(conversationId) {
  this.conversationId = conversationId;
  this.bySeq = {};
  /** The highest seq held: a sync asks for what came after it. */
  this.lastSeq = 0;
}

/** Keeps `m` and says true, unless it has no seq or that seq is already held. */
Transcript.prototype.add = function (m) {
  if (!m || typeof m.seq !== 'number' || this.bySeq[m.seq]) return false;
  this.bySeq[m.seq] = m;
  if (m.seq > this.lastSeq) this.lastSeq = m.seq;
  return true;
};

/** The messages held, in seq order. */
Transcript.prototype.messages = function () {
  var bySeq = this.bySeq;
  return Object.keys(bySeq)
    .map(Number)
    .sort(function (a, b) {
      return a - b;
    })
    .map(function (seq) {
      return bySeq[seq];
    });
};

/** A random id for `client_msg_id`, which makes a resent `start` or `send` harmless. */
function clientMsgId() {
  var c = window.crypto || window.msCrypto;
  if (c && c.randomUUID) {
    try {
      return c.randomUUID();
    } catch (e) {
      /* not a secure context: made from random bytes below */
    }
  }
  var b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  var h = Array.prototype.map.call(b, function (x) {
    return (x + 0x100).toString(16).slice(1);
  });
  return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' + h.slice(6, 8).join('') + '-' +
    h.slice(8, 10).join('') + '-' + h.slice(10).join('');
}

app.socket = { Socket: Socket, Transcript: Transcript, backoffDelay: backoffDelay, clientMsgId: clientMsgId };
