// Plays a live path's HLS or DASH in Debian's Chromium (puppeteer-core) for tests/live_hls_browser.rs,
// and screenshots the picture on a schedule, so the test can read back which published frame
// was on the screen when:
//
//   node live.mjs OUTDIR JOBS_JSON
//
// JOBS_JSON is an array of jobs, one after the other in one browser, each in a fresh page:
//
//   { "name": "hlsjs", "player": "hls.js" | "native" | "dash.js", "url": "http://.../index.m3u8",
//     "warmup": 4000, "shots": 10, "every": 400 }
//
// The page is a blank document with a muted `<video>` whose box is the picture's own size,
// and hls.js (from node_modules, as the lockfile pins it; low-latency mode, its default)
// added as a script for the hls.js jobs; dash.js (from node_modules too, its defaults: the
// MPD's suggestedPresentationDelay) for the dash.js jobs, on the path's dynamic MPD; native
// jobs hand the URL to `video.src`. Once the
// video plays, and `warmup` ms more (the player settles at its live edge), the video element
// is screenshot `shots` times, `every` ms apart, as OUTDIR/NAME-I.png, each with the wall
// clock (Date.now()) just before and just after it. Every wait has a deadline
// (LIVE_STEP_MS, 20 s by default). Writes OUTDIR/report.json: per job the shots, the video's
// events, the player's errors, and hls.js's own latency estimate; the Rust test judges them.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, giveUpAfter, launch } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [outDir, jobsJson] = process.argv.slice(2);
if (!outDir || !jobsJson) {
  console.error('usage: node live.mjs OUTDIR JOBS_JSON');
  process.exit(64);
}
const jobs = JSON.parse(jobsJson);
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = Number(process.env.LIVE_STEP_MS || 20000);
const TOTAL_MS = Number(process.env.LIVE_TIMEOUT_MS || 150000);
const HLS_JS = path.join(here, 'node_modules/hls.js/dist/hls.min.js');
const DASH_JS = path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js');

fs.mkdirSync(outDir, { recursive: true });
let browser;
const deadline = giveUpAfter('live.mjs', TOTAL_MS, () => browser);

// In the page: starts `player` on `url`, recording what happens in `window.run`.
function start(player, url) {
  const run = { player, url, events: [], playerErrors: [] };
  window.run = run;
  const video = document.getElementById('v');
  for (const type of ['loadedmetadata', 'playing', 'waiting', 'stalled', 'pause', 'ended', 'error']) {
    video.addEventListener(type, () => {
      const e = { type, at: Date.now(), currentTime: video.currentTime };
      if (type === 'error') e.error = video.error ? `${video.error.code}: ${video.error.message}` : 'unknown';
      if (type === 'loadedmetadata') {
        video.style.width = `${video.videoWidth}px`;
        video.style.height = `${video.videoHeight}px`;
      }
      run.events.push(e);
    });
  }
  if (player === 'native') {
    video.src = url;
  } else if (player === 'dash.js') {
    const dash = dashjs.MediaPlayer().create();
    run.libVersion = dash.getVersion();
    for (const ev of [dashjs.MediaPlayer.events.ERROR, dashjs.MediaPlayer.events.PLAYBACK_ERROR]) {
      dash.on(ev, (e) => {
        run.playerErrors.push({ at: Date.now(), fatal: true, text: `dash.js: ${JSON.stringify(e.error ?? e)}` });
      });
    }
    dash.initialize(video, url, true);
    window.dash = dash;
  } else {
    run.libVersion = Hls.version;
    const hls = new Hls({ lowLatencyMode: true });
    hls.on(Hls.Events.ERROR, (_, d) => {
      run.playerErrors.push({ at: Date.now(), fatal: !!d.fatal, text: `${d.type} ${d.details} ${d.url ?? d.frag?.url ?? ''}` });
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    window.hls = hls;
  }
  // dash.js plays by itself (initialize's autoplay) once it listens to the video: a play()
  // before that is an event it never sees, and it then waits for one to refresh the MPD.
  if (player !== 'dash.js') {
    video.play().catch((e) => run.events.push({ type: 'play() refused', at: Date.now(), error: String(e) }));
  }
}

// In the page: what the player says now.
function state() {
  const v = document.getElementById('v');
  const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : null;
  return {
    currentTime: v.currentTime,
    bufferedEnd: end,
    size: [v.videoWidth, v.videoHeight],
    hlsLatency: window.hls ? window.hls.latency : null,
    dashLatency: window.dash ? window.dash.getCurrentLiveLatency() : null,
    hlsTargetLatency: window.hls ? window.hls.targetLatency : null,
    lowLatencyMode: window.hls ? window.hls.lowLatencyMode : null,
  };
}

async function runJob(job) {
  const page = await browser.newPage();
  try {
    await page.setContent(
      '<!doctype html><html><body style="margin:0;background:#808080">' +
        '<video id="v" muted autoplay playsinline style="display:block"></video></body></html>',
    );
    if (job.player === 'hls.js') await page.addScriptTag({ path: HLS_JS });
    if (job.player === 'dash.js') await page.addScriptTag({ path: DASH_JS });
    await page.evaluate(start, job.player, job.url);
    await page.waitForFunction(() => window.run.events.some((e) => e.type === 'playing'), { timeout: STEP_MS });
    await new Promise((ok) => setTimeout(ok, job.warmup));
    const shots = [];
    const video = await page.$('#v');
    for (let i = 0; i < job.shots; i++) {
      const file = path.join(outDir, `${job.name}-${i}.png`);
      const before = Date.now();
      await video.screenshot({ path: file });
      const after = Date.now();
      shots.push({ file, before, after, state: await page.evaluate(state) });
      await new Promise((ok) => setTimeout(ok, job.every));
    }
    const run = await page.evaluate(() => window.run);
    return { name: job.name, ...run, shots, final: await page.evaluate(state) };
  } catch (e) {
    const run = await page.evaluate(() => window.run).catch(() => null);
    return { name: job.name, failure: String(e?.stack ?? e), run };
  } finally {
    await page.close();
  }
}

try {
  browser = await launch({
    executablePath: EXECUTABLE,
    timeout: STEP_MS,
    protocolTimeout: STEP_MS,
    extraArgs: ['--autoplay-policy=no-user-gesture-required'],
  });
  const version = await browser.version();
  const report = { browser: version, jobs: [] };
  for (const job of jobs) report.jobs.push(await runJob(job));
  fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2));
  await browser.close();
  clearTimeout(deadline);
} catch (e) {
  await fail('live.mjs', e, browser);
}
