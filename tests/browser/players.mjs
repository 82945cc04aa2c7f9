// Plays HLS and DASH in Debian's Chromium (puppeteer-core, no browser download) for
// tests/http_hls_browser.rs:
//
//   node players.mjs OUTDIR JOBS_JSON
//
// JOBS_JSON is an array of jobs, run one after the other in one browser, each in a fresh page:
//
//   { "name": "hlsjs", "player": "native" | "hls.js" | "dash.js", "url": "http://...",
//     "shotAt": 7.325 | null, "toEnd": true | false }
//
// or { "name": "page", "player": "page", "url": "http://SERVER/", "shotAt": 7.325 } for the
// server's own page and its <video> (see pageJob).
//
// The page comes from this script's own loopback server (a different origin from the media, so
// the media's CORS headers are exercised), with hls.js and dash.js read from node_modules as
// the lockfile pins them. The page makes a muted `<video>` whose CSS box is the picture's own
// size (set once the metadata says it) and hands it the URL: `video.src` for native HLS, or the
// player library. It records the video's events with the page's clock and, as the first
// request for the URL, the Resource Timing entry's start (the moment the source is handed over
// when there is no entry).
//
// With `shotAt`, once playback has passed it the video is paused and seeked to exactly
// `shotAt`; after `seeked`, with the frame for `shotAt` presented (requestVideoFrameCallback,
// whose mediaTime is the frame's timestamp), the video element is screenshot at its natural
// size, again every 200 ms until two in a row agree, as OUTDIR/NAME-shot.png; then playback
// resumes. With `toEnd`, the job waits for `ended`.
// Every wait has a deadline (PLAYERS_STEP_MS, 20 s by default, beyond the media's own time).
// The media requests are listed with when each went out and was answered, on the page's clock.
// Writes its findings as OUTDIR/report.json; the Rust test judges them.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, giveUpAfter, launch } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [outDir, jobsJson] = process.argv.slice(2);
if (!outDir || !jobsJson) {
  console.error('usage: node players.mjs OUTDIR JOBS_JSON');
  process.exit(64);
}
const jobs = JSON.parse(jobsJson);
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = Number(process.env.PLAYERS_STEP_MS || 20000);
// The whole run's deadline: the browser is closed and we exit non-zero, so the caller's own
// deadline (which can only kill us, not Chromium) is never what ends a stuck run.
const TOTAL_TIMEOUT_MS = Number(process.env.PLAYERS_TIMEOUT_MS || 180000);

fs.mkdirSync(outDir, { recursive: true });

