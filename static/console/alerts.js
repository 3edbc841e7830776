/*
 * Getting the expert's attention: a short sound (once the page may play one, after the first
 * click or key press) and desktop notifications when the console is not in front.
 */

var $ = app.dom.$;
var toast = app.dom.toast;
var S = app.store.S;

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

app.alerts = { unlockAudio: unlockAudio, beep: beep, notify: notify, renderNotifyButton: renderNotifyButton };
