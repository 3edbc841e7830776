/*
 * Switchboard expert console. Plain JS, no build step. Talks to the server over
 * PROTOCOL.md v1: REST under /api/v1 and the websocket /ws/expert.
 */
(function () {
  'use strict';

  var $ = SwitchboardDom.$;
  var el = SwitchboardDom.el;
  var toast = SwitchboardDom.toast;

  var API = '/api/v1';
  var WS_URL = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/expert';
  var ENDED = { solved: true, closed: true, abandoned: true };
  var STATUS_LABEL = {
    queued: 'Queued',
    offered: 'Offered',
    open: 'Open',
    pending: 'Pending',
    on_hold: 'On hold',
    solved: 'Solved',
    closed: 'Closed',
    abandoned: 'Abandoned',
  };
  var REASONS = {
    expert_ended: 'you ended the chat',
    customer_ended: 'the customer ended the chat',
    inactivity: 'no activity',
    left_site: 'the customer left the site',
    abandoned: 'abandoned',
    closed_after_solved: 'closed after being solved',
    reopened: 'the customer wrote again',
    transferred: 'transferred',
    no_response: 'no response',
  };

  // ------------------------------------------------------------------ helpers

  var LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function richText(text) {
    text = String(text == null ? '' : text);
    var frag = document.createDocumentFragment();
    var last = 0;
    text.replace(LINK_RE, function (raw, index) {
      var url = raw.replace(/[.,;:!?)\]}]+$/, '');
      var href = safeHref(url);
      if (!href) return raw;
      if (index > last) frag.appendChild(document.createTextNode(text.slice(last, index)));
      frag.appendChild(link(href, url));
      last = index + url.length;
      return raw;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function safeHref(url) {
    try {
      var u = new URL(url);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(href, text) {
    var a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = text;
    return a;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) {
      try {
        return crypto.randomUUID();
      } catch (e) {
        /* insecure context */
      }
    }
    return 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function clock(at) {
    var d = at ? new Date(at) : new Date();
    if (isNaN(d)) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function when(at) {
    var d = new Date(at);
    if (!at || isNaN(d)) return '';
    var today = new Date().toDateString() === d.toDateString();
    return today ? clock(at) : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + clock(at);
  }

  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
  }

  function customerLabel(c) {
    if (!c) return 'Customer';
    return c.name || c.email || (c.external_id ? 'User ' + c.external_id : 'Visitor ' + String(c.id || '').slice(-6));
  }

  function errorText(err) {
    if (!err) return 'Something went wrong.';
    if (err.code === 'disconnected') return 'Not connected to the server. Retrying…';
    return err.message || err.code || 'Something went wrong.';
  }

  function listOf(body, keys) {
    if (Array.isArray(body)) return body;
    for (var i = 0; i < keys.length; i++) if (body && Array.isArray(body[keys[i]])) return body[keys[i]];
    return [];
  }

  // ------------------------------------------------------------------ state

  var S = {
    token: sessionStorage.getItem('switchboard.token'),
    expert: JSON.parse(sessionStorage.getItem('switchboard.expert') || 'null'),
    ws: null,
    welcomed: false,
    attempt: 0,
    retryTimer: null,
    nextRef: 1,
    pending: {},
    presence: 'offline',
    convs: {}, // id -> chat record (tabs)
    order: [], // tab order
    active: null,
    offers: {}, // id -> offer record
    claimable: {}, // id -> summary
    categories: {},
    canned: null,
    enterSends: localStorage.getItem('switchboard.enterSends') !== '0',
    audio: null,
  };

  // ------------------------------------------------------------------ REST

  function api(method, path, body) {
    return SwitchboardDom.fetchJson(API + path, S.token, method, body);
  }

  // ------------------------------------------------------------------ login

  function showLogin(message) {
    $('app').hidden = true;
    $('login-view').hidden = false;
    $('login-error').textContent = message || '';
    $('login-username').focus();
  }

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    unlockAudio();
    var btn = $('login-submit');
    btn.disabled = true;
    $('login-error').textContent = '';
    api('POST', '/login', { username: $('login-username').value.trim(), password: $('login-password').value })
      .then(function (r) {
        S.token = r.token;
        S.expert = r.expert;
        sessionStorage.setItem('switchboard.token', r.token);
        sessionStorage.setItem('switchboard.expert', JSON.stringify(r.expert || null));
        $('login-password').value = '';
        startApp();
      })
      .catch(function (err) {
        $('login-error').textContent =
          err.status === 401 ? 'Wrong username or password.' : errorText(err);
      })
      .then(function () {
        btn.disabled = false;
      });
  });

  function logout(message) {
    var token = S.token;
    if (token) api('POST', '/logout').catch(function () {});
    S.token = null;
    S.expert = null;
    sessionStorage.removeItem('switchboard.token');
    sessionStorage.removeItem('switchboard.expert');
    clearTimeout(S.retryTimer);
    if (S.ws) {
      var ws = S.ws;
      S.ws = null;
      ws.close();
    }
    S.welcomed = false;
    Object.keys(S.convs).forEach(function (id) {
      removeChat(id);
    });
    Object.keys(S.offers).forEach(removeOffer);
    S.claimable = {};
    renderClaimable();
    showLogin(message);
  }

  $('logout-btn').addEventListener('click', function () {
    logout('');
  });

  function startApp() {
    $('login-view').hidden = true;
    $('app').hidden = false;
    $('me-name').textContent = (S.expert && S.expert.name) || '';
    renderNotifyButton();
    connect();
    loadCanned();
    loadFollowUp();
    loadCallbacks();
  }

  // ------------------------------------------------------------------ sound and notifications

  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!S.audio) {
      try {
        S.audio = new Ctx();
      } catch (e) {
        return;
      }
    }
    if (S.audio.state === 'suspended') S.audio.resume().catch(function () {});
  }
  document.addEventListener('pointerdown', unlockAudio, { passive: true });
  document.addEventListener('keydown', unlockAudio, { passive: true });

  function beep(times) {
    var ctx = S.audio;
    if (!ctx || ctx.state !== 'running') return;
    var t = ctx.currentTime;
    for (var i = 0; i < (times || 2); i++) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = i % 2 ? 1046 : 784;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.18);
      t += 0.2;
    }
  }

  function renderNotifyButton() {
    var b = $('notify-btn');
    b.hidden = !('Notification' in window) || Notification.permission !== 'default';
  }
  $('notify-btn').addEventListener('click', function () {
    if (!('Notification' in window)) return;
    var done = function () {
      renderNotifyButton();
      if (Notification.permission === 'granted') toast('Desktop notifications are on.');
    };
    var p = Notification.requestPermission(done);
    if (p && p.then) p.then(done);
  });

  function notify(title, body, tag, onclick) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    try {
      var n = new Notification(title, { body: body, tag: tag });
      n.onclick = function () {
        window.focus();
        if (onclick) onclick();
        n.close();
      };
    } catch (e) {
      /* some browsers only allow notifications from a service worker */
    }
  }

  // ------------------------------------------------------------------ websocket

  function send(frame) {
    if (!S.ws || S.ws.readyState !== 1) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }

  function request(frame) {
    return new Promise(function (resolve, reject) {
      if (!S.ws || S.ws.readyState !== 1 || (!S.welcomed && frame.type !== 'hello')) {
        return reject({ code: 'disconnected', message: 'Not connected to the server.' });
      }
      var ref = 'c' + S.nextRef++;
      frame.ref = ref;
      var entry = { resolve: resolve, reject: reject };
      entry.timer = setTimeout(function () {
        delete S.pending[ref];
        reject({ code: 'timeout', message: 'The server did not answer in time.' });
      }, 20000);
      S.pending[ref] = entry;
      send(frame);
    });
  }

  function connect() {
    clearTimeout(S.retryTimer);
    if (!S.token) return;
    if (S.ws && S.ws.readyState <= 1) return;
    var ws = new WebSocket(WS_URL);
    S.ws = ws;
    ws.onopen = function () {
      request({ type: 'hello', token: S.token }).then(onWelcome, function (err) {
        if (err.code === 'unauthorized') logout('Your session has expired. Please sign in again.');
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
    ws.onclose = function () {
      if (S.ws !== ws) return;
      S.ws = null;
      S.welcomed = false;
      Object.keys(S.pending).forEach(function (ref) {
        var p = S.pending[ref];
        clearTimeout(p.timer);
        delete S.pending[ref];
        p.reject({ code: 'disconnected', message: 'Connection lost.' });
      });
      // Offers stay up until their deadline: the server may still hold them for us, and
      // an accept after reconnecting gets `conflict` if not.
      setPresence('offline');
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (!S.token) return;
    var base = Math.min(30000, 500 * Math.pow(2, S.attempt));
    var delay = Math.round(base / 2 + (Math.random() * base) / 2);
    S.attempt++;
    setConn('Connection lost. Reconnecting in ' + Math.ceil(delay / 1000) + ' s…');
    S.retryTimer = setTimeout(connect, delay);
  }

  function setConn(text) {
    $('conn-state').hidden = !text;
    $('conn-state').textContent = text || '';
  }

  function onWelcome(w) {
    S.welcomed = true;
    S.attempt = 0;
    setConn(null);
    if (w.expert) {
      S.expert = Object.assign({}, S.expert || {}, w.expert);
      $('me-name').textContent = S.expert.name || '';
    }
    setPresence(w.presence || 'available');
    (w.conversations || []).forEach(function (c) {
      var chat = ensureChat(c);
      syncChat(chat);
    });
    // Chats we show that the server no longer lists for us are stale after a long outage.
    S.claimable = {};
    (w.claimable || []).forEach(function (c) {
      S.claimable[c.id] = c;
      noteCategory(c.category);
    });
    renderClaimable();
    Object.keys(S.convs).forEach(function (id) {
      var listed = (w.conversations || []).some(function (c) {
        return c.id === id;
      });
      if (!listed) syncChat(S.convs[id]);
    });
    if (!S.active && S.order.length) selectChat(S.order[0]);
  }

  function syncChat(chat, attempt) {
    return request({ type: 'sync', conversation_id: chat.id, after_seq: chat.maxSeq }).catch(function (err) {
      if ((err.code === 'rate_limited' || err.code === 'timeout') && (attempt || 0) < 5 && S.convs[chat.id]) {
        return new Promise(function (r) {
          setTimeout(r, 1000 * ((attempt || 0) + 1));
        }).then(function () {
          return syncChat(chat, (attempt || 0) + 1);
        });
      }
      if (err.code === 'forbidden') {
        toast('You no longer have access to a chat with ' + customerLabel(chat.customer) + '.');
        removeChat(chat.id);
      } else if (err.code !== 'disconnected') {
        toast('Could not refresh the chat with ' + customerLabel(chat.customer) + ': ' + errorText(err), 'error');
      }
    });
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
    var chat;
    switch (f.type) {
      case 'offer':
        addOffer(f);
        break;
      case 'offer_withdrawn':
        if (S.offers[f.conversation_id]) {
          var o = S.offers[f.conversation_id];
          removeOffer(f.conversation_id);
          var why = { expired: 'it expired', declined: 'you declined', lapsed: 'it expired', timeout: 'it expired' }[f.reason] || f.reason || 'withdrawn';
          if (f.reason !== 'declined') toast('Offer from ' + customerLabel(o.conv.customer) + ' withdrawn: ' + why + '.');
        }
        break;
      case 'message':
        onMessage(f.message);
        break;
      case 'status':
        chat = S.convs[f.conversation_id];
        if (chat) {
          chat.status = f.status;
          chat.reason = f.reason || null;
          if (ENDED[f.status]) {
            chat.nudge = null;
            chat.typing = false;
          }
          renderChat(chat);
        }
        if (f.status !== 'queued' && f.status !== 'offered' && S.offers[f.conversation_id]) removeOffer(f.conversation_id);
        break;
      case 'typing':
        chat = S.convs[f.conversation_id];
        if (chat) setPeerTyping(chat, !!f.on);
        break;
      case 'read':
        chat = S.convs[f.conversation_id];
        if (chat) {
          chat.peerRead = Math.max(chat.peerRead, f.seq || 0);
          renderReceipts(chat);
        }
        break;
      case 'page':
        chat = S.convs[f.conversation_id];
        if (chat) {
          chat.page = { url: f.url, title: f.title };
          renderInfo(chat);
        }
        break;
      case 'presence':
        setPresence(f.status);
        if (f.reason) {
          var reason = { missed_offers: 'after missed offers' }[f.reason] || '(' + f.reason + ')';
          toast('Your presence was set to ' + f.status + ' ' + reason + '.', 'warn');
        }
        break;
      case 'nudge':
        chat = S.convs[f.conversation_id];
        if (chat) {
          chat.nudge = { waiting_ms: f.waiting_ms, since: Date.now() };
          renderChat(chat);
          beep(1);
          notify('Customer waiting', customerLabel(chat.customer) + ' has been waiting ' + duration(f.waiting_ms) + ' for a reply.', 'nudge-' + chat.id, function () {
            selectChat(chat.id);
          });
        }
        break;
      case 'claimable':
        if (f.conversation) {
          S.claimable[f.conversation.id] = f.conversation;
          noteCategory(f.conversation.category);
          renderClaimable();
          beep(1);
          notify('Chat to claim', customerLabel(f.conversation.customer), 'claim-' + f.conversation.id);
        }
        break;
      case 'claimed':
        if (S.claimable[f.conversation_id]) {
          delete S.claimable[f.conversation_id];
          renderClaimable();
        }
        break;
      case 'released':
        if (S.convs[f.conversation_id]) {
          var lost = S.convs[f.conversation_id];
          toast('The chat with ' + customerLabel(lost.customer) + ' was released' + (f.reason ? ' (' + (REASONS[f.reason] || f.reason.replace(/_/g, ' ')) + ')' : '') + '.', 'warn');
          removeChat(f.conversation_id);
        }
        break;
      case 'transferred':
        chat = S.convs[f.conversation_id];
        var from = f.from && typeof f.from === 'object' ? f.from.name || f.from.id : f.from;
        if (!chat) {
          chat = ensureChat({ id: f.conversation_id, status: 'open' });
          fetchConversation(chat);
          beep(2);
        }
        chat.transfer = { from: from || null, note: f.note || null };
        syncChat(chat);
        renderChat(chat);
        toast('Chat transferred to you' + (from ? ' by ' + from : '') + '.');
        notify('Chat transferred to you', (from ? 'From ' + from + '. ' : '') + (f.note || ''), 'transfer-' + f.conversation_id, function () {
          selectChat(f.conversation_id);
        });
        if (!S.active) selectChat(chat.id);
        break;
      case 'error':
        toast(errorText(f), 'error');
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ presence

  function setPresence(p) {
    S.presence = p;
    $('presence-select').value = p;
    $('presence-dot').className = 'dot dot-' + p;
  }

  $('presence-select').addEventListener('change', function (e) {
    var wanted = e.target.value;
    var before = S.presence;
    request({ type: 'presence', status: wanted }).then(
      function () {
        setPresence(wanted);
      },
      function (err) {
        setPresence(before);
        toast(errorText(err), 'error');
      }
    );
  });

  // ------------------------------------------------------------------ offers

  function addOffer(f) {
    var conv = f.conversation;
    if (!conv) return;
    noteCategory(conv.category);
    removeOffer(conv.id);
    var windowMs = f.accept_window_ms || 30000;
    // The time left, as the server counts it: an offer shown again after a reconnect has less
    // than a whole window, and this machine's clock may disagree with the server's.
    var left = typeof f.expires_in_ms === 'number' ? f.expires_in_ms : windowMs;
    var deadline = Date.now() + Math.min(left, windowMs);
    var first = (conv.messages || []).filter(function (m) {
      return m.author && m.author.kind === 'customer';
    })[0];
    var offer = { conv: conv, deadline: deadline, windowMs: windowMs };
    var secs = el('span', { class: 'offer-secs', 'aria-hidden': 'true' });
    var bar = el('div', { class: 'offer-bar' }, [el('span')]);
    var acceptBtn = el('button', {
      class: 'btn btn-primary btn-sm offer-accept',
      type: 'button',
      text: 'Accept',
      onclick: function () {
        acceptOffer(conv.id);
      },
    });
    var declineBtn = el('button', {
      class: 'btn btn-sm offer-decline',
      type: 'button',
      text: 'Decline',
      onclick: function () {
        declineOffer(conv.id);
      },
    });
    offer.countdownSr = el('span', { class: 'sr-only offer-countdown-sr' });
    offer.el = el('li', { class: 'offer', 'data-conversation': conv.id }, [
      el('div', { class: 'offer-top' }, [
        el('strong', { class: 'offer-who', text: customerLabel(conv.customer) }),
        el('span', { class: 'offer-countdown', role: 'timer', 'aria-label': 'Time left to accept' }, [secs]),
      ]),
      el('div', { class: 'offer-meta muted small' }, [
        el('span', { class: 'chip', text: categoryName(conv.category) }),
        conv.page ? ' on ' + (conv.page.title || conv.page.url) : '',
      ]),
      first ? el('p', { class: 'offer-text', text: first.text }) : null,
      bar,
      el('div', { class: 'offer-actions' }, [declineBtn, acceptBtn]),
      offer.countdownSr,
    ]);
    offer.secs = secs;
    offer.bar = bar.firstChild;
    S.offers[conv.id] = offer;
    $('offers-list').prepend(offer.el);
    tickOffer(offer);
    offer.timer = setInterval(function () {
      tickOffer(offer);
    }, 250);
    renderOfferCount();
    beep(2);
    notify('New chat offer', customerLabel(conv.customer) + (first ? ': ' + first.text.slice(0, 120) : ''), 'offer-' + conv.id, function () {
      acceptBtn.focus();
    });
    acceptBtn.focus({ preventScroll: true });
  }

  function tickOffer(offer) {
    var left = Math.max(0, offer.deadline - Date.now());
    var s = Math.ceil(left / 1000);
    offer.secs.textContent = s + ' s';
    offer.bar.style.width = (100 * left) / offer.windowMs + '%';
    offer.el.classList.toggle('offer-urgent', left < 10000);
    if (left <= 0) {
      clearInterval(offer.timer);
      offer.el.classList.add('offer-expired');
      setTimeout(function () {
        if (S.offers[offer.conv.id] === offer) removeOffer(offer.conv.id);
      }, 1500);
    }
  }

  function removeOffer(id) {
    var o = S.offers[id];
    if (!o) return;
    clearInterval(o.timer);
    o.el.remove();
    delete S.offers[id];
    renderOfferCount();
  }

  function renderOfferCount() {
    var n = Object.keys(S.offers).length;
    $('offers-count').hidden = !n;
    $('offers-count').textContent = String(n);
    $('offers-empty').hidden = n > 0;
    document.title = (n ? '(' + n + ') ' : '') + 'Switchboard console';
  }

  function acceptOffer(id) {
    var o = S.offers[id];
    if (o) o.el.querySelectorAll('button').forEach(function (b) {
      b.disabled = true;
    });
    request({ type: 'accept', conversation_id: id }).then(
      function (ack) {
        removeOffer(id);
        var chat = ensureChat(ack.conversation || (o && o.conv) || { id: id });
        chat.status = (ack.conversation && ack.conversation.status) || 'open';
        if (ack.tools) chat.tools = ack.tools;
        (ack.conversation && ack.conversation.messages || []).forEach(function (m) {
          addMessage(chat, m);
        });
        if (!(ack.conversation && ack.conversation.messages)) syncChat(chat);
        renderChat(chat);
        selectChat(id, true);
      },
      function (err) {
        if (err.code === 'conflict' || err.code === 'not_found') {
          removeOffer(id);
          toast('That offer is no longer available.', 'warn');
        } else {
          if (o) o.el.querySelectorAll('button').forEach(function (b) {
            b.disabled = false;
          });
          toast(errorText(err), 'error');
        }
      }
    );
  }

  function declineOffer(id) {
    request({ type: 'decline', conversation_id: id }).then(
      function () {
        removeOffer(id);
      },
      function (err) {
        removeOffer(id);
        if (err.code !== 'conflict') toast(errorText(err), 'error');
      }
    );
  }

  // ------------------------------------------------------------------ claimable

  function renderClaimable() {
    var list = $('claimable-list');
    list.replaceChildren();
    var ids = Object.keys(S.claimable);
    ids.forEach(function (id) {
      var c = S.claimable[id];
      var btn = el('button', {
        class: 'btn btn-primary btn-sm',
        type: 'button',
        text: 'Claim',
        'aria-label': 'Claim the chat with ' + customerLabel(c.customer),
        onclick: function () {
          btn.disabled = true;
          request({ type: 'claim', conversation_id: id }).then(
            function (ack) {
              delete S.claimable[id];
              renderClaimable();
              var chat = ensureChat(ack.conversation || c);
              chat.tools = ack.tools || [];
              chat.attachments = ack.attachments || [];
              (ack.conversation && ack.conversation.messages || []).forEach(function (m) {
                addMessage(chat, m);
              });
              syncChat(chat);
              renderChat(chat);
              selectChat(id, true);
            },
            function (err) {
              btn.disabled = false;
              if (err.code === 'conflict') {
                delete S.claimable[id];
                renderClaimable();
                toast('Another expert claimed that chat first.', 'warn');
              } else toast(errorText(err), 'error');
            }
          );
        },
      });
      list.appendChild(
        el('li', { class: 'side-item', 'data-conversation': id }, [
          el('div', { class: 'side-item-main' }, [
            el('strong', { text: customerLabel(c.customer) }),
            el('span', { class: 'muted small', text: categoryName(c.category) + ' · ' + when(c.created_at) }),
          ]),
          btn,
        ])
      );
    });
    $('claimable-count').hidden = !ids.length;
    $('claimable-count').textContent = String(ids.length);
    $('claimable-empty').hidden = ids.length > 0;
  }

  // ------------------------------------------------------------------ follow-up (abandoned) and callbacks

  /**
   * A side list loaded whole from `path`, refreshed by its button: an answer that a later
   * refresh has overtaken is dropped, so the newest request always wins.
   */
  function sideList(name, path, pick, render, texts) {
    var list = $(name + '-list');
    var empty = $(name + '-empty');
    var seq = 0;
    function load() {
      var mine = ++seq;
      api('GET', path).then(
        function (body) {
          if (mine !== seq) return; // a later refresh is on its way
          var items = pick(body);
          list.replaceChildren();
          empty.textContent = texts.empty;
          empty.hidden = items.length > 0;
          items.forEach(function (item) {
            list.appendChild(render(item));
          });
        },
        function (err) {
          if (mine !== seq) return;
          list.replaceChildren();
          empty.hidden = false;
          empty.textContent = err.status === 404 ? texts.missing : 'Could not load: ' + errorText(err);
        }
      );
    }
    $(name + '-refresh').addEventListener('click', load);
    return load;
  }

  var loadFollowUp = sideList(
    'followup',
    '/abandoned',
    function (body) {
      return listOf(body, ['abandoned', 'conversations', 'items']);
    },
    function (item) {
      // {conversation: summary, online, abandoned_at}
      var conv = item.conversation || item;
      var customer = conv.customer || item.customer || { id: item.customer_id };
      var customerId = customer.id || item.customer_id;
      var firstMsg = (conv.messages || []).filter(function (m) {
        return m.author && m.author.kind === 'customer';
      })[0];
      var first = item.text || (firstMsg && firstMsg.text) || '';
      var online = item.online === true;
      item.ended_at = item.abandoned_at || conv.ended_at || item.ended_at;
      item.created_at = conv.created_at || item.created_at;
      return el('li', { class: 'side-item' }, [
        el('div', { class: 'side-item-main' }, [
          el('strong', {}, [customerLabel(customer), online ? el('span', { class: 'online-pill', text: 'online' }) : null]),
          customer.email ? el('span', { class: 'muted small', text: customer.email }) : null,
          first ? el('span', { class: 'small clamp', text: first }) : null,
          el('span', { class: 'muted small', text: when(item.ended_at || item.created_at || item.at) }),
        ]),
        el('button', {
          class: 'btn btn-sm',
          type: 'button',
          text: 'Push chat',
          'aria-label': 'Start a chat with ' + customerLabel(customer),
          disabled: item.online === false,
          title: item.online === false ? 'The customer is not online' : null,
          onclick: function () {
            openPushDialog(customerId, customer);
          },
        }),
      ]);
    },
    { empty: 'Nothing to follow up.', missing: 'The follow-up list is not available on this server yet.' }
  );

  function openPushDialog(customerId, customer) {
    var d = $('push-dialog');
    $('push-who').textContent = customerLabel(customer);
    $('push-error').textContent = '';
    d.dataset.customer = customerId;
    d.showModal();
    $('push-text').focus();
  }
  $('push-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var d = $('push-dialog');
    var text = $('push-text').value.trim();
    if (!text) return;
    request({ type: 'push_chat', customer_id: d.dataset.customer, text: text }).then(
      function (ack) {
        d.close();
        var chat = ensureChat({ id: ack.conversation_id, status: 'open', customer: { id: d.dataset.customer } });
        fetchConversation(chat);
        syncChat(chat);
        selectChat(chat.id, true);
        loadFollowUp();
      },
      function (err) {
        $('push-error').textContent =
          err.code === 'unavailable' ? 'The customer is not online right now.' : errorText(err);
      }
    );
  });

  var loadCallbacks = sideList(
    'callbacks',
    '/callbacks',
    function (body) {
      return listOf(body, ['callbacks', 'items']).filter(function (c) {
        return !c.done && c.status !== 'done';
      });
    },
    function (cb) {
      var btn = el('button', {
        class: 'btn btn-sm',
        type: 'button',
        text: 'Done',
        'aria-label': 'Mark the callback to ' + cb.phone + ' as done',
        onclick: function () {
          btn.disabled = true;
          api('POST', '/callbacks/' + encodeURIComponent(cb.id) + '/done').then(loadCallbacks, function (err) {
            btn.disabled = false;
            toast(errorText(err), 'error');
          });
        },
      });
      var tel = safeTel(cb.phone);
      return el('li', { class: 'side-item' }, [
        el('div', { class: 'side-item-main' }, [
          tel ? el('a', { href: tel, class: 'phone', text: cb.phone }) : el('strong', { text: cb.phone }),
          cb.message ? el('span', { class: 'small clamp', text: cb.message }) : null,
          el('span', { class: 'muted small', text: [cb.category ? categoryName(cb.category) : null, when(cb.created_at || cb.at)].filter(Boolean).join(' · ') }),
        ]),
        btn,
      ]);
    },
    { empty: 'No callbacks to make.', missing: 'Callbacks are not available on this server yet.' }
  );

  function safeTel(phone) {
    var digits = String(phone || '').replace(/[^\d+]/g, '');
    return /^\+?\d{3,}$/.test(digits) ? 'tel:' + digits : null;
  }

  // ------------------------------------------------------------------ categories

  function noteCategory(id) {
    if (!id || S.categories[id]) return;
    S.categories[id] = id;
    $('category-options').appendChild(el('option', { value: id }));
  }
  function categoryName(id) {
    return id ? String(id).replace(/_/g, ' ') : 'general';
  }

  // ------------------------------------------------------------------ chats (tabs)

  function ensureChat(view) {
    var chat = S.convs[view.id];
    if (!chat) {
      chat = S.convs[view.id] = {
        id: view.id,
        status: view.status || 'open',
        customer: view.customer || null,
        category: view.category || null,
        page: view.page || null,
        createdAt: view.created_at || null,
        messages: {},
        maxSeq: 0,
        unread: 0,
        peerRead: 0,
        lastReadSent: 0,
        typing: false,
        typingOn: false,
        nudge: null,
        transfer: null,
        tools: [],
        history: null,
      };
      S.order.push(chat.id);
      buildChat(chat);
    } else {
      if (view.status) chat.status = view.status;
      if (view.created_at) chat.createdAt = view.created_at;
      if (view.customer) {
        chat.customer = view.customer;
        var label = customerLabel(chat.customer);
        chat.dom.log.querySelectorAll('.msg-customer .who-name').forEach(function (n) {
          n.textContent = label;
        });
      }
      if (view.category) chat.category = view.category;
      if (view.page) chat.page = view.page;
    }
    noteCategory(chat.category);
    renderChat(chat);
    return chat;
  }

  function fetchConversation(chat) {
    api('GET', '/conversations/' + encodeURIComponent(chat.id)).then(
      function (c) {
        if (!c) return;
        ensureChat(c);
        (c.messages || []).forEach(function (m) {
          addMessage(chat, m);
        });
      },
      function () {}
    );
  }

  function removeChat(id) {
    var chat = S.convs[id];
    if (!chat) return;
    chat.dom.tab.remove();
    chat.dom.panel.remove();
    delete S.convs[id];
    S.order = S.order.filter(function (x) {
      return x !== id;
    });
    if (S.active === id) {
      S.active = null;
      if (S.order.length) selectChat(S.order[S.order.length - 1]);
    }
    $('empty-state').hidden = S.order.length > 0;
  }

  function selectChat(id, focus) {
    var chat = S.convs[id];
    if (!chat) return;
    S.active = id;
    S.order.forEach(function (other) {
      var c = S.convs[other];
      var on = other === id;
      c.dom.tab.setAttribute('aria-selected', String(on));
      c.dom.tab.tabIndex = on ? 0 : -1;
      c.dom.panel.hidden = !on;
    });
    $('empty-state').hidden = true;
    chat.unread = 0;
    renderTab(chat);
    sendRead(chat);
    scrollDown(chat);
    if (focus) chat.dom.input.focus();
  }

  function buildChat(chat) {
    var d = (chat.dom = {});
    var panelId = 'panel-' + chat.id;
    var tabId = 'tab-' + chat.id;
    d.tabName = el('span', { class: 'tab-name' });
    d.tabBadge = el('span', { class: 'tab-badge', hidden: true });
    d.tabDot = el('span', { class: 'status-dot', 'aria-hidden': 'true' });
    d.tab = el('button', {
      class: 'tab',
      id: tabId,
      type: 'button',
      role: 'tab',
      'aria-selected': 'false',
      'aria-controls': panelId,
      tabindex: '-1',
      'data-conversation': chat.id,
      onclick: function () {
        selectChat(chat.id, true);
      },
      onkeydown: function (e) {
        var i = S.order.indexOf(chat.id);
        var next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
        if (next === null) return;
        e.preventDefault();
        var target = S.order[(next + S.order.length) % S.order.length];
        selectChat(target);
        S.convs[target].dom.tab.focus();
      },
    }, [d.tabDot, d.tabName, d.tabBadge]);
    $('tabs').appendChild(d.tab);

    // Header with actions.
    d.title = el('h2', { class: 'chat-title' });
    d.statusPill = el('span', { class: 'pill' });
    d.sub = el('div', { class: 'chat-sub muted small' });
    function action(label, handler, cls) {
      return el('button', { class: 'btn btn-sm ' + (cls || ''), type: 'button', text: label, onclick: handler });
    }
    d.pendingBtn = action('Pending', function () {
      setStatus(chat, 'pending');
    });
    d.pendingBtn.title = 'Waiting on the customer (frees a slot)';
    d.holdBtn = action('On hold', function () {
      setStatus(chat, 'on_hold');
    });
    d.holdBtn.title = 'Waiting on a third party (frees a slot)';
    d.openBtn = action('Reopen', function () {
      setStatus(chat, 'open');
    });
    d.transferBtn = action('Transfer', function () {
      openTransfer(chat);
    });
    d.endBtn = action('End chat', function () {
      if (!confirm('End the chat with ' + customerLabel(chat.customer) + '? The customer will be told.')) return;
      request({ type: 'end', conversation_id: chat.id }).then(
        function () {
          if (!ENDED[chat.status]) chat.status = 'solved';
          chat.reason = chat.reason || 'expert_ended';
          renderChat(chat);
        },
        function (err) {
          toast(errorText(err), 'error');
        }
      );
    }, 'btn-danger');
    d.leaveBtn = action('Leave', function () {
      if (!ENDED[chat.status] && !confirm('Leave this chat without ending it?')) return;
      request({ type: 'leave', conversation_id: chat.id }).then(
        function () {
          removeChat(chat.id);
        },
        function (err) {
          toast(errorText(err), 'error');
        }
      );
    });
    var header = el('div', { class: 'chat-header' }, [
      el('div', { class: 'chat-heading' }, [el('div', { class: 'chat-title-row' }, [d.title, d.statusPill]), d.sub]),
      el('div', { class: 'chat-actions', role: 'toolbar', 'aria-label': 'Chat actions' }, [
        d.pendingBtn,
        d.holdBtn,
        d.openBtn,
        d.transferBtn,
        d.endBtn,
        d.leaveBtn,
      ]),
    ]);

    d.nudge = el('div', { class: 'banner banner-warn nudge', role: 'alert', hidden: true });
    d.transfer = el('div', { class: 'banner banner-info transfer-note', hidden: true });
    d.ended = el('div', { class: 'banner banner-muted ended', role: 'status', hidden: true });

    d.log = el('div', {
      class: 'transcript',
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      'aria-label': 'Transcript',
      tabindex: '0',
    });
    d.typing = el('div', { class: 'typing', 'aria-live': 'polite' });

    // Composer.
    d.input = el('textarea', {
      class: 'composer-input',
      rows: '3',
      'aria-label': 'Reply to the customer',
      placeholder: 'Write a reply…   (type / or press Ctrl+K for canned responses)',
      oninput: function () {
        onComposerInput(chat);
      },
      onkeydown: function (e) {
        onComposerKey(chat, e);
      },
    });
    d.internal = el('input', {
      type: 'checkbox',
      class: 'internal-toggle',
      onchange: function () {
        d.composer.classList.toggle('composer-internal', d.internal.checked);
        d.input.placeholder = d.internal.checked ? 'Internal note (the customer never sees it)…' : 'Write a reply…   (type / or press Ctrl+K for canned responses)';
        d.sendBtn.textContent = d.internal.checked ? 'Add note' : 'Send';
        d.input.setAttribute('aria-label', d.internal.checked ? 'Internal note' : 'Reply to the customer');
        if (d.internal.checked) stopTyping(chat);
        d.input.focus();
      },
    });
    d.sendBtn = el('button', { class: 'btn btn-primary', type: 'submit', text: 'Send' });
    d.cannedBtn = el('button', {
      class: 'btn btn-sm',
      type: 'button',
      text: 'Canned responses',
      title: 'Canned responses (Ctrl+K or type / at the start)',
      onclick: function () {
        openCanned(chat);
      },
    });
    d.hint = el('span', { class: 'muted small composer-hint' });
    d.composer = el('form', {
      class: 'composer',
      onsubmit: function (e) {
        e.preventDefault();
        submitComposer(chat);
      },
    }, [
      d.input,
      el('div', { class: 'composer-bar' }, [
        el('label', { class: 'switch' }, [d.internal, el('span', { class: 'switch-ui', 'aria-hidden': 'true' }), ' Internal note']),
        d.cannedBtn,
        d.hint,
        d.sendBtn,
      ]),
    ]);

    // Side info.
    d.info = el('aside', { class: 'chat-info', 'aria-label': 'Customer details' });

    d.panel = el('section', {
      class: 'chat',
      id: panelId,
      role: 'tabpanel',
      'aria-labelledby': tabId,
      hidden: true,
      'data-conversation': chat.id,
    }, [
      header,
      el('div', { class: 'chat-body' }, [
        el('div', { class: 'chat-main' }, [d.nudge, d.transfer, d.log, d.typing, d.ended, d.composer]),
        d.info,
      ]),
    ]);
    $('panels').appendChild(d.panel);
    $('empty-state').hidden = true;
    renderHint(chat);
  }

  function renderHint(chat) {
    chat.dom.hint.textContent = S.enterSends ? 'Enter sends · Shift+Enter new line' : 'Ctrl+Enter sends · Enter new line';
  }

  function renderTab(chat) {
    var d = chat.dom;
    d.tabName.textContent = customerLabel(chat.customer);
    d.tabBadge.hidden = !chat.unread;
    d.tabBadge.textContent = String(chat.unread);
    d.tabBadge.setAttribute('aria-label', chat.unread + ' unread');
    d.tabDot.className = 'status-dot status-' + chat.status;
    d.tab.classList.toggle('tab-nudge', !!chat.nudge);
    d.tab.classList.toggle('tab-ended', !!ENDED[chat.status]);
    d.tab.title = customerLabel(chat.customer) + ' · ' + (STATUS_LABEL[chat.status] || chat.status) + (chat.unread ? ' · ' + chat.unread + ' unread' : '');
  }

  function renderChat(chat) {
    var d = chat.dom;
    if (!d) return;
    renderTab(chat);
    d.title.textContent = customerLabel(chat.customer);
    d.statusPill.textContent = STATUS_LABEL[chat.status] || chat.status;
    d.statusPill.className = 'pill pill-' + chat.status;
    d.sub.textContent = [categoryName(chat.category), chat.createdAt ? 'started ' + when(chat.createdAt) : null, chat.id].filter(Boolean).join(' · ');
    var ended = !!ENDED[chat.status];
    d.pendingBtn.hidden = ended || chat.status === 'pending';
    d.holdBtn.hidden = ended || chat.status === 'on_hold';
    d.openBtn.hidden = ended || chat.status === 'open' || chat.status === 'queued' || chat.status === 'offered';
    d.transferBtn.hidden = ended;
    d.endBtn.hidden = ended;
    d.leaveBtn.classList.toggle('btn-primary', ended);

    d.nudge.hidden = !chat.nudge || ended;
    if (chat.nudge) {
      d.nudge.replaceChildren(
        el('strong', { text: 'Customer waiting. ' }),
        customerLabel(chat.customer) + ' has been waiting ' + duration(chat.nudge.waiting_ms) + ' for a reply. Say something, even a short update.'
      );
    }
    d.transfer.hidden = !chat.transfer;
    if (chat.transfer) {
      d.transfer.replaceChildren(
        el('strong', { text: 'Transferred to you' + (chat.transfer.from ? ' by ' + chat.transfer.from : '') + '. ' }),
        chat.transfer.note ? el('span', { class: 'note-text', text: 'Note: ' + chat.transfer.note }) : ''
      );
    }
    d.ended.hidden = !ended;
    if (ended) {
      d.ended.textContent =
        'This chat has ended' + (chat.reason && REASONS[chat.reason] ? ' (' + REASONS[chat.reason] + ')' : '') + '. Leave it to remove it from your console.';
    }
    d.composer.hidden = ended;
    if (ended) d.typing.textContent = '';
    renderInfo(chat);
  }

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
    if (chat.attachments && chat.attachments.length) {
      sections.push(el('h3', { text: 'Attachments' }));
      sections.push(
        el('ul', { class: 'tools' }, chat.attachments.map(function (a) {
          return el('li', {}, [link(location.origin + API + '/attachments/' + encodeURIComponent(a.id), a.name || a.id)]);
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
              return messageNode(m, chat);
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
    request({ type: 'history', customer_id: chat.customer.id }).then(
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

  // ------------------------------------------------------------------ messages

  function messageNode(m, chat) {
    var kind = (m.author && m.author.kind) || 'system';
    var mine = kind === 'expert' && S.expert && m.author.id === S.expert.id;
    var cls = 'msg msg-' + kind + (m.internal ? ' msg-internal' : '') + (mine ? ' msg-mine' : '');
    var node = el('div', { class: cls, 'data-seq': String(m.seq), 'data-kind': kind });
    if (kind === 'system') {
      node.appendChild(el('div', { class: 'bubble' }, [richText(m.text)]));
      return node;
    }
    var who =
      kind === 'customer'
        ? customerLabel(chat && chat.customer)
        : kind === 'bot'
          ? (m.author.name && !/^bot$/i.test(m.author.name) ? m.author.name + ' (bot)' : 'Bot')
          : (mine ? 'You' : m.author.name || 'Expert');
    if (m.internal) who += ' · internal note';
    node.appendChild(el('div', { class: 'who' }, [el('span', { class: 'who-name', text: who }), el('time', { datetime: m.at || '', text: ' · ' + clock(m.at) })]));
    var bubble = el('div', { class: 'bubble' }, [richText(m.text)]);
    node.appendChild(bubble);
    (m.attachments || []).forEach(function (a) {
      node.appendChild(el('div', { class: 'attachment' }, [link(location.origin + API + '/attachments/' + encodeURIComponent(a.id), 'Attachment: ' + (a.name || a.id))]));
    });
    if (kind === 'expert' && !m.internal) node.appendChild(el('div', { class: 'receipt muted small' }));
    return node;
  }

  function addMessage(chat, m) {
    if (!m || typeof m.seq !== 'number' || chat.messages[m.seq]) return false;
    chat.messages[m.seq] = m;
    if (m.seq > chat.maxSeq) chat.maxSeq = m.seq;
    var node = messageNode(m, chat);
    var log = chat.dom.log;
    var before = null;
    for (var i = log.children.length - 1; i >= 0; i--) {
      var s = Number(log.children[i].getAttribute('data-seq'));
      if (s < m.seq) break;
      before = log.children[i];
    }
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    log.insertBefore(node, before);
    if (atBottom || (m.author && m.author.kind === 'expert')) scrollDown(chat);
    if (m.author && m.author.kind === 'customer') {
      setPeerTyping(chat, false);
    }
    if (m.author && m.author.kind === 'expert' && !m.internal) {
      chat.nudge = null;
      renderChat(chat);
    }
    renderReceipts(chat);
    return true;
  }

  function onMessage(m) {
    if (!m) return;
    var chat = S.convs[m.conversation_id];
    if (!chat) {
      // A chat we own but have not shown yet (e.g. opened elsewhere): fetch and show it.
      chat = ensureChat({ id: m.conversation_id, status: 'open' });
      fetchConversation(chat);
    }
    var isNew = addMessage(chat, m);
    if (!isNew) return;
    var kind = m.author && m.author.kind;
    if (kind === 'customer') {
      var visible = S.active === chat.id && document.visibilityState === 'visible';
      if (!visible) {
        chat.unread++;
        renderTab(chat);
        beep(1);
        notify(customerLabel(chat.customer), m.text.slice(0, 140), 'msg-' + chat.id, function () {
          selectChat(chat.id, true);
        });
      } else sendRead(chat);
      if (chat.status === 'pending' || chat.status === 'on_hold') {
        chat.status = 'open';
        renderChat(chat);
      }
    }
  }

  function renderReceipts(chat) {
    var mine = chat.dom.log.querySelectorAll('.msg-expert:not(.msg-internal)');
    for (var i = 0; i < mine.length; i++) {
      var r = mine[i].querySelector('.receipt');
      if (!r) continue;
      var last = i === mine.length - 1;
      var seen = Number(mine[i].getAttribute('data-seq')) <= chat.peerRead;
      r.textContent = last ? (seen ? 'Seen' : 'Delivered') : '';
    }
  }

  function scrollDown(chat) {
    var log = chat.dom.log;
    log.scrollTop = log.scrollHeight;
  }

  function sendRead(chat) {
    if (!S.welcomed || S.active !== chat.id || document.visibilityState !== 'visible') return;
    var seq = chat.maxSeq;
    if (!seq || seq <= chat.lastReadSent || ENDED[chat.status]) return;
    chat.lastReadSent = seq;
    send({ type: 'read', conversation_id: chat.id, seq: seq });
  }
  document.addEventListener('visibilitychange', function () {
    if (S.active && S.convs[S.active] && document.visibilityState === 'visible') {
      var chat = S.convs[S.active];
      chat.unread = 0;
      renderTab(chat);
      sendRead(chat);
    }
  });

  function setPeerTyping(chat, on) {
    clearTimeout(chat.peerTypingTimer);
    chat.typing = on;
    if (on) {
      chat.dom.typing.replaceChildren(document.createTextNode(customerLabel(chat.customer) + ' is typing'), el('span', { class: 'dots' }));
      chat.peerTypingTimer = setTimeout(function () {
        setPeerTyping(chat, false);
      }, 15000);
    } else chat.dom.typing.textContent = '';
    chat.dom.tab.classList.toggle('tab-typing', on);
  }

  // ------------------------------------------------------------------ composing

  function onComposerInput(chat) {
    var d = chat.dom;
    var v = d.input.value;
    if (v === '/' && Array.isArray(S.canned) && S.canned.length) {
      d.input.value = '';
      openCanned(chat);
      return;
    }
    if (d.internal.checked || ENDED[chat.status] || !S.welcomed) return;
    if (!v.trim()) return stopTyping(chat);
    if (!chat.typingOn) {
      chat.typingOn = true;
      send({ type: 'typing', conversation_id: chat.id, on: true });
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
    if (!ENDED[chat.status]) send({ type: 'typing', conversation_id: chat.id, on: false });
  }

  function onComposerKey(chat, e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) {
      e.preventDefault();
      openCanned(chat);
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

  // Sends one message; a duplicate gets a confirmation and is resent with force.
  function sendText(chat, text, internal, force) {
    var frame = { type: 'send', conversation_id: chat.id, text: text, client_msg_id: uuid() };
    if (internal) frame.internal = true;
    if (force) frame.force = true;
    return request(frame).then(
      function (ack) {
        if (ack.message) addMessage(chat, ack.message);
        return ack;
      },
      function (err) {
        if (err.code === 'duplicate_message' && !force) {
          return confirmDuplicate(text).then(function (yes) {
            return yes ? sendText(chat, text, internal, true) : null;
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

  function setStatus(chat, status) {
    request({ type: 'set_status', conversation_id: chat.id, status: status }).then(
      function () {
        chat.status = status;
        renderChat(chat);
      },
      function (err) {
        toast(errorText(err), 'error');
      }
    );
  }

  // ------------------------------------------------------------------ transfer

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
    request(frame).then(
      function () {
        $('transfer-dialog').close();
        toast('Chat with ' + customerLabel(chat.customer) + ' transferred.');
        removeChat(chat.id);
      },
      function (err) {
        $('transfer-error').textContent = errorText(err);
      }
    );
  });
  document.querySelectorAll('dialog [data-close]').forEach(function (b) {
    b.addEventListener('click', function () {
      b.closest('dialog').close();
    });
  });

  // ------------------------------------------------------------------ canned responses

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
        return sendText(chat, text, internal, false);
      });
    }, Promise.resolve()).catch(function () {});
  }

  // ------------------------------------------------------------------ settings

  $('enter-sends').checked = S.enterSends;
  $('enter-sends').addEventListener('change', function (e) {
    S.enterSends = e.target.checked;
    localStorage.setItem('switchboard.enterSends', S.enterSends ? '1' : '0');
    Object.keys(S.convs).forEach(function (id) {
      renderHint(S.convs[id]);
    });
  });

  // Keep relative things (offer countdowns are separate) fresh.
  window.addEventListener('online', function () {
    if (!S.ws && S.token) {
      S.attempt = 0;
      connect();
    }
  });

  // ------------------------------------------------------------------ start

  if (S.token) startApp();
  else showLogin('');
})();
