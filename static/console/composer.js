/*
 * A chat's composer: replies and internal notes, Enter or Ctrl+Enter to send (a setting), the
 * typing signal, `/` and Ctrl+K for canned responses, and the question before sending the
 * same message twice.
 */

var $ = app.dom.$;
var toast = app.dom.toast;
var errorText = app.format.errorText;
var ENDED = app.format.ENDED;
var S = app.store.S;

function onComposerInput(chat) {
  var d = chat.dom;
  var v = d.input.value;
  if (v === '/' && Array.isArray(S.canned) && S.canned.length) {
    d.input.value = '';
    app.canned.open(chat);
    return;
  }
  if (d.internal.checked || ENDED[chat.status] || !app.connection.ready()) return;
  if (!v.trim()) return stopTyping(chat);
  if (!chat.typingOn) {
    chat.typingOn = true;
    app.connection.send({ type: 'typing', conversation_id: chat.id, on: true });
  }
  clearTimeout(chat.typingTimer);
  chat.typingTimer = setTimeout(function () {
    stopTyping(chat);
  }, 3000);
}

function stopTyping(chat) {
  clearTimeout(chat.typingTimer);
  if (!chat.typingOn) return;
  chat.typingOn = false;
  if (!ENDED[chat.status]) app.connection.send({ type: 'typing', conversation_id: chat.id, on: false });
}

function onComposerKey(chat, e) {
  if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) {
    e.preventDefault();
    app.canned.open(chat);
    return;
  }
  if (e.key !== 'Enter' || e.isComposing) return;
  if (e.ctrlKey || e.metaKey || (S.enterSends && !e.shiftKey && !e.altKey)) {
    e.preventDefault();
    submitComposer(chat);
  }
}

function submitComposer(chat) {
  var d = chat.dom;
  var text = d.input.value.trim();
  if (!text) return;
  var internal = d.internal.checked;
  d.input.value = '';
  stopTyping(chat);
  sendText(chat, text, internal, false).then(null, function () {
    if (!d.input.value) d.input.value = text; // keep what could not be sent
  });
}

// Sends one message (with the ids of files uploaded for it, if any); a duplicate gets a
// confirmation and is resent with force.
function sendText(chat, text, internal, force, attachments) {
  var frame = { type: 'send', conversation_id: chat.id, text: text, client_msg_id: app.socket.clientMsgId() };
  if (internal) frame.internal = true;
  if (force) frame.force = true;
  if (attachments) frame.attachments = attachments;
  return app.connection.request(frame).then(
    function (ack) {
      if (ack.message) app.transcript.add(chat, ack.message);
      return ack;
    },
    function (err) {
      if (err.code === 'duplicate_message' && !force) {
        return confirmDuplicate(text).then(function (yes) {
          return yes ? sendText(chat, text, internal, true, attachments) : null;
        });
      }
      toast(errorText(err), 'error');
      throw err;
    }
  );
}

function confirmDuplicate(text) {
  return new Promise(function (resolve) {
    var d = $('dup-dialog');
    $('dup-text').textContent = text;
    d.returnValue = '';
    d.addEventListener(
      'close',
      function () {
        resolve(d.returnValue === 'force');
      },
      { once: true }
    );
    d.showModal();
  });
}

app.composer = { onInput: onComposerInput, onKey: onComposerKey, submit: submitComposer, stopTyping: stopTyping, sendText: sendText };
