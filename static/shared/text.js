/*
 * How message text is shown, the same in the console and the widget: text with http(s)
 * links made clickable. Everything is a text node or an <a> whose href was parsed and
 * checked; no HTML from the wire is ever interpreted.
 */

var LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

/** `text` as a fragment of text nodes and safe links (trailing punctuation is not part of a link). */
function richText(text) {
  text = String(text == null ? '' : text);
  var frag = document.createDocumentFragment();
  var last = 0;
  text.replace(LINK_RE, function (raw, index) {
    var url = raw.replace(/[.,;:!?)\]}]+$/, '');
    var href = safeHref(url);
    if (!href) return raw;
    if (index > last) frag.appendChild(document.createTextNode(text.slice(last, index)));
    frag.appendChild(link(href, url));
    last = index + url.length;
    return raw;
  });
  if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
  return frag;
}

/** The normalised href of an http(s) URL, or null for anything else (javascript:, data:, junk). */
function safeHref(url) {
  try {
    var u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch (e) {
    return null;
  }
}

/**
 * A link that opens in a new tab without giving the opened page a handle on this one or
 * this page's address, and without vouching for it to search engines.
 */
function link(href, text) {
  var a = document.createElement('a');
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  a.textContent = text;
  return a;
}

/** The time of day of `at` (now when absent) as hours and minutes, or '' when unreadable. */
function clock(at) {
  var d = at ? new Date(at) : new Date();
  if (isNaN(d)) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

app.text = { richText: richText, safeHref: safeHref, link: link, clock: clock };
