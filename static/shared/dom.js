/*
 * DOM and REST helpers shared by every page: the console, the admin page and the widget.
 * Text is always set as text, never as HTML. `$` and `toast` work on the page's own document
 * (the widget, drawn in a shadow root, has its own toast).
 */

function $(id) {
  return document.getElementById(id);
}

function setAttrs(node, attrs) {
  Object.keys(attrs || {}).forEach(function (k) {
    var v = attrs[k];
    if (v === null || v === undefined || v === false) return;
    if (k === 'class') node.setAttribute('class', v);
    else if (k === 'text') node.textContent = v;
    else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  });
}

function append(node, children) {
  (children || []).forEach(function (c) {
    if (c === null || c === undefined || c === false) return;
    node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  });
}

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A dismissable note in the page's #toasts; errors stay longer and are announced. */
function toast(text, kind) {
  var t = el('div', { class: 'toast' + (kind ? ' toast-' + kind : ''), role: kind === 'error' ? 'alert' : 'status' }, [
    el('span', { text: text }),
    el('button', {
      class: 'icon-btn',
      type: 'button',
      'aria-label': 'Dismiss',
      text: '×',
      onclick: function () {
        t.remove();
      },
    }),
  ]);
  $('toasts').appendChild(t);
  setTimeout(function () {
    t.remove();
  }, kind === 'error' ? 9000 : 5000);
}

/**
 * A JSON request with an optional bearer token. Resolves to the parsed body (null when
 * empty); an HTTP error rejects with { status, code, message } from the contract's error
 * body; a network failure rejects with fetch's own error.
 */
function fetchJson(url, token, method, body) {
  var headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return fetch(url, {
    method: method,
    headers: headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
  }).then(function (r) {
    return r.text().then(function (t) {
      var data = null;
      try {
        data = t ? JSON.parse(t) : null;
      } catch (e) {
        data = null;
      }
      if (!r.ok) {
        var e = (data && data.error) || {};
        throw { status: r.status, code: e.code || 'http_' + r.status, message: e.message || r.statusText };
      }
      return data;
    });
  });
}

app.dom = { $: $, el: el, setAttrs: setAttrs, append: append, clear: clear, toast: toast, fetchJson: fetchJson };
