/*
 * Signing in and out. The token is kept for this tab only (sessionStorage); signing out, or a
 * token the server no longer accepts, closes the connection and clears every list.
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
}

$('login-form').addEventListener('submit', function (e) {
  e.preventDefault();
  app.alerts.unlockAudio();
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
  app.alerts.renderNotifyButton();
  app.connection.start();
  app.canned.load();
  app.followups.loadFollowUp();
  app.followups.loadCallbacks();
}

app.login = { show: showLogin, logout: logout, startApp: startApp };
