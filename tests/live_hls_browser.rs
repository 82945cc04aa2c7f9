//! Live HLS and DASH in a real browser: Debian's Chromium, driven by puppeteer-core
//! (tests/browser/live.mjs), plays a live path with hls.js (low-latency mode), with its own
//! HLS (`<video src>`) and with dash.js on the dynamic MPD, and the publish-to-screen latency
//! is measured.
//!
//! ffmpeg publishes pictures that carry their frame number as a bar code
//! (tests/support/live_source.rs); the test knows when it handed each frame to ffmpeg. Once
//! the video plays (and a few seconds more, for the player to settle at its live edge), the
//! video element is screenshot ten times; each screenshot's number, read back, says which
//! frame was on the screen at that moment (the wall clock halfway through the screenshot),
//! and so how long ago it was published. The median over the screenshots is printed for each
//! player (the target, under 2 s, is a benchmark figure; only a generous deadline is asserted
//! here), and every screenshot must carry a number, match its source picture (PSNR) and the
//! numbers must go up (the picture is live, not frozen). Screenshots and the browser's report
//! are kept under `target/test-artifacts/live_hls_browser/`.

// Its helpers for players.mjs's reports are not used here.
#[allow(dead_code)]
#[path = "support/json.rs"]
mod json;
#[path = "support/live_source.rs"]
mod live_source;
mod support;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use json::Field;
use live_source::NumberedPublisher;
use support::browser::Browser;
use support::*;

/// Publish-to-screen latency beyond which the test fails: far above the 2 s target, so only
/// a player that is not live at all (or a stuck server) fails it.
const DEADLINE: Duration = Duration::from_secs(8);
/// The PSNR a screenshot must reach against the picture it carries the number of.
const MIN_PSNR_DB: f64 = 25.0;

/// One test at a time: the machine's cores are few, and the latency is what is measured.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn hls_js_plays_live_hls_in_chromium_with_low_latency() {
    live_in_chromium("hlsjs", "hls.js");
}

#[test]
fn native_hls_plays_live_hls_in_chromium() {
    live_in_chromium("native", "native");
}

#[test]
fn dash_js_plays_live_dash_in_chromium() {
    live_in_chromium("dashjs", "dash.js");
}

fn artifacts(name: &str) -> PathBuf {
    let out = repo_root()
        .join("target/test-artifacts/live_hls_browser")
        .join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    out
}

fn live_in_chromium(name: &str, player: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(browser) = Browser::find(&["puppeteer-core", "hls.js", "dashjs"]) else {
        return;
    };
    if !have_ffmpeg() {
        return;
    }
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
    });
    let http = server.http_addr.unwrap();
    let publisher = NumberedPublisher::start(&format!("rtsp://{}/live/{name}", server.addr));
    let publishing = wait_until(Duration::from_secs(20), || publisher.frames_sent() > 20);
    assert!(publishing, "the publisher does not run");
    let out = artifacts(name);
    let job = serde_json::json!([{
        "name": name,
        "player": player,
        "url": match player {
            "dash.js" => format!("http://{http}/live/{name}/dash/manifest.mpd"),
            _ => format!("http://{http}/live/{name}/hls/index.m3u8"),
        },
        "warmup": 4000,
        "shots": 10,
        "every": 400,
    }]);
    let output = browser.node(
        "live.mjs",
        &[out.as_os_str(), job.to_string().as_ref()],
        ("LIVE_TIMEOUT_MS", 90_000),
        Duration::from_secs(120),
    );
    let report_path = out.join("report.json");
    let text = std::fs::read_to_string(&report_path).unwrap_or_else(|e| {
        panic!(
            "live.mjs wrote no report: {e}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let job = &report["jobs"].arr()[0];
    assert!(job.get("failure").is_none(), "{name}: {job:#}");
    let fatal: Vec<_> = job["playerErrors"]
        .arr()
        .iter()
        .filter(|e| e["fatal"].as_bool() == Some(true))
        .collect();
    assert!(fatal.is_empty(), "{name}: fatal player errors {fatal:?}");
    judge_shots(name, job, &publisher, report["browser"].str());
}

/// Reads each screenshot's number and how old that frame was; prints the median; asserts
/// the pictures are the published ones, live, and within [`DEADLINE`].
fn judge_shots(name: &str, job: &serde_json::Value, publisher: &NumberedPublisher, browser: &str) {
    let mut latencies = Vec::new();
    let mut numbers = Vec::new();
    for shot in job["shots"].arr() {
        let file = shot["file"].str();
        let img = image::open(file).unwrap().to_rgb8();
        let (number, source) = live_source::source_of(&img)
            .unwrap_or_else(|| panic!("{name}: {file} carries no frame number"));
        let db = psnr(&img, &source);
        assert!(
            db >= MIN_PSNR_DB,
            "{name}: {file} is {db:.1} dB from frame {number}"
        );
        let shown_ms = (shot["before"].num() + shot["after"].num()) / 2.0;
        let shown = UNIX_EPOCH + Duration::from_secs_f64(shown_ms / 1000.0);
        let sent = publisher
            .sent_at(number)
            .unwrap_or_else(|| panic!("{name}: frame {number} was never sent"));
        let latency = shown.duration_since(sent).unwrap_or_default();
        latencies.push(latency);
        numbers.push(number);
    }
    let rising = numbers.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        rising >= numbers.len() - 2,
        "{name}: frozen? frames {numbers:?}"
    );
    let mut sorted = latencies.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let own = job["final"]["hlsLatency"]
        .as_f64()
        .or(job["final"]["dashLatency"].as_f64());
    eprintln!(
        "{name}: publish-to-screen latency median {:.2} s (min {:.2}, max {:.2}) over {} screenshots \
         of frames {numbers:?}; the player's own estimate {own:?} s; {browser}; load average {}",
        median.as_secs_f64(),
        sorted[0].as_secs_f64(),
        sorted[sorted.len() - 1].as_secs_f64(),
        sorted.len(),
        load_average(),
    );
    assert!(
        median < DEADLINE,
        "{name}: publish-to-screen latency {median:?}"
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
