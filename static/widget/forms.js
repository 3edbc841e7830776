/*
 * The widget's two forms: asking for a callback (when no expert can chat) and rating an
 * ended chat. Each builds its own nodes and sends its own frame. (Leaving a message has its
 * own file, leave.js, and shares `field`.)
 */

var el = app.dom.el;
var S = app.state.S;
var setItem = app.storage.setItem;
var t = app.i18n.t;

/** A labelled field of a form: `input`, which has its id, under `label`. */
function field(label, input) {
  return el('div', { class: 'field' }, [el('label', { for: input.id, text: label }), input]);
}

function buildCallbackForm() {
  var phone = el('input', { type: 'tel', id: 'sb-cb-phone', name: 'phone', autocomplete: 'tel', required: true });
  var msg = el('textarea', { id: 'sb-cb-msg', name: 'message', rows: '2' });
  var status = el('p', { class: 'cb-status', role: 'status' });
  var submit = el('button', { class: 'btn', type: 'submit', text: t('requestCallback') });
  var form = el('form', {
    class: 'notice callback',
    hidden: true,
    'aria-label': t('requestCallback'),
    onsubmit: function (e) {
      e.preventDefault();
      var number = phone.value.trim();
      if (!/^[+()\d][\d\s().\-]{4,}$/.test(number)) {
        status.textContent = t('badPhone');
        phone.focus();
        return;
      }
      submit.disabled = true;
      status.textContent = t('sending');
      app.connection.request({
        type: 'callback',
        phone: number,
        message: msg.value.trim() || undefined,
        category: S.category || undefined,
      }).then(
        function () {
          S.callbackSent = true;
          form.replaceChildren(
            el('h3', { text: t('callbackThanks') }),
            el('p', { text: t('callbackWillCall', { number: number }) })
          );
        },
        function (err) {
          submit.disabled = false;
          status.textContent = app.view.errorText(err);
        }
      );
    },
  }, [
    el('h3', { text: t('callbackTitle') }),
    el('p', { text: t('callbackText') }),
    field(t('phone'), phone),
    field(t('messageOptional'), msg),
    submit,
    status,
  ]);
  return form;
}

function buildRating() {
  var score = 0;
  var stars = [];
  var group = el('div', { class: 'stars', role: 'radiogroup', 'aria-label': t('starsLabel') });
  function paint(n) {
    stars.forEach(function (s, i) {
      s.classList.toggle('lit', i < n);
    });
  }
  for (var i = 1; i <= 5; i++) {
    (function (n) {
      var s = el('button', {
        class: 'star',
        type: 'button',
        role: 'radio',
        'aria-checked': 'false',
        'aria-label': n === 1 ? t('oneStar') : t('nStars', { n: app.i18n.number(n) }),
        text: '★',
        onclick: function () {
          score = n;
          stars.forEach(function (x, j) {
            x.setAttribute('aria-checked', String(j === n - 1));
          });
          paint(n);
          submit.disabled = false;
        },
        onmouseenter: function () {
          paint(n);
        },
        onmouseleave: function () {
          paint(score);
        },
        onkeydown: function (e) {
          // Right to left, the arrow keys follow the stars as drawn.
          var forward = app.i18n.dir === 'rtl' ? 'ArrowLeft' : 'ArrowRight';
          var back = app.i18n.dir === 'rtl' ? 'ArrowRight' : 'ArrowLeft';
          var d = e.key === forward || e.key === 'ArrowUp' ? 1 : e.key === back || e.key === 'ArrowDown' ? -1 : 0;
          if (d) {
            e.preventDefault();
            var t = stars[Math.min(4, Math.max(0, n - 1 + d))];
            t.focus();
            t.click();
          }
        },
      });
      stars.push(s);
      group.appendChild(s);
    })(i);
  }
  var comment = el('textarea', { id: 'sb-rate-comment', rows: '2', placeholder: t('commentPlaceholder') });
  var status = el('p', { class: 'rate-status', role: 'status' });
  var submit = el('button', { class: 'btn', type: 'submit', text: t('sendRating'), disabled: true });
  var form = el('form', {
    class: 'notice rating',
    hidden: true,
    'aria-label': t('rateLabel'),
    onsubmit: function (e) {
      e.preventDefault();
      var conv = S.conv;
      if (!conv || !score) return;
      submit.disabled = true;
      status.textContent = t('sending');
      app.connection.request({ type: 'rate', conversation_id: conv.id, score: score, comment: comment.value.trim() || undefined }).then(
        function () {
          S.rated[conv.id] = score;
          setItem('rated', JSON.stringify(S.rated));
          status.textContent = '';
          app.view.render();
        },
        function (err) {
          submit.disabled = false;
          status.textContent = app.view.errorText(err);
        }
      );
    },
  }, [
    el('h3', { text: t('rateTitle') }),
    group,
    field(t('commentOptional'), comment),
    submit,
    status,
  ]);
  form.clear = function () {
    score = 0;
    paint(0);
    stars.forEach(function (x) {
      x.setAttribute('aria-checked', 'false');
    });
    comment.value = '';
    submit.disabled = true;
    status.textContent = '';
  };
  return form;
}

app.forms = { callback: buildCallbackForm, rating: buildRating, field: field };
