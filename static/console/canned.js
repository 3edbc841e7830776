/*
 * Canned responses: loaded once after sign-in, searched in a dialog from the composer, sent
 * one message per paragraph (Enter) or put in the composer (Shift+Enter).
 */

var $ = app.dom.$;
var el = app.dom.el;
var listOf = app.format.listOf;
var errorText = app.format.errorText;
var S = app.store.S;
var api = app.store.api;

function loadCanned() {
  api('GET', '/canned').then(
    function (body) {
      S.canned = listOf(body, ['canned', 'responses', 'items']).map(function (c) {
        return {
          title: c.title || c.name || c.shortcut || c.id || 'Response',
          shortcut: c.shortcut || null,
          text: c.text || c.body || c.content || '',
        };
      });
    },
    function (err) {
      S.canned = { error: err.status === 404 ? 'Canned responses are not available on this server yet.' : errorText(err) };
    }
  );
}

var cannedChat = null;
var cannedSel = 0;
function openCanned(chat) {
  cannedChat = chat;
  cannedSel = 0;
  $('canned-search').value = '';
  renderCanned();
  $('canned-dialog').showModal();
  $('canned-search').focus();
}

function cannedMatches() {
  if (!Array.isArray(S.canned)) return [];
  var q = $('canned-search').value.trim().toLowerCase();
  return S.canned.filter(function (c) {
    return !q || (c.title + ' ' + (c.shortcut || '') + ' ' + c.text).toLowerCase().indexOf(q) >= 0;
  });
}

function renderCanned() {
  var list = $('canned-list');
  list.replaceChildren();
  if (!S.canned || !Array.isArray(S.canned)) {
    list.appendChild(el('li', { class: 'muted small', text: (S.canned && S.canned.error) || 'Loading…' }));
    return;
  }
  var items = cannedMatches();
  if (!items.length) list.appendChild(el('li', { class: 'muted small', text: 'No canned response matches.' }));
  cannedSel = Math.min(cannedSel, Math.max(0, items.length - 1));
  items.forEach(function (c, i) {
    list.appendChild(
      el('li', {
        class: 'canned-item',
        role: 'option',
        id: 'canned-' + i,
        'aria-selected': String(i === cannedSel),
        onclick: function () {
          chooseCanned(c, false);
        },
      }, [
        el('strong', { text: c.title }),
        c.shortcut ? el('span', { class: 'chip', text: c.shortcut }) : null,
        el('div', { class: 'muted small clamp', text: c.text }),
      ])
    );
  });
  if (items.length) $('canned-search').setAttribute('aria-activedescendant', 'canned-' + cannedSel);
}

$('canned-search').addEventListener('input', function () {
  cannedSel = 0;
  renderCanned();
});
$('canned-search').addEventListener('keydown', function (e) {
  var items = cannedMatches();
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    if (!items.length) return;
    cannedSel = (cannedSel + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
    renderCanned();
    var sel = $('canned-' + cannedSel);
    if (sel) sel.scrollIntoView({ block: 'nearest' });
  } else if (e.key === 'Enter') {
    e.preventDefault();
    if (items[cannedSel]) chooseCanned(items[cannedSel], e.shiftKey);
  }
});
$('canned-dialog').addEventListener('close', function () {
  if (cannedChat) cannedChat.dom.input.focus();
});

function chooseCanned(c, intoComposer) {
  var chat = cannedChat;
  $('canned-dialog').close();
  if (!chat) return;
  if (intoComposer) {
    var input = chat.dom.input;
    input.value = (input.value ? input.value + '\n' : '') + c.text;
    input.focus();
    return;
  }
  // Paragraph by paragraph: one short message each reads like a person typing.
  var paragraphs = c.text.split(/\n\s*\n/).map(function (p) {
    return p.trim();
  }).filter(Boolean);
  var internal = chat.dom.internal.checked;
  paragraphs.reduce(function (p, text) {
    return p.then(function () {
      return app.composer.sendText(chat, text, internal, false);
    });
  }, Promise.resolve()).catch(function () {});
}

app.canned = { load: loadCanned, open: openCanned };
