/*
 * Switchboard admin. Signs in as an admin expert (username and password: POST /login, whose
 * token has every right the admin token has) or with the admin token, for automation; either
 * token is kept in sessionStorage and sent as `Authorization: Bearer` on every call. It and talks to /api/v1 only (no websocket): experts,
 * canned responses, the reports, which it draws as inline SVG charts, and a customer's
 * export and erasure (customers.js). Served as
 * `/admin.js` after static/shared/dom.js (see src/assets.rs).
 */

var $ = app.dom.$;
var el = app.dom.el;
var setAttrs = app.dom.setAttrs;
var append = app.dom.append;
var clear = app.dom.clear;
var toast = app.dom.toast;

var API = '/api/v1';
var TOKEN_KEY = 'switchboard.admin_token';
// Set when the token is an admin expert's login, which signing out ends on the server too.
var LOGIN_KEY = 'switchboard.admin_login';
var SVG_NS = 'http://www.w3.org/2000/svg';
var PRESENCE_LABEL = { available: 'Available', away: 'Away', offline: 'Offline' };
var VIEWS = ['live', 'experts', 'canned', 'reports', 'customers'];
var PERIODS = { today: 'Today', '7d': 'Last 7 days', '30d': 'Last 30 days' };
var GROUPS = { day: 'day', expert: 'expert', category: 'category' };

var S = {
  token: sessionStorage.getItem(TOKEN_KEY),
  view: null,
  experts: [],
  canned: [],
  editingExpert: null, // the expert being edited, or null when adding one
  editingCanned: null,
  period: '7d',
  group: 'day',
  reportSeq: 0,
};

// ------------------------------------------------------------------ helpers

function svg(tag, attrs, children) {
  var node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** "a, b  c" → ["a", "b", "c"], without blanks or repeats. */
function words(text) {
  var seen = {};
  return String(text || '')
    .split(/[,\s]+/)
    .map(function (w) {
      return w.trim();
    })
    .filter(function (w) {
      if (!w || seen[w]) return false;
      seen[w] = true;
      return true;
    });
}

function sameList(a, b) {
  return a.length === b.length && a.every(function (x, i) {
    return x === b[i];
  });
}

function paragraphs(text) {
  // As the console sends them: one message per paragraph.
  return String(text || '')
    .split(/\n\s*\n/)
    .map(function (p) {
      return p.trim();
    })
    .filter(Boolean);
}

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many || one + 's');
}

function date(at) {
  var d = new Date(at);
  if (!at || isNaN(d)) return '';
  return d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
}

function dateTime(d) {
  return d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Milliseconds as people say them: "0.4 s", "12 s", "2 min 5 s", "1 h 3 min". */
function duration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return '—';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 10000) return (Math.round(ms / 100) / 10).toString() + ' s';
  var s = Math.round(ms / 1000);
  if (s < 60) return s + ' s';
  var m = Math.floor(s / 60);
  if (m < 60) return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
  var h = Math.floor(m / 60);
  return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
}

function percent(rate) {
  if (rate === null || rate === undefined || isNaN(rate)) return '—';
  return Math.round(rate * 1000) / 10 + '%';
}

function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString();
}

function stars(avg) {
  return avg === null || avg === undefined || isNaN(avg) ? '—' : (Math.round(avg * 10) / 10).toFixed(1);
}

function errorText(err) {
  if (!err) return 'Something went wrong.';
  if (err.code === 'network') return 'Cannot reach the server. Check your connection and try again.';
  return err.message || err.code || 'Something went wrong.';
}

function banner(id, message) {
  var b = $(id);
  b.textContent = message || '';
  b.hidden = !message;
}

function isAdmin(expert) {
  return (expert.roles || []).indexOf('admin') >= 0;
}

// ------------------------------------------------------------------ API

function api(method, path, body) {
  return app.dom.fetchJson(API + path, S.token, method, body).catch(function (err) {
    // Only an HTTP error carries a status; anything else never reached the server.
    if (err.status === undefined) throw { code: 'network' };
    // The token stopped working (changed in the configuration): sign in again.
    if (err.status === 401 && S.token) signOut('The server no longer accepts this token. Sign in again.');
    throw err;
  });
}

// ------------------------------------------------------------------ sign in

function showLogin(message) {
  $('app').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
  $('account-error').textContent = '';
  $('login-token').value = '';
  $('account-password').value = '';
  $('account-username').focus();
}

function signOut(message) {
  if (S.token && sessionStorage.getItem(LOGIN_KEY)) {
    app.dom.fetchJson(API + '/logout', S.token, 'POST').catch(function () {});
  }
  S.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(LOGIN_KEY);
  closeDialogs();
  showLogin(message);
}

$('login-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var token = $('login-token').value.trim();
  if (!token) {
    $('login-error').textContent = 'Type the admin token.';
    return;
  }
  var btn = $('login-submit');
  btn.disabled = true;
  $('login-error').textContent = '';
  S.token = token;
  sessionStorage.removeItem(LOGIN_KEY);
  // Listing the experts is admin-only in full: it proves the token.
  fetch(API + '/experts', { headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } })
    .then(function (r) {
      return r.json().catch(function () {
        return null;
      }).then(function (data) {
        if (r.status === 401) throw { message: 'The server does not know this token.' };
        if (r.status === 403) throw { message: 'This token is not the admin token.' };
        if (!r.ok) throw { message: (data && data.error && data.error.message) || 'The server answered ' + r.status + '.' };
        // An expert's token lists colleagues without usernames: not the admin token.
        if (Array.isArray(data) && data.length && !('username' in data[0])) throw { message: 'This is an expert token, not the admin token.' };
        return data;
      });
    }, function () {
      throw { code: 'network' };
    })
    .then(function (experts) {
      sessionStorage.setItem(TOKEN_KEY, token);
      S.experts = experts || [];
      enterApp();
    })
    .catch(function (err) {
      S.token = null;
      $('login-error').textContent = errorText(err);
    })
    .then(function () {
      btn.disabled = false;
    });
});

