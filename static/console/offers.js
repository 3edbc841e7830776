/*
 * Offers: chats the router offers this expert, each with its countdown (from the time left that
 * the server gives, `expires_in_ms`), accepted or declined here or withdrawn by the server.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var categoryName = app.format.categoryName;
var errorText = app.format.errorText;
var S = app.store.S;

function addOffer(f) {
  var conv = f.conversation;
  if (!conv) return;
  app.transfer.noteCategory(conv.category);
  removeOffer(conv.id);
  var windowMs = f.accept_window_ms || 30000;
  // The time left, as the server counts it: an offer shown again after a reconnect has less
  // than a whole window, and this machine's clock may disagree with the server's.
  var left = typeof f.expires_in_ms === 'number' ? f.expires_in_ms : windowMs;
  var deadline = Date.now() + Math.min(left, windowMs);
  var first = (conv.messages || []).filter(function (m) {
    return m.author && m.author.kind === 'customer';
  })[0];
  var offer = { conv: conv, deadline: deadline, windowMs: windowMs };
  var secs = el('span', { class: 'offer-secs', 'aria-hidden': 'true' });
  var bar = el('div', { class: 'offer-bar' }, [el('span')]);
  var acceptBtn = el('button', {
    class: 'btn btn-primary btn-sm offer-accept',
    type: 'button',
    text: 'Accept',
    onclick: function () {
      acceptOffer(conv.id);
    },
  });
  var declineBtn = el('button', {
    class: 'btn btn-sm offer-decline',
    type: 'button',
    text: 'Decline',
    onclick: function () {
      declineOffer(conv.id);
    },
  });
  offer.countdownSr = el('span', { class: 'sr-only offer-countdown-sr' });
  offer.el = el('li', { class: 'offer', 'data-conversation': conv.id }, [
    el('div', { class: 'offer-top' }, [
      el('strong', { class: 'offer-who', text: customerLabel(conv.customer) }),
      el('span', { class: 'offer-countdown', role: 'timer', 'aria-label': 'Time left to accept' }, [secs]),
    ]),
    el('div', { class: 'offer-meta muted small' }, [
      el('span', { class: 'chip', text: categoryName(conv.category) }),
      conv.offline ? el('span', { class: 'chip chip-offline', text: 'Left message', title: 'Left while nobody was available' }) : null,
      conv.page ? ' on ' + (conv.page.title || conv.page.url) : '',
    ]),
    first ? el('p', { class: 'offer-text', text: first.text }) : null,
    bar,
    el('div', { class: 'offer-actions' }, [declineBtn, acceptBtn]),
    offer.countdownSr,
  ]);
  offer.secs = secs;
  offer.bar = bar.firstChild;
  S.offers[conv.id] = offer;
  $('offers-list').prepend(offer.el);
  tickOffer(offer);
  offer.timer = setInterval(function () {
    tickOffer(offer);
  }, 250);
  renderOfferCount();
  app.alerts.beep(2);
  app.alerts.notify(conv.offline ? 'New left message' : 'New chat offer', customerLabel(conv.customer) + (first ? ': ' + first.text.slice(0, 120) : ''), 'offer-' + conv.id, function () {
    acceptBtn.focus();
  });
  acceptBtn.focus({ preventScroll: true });
}

function tickOffer(offer) {
  var left = Math.max(0, offer.deadline - Date.now());
  var s = Math.ceil(left / 1000);
  offer.secs.textContent = s + ' s';
  offer.bar.style.width = (100 * left) / offer.windowMs + '%';
  offer.el.classList.toggle('offer-urgent', left < 10000);
  if (left <= 0) {
    clearInterval(offer.timer);
    offer.el.classList.add('offer-expired');
    setTimeout(function () {
      if (S.offers[offer.conv.id] === offer) removeOffer(offer.conv.id);
    }, 1500);
  }
}

function removeOffer(id) {
  var o = S.offers[id];
  if (!o) return;
  clearInterval(o.timer);
  o.el.remove();
  delete S.offers[id];
  renderOfferCount();
}

function renderOfferCount() {
  var n = Object.keys(S.offers).length;
  $('offers-count').hidden = !n;
  $('offers-count').textContent = String(n);
  $('offers-empty').hidden = n > 0;
  document.title = (n ? '(' + n + ') ' : '') + 'Switchboard console';
}

function acceptOffer(id) {
  var o = S.offers[id];
  if (o) o.el.querySelectorAll('button').forEach(function (b) {
    b.disabled = true;
  });
  app.connection.request({ type: 'accept', conversation_id: id }).then(
    function (ack) {
      removeOffer(id);
      var chat = app.chats.ensure(ack.conversation || (o && o.conv) || { id: id });
      chat.status = (ack.conversation && ack.conversation.status) || 'open';
      if (ack.tools) chat.tools = ack.tools;
      (ack.conversation && ack.conversation.messages || []).forEach(function (m) {
        app.transcript.add(chat, m);
      });
      if (!(ack.conversation && ack.conversation.messages)) app.connection.syncChat(chat);
      app.chatView.render(chat);
      app.chats.select(id, true);
    },
    function (err) {
      if (err.code === 'conflict' || err.code === 'not_found') {
        removeOffer(id);
        toast('That offer is no longer available.', 'warn');
      } else {
        if (o) o.el.querySelectorAll('button').forEach(function (b) {
          b.disabled = false;
        });
        toast(errorText(err), 'error');
      }
    }
  );
}

function declineOffer(id) {
  app.connection.request({ type: 'decline', conversation_id: id }).then(
    function () {
      removeOffer(id);
    },
    function (err) {
      removeOffer(id);
      if (err.code !== 'conflict') toast(errorText(err), 'error');
    }
  );
}

app.offers = { add: addOffer, remove: removeOffer };
