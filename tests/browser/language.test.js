// The visitor's language: the widget's translation tables (every language has every key),
// the widget in German and in Arabic (right to left) chosen from the browser's language,
// `data-lang` overriding the browser, the greeting in the visitor's language, times through
// Intl, and the customer's language in the expert's console. Saves
// docs/screenshots/widget-arabic.png.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const vm = require('node:vm');
const h = require('./helpers');

const GERMAN_GREETING = 'Danke für Ihre Nachricht! Gleich ist jemand für Sie da.';
const ARABIC_GREETING = 'شكرًا لتواصلك معنا! سيكون أحد خبرائنا معك قريبًا.';

let server;
let browser;
// A shop of another origin that embeds the widget in French (`data-lang="fr"`).
let frenchShop;

before(async () => {
  frenchShop = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html lang="fr"><head><title>Boutique</title></head><body><h1>Boutique</h1>
      <script src="${server.url}/widget.js" data-lang="fr" async></script></body></html>`);
  });
  await new Promise((r) => frenchShop.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${frenchShop.address().port}`;
  [server, browser] = await Promise.all([
    h.startServer({
      config: `[conversation.greetings]\nde = "${GERMAN_GREETING}"\nar = "${ARABIC_GREETING}"\n`,
      env: { SWITCHBOARD_SERVER_ALLOWED_ORIGINS: JSON.stringify([origin]) },
    }),
    h.launchBrowser(),
  ]);
  frenchShop.url = origin + '/';
});

after(async () => {
  if (frenchShop) frenchShop.close();
  if (browser) await browser.close();
  if (server) await server.stop();
});

/** static/widget/i18n.js run on its own, as the bundle runs it, with no embed tag. */
function loadI18n(languages = []) {
  const file = path.resolve(__dirname, '../../static/widget/i18n.js');
  const app = { config: null };
  const context = vm.createContext({ app, navigator: { languages }, Intl });
  vm.runInContext(`(function (app) {'use strict';\n${fs.readFileSync(file, 'utf8')}\n})(app);`, context);
  return app.i18n;
}

test('every language has every key, with the same placeholders, and the choice follows the rules', () => {
  const i18n = loadI18n();
  const langs = Object.keys(i18n.TABLES).sort();
  assert.deepEqual(langs, ['ar', 'de', 'en', 'es', 'fr', 'ja', 'pt', 'zh']);
  const keys = Object.keys(i18n.TABLES.en).sort();
  const holes = (text) => (text.match(/\{\w+\}/g) || []).sort().join();
  for (const lang of langs) {
    const table = i18n.TABLES[lang];
    assert.deepEqual(Object.keys(table).sort(), keys, `${lang} has exactly the keys of en`);
    for (const key of keys) {
      assert.equal(typeof table[key], 'string', `${lang}.${key}`);
      assert.ok(table[key].trim(), `${lang}.${key} is not empty`);
      assert.equal(holes(table[key]), holes(i18n.TABLES.en[key]), `${lang}.${key} keeps en's placeholders`);
    }
  }

  // Plain objects: the vm's own are of another realm.
  const choose = (dataLang, browser) => ({ ...i18n.choose(dataLang, browser) });
  assert.deepEqual(choose(null, ['de-CH', 'en-US']), { tag: 'de-CH', table: 'de' });
  assert.deepEqual(choose(null, ['nl-NL', 'pt-BR']), { tag: 'pt-BR', table: 'pt' });
  for (const simplified of ['zh', 'zh-CN', 'zh-Hans', 'zh-SG', 'zh-Hans-HK']) {
    assert.equal(choose(null, [simplified]).table, 'zh', simplified);
  }
  // The Chinese table is Simplified: a reader of Traditional gets their next language.
  assert.deepEqual(choose(null, ['zh-TW', 'ja-JP']), { tag: 'ja-JP', table: 'ja' });
  assert.equal(choose(null, ['zh-Hant']).table, 'en');
  // Nothing with a table: English texts, and the browser's language is still told.
  assert.deepEqual(choose(null, ['nl-NL']), { tag: 'nl-NL', table: 'en' });
  assert.deepEqual(choose(null, []), { tag: 'en', table: 'en' });
  // data-lang wins over the browser, even without a table of its own; a bad one is ignored.
  assert.deepEqual(choose('fr', ['de-DE']), { tag: 'fr', table: 'fr' });
  assert.deepEqual(choose('pt_BR', ['de-DE']), { tag: 'pt-BR', table: 'pt' });
  assert.deepEqual(choose('nl', ['de-DE']), { tag: 'nl', table: 'en' });
  assert.deepEqual(choose('not a tag', ['de-DE']), { tag: 'de-DE', table: 'de' });
  // Right to left for Arabic only.
  assert.equal(loadI18n(['ar']).dir, 'rtl');
  assert.equal(loadI18n(['he', 'de']).dir, 'ltr');
  assert.equal(loadI18n(['en']).t('numberInLine', { n: 3 }), 'You are number 3 in line.');
});