// An admin expert's account: their login token is admin once the server says they hold the
// role; any other account's fresh login is ended at once rather than left behind.
$('account-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var btn = $('account-submit');
  btn.disabled = true;
  $('account-error').textContent = '';
  $('login-error').textContent = '';
  var credentials = { username: $('account-username').value.trim(), password: $('account-password').value };
  app.dom
    .fetchJson(API + '/login', null, 'POST', credentials)
    .then(function (r) {
      if ((r.expert.roles || []).indexOf('admin') < 0) {
        app.dom.fetchJson(API + '/logout', r.token, 'POST').catch(function () {});
        throw { message: 'This account is not an admin. An admin can give it the admin role.' };
      }
      S.token = r.token;
      return app.dom.fetchJson(API + '/experts', r.token, 'GET');
    })
    .then(function (experts) {
      sessionStorage.setItem(TOKEN_KEY, S.token);
      sessionStorage.setItem(LOGIN_KEY, '1');
      $('account-password').value = '';
      S.experts = experts || [];
      enterApp();
    })
    .catch(function (err) {
      S.token = null;
      $('account-error').textContent =
        err.status === 401 ? 'Wrong username or password.' : errorText(err instanceof TypeError ? { code: 'network' } : err);
    })
    .then(function () {
      btn.disabled = false;
    });
});

$('logout-btn').addEventListener('click', function () {
  signOut('Signed out.');
});

function enterApp() {
  $('login-view').hidden = true;
  $('app').hidden = false;
  route();
}

// ------------------------------------------------------------------ views

function route() {
  var want = (location.hash || '').replace(/^#\/?/, '');
  showView(VIEWS.indexOf(want) >= 0 ? want : 'experts');
}

function showView(view) {
  S.view = view;
  VIEWS.forEach(function (v) {
    $(v + '-view').hidden = v !== view;
    var tab = $('tab-' + v);
    tab.setAttribute('aria-selected', v === view ? 'true' : 'false');
    tab.tabIndex = v === view ? 0 : -1;
  });
  document.title = $('tab-' + view).textContent + ' · Switchboard admin';
  if (view === 'experts') loadExperts();
  else if (view === 'live') app.live.shown();
  else if (view === 'canned') loadCanned();
  else if (view === 'customers') app.customers.shown();
  else loadReport();
}

Array.prototype.forEach.call(document.querySelectorAll('.nav-tab'), function (tab) {
  tab.addEventListener('click', function () {
    var v = tab.getAttribute('data-view');
    if (location.hash === '#' + v) showView(v);
    else location.hash = v;
  });
  tab.addEventListener('keydown', function (e) {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    var i = VIEWS.indexOf(tab.getAttribute('data-view'));
    var next = VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length];
    location.hash = next;
    $('tab-' + next).focus();
  });
});

window.addEventListener('hashchange', function () {
  if (S.token && !$('app').hidden) route();
});

function closeDialogs() {
  Array.prototype.forEach.call(document.querySelectorAll('dialog[open]'), function (d) {
    d.close();
  });
}

Array.prototype.forEach.call(document.querySelectorAll('dialog [data-close]'), function (b) {
  b.addEventListener('click', function () {
    b.closest('dialog').close();
  });
});

// ------------------------------------------------------------------ experts

function loadExperts() {
  return api('GET', '/experts')
    .then(function (list) {
      S.experts = Array.isArray(list) ? list : [];
      banner('experts-error', '');
      renderExperts();
    })
    .catch(function (err) {
      banner('experts-error', 'Could not load the experts: ' + errorText(err));
    });
}

/** Category ids in use by any expert: hints for the form (the server has no list for admins). */
function knownCategories() {
  var seen = {};
  S.experts.forEach(function (x) {
    (x.categories || []).forEach(function (c) {
      seen[c] = true;
    });
  });
  return Object.keys(seen).sort();
}

function chips(list, cls) {
  if (!list || !list.length) return el('span', { class: 'muted', text: '—' });
  return el('span', { class: 'chips' }, list.map(function (c) {
    return el('span', { class: cls, text: c });
  }));
}

