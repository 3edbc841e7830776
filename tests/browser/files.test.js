// Files in the chat, in two browser contexts against the real server: the customer drops an
// image on the widget and the expert sees it as a thumbnail in the transcript and beside it;
// a file over `limits.max_attachment_bytes` is refused before any upload; an upload shows its
// progress bar; the expert pastes an image and attaches a PDF, and the customer sees the
// thumbnail and downloads the PDF through its link. Then the same across origins, from a shop
// that embeds the widget on another site. Saves docs/screenshots/widget-files.png and
// console-files.png.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const h = require('./helpers');

const LIMIT = 256 * 1024;

// Another site (another origin) embedding the widget, listed in `server.allowed_origins`:
// started first, so the server is started knowing its address.
const otherShop = { site: null, url: null };
const up = h.serverAndBrowser(async () => {
  otherShop.site = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html><head><title>Other shop</title></head><body><h1>Another shop</h1>
      <script src="${up.server.url}/widget.js" async></script></body></html>`);
  });
  await new Promise((r) => otherShop.site.listen(0, '127.0.0.1', r));
  otherShop.url = `http://127.0.0.1:${otherShop.site.address().port}`;
  return {
    env: {
      SWITCHBOARD_LIMITS_MAX_ATTACHMENT_BYTES: String(LIMIT),
      SWITCHBOARD_SERVER_ALLOWED_ORIGINS: JSON.stringify([otherShop.url]),
    },
  };
});
after(() => otherShop.site.close());

const FILE_INPUT = '#switchboard-widget .composer input[type=file]';
const CONSOLE_FILE_INPUT = h.CHAT + ' .composer input[type=file]';

/** A PNG drawn by the page's canvas, as base64: a real image, so a thumbnail has pixels. */
function drawPng(page, colour, label) {
  return page.evaluate(
    ({ colour, label }) => {
      const c = document.createElement('canvas');
      c.width = 160;
      c.height = 100;
      const g = c.getContext('2d');
      g.fillStyle = colour;
      g.fillRect(0, 0, 160, 100);
      g.fillStyle = '#fff';
      g.font = 'bold 20px sans-serif';
      g.fillText(label, 14, 58);
      return c.toDataURL('image/png').split(',')[1];
    },
    { colour, label }
  );
}

/** Opens the widget on `url`, says `text` and has the expert of `consolePage` accept the offer. */
async function chatAccepted(shop, consolePage, url, text) {
  await shop.goto(url);
  await shop.click(h.W.launcher);
  await shop.fill(h.W.input, text);
  await shop.press(h.W.input, 'Enter');
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq="1"]');
  await consolePage.click('.offer-accept');
  await consolePage.waitForSelector(h.CHAT + ' .msg-customer');
}

/** Whether the image `selector` finds (in the page or the widget's shadow root) has loaded pixels. */
function thumbnailLoaded(page, selector) {
  return h.waitFor(
    page,
    (sel) => {
      const root = document.getElementById('switchboard-widget');
      const img = document.querySelector(sel) || (root && root.shadowRoot.querySelector(sel));
      return !!img && img.complete && img.naturalWidth === 160 && img.src.startsWith('blob:');
    },
    `a loaded thumbnail at ${selector}`,
    selector
  );
}

