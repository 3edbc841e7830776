/*
 * The claim list: chats of claim-mode categories waiting for any qualified expert to take
 * them; the first claim wins.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var categoryName = app.format.categoryName;
var errorText = app.format.errorText;
var when = app.format.when;
var duration = app.format.duration;
var S = app.store.S;

/* The chat's response target, so the chat nearest to (or past) it can be claimed first. */
function targetLine(c) {
  if (c.sla_breached) {
    return el('span', { class: 'small claim-sla claim-sla-missed', text: 'Response target missed at ' + when(c.sla_breached.at) });
  }
  if (c.sla) {
    return el('span', { class: 'muted small claim-sla', text: duration(c.sla.target_ms) + ' target, due ' + when(c.sla.due) });
  }
  return '';
}

function renderClaimable() {
  var list = $('claimable-list');
  list.replaceChildren();
  var ids = Object.keys(S.claimable);
  ids.forEach(function (id) {
    var c = S.claimable[id];
    var btn = el('button', {
      class: 'btn btn-primary btn-sm',
      type: 'button',
      text: 'Claim',
      'aria-label': 'Claim the chat with ' + customerLabel(c.customer),
      onclick: function () {
        btn.disabled = true;
        app.connection.request({ type: 'claim', conversation_id: id }).then(
          function (ack) {
            delete S.claimable[id];
            renderClaimable();
            var chat = app.chats.ensure(ack.conversation || c);
            chat.tools = ack.tools || [];
            chat.attachments = ack.attachments || [];
            (ack.conversation && ack.conversation.messages || []).forEach(function (m) {
              app.transcript.add(chat, m);
            });
            app.connection.syncChat(chat);
            app.chatView.render(chat);
            app.chats.select(id, true);
          },
          function (err) {
            btn.disabled = false;
            if (err.code === 'conflict') {
              delete S.claimable[id];
              renderClaimable();
              toast('Another expert claimed that chat first.', 'warn');
            } else toast(errorText(err), 'error');
          }
        );
      },
    });
    list.appendChild(
      el('li', { class: 'side-item', 'data-conversation': id }, [
        el('div', { class: 'side-item-main' }, [
          el('strong', { text: customerLabel(c.customer) }),
          el('span', { class: 'muted small', text: categoryName(c.category) + ' · ' + when(c.created_at) }),
          targetLine(c),
        ]),
        btn,
      ])
    );
  });
  $('claimable-count').hidden = !ids.length;
  $('claimable-count').textContent = String(ids.length);
  $('claimable-empty').hidden = ids.length > 0;
}

app.claimable = { render: renderClaimable };
