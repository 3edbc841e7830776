/*
 * The admin page's customers view: data rights. An admin looks a customer up by their id or
 * one of their conversations' (GET /api/v1/conversations/{id} names its customer), reads what
 * is kept (GET /api/v1/customers/{id}/export), downloads it as a JSON file, and erases it
 * (DELETE /api/v1/customers/{id}) after typing the customer's id in a confirmation dialog.
 */

var $ = app.dom.$;
var el = app.dom.el;
var clear = app.dom.clear;
var toast = app.dom.toast;

var C = { customer: null, export: null };

/** The view was opened: the last lookup stays until another. */
function shown() {
  $('customer-id').focus();
}

/** The customer id a typed id names: itself, or the customer of a conversation. */
function customerOf(typed) {
  var A = app.admin;
  if (/^u_\d+$/.test(typed)) return Promise.resolve(typed);
  if (!/^c_\d+$/.test(typed)) return Promise.reject({ message: 'Type a customer id (u_…) or a conversation id (c_…).' });
  return A.api('GET', '/conversations/' + encodeURIComponent(typed)).then(function (c) {
    return c.customer.id;
  });
}

function lookUp(typed) {
  var A = app.admin;
  A.banner('customers-error', '');
  $('customer-card').hidden = true;
  return customerOf(typed)
    .then(function (id) {
      return A.api('GET', '/customers/' + encodeURIComponent(id) + '/export');
    })
    .then(function (data) {
      C.customer = data.customer.id;
      C.export = data;
      render(data);
    })
    .catch(function (err) {
      A.banner('customers-error', err.status === 404 ? 'Nothing is kept about that customer.' : A.errorText(err));
    });
}

function render(data) {
  var A = app.admin;
  var c = data.customer;
  $('customer-title').textContent = (c.name || 'Anonymous visitor') + ' · ' + c.id;
  var parts = [];
  if (c.email) parts.push(c.email);
  if (c.external_id) parts.push('user ' + c.external_id);
  parts.push(A.plural(data.conversations.length, 'conversation'));
  parts.push(A.plural(data.callbacks.length, 'callback request'));
  parts.push(A.plural(data.ratings.length, 'rating'));
  $('customer-summary').textContent = parts.join(' · ');
  var list = $('customer-conversations');
  clear(list);
  data.conversations.forEach(function (conv) {
    var files = conv.attachments.length ? ', ' + A.plural(conv.attachments.length, 'file') : '';
    list.appendChild(
      el('li', { 'data-id': conv.id }, [
        conv.id + ' · ' + conv.status + ' · ' + A.date(conv.created_at) + ' · ' +
          A.plural((conv.messages || []).length, 'message') + files,
      ])
    );
  });
  $('customer-card').hidden = false;
}

/** Saves the export as `customer-u_N.json`, as the API answered it. */
function download() {
  var blob = new Blob([JSON.stringify(C.export, null, 2)], { type: 'application/json' });
  var url = URL.createObjectURL(blob);
  var a = el('a', { href: url, download: 'customer-' + C.customer + '.json' });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(function () {
    URL.revokeObjectURL(url);
  }, 0);
}

function openErase() {
  $('erase-what').textContent = $('customer-title').textContent + ': ' + $('customer-summary').textContent + '.';
  $('erase-id').textContent = C.customer;
  $('erase-confirm').value = '';
  $('erase-submit').disabled = true;
  $('erase-error').textContent = '';
  $('erase-dialog').showModal();
  $('erase-confirm').focus();
}

$('customer-form').addEventListener('submit', function (e) {
  e.preventDefault();
  lookUp($('customer-id').value.trim());
});
$('customer-export').addEventListener('click', download);
$('customer-erase').addEventListener('click', openErase);
$('erase-confirm').addEventListener('input', function () {
  $('erase-submit').disabled = $('erase-confirm').value.trim() !== C.customer;
});
$('erase-form').addEventListener('submit', function (e) {
  e.preventDefault();
  var A = app.admin;
  var id = C.customer;
  if ($('erase-confirm').value.trim() !== id) return;
  $('erase-submit').disabled = true;
  A.api('DELETE', '/customers/' + encodeURIComponent(id))
    .then(function () {
      $('erase-dialog').close();
      $('customer-card').hidden = true;
      C.customer = null;
      C.export = null;
      toast('Erased ' + id + '.');
    })
    .catch(function (err) {
      $('erase-error').textContent = A.errorText(err);
      $('erase-submit').disabled = false;
    });
});

app.customers = { shown: shown };