test('customers and experts send files: drop, paste, attach, progress, the size limit', async () => {
  const { server, browser } = up;
  const expert = await h.createExpert(server, { username: 'fiona', name: 'Fiona Reyes' });
  const { page: consolePage } = await h.newPage(browser, { viewport: { width: 1360, height: 860 } });
  await h.loginConsole(consolePage, server, expert);

  const { page: shop } = await h.newPage(browser, { viewport: { width: 1280, height: 960 } });
  const uploads = [];
  shop.on('request', (r) => {
    if (r.method() === 'POST' && r.url().includes('/api/v1/attachments')) uploads.push(r.url());
  });
  await chatAccepted(shop, consolePage, server.url + '/', 'Hello! My Ridgeline tent arrived with a torn seam.');

  // A file over the limit is refused in the widget before anything is uploaded.
  await shop.setInputFiles(FILE_INPUT, { name: 'huge-video.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(LIMIT + 1, 7) });
  await shop.waitForSelector('#switchboard-widget .toast:not([hidden])');
  assert.match(await shop.textContent('#switchboard-widget .toast'), /huge-video\.mp4 is too large: files can be at most 262/);
  // And in the console.
  await consolePage.setInputFiles(CONSOLE_FILE_INPUT, { name: 'backup.zip', mimeType: 'application/zip', buffer: Buffer.alloc(LIMIT + 5, 1) });
  await consolePage.waitForSelector('.toast-error');
  assert.match(await consolePage.textContent('.toast-error'), /backup\.zip is too large/);
  assert.deepEqual(uploads, [], 'no upload was attempted for files over the limit');

  // The customer drops a photo on the panel: the expert sees it as a thumbnail in the
  // transcript and in the side panel.
  const photo = await drawPng(shop, '#0f766e', 'torn seam');
  const dropped = await shop.evaluateHandle((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'tent-seam.png', { type: 'image/png' }));
    return dt;
  }, photo);
  await shop.dispatchEvent(h.W.panel, 'dragenter', { dataTransfer: dropped });
  await shop.dispatchEvent(h.W.panel, 'drop', { dataTransfer: dropped });
  await thumbnailLoaded(shop, '.msg.customer[data-seq] .file-image img');
  await thumbnailLoaded(consolePage, h.CHAT + ' .transcript .msg-customer .file-image img');
  await thumbnailLoaded(consolePage, h.CHAT + ' .chat-info .files .file-image img');
  assert.match(await consolePage.getAttribute(h.CHAT + ' .chat-info .files .file-image', 'aria-label'), /tent-seam\.png/);
  assert.equal(uploads.length, 1);

  // An upload shows its progress bar while the bytes are on their way: the request is held
  // until the bar has been seen.
  let release;
  const held = new Promise((r) => (release = r));
  await shop.route('**/api/v1/attachments?**', async (route) => {
    await held;
    await route.continue();
  });
  await shop.setInputFiles(FILE_INPUT, { name: 'order-receipt.txt', mimeType: 'text/plain', buffer: Buffer.from('Order 1042\n'.repeat(8000)) });
  const bar = await shop.waitForSelector('#switchboard-widget .uploads .file-upload progress.file-progress');
  assert.equal(await bar.getAttribute('aria-label'), 'Uploading order-receipt.txt');
  release();
  await shop.waitForSelector('#switchboard-widget .msg.customer[data-seq] .file-download');
  await shop.waitForSelector('#switchboard-widget .uploads .file-upload', { state: 'detached' });
  await shop.unroute('**/api/v1/attachments?**');
  await consolePage.waitForSelector(h.CHAT + ' .chat-info .files .file-download');

  // The expert pastes a screenshot into the reply box and attaches a PDF.
  const screenshot = await drawPng(consolePage, '#4f46e5', 'step 1');
  await consolePage.evaluate(
    ({ b64, sel }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'repair-step.png', { type: 'image/png' }));
      document.querySelector(sel).dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    },
    { b64: screenshot, sel: h.COMPOSER }
  );
  await thumbnailLoaded(shop, '.msg.expert .file-image img');
  const pdf = Buffer.from('%PDF-1.4\n% Ridgeline repair guide\n' + 'x'.repeat(2000) + '\n%%EOF\n');
  await consolePage.setInputFiles(CONSOLE_FILE_INPUT, { name: 'repair-guide.pdf', mimeType: 'application/pdf', buffer: pdf });
  const link = await shop.waitForSelector('#switchboard-widget .msg.expert .file-download');
  assert.match(await link.textContent(), /repair-guide\.pdf/);
  assert.match(await link.getAttribute('aria-label'), /^Download repair-guide\.pdf, 2(\.\d)? kB$/);

  // The customer's link works: it downloads the expert's file, byte for byte.
  const [download] = await Promise.all([shop.waitForEvent('download'), link.click()]);
  assert.equal(download.suggestedFilename(), 'repair-guide.pdf');
  assert.deepEqual(fs.readFileSync(await download.path()), pdf);

  // Every file of the chat is listed beside it.
  await h.waitFor(consolePage, (sel) => document.querySelectorAll(sel).length === 4, 'four files beside the chat', h.CHAT + ' .chat-info .files li');
  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);

  // The pictures show the files, not the size errors of the start.
  await consolePage.click('.toast-error .icon-btn');
  await shop.waitForSelector('#switchboard-widget .toast', { state: 'hidden' });
  await shop.screenshot({ path: h.screenshotPath('widget-files.png') });
  await consolePage.screenshot({ path: h.screenshotPath('console-files.png') });
});

test('a widget embedded on another site uploads and shows files across origins', async () => {
  const { server, browser } = up;
  const expert = await h.createExpert(server, { username: 'omar', name: 'Omar Haddad' });
  const { page: consolePage } = await h.newPage(browser);
  await h.loginConsole(consolePage, server, expert);

  const { page: shop } = await h.newPage(browser);
  await chatAccepted(shop, consolePage, otherShop.url + '/', 'Hi, the label on my parcel is smudged.');

  // The upload is a cross-origin POST with a token (a preflighted request), and the widget
  // shows the file it sent through a cross-origin GET.
  const photo = await drawPng(shop, '#b45309', 'label');
  await shop.setInputFiles(FILE_INPUT, { name: 'parcel-label.png', mimeType: 'image/png', buffer: Buffer.from(photo, 'base64') });
  await thumbnailLoaded(shop, '.msg.customer[data-seq] .file-image img');
  await thumbnailLoaded(consolePage, h.CHAT + ' .transcript .msg-customer .file-image img');

  // The expert's picture reaches the other site's page the same way.
  const reply = await drawPng(consolePage, '#1d4ed8', 'new label');
  await consolePage.setInputFiles(CONSOLE_FILE_INPUT, { name: 'new-label.png', mimeType: 'image/png', buffer: Buffer.from(reply, 'base64') });
  await thumbnailLoaded(shop, '.msg.expert .file-image img');
  assert.deepEqual(shop.errors, []);
  assert.deepEqual(consolePage.errors, []);
});
