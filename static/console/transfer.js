/*
 * Transferring a chat to a named expert or to a category, with a note for whoever takes it.
 */

var $ = app.dom.$;
var el = app.dom.el;
var toast = app.dom.toast;
var customerLabel = app.format.customerLabel;
var errorText = app.format.errorText;
var S = app.store.S;

/** Remembers a category seen on any chat, as a suggestion in the transfer dialog. */
function noteCategory(id) {
  if (!id || S.categories[id]) return;
  S.categories[id] = id;
  $('category-options').appendChild(el('option', { value: id }));
}

var transferChat = null;
function openTransfer(chat) {
  transferChat = chat;
  $('transfer-error').textContent = '';
  $('transfer-note').value = '';
  $('transfer-dialog').showModal();
}
document.querySelectorAll('input[name="transfer-kind"]').forEach(function (r) {
  r.addEventListener('change', function () {
    var toExpert = document.querySelector('input[name="transfer-kind"]:checked').value === 'expert';
    $('transfer-expert-field').hidden = !toExpert;
    $('transfer-category-field').hidden = toExpert;
  });
});
$('transfer-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var chat = transferChat;
  if (!chat) return;
  var toExpert = document.querySelector('input[name="transfer-kind"]:checked').value === 'expert';
  var frame = { type: 'transfer', conversation_id: chat.id };
  var target = (toExpert ? $('transfer-expert') : $('transfer-category')).value.trim();
  if (!target) {
    $('transfer-error').textContent = toExpert ? 'Enter the expert id.' : 'Choose a category.';
    return;
  }
  if (toExpert) frame.to_expert = target;
  else frame.to_category = target;
  var note = $('transfer-note').value.trim();
  if (note) frame.note = note;
  app.connection.request(frame).then(
    function () {
      $('transfer-dialog').close();
      toast('Chat with ' + customerLabel(chat.customer) + ' transferred.');
      app.chats.remove(chat.id);
    },
    function (err) {
      $('transfer-error').textContent = errorText(err);
    }
  );
});

app.transfer = { open: openTransfer, noteCategory: noteCategory };
