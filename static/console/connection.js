/*
 * The console's connection: the shared websocket client (shared/socket.js) set up for
 * /ws/expert, the welcome after each (re)connect, and the events the server pushes, each
 * handed to the feature it concerns.
 */

var $ = app.dom.$;
var toast = app.dom.toast;
var format = app.format;
var customerLabel = format.customerLabel;
var errorText = format.errorText;
var ENDED = format.ENDED;
var REASONS = format.REASONS;
var duration = format.duration;
var S = app.store.S;

var socket = new app.socket.Socket({
  url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/expert',
  refPrefix: 'c',
  hello: function () {
    return { type: 'hello', token: S.token };
  },
  onWelcome: onWelcome,
  onHelloError: function (err) {
    if (err.code === 'unauthorized') app.login.logout('Your session has expired. Please sign in again.');
  },
  onEvent: onFrame,
  onDown: function () {
    // Offers stay up until their deadline: the server may still hold them for us, and
    // an accept after reconnecting gets `conflict` if not.
    app.presence.set('offline');
  },
  onRetry: function (delay) {
    setConn('Connection lost. Reconnecting in ' + Math.ceil(delay / 1000) + ' s…');
  },
});

function setConn(text) {
  $('conn-state').hidden = !text;
  $('conn-state').textContent = text || '';
}

/** Every (re)connect: who the expert is, their chats (caught up), the claim list. */
function onWelcome(w) {
  setConn(null);
  if (w.expert) {
    S.expert = Object.assign({}, S.expert || {}, w.expert);
    $('me-name').textContent = S.expert.name || '';
  }
  app.presence.set(w.presence || 'available');
  S.maxAttachmentBytes = w.max_attachment_bytes || null;
  (w.conversations || []).forEach(function (c) {
    // Listed without `sla_breached`: answered meanwhile (perhaps from another console).
    if (!c.sla_breached && S.convs[c.id]) S.convs[c.id].slaBreach = null;
    var chat = app.chats.ensure(c);
    syncChat(chat);
  });
  // Chats we show that the server no longer lists for us are stale after a long outage.
  S.claimable = {};
  (w.claimable || []).forEach(function (c) {
    S.claimable[c.id] = c;
    app.transfer.noteCategory(c.category);
  });
  app.claimable.render();
  Object.keys(S.convs).forEach(function (id) {
    var listed = (w.conversations || []).some(function (c) {
      return c.id === id;
    });
    if (!listed) syncChat(S.convs[id]);
  });
  if (!S.active && S.order.length) app.chats.select(S.order[0]);
}

/** Catches `chat` up from its last seq, trying again a few times when the server is busy. */
function syncChat(chat, attempt) {
  return socket.sync(chat.transcript).catch(function (err) {
    if ((err.code === 'rate_limited' || err.code === 'timeout') && (attempt || 0) < 5 && S.convs[chat.id]) {
      return new Promise(function (r) {
        setTimeout(r, 1000 * ((attempt || 0) + 1));
      }).then(function () {
        return syncChat(chat, (attempt || 0) + 1);
      });
    }
    // A consult ended while we were away answers like a chat we never saw.
    if (err.code === 'forbidden' || (err.code === 'not_found' && chat.consult)) {
      toast('You no longer have access to a chat with ' + customerLabel(chat.customer) + '.');
      app.chats.remove(chat.id);
    } else if (err.code !== 'disconnected') {
      toast('Could not refresh the chat with ' + customerLabel(chat.customer) + ': ' + errorText(err), 'error');
    }
  });
}

