/*
 * Switchboard chat widget: what the embed tag says, and where the widget keeps things.
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" data-category="general" async></script>
 * Optional: data-user-id, data-user-hash (HMAC-SHA256 of the id, computed by your backend),
 * data-user-name, data-user-email, data-title (panel title), data-color (accent colour),
 * data-lang (the visitor's language, BCP 47, e.g. "de-CH"; else the browser's languages).
 *
 * Everything is drawn inside a shadow root so the host page's CSS cannot reach it.
 * The websocket URL is derived from this script's own origin. Protocol: docs/PROTOCOL.md.
 * `/widget.js` is assembled by the server from static/shared/ and static/widget/ (see
 * src/assets.rs); this piece runs first of the widget's own.
 */

// Read while the script runs: `currentScript` is gone once it has.
var script =
  document.currentScript ||
  Array.prototype.slice
    .call(document.getElementsByTagName('script'))
    .filter(function (s) {
      return /\/widget\.js(?:[?#]|$)/.test(s.src || '');
    })
    .pop();

/** Null when this script's own tag cannot be found: then the widget does not start (main.js). */
app.config = script ? readConfig(script) : null;

function readConfig(script) {
  var origin = new URL(script.src, location.href);
  var ds = script.dataset || {};
  return {
    ORIGIN: origin,
    WS_URL: (origin.protocol === 'https:' ? 'wss://' : 'ws://') + origin.host + '/ws/customer',
    API: origin.origin + '/api/v1',
    OPTIONS: {
      category: ds.category || null,
      /** Null: the widget's own title, in the visitor's language. */
      title: ds.title || null,
      lang: ds.lang || null,
      color: ds.color || null,
      user:
        ds.userId && ds.userHash
          ? {
              id: ds.userId,
              hash: ds.userHash,
              name: ds.userName || undefined,
              email: ds.userEmail || undefined,
            }
          : null,
    },
    /** Prefix of the widget's storage keys: one widget per server, whatever the host page. */
    KEY: 'switchboard:' + origin.host + ':',
  };
}

function store(kind) {
  try {
    return kind === 'session' ? window.sessionStorage : window.localStorage;
  } catch (e) {
    return null;
  }
}

function getItem(name, kind) {
  var s = store(kind);
  try {
    return s ? s.getItem(app.config.KEY + name) : null;
  } catch (e) {
    return null;
  }
}

function setItem(name, value, kind) {
  var s = store(kind);
  try {
    if (!s) return;
    if (value === null || value === undefined) s.removeItem(app.config.KEY + name);
    else s.setItem(app.config.KEY + name, value);
  } catch (e) {
    /* storage full or blocked: the widget still works for this page */
  }
}

/** The host page, as `hello`, `start` and `page` frames describe it. */
function currentPage() {
  return { url: location.href, title: document.title || undefined };
}

app.storage = { getItem: getItem, setItem: setItem };
app.page = { current: currentPage };
