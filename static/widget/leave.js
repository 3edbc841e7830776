/*
 * Leaving a message, for when nobody can chat (no expert available, or outside office hours):
 * the form (the message, an optional name and email) that sends `leave_message`, and the
 * notice shown while a left message waits, which thanks the customer at once and greets them
 * again when they come back before it is answered. The answer then arrives like any chat's.
 */

var el = app.dom.el;
var S = app.state.S;
var record = app.state.record;
var t = app.i18n.t;
var field = app.forms.field;

// The shape the server accepts (local@domain.tld, no spaces); the server has the last word.
var EMAIL = /^[^\s@<>()[\],;:"\\]+@[^\s@<>()[\],;:"\\]+\.[^\s@<>()[\],;:"\\.]+$/;

function buildForm() {
  var text = el('textarea', { id: 'sb-leave-text', name: 'message', rows: '3', maxlength: '4000', required: true });
  var name = el('input', { type: 'text', id: 'sb-leave-name', name: 'name', autocomplete: 'name', maxlength: '100' });
  var email = el('input', { type: 'email', id: 'sb-leave-email', name: 'email', autocomplete: 'email' });
  var status = el('p', { class: 'leave-status', role: 'status' });
  var submit = el('button', { class: 'btn', type: 'submit', text: t('sendMessage') });
  // Kept until the server acknowledges: sent again after a lost connection, it is the same
  // message, not a second one.
  var cmid = null;
  var form = el('form', {
    class: 'notice leave',
    hidden: true,
    novalidate: true,
    'aria-label': t('leaveTitle'),
    oninput: function () {
      // A refusal speaks of what was written then, not of what is being corrected.
      if (!submit.disabled) status.textContent = '';
    },
    onsubmit: function (e) {
      e.preventDefault();
      var words = text.value.trim();
      var address = email.value.trim();
      if (!words) {
        status.textContent = t('emptyMessage');
        return text.focus();
      }
      if (address && !EMAIL.test(address)) {
        status.textContent = t('badEmail');
        return email.focus();
      }
      cmid = cmid || app.socket.clientMsgId();
      submit.disabled = true;
      status.textContent = t('sending');
      app.connection.request({
        type: 'leave_message',
        text: words,
        name: name.value.trim() || undefined,
        email: address || undefined,
        category: S.category || undefined,
        page: app.page.current(),
        client_msg_id: cmid,
      }).then(
        function (ack) {
          cmid = null;
          submit.disabled = false;
          status.textContent = '';
          text.value = '';
          var conv = record(ack.conversation_id);
          conv.offline = true;
          conv.startedAt = conv.startedAt || Date.now();
          S.offlineForm = null;
          app.view.setCurrent(conv);
          if (ack.message) app.transcript.add(ack.message);
          app.view.render();
        },
        function (err) {
          submit.disabled = false;
          if (err && err.code === 'not_allowed' && S.welcome && S.welcome.office_hours_open !== false) {
            // Someone became available meanwhile: the words start a chat instead.
            cmid = null;
            status.textContent = '';
            text.value = '';
            S.welcome.available = true;
            S.offlineForm = null;
            app.view.toast(t('expertNowAvailable'));
            app.panel.ui.input.value = words;
            app.composer.submit();
            return;
          }
          status.textContent = app.view.errorText(err);
        }
      );
    },
  }, [
    el('h3', { text: t('leaveTitle') }),
    el('p', { text: t('leaveText') }),
    field(t('yourMessage'), text),
    field(t('nameOptional'), name),
    field(t('emailOptional'), email),
    submit,
    status,
  ]);
  return form;
}

function buildNotice() {
  return el('div', { class: 'notice left', role: 'status', hidden: true }, [
    el('h3', { text: t('messageLeftThanks') }),
    el('p', { text: t('messageLeftText') }),
  ]);
}

/** Whether `conv` is a left message still waiting for an expert. */
function waiting(conv) {
  return !!(conv && conv.offline && (conv.status === 'queued' || conv.status === 'offered'));
}

app.leave = { form: buildForm, notice: buildNotice, waiting: waiting };
