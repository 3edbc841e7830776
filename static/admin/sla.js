/*
 * The reports' SLA section: per category, how many first-response and next-response targets
 * were met and breached in the period, and the breach rates (GET /api/v1/stats, each group's
 * `sla`), as a chart and a table. Per category whatever the report is grouped by: the
 * report's own answer is used when it is per category, else the same period is asked per
 * category.
 */

var $ = app.dom.$;
var el = app.dom.el;
var clear = app.dom.clear;

var KINDS = [
  { key: 'first_response', name: 'First response', cls: 's-sla-first' },
  { key: 'next_response', name: 'Next response', cls: 's-sla-next' },
];

var seq = 0;

function rateOf(g, kind) {
  return (g.sla && g.sla[kind]) || { met: 0, breached: 0, breach_rate: 0 };
}

/** Whether any target of the group ended in the period (a category without targets has none). */
function ended(g) {
  return KINDS.some(function (k) {
    var r = rateOf(g, k.key);
    return r.met + r.breached > 0;
  });
}

/** After each report: `stats` as loaded for `range`, grouped by `group`. */
function load(stats, range, group) {
  var A = app.admin;
  var mine = ++seq;
  if (group === 'category') return render(stats.groups || []);
  var q = '?from=' + encodeURIComponent(A.rfc3339(range.from)) + '&to=' + encodeURIComponent(A.rfc3339(range.to)) + '&group_by=category';
  $('sla-report').setAttribute('data-state', 'loading');
  return A.api('GET', '/stats' + q).then(
    function (byCategory) {
      if (mine === seq) render((byCategory && byCategory.groups) || []);
    },
    function (err) {
      if (mine !== seq) return;
      clear($('sla-body')).appendChild(el('p', { class: 'muted', text: 'Could not load the response targets: ' + A.errorText(err) }));
      $('sla-report').setAttribute('data-state', 'error');
    }
  );
}

/** The report failed: nothing to show for the period. */
function reset() {
  seq++;
  clear($('sla-body'));
  $('sla-report').removeAttribute('data-state');
}

function render(groups) {
  var A = app.admin;
  var shown = groups.filter(ended);
  var body = clear($('sla-body'));
  $('sla-report').setAttribute('data-state', 'ready');
  if (!shown.length) {
    body.appendChild(
      el('p', { class: 'muted sla-empty', text: 'No response target ended in this period. Categories set them with first_response_target and next_response_target.' })
    );
    return;
  }
  var labels = shown.map(function (g) {
    return String(g.label || g.key);
  });
  body.appendChild(
    A.chartCard(
      {
        id: 'sla_breach_rate',
        title: 'SLA breach rate',
        sub: 'per category: targets breached of those that ended',
        series: KINDS.map(function (k) {
          return {
            name: k.name,
            cls: k.cls,
            values: shown.map(function (g) {
              var r = rateOf(g, k.key);
              return r.met + r.breached ? r.breach_rate : null;
            }),
          };
        }),
        labels: labels,
        keys: shown.map(function (g) {
          return String(g.key);
        }),
        format: A.percent,
        max: 1,
      },
      false
    )
  );
  var sub = ['Met', 'Breached', 'Breach rate'];
  var table = el('table', { class: 'table', id: 'sla-table' }, [
    el('thead', {}, [
      el('tr', {}, [el('th', { scope: 'col', rowspan: '2', text: 'Category' })].concat(KINDS.map(function (k) {
        return el('th', { scope: 'colgroup', colspan: '3', class: 'num', text: k.name });
      }))),
      el('tr', {}, KINDS.map(function () {
        return sub.map(function (h) {
          return el('th', { scope: 'col', class: 'num', text: h });
        });
      }).reduce(function (a, b) {
        return a.concat(b);
      })),
    ]),
    el('tbody', {}, shown.map(function (g, i) {
      var cells = [el('th', { scope: 'row', text: labels[i] })];
      KINDS.forEach(function (k) {
        var r = rateOf(g, k.key);
        var any = r.met + r.breached > 0;
        cells.push(el('td', { class: 'num', 'data-kind': k.key, 'data-figure': 'met', text: A.count(r.met) }));
        cells.push(el('td', { class: 'num', 'data-kind': k.key, 'data-figure': 'breached', text: A.count(r.breached) }));
        cells.push(el('td', { class: 'num' + (r.breached ? ' sla-breached' : ''), 'data-kind': k.key, 'data-figure': 'breach_rate', text: any ? A.percent(r.breach_rate) : '—' }));
      });
      return el('tr', { 'data-category': String(g.key) }, cells);
    })),
  ]);
  body.appendChild(el('div', { class: 'card report-table sla-table' }, [el('div', { class: 'table-scroll' }, [table])]));
}

app.adminSla = { load: load, reset: reset };
