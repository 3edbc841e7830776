/*
 * Files in a chat, the same in the widget and the console: uploading one with real progress
 * (XMLHttpRequest's upload events), showing one (a thumbnail for an image, else a download
 * link with its name and size), and taking files from a drop or a paste.
 *
 * The server hands a file only to a caller showing a bearer token in the Authorization header,
 * so a plain <img src> or <a href> cannot load it. Files are fetched with the token as blobs and
 * shown through object URLs: the token never goes into a URL (server logs, history, Referer),
 * and each blob gets an inert type (an image type from the list below, else
 * application/octet-stream), so nothing opened from it can run in the page's origin.
 */

var el = app.dom.el;

// Shown as thumbnails: the image types the server serves inline (src/http/attachments.rs).
var IMAGE_TYPES = { 'image/png': true, 'image/jpeg': true, 'image/gif': true, 'image/webp': true };

function isImage(a) {
  return !!(a && IMAGE_TYPES[String(a.content_type || '').toLowerCase()]);
}

/** The contract's error body of a failed request as { status, code, message }. */
function failure(status, body, fallback) {
  var e = (body && body.error) || {};
  return { status: status, code: e.code || 'http_' + status, message: e.message || fallback };
}

/**
 * Uploads `file` into a conversation: `onProgress(loaded, total)` as the bytes go out.
 * Returns { promise, abort }; the promise settles with the server's {id, name, size,
 * content_type}, or rejects with { status, code, message } (code `aborted` when cancelled,
 * `disconnected` when the network failed).
 */
function upload(api, token, conversationId, file, onProgress) {
  var xhr = new XMLHttpRequest();
  var promise = new Promise(function (resolve, reject) {
    var query = '?conversation_id=' + encodeURIComponent(conversationId) + '&name=' + encodeURIComponent(file.name || 'file');
    xhr.open('POST', api + '/attachments' + query);
    xhr.setRequestHeader('Authorization', 'Bearer ' + token);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total);
    };
    xhr.onload = function () {
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = null;
      }
      if (xhr.status === 201 && body && body.id) resolve(body);
      else reject(failure(xhr.status, body, xhr.statusText));
    };
    xhr.onerror = function () {
      reject({ code: 'disconnected', message: 'the upload was interrupted' });
    };
    xhr.onabort = function () {
      reject({ code: 'aborted', message: 'cancelled' });
    };
    xhr.send(file);
  });
  return {
    promise: promise,
    abort: function () {
      xhr.abort();
    },
  };
}

// Attachment id -> promise of its object URL: each file is fetched once per page.
var urls = {};

/** An object URL of attachment `a`'s bytes, fetched with `token`. */
function objectUrl(api, token, a) {
  if (!urls[a.id]) {
    urls[a.id] = fetch(api + '/attachments/' + encodeURIComponent(a.id), { headers: { Authorization: 'Bearer ' + token } })
      .then(function (r) {
        if (!r.ok) throw failure(r.status, null, r.statusText);
        return r.blob();
      })
      .then(function (blob) {
        var type = isImage(a) ? a.content_type : 'application/octet-stream';
        return URL.createObjectURL(new Blob([blob], { type: type }));
      });
    // A failed fetch is tried again the next time the file is asked for.
    urls[a.id].catch(function () {
      delete urls[a.id];
    });
  }
  return urls[a.id];
}

/** `bytes` for people: "820 B", "14 kB", "2.5 MB", in `locale`'s numbers and units. */
function size(bytes, locale) {
  var n = Number(bytes) || 0;
  var unit = n >= 1e6 ? 'megabyte' : n >= 1e3 ? 'kilobyte' : 'byte';
  var value = unit === 'megabyte' ? n / 1e6 : unit === 'kilobyte' ? n / 1e3 : n;
  try {
    return new Intl.NumberFormat(locale, { style: 'unit', unit: unit, maximumFractionDigits: value < 10 ? 1 : 0 }).format(value);
  } catch (e) {
    return Math.round(value * 10) / 10 + ' ' + { byte: 'B', kilobyte: 'kB', megabyte: 'MB' }[unit];
  }
}

/**
 * How attachment `a` is shown in a transcript: an image as a thumbnail linking to the whole
 * picture, anything else as a link that downloads it. `o`: { api, token() (the caller's bearer
 * token), locale, labels: { image(name), download(name, size) }, onError(err) }.
 */
