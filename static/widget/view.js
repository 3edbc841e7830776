/*
 * What the widget shows around the transcript, drawn from the state by `render()`: the
 * header (who is answering, whether the customer may end the chat), the queue position, the
 * offline notice with the leave-a-message and callback forms, the topic choice, the end of a chat and its rating, the
 * launcher's unread badge; and opening, closing and switching the conversation shown.
 */

var el = app.dom.el;
var S = app.state.S;
var TERMINAL = app.state.TERMINAL;
var ENDED = app.state.ENDED;
var OPTIONS = app.config && app.config.OPTIONS;
var setItem = app.storage.setItem;
var ui = app.panel.ui;
var t = app.i18n.t;
var number = app.i18n.number;

function statusLine(conv) {
  if (!conv) {
    if (S.welcome && S.welcome.office_hours_open === false) return t('outsideHours');
    return S.welcome && !S.welcome.available ? t('expertsAway') : t('replyUsually');
  }
  if (conv.status === 'abandoned' || conv.status === 'closed' || conv.status === 'solved') return t('chatEnded');
  if (app.leave.waiting(conv)) return t('messageLeftWaiting');
  if (conv.expert && conv.expert.name) {
    var who = { name: conv.expert.name };
    if (conv.status === 'pending') return t('waitingForReply', who);
    if (conv.status === 'on_hold') return t('onHold', who);
    return t('chattingWith', who);
  }
  return t('waitingForExpert');
}

/**
 * Whether the customer may end `conv` now: always when the server says so or outside office
 * hours, else once they have waited `abandon_after` for an expert or the chat went quiet.
 */
function canEnd(conv) {
  if (!conv || ENDED[conv.status]) return false;
  if (S.mayEnd === 'always') return true;
  if (S.welcome && S.welcome.office_hours_open === false) return true;
  var now = Date.now();
  // (a) the customer has waited abandon_after for an answer from an expert.
  var awaiting = null;
  conv.transcript.messages().forEach(function (m) {
    var kind = m.author && m.author.kind;
    if (kind === 'customer' && awaiting === null) awaiting = Date.parse(m.at) || null;
    else if (kind === 'expert') awaiting = null;
  });
  if (awaiting !== null && now - awaiting >= S.abandonAfter) return true;
  if (conv.lastActivityAt && now - conv.lastActivityAt >= S.inactivityEnd) return true;
  return false;
}

// Each status reason's text (i18n.js).
var END_REASONS = {
  expert_ended: 'endedExpert',
  customer_ended: 'endedCustomer',
  inactivity: 'endedInactivity',
  left_site: 'endedLeftSite',
  abandoned: 'endedAbandoned',
  closed_after_solved: 'endedClosed',
  no_response: 'endedNoResponse',
};

function render() {
  var conv = S.conv;
  var w = S.welcome;
  ui.subtitle.textContent = statusLine(conv);
  ui.avatar.textContent = conv && conv.expert && conv.expert.name ? conv.expert.name.trim().charAt(0).toUpperCase() : 'S';
  ui.end.hidden = !canEnd(conv);

  var hasMessages = !!(conv && conv.transcript.lastSeq) || S.outbox.length > 0;
  ui.intro.hidden = hasMessages;

  // A left message is not in line for a chat: its notice says what happens instead.
  var waiting = conv && (conv.status === 'queued' || conv.status === 'offered') && conv.queue && !conv.offline;
  ui.queue.hidden = !waiting;
  if (waiting) {
    ui.queue.textContent =
      conv.queue === 1 ? t('nextInLine') : t('numberInLine', { n: number(conv.queue) });
    if (conv.estimatedWait != null) {
      ui.queue.textContent += ' ' + t('aboutMinutes', { n: number(Math.max(1, Math.round(conv.estimatedWait / 60000))) });
    }
  }

  // Offline / closed: tell the customer, and offer to leave a message or ask for a callback.
  var closedHours = w && w.office_hours_open === false;
  var noExperts = w && w.available === false;
  var idle = !conv || TERMINAL[conv.status] || conv.status === 'solved';
  var offline = !!(w && idle && (closedHours || noExperts));
  // A closed office shows the message form until the customer picks otherwise.
  var form = S.offlineForm === undefined ? (closedHours ? 'message' : null) : S.offlineForm;
  ui.offline.hidden = !offline;
  if (offline) {
    ui.offline.replaceChildren(
      el('h3', { text: closedHours ? t('closedNow') : t('noExpertNow') }),
      el('p', { text: closedHours ? t('closedLeaveText') : t('noExpertText') })
    );
    if (closedHours && w.office_hours) ui.offline.appendChild(hoursNode(w.office_hours));
    ui.offline.appendChild(formToggle('message', form, t('leaveMessage'), t('hideLeaveForm')));
    if (!S.callbackSent) ui.offline.appendChild(formToggle('callback', form, t('showCallback'), t('hideCallback')));
  }
  ui.leave.hidden = !(offline && form === 'message');
  ui.callback.hidden = !(offline && (form === 'callback' || S.callbackSent));
  // A left message waiting for its answer: thanked at once, and again on return.
  ui.left.hidden = !app.leave.waiting(conv);

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
      el('h3', { text: t('chatEnded') }),
      el('p', { text: t(END_REASONS[conv.reason] || 'endedOther') }),
      el('p', { text: TERMINAL[conv.status] ? t('startNewBelow') : t('anythingElse') })
    );
  }
  var rateable = !!(conv && (conv.status === 'solved' || conv.status === 'closed') && (conv.expert || conv.expertAnswered));
  var rated = rateable && S.rated[conv.id];
  ui.thanks.hidden = !rated;
  if (rated) ui.thanks.lastChild.textContent = t('ratedThis', { n: number(rated) });
  if (rateable && !rated && ui.rating.hidden) ui.rating.clear();
  ui.rating.hidden = !rateable || !!rated;

  // The message form has its own text box: one place to write at a time.
  ui.composer.hidden = !!(w && idle && (closedHours || !ui.leave.hidden));
  ui.input.placeholder = conv && TERMINAL[conv.status] ? t('placeholderNew') : t('placeholder');
  renderBadge();
}

