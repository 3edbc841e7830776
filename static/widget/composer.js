/*
 * The customer's side of the conversation: the composer with its typing signal, and the
 * outbox. What the customer writes is shown at once as pending and sent in order, one at a
 * time, each with a client_msg_id so that a resend after a lost connection is harmless; the
 * first message starts a chat (again, after one has closed).
 */

var el = app.dom.el;
var S = app.state.S;
var record = app.state.record;
var TERMINAL = app.state.TERMINAL;
var ENDED = app.state.ENDED;
var ui = app.panel.ui;
var t = app.i18n.t;

function onInput() {
  ui.input.style.height = 'auto';
  ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + 'px';
  var conv = S.conv;
  if (!conv || ENDED[conv.status] || !app.connection.ready()) return;
  if (!ui.input.value.trim()) {
    stopTyping();
    return;
  }
  if (!S.typingOn) {
    S.typingOn = true;
    app.connection.send({ type: 'typing', conversation_id: conv.id, on: true });
  }
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(stopTyping, 3000);
}

function stopTyping() {
  clearTimeout(S.typingTimer);
  if (!S.typingOn) return;
  S.typingOn = false;
  var conv = S.conv;
  if (conv && app.connection.ready() && !ENDED[conv.status]) app.connection.send({ type: 'typing', conversation_id: conv.id, on: false });
}

function submitComposer() {
  var text = ui.input.value.replace(/\s+$/, '').replace(/^\s*\n/, '');
  if (!text.trim()) return;
  var conv = S.conv;
  var starting = !conv || TERMINAL[conv.status];
  var cats = (S.welcome && S.welcome.categories) || [];
  if (starting && !S.category && cats.length > 1) {
    app.view.toast(t('chooseTopicFirst'));
    var first = ui.cats.querySelector('.cat');
    if (first) first.focus();
    return;
  }
  stopTyping();
  ui.input.value = '';
  onInput();
  var item = {
    cmid: app.socket.clientMsgId(),
    text: text,
    kind: 'send',
    conversation_id: conv && !TERMINAL[conv.status] ? conv.id : null,
    category: S.category || (cats[0] && cats[0].id) || undefined,
  };
  if (starting) {
    // A pending start already in the outbox carries this one along.
    var startQueued = S.outbox.some(function (o) {
      return o.kind === 'start';
    });
    item.kind = startQueued ? 'send' : 'start';
    if (conv && !startQueued) app.view.setCurrent(null);
  }
  item.el = app.transcript.pendingNode(item);
  S.outbox.push(item);
  ui.log.appendChild(item.el);
  app.transcript.scrollDown();
  app.view.render();
  flushOutbox();
}

function flushOutbox() {
  if (S.flushing || !app.connection.ready()) return;
  var item = S.outbox[0];
  if (!item) return;
  S.flushing = true;
  var frame;
  if (item.kind === 'start') {
    frame = { type: 'start', text: item.text, client_msg_id: item.cmid, page: app.page.current() };
    if (item.category) frame.category = item.category;
  } else {
    var id = item.conversation_id || (S.conv && S.conv.id);
    if (!id) {
      item.kind = 'start';
      S.flushing = false;
      return flushOutbox();
    }
    item.conversation_id = id;
    frame = { type: 'send', conversation_id: id, text: item.text, client_msg_id: item.cmid };
    if (item.attachments) frame.attachments = item.attachments;
  }
  app.connection.request(frame).then(
    function (ack) {
      S.outbox.shift();
      if (item.el && item.el.parentNode) item.el.parentNode.removeChild(item.el);
      if (item.kind === 'start') {
        var conv = record(ack.conversation_id);
        conv.status = conv.status || 'queued';
        conv.startedAt = conv.startedAt || Date.now();
        app.view.setCurrent(conv);
      }
      app.transcript.add(ack.message);
      app.transcript.updateReceipts();
      S.flushing = false;
      flushOutbox();
    },
    function (err) {
      S.flushing = false;
      if (err.code === 'disconnected' || err.code === 'timeout') return; // resent after reconnecting
      // Files belong to their conversation: they cannot start another one.
      if (err.code === 'closed' && item.kind === 'send' && !item.attachments) {
        // The chat ended meanwhile: this message starts a new one.
        item.kind = 'start';
        item.conversation_id = null;
        if (S.conv && S.conv.id === frame.conversation_id) {
          S.conv.status = S.conv.status === 'solved' ? 'closed' : S.conv.status;
        }
        return flushOutbox();
      }
      S.outbox.shift();
      markFailed(item, err);
      flushOutbox();
    }
  );
}

function markFailed(item, err) {
  var node = item.el;
  if (!node) return;
  node.classList.remove('pending');
  node.classList.add('failed');
  var meta = node.querySelector('.meta');
  meta.replaceChildren(
    document.createTextNode(t('notSent', { error: app.view.errorText(err) }) + ' '),
    el('button', {
      class: 'retry',
      type: 'button',
      text: t('retry'),
      onclick: function () {
        node.classList.remove('failed');
        node.classList.add('pending');
        meta.replaceChildren(el('span', { class: 'receipt', text: t('sending') }));
        if (!item.attachments) {
          item.kind = S.conv && !TERMINAL[S.conv.status] ? 'send' : 'start';
          item.conversation_id = item.kind === 'send' ? S.conv.id : null;
        }
        S.outbox.push(item);
        ui.log.appendChild(node);
        flushOutbox();
      },
    })
  );
}

function endChat() {
  var conv = S.conv;
  if (!conv) return;
  if (!window.confirm(t('endChatConfirm'))) return;
  ui.end.disabled = true;
  app.connection.request({ type: 'end', conversation_id: conv.id }).then(
    function () {
      ui.end.disabled = false;
      if (!ENDED[conv.status]) {
        conv.status = conv.expertAnswered ? 'solved' : 'abandoned';
        conv.reason = 'customer_ended';
      }
      app.view.render();
    },
    function (err) {
      ui.end.disabled = false;
      app.view.toast(app.view.errorText(err));
    }
  );
}

app.composer = {
  onInput: onInput,
  stopTyping: stopTyping,
  submit: submitComposer,
  flushOutbox: flushOutbox,
  endChat: endChat,
};
