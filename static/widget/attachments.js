/*
 * Files in the widget's chat: the attach button, files dropped on the panel and images pasted
 * into the message box are uploaded into the conversation shown, each with a progress bar (a
 * file over the server's limit is refused at once, before any upload), then sent as a message
 * through the outbox; and a message's files shown as thumbnails or download links
 * (shared/files.js).
 */

var files = app.files;
var S = app.state.S;
var TERMINAL = app.state.TERMINAL;
var ui = app.panel.ui;
var i18n = app.i18n;
var t = i18n.t;

var LABELS = {
  image: function (name, size) {
    return t('fileImage', { name: name, size: size });
  },
  download: function (name, size) {
    return t('fileDownload', { name: name, size: size });
  },
  uploading: function (name) {
    return t('fileUploading', { name: name });
  },
  cancel: t('fileCancel'),
};

/** How file `a` of a message is shown. */
function node(a) {
  return files.attachmentNode(a, {
    api: app.config.API,
    token: function () {
      return S.token;
    },
    locale: i18n.locale,
    labels: LABELS,
    onError: function (err) {
      app.view.toast(t('fileUnavailable', { error: app.view.errorText(err) }));
    },
  });
}

/** Files picked, dropped or pasted: each one checked, uploaded and sent. */
function take(list) {
  var conv = S.conv;
  var starting = S.outbox.some(function (o) {
    return o.kind === 'start';
  });
  // A file goes into a conversation: the first message starts one.
  if (!conv || TERMINAL[conv.status] || starting || !S.token) {
    app.view.toast(t('fileNeedsChat'));
    return;
  }
  var max = S.welcome && S.welcome.max_attachment_bytes;
  files
    .admissible(list, max, function (file, reason) {
      var text = reason === 'too_large' ? t('fileTooLarge', { name: file.name, max: files.size(max, i18n.locale) }) : t('fileEmpty', { name: file.name });
      app.view.toast(text);
    })
    .forEach(function (file) {
      send(conv, file);
    });
}

function send(conv, file) {
  files.uploadShown({
    list: ui.uploads,
    labels: LABELS,
    api: app.config.API,
    token: S.token,
    conversationId: conv.id,
    file: file,
    done: function (a) {
      var item = {
        cmid: app.socket.clientMsgId(),
        text: '',
        kind: 'send',
        conversation_id: conv.id,
        attachments: [a.id],
        files: [a],
      };
      item.el = app.transcript.pendingNode(item);
      S.outbox.push(item);
      if (S.conv === conv) ui.log.appendChild(item.el);
      app.transcript.scrollDown();
      app.view.render();
      app.composer.flushOutbox();
    },
    failed: function (err) {
      app.view.toast(t('fileFailed', { name: file.name, error: app.view.errorText(err) }));
    },
  });
  app.transcript.scrollDown();
}

/**
 * Wires the attach button, the drop on the panel and the paste into the message box. On a
 * page of another origin the uploads are cross-origin requests, which the server answers for
 * the origins in `server.allowed_origins` (the same list that lets the page open the socket).
 */
function wire() {
  ui.attach.addEventListener('click', function () {
    ui.fileInput.click();
  });
  ui.fileInput.addEventListener('change', function () {
    var list = Array.prototype.slice.call(ui.fileInput.files || []);
    ui.fileInput.value = '';
    if (list.length) take(list);
  });
  files.dropZone(ui.panel, take);
  files.pasteInto(ui.input, take);
}

app.attachments = { node: node, take: take, wire: wire };
