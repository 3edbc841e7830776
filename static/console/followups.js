/*
 * The two lists loaded over REST: the follow-up list (abandoned chats, from which an expert
 * starts a chat with a customer still online) and the callbacks customers asked for.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var format = app.format;
var customerLabel = format.customerLabel;
var categoryName = format.categoryName;
var errorText = format.errorText;
var listOf = format.listOf;
var when = format.when;
var api = app.store.api;

/**
 * A side list loaded whole from `path`, refreshed by its button: an answer that a later
 * refresh has overtaken is dropped, so the newest request always wins.
 */
function sideList(name, path, pick, render, texts) {
  var list = $(name + '-list');
  var empty = $(name + '-empty');
  var seq = 0;
  function load() {
    var mine = ++seq;
    api('GET', path).then(
      function (body) {
        if (mine !== seq) return; // a later refresh is on its way
        var items = pick(body);
        list.replaceChildren();
        empty.textContent = texts.empty;
        empty.hidden = items.length > 0;
        items.forEach(function (item) {
          list.appendChild(render(item));
        });
      },
      function (err) {
        if (mine !== seq) return;
        list.replaceChildren();
        empty.hidden = false;
        empty.textContent = err.status === 404 ? texts.missing : 'Could not load: ' + errorText(err);
      }
    );
  }
  $(name + '-refresh').addEventListener('click', load);
  return load;
}

var loadFollowUp = sideList(
  'followup',
  '/abandoned',
  function (body) {
    return listOf(body, ['abandoned', 'conversations', 'items']);
  },
  function (item) {
    // {conversation: summary, online, abandoned_at}
    var conv = item.conversation || item;
    var customer = conv.customer || item.customer || { id: item.customer_id };
    var customerId = customer.id || item.customer_id;
    var firstMsg = (conv.messages || []).filter(function (m) {
      return m.author && m.author.kind === 'customer';
    })[0];
    var first = item.text || (firstMsg && firstMsg.text) || '';
    var online = item.online === true;
    item.ended_at = item.abandoned_at || conv.ended_at || item.ended_at;
    item.created_at = conv.created_at || item.created_at;
    return el('li', { class: 'side-item' }, [
      el('div', { class: 'side-item-main' }, [
        el('strong', {}, [customerLabel(customer), online ? el('span', { class: 'online-pill', text: 'online' }) : null]),
        customer.email ? el('span', { class: 'muted small', text: customer.email }) : null,
        first ? el('span', { class: 'small clamp', text: first }) : null,
        el('span', { class: 'muted small', text: when(item.ended_at || item.created_at || item.at) }),
      ]),
      el('button', {
        class: 'btn btn-sm',
        type: 'button',
        text: 'Push chat',
        'aria-label': 'Start a chat with ' + customerLabel(customer),
        disabled: item.online === false,
        title: item.online === false ? 'The customer is not online' : null,
        onclick: function () {
          openPushDialog(customerId, customer);
        },
      }),
    ]);
  },
  { empty: 'Nothing to follow up.', missing: 'The follow-up list is not available on this server yet.' }
);

function openPushDialog(customerId, customer) {
  var d = $('push-dialog');
  $('push-who').textContent = customerLabel(customer);
  $('push-error').textContent = '';
  d.dataset.customer = customerId;
  d.showModal();
  $('push-text').focus();
}
$('push-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var d = $('push-dialog');
  var text = $('push-text').value.trim();
  if (!text) return;
  app.connection.request({ type: 'push_chat', customer_id: d.dataset.customer, text: text }).then(
    function (ack) {
      d.close();
      var chat = app.chats.ensure({ id: ack.conversation_id, status: 'open', customer: { id: d.dataset.customer } });
      app.chats.fetch(chat);
      app.connection.syncChat(chat);
      app.chats.select(chat.id, true);
      loadFollowUp();
    },
    function (err) {
      $('push-error').textContent =
        err.code === 'unavailable' ? 'The customer is not online right now.' : errorText(err);
    }
  );
});

var loadCallbacks = sideList(
  'callbacks',
  '/callbacks',
  function (body) {
    return listOf(body, ['callbacks', 'items']).filter(function (c) {
      return !c.done && c.status !== 'done';
    });
  },
  function (cb) {
    var btn = el('button', {
      class: 'btn btn-sm',
      type: 'button',
      text: 'Done',
      'aria-label': 'Mark the callback to ' + cb.phone + ' as done',
      onclick: function () {
        btn.disabled = true;
        api('POST', '/callbacks/' + encodeURIComponent(cb.id) + '/done').then(loadCallbacks, function (err) {
          btn.disabled = false;
          toast(errorText(err), 'error');
        });
      },
    });
    var tel = safeTel(cb.phone);
    return el('li', { class: 'side-item' }, [
      el('div', { class: 'side-item-main' }, [
        tel ? el('a', { href: tel, class: 'phone', text: cb.phone }) : el('strong', { text: cb.phone }),
        cb.message ? el('span', { class: 'small clamp', text: cb.message }) : null,
        el('span', { class: 'muted small', text: [cb.category ? categoryName(cb.category) : null, when(cb.created_at || cb.at)].filter(Boolean).join(' · ') }),
      ]),
      btn,
    ]);
  },
  { empty: 'No callbacks to make.', missing: 'Callbacks are not available on this server yet.' }
);

/** A tel: link for a phone number that has at least a few digits, else null. */
function safeTel(phone) {
  var digits = String(phone || '').replace(/[^\d+]/g, '');
  return /^\+?\d{3,}$/.test(digits) ? 'tel:' + digits : null;
}

app.followups = { loadFollowUp: loadFollowUp, loadCallbacks: loadCallbacks };
