// Drives Debian's Chromium (puppeteer-core, no browser download) against the server's web page
// for tests/http_page.rs:
//
//   node page.mjs URL OUTDIR [PLAY]
//
// For each of a phone and a desktop viewport: opens URL, waits (with a deadline) for the
// player `<img id="player">` to show a frame, then copies the player's current frame into a
// canvas every SAMPLE_MS for ~3 s and saves each copy losslessly as OUTDIR/VIEW-sample-NN.png
// with the page's clock at the copy; lists the names of the video cards (`li.card[data-name]`);
// saves a screenshot of the whole page as OUTDIR/page-VIEW.png. Prints one JSON line on
// stdout; the Rust test judges it (which source frames the samples are, the pace, the list).
// A canvas that cannot be read (an exception, or a frame drawn all transparent) is a failure:
// the player's `<img>` is same-origin, and Chromium draws a multipart image's current frame.
// With PLAY, the card whose data-name is PLAY is played first, with its "Play here"
// button, as a person would pick it; the samples are then of that stream.

import fs from 'node:fs';
import path from 'node:path';
import { fail, giveUpAfter, launch } from './common.mjs';

const [url, outDir, PLAY = ''] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node page.mjs URL OUTDIR [PLAY]');
  process.exit(64);
}
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEWS = [
  { name: 'phone', width: 390, height: 844, isMobile: true, hasTouch: true },
  { name: 'desktop', width: 1280, height: 900, isMobile: false, hasTouch: false },
];
const SAMPLES = 11;
const SAMPLE_MS = 300;
const STEP_TIMEOUT_MS = 15000;
// The whole run's deadline: the browser is closed and we exit non-zero, so the caller's own
// deadline (which can only kill us, not Chromium) is never what ends a stuck run.
const TOTAL_TIMEOUT_MS = Number(process.env.PAGE_TIMEOUT_MS || 60000);

fs.mkdirSync(outDir, { recursive: true });

let browser;
const deadline = giveUpAfter('page.mjs', TOTAL_TIMEOUT_MS, () => browser);

async function view(spec) {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  const failed = [];
  page.on('requestfailed', (r) => {
    failed.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  const errors = [];
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.setViewport({
    width: spec.width,
    height: spec.height,
    deviceScaleFactor: 1,
    isMobile: spec.isMobile,
    hasTouch: spec.hasTouch,
  });
  const response = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: STEP_TIMEOUT_MS });
  const status = response.status();
  // The player has a frame when its natural size is known; the multipart stream never ends.
  await page.waitForFunction(
    () => {
      const img = document.getElementById('player');
      return img && img.naturalWidth > 0 && img.naturalHeight > 0;
    },
    { timeout: STEP_TIMEOUT_MS, polling: 20 },
  );
  // The cards' snapshots (lazy) too, so the screenshot shows them; they are single JPEGs.
  await page.waitForFunction(
    () => [...document.querySelectorAll('li.card img')].every((i) => i.complete && i.naturalWidth > 0),
    { timeout: STEP_TIMEOUT_MS, polling: 50 },
  );

  if (PLAY) {
    // Resolved by the player's next picture: the load of the stream the button gave it.
    await page.evaluate(
      (name, timeout) =>
        new Promise((resolve, reject) => {
          const img = document.getElementById('player');
          const button = [...document.querySelectorAll('li.card')]
            .find((li) => li.dataset.name === name)
            ?.querySelector('button.play');
          if (!button) return reject(new Error(`no card ${name} with a Play button`));
          img.addEventListener('load', () => resolve(), { once: true });
          setTimeout(() => reject(new Error(`${name}: the player showed no picture`)), timeout);
          button.click();
        }),
      PLAY,
      STEP_TIMEOUT_MS,
    );
  }

  const facts = await page.evaluate(() => {
    const img = document.getElementById('player');
    const r = img.getBoundingClientRect();
    const doc = document.documentElement;
    // Elements wider than the viewport, or whose content overflows them, for the report.
    const overflowing = [...document.querySelectorAll('body *')]
      .filter((e) => {
        const b = e.getBoundingClientRect();
        return b.width > 0 && (b.right > doc.clientWidth + 0.5 || b.left < -0.5);
      })
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + String(e.className).replace(/ /g, '.') : ''}`);
    return {
      // A broken card has no data-name (only its heading names it).
      names: [...document.querySelectorAll('li.card')].map(
        (li) => li.dataset.name ?? li.querySelector('h2')?.textContent ?? '',
      ),
      broken: [...document.querySelectorAll('li.card.broken h2')].map((h) => h.textContent),
      title: document.title,
      player: {
        src: img.getAttribute('src'),
        naturalWidth: img.naturalWidth,
        naturalHeight: img.naturalHeight,
        box: { x: r.x, y: r.y, width: r.width, height: r.height },
      },
      viewportWidth: doc.clientWidth,
      scrollWidth: doc.scrollWidth,
      scrollHeight: doc.scrollHeight,
      overflowing,
    };
  });

  // The samples, timed by the page's clock, all taken inside the page so the protocol's
  // round trips do not disturb the spacing.
  const canvasSamples = await page.evaluate(
    async (count, spacing) => {
      const img = document.getElementById('player');
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      const out = [];
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        const due = start + i * spacing;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const t = performance.now();
        try {
          ctx.clearRect(0, 0, canvas.width, canvas.height);
          ctx.drawImage(img, 0, 0);
          const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          let opaque = false;
          for (let k = 3; k < px.length; k += 4 * 97) {
            if (px[k] !== 0) {
              opaque = true;
              break;
            }
          }
          if (!opaque) return { error: 'the canvas copy of the player is all transparent' };
          out.push({ t_ms: t, png: canvas.toDataURL('image/png') });
        } catch (e) {
          return { error: `canvas readback failed: ${e}` };
        }
      }
      return { samples: out };
    },
    SAMPLES,
    SAMPLE_MS,
  );

  if (canvasSamples.error) throw new Error(`${spec.name}: ${canvasSamples.error}`);
  const samples = canvasSamples.samples.map((s, i) => {
    const file = `${spec.name}-sample-${String(i).padStart(2, '0')}.png`;
    const b64 = s.png.slice(s.png.indexOf(',') + 1);
    fs.writeFileSync(path.join(outDir, file), Buffer.from(b64, 'base64'));
    return { t_ms: s.t_ms, file };
  });

  const screenshot = `page-${spec.name}.png`;
  await page.screenshot({ path: path.join(outDir, screenshot), fullPage: true });
  await page.close();
  return {
    view: spec.name,
    width: spec.width,
    height: spec.height,
    status,
    ...facts,
    samples,
    screenshot,
    console: consoleLines,
    failedRequests: failed,
    errorResponses: errors,
  };
}

try {
  browser = await launch({
    executablePath: EXECUTABLE,
    timeout: STEP_TIMEOUT_MS,
    protocolTimeout: STEP_TIMEOUT_MS,
  });
  const version = await browser.version();
  const views = [];
  for (const spec of VIEWS) views.push(await view(spec));
  await browser.close();
  clearTimeout(deadline);
  console.log(JSON.stringify({ browser: version, views }));
} catch (e) {
  await fail('page.mjs', e, browser);
}