function attachmentNode(a, o) {
  var name = a.name || a.id;
  var sizeText = size(a.size, o.locale);
  var link = el('a', { class: 'file', href: '#', 'data-attachment': a.id });
  var ready = null; // the object URL once fetched
  function fetchIt() {
    return objectUrl(o.api, o.token(), a).then(function (url) {
      ready = url;
      link.href = url;
      return url;
    });
  }
  if (isImage(a)) {
    link.classList.add('file-image');
    link.target = '_blank';
    link.rel = 'noopener';
    link.title = name + ' · ' + sizeText;
    link.setAttribute('aria-label', o.labels.image(name, sizeText));
    var img = el('img', { class: 'file-thumb', alt: name });
    link.appendChild(img);
    fetchIt().then(
      function (url) {
        img.src = url;
      },
      function (err) {
        link.classList.add('file-failed');
        img.replaceWith(el('bdi', { class: 'file-name', text: name }));
        if (o.onError) o.onError(err);
      }
    );
  } else {
    link.classList.add('file-download');
    link.download = name;
    link.setAttribute('aria-label', o.labels.download(name, sizeText));
    link.appendChild(el('bdi', { class: 'file-name', text: name }));
    link.appendChild(el('span', { class: 'file-size', text: sizeText }));
  }
  // Before its bytes are here the link has nowhere to go: fetch them, then follow it.
  link.addEventListener('click', function (e) {
    if (ready) return;
    e.preventDefault();
    fetchIt().then(
      function () {
        link.click();
      },
      function (err) {
        if (o.onError) o.onError(err);
      }
    );
  });
  return link;
}

/**
 * A row showing one upload's progress: its name, a progress bar and a cancel button.
 * Returns { node, progress(loaded, total) }.
 */
function uploadRow(name, labels, onCancel) {
  var bar = el('progress', { class: 'file-progress', max: '100', value: '0', 'aria-label': labels.uploading(name) });
  var node = el('div', { class: 'file-upload', 'data-upload': name }, [
    el('bdi', { class: 'file-name', text: name }),
    bar,
    el('button', { class: 'file-cancel', type: 'button', text: labels.cancel, 'aria-label': labels.cancel + ': ' + name, onclick: onCancel }),
  ]);
  return {
    node: node,
    progress: function (loaded, total) {
      bar.value = total ? Math.round((loaded / total) * 100) : 0;
    },
  };
}

/**
 * Uploads `o.file` into conversation `o.conversationId` with its progress row shown in
 * `o.list` (removed when done); then `o.done(attachment)`, or `o.failed(err)` unless the user
 * cancelled. `o`: { list, labels, api, token, conversationId, file, done, failed }.
 */
function uploadShown(o) {
  var job = null;
  var row = uploadRow(o.file.name, o.labels, function () {
    job.abort();
  });
  o.list.appendChild(row.node);
  job = upload(o.api, o.token, o.conversationId, o.file, row.progress);
  job.promise.then(
    function (a) {
      row.node.remove();
      o.done(a);
    },
    function (err) {
      row.node.remove();
      if (err.code !== 'aborted') o.failed(err);
    }
  );
}

/**
 * The files of `list` that may be uploaded, checked before a byte is sent; `refuse(file,
 * reason)` for each other one: `too_large` (over `max` bytes, when the server said) or `empty`.
 */
function admissible(list, max, refuse) {
  return list.filter(function (f) {
    var reason = max && f.size > max ? 'too_large' : !f.size ? 'empty' : null;
    if (reason) refuse(f, reason);
    return !reason;
  });
}

function carriesFiles(e) {
  var types = (e.dataTransfer && e.dataTransfer.types) || [];
  return Array.prototype.indexOf.call(types, 'Files') >= 0;
}

/** Calls `onFiles([File])` for files dropped on `zone`, marked `drop-over` while they hover. */
function dropZone(zone, onFiles) {
  var depth = 0;
  zone.addEventListener('dragenter', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth++;
    zone.classList.add('drop-over');
  });
  zone.addEventListener('dragover', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', function (e) {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('drop-over');
  });
  zone.addEventListener('drop', function (e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.classList.remove('drop-over');
    var list = Array.prototype.slice.call(e.dataTransfer.files || []);
    if (list.length) onFiles(list);
  });
}

/** Calls `onFiles([File])` when files (a copied image, say) are pasted into `input`. */
function pasteInto(input, onFiles) {
  input.addEventListener('paste', function (e) {
    var items = (e.clipboardData && e.clipboardData.items) || [];
    var list = [];
    for (var i = 0; i < items.length; i++) {
      var f = items[i].kind === 'file' && items[i].getAsFile();
      if (f) list.push(f);
    }
    if (!list.length) return; // plain text pastes as usual
    e.preventDefault();
    onFiles(list);
  });
}

app.files = {
  isImage: isImage,
  upload: upload,
  size: size,
  attachmentNode: attachmentNode,
  uploadShown: uploadShown,
  admissible: admissible,
  dropZone: dropZone,
  pasteInto: pasteInto,
};
