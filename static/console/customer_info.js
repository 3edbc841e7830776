/*
 * The column beside a chat: who the customer is, the page they are on, the category's tools
 * and the chat's files (the transcript's and the claim's), and their past conversations, loaded
 * on demand.
 */

var el = app.dom.el;
var safeHref = app.text.safeHref;
var link = app.text.link;
var when = app.format.when;
var STATUS_LABEL = app.format.STATUS_LABEL;
var errorText = app.format.errorText;
var languageName = app.format.languageName;

function renderInfo(chat) {
  var d = chat.dom;
  var c = chat.customer || {};
  var rows = [];
  function row(label, value) {
    rows.push(el('dt', { text: label }), el('dd', {}, [value]));
  }
  row('Name', c.name || '—');
  if (c.email) row('Email', el('a', { href: 'mailto:' + c.email, text: c.email }));
  if (c.external_id) row('User id', c.external_id);
  row('Customer', String(c.id || '—'));
  if (chat.lang) row('Language', el('span', { class: 'customer-lang', 'data-lang': chat.lang, text: languageName(chat.lang) }));
  var page = chat.page;
  var pageNode = el('div', { class: 'current-page' });
  if (page && page.url) {
    var href = safeHref(page.url);
    pageNode.appendChild(el('div', { class: 'page-title', text: page.title || page.url }));
    pageNode.appendChild(href ? link(href, page.url) : el('span', { class: 'muted', text: page.url }));
  } else pageNode.appendChild(el('span', { class: 'muted', text: 'Unknown' }));

  var sections = [
    el('h3', { text: 'Customer' }),
    el('dl', { class: 'facts' }, rows),
    el('h3', { text: 'Current page' }),
    pageNode,
  ];
  if (chat.tools && chat.tools.length) {
    sections.push(el('h3', { text: 'Tools' }));
    sections.push(
      el('ul', { class: 'tools' }, chat.tools.map(function (t) {
        var h = safeHref(t.url);
        return el('li', {}, [h ? link(h, t.name || t.url) : el('span', { text: t.name || '' })]);
      }))
    );
  }
  var chatFiles = app.attachments.ofChat(chat);
  if (chatFiles.length) {
    sections.push(el('h3', { text: 'Files' }));
    sections.push(
      el('ul', { class: 'files' }, chatFiles.map(function (a) {
        return el('li', {}, [app.attachments.node(a)]);
      }))
    );
  }
  sections.push(el('h3', { text: 'Past conversations' }));
  if (!chat.history) {
    sections.push(
      el('button', {
        class: 'btn btn-sm',
        type: 'button',
        text: 'Show past conversations',
        disabled: !c.id,
        onclick: function () {
          loadHistory(chat);
        },
      })
    );
  } else if (chat.history.error) {
    sections.push(el('p', { class: 'muted small', text: chat.history.error }));
  } else if (chat.history.loading) {
    sections.push(el('p', { class: 'muted small', text: 'Loading…' }));
  } else {
    var past = chat.history.conversations.filter(function (h) {
      return h.id !== chat.id;
    });
    if (!past.length) sections.push(el('p', { class: 'muted small', text: 'No earlier conversations.' }));
    past.forEach(function (h) {
      sections.push(
        el('details', { class: 'history' }, [
          el('summary', { text: when(h.started_at) + ' · ' + (STATUS_LABEL[h.status] || h.status) }),
          el('div', { class: 'history-log' }, (h.messages || []).map(function (m) {
            return app.transcript.messageNode(m, chat);
          })),
        ])
      );
    });
  }
  d.info.replaceChildren.apply(d.info, sections);
}

function loadHistory(chat) {
  chat.history = { loading: true };
  renderInfo(chat);
  app.connection.request({ type: 'history', customer_id: chat.customer.id }).then(
    function (ack) {
      chat.history = { conversations: ack.conversations || [] };
      renderInfo(chat);
    },
    function (err) {
      chat.history = { error: 'Could not load: ' + errorText(err) };
      renderInfo(chat);
    }
  );
}

app.customerInfo = { render: renderInfo };