/**
 * A browser context whose language is `locale` (navigator.languages and Accept-Language),
 * with the widget's hello and welcome frames recorded.
 */
async function shopIn(locale, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ locale, viewport });
  context.setDefaultTimeout(h.TIMEOUT);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.frames = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    if (!ws.url().endsWith('/ws/customer')) return;
    ws.on('framesent', (f) => page.frames.sent.push(JSON.parse(f.payload)));
    ws.on('framereceived', (f) => page.frames.received.push(JSON.parse(f.payload)));
  });
  return { context, page };
}

async function until(fn, what) {
  const deadline = Date.now() + h.TIMEOUT;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The hello the widget sent and the welcome it got. */
async function greeting(page) {
  const hello = await until(() => page.frames.sent.find((f) => f.type === 'hello'), 'the hello frame');
  const welcome = await until(() => page.frames.received.find((f) => f.type === 'welcome'), 'the welcome frame');
  return { hello, welcome };
}

/** Texts and attributes of the widget, read through its shadow root. */
function widget(page) {
  return page.evaluate(() => {
    const host = document.getElementById('switchboard-widget');
    const root = host.shadowRoot;
    const q = (s) => root.querySelector(s);
    return {
      hostDir: host.getAttribute('dir'),
      hostLang: host.getAttribute('lang'),
      wrapDir: q('.sb').getAttribute('dir'),
      launcher: q('.launcher').getAttribute('aria-label'),
      title: q('.title').textContent,
      subtitle: q('.subtitle').textContent,
      placeholder: q('.composer textarea').getAttribute('placeholder'),
      send: q('.send').getAttribute('aria-label'),
      intro: q('.intro').textContent,
    };
  });
}

test('the widget speaks German to a browser set to de-CH, and the expert sees the language', async () => {
  const expert = await h.createExpert(server, { username: 'grete', name: 'Grete Keller' });
  const { page: consolePage } = await h.newPage(browser, { viewport: { width: 1360, height: 820 } });
  await h.loginConsole(consolePage, server, expert);

  const { context, page } = await shopIn('de-CH');
  await page.goto(server.url + '/');
  await page.click(h.W.launcher);
  await page.waitForSelector(h.W.panel + ':not([hidden])');
  const { hello, welcome } = await greeting(page);
  assert.equal(hello.lang, 'de-CH', 'hello says the browser language');
  assert.equal(welcome.lang, 'de', 'the server answers the language it has: de-CH -> de');

  const w = await widget(page);
  assert.equal(w.hostDir, 'ltr');
  assert.equal(w.hostLang, 'de-CH');
  assert.equal(w.launcher, 'Chat ausblenden', 'the open widget offers to hide itself');
  assert.equal(w.title, 'Chatten Sie mit uns');
  assert.equal(w.placeholder, 'Nachricht schreiben…');
  assert.equal(w.send, 'Nachricht senden');
  assert.match(w.intro, /^Hallo!/);

  await page.fill(h.W.input, 'Grüezi, mein Paket ist nicht angekommen.');
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.bot');
  const bot = await page.evaluate(() => {
    const m = document.getElementById('switchboard-widget').shadowRoot.querySelector('.msg.bot');
    return { who: m.querySelector('.who').textContent, text: m.querySelector('.bubble').textContent };
  });
  assert.deepEqual(bot, { who: 'Assistent', text: GERMAN_GREETING });
  // While queued: the status line in German.
  await h.waitFor(
    page,
    () => /Fachkraft|chatten mit/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.subtitle').textContent),
    'a German status line'
  );

  // The message's time is written the Swiss German way, through Intl.
  const times = await page.evaluate(() => {
    const t = document.getElementById('switchboard-widget').shadowRoot.querySelector('.msg.customer time');
    const at = new Date(t.getAttribute('datetime'));
    return {
      shown: t.textContent,
      expected: new Intl.DateTimeFormat('de-CH', { hour: 'numeric', minute: '2-digit' }).format(at),
      english: new Intl.DateTimeFormat('en-US', { hour: 'numeric', minute: '2-digit' }).format(at),
    };
  });
  assert.equal(times.shown, times.expected);
  assert.notEqual(times.shown, times.english, 'not the English clock (no AM/PM)');

  // The expert accepts and sees the customer's language beside the chat.
  await consolePage.waitForSelector('.offer');
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector('.chat:not([hidden]) .customer-lang');
  // Named by Intl in English ("Swiss High German" or "German (Switzerland)"), with the tag.
  assert.match(await consolePage.textContent('.chat:not([hidden]) .customer-lang'), /German.* · de-CH$/);
  await h.waitFor(
    page,
    () => /Sie chatten mit Grete Keller/.test(document.getElementById('switchboard-widget').shadowRoot.querySelector('.subtitle').textContent),
    'the German "chatting with" line'
  );
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the widget is Arabic and right to left for a browser set to ar-EG', async () => {
  const viewport = { width: 1280, height: 800 };
  const { context, page } = await shopIn('ar-EG', viewport);
  await page.goto(server.url + '/');
  await page.click(h.W.launcher);
  await page.waitForSelector(h.W.panel + ':not([hidden])');
  const { hello, welcome } = await greeting(page);
  assert.equal(hello.lang, 'ar-EG');
  assert.equal(welcome.lang, 'ar');

  const w = await widget(page);
  assert.equal(w.hostDir, 'rtl', 'the widget root is right to left');
  assert.equal(w.wrapDir, 'rtl');
  assert.equal(w.title, 'تحدث معنا');
  assert.equal(w.placeholder, 'اكتب رسالتك…');
  assert.equal(w.send, 'إرسال الرسالة');

  await page.fill(h.W.input, 'مرحبًا، لم يصل طلبي بعد.');
  await page.press(h.W.input, 'Enter');
  await page.waitForSelector('#switchboard-widget .msg.bot');
  assert.equal((await page.textContent('#switchboard-widget .msg.bot .bubble')).trim(), ARABIC_GREETING);

  // The layout mirrors: the launcher and panel sit in the bottom-left corner, the send button
  // is left of the text box, the customer's own bubble on the left and the bot's on the right.
  const box = async (sel) => (await page.$(sel)).boundingBox();
  const [launcher, panel, input, send, mine, bot] = await Promise.all([
    box(h.W.launcher),
    box(h.W.panel),
    box(h.W.input),
    box(h.W.send),
    box('#switchboard-widget .msg.customer .bubble'),
    box('#switchboard-widget .msg.bot .bubble'),
  ]);
  assert.ok(launcher.x + launcher.width < viewport.width / 2, `launcher on the left: ${JSON.stringify(launcher)}`);
  assert.ok(panel.x < viewport.width / 2, `panel on the left: ${JSON.stringify(panel)}`);
  assert.ok(send.x + send.width <= input.x, `send button left of the text box: ${JSON.stringify({ send, input })}`);
  assert.ok(mine.x < bot.x, `the customer's bubble starts left of the bot's: ${JSON.stringify({ mine, bot })}`);
  assert.ok(Math.abs(mine.x - panel.x) < 40, 'the customer bubble hugs the left side');

  await page.screenshot({ path: h.screenshotPath('widget-arabic.png') });
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('data-lang on the script tag wins over the browser language', async () => {
  const { context, page } = await shopIn('de-DE');
  await page.goto(frenchShop.url);
  await page.waitForSelector(h.W.launcher);
  const { hello, welcome } = await greeting(page);
  assert.equal(hello.lang, 'fr');
  assert.equal(welcome.lang, 'fr');
  const w = await widget(page);
  assert.equal(w.hostDir, 'ltr');
  assert.equal(w.launcher, 'Ouvrir le chat');
  assert.equal(w.title, 'Discutez avec nous');
  assert.equal(w.placeholder, 'Écrivez votre message…');
  assert.deepEqual(page.errors, []);
  await context.close();
});
