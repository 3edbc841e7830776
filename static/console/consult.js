/*
 * Specialist consult. The owner of a chat asks a colleague to advise ("Ask a specialist":
 * pick one, optional note) and may end the consult; the specialist sees the chat as a consult
 * (a banner saying who asked and why, none of the owner's actions) and writes internal notes
 * only, until either side ends it and the chat leaves the specialist's console. The picker
 * only helps choose: the server decides (certification, who may be asked).
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var errorText = app.format.errorText;
var ENDED = app.format.ENDED;
var api = app.store.api;
var S = app.store.S;

var consultChat = null;

/** The certification a 1-to-1 chat asks of whoever advises on it too, or null. */
var neededCertification = app.transfer.neededCertification;

function specialistRow(c, needed) {
  var certified = !needed || (c.certifications || []).indexOf(needed) >= 0;
  return el('li', {}, [
    el('label', { class: 'pick' + (certified ? '' : ' pick-disabled'), 'data-expert-id': c.id }, [
      el('input', { type: 'radio', name: 'consult-expert', value: c.id, disabled: !certified }),
      el('span', { class: 'dot dot-' + c.presence, 'aria-hidden': 'true' }),
      el('span', { class: 'pick-name', text: c.name }),
      needed ? el('span', { class: 'chip ' + (certified ? 'chip-ok' : 'chip-no'), text: certified ? 'Certified' : 'Not certified for ' + needed }) : null,
    ]),
  ]);
}

function openConsult(chat) {
  consultChat = chat;
  $('consult-error').textContent = '';
  $('consult-note').value = '';
  $('consult-experts').replaceChildren();
  $('consult-status').textContent = 'Loading colleagues…';
  $('consult-dialog').showModal();
  api('GET', '/colleagues').then(
    function (body) {
      if (consultChat !== chat) return;
      var needed = neededCertification(chat, body.categories || []);
      var list = (body.colleagues || []).filter(function (c) {
        return !(chat.consultants || {})[c.id];
      });
      $('consult-experts').replaceChildren.apply($('consult-experts'), list.map(function (c) {
        return specialistRow(c, needed);
      }));
      $('consult-status').textContent = list.length ? '' : 'No colleagues to ask.';
    },
    function (err) {
      if (consultChat === chat) $('consult-status').textContent = 'Could not load colleagues: ' + errorText(err);
    }
  );
}

$('consult-dialog').addEventListener('close', function () {
  consultChat = null;
});

$('consult-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var chat = consultChat;
  if (!chat) return;
  var picked = document.querySelector('input[name="consult-expert"]:checked');
  if (!picked) {
    $('consult-error').textContent = 'Choose a colleague.';
    return;
  }
  var name = picked.closest('.pick').querySelector('.pick-name').textContent;
  var frame = { type: 'invite', conversation_id: chat.id, expert_id: picked.value };
  var note = $('consult-note').value.trim();
  if (note) frame.note = note;
  app.connection.request(frame).then(
    function () {
      $('consult-dialog').close();
      chat.consultants = chat.consultants || {};
      chat.consultants[picked.value] = name;
      app.chatView.render(chat);
      toast(name + ' was asked to consult on the chat with ' + customerLabel(chat.customer) + '.');
    },
    function (err) {
      $('consult-error').textContent = errorText(err);
    }
  );
});

function endConsult(chat) {
  app.connection.request({ type: 'end_consult', conversation_id: chat.id }).then(
    function () {
      if (chat.consult) app.chats.remove(chat.id);
      else {
        chat.consultants = {};
        app.chatView.render(chat);
      }
    },
    function (err) {
      toast(errorText(err), 'error');
    }
  );
}