const LIBS = {
  '/lib/hls.js': path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/lib/dash.js': path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
};
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>players</title>
<style>html,body{margin:0;padding:0;background:#808080}video{display:block;position:absolute;left:0;top:0}</style>
<script src="/lib/hls.js"></script><script src="/lib/dash.js"></script>
</head><body></body></html>`;

// The page's server: the harness page and the two libraries, nothing else, loopback only.
const pageServer = http.createServer((req, res) => {
  const p = new URL(req.url, 'http://x').pathname;
  if (p === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  } else if (p === '/favicon.ico') {
    res.writeHead(204);
    res.end();
  } else if (LIBS[p]) {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    fs.createReadStream(LIBS[p]).pipe(res);
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => pageServer.listen(0, '127.0.0.1', ok));
const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;

let browser;
const deadline = giveUpAfter('players.mjs', TOTAL_TIMEOUT_MS, () => browser);

// In the page: starts the player on `url` and records what happens in `window.run`.
function start(player, url) {
  const run = {
    player,
    url,
    events: [],
    playerErrors: [],
    canPlayHls: document.createElement('video').canPlayType('application/vnd.apple.mpegurl'),
    mseAvc: window.MediaSource ? MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e"') : false,
  };
  window.run = run;
  const video = document.createElement('video');
  video.id = 'v';
  video.muted = true;
  video.playsInline = true;
  video.autoplay = true;
  video.preload = 'auto';
  document.body.appendChild(video);
  const now = () => performance.now();
  for (const type of [
    'loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'canplaythrough', 'playing',
    'waiting', 'stalled', 'seeking', 'seeked', 'pause', 'play', 'ended', 'error',
    'resize', 'durationchange', 'emptied', 'abort',
  ]) {
    video.addEventListener(type, () => {
      const e = { type, t: now(), currentTime: video.currentTime };
      if (type === 'error') e.error = video.error ? `${video.error.code}: ${video.error.message}` : 'unknown';
      if (type === 'resize' || type === 'loadedmetadata') {
        e.size = [video.videoWidth, video.videoHeight];
        // The element's box is the picture's size: the screenshot is then 1:1.
        video.style.width = `${video.videoWidth}px`;
        video.style.height = `${video.videoHeight}px`;
      }
      run.events.push(e);
    });
  }
  // The last frame presented, from requestVideoFrameCallback (mediaTime is the frame's own
  // timestamp), all along.
  const onFrame = (_, m) => {
    run.lastFrame = { mediaTime: m.mediaTime, presentedFrames: m.presentedFrames, width: m.width, height: m.height, t: now() };
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  run.t_start = now();
  if (player === 'native') {
    video.src = url;
  } else if (player === 'hls.js') {
    run.libVersion = Hls.version;
    if (!Hls.isSupported()) throw new Error('hls.js: not supported here (no MSE?)');
    const hls = new Hls({ debug: false, enableWorker: true });
    hls.on(Hls.Events.ERROR, (_, d) => {
      run.playerErrors.push({
        t: now(),
        fatal: !!d.fatal,
        text: `${d.type} ${d.details}${d.response ? ` (${d.response.code} ${d.response.text ?? ''})` : ''}${d.reason ? `: ${d.reason}` : ''}${d.error ? `: ${d.error}` : ''} ${d.url ?? d.frag?.url ?? ''}`,
      });
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      run.levels = d.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate, codecs: l.codecSet ?? l.videoCodec, name: l.name }));
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    window.hls = hls;
  } else if (player === 'dash.js') {
    const dash = dashjs.MediaPlayer().create();
    run.libVersion = dash.getVersion();
    dash.on(dashjs.MediaPlayer.events.ERROR, (e) => {
      run.playerErrors.push({ t: now(), fatal: true, text: `dash.js error: ${JSON.stringify(e.error ?? e)}` });
    });
    dash.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => {
      run.playerErrors.push({ t: now(), fatal: true, text: `dash.js playback error: ${JSON.stringify(e.error ?? e)}` });
    });
    dash.initialize(video, url, true);
    window.dash = dash;
  } else {
    throw new Error(`unknown player ${player}`);
  }
  video.play().catch((e) => run.events.push({ type: 'play() rejected', t: now(), error: String(e) }));
  return { canPlayHls: run.canPlayHls, mseAvc: run.mseAvc };
}

// In the page: the first Resource Timing entry for `url`, if the fetch left one.
function firstRequest(url) {
  const e = performance.getEntriesByType('resource').find((r) => r.name === url);
  return e ? e.startTime : null;
}

// In the page: pause and seek to `at`, then resolve once `seeked` has fired and the last
// frame presented (the loop in `start` keeps it) is the one for `at`: its timestamp at or
// before `at` and less than a quarter of a second before. Presented before the seek or
// after, it is the frame to show either way.
function pauseAndSeek(id, at, timeoutMs) {
  const video = document.getElementById(id);
  return new Promise((resolve) => {
    const out = { seekTo: at };
    const started = performance.now();
    let seeked = false;
    const check = () => {
      const f = window.run.lastFrame;
      if (seeked && f && f.mediaTime <= at + 1e-3 && at - f.mediaTime < 0.25) {
        out.currentTime = video.currentTime;
        out.frame = f;
        out.paused = video.paused;
        resolve(out);
      } else if (performance.now() - started > timeoutMs) {
        out.timedOut = true;
        out.frame = f;
        resolve(out);
      } else {
        requestAnimationFrame(check);
      }
    };
    video.pause();
    video.addEventListener('seeked', () => (seeked = true), { once: true });
    video.currentTime = at;
    requestAnimationFrame(check);
  });
}

// Screenshots of `handle` until two in a row, 200 ms apart, are the same picture, saved as
// `file`: the compositor may still show the frame from before a seek for a while after the
// new one was presented (seen on a loaded machine).
async function steadyScreenshot(handle, file) {
  let last = await handle.screenshot();
  const until = Date.now() + STEP_TIMEOUT_MS;
  const out = { screenshots: 1, changed: 0 };
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 200));
    const next = await handle.screenshot();
    out.screenshots++;
    if (Buffer.compare(last, next) === 0) break;
    out.changed++;
    last = next;
    if (Date.now() > until) {
      out.unsteady = true;
      break;
    }
  }
  fs.writeFileSync(file, last);
  return out;
}

// A step that fails says which it was.
async function step(what, promise) {
  try {
    return await promise;
  } catch (e) {
    throw new Error(`${what}: ${e?.message ?? e}`);
  }
}

// Records what `page` logs and fetches (but this script's own page and libraries, and data:
// URLs): the console, error responses, failed requests, and each request with when it went
// out and when it ended, on the page's clock (milliseconds since its time origin, as the
// events are) once `setOrigin` has been given that origin.
function watch(page) {
  const w = { console: [], failedRequests: [], errorResponses: [], requests: [] };
  // The first few hundred lines: a player that logs in a loop must not bloat the report.
  const log = (line) => w.console.length < 300 && w.console.push(line);
  page.on('console', (m) => log(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
  let origin = null;
  const clock = () => (origin === null ? null : Math.round((Date.now() - origin) * 10) / 10);
  const byRequest = new Map();
  page.on('request', (r) => {
    if (r.url().startsWith(pageUrl) || r.url().startsWith('data:')) return;
    const entry = { url: r.url(), t: clock() };
    byRequest.set(r, entry);
    w.requests.push(entry);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) w.errorResponses.push(`${r.status()} ${r.url()}`);
    const entry = byRequest.get(r.request());
    if (entry) Object.assign(entry, { status: r.status(), headersAt: clock() });
  });
  page.on('requestfinished', (r) => {
    const entry = byRequest.get(r);
    if (entry) entry.doneAt = clock();
  });
  page.on('requestfailed', (r) => {
    w.failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`);
    const entry = byRequest.get(r);
    if (entry) Object.assign(entry, { failedAt: clock(), failure: r.failure()?.errorText });
  });
  return { seen: w, setOrigin: (o) => (origin = o) };
}

