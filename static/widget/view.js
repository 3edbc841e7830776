/*
 * What the widget shows around the transcript, drawn from the state by `render()`: the
 * header (who is answering, whether the customer may end the chat), the queue position, the
 * offline notice and callback form, the topic choice, the end of a chat and its rating, the
 * launcher's unread badge; and opening, closing and switching the conversation shown.
 */

var el = app.dom.el;
var S = app.state.S;
var TERMINAL = app.state.TERMINAL;
var ENDED = app.state.ENDED;
var OPTIONS = app.config && app.config.OPTIONS;
var setItem = app.storage.setItem;
var ui = app.panel.ui;

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

  var hasMessages = !!(conv && conv.transcript.lastSeq) || S.outbox.length > 0;
  ui.intro.hidden = hasMessages;

  var waiting = conv && (conv.status === 'queued' || conv.status === 'offered') && conv.queue;
  ui.queue.hidden = !waiting;
  if (waiting) {
    ui.queue.textContent =
      conv.queue === 1 ? 'You are next in line.' : 'You are number ' + conv.queue + ' in line.';
    if (conv.estimatedWait != null) ui.queue.textContent += ' About ' + Math.max(1, Math.round(conv.estimatedWait / 60000)) + ' min.';
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
  if (!err) return 'Something went wrong.';
  if (err.code === 'disconnected' || err.code === 'timeout') return 'Connection lost, please try again.';
  if (err.code === 'not_allowed' && err.message) return err.message;
  return err.message || err.code || 'Something went wrong.';
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
