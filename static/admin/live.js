/*
 * The admin page's live view: chats queued and open, experts by presence and load
 * (GET /api/v1/live), the waiting chats (GET /api/v1/queue) and a chart of today's chats per
 * hour (GET /api/v1/stats?group_by=hour). Asked again while the view is shown and the tab is
 * visible: the live figures every few seconds, the chart every minute, so an open admin tab
 * costs two small requests per poll.
 */

var $ = app.dom.$;
var el = app.dom.el;
var clear = app.dom.clear;

var LIVE_MS = 3000;
var CHART_MS = 60000;
var HOUR = 3600000;

var L = { liveAt: 0, chartAt: 0, asking: false, chartSeq: 0 };

function on() {
  var A = app.admin;
  return A.S.token && A.S.view === 'live' && !$('app').hidden && !document.hidden;
}

/** The view was opened: everything is asked at once. */
function shown() {
  L.liveAt = 0;
  L.chartAt = 0;
  tick();
}

function tick() {
  if (!on()) return;
  var now = Date.now();
  if (now - L.liveAt >= LIVE_MS && !L.asking) loadLive();
  if (now - L.chartAt >= CHART_MS) loadChart();
}

function loadLive() {
  var A = app.admin;
  L.asking = true;
  L.liveAt = Date.now();
  Promise.all([A.api('GET', '/live'), A.api('GET', '/queue')])
    .then(function (r) {
      A.banner('live-error', '');
      renderLive(r[0] || {}, r[1] || []);
      $('live-view').setAttribute('data-state', 'ready');
    })
    .catch(function (err) {
      A.banner('live-error', 'Could not load the live view: ' + A.errorText(err));
    })
    .then(function () {
      L.asking = false;
    });
}

function total(key, label, big, sub) {
  return el('div', { class: 'card total', 'data-figure': key }, [
    el('div', { class: 'total-label', text: label }),
    el('div', { class: 'total-big' }, [el('span', { class: 'total-value', text: String(big) })]),
    el('div', { class: 'total-sub muted small', text: sub }),
  ]);
}

function renderLive(live, queue) {
  var A = app.admin;
  var experts = (live.experts || []).slice();
  var by = { available: 0, away: 0, offline: 0 };
  experts.forEach(function (x) {
    by[x.presence] = (by[x.presence] || 0) + 1;
  });
  var free = experts.reduce(function (n, x) {
    return n + (x.presence === 'available' ? Math.max(0, x.max_concurrent - x.load) : 0);
  }, 0);
  var longest = queue.reduce(function (m, q) {
    return Math.max(m, q.waiting_ms || 0);
  }, 0);
  clear($('live-totals'));
  [
    total('queued', 'Queued', live.queued || 0, queue.length ? 'longest waiting ' + A.duration(longest) : 'nobody waiting'),
    total('open', 'Open', live.open || 0, 'chats with an expert'),
    total('available', 'Available', by.available, by.away + ' away · ' + by.offline + ' offline'),
    total('free', 'Free slots', free, 'among available experts'),
  ].forEach(function (c) {
    $('live-totals').appendChild(c);
  });

  var qBody = clear($('live-queue-body'));
  $('live-queue-empty').hidden = queue.length > 0;
  queue.forEach(function (q) {
    var to = q.offered_to;
    qBody.appendChild(
      el('tr', { 'data-conversation-id': q.conversation_id }, [
        el('td', { text: q.category }),
        el('td', { class: 'num', text: '#' + q.position }),
        el('td', { class: 'num', text: A.duration(q.waiting_ms) }),
        el('td', { class: to ? '' : 'muted', text: to ? to.name || to.id : 'not offered yet' }),
      ])
    );
  });

  // Available first, then away, then offline; the busiest first within each.
  var rank = { available: 0, away: 1, offline: 2 };
  experts.sort(function (a, b) {
    return rank[a.presence] - rank[b.presence] || b.load - a.load || a.name.localeCompare(b.name);
  });
  var xBody = clear($('live-experts-body'));
  $('live-experts-empty').hidden = experts.length > 0;
  experts.forEach(function (x) {
    var share = x.max_concurrent ? Math.min(1, x.load / x.max_concurrent) : 0;
    xBody.appendChild(
      el('tr', { 'data-expert-id': x.id, 'data-presence': x.presence }, [
        el('td', { text: x.name }),
        el('td', {}, [
          el('span', { class: 'presence-cell' }, [
            el('span', { class: 'dot dot-' + x.presence, 'aria-hidden': 'true' }),
            A.PRESENCE_LABEL[x.presence] || x.presence,
          ]),
        ]),
        el('td', { class: 'num' }, [
          el('span', { class: 'load', title: x.load + ' of ' + x.max_concurrent + ' chats' }, [
            el('span', { class: 'load-bar', 'aria-hidden': 'true' }, [
              el('span', { class: 'load-fill' + (share >= 1 ? ' load-full' : ''), style: 'width:' + Math.round(share * 100) + '%' }),
            ]),
            el('span', { class: 'load-text', text: x.load + ' / ' + x.max_concurrent }),
          ]),
        ]),
      ])
    );
  });
}

/** Today's chats per hour, from local midnight to the current hour. */
function loadChart() {
  var A = app.admin;
  L.chartAt = Date.now();
  var seq = ++L.chartSeq;
  var now = new Date();
  var from = A.startOfDay(now);
  var to = new Date(Math.ceil((now.getTime() + 1) / 1000) * 1000);
  var q = '?from=' + encodeURIComponent(A.rfc3339(from)) + '&to=' + encodeURIComponent(A.rfc3339(to)) + '&group_by=hour';
  A.api('GET', '/stats' + q).then(
    function (stats) {
      if (seq !== L.chartSeq) return;
      renderChart((stats && stats.groups) || [], from, now);
    },
    function (err) {
      if (seq !== L.chartSeq) return;
      clear($('live-chart')).appendChild(el('p', { class: 'muted', text: 'Could not load today’s chart: ' + A.errorText(err) }));
    }
  );
}

function renderChart(groups, from, now) {
  var A = app.admin;
  var byKey = {};
  groups.forEach(function (g) {
    byKey[g.key] = g;
  });
  var labels = [];
  var keys = [];
  var rows = [];
  for (var t = from.getTime(); t <= now.getTime(); t += HOUR) {
    var key = new Date(t).toISOString().slice(0, 13); // the server's UTC hour key
    keys.push(key);
    labels.push(String(new Date(t).getHours()).padStart(2, '0') + 'h');
    rows.push(byKey[key] || {});
  }
  var c = {
    id: 'today',
    title: 'Chats today',
    sub: 'per hour',
    stacked: true,
    series: [
      { name: 'Answered', cls: 's-answered', values: rows.map(function (g) { return g.answered || 0; }) },
      { name: 'Abandoned', cls: 's-abandoned', values: rows.map(function (g) { return g.abandoned || 0; }) },
      {
        name: 'Not answered yet',
        cls: 's-other',
        values: rows.map(function (g) {
          return Math.max(0, (g.conversations || 0) - (g.answered || 0) - (g.abandoned || 0));
        }),
      },
    ],
    totals: rows.map(function (g) { return g.conversations || 0; }),
    format: A.count,
    unit: 'conversations',
    integer: true,
    labels: labels,
    keys: keys,
  };
  clear($('live-chart')).appendChild(A.chartCard(c, true));
}

setInterval(tick, 1000);
document.addEventListener('visibilitychange', tick);

app.live = { shown: shown };