// In the page, before its own script: records the events of every <video> in `window.run`.
function hookVideoEvents() {
  const run = { events: [], playerErrors: [] };
  window.run = run;
  for (const type of [
    'loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'playing', 'waiting', 'seeking',
    'seeked', 'pause', 'play', 'ended', 'error', 'emptied', 'abort',
  ]) {
    window.addEventListener(
      type,
      (e) => {
        const v = e.target;
        if (!(v instanceof HTMLVideoElement)) return;
        const entry = { type, t: performance.now(), currentTime: v.currentTime, src: v.getAttribute('src') };
        if (type === 'error') entry.error = v.error ? `${v.error.code}: ${v.error.message}` : 'unknown';
        run.events.push(entry);
      },
      true,
    );
  }
}

// In the page: the server's player as it stands.
function pageState() {
  const video = document.getElementById('video');
  const img = document.getElementById('player');
  const toggle = document.getElementById('switch');
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  };
  return {
    canPlayHls: document.createElement('video').canPlayType('application/vnd.apple.mpegurl'),
    kind: document.getElementById('now-kind')?.textContent ?? null,
    video: video && {
      hidden: video.hidden,
      src: video.getAttribute('src'),
      currentSrc: video.currentSrc,
      paused: video.paused,
      currentTime: video.currentTime,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      error: video.error ? `${video.error.code}: ${video.error.message}` : null,
      box: box(video),
    },
    img: img && { hidden: img.hidden, src: img.getAttribute('src'), naturalWidth: img.naturalWidth, box: box(img) },
    toggle: toggle && { text: toggle.textContent, disabled: toggle.disabled },
  };
}

