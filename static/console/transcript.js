/*
 * A chat's transcript in the console: messages in seq order, each shown once, with who wrote
 * them (internal notes marked), receipts on the expert's own messages, unread counts and
 * alerts for the customer's, read markers sent back, and the customer's typing indicator.
 */

var el = app.dom.el;
var richText = app.text.richText;
var clock = app.text.clock;
var customerLabel = app.format.customerLabel;
var ENDED = app.format.ENDED;
var S = app.store.S;

function messageNode(m, chat) {
  var kind = (m.author && m.author.kind) || 'system';
  var mine = kind === 'expert' && S.expert && m.author.id === S.expert.id;
  var cls = 'msg msg-' + kind + (m.internal ? ' msg-internal' : '') + (mine ? ' msg-mine' : '');
  var node = el('div', { class: cls, 'data-seq': String(m.seq), 'data-kind': kind });
  if (kind === 'system') {
    node.appendChild(el('div', { class: 'bubble' }, [richText(m.text)]));
    return node;
  }
  var who =
    kind === 'customer'
      ? customerLabel(chat && chat.customer)
      : kind === 'bot'
        ? (m.author.name && !/^bot$/i.test(m.author.name) ? m.author.name + ' (bot)' : 'Bot')
        : (mine ? 'You' : m.author.name || 'Expert');
  if (m.internal) who += ' · internal note';
  node.appendChild(el('div', { class: 'who' }, [el('span', { class: 'who-name', text: who }), el('time', { datetime: m.at || '', text: ' · ' + clock(m.at) })]));
  var bubble = el('div', { class: 'bubble' }, [richText(m.text)]);
  (m.attachments || []).forEach(function (a) {
    bubble.appendChild(app.attachments.node(a));
  });
  node.appendChild(bubble);
  if (kind === 'expert' && !m.internal) node.appendChild(el('div', { class: 'receipt muted small' }));
  return node;
}

function addMessage(chat, m) {
  // Each seq once: a message may come in an ack, as an event and again from a sync.
  if (!chat.transcript.add(m)) return false;
  var node = messageNode(m, chat);
  var log = chat.dom.log;
  var before = null;
  for (var i = log.children.length - 1; i >= 0; i--) {
    var s = Number(log.children[i].getAttribute('data-seq'));
    if (s < m.seq) break;
    before = log.children[i];
  }
  var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  log.insertBefore(node, before);
  if (atBottom || (m.author && m.author.kind === 'expert')) scrollDown(chat);
  if (m.author && m.author.kind === 'customer') {
    setPeerTyping(chat, false);
  }
  if (m.author && m.author.kind === 'expert' && !m.internal) {
    chat.nudge = null;
    chat.slaBreach = null;
    app.chatView.render(chat);
  }
  renderReceipts(chat);
  // The chat's files are listed beside it too.
  if (m.attachments && m.attachments.length) app.customerInfo.render(chat);
  return true;
}

function onMessage(m) {
  if (!m) return;
  var chat = S.convs[m.conversation_id];
  if (!chat) {
    // A chat we own but have not shown yet (e.g. opened elsewhere): fetch and show it.
    chat = app.chats.ensure({ id: m.conversation_id, status: 'open' });
    app.chats.fetch(chat);
  }
  var isNew = addMessage(chat, m);
  if (!isNew) return;
  var kind = m.author && m.author.kind;
  if (kind === 'customer') {
    var visible = S.active === chat.id && document.visibilityState === 'visible';
    if (!visible) {
      chat.unread++;
      app.chatView.renderTab(chat);
      app.alerts.beep(1);
      app.alerts.notify(customerLabel(chat.customer), m.text.slice(0, 140), 'msg-' + chat.id, function () {
        app.chats.select(chat.id, true);
      });
    } else sendRead(chat);
    if (chat.status === 'pending' || chat.status === 'on_hold') {
      chat.status = 'open';
      app.chatView.render(chat);
    }
  }
}

function renderReceipts(chat) {
  var mine = chat.dom.log.querySelectorAll('.msg-expert:not(.msg-internal)');
  for (var i = 0; i < mine.length; i++) {
    var r = mine[i].querySelector('.receipt');
    if (!r) continue;
    var last = i === mine.length - 1;
    var seen = Number(mine[i].getAttribute('data-seq')) <= chat.peerRead;
    r.textContent = last ? (seen ? 'Seen' : 'Delivered') : '';
  }
}

function scrollDown(chat) {
  var log = chat.dom.log;
  log.scrollTop = log.scrollHeight;
}

function sendRead(chat) {
  if (!app.connection.ready() || S.active !== chat.id || document.visibilityState !== 'visible') return;
  var seq = chat.transcript.lastSeq;
  // A specialist reads along unseen: receipts are the owner's to give.
  if (!seq || seq <= chat.lastReadSent || ENDED[chat.status] || chat.consult) return;
  chat.lastReadSent = seq;
  app.connection.send({ type: 'read', conversation_id: chat.id, seq: seq });
}
document.addEventListener('visibilitychange', function () {
  if (S.active && S.convs[S.active] && document.visibilityState === 'visible') {
    var chat = S.convs[S.active];
    chat.unread = 0;
    app.chatView.renderTab(chat);
    sendRead(chat);
  }
});

function setPeerTyping(chat, on) {
  clearTimeout(chat.peerTypingTimer);
  chat.typing = on;
  if (on) {
    chat.dom.typing.replaceChildren(document.createTextNode(customerLabel(chat.customer) + ' is typing'), el('span', { class: 'dots' }));
    chat.peerTypingTimer = setTimeout(function () {
      setPeerTyping(chat, false);
    }, 15000);
  } else chat.dom.typing.textContent = '';
  chat.dom.tab.classList.toggle('tab-typing', on);
}

app.transcript = {
  messageNode: messageNode,
  add: addMessage,
  onMessage: onMessage,
  renderReceipts: renderReceipts,
  scrollDown: scrollDown,
  sendRead: sendRead,
  setPeerTyping: setPeerTyping,
};
