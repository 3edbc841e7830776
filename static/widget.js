/*
 * Switchboard chat widget.
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" data-category="general" async></script>
 * Optional: data-user-id, data-user-hash (HMAC-SHA256 of the id, computed by your backend),
 * data-user-name, data-user-email, data-title (panel title), data-color (accent colour).
 *
 * Everything is drawn inside a shadow root so the host page's CSS cannot reach it.
 * The websocket URL is derived from this script's own origin. Protocol: PROTOCOL.md (v1).
 */
(function () {
  'use strict';

  if (window.SwitchboardWidget) return;

  var script =
    document.currentScript ||
    Array.prototype.slice
      .call(document.getElementsByTagName('script'))
      .filter(function (s) {
        return /\/widget\.js(?:[?#]|$)/.test(s.src || '');
      })
      .pop();
  if (!script) return;

  var ORIGIN = new URL(script.src, location.href);
  var WS_URL = (ORIGIN.protocol === 'https:' ? 'wss://' : 'ws://') + ORIGIN.host + '/ws/customer';
  var API = ORIGIN.origin + '/api/v1';
  var ds = script.dataset || {};
  var OPTIONS = {
    category: ds.category || null,
    title: ds.title || 'Chat with us',
    color: ds.color || null,
    user:
      ds.userId && ds.userHash
        ? {
            id: ds.userId,
            hash: ds.userHash,
            name: ds.userName || undefined,
            email: ds.userEmail || undefined,
          }
        : null,
  };
  var KEY = 'switchboard:' + ORIGIN.host + ':';
  var TERMINAL = { closed: true, abandoned: true };
  var ENDED = { solved: true, closed: true, abandoned: true };
  // PRODUCT.md defaults, used unless the server's welcome says otherwise.
  var DEFAULT_ABANDON_AFTER_MS = 60 * 1000;
  var DEFAULT_INACTIVITY_END_MS = 60 * 60 * 1000;

  // ---------------------------------------------------------------- small helpers

  function store(kind) {
    try {
      return kind === 'session' ? window.sessionStorage : window.localStorage;
    } catch (e) {
      return null;
    }
  }
  function getItem(name, kind) {
    var s = store(kind);
    try {
      return s ? s.getItem(KEY + name) : null;
    } catch (e) {
      return null;
    }
  }
  function setItem(name, value, kind) {
    var s = store(kind);
    try {
      if (!s) return;
      if (value === null || value === undefined) s.removeItem(KEY + name);
      else s.setItem(KEY + name, value);
    } catch (e) {
      /* storage full or blocked: the widget still works for this page */
    }
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      try {
        return crypto.randomUUID();
      } catch (e) {
        /* insecure context */
      }
    }
    var b = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    });
    return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' + h.slice(6, 8).join('') + '-' +
      h.slice(8, 10).join('') + '-' + h.slice(10).join('');
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : v);
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  // Text with http(s) links made clickable. Everything is a text node or an <a> whose href
  // was parsed and checked; no HTML from the wire is ever interpreted.
  var LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function richText(text) {
    var frag = document.createDocumentFragment();
    var last = 0;
    String(text).replace(LINK_RE, function (raw, index) {
      var url = raw.replace(/[.,;:!?)\]}]+$/, '');
      var end = index + url.length;
      var href = null;
      try {
        var u = new URL(url);
        if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
      } catch (e) {
        href = null;
      }
      if (!href) return raw;
      if (index > last) frag.appendChild(document.createTextNode(text.slice(last, index)));
      var a = document.createElement('a');
      a.href = href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer nofollow';
      a.textContent = url;
      frag.appendChild(a);
      last = end;
      return raw;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function clock(at) {
    var d = at ? new Date(at) : new Date();
    if (isNaN(d)) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function currentPage() {
    return { url: location.href, title: document.title || undefined };
  }

  var ICON_CHAT =
    '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg>';
  var ICON_CLOSE =
    '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path fill="currentColor" d="M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"/></svg>';
  var ICON_SEND =
    '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path fill="currentColor" d="M3 20.5V14l9-2-9-2V3.5L22 12z"/></svg>';

  // ---------------------------------------------------------------- styles

  var CSS = [
    ':host{all:initial}',
    '*,*::before,*::after{box-sizing:border-box}',
    '.sb{--sb-accent:#4f46e5;--sb-accent-dark:#4338ca;--sb-accent-soft:#eef2ff;--sb-text:#1f2937;--sb-muted:#6b7280;',
    '--sb-border:#e5e7eb;--sb-bg:#fff;--sb-soft:#f3f4f6;--sb-danger:#b91c1c;--sb-ok:#047857;',
    'font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--sb-text);',
    'position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;flex-direction:column;align-items:flex-end;gap:12px}',
    'button,input,textarea,select{font:inherit;color:inherit}',
    'button{cursor:pointer}',
    ':focus-visible{outline:3px solid #a5b4fc;outline-offset:2px}',
    '.launcher{position:relative;width:60px;height:60px;border-radius:50%;border:0;background:var(--sb-accent);color:#fff;',
    'box-shadow:0 8px 24px rgba(17,24,39,.25);display:grid;place-items:center;transition:transform .15s,background .15s}',
    '.launcher:hover{background:var(--sb-accent-dark);transform:translateY(-1px)}',
    '.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#dc2626;',
    'color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;border:2px solid #fff}',
    '.badge[hidden]{display:none}',
    '.panel{width:370px;height:min(600px,calc(100vh - 110px));background:var(--sb-bg);border-radius:16px;',
    'box-shadow:0 18px 50px rgba(17,24,39,.28);display:flex;flex-direction:column;overflow:hidden;border:1px solid var(--sb-border)}',
    '.panel[hidden]{display:none}',
    '.head{background:var(--sb-accent);color:#fff;padding:14px 12px 14px 16px;display:flex;align-items:center;gap:10px}',
    '.avatar{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.2);display:grid;place-items:center;font-weight:700;flex:none}',
    '.head-text{flex:1;min-width:0}',
    '.title{font-weight:650;font-size:15px;margin:0}',
    '.subtitle{font-size:12.5px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.icon-btn{border:0;background:transparent;color:inherit;width:34px;height:34px;border-radius:8px;display:grid;place-items:center}',
    '.icon-btn:hover{background:rgba(255,255,255,.16)}',
    '.end-btn{border:1px solid rgba(255,255,255,.6);background:transparent;color:#fff;border-radius:999px;padding:4px 10px;font-size:12.5px}',
    '.end-btn:hover{background:rgba(255,255,255,.16)}',
    '.end-btn[hidden]{display:none}',
    '.conn{background:#fef3c7;color:#92400e;font-size:12.5px;padding:6px 14px;border-bottom:1px solid #fde68a}',
    '.conn[hidden]{display:none}',
    '.queue{background:var(--sb-accent-soft);color:var(--sb-accent-dark);font-size:12.5px;padding:6px 14px;border-bottom:1px solid #e0e7ff}',
    '.queue[hidden]{display:none}',
    '.body{flex:1;overflow-y:auto;padding:14px 14px 6px;background:#fafafa;display:flex;flex-direction:column;gap:8px}',
    '.log{display:flex;flex-direction:column;gap:8px}',
    '.intro{color:var(--sb-muted);text-align:center;font-size:13px;padding:8px 6px}',
    '.intro strong{display:block;color:var(--sb-text);font-size:15px;margin-bottom:2px}',
    '.msg{display:flex;flex-direction:column;max-width:84%;align-self:flex-start}',
    '.msg .who{font-size:11.5px;color:var(--sb-muted);margin:0 0 2px 4px}',
    '.bubble{padding:8px 12px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}',
    '.bubble a{color:inherit;text-decoration:underline}',
    '.meta{font-size:11px;color:var(--sb-muted);margin:2px 6px 0}',
    '.msg.customer{align-self:flex-end;align-items:flex-end}',
    '.msg.customer .bubble{background:var(--sb-accent);color:#fff;border-bottom-right-radius:5px}',
    '.msg.expert .bubble{background:#fff;border:1px solid var(--sb-border);border-bottom-left-radius:5px}',
    '.msg.bot .bubble{background:var(--sb-accent-soft);border:1px dashed #c7d2fe;color:#312e81;border-bottom-left-radius:5px}',
    '.msg.system{align-self:center;max-width:92%;text-align:center}',
    '.msg.system .bubble{background:transparent;color:var(--sb-muted);font-size:12.5px;padding:2px 8px}',
    '.msg.pending .bubble{opacity:.65}',
    '.msg.failed .bubble{background:#fee2e2;color:var(--sb-danger);border:1px solid #fecaca}',
    '.retry{border:0;background:none;color:var(--sb-danger);text-decoration:underline;padding:0;font-size:11px}',
    '.notice{align-self:stretch;background:#fff;border:1px solid var(--sb-border);border-radius:12px;padding:12px;font-size:13px}',
    '.notice h3{margin:0 0 4px;font-size:14px}',
    '.notice p{margin:0 0 8px;color:var(--sb-muted)}',
    '.notice[hidden]{display:none}',
    '.notice p[role=status]:empty{display:none}',
    '.cb-status,.rate-status{color:var(--sb-danger);margin:8px 0 0!important}',
    '.notice.warn{border-color:#fde68a;background:#fffbeb}',
    '.notice.error{border-color:#fecaca;background:#fef2f2;color:var(--sb-danger)}',
    '.hours-title{font-weight:600;font-size:12.5px;margin:4px 0 2px}',
    '.hours{display:grid;grid-template-columns:auto 1fr;gap:1px 12px;margin:0 0 4px;font-size:12.5px}',
    '.hours dd{margin:0;color:var(--sb-muted)}',
    '.field{display:flex;flex-direction:column;gap:3px;margin-bottom:8px}',
    '.field label{font-size:12px;font-weight:600;color:var(--sb-text)}',
    '.field input,.field textarea{border:1px solid #d1d5db;border-radius:8px;padding:7px 9px;background:#fff;width:100%}',
    '.field textarea{resize:vertical;min-height:56px}',
    '.btn{border:0;border-radius:8px;padding:8px 14px;background:var(--sb-accent);color:#fff;font-weight:600}',
    '.btn:hover{background:var(--sb-accent-dark)}',
    '.btn:disabled{opacity:.5;cursor:default}',
    '.btn.secondary{background:#fff;color:var(--sb-accent-dark);border:1px solid #c7d2fe}',
    '.link-btn{border:0;background:none;color:var(--sb-accent-dark);text-decoration:underline;padding:0;font-size:12.5px}',
    '.cats{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}',
    '.cat{border:1px solid #c7d2fe;background:#fff;color:var(--sb-accent-dark);border-radius:999px;padding:5px 12px;font-size:13px}',
    '.cat[aria-checked="true"]{background:var(--sb-accent);color:#fff;border-color:var(--sb-accent)}',
    '.stars{display:flex;gap:4px;margin:4px 0 8px}',
    '.star{border:0;background:none;font-size:26px;line-height:1;color:#d1d5db;padding:0 2px}',
    '.star[aria-checked="true"],.star.lit{color:#f59e0b}',
    '.typing{min-height:22px;padding:0 16px 4px;font-size:12px;color:var(--sb-muted);background:#fafafa}',
    '.typing span.dots::after{content:"";display:inline-block;width:1.2em;text-align:left;animation:sbdots 1.2s steps(4,end) infinite}',
    '@keyframes sbdots{0%{content:""}25%{content:"."}50%{content:".."}75%{content:"..."}}',
    '.composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--sb-border);background:#fff}',
    '.composer[hidden]{display:none}',
    '.composer textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:12px;padding:9px 12px;max-height:120px;min-height:40px;',
    'background:#fff;line-height:1.35}',
    '.composer textarea:focus{border-color:var(--sb-accent);outline:none;box-shadow:0 0 0 3px #e0e7ff}',
    '.send{width:40px;height:40px;border:0;border-radius:50%;background:var(--sb-accent);color:#fff;display:grid;place-items:center;flex:none}',
    '.send:disabled{opacity:.45;cursor:default}',
    '.foot{font-size:11px;color:#9ca3af;text-align:center;padding:0 0 6px;background:#fff}',
    '.toast{position:absolute;left:12px;right:12px;bottom:76px;background:#111827;color:#fff;border-radius:10px;padding:8px 12px;font-size:12.5px;',
    'box-shadow:0 6px 20px rgba(0,0,0,.2)}',
    '.toast[hidden]{display:none}',
    '.panel-wrap{position:relative}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    '@media (max-width:480px){.sb{right:8px;bottom:8px;left:8px;align-items:flex-end}',
    '.panel{width:calc(100vw - 16px);height:calc(100vh - 88px);height:calc(100dvh - 88px)}}',
    '@media (prefers-reduced-motion:reduce){.launcher{transition:none}.typing span.dots::after{animation:none;content:"..."}}',
  ].join('\n');

  // ---------------------------------------------------------------- state

  var S = {
    ws: null,
    welcomed: false,
    attempt: 0,
    retryTimer: null,
    stopped: false,
    nextRef: 1,
    pending: {}, // ref -> {resolve, reject, timer}
    welcome: null,
    token: OPTIONS.user ? null : getItem('visitor_token'),
    conv: null, // the conversation shown
    convs: {}, // id -> conversation record
    outbox: [], // customer messages not yet acknowledged
    flushing: false,
    open: getItem('open', 'session') === '1',
    unread: 0,
    category: OPTIONS.category,
    typingOn: false,
    typingTimer: null,
    peerTypingTimer: null,
    lastReadSent: {},
    rated: JSON.parse(getItem('rated') || '{}'),
    callbackSent: false,
    showCallback: false,
    abandonAfter: DEFAULT_ABANDON_AFTER_MS,
    inactivityEnd: DEFAULT_INACTIVITY_END_MS,
    mayEnd: 'restricted',
  };

  function record(id) {
    var c = S.convs[id];
    if (!c) {
      c = S.convs[id] = {
        id: id,
        status: 'queued',
        messages: {},
        maxSeq: 0,
        expert: null,
        queue: null,
        peerRead: 0,
        startedAt: null,
        lastActivityAt: null,
        expertAnswered: false,
      };
    }
    return c;
  }

  // ---------------------------------------------------------------- DOM

  var host, root, ui = {};

  function build() {
    host = document.createElement('div');
    host.id = 'switchboard-widget';
    host.setAttribute('data-switchboard', '');
    root = host.attachShadow({ mode: 'open' });
    var style = document.createElement('style');
    style.textContent = CSS;
    root.appendChild(style);

    ui.badge = el('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    ui.launcher = el('button', {
      class: 'launcher',
      type: 'button',
      'aria-label': 'Open chat',
      'aria-expanded': 'false',
      'aria-controls': 'sb-panel',
      onclick: function () {
        setOpen(!S.open, true);
      },
    });
    ui.launcher.innerHTML = ICON_CHAT; // static markup defined above, no wire data
    ui.launcher.appendChild(ui.badge);

    ui.title = el('h2', { class: 'title', id: 'sb-title', text: OPTIONS.title });
    ui.subtitle = el('div', { class: 'subtitle', role: 'status', text: 'We usually reply in a few minutes' });
    ui.end = el('button', {
      class: 'end-btn',
      type: 'button',
      hidden: true,
      text: 'End chat',
      onclick: endChat,
    });
    ui.close = el('button', {
      class: 'icon-btn',
      type: 'button',
      'aria-label': 'Close chat',
      onclick: function () {
        setOpen(false, true);
      },
    });
    ui.close.innerHTML = ICON_CLOSE;
    ui.avatar = el('div', { class: 'avatar', 'aria-hidden': 'true', text: 'S' });
    var head = el('div', { class: 'head' }, [
      ui.avatar,
      el('div', { class: 'head-text' }, [ui.title, ui.subtitle]),
      ui.end,
      ui.close,
    ]);

    ui.conn = el('div', { class: 'conn', role: 'status', hidden: true, text: 'Connecting…' });
    ui.queue = el('div', { class: 'queue', role: 'status', hidden: true });

    ui.intro = el('div', { class: 'intro' }, [
      el('strong', { text: 'Hi there!' }),
      'Ask us anything. We answer in real time.',
    ]);
    ui.cats = el('div', { class: 'notice cat-choice', hidden: true }, [
      el('h3', { id: 'sb-cat-label', text: 'What can we help you with?' }),
      el('div', { class: 'cats', role: 'radiogroup', 'aria-labelledby': 'sb-cat-label' }),
    ]);
    ui.log = el('div', {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-label': 'Chat messages',
    });
    ui.offline = el('div', { class: 'notice warn offline', hidden: true });
    ui.callback = buildCallbackForm();
    ui.ended = el('div', { class: 'notice ended', hidden: true });
    ui.rating = buildRating();
    ui.thanks = el('div', { class: 'notice thanks', role: 'status', hidden: true }, [
      el('h3', { text: 'Thanks for your feedback!' }),
      el('p'),
    ]);
    ui.body = el('div', { class: 'body' }, [ui.intro, ui.offline, ui.callback, ui.cats, ui.log, ui.ended, ui.rating, ui.thanks]);

    ui.typing = el('div', { class: 'typing', 'aria-live': 'polite' });
    ui.input = el('textarea', {
      rows: '1',
      placeholder: 'Type your message…',
      'aria-label': 'Your message',
      maxlength: '4000',
      oninput: onInput,
      onkeydown: function (e) {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          submitComposer();
        }
      },
    });
    ui.send = el('button', { class: 'send', type: 'submit', 'aria-label': 'Send message' });
    ui.send.innerHTML = ICON_SEND;
    ui.composer = el('form', {
      class: 'composer',
      onsubmit: function (e) {
        e.preventDefault();
        submitComposer();
      },
    }, [ui.input, ui.send]);
    ui.toast = el('div', { class: 'toast', role: 'alert', hidden: true });
    ui.foot = el('div', { class: 'foot', text: 'Powered by Switchboard' });

    ui.panel = el('div', {
      class: 'panel',
      id: 'sb-panel',
      role: 'dialog',
      'aria-labelledby': 'sb-title',
      hidden: true,
      onkeydown: function (e) {
        if (e.key === 'Escape') {
          setOpen(false, true);
        }
      },
    }, [head, ui.conn, ui.queue, ui.body, ui.typing, ui.composer, ui.foot, ui.toast]);

    ui.wrap = el('div', { class: 'sb' }, [ui.panel, ui.launcher]);
    if (OPTIONS.color) ui.wrap.style.setProperty('--sb-accent', OPTIONS.color), ui.wrap.style.setProperty('--sb-accent-dark', OPTIONS.color);
    root.appendChild(ui.wrap);
    document.body.appendChild(host);
  }

  function buildCallbackForm() {
    var phone = el('input', { type: 'tel', id: 'sb-cb-phone', name: 'phone', autocomplete: 'tel', required: true });
    var msg = el('textarea', { id: 'sb-cb-msg', name: 'message', rows: '2' });
    var status = el('p', { class: 'cb-status', role: 'status' });
    var submit = el('button', { class: 'btn', type: 'submit', text: 'Request a callback' });
    var form = el('form', {
      class: 'notice callback',
      hidden: true,
      'aria-label': 'Request a callback',
      onsubmit: function (e) {
        e.preventDefault();
        var number = phone.value.trim();
        if (!/^[+()\d][\d\s().\-]{4,}$/.test(number)) {
          status.textContent = 'Please enter a valid phone number.';
          phone.focus();
          return;
        }
        submit.disabled = true;
        status.textContent = 'Sending…';
        request({
          type: 'callback',
          phone: number,
          message: msg.value.trim() || undefined,
          category: S.category || undefined,
        }).then(
          function () {
            S.callbackSent = true;
            form.replaceChildren(
              el('h3', { text: 'Thanks! We will call you back.' }),
              el('p', { text: 'An expert will call ' + number + ' as soon as possible.' })
            );
          },
          function (err) {
            submit.disabled = false;
            status.textContent = errorText(err);
          }
        );
      },
    }, [
      el('h3', { text: 'Prefer a call?' }),
      el('p', { text: 'Leave your number and we will call you back.' }),
      el('div', { class: 'field' }, [el('label', { for: 'sb-cb-phone', text: 'Phone number' }), phone]),
      el('div', { class: 'field' }, [el('label', { for: 'sb-cb-msg', text: 'Message (optional)' }), msg]),
      submit,
      status,
    ]);
    return form;
  }

  function buildRating() {
    var score = 0;
    var stars = [];
    var group = el('div', { class: 'stars', role: 'radiogroup', 'aria-label': 'Rating from 1 to 5 stars' });
    function paint(n) {
      stars.forEach(function (s, i) {
        s.classList.toggle('lit', i < n);
      });
    }
    for (var i = 1; i <= 5; i++) {
      (function (n) {
        var s = el('button', {
          class: 'star',
          type: 'button',
          role: 'radio',
          'aria-checked': 'false',
          'aria-label': n + (n === 1 ? ' star' : ' stars'),
          text: '★',
          onclick: function () {
            score = n;
            stars.forEach(function (x, j) {
              x.setAttribute('aria-checked', String(j === n - 1));
            });
            paint(n);
            submit.disabled = false;
          },
          onmouseenter: function () {
            paint(n);
          },
          onmouseleave: function () {
            paint(score);
          },
          onkeydown: function (e) {
            var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
            if (d) {
              e.preventDefault();
              var t = stars[Math.min(4, Math.max(0, n - 1 + d))];
              t.focus();
              t.click();
            }
          },
        });
        stars.push(s);
        group.appendChild(s);
      })(i);
    }
    var comment = el('textarea', { id: 'sb-rate-comment', rows: '2', placeholder: 'Anything we could do better?' });
    var status = el('p', { class: 'rate-status', role: 'status' });
    var submit = el('button', { class: 'btn', type: 'submit', text: 'Send rating', disabled: true });
    var form = el('form', {
      class: 'notice rating',
      hidden: true,
      'aria-label': 'Rate this chat',
      onsubmit: function (e) {
        e.preventDefault();
        var conv = S.conv;
        if (!conv || !score) return;
        submit.disabled = true;
        status.textContent = 'Sending…';
        request({ type: 'rate', conversation_id: conv.id, score: score, comment: comment.value.trim() || undefined }).then(
          function () {
            S.rated[conv.id] = score;
            setItem('rated', JSON.stringify(S.rated));
            status.textContent = '';
            render();
          },
          function (err) {
            submit.disabled = false;
            status.textContent = errorText(err);
          }
        );
      },
    }, [
      el('h3', { text: 'How did we do?' }),
      group,
      el('div', { class: 'field' }, [el('label', { for: 'sb-rate-comment', text: 'Comment (optional)' }), comment]),
      submit,
      status,
    ]);
    form.clear = function () {
      score = 0;
      paint(0);
      stars.forEach(function (x) {
        x.setAttribute('aria-checked', 'false');
      });
      comment.value = '';
      submit.disabled = true;
      status.textContent = '';
    };
    return form;
  }

  // ---------------------------------------------------------------- rendering

  var AUTHOR_LABEL = { bot: 'Assistant', system: '' };

  function messageNode(m) {
    var kind = (m.author && m.author.kind) || 'system';
    var node = el('div', { class: 'msg ' + kind, 'data-seq': String(m.seq), 'data-kind': kind });
    if (kind === 'expert' || kind === 'bot') {
      var name = kind === 'bot' ? (m.author.name || AUTHOR_LABEL.bot) : m.author.name || 'Expert';
      node.appendChild(el('div', { class: 'who', text: name }));
    }
    if (kind === 'customer') node.appendChild(el('span', { class: 'sr', text: 'You said: ' }));
    var bubble = el('div', { class: 'bubble' });
    bubble.appendChild(richText(m.text || ''));
    node.appendChild(bubble);
    if (kind !== 'system') {
      var meta = el('div', { class: 'meta' }, [el('time', { datetime: m.at || '', text: clock(m.at) })]);
      if (kind === 'customer') meta.appendChild(el('span', { class: 'receipt' }));
      node.appendChild(meta);
    }
    return node;
  }

  function pendingNode(item) {
    var node = el('div', { class: 'msg customer pending', 'data-cmid': item.cmid });
    var bubble = el('div', { class: 'bubble' });
    bubble.appendChild(richText(item.text));
    node.appendChild(bubble);
    node.appendChild(el('div', { class: 'meta' }, [el('span', { class: 'receipt', text: 'Sending…' })]));
    return node;
  }

  function scrollDown() {
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  function insertMessage(m) {
    var node = messageNode(m);
    var kids = ui.log.children;
    var before = null;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      var seq = k.getAttribute('data-seq');
      if (seq === null || Number(seq) > m.seq) {
        before = k;
        break;
      }
    }
    ui.log.insertBefore(node, before);
  }

  function renderTranscript() {
    ui.log.replaceChildren();
    var conv = S.conv;
    if (conv) {
      Object.keys(conv.messages)
        .map(Number)
        .sort(function (a, b) {
          return a - b;
        })
        .forEach(function (seq) {
          ui.log.appendChild(messageNode(conv.messages[seq]));
        });
    }
    S.outbox.forEach(function (item) {
      if (item.el) ui.log.appendChild(item.el);
    });
    updateReceipts();
    scrollDown();
  }

  function updateReceipts() {
    var conv = S.conv;
    var own = ui.log.querySelectorAll('.msg.customer[data-seq]');
    for (var i = 0; i < own.length; i++) {
      var r = own[i].querySelector('.receipt');
      if (!r) continue;
      var last = i === own.length - 1;
      var read = conv && Number(own[i].getAttribute('data-seq')) <= conv.peerRead;
      r.textContent = last ? (read ? ' · Read' : ' · Sent') : '';
    }
  }

  function statusLine(conv) {
    if (!conv) {
      if (S.welcome && S.welcome.office_hours_open === false) return 'Outside office hours';
      return S.welcome && !S.welcome.available ? 'Our experts are away right now' : 'We usually reply in a few minutes';
    }
    if (conv.status === 'abandoned' || conv.status === 'closed' || conv.status === 'solved') return 'Chat ended';
    if (conv.expert && conv.expert.name) {
      if (conv.status === 'pending') return conv.expert.name + ' is waiting for your reply';
      if (conv.status === 'on_hold') return conv.expert.name + ' put the chat on hold';
      return 'You are chatting with ' + conv.expert.name;
    }
    return 'Waiting for an expert…';
  }

  function canEnd(conv) {
    if (!conv || ENDED[conv.status]) return false;
    if (S.mayEnd === 'always') return true;
    if (S.welcome && S.welcome.office_hours_open === false) return true;
    var now = Date.now();
    // (a) the customer has waited abandon_after for an answer from an expert.
    var awaiting = null;
    Object.keys(conv.messages)
      .map(Number)
      .sort(function (a, b) {
        return a - b;
      })
      .forEach(function (seq) {
        var m = conv.messages[seq];
        var kind = m.author && m.author.kind;
        if (kind === 'customer' && awaiting === null) awaiting = Date.parse(m.at) || null;
        else if (kind === 'expert') awaiting = null;
      });
    if (awaiting !== null && now - awaiting >= S.abandonAfter) return true;
    if (conv.lastActivityAt && now - conv.lastActivityAt >= S.inactivityEnd) return true;
    return false;
  }

  var END_REASONS = {
    expert_ended: 'The expert ended this chat.',
    customer_ended: 'You ended this chat.',
    inactivity: 'This chat was ended after a period of inactivity.',
    left_site: 'This chat was closed because you left the site.',
    abandoned: 'This chat was closed before an expert could answer.',
    closed_after_solved: 'This chat is closed.',
    no_response: 'No expert could answer in time.',
  };

  function render() {
    var conv = S.conv;
    var w = S.welcome;
    ui.subtitle.textContent = statusLine(conv);
    ui.avatar.textContent = conv && conv.expert && conv.expert.name ? conv.expert.name.trim().charAt(0).toUpperCase() : 'S';
    ui.end.hidden = !canEnd(conv);

    var hasMessages = !!(conv && conv.maxSeq) || S.outbox.length > 0;
    ui.intro.hidden = hasMessages;

    var waiting = conv && (conv.status === 'queued' || conv.status === 'offered') && conv.queue;
    ui.queue.hidden = !waiting;
    if (waiting) {
      ui.queue.textContent =
        conv.queue === 1 ? 'You are next in line.' : 'You are number ' + conv.queue + ' in line.';
    }

    // Offline / closed: tell the customer and offer a callback.
    var closedHours = w && w.office_hours_open === false;
    var noExperts = w && w.available === false;
    var idle = !conv || TERMINAL[conv.status] || conv.status === 'solved';
    ui.offline.hidden = !(w && idle && (closedHours || noExperts));
    if (!ui.offline.hidden) {
      ui.offline.replaceChildren(
        el('h3', { text: closedHours ? 'We are closed right now' : 'No expert is available right now' }),
        el('p', {
          text: closedHours
            ? 'Our team is outside office hours. Leave your number and we will call you back.'
            : 'You can still leave a message and we will answer as soon as someone is back, or ask for a callback.',
        })
      );
      if (closedHours && w.office_hours) ui.offline.appendChild(hoursNode(w.office_hours));
      if (!closedHours && !S.callbackSent) {
        ui.offline.appendChild(
          el('button', {
            class: 'link-btn',
            type: 'button',
            text: S.showCallback ? 'Hide the callback form' : 'Request a callback instead',
            onclick: function () {
              S.showCallback = !S.showCallback;
              render();
            },
          })
        );
      }
    }
    ui.callback.hidden = !(w && idle && (closedHours || (noExperts && (S.showCallback || S.callbackSent))));

    // Category choice before the first message.
    var cats = (w && w.categories) || [];
    var choose = w && idle && !OPTIONS.category && cats.length > 1 && !closedHours && !S.outbox.length;
    ui.cats.hidden = !choose;
    if (choose) {
      var group = ui.cats.querySelector('.cats');
      group.replaceChildren();
      cats.forEach(function (c) {
        group.appendChild(
          el('button', {
            class: 'cat',
            type: 'button',
            role: 'radio',
            'aria-checked': String(S.category === c.id),
            'data-category': c.id,
            text: c.name || c.id,
            onclick: function () {
              S.category = c.id;
              render();
              ui.input.focus();
            },
          })
        );
      });
    }

    // The end of a chat, and the rating form.
    var ended = conv && ENDED[conv.status];
    ui.ended.hidden = !ended;
    if (ended) {
      ui.ended.replaceChildren(
        el('h3', { text: 'Chat ended' }),
        el('p', { text: END_REASONS[conv.reason] || 'This chat has ended.' }),
        el('p', { text: TERMINAL[conv.status] ? 'Write below to start a new chat.' : 'Need anything else? Just write below.' })
      );
    }
    var rateable = !!(conv && (conv.status === 'solved' || conv.status === 'closed') && (conv.expert || conv.expertAnswered));
    var rated = rateable && S.rated[conv.id];
    ui.thanks.hidden = !rated;
    if (rated) ui.thanks.lastChild.textContent = 'You rated this chat ' + rated + ' of 5.';
    if (rateable && !rated && ui.rating.hidden) ui.rating.clear();
    ui.rating.hidden = !rateable || !!rated;

    ui.composer.hidden = !!(w && closedHours && idle);
    ui.input.placeholder = conv && TERMINAL[conv.status] ? 'Start a new chat…' : 'Type your message…';
    renderBadge();
  }

  // Office hours as the server describes them: {timezone, days:[{day, hours:[...]}], holidays}.
  // Consecutive days with the same hours are grouped: "Mon–Fri 09:00–17:00".
  function hoursNode(h) {
    var short = { monday: 'Mon', tuesday: 'Tue', wednesday: 'Wed', thursday: 'Thu', friday: 'Fri', saturday: 'Sat', sunday: 'Sun' };
    var groups = [];
    (h.days || []).forEach(function (d) {
      var hours = (d.hours || []).join(', ').replace(/-/g, '–');
      var last = groups[groups.length - 1];
      if (last && last.hours === hours) last.to = d.day;
      else groups.push({ from: d.day, to: d.day, hours: hours });
    });
    var list = el('dl', { class: 'hours', 'aria-label': 'Office hours' });
    groups.forEach(function (g) {
      var days = short[g.from] || g.from;
      if (g.to !== g.from) days += '–' + (short[g.to] || g.to);
      list.appendChild(el('dt', { text: days }));
      list.appendChild(el('dd', { text: g.hours || 'closed' }));
    });
    return el('div', { class: 'hours-box' }, [
      el('div', { class: 'hours-title', text: 'Office hours' + (h.timezone ? ' (' + h.timezone + ')' : '') }),
      list,
    ]);
  }

  function renderBadge() {
    ui.badge.hidden = S.open || S.unread === 0;
    ui.badge.textContent = S.unread > 9 ? '9+' : String(S.unread);
    ui.launcher.setAttribute('aria-label', S.unread && !S.open ? 'Open chat, ' + S.unread + ' unread' : S.open ? 'Hide chat' : 'Open chat');
  }

  var toastTimer = null;
  function toast(text) {
    ui.toast.textContent = text;
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      ui.toast.hidden = true;
    }, 6000);
  }

  function setConnState(text) {
    ui.conn.hidden = !text;
    ui.conn.textContent = text || '';
  }

  function setOpen(open, byUser) {
    S.open = open;
    setItem('open', open ? '1' : null, 'session');
    ui.panel.hidden = !open;
    ui.launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      S.unread = 0;
      render();
      scrollDown();
      sendRead();
      if (byUser) ui.input.focus();
    } else {
      renderBadge();
      if (byUser) ui.launcher.focus();
    }
  }

  function setCurrent(conv) {
    if (S.conv === conv) return;
    S.conv = conv;
    setItem('conversation', conv ? conv.id : null, 'session');
    ui.typing.textContent = '';
    renderTranscript();
    render();
  }

  // ---------------------------------------------------------------- messages

  function addMessage(m) {
    if (!m || !m.conversation_id || typeof m.seq !== 'number') return;
    var conv = record(m.conversation_id);
    if (conv.messages[m.seq]) return; // already shown: sequence numbers make replays harmless
    conv.messages[m.seq] = m;
    if (m.seq > conv.maxSeq) conv.maxSeq = m.seq;
    var at = Date.parse(m.at) || Date.now();
    if (m.seq === 1 || !conv.startedAt) conv.startedAt = conv.startedAt ? Math.min(conv.startedAt, at) : at;
    if (!conv.lastActivityAt || at > conv.lastActivityAt) conv.lastActivityAt = at;
    var kind = m.author && m.author.kind;
    if (kind === 'expert') {
      conv.expertAnswered = true;
      if (!conv.expert && m.author.name) conv.expert = { id: m.author.id, name: m.author.name };
    }
    if (!S.conv || (S.conv !== conv && TERMINAL[S.conv.status])) {
      setCurrent(conv);
      return;
    }
    if (S.conv !== conv) return;
    var nearBottom = ui.body.scrollHeight - ui.body.scrollTop - ui.body.clientHeight < 80;
    insertMessage(m);
    if (kind === 'customer') updateReceipts();
    else {
      hidePeerTyping();
      if (!S.open && !S.syncing) {
        S.unread++;
      }
      sendRead();
    }
    if (nearBottom || kind === 'customer') scrollDown();
    render();
  }

  function sendRead() {
    var conv = S.conv;
    if (!conv || !S.open || !S.welcomed || document.visibilityState === 'hidden' || TERMINAL[conv.status]) return;
    var seq = conv.maxSeq;
    if (!seq || (S.lastReadSent[conv.id] || 0) >= seq) return;
    S.lastReadSent[conv.id] = seq;
    send({ type: 'read', conversation_id: conv.id, seq: seq });
  }

  function showPeerTyping(on) {
    clearTimeout(S.peerTypingTimer);
    if (!on) return hidePeerTyping();
    var who = (S.conv && S.conv.expert && S.conv.expert.name) || 'The expert';
    ui.typing.replaceChildren(document.createTextNode(who + ' is typing'), el('span', { class: 'dots' }));
    // Never leave a stale indicator if the "off" frame is lost.
    S.peerTypingTimer = setTimeout(hidePeerTyping, 15000);
  }
  function hidePeerTyping() {
    clearTimeout(S.peerTypingTimer);
    ui.typing.textContent = '';
  }

  // ---------------------------------------------------------------- composing and sending

  function onInput() {
    ui.input.style.height = 'auto';
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + 'px';
    var conv = S.conv;
    if (!conv || ENDED[conv.status] || !S.welcomed) return;
    if (!ui.input.value.trim()) {
      stopTyping();
      return;
    }
    if (!S.typingOn) {
      S.typingOn = true;
      send({ type: 'typing', conversation_id: conv.id, on: true });
    }
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(stopTyping, 3000);
  }

  function stopTyping() {
    clearTimeout(S.typingTimer);
    if (!S.typingOn) return;
    S.typingOn = false;
    var conv = S.conv;
    if (conv && S.welcomed && !ENDED[conv.status]) send({ type: 'typing', conversation_id: conv.id, on: false });
  }

  function submitComposer() {
    var text = ui.input.value.replace(/\s+$/, '').replace(/^\s*\n/, '');
    if (!text.trim()) return;
    var conv = S.conv;
    var starting = !conv || TERMINAL[conv.status];
    var cats = (S.welcome && S.welcome.categories) || [];
    if (starting && !S.category && cats.length > 1) {
      toast('Please choose a topic first.');
      var first = ui.cats.querySelector('.cat');
      if (first) first.focus();
      return;
    }
    stopTyping();
    ui.input.value = '';
    onInput();
    var item = {
      cmid: uuid(),
      text: text,
      kind: 'send',
      conversation_id: conv && !TERMINAL[conv.status] ? conv.id : null,
      category: S.category || (cats[0] && cats[0].id) || undefined,
    };
    if (starting) {
      // A pending start already in the outbox carries this one along.
      var startQueued = S.outbox.some(function (o) {
        return o.kind === 'start';
      });
      item.kind = startQueued ? 'send' : 'start';
      if (conv && !startQueued) setCurrent(null);
    }
    item.el = pendingNode(item);
    S.outbox.push(item);
    ui.log.appendChild(item.el);
    scrollDown();
    render();
    flushOutbox();
  }

  function flushOutbox() {
    if (S.flushing || !S.welcomed) return;
    var item = S.outbox[0];
    if (!item) return;
    S.flushing = true;
    var frame;
    if (item.kind === 'start') {
      frame = { type: 'start', text: item.text, client_msg_id: item.cmid, page: currentPage() };
      if (item.category) frame.category = item.category;
    } else {
      var id = item.conversation_id || (S.conv && S.conv.id);
      if (!id) {
        item.kind = 'start';
        S.flushing = false;
        return flushOutbox();
      }
      item.conversation_id = id;
      frame = { type: 'send', conversation_id: id, text: item.text, client_msg_id: item.cmid };
    }
    request(frame).then(
      function (ack) {
        S.outbox.shift();
        if (item.el && item.el.parentNode) item.el.parentNode.removeChild(item.el);
        if (item.kind === 'start') {
          var conv = record(ack.conversation_id);
          conv.status = conv.status || 'queued';
          conv.startedAt = conv.startedAt || Date.now();
          setCurrent(conv);
        }
        addMessage(ack.message);
        updateReceipts();
        S.flushing = false;
        flushOutbox();
      },
      function (err) {
        S.flushing = false;
        if (err.code === 'disconnected' || err.code === 'timeout') return; // resent after reconnecting
        if (err.code === 'closed' && item.kind === 'send') {
          // The chat ended meanwhile: this message starts a new one.
          item.kind = 'start';
          item.conversation_id = null;
          if (S.conv && S.conv.id === frame.conversation_id) {
            S.conv.status = S.conv.status === 'solved' ? 'closed' : S.conv.status;
          }
          return flushOutbox();
        }
        S.outbox.shift();
        markFailed(item, err);
        flushOutbox();
      }
    );
  }

  function markFailed(item, err) {
    var node = item.el;
    if (!node) return;
    node.classList.remove('pending');
    node.classList.add('failed');
    var meta = node.querySelector('.meta');
    meta.replaceChildren(
      document.createTextNode('Not sent: ' + errorText(err) + ' '),
      el('button', {
        class: 'retry',
        type: 'button',
        text: 'Retry',
        onclick: function () {
          node.classList.remove('failed');
          node.classList.add('pending');
          meta.replaceChildren(el('span', { class: 'receipt', text: 'Sending…' }));
          item.kind = S.conv && !TERMINAL[S.conv.status] ? 'send' : 'start';
          item.conversation_id = item.kind === 'send' ? S.conv.id : null;
          S.outbox.push(item);
          ui.log.appendChild(node);
          flushOutbox();
        },
      })
    );
  }

  function endChat() {
    var conv = S.conv;
    if (!conv) return;
    if (!window.confirm('End this chat?')) return;
    ui.end.disabled = true;
    request({ type: 'end', conversation_id: conv.id }).then(
      function () {
        ui.end.disabled = false;
        if (!ENDED[conv.status]) {
          conv.status = conv.expertAnswered ? 'solved' : 'abandoned';
          conv.reason = 'customer_ended';
        }
        render();
      },
      function (err) {
        ui.end.disabled = false;
        toast(errorText(err));
      }
    );
  }

  function errorText(err) {
    if (!err) return 'Something went wrong.';
    if (err.code === 'disconnected' || err.code === 'timeout') return 'Connection lost, please try again.';
    if (err.code === 'not_allowed' && err.message) return err.message;
    return err.message || err.code || 'Something went wrong.';
  }

  // ---------------------------------------------------------------- connection

  function send(frame) {
    if (!S.ws || S.ws.readyState !== 1) return false;
    try {
      S.ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function request(frame) {
    return new Promise(function (resolve, reject) {
      if (!S.ws || S.ws.readyState !== 1 || (!S.welcomed && frame.type !== 'hello')) {
        return reject({ code: 'disconnected', message: 'not connected' });
      }
      var ref = 'w' + S.nextRef++;
      frame.ref = ref;
      var entry = { resolve: resolve, reject: reject };
      entry.timer = setTimeout(function () {
        delete S.pending[ref];
        reject({ code: 'timeout', message: 'The server did not answer in time.' });
      }, 20000);
      S.pending[ref] = entry;
      if (!send(frame)) {
        clearTimeout(entry.timer);
        delete S.pending[ref];
        reject({ code: 'disconnected', message: 'not connected' });
      }
    });
  }

  function failPending() {
    Object.keys(S.pending).forEach(function (ref) {
      var p = S.pending[ref];
      clearTimeout(p.timer);
      delete S.pending[ref];
      p.reject({ code: 'disconnected', message: 'connection lost' });
    });
  }

  function connect() {
    clearTimeout(S.retryTimer);
    if (S.stopped) return;
    if (S.ws && (S.ws.readyState === 0 || S.ws.readyState === 1)) return;
    var ws;
    try {
      ws = new WebSocket(WS_URL);
    } catch (e) {
      return scheduleReconnect();
    }
    S.ws = ws;
    ws.onopen = function () {
      var hello = { type: 'hello', page: currentPage() };
      if (OPTIONS.user) hello.user = OPTIONS.user;
      else if (S.token) hello.visitor_token = S.token;
      request(hello).then(onWelcome, function (err) {
        if (err && err.code === 'unauthorized') {
          S.stopped = true;
          setConnState('Chat is unavailable: ' + (err.message || 'not authorised'));
        }
      });
    };
    ws.onmessage = function (ev) {
      var f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      onFrame(f);
    };
    ws.onclose = function (ev) {
      if (S.ws !== ws) return;
      S.ws = null;
      S.welcomed = false;
      S.typingOn = false;
      failPending();
      hidePeerTyping();
      if (ev.code === 1008 && S.stopped) return;
      scheduleReconnect();
    };
    ws.onerror = function () {
      /* onclose follows */
    };
  }

  function scheduleReconnect() {
    if (S.stopped) return;
    clearTimeout(S.retryTimer);
    var base = Math.min(30000, 500 * Math.pow(2, S.attempt));
    var delay = Math.round(base / 2 + Math.random() * base / 2);
    S.attempt++;
    setConnState(S.attempt > 1 ? 'Reconnecting… (next try in ' + Math.ceil(delay / 1000) + ' s)' : 'Reconnecting…');
    S.retryTimer = setTimeout(connect, delay);
  }

  function onWelcome(w) {
    S.welcome = w;
    S.welcomed = true;
    S.attempt = 0;
    setConnState(null);
    if (w.visitor_token) {
      S.token = w.visitor_token;
      setItem('visitor_token', w.visitor_token);
    }
    if (typeof w.abandon_after_ms === 'number') S.abandonAfter = w.abandon_after_ms;
    if (typeof w.inactivity_end_ms === 'number') S.inactivityEnd = w.inactivity_end_ms;
    if (w.customer_may_end) S.mayEnd = w.customer_may_end;
    if (!S.category && w.categories && w.categories.length === 1) S.category = w.categories[0].id;

    var list = w.conversations || [];
    list.forEach(function (b) {
      var c = record(b.id);
      if (b.status) c.status = b.status;
      if (b.expert && b.expert.name) c.expert = b.expert;
    });
    // Which conversation to show: the one already shown, else the latest live one, else the
    // one this browser tab showed last (so an ended chat can still be rated after navigating).
    var current = S.conv;
    if (!current) {
      for (var i = list.length - 1; i >= 0; i--) {
        if (!TERMINAL[list[i].status]) {
          current = record(list[i].id);
          break;
        }
      }
    }
    if (!current) {
      var last = getItem('conversation', 'session');
      if (last && list.some(function (b) { return b.id === last; })) current = record(last);
    }
    if (current && current !== S.conv) setCurrent(current);
    render();

    // Catch up on everything missed, then send what the customer wrote meanwhile.
    var syncs = [];
    Object.keys(S.convs).forEach(function (id) {
      var c = S.convs[id];
      var listed = list.some(function (b) { return b.id === id; });
      if (c === S.conv || (listed && !TERMINAL[c.status])) {
        syncs.push(syncConversation(c));
      }
    });
    if (S.conv) fetchDetails(S.conv);
    S.syncing = true;
    Promise.all(syncs).then(function () {
      S.syncing = false;
      flushOutbox();
      sendRead();
      render();
    });
  }

  function syncConversation(conv) {
    return request({ type: 'sync', conversation_id: conv.id, after_seq: conv.maxSeq }).then(
      function (ack) {
        return ack;
      },
      function (err) {
        if (err && err.code === 'not_found') delete S.convs[conv.id];
      }
    );
  }

  // Who is serving the chat, after a reload (the `assigned` event is not replayed).
  function fetchDetails(conv) {
    // Same origin only: a cross-origin fetch would need CORS from the server.
    if (conv.expert || !S.token || !window.fetch || ORIGIN.origin !== location.origin) return;
    fetch(API + '/conversations/' + encodeURIComponent(conv.id), {
      headers: { Authorization: 'Bearer ' + S.token },
    })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (c) {
        if (!c) return;
        if (c.expert && c.expert.name) conv.expert = c.expert;
        if (c.status) conv.status = c.status;
        render();
      })
      .catch(function () {});
  }

  function onFrame(f) {
    if (f.ref !== undefined && f.ref !== null && S.pending[f.ref]) {
      var p = S.pending[f.ref];
      clearTimeout(p.timer);
      delete S.pending[f.ref];
      if (f.type === 'error') p.reject(f);
      else p.resolve(f);
      return;
    }
    var conv;
    switch (f.type) {
      case 'message':
        addMessage(f.message);
        break;
      case 'queue':
        conv = record(f.conversation_id);
        conv.queue = f.position;
        if (conv === S.conv) render();
        break;
      case 'assigned':
        conv = record(f.conversation_id);
        conv.expert = f.expert;
        conv.queue = null;
        if (conv.status === 'queued' || conv.status === 'offered') conv.status = 'open';
        if (conv === S.conv) render();
        break;
      case 'status':
        conv = record(f.conversation_id);
        conv.status = f.status;
        conv.reason = f.reason || conv.reason;
        if (f.status !== 'queued' && f.status !== 'offered') conv.queue = null;
        if (conv === S.conv) {
          if (ENDED[f.status]) {
            hidePeerTyping();
            stopTyping();
          }
          render();
        }
        break;
      case 'typing':
        if (S.conv && f.conversation_id === S.conv.id) showPeerTyping(!!f.on);
        break;
      case 'read':
        conv = record(f.conversation_id);
        if (f.seq > conv.peerRead) conv.peerRead = f.seq;
        if (conv === S.conv) updateReceipts();
        break;
      case 'push_chat':
        conv = record(f.conversation_id);
        conv.status = 'open';
        conv.expert = f.expert || conv.expert;
        setCurrent(conv);
        syncConversation(conv);
        setOpen(true, false);
        break;
      case 'error':
        toast(errorText(f));
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- page tracking

  var lastPage = location.href;
  function pageChanged() {
    if (location.href === lastPage) return;
    lastPage = location.href;
    if (S.welcomed) {
      var p = currentPage();
      send({ type: 'page', url: p.url, title: p.title });
    }
  }
  ['pushState', 'replaceState'].forEach(function (name) {
    var original = history[name];
    if (typeof original !== 'function') return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      setTimeout(pageChanged, 0);
      return result;
    };
  });
  window.addEventListener('popstate', pageChanged);
  window.addEventListener('hashchange', pageChanged);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') {
      sendRead();
      if (!S.ws && !S.stopped) connect();
    }
  });
  window.addEventListener('online', function () {
    S.attempt = 0;
    if (!S.ws) connect();
  });

  // ---------------------------------------------------------------- start

  function init() {
    build();
    setOpen(S.open, false);
    render();
    connect();
    // Time-based rules (when "End chat" may be offered) need a clock.
    setInterval(function () {
      if (S.conv && !ENDED[S.conv.status]) {
        var show = canEnd(S.conv);
        if (ui.end.hidden === show) ui.end.hidden = !show;
      }
    }, 1000);
  }

  window.SwitchboardWidget = {
    open: function () {
      setOpen(true, true);
    },
    close: function () {
      setOpen(false, false);
    },
  };

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