function renderExperts() {
  var showRemoved = $('show-removed').checked;
  var list = S.experts
    .filter(function (x) {
      return showRemoved || x.active !== false;
    })
    .slice()
    .sort(function (a, b) {
      if ((a.active !== false) !== (b.active !== false)) return a.active !== false ? -1 : 1;
      return String(a.name).localeCompare(String(b.name));
    });
  var body = clear($('experts-body'));
  list.forEach(function (x) {
    var removed = x.active === false;
    var presence = x.presence || 'offline';
    body.appendChild(
      el('tr', { class: removed ? 'row-removed' : null, 'data-id': x.id, 'data-username': x.username }, [
        el('td', {}, [
          el('div', { class: 'who-cell' }, [
            el('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(x.name) }),
            el('div', {}, [
              el('div', { class: 'expert-name' }, [
                x.name,
                isAdmin(x) ? el('span', { class: 'pill pill-admin', text: 'Admin' }) : null,
                removed ? el('span', { class: 'pill pill-removed', text: 'Removed' }) : null,
              ]),
              el('div', { class: 'muted small', text: '@' + x.username + ' · ' + x.id }),
            ]),
          ]),
        ]),
        el('td', {}, removed
          ? [el('span', { class: 'muted', text: '—' })]
          : [el('span', { class: 'presence-cell' }, [
              el('span', { class: 'dot dot-' + presence, 'aria-hidden': 'true' }),
              PRESENCE_LABEL[presence] || presence,
            ])]),
        el('td', { class: 'cell-categories' }, [chips(x.categories, 'chip')]),
        el('td', { class: 'cell-certifications' }, [chips(x.certifications, 'chip chip-cert')]),
        el('td', { class: 'num cell-max', text: String(x.max_concurrent) }),
        el('td', { class: 'muted small', text: date(x.created_at) }),
        el('td', { class: 'row-actions' }, removed ? [] : [
          el('button', {
            class: 'btn btn-sm expert-edit',
            type: 'button',
            'aria-label': 'Edit ' + x.name,
            text: 'Edit',
            onclick: function () {
              openExpertDialog(x);
            },
          }),
          el('button', {
            class: 'btn btn-sm btn-danger expert-remove',
            type: 'button',
            'aria-label': 'Remove ' + x.name,
            text: 'Remove',
            onclick: function () {
              removeExpert(x);
            },
          }),
        ]),
      ])
    );
  });
  $('experts-empty').hidden = list.length > 0;
  $('experts-table').hidden = list.length === 0;
}

function initials(name) {
  var parts = String(name || '?').trim().split(/\s+/);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

$('show-removed').addEventListener('change', renderExperts);
$('experts-refresh').addEventListener('click', loadExperts);
$('expert-add').addEventListener('click', function () {
  openExpertDialog(null);
});

function renderKnownCategories() {
  var box = clear($('known-categories'));
  var known = knownCategories();
  if (!known.length) return;
  box.appendChild(document.createTextNode('In use: '));
  known.forEach(function (c, i) {
    if (i) box.appendChild(document.createTextNode(' '));
    box.appendChild(el('button', {
      type: 'button',
      class: 'chip chip-btn',
      title: 'Add or remove ' + c,
      text: c,
      onclick: function () {
        var input = $('expert-categories');
        var list = words(input.value);
        var at = list.indexOf(c);
        if (at >= 0) list.splice(at, 1);
        else list.push(c);
        input.value = list.join(', ');
        input.focus();
      },
    }));
  });
}

function openExpertDialog(expert) {
  S.editingExpert = expert;
  var editing = !!expert;
  $('expert-h').textContent = editing ? 'Edit ' + expert.name : 'Add expert';
  $('expert-save').textContent = editing ? 'Save changes' : 'Add expert';
  $('expert-name').value = editing ? expert.name : '';
  $('expert-username').value = editing ? expert.username : '';
  $('expert-username').disabled = editing;
  $('expert-password').value = '';
  $('expert-password').required = !editing;
  $('expert-password-label').textContent = editing ? 'New password' : 'Password';
  $('expert-password-hint').textContent = editing
    ? 'Leave empty to keep the current one. A new password signs the expert out everywhere.'
    : 'At least 8 characters.';
  $('expert-categories').value = editing ? (expert.categories || []).join(', ') : knownCategories().length === 1 ? knownCategories()[0] : '';
  $('expert-certifications').value = editing ? (expert.certifications || []).join(', ') : '';
  $('expert-max').value = editing ? String(expert.max_concurrent) : '';
  $('expert-admin').checked = editing && isAdmin(expert);
  $('expert-error').textContent = '';
  renderKnownCategories();
  $('expert-dialog').showModal();
  $(editing ? 'expert-max' : 'expert-name').focus();
}

$('expert-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var expert = S.editingExpert;
  var fail = function (message, field) {
    $('expert-error').textContent = message;
    if (field) $(field).focus();
  };
  var name = $('expert-name').value.trim();
  var username = $('expert-username').value.trim();
  var password = $('expert-password').value;
  var categories = words($('expert-categories').value);
  var certifications = words($('expert-certifications').value);
  var maxRaw = $('expert-max').value.trim();
  var max = maxRaw === '' ? null : Number(maxRaw);
  var roles = $('expert-admin').checked ? ['admin'] : [];

  if (!name) return fail('The name is required.', 'expert-name');
  if (!expert && !username) return fail('The username is required.', 'expert-username');
  if (!expert && /\s/.test(username)) return fail('A username has no spaces.', 'expert-username');
  if ((!expert || password) && password.length < 8) return fail('The password needs at least 8 characters.', 'expert-password');
  if (max !== null && !(Number.isInteger(max) && max >= 1)) return fail('Max concurrent chats is a whole number, 1 or more.', 'expert-max');

  var body;
  if (!expert) {
    body = { username: username, password: password, name: name, categories: categories, certifications: certifications, roles: roles };
    if (max !== null) body.max_concurrent = max;
  } else {
    // Only what changed: a PATCH with a password signs the expert out.
    body = {};
    if (name !== expert.name) body.name = name;
    if (!sameList(categories, expert.categories || [])) body.categories = categories;
    if (!sameList(certifications, expert.certifications || [])) body.certifications = certifications;
    if (max !== null && max !== expert.max_concurrent) body.max_concurrent = max;
    if (!sameList(roles, expert.roles || [])) body.roles = roles;
    if (password) body.password = password;
    if (!Object.keys(body).length) {
      $('expert-dialog').close();
      return;
    }
  }
  var btn = $('expert-save');
  btn.disabled = true;
  $('expert-error').textContent = '';
  var call = expert
    ? api('PATCH', '/experts/' + encodeURIComponent(expert.id), body)
    : api('POST', '/experts', body);
  call
    .then(function (saved) {
      $('expert-dialog').close();
      toast(expert ? 'Saved ' + ((saved && saved.name) || name) + '.' : 'Added ' + name + '. They can sign in at /console now.');
      return loadExperts();
    })
    .catch(function (err) {
      if (err.status === 409) fail('The username “' + username + '” is taken. Choose another one.', 'expert-username');
      else if (/categor/i.test(err.message || '')) fail(errorText(err), 'expert-categories');
      else fail(errorText(err));
    })
    .then(function () {
      btn.disabled = false;
    });
});

function removeExpert(x) {
  var ok = window.confirm(
    'Remove ' + x.name + ' (@' + x.username + ')?\n\nThey are signed out at once and can no longer sign in. Their past chats keep their name.'
  );
  if (!ok) return;
  api('DELETE', '/experts/' + encodeURIComponent(x.id))
    .then(function () {
      toast('Removed ' + x.name + '.');
      return loadExperts();
    })
    .catch(function (err) {
      toast('Could not remove ' + x.name + ': ' + errorText(err), 'error');
    });
}

// ------------------------------------------------------------------ canned responses

function loadCanned() {
  return api('GET', '/canned')
    .then(function (list) {
      S.canned = Array.isArray(list) ? list : [];
      banner('canned-error', '');
      renderCanned();
    })
    .catch(function (err) {
      banner('canned-error', 'Could not load the canned responses: ' + errorText(err));
    });
}

function renderCanned() {
  var ul = clear($('canned-items'));
  S.canned.forEach(function (c) {
    var parts = paragraphs(c.text);
    ul.appendChild(
      el('li', { class: 'card canned-card', 'data-id': c.id }, [
        el('div', { class: 'canned-top' }, [
          el('h3', { class: 'canned-title', text: c.title }),
          c.shortcut ? el('span', { class: 'chip chip-mono', text: '/' + c.shortcut }) : null,
          el('span', { class: 'muted small canned-parts', text: parts.length > 1 ? plural(parts.length, 'message') : '' }),
          el('span', { class: 'canned-actions' }, [
            el('button', {
              class: 'btn btn-sm canned-edit',
              type: 'button',
              'aria-label': 'Edit ' + c.title,
              text: 'Edit',
              onclick: function () {
                openCannedDialog(c);
              },
            }),
            el('button', {
              class: 'btn btn-sm btn-danger canned-delete',
              type: 'button',
              'aria-label': 'Delete ' + c.title,
              text: 'Delete',
              onclick: function () {
                deleteCanned(c);
              },
            }),
          ]),
        ]),
        el('div', { class: 'canned-body' }, parts.map(function (p) {
          return el('p', { class: 'canned-para', text: p });
        })),
      ])
    );
  });
  $('canned-empty').hidden = S.canned.length > 0;
}

function renderCannedPreview() {
  var parts = paragraphs($('canned-text').value);
  $('canned-count').textContent = plural(parts.length, 'message');
  var ol = clear($('canned-preview'));
  parts.forEach(function (p) {
    ol.appendChild(el('li', { class: 'bubble-preview', text: p }));
  });
}

$('canned-text').addEventListener('input', renderCannedPreview);
$('canned-add').addEventListener('click', function () {
  openCannedDialog(null);
});

function openCannedDialog(c) {
  S.editingCanned = c;
  $('canned-h').textContent = c ? 'Edit canned response' : 'New canned response';
  $('canned-title').value = c ? c.title : '';
  $('canned-shortcut').value = c ? c.shortcut || '' : '';
  $('canned-text').value = c ? c.text : '';
  $('canned-form-error').textContent = '';
  renderCannedPreview();
  $('canned-dialog').showModal();
  $('canned-title').focus();
}

$('canned-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var c = S.editingCanned;
  var fail = function (message, field) {
    $('canned-form-error').textContent = message;
    if (field) $(field).focus();
  };
  var body = {
    title: $('canned-title').value.trim(),
    shortcut: $('canned-shortcut').value.trim().replace(/^\/+/, ''),
    text: $('canned-text').value.trim(),
  };
  if (!body.title) return fail('The title is required.', 'canned-title');
  if (/\s/.test(body.shortcut)) return fail('A shortcut is one word.', 'canned-shortcut');
  if (!body.text) return fail('The text is required.', 'canned-text');
  var btn = $('canned-save');
  btn.disabled = true;
  $('canned-form-error').textContent = '';
  (c ? api('PUT', '/canned/' + encodeURIComponent(c.id), body) : api('POST', '/canned', body))
    .then(function () {
      $('canned-dialog').close();
      toast((c ? 'Saved “' : 'Added “') + body.title + '”.');
      return loadCanned();
    })
    .catch(function (err) {
      fail(errorText(err));
    })
    .then(function () {
      btn.disabled = false;
    });
});