/** Adds the consult's controls to a chat's panel (called once, when the panel is built). */
function build(chat) {
  var d = chat.dom;
  function action(label, handler, cls) {
    return el('button', { class: 'btn btn-sm ' + (cls || ''), type: 'button', text: label, onclick: handler });
  }
  d.askBtn = action('Ask a specialist', function () {
    openConsult(chat);
  }, 'consult-ask');
  d.askBtn.title = 'Invite a colleague to read this chat and advise in internal notes';
  d.endConsultBtn = action('End consult', function () {
    endConsult(chat);
  }, 'consult-end');
  var toolbar = d.panel.querySelector('.chat-actions');
  toolbar.insertBefore(d.askBtn, d.transferBtn.nextSibling);
  toolbar.insertBefore(d.endConsultBtn, d.askBtn.nextSibling);
  d.consult = el('div', { class: 'banner banner-info consult-banner', role: 'status', hidden: true });
  d.log.parentNode.insertBefore(d.consult, d.log);
}

/** Draws the consult's part of a chat: the specialist's view, or the owner's controls. */
function render(chat) {
  var d = chat.dom;
  if (!d.askBtn) build(chat);
  var ended = !!ENDED[chat.status];
  var names = Object.keys(chat.consultants || {}).map(function (id) {
    return chat.consultants[id];
  });
  if (chat.consult) {
    // The specialist: no owner's actions, no files (the owner's and the customer's); notes only.
    [d.pendingBtn, d.holdBtn, d.openBtn, d.transferBtn, d.endBtn, d.leaveBtn, d.askBtn, d.attachBtn].forEach(function (b) {
      if (b) b.hidden = true;
    });
    d.endConsultBtn.hidden = false;
    d.panel.classList.add('chat-consult');
    d.tab.classList.add('tab-consult');
    d.consult.hidden = false;
    d.consult.replaceChildren(
      el('strong', { text: 'Consult' + (chat.consult.from ? ' for ' + chat.consult.from : '') + '. ' }),
      'You advise in internal notes; the customer never sees them. ',
      chat.consult.note ? el('span', { class: 'note-text', text: 'Note: ' + chat.consult.note }) : ''
    );
    if (!d.internal.checked) {
      d.internal.checked = true;
      d.internal.dispatchEvent(new Event('change'));
    }
    d.internal.disabled = true;
    return;
  }
  d.askBtn.hidden = ended;
  d.endConsultBtn.hidden = ended || !names.length;
  d.consult.hidden = ended || !names.length;
  if (names.length) d.consult.textContent = 'Consulting: ' + names.join(', ') + ' (they read this chat and write internal notes).';
}

/** `consult`: this expert is asked to advise on a chat (also re-sent after each reconnect). */
function onConsult(f) {
  var view = f.conversation;
  if (!view) return;
  var fresh = !S.convs[view.id];
  var chat = app.chats.ensure(view);
  chat.consult = { from: f.from ? f.from.name : null, note: f.note || (chat.consult && chat.consult.note) || null };
  (view.messages || []).forEach(function (m) {
    app.transcript.add(chat, m);
  });
  app.chatView.render(chat);
  if (fresh) {
    app.alerts.beep(1);
    app.alerts.notify('Asked to consult', (chat.consult.from ? chat.consult.from + ': ' : '') + (f.note || customerLabel(chat.customer)), 'consult-' + chat.id, function () {
      app.chats.select(chat.id);
    });
  }
  if (!S.active) app.chats.select(chat.id);
}

/** `consult_ended`: the specialist's chat leaves their console; the owner's loses the name. */
function onEnded(f) {
  var chat = S.convs[f.conversation_id];
  if (!chat) return;
  if (chat.consult) {
    toast('The consult on the chat with ' + customerLabel(chat.customer) + ' has ended.');
    app.chats.remove(chat.id);
    return;
  }
  if (chat.consultants) delete chat.consultants[f.expert_id];
  app.chatView.render(chat);
}

/** The specialists the server lists on an owned chat (its welcome after a reconnect). */
function listed(chat, consultants) {
  chat.consultants = {};
  consultants.forEach(function (e) {
    chat.consultants[e.id] = e.name;
  });
}

app.consult = { open: openConsult, render: render, onConsult: onConsult, onEnded: onEnded, listed: listed };
