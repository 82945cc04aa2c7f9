// What page.mjs and players.mjs share: Chromium launched the same way, and a run that ends
// with Chromium closed and a non-zero exit, on a deadline or on an error.

import puppeteer from 'puppeteer-core';

// Root in CI: no sandbox. No GPU, no first-run chores, nothing fetched from anywhere.
const ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--metrics-recording-only',
  '--force-color-profile=srgb',
];

// Launches Chromium at `executablePath` with ARGS and then `extraArgs`.
export function launch({ executablePath, timeout, protocolTimeout, extraArgs = [] }) {
  return puppeteer.launch({
    executablePath,
    headless: true,
    // Over a pipe, not a port: nothing else can reach the browser, and it exits when we do,
    // even if we are killed.
    pipe: true,
    args: [...ARGS, ...extraArgs],
    timeout,
    protocolTimeout,
  });
}

// The whole run's deadline: after `ms`, kills the browser `getBrowser()` returns (if any) and
// exits with 3. Returns the timer, for clearTimeout once the run is done.
export function giveUpAfter(script, ms, getBrowser) {
  return setTimeout(() => {
    console.error(`${script}: no result after ${ms} ms, giving up`);
    try {
      getBrowser()?.process()?.kill('SIGKILL');
    } catch {}
    process.exit(3);
  }, ms);
}

// Reports `e`, closes `browser` (if any) and exits with 1.
export async function fail(script, e, browser) {
  console.error(`${script}: ${e?.stack ?? e}`);
  try {
    await browser?.close();
  } catch {}
  process.exit(1);
}
