/*
 * One chat's tab and panel: the header with its actions (pending, on hold, reopen, transfer,
 * end, leave), the nudge, transfer and end banners, the transcript area, the composer and the
 * customer details beside it; and drawing them again from the chat's record.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var format = app.format;
var ENDED = format.ENDED;
var STATUS_LABEL = format.STATUS_LABEL;
var REASONS = format.REASONS;
var customerLabel = format.customerLabel;
var categoryName = format.categoryName;
var errorText = format.errorText;
var duration = format.duration;
var when = format.when;
var S = app.store.S;

function buildChat(chat) {
  var d = (chat.dom = {});
  var panelId = 'panel-' + chat.id;
  var tabId = 'tab-' + chat.id;
  d.tabName = el('span', { class: 'tab-name' });
  d.tabBadge = el('span', { class: 'tab-badge', hidden: true });
  d.tabDot = el('span', { class: 'status-dot', 'aria-hidden': 'true' });
  d.tab = el('button', {
    class: 'tab',
    id: tabId,
    type: 'button',
    role: 'tab',
    'aria-selected': 'false',
    'aria-controls': panelId,
    tabindex: '-1',
    'data-conversation': chat.id,
    onclick: function () {
      app.chats.select(chat.id, true);
    },
    onkeydown: function (e) {
      var i = S.order.indexOf(chat.id);
      var next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
      if (next === null) return;
      e.preventDefault();
      var target = S.order[(next + S.order.length) % S.order.length];
      app.chats.select(target);
      S.convs[target].dom.tab.focus();
    },
  }, [d.tabDot, d.tabName, d.tabBadge]);
  $('tabs').appendChild(d.tab);

  // Header with actions.
  d.title = el('h2', { class: 'chat-title' });
  d.statusPill = el('span', { class: 'pill' });
  d.offlinePill = el('span', {
    class: 'pill pill-offline',
    hidden: true,
    text: 'Left message',
    title: 'Left while nobody was available: the customer reads your answer when they come back',
  });
  d.sub = el('div', { class: 'chat-sub muted small' });
  function action(label, handler, cls) {
    return el('button', { class: 'btn btn-sm ' + (cls || ''), type: 'button', text: label, onclick: handler });
  }
  d.pendingBtn = action('Pending', function () {
    app.chats.setStatus(chat, 'pending');
  });
  d.pendingBtn.title = 'Waiting on the customer (frees a slot)';
  d.holdBtn = action('On hold', function () {
    app.chats.setStatus(chat, 'on_hold');
  });
  d.holdBtn.title = 'Waiting on a third party (frees a slot)';
  d.openBtn = action('Reopen', function () {
    app.chats.setStatus(chat, 'open');
  });
  d.transferBtn = action('Transfer', function () {
    app.transfer.open(chat);
  });
  d.endBtn = action('End chat', function () {
    if (!confirm('End the chat with ' + customerLabel(chat.customer) + '? The customer will be told.')) return;
    app.connection.request({ type: 'end', conversation_id: chat.id }).then(
      function () {
        if (!ENDED[chat.status]) chat.status = 'solved';
        chat.reason = chat.reason || 'expert_ended';
        renderChat(chat);
      },
      function (err) {
        toast(errorText(err), 'error');
      }
    );
  }, 'btn-danger');
  d.leaveBtn = action('Leave', function () {
    if (!ENDED[chat.status] && !confirm('Leave this chat without ending it?')) return;
    app.connection.request({ type: 'leave', conversation_id: chat.id }).then(
      function () {
        app.chats.remove(chat.id);
      },
      function (err) {
        toast(errorText(err), 'error');
      }
    );
  });
  var header = el('div', { class: 'chat-header' }, [
    el('div', { class: 'chat-heading' }, [el('div', { class: 'chat-title-row' }, [d.title, d.statusPill, d.offlinePill]), d.sub]),
    el('div', { class: 'chat-actions', role: 'toolbar', 'aria-label': 'Chat actions' }, [
      d.pendingBtn,
      d.holdBtn,
      d.openBtn,
      d.transferBtn,
      d.endBtn,
      d.leaveBtn,
    ]),
  ]);

  d.nudge = el('div', { class: 'banner banner-warn nudge', role: 'alert', hidden: true });
  d.slaBreach = el('div', { class: 'banner banner-danger sla-breach', role: 'alert', hidden: true });
  d.transfer = el('div', { class: 'banner banner-info transfer-note', hidden: true });
  d.ended = el('div', { class: 'banner banner-muted ended', role: 'status', hidden: true });

  d.log = el('div', {
    class: 'transcript',
    role: 'log',
    'aria-live': 'polite',
    'aria-relevant': 'additions',
    'aria-label': 'Transcript',
    tabindex: '0',
  });
  d.typing = el('div', { class: 'typing', 'aria-live': 'polite' });

  // Composer.
  d.input = el('textarea', {
    class: 'composer-input',
    rows: '3',
    'aria-label': 'Reply to the customer',
    placeholder: 'Write a reply…   (type / or press Ctrl+K for canned responses)',
    oninput: function () {
      app.composer.onInput(chat);
    },
    onkeydown: function (e) {
      app.composer.onKey(chat, e);
    },
  });
  d.internal = el('input', {
    type: 'checkbox',
    class: 'internal-toggle',
    onchange: function () {
      d.composer.classList.toggle('composer-internal', d.internal.checked);
      d.input.placeholder = d.internal.checked ? 'Internal note (the customer never sees it)…' : 'Write a reply…   (type / or press Ctrl+K for canned responses)';
      d.sendBtn.textContent = d.internal.checked ? 'Add note' : 'Send';
      d.input.setAttribute('aria-label', d.internal.checked ? 'Internal note' : 'Reply to the customer');
      if (d.internal.checked) app.composer.stopTyping(chat);
      d.input.focus();
    },
  });
  d.sendBtn = el('button', { class: 'btn btn-primary', type: 'submit', text: 'Send' });
  d.cannedBtn = el('button', {
    class: 'btn btn-sm',
    type: 'button',
    text: 'Canned responses',
    title: 'Canned responses (Ctrl+K or type / at the start)',
    onclick: function () {
      app.canned.open(chat);
    },
  });
  app.attachments.wire(chat);
  d.hint = el('span', { class: 'muted small composer-hint' });
  d.composer = el('form', {
    class: 'composer',
    onsubmit: function (e) {
      e.preventDefault();
      app.composer.submit(chat);
    },
  }, [
    d.uploads,
    d.input,
    el('div', { class: 'composer-bar' }, [
      el('label', { class: 'switch' }, [d.internal, el('span', { class: 'switch-ui', 'aria-hidden': 'true' }), ' Internal note']),
      d.cannedBtn,
      d.attachBtn,
      d.fileInput,
      d.hint,
      d.sendBtn,
    ]),
  ]);

  // Side info.
  d.info = el('aside', { class: 'chat-info', 'aria-label': 'Customer details' });

  d.panel = el('section', {
    class: 'chat',
    id: panelId,
    role: 'tabpanel',
    'aria-labelledby': tabId,
    hidden: true,
    'data-conversation': chat.id,
  }, [
    header,
    el('div', { class: 'chat-body' }, [
      el('div', { class: 'chat-main' }, [d.nudge, d.slaBreach, d.transfer, d.log, d.typing, d.ended, d.composer]),
      d.info,
    ]),
  ]);
  app.attachments.acceptDrops(chat);
  $('panels').appendChild(d.panel);
  $('empty-state').hidden = true;
  renderHint(chat);
}

function renderHint(chat) {
  chat.dom.hint.textContent = S.enterSends ? 'Enter sends · Shift+Enter new line' : 'Ctrl+Enter sends · Enter new line';
}

function renderTab(chat) {
  var d = chat.dom;
  d.tabName.textContent = customerLabel(chat.customer);
  d.tabBadge.hidden = !chat.unread;
  d.tabBadge.textContent = String(chat.unread);
  d.tabBadge.setAttribute('aria-label', chat.unread + ' unread');
  d.tabDot.className = 'status-dot status-' + chat.status;
  d.tab.classList.toggle('tab-nudge', !!chat.nudge);
  // The owner's to answer: a specialist consulting on the chat is not warned.
  d.tab.classList.toggle('tab-sla-breach', !!chat.slaBreach && !chat.consult);
  d.tab.classList.toggle('tab-ended', !!ENDED[chat.status]);
  d.tab.title = customerLabel(chat.customer) + ' · ' + (STATUS_LABEL[chat.status] || chat.status) + (chat.unread ? ' · ' + chat.unread + ' unread' : '');
}

function renderChat(chat) {
  var d = chat.dom;
  if (!d) return;
  renderTab(chat);
  d.title.textContent = customerLabel(chat.customer);
  d.statusPill.textContent = STATUS_LABEL[chat.status] || chat.status;
  d.statusPill.className = 'pill pill-' + chat.status;
  d.offlinePill.hidden = !chat.offline;
  d.sub.textContent = [categoryName(chat.category), chat.createdAt ? 'started ' + when(chat.createdAt) : null, chat.id].filter(Boolean).join(' · ');
  var ended = !!ENDED[chat.status];
  d.pendingBtn.hidden = ended || chat.status === 'pending';
  d.holdBtn.hidden = ended || chat.status === 'on_hold';
  d.openBtn.hidden = ended || chat.status === 'open' || chat.status === 'queued' || chat.status === 'offered';
  d.transferBtn.hidden = ended;
  d.endBtn.hidden = ended;
  d.leaveBtn.classList.toggle('btn-primary', ended);

  d.nudge.hidden = !chat.nudge || ended;
  if (chat.nudge) {
    d.nudge.replaceChildren(
      el('strong', { text: 'Customer waiting. ' }),
      customerLabel(chat.customer) + ' has been waiting ' + duration(chat.nudge.waiting_ms) + ' for a reply. Say something, even a short update.'
    );
  }
  d.slaBreach.hidden = !chat.slaBreach || ended || !!chat.consult;
  if (chat.slaBreach) {
    var b = chat.slaBreach;
    // Restored from a view, the breach has its time but not the target's length.
    var target = (b.target_ms ? duration(b.target_ms) + ' ' : '') + (b.kind === 'next_response' ? 'next-response' : 'first-response');
    d.slaBreach.replaceChildren(
      el('strong', { text: 'Response target missed. ' }),
      customerLabel(chat.customer) + ' has waited past the ' + target + ' target' + (b.at ? ' (missed at ' + when(b.at) + ')' : '') + '. Reply now.'
    );
  }
  d.transfer.hidden = !chat.transfer;
  if (chat.transfer) {
    d.transfer.replaceChildren(
      el('strong', { text: 'Transferred to you' + (chat.transfer.from ? ' by ' + chat.transfer.from : '') + '. ' }),
      chat.transfer.note ? el('span', { class: 'note-text', text: 'Note: ' + chat.transfer.note }) : ''
    );
  }
  d.ended.hidden = !ended;
  if (ended) {
    d.ended.textContent =
      'This chat has ended' + (chat.reason && REASONS[chat.reason] ? ' (' + REASONS[chat.reason] + ')' : '') + '. Leave it to remove it from your console.';
  }
  d.composer.hidden = ended;
  if (ended) d.typing.textContent = '';
  app.customerInfo.render(chat);
  app.consult.render(chat);
}

app.chatView = { build: buildChat, render: renderChat, renderTab: renderTab, renderHint: renderHint };
