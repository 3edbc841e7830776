/*
 * The widget's state, shared by its pieces: one object `S` for the page, and one record per
 * conversation the customer has (or had) with its transcript.
 */

var TERMINAL = { closed: true, abandoned: true };
var ENDED = { solved: true, closed: true, abandoned: true };
// PRODUCT.md defaults, used unless the server's welcome says otherwise.
var DEFAULT_ABANDON_AFTER_MS = 60 * 1000;
var DEFAULT_INACTIVITY_END_MS = 60 * 60 * 1000;

var getItem = app.storage.getItem;
var OPTIONS = app.config && app.config.OPTIONS;

// Without a config the widget never starts (main.js), so there is no state to keep either.
var S = app.config && {
  welcome: null,
  token: OPTIONS.user ? null : getItem('visitor_token'),
  conv: null, // the conversation shown
  convs: {}, // id -> conversation record
  outbox: [], // customer messages not yet acknowledged
  flushing: false,
  syncing: false, // catching up after a welcome: replayed messages are not unread
  open: getItem('open', 'session') === '1',
  unread: 0,
  category: OPTIONS.category,
  typingOn: false,
  typingTimer: null,
  peerTypingTimer: null,
  lastReadSent: {},
  rated: JSON.parse(getItem('rated') || '{}'),
  callbackSent: false,
  // Which form the offline notice shows: 'message', 'callback' or null (none); undefined
  // until the customer picks, when a closed office shows the message form.
  offlineForm: undefined,
  abandonAfter: DEFAULT_ABANDON_AFTER_MS,
  inactivityEnd: DEFAULT_INACTIVITY_END_MS,
  mayEnd: 'restricted',
};

/** The record of conversation `id`, made on first mention. */
function record(id) {
  var c = S.convs[id];
  if (!c) {
    c = S.convs[id] = {
      id: id,
      status: 'queued',
      transcript: new app.socket.Transcript(id),
      expert: null,
      queue: null,
      peerRead: 0,
      startedAt: null,
      lastActivityAt: null,
      expertAnswered: false,
      offline: false, // left as a message (leave_message), not started as a chat
    };
  }
  return c;
}

app.state = { S: S, record: record, TERMINAL: TERMINAL, ENDED: ENDED };
