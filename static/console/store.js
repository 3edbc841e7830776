/*
 * The console's one store: the state every feature reads and updates, kept in one object so
 * that what the console knows is in one place. Also the REST helper, which signs requests
 * with the expert's token from here.
 */

var API = '/api/v1';

var S = {
  token: sessionStorage.getItem('switchboard.token'),
  expert: JSON.parse(sessionStorage.getItem('switchboard.expert') || 'null'),
  presence: 'offline',
  convs: {}, // id -> chat record (tabs)
  order: [], // tab order
  active: null,
  offers: {}, // id -> offer record
  claimable: {}, // id -> summary
  categories: {},
  canned: null,
  enterSends: localStorage.getItem('switchboard.enterSends') !== '0',
  audio: null,
  maxAttachmentBytes: null, // the server's limit (welcome), so a larger file is refused before uploading
};

/** A call to /api/v1 as the signed-in expert (see app.dom.fetchJson for how it settles). */
function api(method, path, body) {
  return app.dom.fetchJson(API + path, S.token, method, body);
}

app.store = { S: S, API: API, api: api };
