/*
 * Files in a chat's composer and transcript: the attach button, files dropped on the chat and
 * images pasted into the reply box are uploaded with a progress bar (a file over the server's
 * limit is refused at once, before any upload) and sent to the customer as a message; files
 * are shown as thumbnails or download links (shared/files.js), and every file of the chat is
 * listed beside it (customer_info.js).
 */

var el = app.dom.el;
var toast = app.dom.toast;
var files = app.files;
var errorText = app.format.errorText;
var ENDED = app.format.ENDED;
var S = app.store.S;
var API = app.store.API;

var LABELS = {
  image: function (name, size) {
    return 'Image ' + name + ', ' + size + ' (opens in a new tab)';
  },
  download: function (name, size) {
    return 'Download ' + name + ', ' + size;
  },
  uploading: function (name) {
    return 'Uploading ' + name;
  },
  cancel: 'Cancel',
};

/** How file `a` is shown, in the transcript and beside it. */
function node(a) {
  return files.attachmentNode(a, {
    api: API,
    token: function () {
      return S.token;
    },
    labels: LABELS,
    onError: function (err) {
      toast('Could not open the file: ' + errorText(err), 'error');
    },
  });
}

/** Every file of `chat`: those in its transcript, and those its claim listed. */
function ofChat(chat) {
  var seen = {};
  var list = [];
  function note(a) {
    if (a && a.id && !seen[a.id]) {
      seen[a.id] = true;
      list.push(a);
    }
  }
  chat.transcript.messages().forEach(function (m) {
    (m.attachments || []).forEach(note);
  });
  (chat.attachments || []).forEach(note);
  return list;
}

/** Files picked, dropped or pasted into `chat`: each one checked, uploaded and sent. */
function take(chat, list) {
  if (ENDED[chat.status]) return toast('This chat has ended: files can no longer be sent.', 'error');
  // The customer may open every file of their chat, so a file is never an internal note.
  if (chat.dom.internal.checked) return toast('Files go to the customer: switch off “Internal note” to send one.', 'error');
  var max = S.maxAttachmentBytes;
  files
    .admissible(list, max, function (file, reason) {
      var why = reason === 'too_large' ? ' is too large: files can be at most ' + files.size(max) + '.' : ' is empty.';
      toast(file.name + why, 'error');
    })
    .forEach(function (file) {
      send(chat, file);
    });
}

function send(chat, file) {
  files.uploadShown({
    list: chat.dom.uploads,
    labels: LABELS,
    api: API,
    token: S.token,
    conversationId: chat.id,
    file: file,
    done: function (a) {
      // sendText reports its own refusals.
      app.composer.sendText(chat, '', false, false, [a.id]).then(null, function () {});
    },
    failed: function (err) {
      toast('Could not send ' + file.name + ': ' + errorText(err), 'error');
    },
  });
}

/** The attach button, the file input and the uploads' row of `chat`'s composer, and pastes into its reply box. */
function wire(chat) {
  var d = chat.dom;
  d.fileInput = el('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1' });
  d.fileInput.addEventListener('change', function () {
    var list = Array.prototype.slice.call(d.fileInput.files || []);
    d.fileInput.value = '';
    if (list.length) take(chat, list);
  });
  d.attachBtn = el('button', {
    class: 'btn btn-sm attach-btn',
    type: 'button',
    text: 'Attach file',
    title: 'Attach a file (or drop it on the chat, or paste an image)',
    onclick: function () {
      d.fileInput.click();
    },
  });
  d.uploads = el('div', { class: 'uploads', 'aria-live': 'polite' });
  files.pasteInto(d.input, function (list) {
    take(chat, list);
  });
}

/** Files dropped anywhere on `chat`'s panel go into it. */
function acceptDrops(chat) {
  files.dropZone(chat.dom.panel, function (list) {
    take(chat, list);
  });
}

app.attachments = { node: node, ofChat: ofChat, take: take, wire: wire, acceptDrops: acceptDrops };
