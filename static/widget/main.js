/*
 * The widget's start, last in the bundle: once per page (a second copy of the script does
 * nothing), and only when the script found its own tag (config.js). Follows the host page's
 * navigation so the expert sees where the customer is, and exposes `window.SwitchboardWidget`
 * ({open, close}), the widget's only global.
 */

if (window.SwitchboardWidget || !app.config) return;

var S = app.state.S;
var ENDED = app.state.ENDED;
var ui = app.panel.ui;

var lastPage = location.href;
function pageChanged() {
  if (location.href === lastPage) return;
  lastPage = location.href;
  if (app.connection.ready()) {
    var p = app.page.current();
    app.connection.send({ type: 'page', url: p.url, title: p.title });
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
    app.transcript.sendRead();
    app.connection.connect();
  }
});
window.addEventListener('online', function () {
  app.connection.reconnectNow();
});

function init() {
  app.panel.build();
  app.attachments.wire();
  app.view.setOpen(S.open, false);
  app.view.render();
  app.connection.start();
  // Time-based rules (when "End chat" may be offered) need a clock.
  setInterval(function () {
    if (S.conv && !ENDED[S.conv.status]) {
      var show = app.view.canEnd(S.conv);
      if (ui.end.hidden === show) ui.end.hidden = !show;
    }
  }, 1000);
}

window.SwitchboardWidget = {
  open: function () {
    app.view.setOpen(true, true);
  },
  close: function () {
    app.view.setOpen(false, false);
  },
};

if (document.body) init();
else document.addEventListener('DOMContentLoaded', init);
