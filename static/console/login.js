/*
 * Signing in and out, and the first run. The token is kept for this tab only (sessionStorage);
 * signing out, or a token the server no longer accepts, closes the connection and clears every
 * list. While the server has no admin (GET /setup), the sign-in page also offers to create the
 * first admin with the setup code from the server's output; the sign-in stays for experts an
 * automation created with the admin token.
 */

var $ = app.dom.$;
var errorText = app.format.errorText;
var S = app.store.S;
var api = app.store.api;

function showLogin(message) {
  $('app').hidden = true;
  $('login-view').hidden = false;
  $('login-error').textContent = message || '';
  $('login-username').focus();
  checkSetup();
}

/** Shows the first-run form while the server needs its first admin. */
function checkSetup() {
  app.dom
    .fetchJson(app.store.API + '/setup', null, 'GET')
    .then(function (r) {
      showSetup(!!(r && r.needed));
    })
    .catch(function () {
      showSetup(false);
    });
}

function showSetup(needed) {
  var wasHidden = $('setup-form').hidden;
  $('setup-form').hidden = !needed;
  $('login-lead').textContent = needed
    ? 'Already have an account? Sign in to answer customers.'
    : 'Sign in to answer customers.';
  if (needed && wasHidden) $('setup-code').focus();
}

/** Signed in: the token and the expert are kept for this tab, then the console starts. */
function signedIn(r) {
  S.token = r.token;
  S.expert = r.expert;
  sessionStorage.setItem('switchboard.token', r.token);
  sessionStorage.setItem('switchboard.expert', JSON.stringify(r.expert || null));
  startApp();
}

$('setup-form').addEventListener('submit', function (e) {
  e.preventDefault();
  app.alerts.unlockAudio();
  var btn = $('setup-submit');
  btn.disabled = true;
  $('setup-error').textContent = '';
  api('POST', '/setup', {
    setup_code: $('setup-code').value.trim(),
    name: $('setup-name').value.trim(),
    username: $('setup-username').value.trim(),
    password: $('setup-password').value,
  })
    .then(function (r) {
      $('setup-password').value = '';
      $('setup-code').value = '';
      $('setup-form').hidden = true;
      signedIn(r);
    })
    .catch(function (err) {
      if (err.status === 401) {
        $('setup-error').textContent =
          'That is not the setup code. Copy it from the server\'s output: the line with "setup code:".';
      } else if (err.status === 409 && /setup is done/.test(err.message || '')) {
        showSetup(false);
        $('login-error').textContent = 'Setup is already done: sign in with your account.';
      } else {
        $('setup-error').textContent = errorText(err);
      }
    })
    .then(function () {
      btn.disabled = false;
    });
});

$('login-form').addEventListener('submit', function (e) {
  e.preventDefault();
  app.alerts.unlockAudio();
  var btn = $('login-submit');
  btn.disabled = true;
  $('login-error').textContent = '';
  api('POST', '/login', { username: $('login-username').value.trim(), password: $('login-password').value })
    .then(function (r) {
      $('login-password').value = '';
      signedIn(r);
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
  app.connection.stop();
  Object.keys(S.convs).forEach(function (id) {
    app.chats.remove(id);
  });
  Object.keys(S.offers).forEach(app.offers.remove);
  S.claimable = {};
  app.claimable.render();
  showLogin(message);
}

$('logout-btn').addEventListener('click', function () {
  logout('');
});

function startApp() {
  $('login-view').hidden = true;
  $('app').hidden = false;
  $('me-name').textContent = (S.expert && S.expert.name) || '';
  // Admins manage experts and read reports on the admin page, with the same login.
  $('admin-link').hidden = !(S.expert && (S.expert.roles || []).indexOf('admin') >= 0);
  app.alerts.renderNotifyButton();
  app.connection.start();
  app.canned.load();
  app.followups.loadFollowUp();
  app.followups.loadCallbacks();
}

app.login = { show: showLogin, logout: logout, startApp: startApp };
