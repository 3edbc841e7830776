/*
 * The live queue: every chat waiting in the categories this expert serves (all of them for
 * an admin), how long it has waited and whom it is offered to, from GET /api/v1/queue. It is
 * asked again every few seconds while the console is shown and the tab visible; in between,
 * the waiting times count on locally, so the list reads live at the cost of one small request
 * per poll.
 */

var $ = app.dom.$;
var el = app.dom.el;
var S = app.store.S;
var api = app.store.api;
var format = app.format;

var POLL_MS = 3000;

var Q = {
  items: [],
  fetchedAt: 0, // when the list was answered, in this browser's clock
  asking: false,
  waits: [], // the "waiting" text of each row, updated every second
};

function offeredText(to) {
  if (!to) return 'Not offered yet';
  if (S.expert && to.id === S.expert.id) return 'Offered to you';
  return 'Offered to ' + (to.name || to.id);
}

function waitingText(item) {
  return 'Waiting ' + format.duration(item.waiting_ms + (Date.now() - Q.fetchedAt));
}

function render() {
  var list = $('queue-list');
  list.replaceChildren();
  Q.waits = Q.items.map(function (item) {
    var wait = el('span', { class: 'queue-wait', text: waitingText(item) });
    list.appendChild(
      el('li', { class: 'side-item queue-item', 'data-conversation-id': item.conversation_id }, [
        el('span', { class: 'queue-pos', text: '#' + item.position, title: 'Place in its category\'s line' }),
        el('div', { class: 'side-item-main' }, [
          el('strong', { text: format.categoryName(item.category) }),
          item.offline ? el('span', { class: 'chip chip-offline queue-left', text: 'Left message' }) : null,
          wait,
          el('span', {
            class: 'muted small queue-offer' + (item.offered_to ? ' queue-offered' : ''),
            text: offeredText(item.offered_to),
          }),
        ]),
      ])
    );
    return { node: wait, item: item };
  });
  var n = Q.items.length;
  $('queue-count').textContent = n;
  $('queue-count').hidden = !n;
  $('queue-empty').textContent = 'Nobody is waiting.';
  $('queue-empty').hidden = n > 0;
}

function load() {
  if (Q.asking || !S.token || $('app').hidden) return;
  Q.asking = true;
  api('GET', '/queue')
    .then(
      function (body) {
        Q.items = format.listOf(body, ['queue', 'items']);
        Q.fetchedAt = Date.now();
        render();
      },
      function (err) {
        Q.fetchedAt = Date.now(); // try again at the next poll, not at every tick
        $('queue-empty').hidden = false;
        $('queue-empty').textContent = 'Could not load the queue: ' + format.errorText(err);
      }
    )
    .then(function () {
      Q.asking = false;
    });
}

setInterval(function () {
  if (document.hidden) return;
  if (!S.token) {
    if (Q.items.length) {
      Q.items = [];
      render();
    }
    return;
  }
  if (Date.now() - Q.fetchedAt >= POLL_MS) return load();
  Q.waits.forEach(function (w) {
    w.node.textContent = waitingText(w.item);
  });
}, 1000);

app.queue = { load: load };