function deleteCanned(c) {
  if (!window.confirm('Delete the canned response “' + c.title + '”?')) return;
  api('DELETE', '/canned/' + encodeURIComponent(c.id))
    .then(function () {
      toast('Deleted “' + c.title + '”.');
      return loadCanned();
    })
    .catch(function (err) {
      toast('Could not delete “' + c.title + '”: ' + errorText(err), 'error');
    });
}

// ------------------------------------------------------------------ reports

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

/** The chosen period, from a local midnight to now (rounded up to the next second). */
function periodRange(period) {
  var now = new Date();
  var to = new Date(Math.ceil((now.getTime() + 1) / 1000) * 1000);
  var days = period === 'today' ? 0 : period === '30d' ? 29 : 6;
  var from = startOfDay(now);
  from.setDate(from.getDate() - days);
  return { from: from, to: to };
}

function rfc3339(d) {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function setChoice(groupId, attr, value) {
  Array.prototype.forEach.call($(groupId).querySelectorAll('button'), function (b) {
    var on = b.getAttribute(attr) === value;
    b.setAttribute('aria-checked', on ? 'true' : 'false');
    b.tabIndex = on ? 0 : -1;
  });
}

function wireChoices(groupId, attr, onPick) {
  var buttons = Array.prototype.slice.call($(groupId).querySelectorAll('button'));
  buttons.forEach(function (b, i) {
    b.addEventListener('click', function () {
      onPick(b.getAttribute(attr));
    });
    b.addEventListener('keydown', function (e) {
      var step = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
      if (!step) return;
      e.preventDefault();
      var next = buttons[(i + step + buttons.length) % buttons.length];
      next.focus();
      onPick(next.getAttribute(attr));
    });
  });
}

wireChoices('period-group', 'data-period', function (p) {
  S.period = p;
  loadReport();
});
wireChoices('group-group', 'data-group', function (g) {
  S.group = g;
  loadReport();
});
$('reports-refresh').addEventListener('click', function () {
  loadReport();
});

function loadReport() {
  setChoice('period-group', 'data-period', S.period);
  setChoice('group-group', 'data-group', S.group);
  var range = periodRange(S.period);
  $('report-range').textContent = PERIODS[S.period] + ': ' + dateTime(range.from) + ' – ' + dateTime(range.to) + ', per ' + GROUPS[S.group] + '.';
  var seq = ++S.reportSeq;
  var report = $('report');
  report.setAttribute('aria-busy', 'true');
  report.setAttribute('data-state', 'loading');
  var q = '?from=' + encodeURIComponent(rfc3339(range.from)) + '&to=' + encodeURIComponent(rfc3339(range.to)) + '&group_by=' + S.group;
  return api('GET', '/stats' + q)
    .then(function (stats) {
      if (seq !== S.reportSeq) return;
      banner('reports-error', '');
      renderReport(stats || {}, range);
      report.setAttribute('data-state', 'ready');
      // Response targets per category (sla.js), beside the figures.
      app.adminSla.load(stats || {}, range, S.group);
    })
    .catch(function (err) {
      if (seq !== S.reportSeq) return;
      var msg = err.status === 404
        ? 'Reports are not available on this server yet (GET /api/v1/stats: ' + errorText(err) + ').'
        : 'Could not load the report: ' + errorText(err);
      banner('reports-error', msg);
      clear($('totals'));
      clear($('charts'));
      app.adminSla.reset();
      $('report-table-wrap').hidden = true;
      report.setAttribute('data-state', 'error');
    })
    .then(function () {
      if (seq === S.reportSeq) report.setAttribute('aria-busy', 'false');
    });
}

function med(f, key) {
  return f && f[key] ? f[key].median : null;
}
function p90(f, key) {
  return f && f[key] ? f[key].p90 : null;
}

function renderReport(stats, range) {
  var total = stats.total || {};
  renderTotals(total);
  var groups = (stats.groups || []).slice();
  if (S.group === 'day') groups = fillDays(groups, range);
  renderCharts(groups, total);
  renderTable(groups, total);
}

function renderTotals(t) {
  var rating = t.rating || {};
  var cards = [
    { key: 'conversations', label: 'Conversations', big: count(t.conversations), sub: count(t.answered) + ' answered' },
    { key: 'abandonment_rate', label: 'Abandonment rate', big: t.conversations ? percent(t.abandonment_rate) : '—', sub: plural(t.abandoned || 0, 'abandoned chat'), warn: t.abandonment_rate > 0.1 },
    { key: 'first_response', label: 'First response', big: duration(med(t, 'first_response_ms')), sub: 'median · p90 ' + duration(p90(t, 'first_response_ms')) },
    { key: 'wait', label: 'Wait until accepted', big: duration(med(t, 'wait_ms')), sub: 'median · p90 ' + duration(p90(t, 'wait_ms')) },
    { key: 'handle', label: 'Handle time', big: duration(med(t, 'handle_ms')), sub: 'median · p90 ' + duration(p90(t, 'handle_ms')) },
    { key: 'rating', label: 'Rating', big: rating.count ? stars(rating.average) : '—', unit: rating.count ? ' / 5' : '', sub: plural(rating.count || 0, 'rating') },
    { key: 'transfers', label: 'Transfers', big: count(t.transfers), sub: 'between experts or categories' },
  ];
  var box = clear($('totals'));
  cards.forEach(function (c) {
    box.appendChild(
      el('div', { class: 'card total' + (c.warn ? ' total-warn' : ''), 'data-figure': c.key }, [
        el('div', { class: 'total-label', text: c.label }),
        el('div', { class: 'total-big' }, [el('span', { class: 'total-value', text: c.big }), c.unit ? el('span', { class: 'total-unit', text: c.unit }) : null]),
        el('div', { class: 'total-sub muted small', text: c.sub }),
      ])
    );
  });
}

function isDayKey(k) {
  return /^\d{4}-\d{2}-\d{2}$/.test(String(k));
}

/** Per day, the days without a conversation are shown too, so the axis is the period. */
function fillDays(groups, range) {
  if (!groups.every(function (g) { return isDayKey(g.key); })) return groups;
  var byKey = {};
  groups.forEach(function (g) {
    byKey[g.key] = g;
  });
  // Day keys are calendar days (UTC) from the server: walk the period's days the same way,
  // and fall back to the server's own list if its keys do not fit the walk.
  var out = [];
  var d = new Date(Date.UTC(range.from.getUTCFullYear(), range.from.getUTCMonth(), range.from.getUTCDate()));
  var end = range.to.getTime();
  var guard = 0;
  while (d.getTime() < end && guard++ < 400) {
    var key = d.toISOString().slice(0, 10);
    out.push(byKey[key] || { key: key, label: key, empty: true, conversations: 0, answered: 0, abandoned: 0, abandonment_rate: null, transfers: 0, first_response_ms: null, wait_ms: null, handle_ms: null, rating: { average: null, count: 0 } });
    d = new Date(d.getTime() + 86400000);
  }
  var covered = groups.every(function (g) {
    return out.indexOf(g) >= 0;
  });
  return covered ? out : groups;
}

function groupLabel(g) {
  if (isDayKey(g.key)) {
    var parts = g.key.split('-');
    var d = new Date(Date.UTC(+parts[0], +parts[1] - 1, +parts[2]));
    return d.toLocaleDateString([], { month: 'short', day: 'numeric', timeZone: 'UTC' });
  }
  // A bot's row (by expert) is marked, so no report passes it off as a person.
  return String(g.label || g.key || '—') + (g.bot ? ' (bot)' : '');
}

function renderCharts(groups, total) {
  var box = clear($('charts'));
  if (!groups.length || !(total.conversations > 0)) {
    box.appendChild(
      el('div', { class: 'card chart-empty' }, [
        el('p', { class: 'muted', text: 'No conversations in this period yet. Charts appear once customers start chatting.' }),
      ])
    );
    return;
  }
  var labels = groups.map(groupLabel);
  var keys = groups.map(function (g) {
    return String(g.key);
  });
  var columns = S.group === 'day';
  var other = groups.map(function (g) {
    return Math.max(0, (g.conversations || 0) - (g.answered || 0) - (g.abandoned || 0));
  });
  var charts = [
    {
      id: 'conversations',
      title: 'Conversations',
      sub: 'per ' + GROUPS[S.group],
      stacked: true,
      series: [
        { name: 'Answered', cls: 's-answered', values: groups.map(function (g) { return g.answered || 0; }) },
        { name: 'Abandoned', cls: 's-abandoned', values: groups.map(function (g) { return g.abandoned || 0; }) },
        { name: 'Not answered yet', cls: 's-other', values: other },
      ],
      totals: groups.map(function (g) { return g.conversations || 0; }),
      format: count,
      unit: 'conversations',
      integer: true,
    },
    {
      id: 'first_response',
      title: 'First response time',
      sub: 'median and 90th percentile',
      series: [
        { name: 'Median', cls: 's-median', values: groups.map(function (g) { return med(g, 'first_response_ms'); }) },
        { name: '90th percentile', cls: 's-p90', values: groups.map(function (g) { return p90(g, 'first_response_ms'); }) },
      ],
      format: duration,
      duration: true,
    },
    {
      id: 'abandonment_rate',
      title: 'Abandonment rate',
      sub: 'chats that ended before an expert answered',
      series: [{ name: 'Abandonment rate', cls: 's-abandoned', values: groups.map(function (g) { return g.conversations ? g.abandonment_rate : null; }) }],
      format: percent,
      max: 1,
    },
    {
      id: 'rating',
      title: 'Rating average',
      sub: 'customers’ scores, 1 to 5',
      series: [{ name: 'Rating average', cls: 's-rating', values: groups.map(function (g) { return g.rating && g.rating.count ? g.rating.average : null; }) }],
      notes: groups.map(function (g) { return g.rating && g.rating.count ? plural(g.rating.count, 'rating') : 'no ratings'; }),
      format: stars,
      max: 5,
      steps: 5,
    },
    {
      id: 'wait',
      title: 'Wait until accepted',
      sub: 'median and 90th percentile',
      series: [
        { name: 'Median', cls: 's-median', values: groups.map(function (g) { return med(g, 'wait_ms'); }) },
        { name: '90th percentile', cls: 's-p90', values: groups.map(function (g) { return p90(g, 'wait_ms'); }) },
      ],
      format: duration,
      duration: true,
    },
    {
      id: 'handle',
      title: 'Handle time',
      sub: 'median and 90th percentile',
      series: [
        { name: 'Median', cls: 's-median', values: groups.map(function (g) { return med(g, 'handle_ms'); }) },
        { name: '90th percentile', cls: 's-p90', values: groups.map(function (g) { return p90(g, 'handle_ms'); }) },
      ],
      format: duration,
      duration: true,
    },
  ];
  charts.forEach(function (c) {
    c.labels = labels;
    c.keys = keys;
    box.appendChild(chartCard(c, columns));
  });
}

/** A round axis maximum at or above v: 1, 2, 2.5, 5 × 10^k (durations in whole seconds). */
function niceMax(v, opts) {
  if (!(v > 0)) return opts.integer ? 4 : 1;
  if (opts.duration) {
    var steps = [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 14400000, 28800000, 86400000];
    for (var i = 0; i < steps.length; i++) if (steps[i] >= v) return steps[i];
    return Math.ceil(v / 86400000) * 86400000;
  }
  var mag = Math.pow(10, Math.floor(Math.log10(v)));
  var f = [1, 2, 2.5, 5, 10].find(function (m) {
    return m * mag >= v;
  });
  var max = f * mag;
  if (opts.integer) max = Math.max(4, Math.ceil(max));
  return max;
}

/** How many grid steps divide the axis into round values (whole counts, round times). */
function tickSteps(c, max) {
  if (c.steps) return c.steps;
  var round = function (step) {
    if (c.integer) return Number.isInteger(step);
    if (!c.duration) return true;
    if (step < 1000) return step % 250 === 0;
    if (step < 60000) return [1, 2, 3, 5, 10, 15, 20, 30].indexOf(step / 1000) >= 0;
    return step % 60000 === 0;
  };
  var found = [4, 5, 6, 3].filter(function (n) {
    return round(max / n);
  })[0];
  return found || 4;
}

function chartCard(c, columns) {
  var titleId = 'chart-' + c.id + '-title';
  var descId = 'chart-' + c.id + '-desc';
  var legend = c.series.length > 1
    ? el('ul', { class: 'legend', 'aria-hidden': 'true' }, c.series.map(function (s) {
        return el('li', {}, [el('span', { class: 'swatch ' + s.cls }), s.name]);
      }))
    : null;
  return el('figure', { class: 'card chart', 'data-chart': c.id }, [
    el('figcaption', {}, [
      el('h2', { id: titleId, class: 'chart-title', text: c.title }),
      el('span', { class: 'muted small', text: c.sub }),
    ]),
    legend,
    columns ? columnChart(c, titleId, descId) : barChart(c, titleId, descId),
  ]);
}

/** One sentence per group, read by screen readers instead of the drawing. */
function describe(c) {
  return c.labels.map(function (label, i) {
    var parts = c.series.map(function (s) {
      return s.name + ' ' + c.format(s.values[i]);
    });
    if (c.totals) parts.unshift(c.totals[i] + ' ' + c.unit);
    return label + ': ' + parts.join(', ');
  }).join('; ') + '.';
}

function valueOf(c, i) {
  if (c.totals) return c.totals[i];
  var vs = c.series.map(function (s) { return s.values[i]; }).filter(function (v) { return v !== null && v !== undefined; });
  return vs.length ? Math.max.apply(null, vs) : null;
}

function chartMax(c) {
  if (c.max) return c.max;
  var top = 0;
  c.labels.forEach(function (_, i) {
    var v = valueOf(c, i);
    if (v > top) top = v;
  });
  return niceMax(top, c);
}

function barTitle(c, i, s) {
  var v = s.values[i];
  var text = c.labels[i] + ' · ' + s.name + ': ' + c.format(v);
  if (c.notes) text += ' (' + c.notes[i] + ')';
  return svg('title', { text: text });
}

/** Horizontal bars: one row per expert or category, names on the left. */
function barChart(c, titleId, descId) {
  var W = 560, LABEL = 150, VALUE = 78, PAD = 8;
  var n = c.labels.length;
  var paired = !c.stacked && c.series.length > 1;
  var rowH = paired ? 34 : 26;
  var H = n * rowH + 26;
  var plotW = W - LABEL - VALUE;
  var max = chartMax(c);
  var x = function (v) {
    return Math.max(0, Math.min(1, v / max)) * plotW;
  };
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': titleId + ' ' + descId, class: 'chart-svg', preserveAspectRatio: 'xMinYMin meet' }, [
    svg('title', { text: c.title }),
    svg('desc', { id: descId, text: describe(c) }),
  ]);
  // Grid and axis ticks.
  var steps = tickSteps(c, max);
  for (var t = 0; t <= steps; t++) {
    var gx = LABEL + (plotW * t) / steps;
    root.appendChild(svg('line', { x1: gx, x2: gx, y1: 4, y2: H - 20, class: t ? 'grid' : 'axis' }));
    root.appendChild(svg('text', { x: gx, y: H - 6, class: 'tick', 'text-anchor': 'middle', text: c.format((max * t) / steps) }));
  }
  c.labels.forEach(function (label, i) {
    var y0 = 6 + i * rowH;
    var name = label.length > 20 ? label.slice(0, 19) + '…' : label;
    root.appendChild(svg('text', { x: LABEL - PAD, y: y0 + rowH / 2, class: 'label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, [
      name,
      svg('title', { text: label }),
    ]));
    var g = svg('g', { class: 'bar-group', 'data-key': c.keys[i], 'data-label': label, 'data-value': valueOf(c, i) === null ? '' : valueOf(c, i) });
    if (c.stacked) {
      var acc = 0;
      var barH = rowH - 8;
      c.series.forEach(function (s) {
        var v = s.values[i] || 0;
        if (v > 0) {
          g.appendChild(svg('rect', { x: LABEL + x(acc), y: y0 + 2, width: Math.max(1, x(acc + v) - x(acc)), height: barH, rx: 3, class: 'bar ' + s.cls, 'data-series': s.name, 'data-value': v }, [barTitle(c, i, s)]));
        }
        acc += v;
      });
      g.appendChild(svg('text', { x: LABEL + x(acc) + 6, y: y0 + rowH / 2, class: 'value', 'dominant-baseline': 'middle', text: c.format(c.totals[i]) }));
    } else {
      var h = paired ? 12 : rowH - 8;
      c.series.forEach(function (s, k) {
        var v = s.values[i];
        var y = y0 + 2 + k * (h + 3);
        if (v === null || v === undefined) {
          if (k === 0) g.appendChild(svg('text', { x: LABEL + 6, y: y + h / 2, class: 'value muted-text', 'dominant-baseline': 'middle', text: 'no data' }));
          return;
        }
        g.appendChild(svg('rect', { x: LABEL, y: y, width: Math.max(1.5, x(v)), height: h, rx: 3, class: 'bar ' + s.cls, 'data-series': s.name, 'data-value': v }, [barTitle(c, i, s)]));
        g.appendChild(svg('text', { x: LABEL + x(v) + 6, y: y + h / 2, class: 'value' + (paired ? ' value-sm' : ''), 'dominant-baseline': 'middle', text: c.format(v) }));
      });
    }
    root.appendChild(g);
  });
  return el('div', { class: 'chart-box' }, [root]);
}

