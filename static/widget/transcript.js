/*
 * The widget's transcript: the messages of the conversation shown, in seq order, each shown
 * once (its record's `Transcript` says which are new), the customer's unsent ones pending at
 * the end, read receipts, and the expert's typing indicator.
 */

var el = app.dom.el;
var richText = app.text.richText;
var i18n = app.i18n;
var t = i18n.t;
var S = app.state.S;
var TERMINAL = app.state.TERMINAL;
var record = app.state.record;
var ui = app.panel.ui;

function messageNode(m) {
  var kind = (m.author && m.author.kind) || 'system';
  var node = el('div', { class: 'msg ' + kind, 'data-seq': String(m.seq), 'data-kind': kind });
  if (kind === 'expert' || kind === 'bot') {
    var name = m.author.name || (kind === 'bot' ? t('assistant') : t('expert'));
    node.appendChild(el('div', { class: 'who', text: name }));
  }
  if (kind === 'customer') node.appendChild(el('span', { class: 'sr', text: t('youSaid') + ' ' }));
  var bubble = el('div', { class: 'bubble' });
  bubble.appendChild(richText(m.text || ''));
  (m.attachments || []).forEach(function (a) {
    bubble.appendChild(app.attachments.node(a));
  });
  node.appendChild(bubble);
  if (kind !== 'system') {
    var stamp = el('time', { datetime: m.at || '', title: i18n.fullTime(m.at), text: i18n.time(m.at) });
    var meta = el('div', { class: 'meta' }, [stamp]);
    if (kind === 'customer') meta.appendChild(el('span', { class: 'receipt' }));
    node.appendChild(meta);
  }
  return node;
}

function pendingNode(item) {
  var node = el('div', { class: 'msg customer pending', 'data-cmid': item.cmid });
  var bubble = el('div', { class: 'bubble' });
  bubble.appendChild(richText(item.text));
  (item.files || []).forEach(function (f) {
    bubble.appendChild(el('bdi', { class: 'file-name', text: f.name }));
  });
  node.appendChild(bubble);
  node.appendChild(el('div', { class: 'meta' }, [el('span', { class: 'receipt', text: t('sending') })]));
  return node;
}

function scrollDown() {
  ui.body.scrollTop = ui.body.scrollHeight;
}

function insertMessage(m) {
  var node = messageNode(m);
  var kids = ui.log.children;
  var before = null;
  for (var i = 0; i < kids.length; i++) {
    var k = kids[i];
    var seq = k.getAttribute('data-seq');
    if (seq === null || Number(seq) > m.seq) {
      before = k;
      break;
    }
  }
  ui.log.insertBefore(node, before);
}

function renderTranscript() {
  ui.log.replaceChildren();
  var conv = S.conv;
  if (conv) {
    conv.transcript.messages().forEach(function (m) {
      ui.log.appendChild(messageNode(m));
    });
  }
  S.outbox.forEach(function (item) {
    if (item.el) ui.log.appendChild(item.el);
  });
  updateReceipts();
  scrollDown();
}

function updateReceipts() {
  var conv = S.conv;
  var own = ui.log.querySelectorAll('.msg.customer[data-seq]');
  for (var i = 0; i < own.length; i++) {
    var r = own[i].querySelector('.receipt');
    if (!r) continue;
    var last = i === own.length - 1;
    var read = conv && Number(own[i].getAttribute('data-seq')) <= conv.peerRead;
    r.textContent = last ? ' · ' + (read ? t('read') : t('sent')) : '';
  }
}

function addMessage(m) {
  if (!m || !m.conversation_id || typeof m.seq !== 'number') return;
  var conv = record(m.conversation_id);
  if (!conv.transcript.add(m)) return; // already shown: sequence numbers make replays harmless
  var at = Date.parse(m.at) || Date.now();
  if (m.seq === 1 || !conv.startedAt) conv.startedAt = conv.startedAt ? Math.min(conv.startedAt, at) : at;
  if (!conv.lastActivityAt || at > conv.lastActivityAt) conv.lastActivityAt = at;
  var kind = m.author && m.author.kind;
  if (kind === 'expert') {
    conv.expertAnswered = true;
    if (!conv.expert && m.author.name) conv.expert = { id: m.author.id, name: m.author.name };
  }
  if (!S.conv || (S.conv !== conv && TERMINAL[S.conv.status])) {
    app.view.setCurrent(conv);
    return;
  }
  if (S.conv !== conv) return;
  var nearBottom = ui.body.scrollHeight - ui.body.scrollTop - ui.body.clientHeight < 80;
  insertMessage(m);
  if (kind === 'customer') updateReceipts();
  else {
    hidePeerTyping();
    if (!S.open && !S.syncing) {
      S.unread++;
    }
    sendRead();
  }
  if (nearBottom || kind === 'customer') scrollDown();
  app.view.render();
}

function sendRead() {
  var conv = S.conv;
  if (!conv || !S.open || !app.connection.ready() || document.visibilityState === 'hidden' || TERMINAL[conv.status]) return;
  var seq = conv.transcript.lastSeq;
  if (!seq || (S.lastReadSent[conv.id] || 0) >= seq) return;
  S.lastReadSent[conv.id] = seq;
  app.connection.send({ type: 'read', conversation_id: conv.id, seq: seq });
}

function showPeerTyping(on) {
  clearTimeout(S.peerTypingTimer);
  if (!on) return hidePeerTyping();
  var name = S.conv && S.conv.expert && S.conv.expert.name;
  var text = name ? t('isTyping', { name: name }) : t('expertTyping');
  ui.typing.replaceChildren(document.createTextNode(text), el('span', { class: 'dots' }));
  // Never leave a stale indicator if the "off" frame is lost.
  S.peerTypingTimer = setTimeout(hidePeerTyping, 15000);
}
function hidePeerTyping() {
  clearTimeout(S.peerTypingTimer);
  ui.typing.textContent = '';
}

app.transcript = {
  pendingNode: pendingNode,
  scrollDown: scrollDown,
  render: renderTranscript,
  updateReceipts: updateReceipts,
  add: addMessage,
  sendRead: sendRead,
  showPeerTyping: showPeerTyping,
  hidePeerTyping: hidePeerTyping,
};
