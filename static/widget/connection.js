/*
 * The widget's connection: the shared websocket client (shared/socket.js) set up for
 * /ws/customer, the welcome (which conversation to show, catching up with `sync`, then
 * sending what was written meanwhile) and the events the server pushes.
 */

var S = app.state.S;
var record = app.state.record;
var TERMINAL = app.state.TERMINAL;
var ENDED = app.state.ENDED;
var getItem = app.storage.getItem;
var setItem = app.storage.setItem;
var config = app.config;
var t = app.i18n.t;

var socket = null;

/** Connects for the first time; the socket reconnects by itself from then on. */
function start() {
  socket = new app.socket.Socket({
    url: config.WS_URL,
    refPrefix: 'w',
    hello: function () {
      var hello = { type: 'hello', page: app.page.current(), lang: app.i18n.tag };
      if (config.OPTIONS.user) hello.user = config.OPTIONS.user;
      else if (S.token) hello.visitor_token = S.token;
      return hello;
    },
    onWelcome: onWelcome,
    onHelloError: function (err) {
      if (err && err.code === 'unauthorized') {
        // A forged or expired identity: retrying cannot help, so say so and stay down.
        socket.stop();
        app.view.setConnState(t('unavailable', { reason: err.message || t('notAuthorised') }));
      }
    },
    onEvent: onFrame,
    onDown: function () {
      S.typingOn = false;
      app.transcript.hidePeerTyping();
    },
    onRetry: function (delay, attempt) {
      app.view.setConnState(
        attempt > 1 ? t('reconnectingIn', { s: app.i18n.number(Math.ceil(delay / 1000)) }) : t('reconnecting')
      );
    },
  });
  socket.start();
}

function ready() {
  return !!socket && socket.ready;
}

function send(frame) {
  return !!socket && socket.send(frame);
}

function request(frame) {
  return socket.request(frame);
}

function onWelcome(w) {
  S.welcome = w;
  app.view.setConnState(null);
  if (w.visitor_token) {
    S.token = w.visitor_token;
    setItem('visitor_token', w.visitor_token);
  }
  if (typeof w.abandon_after_ms === 'number') S.abandonAfter = w.abandon_after_ms;
  if (typeof w.inactivity_end_ms === 'number') S.inactivityEnd = w.inactivity_end_ms;
  if (w.customer_may_end) S.mayEnd = w.customer_may_end;
  if (!S.category && w.categories && w.categories.length === 1) S.category = w.categories[0].id;

  var list = w.conversations || [];
  list.forEach(function (b) {
    var c = record(b.id);
    if (b.status) c.status = b.status;
    if (b.expert && b.expert.name) c.expert = b.expert;
    if (b.offline) c.offline = true;
  });
  // Which conversation to show: the one already shown, else the latest live one, else the
  // one this browser tab showed last (so an ended chat can still be rated after navigating).
  var current = S.conv;
  if (!current) {
    for (var i = list.length - 1; i >= 0; i--) {
      if (!TERMINAL[list[i].status]) {
        current = record(list[i].id);
        break;
      }
    }
  }
  if (!current) {
    var last = getItem('conversation', 'session');
    if (last && list.some(function (b) { return b.id === last; })) current = record(last);
  }
  if (current && current !== S.conv) app.view.setCurrent(current);
  app.view.render();

  // Catch up on everything missed, then send what the customer wrote meanwhile.
  var syncs = [];
  Object.keys(S.convs).forEach(function (id) {
    var c = S.convs[id];
    var listed = list.some(function (b) { return b.id === id; });
    if (c === S.conv || (listed && !TERMINAL[c.status])) {
      syncs.push(syncConversation(c));
    }
  });
  if (S.conv) fetchDetails(S.conv);
  S.syncing = true;
  Promise.all(syncs).then(function () {
    S.syncing = false;
    app.composer.flushOutbox();
    app.transcript.sendRead();
    app.view.render();
  });
}

function syncConversation(conv) {
  return socket.sync(conv.transcript).then(
    function (ack) {
      return ack;
    },
    function (err) {
      if (err && err.code === 'not_found') delete S.convs[conv.id];
    }
  );
}

// Who is serving the chat, after a reload (the `assigned` event is not replayed).
function fetchDetails(conv) {
  // Same origin only: a cross-origin fetch would need CORS from the server.
  if (conv.expert || !S.token || !window.fetch || config.ORIGIN.origin !== location.origin) return;
  app.dom
    .fetchJson(config.API + '/conversations/' + encodeURIComponent(conv.id), S.token, 'GET')
    .then(function (c) {
      if (!c) return;
      if (c.expert && c.expert.name) conv.expert = c.expert;
      if (c.status) conv.status = c.status;
      app.view.render();
    })
    .catch(function () {});
}

/** A frame the server sent unasked. */
function onFrame(f) {
  var conv;
  switch (f.type) {
    case 'message':
      app.transcript.add(f.message);
      break;
    case 'queue':
      conv = record(f.conversation_id);
      conv.queue = f.position;
      conv.estimatedWait = f.estimated_wait_ms; // null while the server has no estimate
      if (conv === S.conv) app.view.render();
      break;
    case 'assigned':
      conv = record(f.conversation_id);
      conv.expert = f.expert;
      conv.queue = null;
      if (conv.status === 'queued' || conv.status === 'offered') conv.status = 'open';
      if (conv === S.conv) app.view.render();
      break;
    case 'status':
      conv = record(f.conversation_id);
      conv.status = f.status;
      conv.reason = f.reason || conv.reason;
      if (f.status !== 'queued' && f.status !== 'offered') conv.queue = null;
      if (conv === S.conv) {
        if (ENDED[f.status]) {
          app.transcript.hidePeerTyping();
          app.composer.stopTyping();
        }
        app.view.render();
      }
      break;
    case 'typing':
      if (S.conv && f.conversation_id === S.conv.id) app.transcript.showPeerTyping(!!f.on);
      break;
    case 'read':
      conv = record(f.conversation_id);
      if (f.seq > conv.peerRead) conv.peerRead = f.seq;
      if (conv === S.conv) app.transcript.updateReceipts();
      break;
    case 'push_chat':
      conv = record(f.conversation_id);
      conv.status = 'open';
      conv.expert = f.expert || conv.expert;
      app.view.setCurrent(conv);
      syncConversation(conv);
      app.view.setOpen(true, false);
      break;
    case 'error':
      app.view.toast(app.view.errorText(f));
      break;
    default:
      break;
  }
}

app.connection = {
  start: start,
  ready: ready,
  send: send,
  request: request,
  /** Connects now if down, e.g. when the page becomes visible again. */
  connect: function () {
    if (socket) socket.connect();
  },
  /** Back online: try at once, with the backoff started afresh. */
  reconnectNow: function () {
    if (socket) socket.reconnectNow();
  },
};
