/*
 * Switchboard expert console: how things read. Labels for statuses and end reasons, times,
 * durations, who a customer is, what an error means. Pure functions of their arguments.
 *
 * The console is served as `/console.js`, assembled by the server from static/shared/ and
 * the pieces in this folder, one per feature (see src/assets.rs for the order and the
 * convention); they share state through `app.store` (store.js).
 */

var clock = app.text.clock;

var ENDED = { solved: true, closed: true, abandoned: true };
var STATUS_LABEL = {
  queued: 'Queued',
  offered: 'Offered',
  open: 'Open',
  pending: 'Pending',
  on_hold: 'On hold',
  solved: 'Solved',
  closed: 'Closed',
  abandoned: 'Abandoned',
};
var REASONS = {
  expert_ended: 'you ended the chat',
  customer_ended: 'the customer ended the chat',
  inactivity: 'no activity',
  left_site: 'the customer left the site',
  abandoned: 'abandoned',
  closed_after_solved: 'closed after being solved',
  reopened: 'the customer wrote again',
  transferred: 'transferred',
  no_response: 'no response',
};

/** A time as "14:05" today, else with its date. */
function when(at) {
  var d = new Date(at);
  if (!at || isNaN(d)) return '';
  var today = new Date().toDateString() === d.toDateString();
  return today ? clock(at) : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + clock(at);
}

function duration(ms) {
  var s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + ' s';
  var m = Math.floor(s / 60);
  return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
}

function customerLabel(c) {
  if (!c) return 'Customer';
  return c.name || c.email || (c.external_id ? 'User ' + c.external_id : 'Visitor ' + String(c.id || '').slice(-6));
}

/**
 * A customer's language tag as the console reads it: "German (Switzerland) · de-CH". The
 * console is in English; a tag Intl cannot name is shown as it is.
 */
function languageName(tag) {
  if (!tag) return '';
  try {
    var name = new Intl.DisplayNames(['en'], { type: 'language' }).of(tag);
    return name && name !== tag ? name + ' · ' + tag : tag;
  } catch (e) {
    return tag;
  }
}

function errorText(err) {
  if (!err) return 'Something went wrong.';
  if (err.code === 'disconnected') return 'Not connected to the server. Retrying…';
  return err.message || err.code || 'Something went wrong.';
}

/** The list in a response body: the body itself, or the first of `keys` holding an array. */
function listOf(body, keys) {
  if (Array.isArray(body)) return body;
  for (var i = 0; i < keys.length; i++) if (body && Array.isArray(body[keys[i]])) return body[keys[i]];
  return [];
}

function categoryName(id) {
  return id ? String(id).replace(/_/g, ' ') : 'general';
}

app.format = {
  ENDED: ENDED,
  STATUS_LABEL: STATUS_LABEL,
  REASONS: REASONS,
  when: when,
  duration: duration,
  customerLabel: customerLabel,
  languageName: languageName,
  errorText: errorText,
  listOf: listOf,
  categoryName: categoryName,
};
