/*
 * The widget's DOM: a host element with an open shadow root holding the launcher and the
 * panel. `ui` names every node the other pieces update; `build()` fills it once, at start.
 */

var el = app.dom.el;
var S = app.state.S;
var OPTIONS = app.config && app.config.OPTIONS;
var styles = app.styles;
var i18n = app.i18n;
var t = i18n.t;

var host, root, ui = {};

function build() {
  host = document.createElement('div');
  host.id = 'switchboard-widget';
  host.setAttribute('data-switchboard', '');
  // Arabic is written right to left: the layout mirrors (styles.js uses logical sides).
  host.dir = i18n.dir;
  host.lang = i18n.tag;
  root = host.attachShadow({ mode: 'open' });
  var style = document.createElement('style');
  style.textContent = styles.CSS;
  root.appendChild(style);

  ui.badge = el('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  ui.launcher = el('button', {
    class: 'launcher',
    type: 'button',
    'aria-label': t('openChat'),
    'aria-expanded': 'false',
    'aria-controls': 'sb-panel',
    onclick: function () {
      app.view.setOpen(!S.open, true);
    },
  });
  ui.launcher.innerHTML = styles.ICON_CHAT; // static markup (styles.js), no wire data
  ui.launcher.appendChild(ui.badge);

  ui.title = el('h2', { class: 'title', id: 'sb-title', text: OPTIONS.title || t('title') });
  ui.subtitle = el('div', { class: 'subtitle', role: 'status', text: t('replyUsually') });
  ui.end = el('button', {
    class: 'end-btn',
    type: 'button',
    hidden: true,
    text: t('endChat'),
    onclick: app.composer.endChat,
  });
  ui.close = el('button', {
    class: 'icon-btn',
    type: 'button',
    'aria-label': t('closeChat'),
    onclick: function () {
      app.view.setOpen(false, true);
    },
  });
  ui.close.innerHTML = styles.ICON_CLOSE;
  ui.avatar = el('div', { class: 'avatar', 'aria-hidden': 'true', text: 'S' });
  var head = el('div', { class: 'head' }, [
    ui.avatar,
    el('div', { class: 'head-text' }, [ui.title, ui.subtitle]),
    ui.end,
    ui.close,
  ]);

  ui.conn = el('div', { class: 'conn', role: 'status', hidden: true, text: t('connecting') });
  ui.queue = el('div', { class: 'queue', role: 'status', hidden: true });

  ui.intro = el('div', { class: 'intro' }, [
    el('strong', { text: t('introTitle') }),
    t('introText'),
  ]);
  ui.cats = el('div', { class: 'notice cat-choice', hidden: true }, [
    el('h3', { id: 'sb-cat-label', text: t('chooseTopic') }),
    el('div', { class: 'cats', role: 'radiogroup', 'aria-labelledby': 'sb-cat-label' }),
  ]);
  ui.log = el('div', {
    class: 'log',
    role: 'log',
    'aria-live': 'polite',
    'aria-relevant': 'additions',
    'aria-label': t('messagesLabel'),
  });
  ui.offline = el('div', { class: 'notice warn offline', hidden: true });
  ui.leave = app.leave.form();
  ui.callback = app.forms.callback();
  ui.ended = el('div', { class: 'notice ended', hidden: true });
  ui.rating = app.forms.rating();
  ui.thanks = el('div', { class: 'notice thanks', role: 'status', hidden: true }, [
    el('h3', { text: t('ratingThanks') }),
    el('p'),
  ]);
  // Files on their way up, each with its progress bar (attachments.js).
  ui.uploads = el('div', { class: 'uploads', 'aria-live': 'polite' });
  ui.left = app.leave.notice();
  ui.body = el('div', { class: 'body' }, [ui.intro, ui.offline, ui.leave, ui.callback, ui.cats, ui.log, ui.uploads, ui.left, ui.ended, ui.rating, ui.thanks]);

  ui.typing = el('div', { class: 'typing', 'aria-live': 'polite' });
  ui.input = el('textarea', {
    rows: '1',
    placeholder: t('placeholder'),
    'aria-label': t('yourMessage'),
    maxlength: '4000',
    oninput: app.composer.onInput,
    onkeydown: function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        app.composer.submit();
      }
    },
  });
  ui.attach = el('button', { class: 'attach', type: 'button', 'aria-label': t('fileAttach'), title: t('fileAttach') });
  ui.attach.innerHTML = styles.ICON_ATTACH;
  ui.fileInput = el('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1' });
  ui.send = el('button', { class: 'send', type: 'submit', 'aria-label': t('send') });
  ui.send.innerHTML = styles.ICON_SEND;
  ui.composer = el('form', {
    class: 'composer',
    onsubmit: function (e) {
      e.preventDefault();
      app.composer.submit();
    },
  }, [ui.attach, ui.fileInput, ui.input, ui.send]);
  ui.toast = el('div', { class: 'toast', role: 'alert', hidden: true });
  ui.foot = el('div', { class: 'foot', text: t('poweredBy') });

  ui.panel = el('div', {
    class: 'panel',
    id: 'sb-panel',
    role: 'dialog',
    'aria-labelledby': 'sb-title',
    hidden: true,
    onkeydown: function (e) {
      if (e.key === 'Escape') {
        app.view.setOpen(false, true);
      }
    },
  }, [head, ui.conn, ui.queue, ui.body, ui.typing, ui.composer, ui.foot, ui.toast]);

  ui.wrap = el('div', { class: 'sb', dir: i18n.dir }, [ui.panel, ui.launcher]);
  if (OPTIONS.color) ui.wrap.style.setProperty('--sb-accent', OPTIONS.color), ui.wrap.style.setProperty('--sb-accent-dark', OPTIONS.color);
  root.appendChild(ui.wrap);
  document.body.appendChild(host);
}

app.panel = { ui: ui, build: build };