/** A frame the server sent unasked. */
function onFrame(f) {
  var chat;
  switch (f.type) {
    case 'offer':
      app.offers.add(f);
      break;
    case 'offer_withdrawn':
      if (S.offers[f.conversation_id]) {
        var o = S.offers[f.conversation_id];
        app.offers.remove(f.conversation_id);
        var why = { expired: 'it expired', declined: 'you declined', lapsed: 'it expired', timeout: 'it expired' }[f.reason] || f.reason || 'withdrawn';
        if (f.reason !== 'declined') toast('Offer from ' + customerLabel(o.conv.customer) + ' withdrawn: ' + why + '.');
      }
      break;
    case 'message':
      app.transcript.onMessage(f.message);
      break;
    case 'status':
      chat = S.convs[f.conversation_id];
      if (chat) {
        chat.status = f.status;
        chat.reason = f.reason || null;
        if (ENDED[f.status]) {
          chat.nudge = null;
          chat.slaBreach = null;
          chat.typing = false;
        }
        app.chatView.render(chat);
      }
      if (f.status !== 'queued' && f.status !== 'offered' && S.offers[f.conversation_id]) app.offers.remove(f.conversation_id);
      break;
    case 'typing':
      chat = S.convs[f.conversation_id];
      if (chat) app.transcript.setPeerTyping(chat, !!f.on);
      break;
    case 'read':
      chat = S.convs[f.conversation_id];
      if (chat) {
        chat.peerRead = Math.max(chat.peerRead, f.seq || 0);
        app.transcript.renderReceipts(chat);
      }
      break;
    case 'page':
      chat = S.convs[f.conversation_id];
      if (chat) {
        chat.page = { url: f.url, title: f.title };
        app.customerInfo.render(chat);
      }
      break;
    case 'presence':
      app.presence.set(f.status);
      if (f.reason) {
        var reason = { missed_offers: 'after missed offers' }[f.reason] || '(' + f.reason + ')';
        toast('Your presence was set to ' + f.status + ' ' + reason + '.', 'warn');
      }
      break;
    case 'nudge':
      chat = S.convs[f.conversation_id];
      if (chat) {
        chat.nudge = { waiting_ms: f.waiting_ms, since: Date.now() };
        app.chatView.render(chat);
        app.alerts.beep(1);
        app.alerts.notify('Customer waiting', customerLabel(chat.customer) + ' has been waiting ' + duration(f.waiting_ms) + ' for a reply.', 'nudge-' + chat.id, function () {
          app.chats.select(chat.id);
        });
      }
      break;
    case 'sla_breach':
      chat = S.convs[f.conversation_id];
      if (chat) {
        chat.slaBreach = { kind: f.kind, target_ms: f.target_ms };
        app.chatView.render(chat);
        app.alerts.beep(2);
        app.alerts.notify('Response target missed', customerLabel(chat.customer) + ' waited past the ' + duration(f.target_ms) + ' target.', 'sla-' + chat.id, function () {
          app.chats.select(chat.id);
        });
      }
      break;
    case 'claimable':
      if (f.conversation) {
        S.claimable[f.conversation.id] = f.conversation;
        app.transfer.noteCategory(f.conversation.category);
        app.claimable.render();
        app.alerts.beep(1);
        app.alerts.notify('Chat to claim', customerLabel(f.conversation.customer), 'claim-' + f.conversation.id);
      }
      break;
    case 'claimed':
      if (S.claimable[f.conversation_id]) {
        delete S.claimable[f.conversation_id];
        app.claimable.render();
      }
      break;
    case 'released':
      if (S.convs[f.conversation_id]) {
        var lost = S.convs[f.conversation_id];
        toast('The chat with ' + customerLabel(lost.customer) + ' was released' + (f.reason ? ' (' + (REASONS[f.reason] || f.reason.replace(/_/g, ' ')) + ')' : '') + '.', 'warn');
        app.chats.remove(f.conversation_id);
      }
      break;
    case 'transferred':
      chat = S.convs[f.conversation_id];
      var from = f.from && typeof f.from === 'object' ? f.from.name || f.from.id : f.from;
      if (!chat) {
        chat = app.chats.ensure({ id: f.conversation_id, status: 'open' });
        app.chats.fetch(chat);
        app.alerts.beep(2);
      }
      chat.transfer = { from: from || null, note: f.note || null };
      syncChat(chat);
      app.chatView.render(chat);
      toast('Chat transferred to you' + (from ? ' by ' + from : '') + '.');
      app.alerts.notify('Chat transferred to you', (from ? 'From ' + from + '. ' : '') + (f.note || ''), 'transfer-' + f.conversation_id, function () {
        app.chats.select(f.conversation_id);
      });
      if (!S.active) app.chats.select(chat.id);
      break;
    case 'consult':
      app.consult.onConsult(f);
      break;
    case 'consult_ended':
      app.consult.onEnded(f);
      break;
    case 'error':
      toast(errorText(f), 'error');
      break;
    default:
      break;
  }
}

app.connection = {
  /** Connects as the signed-in expert and stays connected until `stop()`. */
  start: function () {
    socket.start();
  },
  stop: function () {
    socket.stop();
  },
  /** Back online: try at once, with the backoff started afresh. */
  reconnectNow: function () {
    socket.reconnectNow();
  },
  ready: function () {
    return socket.ready;
  },
  send: function (frame) {
    return socket.send(frame);
  },
  request: function (frame) {
    return socket.request(frame);
  },
  syncChat: syncChat,
};
