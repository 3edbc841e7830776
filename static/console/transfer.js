/*
 * Transferring a chat, with a note for whoever takes it: to a colleague picked by name (their
 * presence and free capacity shown, and for a 1-to-1 chat whether they hold its certification)
 * or to a category. The list comes from `GET /api/v1/colleagues` each time the dialog opens; it
 * only helps choose: the server decides, and its refusal is shown as it comes.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var errorText = app.format.errorText;
var api = app.store.api;
var S = app.store.S;

var PRESENCE_LABEL = { available: 'Available', away: 'Away', offline: 'Offline' };
var PRESENCE_RANK = { available: 0, away: 1, offline: 2 };

/** Remembers a category seen on any chat, offered in the dialog if the server did not list it. */
function noteCategory(id) {
  if (id && !S.categories[id]) S.categories[id] = id;
}

var transferChat = null;

function kind() {
  return document.querySelector('input[name="transfer-kind"]:checked').value;
}

function showKind() {
  var toExpert = kind() === 'expert';
  $('transfer-expert-field').hidden = !toExpert;
  $('transfer-category-field').hidden = toExpert;
}

/** The certification the chat's category asks of whoever takes it (claim mode), or null. */
function neededCertification(chat, categories) {
  var c = categories.filter(function (x) {
    return x.id === chat.category;
  })[0];
  return c && c.mode === 'claim' && c.certification ? c.certification : null;
}

/** Who can take the chat first: available with room, then by presence, then by name. */
function byUsefulness(a, b) {
  var room = function (c) {
    return c.presence === 'available' && c.free > 0 ? 0 : 1;
  };
  return (
    room(a) - room(b) ||
    PRESENCE_RANK[a.presence] - PRESENCE_RANK[b.presence] ||
    a.name.localeCompare(b.name)
  );
}

function colleagueRow(c, needed) {
  var certified = !needed || (c.certifications || []).indexOf(needed) >= 0;
  var load = c.free > 0 ? c.free + ' of ' + c.max_concurrent + ' free' : 'Full (' + c.load + ' of ' + c.max_concurrent + ')';
  var radio = el('input', { type: 'radio', name: 'transfer-to-expert', value: c.id, disabled: !certified });
  return el('li', {}, [
    el('label', {
      class: 'pick' + (certified ? '' : ' pick-disabled'),
      'data-expert-id': c.id,
      'data-presence': c.presence,
    }, [
      radio,
      el('span', { class: 'dot dot-' + c.presence, 'aria-hidden': 'true' }),
      el('span', { class: 'pick-name', text: c.name }),
      el('span', { class: 'pick-meta muted small', text: (PRESENCE_LABEL[c.presence] || c.presence) + ' · ' + load }),
      needed
        ? el('span', {
            class: 'chip ' + (certified ? 'chip-ok' : 'chip-no'),
            text: certified ? 'Certified' : 'Not certified for ' + needed,
          })
        : null,
    ]),
  ]);
}

function categoryRow(c, current) {
  return el('li', {}, [
    el('label', { class: 'pick', 'data-category': c.id }, [
      el('input', { type: 'radio', name: 'transfer-to-category', value: c.id }),
      el('span', { class: 'pick-name', text: c.name }),
      c.id === current ? el('span', { class: 'pick-meta muted small', text: 'this chat’s category' }) : null,
    ]),
  ]);
}

function renderLists(chat, body) {
  var categories = (body && body.categories) || [];
  var needed = neededCertification(chat, categories);
  var colleagues = ((body && body.colleagues) || []).slice().sort(byUsefulness);
  $('transfer-cert-note').hidden = !needed;
  $('transfer-cert-note').textContent = needed ? 'This 1-to-1 chat may go only to colleagues certified for ' + needed + '.' : '';
  var list = $('transfer-colleagues');
  list.replaceChildren.apply(list, colleagues.map(function (c) {
    return colleagueRow(c, needed);
  }));
  $('transfer-colleagues-status').textContent = colleagues.length ? '' : 'No colleagues serve your categories.';
  // Categories the server lists, then any seen on chats that it does not (a renamed config).
  var listed = {};
  categories.forEach(function (c) {
    listed[c.id] = true;
  });
  Object.keys(S.categories).forEach(function (id) {
    if (!listed[id]) categories.push({ id: id, name: id });
  });
  var cats = $('transfer-categories');
  cats.replaceChildren.apply(cats, categories.map(function (c) {
    return categoryRow(c, chat.category);
  }));
}

function openTransfer(chat) {
  transferChat = chat;
  $('transfer-error').textContent = '';
  $('transfer-note').value = '';
  $('transfer-colleagues').replaceChildren();
  $('transfer-categories').replaceChildren();
  $('transfer-cert-note').hidden = true;
  $('transfer-colleagues-status').textContent = 'Loading colleagues…';
  $('transfer-dialog').showModal();
  api('GET', '/colleagues').then(
    function (body) {
      if (transferChat === chat) renderLists(chat, body);
    },
    function (err) {
      if (transferChat !== chat) return;
      renderLists(chat, null);
      $('transfer-colleagues-status').textContent = 'Could not load colleagues: ' + errorText(err);
    }
  );
}

document.querySelectorAll('input[name="transfer-kind"]').forEach(function (r) {
  r.addEventListener('change', showKind);
});
$('transfer-dialog').addEventListener('close', function () {
  transferChat = null;
});

$('transfer-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var chat = transferChat;
  if (!chat) return;
  var toExpert = kind() === 'expert';
  var picked = document.querySelector(
    toExpert ? 'input[name="transfer-to-expert"]:checked' : 'input[name="transfer-to-category"]:checked'
  );
  if (!picked) {
    $('transfer-error').textContent = toExpert ? 'Choose a colleague.' : 'Choose a category.';
    return;
  }
  var frame = { type: 'transfer', conversation_id: chat.id };
  if (toExpert) frame.to_expert = picked.value;
  else frame.to_category = picked.value;
  var note = $('transfer-note').value.trim();
  if (note) frame.note = note;
  $('transfer-error').textContent = '';
  app.connection.request(frame).then(
    function () {
      $('transfer-dialog').close();
      toast('Chat with ' + customerLabel(chat.customer) + ' transferred.');
      app.chats.remove(chat.id);
    },
    function (err) {
      // The server decides (capacity, presence, certification): say why it refused.
      $('transfer-error').textContent = errorText(err);
    }
  );
});

app.transfer = { open: openTransfer, noteCategory: noteCategory, neededCertification: neededCertification };