// In the page: the last frame the page's video presented, kept in `window.run.lastFrame`.
function followFrames(id) {
  const video = document.getElementById(id);
  const onFrame = (_, m) => {
    window.run.lastFrame = { mediaTime: m.mediaTime, presentedFrames: m.presentedFrames, width: m.width, height: m.height, t: performance.now() };
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

// In the page: the video's current picture at its natural size, through a canvas, as a PNG
// data URL (the page's video is same-origin, so the canvas can be read).
function videoPicture(id) {
  const video = document.getElementById(id);
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  return canvas.toDataURL('image/png');
}

// The server's own page (`job.url`, its `/`): its <video> must play the first video's HLS,
// show the frame for `shotAt` after a seek there, and the switch must go to the Motion-JPEG
// <img> and back.
async function pageJob(job) {
  const page = await browser.newPage();
  const watcher = watch(page);
  await page.evaluateOnNewDocument(hookVideoEvents);
  await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
  const result = { name: job.name, player: job.player, url: job.url };
  const playingSince = (t) =>
    page.waitForFunction(
      (since) => run.events.some((e) => (e.type === 'playing' && e.t >= since) || e.type === 'error'),
      { timeout: STEP_TIMEOUT_MS, polling: 10 },
      t,
    );
  try {
    // The Motion-JPEG <img> in the markup is a stream that never ends: no `load` to wait for.
    await page.goto(job.url, { waitUntil: 'domcontentloaded', timeout: STEP_TIMEOUT_MS });
    watcher.setOrigin(await page.evaluate(() => performance.timeOrigin));
    result.before = await page.evaluate(pageState);
    if (!result.before.video) throw new Error('the page has no <video id="video">');
    await page.evaluate(followFrames, 'video');
    await step("waiting for the page's video to play", playingSince(0));
    result.firstRequest = await page.evaluate(() => {
      const url = new URL(document.getElementById('video').getAttribute('src'), location.href).href;
      return performance.getEntriesByType('resource').find((r) => r.name === url)?.startTime ?? null;
    });
    await step(
      `waiting for the page's video to pass ${job.shotAt} s`,
      page.waitForFunction(
        (at) => document.getElementById('video').currentTime > at || run.events.some((e) => e.type === 'error'),
        { timeout: STEP_TIMEOUT_MS + job.shotAt * 1000, polling: 10 },
        job.shotAt,
      ),
    );
    await page.screenshot({ path: path.join(outDir, `${job.name}-hls.png`) });
    result.shot = await page.evaluate(pauseAndSeek, 'video', job.shotAt, STEP_TIMEOUT_MS);
    const picture = await page.evaluate(videoPicture, 'video');
    result.shot.file = `${job.name}-frame.png`;
    fs.writeFileSync(path.join(outDir, result.shot.file), Buffer.from(picture.slice(picture.indexOf(',') + 1), 'base64'));
    Object.assign(result.shot, await steadyScreenshot(await page.$('#video'), path.join(outDir, `${job.name}-video.png`)));
    await page.evaluate(() => document.getElementById('video').play());

    // The switch: to the Motion-JPEG <img>, which must show a frame, and back.
    await page.click('#switch');
    await step(
      'waiting for the Motion-JPEG player after the switch',
      page.waitForFunction(
        () => {
          const img = document.getElementById('player');
          return !img.hidden && img.complete !== undefined && img.naturalWidth > 0 && !document.getElementById('video').getAttribute('src');
        },
        { timeout: STEP_TIMEOUT_MS, polling: 20 },
      ),
    );
    result.switched = await page.evaluate(pageState);
    await page.screenshot({ path: path.join(outDir, `${job.name}-mjpeg.png`) });
    const back = await page.evaluate(() => performance.now());
    await page.click('#switch');
    await step("waiting for the page's video to play again after switching back", playingSince(back));
    await step(
      "waiting for the page's video to pass 1 s again",
      page.waitForFunction(() => document.getElementById('video').currentTime > 1 || run.events.some((e) => e.type === 'error'), {
        timeout: STEP_TIMEOUT_MS,
        polling: 10,
      }),
    );
    result.switchedBack = await page.evaluate(pageState);
  } catch (e) {
    result.failure = String(e?.message ?? e);
  }
  result.run = await page.evaluate(() => window.run);
  await page.close();
  return { ...result, ...watcher.seen };
}

async function runJob(job) {
  if (job.player === 'page') return pageJob(job);
  const page = await browser.newPage();
  const watcher = watch(page);
  await page.setViewport({ width: 1280, height: 800, deviceScaleFactor: 1 });
  await page.goto(pageUrl, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
  watcher.setOrigin(await page.evaluate(() => performance.timeOrigin));
  const result = { name: job.name, player: job.player, url: job.url };
  try {
    Object.assign(result, await page.evaluate(start, job.player, job.url));
    // Playing, or a failure that says why not.
    await step(
      'waiting for the playing event',
      page.waitForFunction(
        () => run.events.some((e) => e.type === 'playing' || e.type === 'error') || run.playerErrors.some((e) => e.fatal),
        { timeout: STEP_TIMEOUT_MS, polling: 10 },
      ),
    );
    result.firstRequest = await page.evaluate(firstRequest, job.url);
    if (job.shotAt != null) {
      await step(
        `waiting for playback to pass ${job.shotAt} s`,
        page.waitForFunction(
          (at) => document.getElementById('v').currentTime > at || run.events.some((e) => e.type === 'error'),
          { timeout: STEP_TIMEOUT_MS + job.shotAt * 1000, polling: 10 },
          job.shotAt,
        ),
      );
      result.shot = await page.evaluate(pauseAndSeek, 'v', job.shotAt, STEP_TIMEOUT_MS);
      const video = await page.$('#v');
      const file = `${job.name}-shot.png`;
      Object.assign(result.shot, await steadyScreenshot(video, path.join(outDir, file)));
      result.shot.file = file;
      result.shot.box = await page.evaluate(() => {
        const r = document.getElementById('v').getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      });
      await page.evaluate(() => document.getElementById('v').play());
    }
    if (job.toEnd) {
      const left = await page.evaluate(() => {
        const v = document.getElementById('v');
        return (Number.isFinite(v.duration) ? v.duration - v.currentTime : 60) * 1000;
      });
      await step(
        'waiting for the ended event',
        page.waitForFunction(
          () => run.events.some((e) => e.type === 'ended' || e.type === 'error') || run.playerErrors.some((e) => e.fatal),
          { timeout: left + STEP_TIMEOUT_MS, polling: 50 },
        ),
      );
    }
  } catch (e) {
    result.failure = String(e?.message ?? e);
  }
  Object.assign(
    result,
    await page.evaluate(() => {
      const v = document.getElementById('v');
      const q = v?.getVideoPlaybackQuality?.();
      return {
        run: window.run,
        final: v && {
          currentTime: v.currentTime,
          duration: v.duration,
          ended: v.ended,
          paused: v.paused,
          videoWidth: v.videoWidth,
          videoHeight: v.videoHeight,
          error: v.error ? `${v.error.code}: ${v.error.message}` : null,
          totalVideoFrames: q?.totalVideoFrames,
          droppedVideoFrames: q?.droppedVideoFrames,
        },
      };
    }),
  );
  await page.close();
  return { ...result, ...watcher.seen };
}

try {
  browser = await launch({
    executablePath: EXECUTABLE,
    timeout: STEP_TIMEOUT_MS,
    protocolTimeout: STEP_TIMEOUT_MS * 10,
    // A muted video may start by itself.
    extraArgs: [
      '--autoplay-policy=no-user-gesture-required',
      '--disable-background-media-suspend',
      '--disable-renderer-backgrounding',
    ],
  });
  const version = await browser.version();
  const results = [];
  for (const job of jobs) results.push(await runJob(job));
  await browser.close();
  pageServer.close();
  clearTimeout(deadline);
  // To a file, not stdout: the caller reads our pipes only once we have exited, and a report
  // larger than a pipe's buffer would block us before that.
  fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify({ browser: version, jobs: results }));
  console.log(`players.mjs: wrote ${path.join(outDir, 'report.json')}`);
} catch (e) {
  await fail('players.mjs', e, browser);
}