/** Vertical columns: one per day, dates along the bottom. */
function columnChart(c, titleId, descId) {
  var W = 560, H = 220, LEFT = 56, BOTTOM = 26, TOP = 18, RIGHT = 8;
  var n = c.labels.length;
  var plotW = W - LEFT - RIGHT;
  var plotH = H - TOP - BOTTOM;
  var slot = plotW / n;
  var paired = !c.stacked && c.series.length > 1;
  var barW = Math.min(46, slot * 0.7);
  var max = chartMax(c);
  var y = function (v) {
    return Math.max(0, Math.min(1, v / max)) * plotH;
  };
  var base = TOP + plotH;
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': titleId + ' ' + descId, class: 'chart-svg', preserveAspectRatio: 'xMinYMin meet' }, [
    svg('title', { text: c.title }),
    svg('desc', { id: descId, text: describe(c) }),
  ]);
  var steps = tickSteps(c, max);
  for (var t = 0; t <= steps; t++) {
    var gy = base - (plotH * t) / steps;
    root.appendChild(svg('line', { x1: LEFT, x2: W - RIGHT, y1: gy, y2: gy, class: t ? 'grid' : 'axis' }));
    root.appendChild(svg('text', { x: LEFT - 6, y: gy, class: 'tick', 'text-anchor': 'end', 'dominant-baseline': 'middle', text: c.format((max * t) / steps) }));
  }
  // Label every day when they fit, else every few days.
  var every = Math.max(1, Math.ceil(n / Math.floor(plotW / 46)));
  var showValues = slot >= 30;
  c.labels.forEach(function (label, i) {
    var cx = LEFT + slot * i + slot / 2;
    // Counted from the end, so today is always labelled.
    if ((n - 1 - i) % every === 0) {
      root.appendChild(svg('text', { x: cx, y: H - 8, class: 'tick', 'text-anchor': 'middle', text: label }));
    }
    var g = svg('g', { class: 'bar-group', 'data-key': c.keys[i], 'data-label': label, 'data-value': valueOf(c, i) === null ? '' : valueOf(c, i) });
    if (c.stacked) {
      var acc = 0;
      c.series.forEach(function (s) {
        var v = s.values[i] || 0;
        if (v > 0) {
          g.appendChild(svg('rect', { x: cx - barW / 2, y: base - y(acc + v), width: barW, height: Math.max(1, y(acc + v) - y(acc)), rx: 3, class: 'bar ' + s.cls, 'data-series': s.name, 'data-value': v }, [barTitle(c, i, s)]));
        }
        acc += v;
      });
      if (c.totals[i] > 0 && showValues) {
        g.appendChild(svg('text', { x: cx, y: base - y(acc) - 5, class: 'value', 'text-anchor': 'middle', text: c.format(c.totals[i]) }));
      }
    } else {
      var w = paired ? barW / 2 - 1 : barW;
      c.series.forEach(function (s, k) {
        var v = s.values[i];
        if (v === null || v === undefined) return;
        var bx = paired ? cx - barW / 2 + k * (w + 2) : cx - w / 2;
        g.appendChild(svg('rect', { x: bx, y: base - y(v), width: w, height: Math.max(1.5, y(v)), rx: 2, class: 'bar ' + s.cls, 'data-series': s.name, 'data-value': v }, [barTitle(c, i, s)]));
        if (!paired && showValues) {
          g.appendChild(svg('text', { x: cx, y: base - y(v) - 5, class: 'value', 'text-anchor': 'middle', text: c.format(v) }));
        }
      });
    }
    root.appendChild(g);
  });
  return el('div', { class: 'chart-box' }, [root]);
}

