/*
 * The widget's two forms: asking for a callback (when no expert can chat) and rating an
 * ended chat. Each builds its own nodes and sends its own frame.
 */

var el = app.dom.el;
var S = app.state.S;
var setItem = app.storage.setItem;

function buildCallbackForm() {
  var phone = el('input', { type: 'tel', id: 'sb-cb-phone', name: 'phone', autocomplete: 'tel', required: true });
  var msg = el('textarea', { id: 'sb-cb-msg', name: 'message', rows: '2' });
  var status = el('p', { class: 'cb-status', role: 'status' });
  var submit = el('button', { class: 'btn', type: 'submit', text: 'Request a callback' });
  var form = el('form', {
    class: 'notice callback',
    hidden: true,
    'aria-label': 'Request a callback',
    onsubmit: function (e) {
      e.preventDefault();
      var number = phone.value.trim();
      if (!/^[+()\d][\d\s().\-]{4,}$/.test(number)) {
        status.textContent = 'Please enter a valid phone number.';
        phone.focus();
        return;
      }
      submit.disabled = true;
      status.textContent = 'Sending…';
      app.connection.request({
        type: 'callback',
        phone: number,
        message: msg.value.trim() || undefined,
        category: S.category || undefined,
      }).then(
        function () {
          S.callbackSent = true;
          form.replaceChildren(
            el('h3', { text: 'Thanks! We will call you back.' }),
            el('p', { text: 'An expert will call ' + number + ' as soon as possible.' })
          );
        },
        function (err) {
          submit.disabled = false;
          status.textContent = app.view.errorText(err);
        }
      );
    },
  }, [
    el('h3', { text: 'Prefer a call?' }),
    el('p', { text: 'Leave your number and we will call you back.' }),
    el('div', { class: 'field' }, [el('label', { for: 'sb-cb-phone', text: 'Phone number' }), phone]),
    el('div', { class: 'field' }, [el('label', { for: 'sb-cb-msg', text: 'Message (optional)' }), msg]),
    submit,
    status,
  ]);
  return form;
}

function buildRating() {
  var score = 0;
  var stars = [];
  var group = el('div', { class: 'stars', role: 'radiogroup', 'aria-label': 'Rating from 1 to 5 stars' });
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
        'aria-label': n + (n === 1 ? ' star' : ' stars'),
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
          var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
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
  var comment = el('textarea', { id: 'sb-rate-comment', rows: '2', placeholder: 'Anything we could do better?' });
  var status = el('p', { class: 'rate-status', role: 'status' });
  var submit = el('button', { class: 'btn', type: 'submit', text: 'Send rating', disabled: true });
  var form = el('form', {
    class: 'notice rating',
    hidden: true,
    'aria-label': 'Rate this chat',
    onsubmit: function (e) {
      e.preventDefault();
      var conv = S.conv;
      if (!conv || !score) return;
      submit.disabled = true;
      status.textContent = 'Sending…';
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
    el('h3', { text: 'How did we do?' }),
    group,
    el('div', { class: 'field' }, [el('label', { for: 'sb-rate-comment', text: 'Comment (optional)' }), comment]),
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

app.forms = { callback: buildCallbackForm, rating: buildRating };
