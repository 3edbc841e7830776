/*
 * The chats this expert has open, one tab each: made on first mention (an accepted offer, a
 * claim, a transfer, a pushed chat, or a message for a chat not shown yet), selected, given a
 * status, and removed when left, transferred away or released.
 */

var $ = app.dom.$;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var errorText = app.format.errorText;
var S = app.store.S;
var api = app.store.api;

function ensureChat(view) {
  var chat = S.convs[view.id];
  if (!chat) {
    chat = S.convs[view.id] = {
      id: view.id,
      status: view.status || 'open',
      customer: view.customer || null,
      category: view.category || null,
      page: view.page || null,
      // The customer's language, as their widget stated it (a BCP 47 tag), if it did.
      lang: view.lang || null,
      // Left as a message while nobody could chat: its customer is likely away.
      offline: !!view.offline,
      createdAt: view.created_at || null,
      transcript: new app.socket.Transcript(view.id),
      unread: 0,
      peerRead: 0,
      lastReadSent: 0,
      typing: false,
      typingOn: false,
      nudge: null,
      transfer: null,
      tools: [],
      history: null,
      // A response target passed unanswered (`sla_breach`, or a view's `sla_breached` after a
      // reload): {kind, target_ms?, at?}, until the reply.
      slaBreach: null,
    };
    S.order.push(chat.id);
    app.chatView.build(chat);
  } else {
    if (view.status) chat.status = view.status;
    if (view.created_at) chat.createdAt = view.created_at;
    if (view.customer) {
      chat.customer = view.customer;
      var label = customerLabel(chat.customer);
      chat.dom.log.querySelectorAll('.msg-customer .who-name').forEach(function (n) {
        n.textContent = label;
      });
    }
    if (view.category) chat.category = view.category;
    if (view.page) chat.page = view.page;
    if (view.lang) chat.lang = view.lang;
    if (view.offline) chat.offline = true;
  }
  app.transfer.noteCategory(chat.category);
  if (view.consultants) app.consult.listed(chat, view.consultants);
  // A breach the server still counts unanswered: a reloaded console shows it again, with
  // the target's length if the live warning gave it.
  if (view.sla_breached) {
    var had = chat.slaBreach && chat.slaBreach.kind === view.sla_breached.kind ? chat.slaBreach.target_ms : null;
    chat.slaBreach = { kind: view.sla_breached.kind, target_ms: had, at: view.sla_breached.at || null };
  }
  app.chatView.render(chat);
  return chat;
}

function fetchConversation(chat) {
  api('GET', '/conversations/' + encodeURIComponent(chat.id)).then(
    function (c) {
      if (!c) return;
      ensureChat(c);
      (c.messages || []).forEach(function (m) {
        app.transcript.add(chat, m);
      });
    },
    function () {}
  );
}

function removeChat(id) {
  var chat = S.convs[id];
  if (!chat) return;
  chat.dom.tab.remove();
  chat.dom.panel.remove();
  delete S.convs[id];
  S.order = S.order.filter(function (x) {
    return x !== id;
  });
  if (S.active === id) {
    S.active = null;
    if (S.order.length) selectChat(S.order[S.order.length - 1]);
  }
  $('empty-state').hidden = S.order.length > 0;
}

function selectChat(id, focus) {
  var chat = S.convs[id];
  if (!chat) return;
  S.active = id;
  S.order.forEach(function (other) {
    var c = S.convs[other];
    var on = other === id;
    c.dom.tab.setAttribute('aria-selected', String(on));
    c.dom.tab.tabIndex = on ? 0 : -1;
    c.dom.panel.hidden = !on;
  });
  $('empty-state').hidden = true;
  chat.unread = 0;
  app.chatView.renderTab(chat);
  app.transcript.sendRead(chat);
  app.transcript.scrollDown(chat);
  if (focus) chat.dom.input.focus();
}

function setStatus(chat, status) {
  app.connection.request({ type: 'set_status', conversation_id: chat.id, status: status }).then(
    function () {
      chat.status = status;
      app.chatView.render(chat);
    },
    function (err) {
      toast(errorText(err), 'error');
    }
  );
}

app.chats = { ensure: ensureChat, fetch: fetchConversation, remove: removeChat, select: selectChat, setStatus: setStatus };