/** Everything the charts show, as a table for those who would rather read. */
function renderTable(groups, total) {
  var wrap = $('report-table-wrap');
  var table = clear($('report-table'));
  wrap.hidden = !(total.conversations > 0);
  var heads = ['', 'Conversations', 'Answered', 'Abandoned', 'Abandonment', 'First response (median / p90)', 'Wait (median / p90)', 'Handle (median / p90)', 'Transfers', 'Rating'];
  table.appendChild(el('thead', {}, [el('tr', {}, heads.map(function (h, i) {
    return el('th', { scope: 'col', class: i ? 'num' : null, text: h });
  }))]));
  var row = function (label, f, cls) {
    var r = f.rating || {};
    return el('tr', { class: cls }, [
      el('th', { scope: 'row', text: label }),
      el('td', { class: 'num', text: count(f.conversations) }),
      el('td', { class: 'num', text: count(f.answered) }),
      el('td', { class: 'num', text: count(f.abandoned) }),
      el('td', { class: 'num', text: f.conversations ? percent(f.abandonment_rate) : '—' }),
      el('td', { class: 'num', text: duration(med(f, 'first_response_ms')) + ' / ' + duration(p90(f, 'first_response_ms')) }),
      el('td', { class: 'num', text: duration(med(f, 'wait_ms')) + ' / ' + duration(p90(f, 'wait_ms')) }),
      el('td', { class: 'num', text: duration(med(f, 'handle_ms')) + ' / ' + duration(p90(f, 'handle_ms')) }),
      el('td', { class: 'num', text: count(f.transfers) }),
      el('td', { class: 'num', text: r.count ? stars(r.average) + ' (' + r.count + ')' : '—' }),
    ]);
  };
  table.appendChild(el('tbody', {}, groups.filter(function (g) { return !g.empty; }).map(function (g) {
    return row(groupLabel(g), g);
  })));
  table.appendChild(el('tfoot', {}, [row('Total', total, 'row-total')]));
}

// What the live view (live.js) draws with.
app.admin = {
  S: S,
  api: api,
  banner: banner,
  errorText: errorText,
  duration: duration,
  count: count,
  percent: percent,
  rfc3339: rfc3339,
  startOfDay: startOfDay,
  chartCard: chartCard,
  date: date,
  plural: plural,
  PRESENCE_LABEL: PRESENCE_LABEL,
};

// ------------------------------------------------------------------ start

if (S.token) {
  // Back in the same tab: the token still works if the experts list loads.
  $('login-view').hidden = true;
  api('GET', '/experts')
    .then(function (list) {
      S.experts = list || [];
      enterApp();
    })
    .catch(function (err) {
      if (S.token) signOut(err.status === 403 ? 'This token is not the admin token.' : errorText(err));
    });
} else {
  showLogin('');
}
