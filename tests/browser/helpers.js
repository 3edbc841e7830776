// Shared plumbing for the browser tests: start the real server binary, create experts,
// drive the system chromium through playwright-core. No browser is ever downloaded.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { before, after } = require('node:test');

const { chromium } = require('playwright-core');

const BIN = path.resolve(__dirname, process.env.SWITCHBOARD_BIN || '../../target/release/switchboard');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ADMIN_TOKEN = 'browser-test-admin-token';
const ROOT = path.resolve(__dirname, '../..');

// Sets one deadline for an awaited condition; tests never sleep-and-hope.
const TIMEOUT = 25000;

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `switchboard serve` in a fresh temp dir (or on `opts.dataDir`), resolving once it
 * prints `listening on http://HOST:PORT`.
 */
async function startServer(opts = {}) {
  if (!fs.existsSync(BIN)) {
    throw new Error(`server binary not found at ${BIN}: run \`cargo build --release\` or set SWITCHBOARD_BIN`);
  }
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-browser-'));
  // The server reads config.toml from its working directory (environment variables still win).
  if (opts.config) fs.writeFileSync(path.join(dir, 'config.toml'), opts.config);
  const env = {
    ...process.env,
    SWITCHBOARD_SERVER_BIND: opts.bind || '127.0.0.1:0',
    SWITCHBOARD_SERVER_DATA_DIR: path.join(dir, 'data'),
    SWITCHBOARD_SERVER_ADMIN_TOKEN: ADMIN_TOKEN,
    SWITCHBOARD_ROUTING_ACCEPT_WINDOW: '30s',
    RUST_LOG: process.env.RUST_LOG || 'warn',
    ...(opts.env || {}),
  };
  const child = spawn(BIN, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 20 s:\n${output}`));
    }, 20000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code ?? signal}):\n${output}`));
    });
  });
  // Keep draining the pipes so the server never blocks on a full pipe.
  child.stdout.on('data', () => {});
  child.stderr.on('data', () => {});
  const server = {
    url,
    dir,
    child,
    output: () => output,
    async stop(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
  return server;
}

async function api(server, method, p, body, token = ADMIN_TOKEN) {
  const res = await fetch(server.url + p, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (!res.ok) throw new Error(`${method} ${p} → ${res.status}: ${text}`);
  return json;
}

async function createExpert(
  server,
  { username, password = 'correct-horse-battery', name, categories = ['general'], certifications = [] }
) {
  await api(server, 'POST', '/api/v1/experts', {
    username,
    password,
    name,
    categories,
    certifications,
  });
  return { username, password, name };
}

async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/**
 * For a test file: starts a server (`startServer(opts)`) and a browser before its tests and
 * closes both after them. `opts` may be an async function giving them, for options known only
 * once something else is up (node runs a file's `before` hooks at once, not one by one).
 * Returns `{server, browser}`, each filled in as soon as it is up, so the closing hook closes
 * it even if the other failed to start.
 */
function serverAndBrowser(opts = {}) {
  const up = { server: null, browser: null };
  before(async () => {
    await Promise.all([
      (typeof opts === 'function' ? opts() : Promise.resolve(opts)).then(startServer).then((s) => (up.server = s)),
      launchBrowser().then((b) => (up.browser = b)),
    ]);
  });
  after(async () => {
    if (up.browser) await up.browser.close();
    if (up.server) await up.server.stop();
  });
  return up;
}

/** The console's chat shown now, and its text box. */
const CHAT = '.chat:not([hidden])';
const COMPOSER = CHAT + ' .composer-input';

/**
 * A page that fails the test on any dialog (alert/confirm/prompt) unless `allowDialogs`
 * lists the expected confirm texts, and records console errors and page errors.
 */
async function newPage(browser, { viewport = { width: 1280, height: 800 }, allowConfirm = [] } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.dialogsSeen = [];
  page.errors = [];
  page.on('dialog', async (d) => {
    page.dialogsSeen.push(`${d.type()}: ${d.message()}`);
    if (d.type() === 'confirm' && allowConfirm.some((re) => re.test(d.message()))) await d.accept();
    else await d.dismiss();
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return { context, page };
}

/** Logs an expert into the console at /console and waits for the socket's welcome. */
async function loginConsole(page, server, expert) {
  await page.goto(server.url + '/console');
  await page.fill('#login-username', expert.username);
  await page.fill('#login-password', expert.password);
  await page.click('#login-submit');
  await page.waitForSelector('#app:not([hidden])', { timeout: TIMEOUT });
  // The socket said hello and the server set the expert available.
  await waitFor(page, () => document.getElementById('presence-dot').classList.contains('dot-available'), 'expert available');
}

/** Polls a predicate evaluated in the page until it holds. */
async function waitFor(page, fn, what, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: TIMEOUT, polling: 50 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

// Widget parts, reached through its (open) shadow root: playwright's CSS engine pierces it.
const W = {
  launcher: '#switchboard-widget .launcher',
  panel: '#switchboard-widget .panel',
  input: '#switchboard-widget .composer textarea',
  send: '#switchboard-widget .composer .send',
  log: '#switchboard-widget .log',
  typing: '#switchboard-widget .typing',
  subtitle: '#switchboard-widget .subtitle',
  ended: '#switchboard-widget .ended',
  conn: '#switchboard-widget .conn',
};

/** Texts of the widget transcript's messages, in order, per author kind. */
function widgetMessages(page) {
  return page.evaluate(() => {
    const root = document.getElementById('switchboard-widget').shadowRoot;
    return Array.from(root.querySelectorAll('.log .msg')).map((m) => ({
      kind: m.getAttribute('data-kind') || 'pending',
      seq: Number(m.getAttribute('data-seq')) || null,
      text: m.querySelector('.bubble').textContent,
    }));
  });
}

function consoleMessages(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('.chat:not([hidden]) .transcript .msg')).map((m) => ({
      kind: m.getAttribute('data-kind'),
      seq: Number(m.getAttribute('data-seq')),
      internal: m.classList.contains('msg-internal'),
      text: m.querySelector('.bubble').textContent,
    }))
  );
}

function screenshotPath(name) {
  const dir = path.join(ROOT, 'docs', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

module.exports = {
  ADMIN_TOKEN,
  CHAT,
  COMPOSER,
  TIMEOUT,
  W,
  api,
  consoleMessages,
  createExpert,
  freePort,
  launchBrowser,
  loginConsole,
  newPage,
  screenshotPath,
  serverAndBrowser,
  startServer,
  waitFor,
  widgetMessages,
};
