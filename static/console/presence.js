/*
 * The expert's presence (available, away, offline): the picker in the top bar, which asks the
 * server, and what the server says it is.
 */

var $ = app.dom.$;
var toast = app.dom.toast;
var errorText = app.format.errorText;
var S = app.store.S;

function setPresence(p) {
  S.presence = p;
  $('presence-select').value = p;
  $('presence-dot').className = 'dot dot-' + p;
}

$('presence-select').addEventListener('change', function (e) {
  var wanted = e.target.value;
  var before = S.presence;
  app.connection.request({ type: 'presence', status: wanted }).then(
    function () {
      setPresence(wanted);
    },
    function (err) {
      setPresence(before);
      toast(errorText(err), 'error');
    }
  );
});

app.presence = { set: setPresence };