// A link-button that shows the offline notice's form `which` (the message or the callback
// form), or hides it when it is the one shown.
function formToggle(which, shown, showText, hideText) {
  return el('button', {
    class: 'link-btn show-' + which,
    type: 'button',
    'aria-expanded': String(shown === which),
    text: shown === which ? hideText : showText,
    onclick: function () {
      S.offlineForm = shown === which ? null : which;
      render();
      var opened = which === 'message' ? ui.leave : ui.callback;
      var first = !opened.hidden && opened.querySelector('textarea, input');
      if (first) first.focus();
    },
  });
}

// Office hours as the server describes them: {timezone, days:[{day, hours:[...]}], holidays}.
// Consecutive days with the same hours are grouped: "Mon–Fri 09:00–17:00", the days named
// in the visitor's language.
function hoursNode(h) {
  var short = app.i18n.weekday;
  var groups = [];
  (h.days || []).forEach(function (d) {
    var hours = (d.hours || []).join(', ').replace(/-/g, '–');
    var last = groups[groups.length - 1];
    if (last && last.hours === hours) last.to = d.day;
    else groups.push({ from: d.day, to: d.day, hours: hours });
  });
  var list = el('dl', { class: 'hours', 'aria-label': t('officeHours') });
  groups.forEach(function (g) {
    var days = short(g.from);
    if (g.to !== g.from) days += '–' + short(g.to);
    list.appendChild(el('dt', { text: days }));
    // Hours stay as the server writes them (24-hour, digits first) in either direction.
    list.appendChild(el('dd', { text: g.hours || t('closedDay'), dir: 'ltr' }));
  });
  return el('div', { class: 'hours-box' }, [
    el('div', { class: 'hours-title', text: h.timezone ? t('officeHoursIn', { zone: h.timezone }) : t('officeHours') }),
    list,
  ]);
}

function renderBadge() {
  ui.badge.hidden = S.open || S.unread === 0;
  ui.badge.textContent = S.unread > 9 ? number(9) + '+' : number(S.unread);
  ui.launcher.setAttribute(
    'aria-label',
    S.unread && !S.open ? t('openChatUnread', { n: number(S.unread) }) : S.open ? t('hideChat') : t('openChat')
  );
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
    app.transcript.scrollDown();
    app.transcript.sendRead();
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
  app.transcript.render();
  render();
}

/** What to tell the customer about a refused or failed request. */
function errorText(err) {
  if (!err) return t('errorGeneric');
  if (err.code === 'disconnected' || err.code === 'timeout') return t('errorConnection');
  // The server explains a refusal in English: better than no reason.
  return err.message || err.code || t('errorGeneric');
}

app.view = {
  render: render,
  canEnd: canEnd,
  toast: toast,
  setConnState: setConnState,
  setOpen: setOpen,
  setCurrent: setCurrent,
  errorText: errorText,
};
