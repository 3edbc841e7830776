/*
 * The console's start, last in the bundle: the settings and page-wide handlers that belong
 * to no one feature, then the sign-in page or, with a token from this tab, the console.
 */

var $ = app.dom.$;
var S = app.store.S;

// Every dialog's Cancel button.
document.querySelectorAll('dialog [data-close]').forEach(function (b) {
  b.addEventListener('click', function () {
    b.closest('dialog').close();
  });
});

$('enter-sends').checked = S.enterSends;
$('enter-sends').addEventListener('change', function (e) {
  S.enterSends = e.target.checked;
  localStorage.setItem('switchboard.enterSends', S.enterSends ? '1' : '0');
  Object.keys(S.convs).forEach(function (id) {
    app.chatView.renderHint(S.convs[id]);
  });
});

// Back online: reconnect now rather than at the end of a long backoff.
window.addEventListener('online', function () {
  app.connection.reconnectNow();
});

if (S.token) app.login.startApp();
else app.login.show('');
