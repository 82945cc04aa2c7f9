//! HLS and DASH in a real browser: Debian's Chromium, driven by puppeteer-core
//! (tests/browser/players.mjs), with hls.js and dash.js from npm as tests/browser's lockfile
//! pins them (`.ci/run` installs all three, `npm ci --prefix tests/browser`).
//!
//! Each of Chromium's own HLS (`<video src=".../index.m3u8">`), hls.js and dash.js plays the
//! sample from a server whose encode cache is empty, to its end: `currentTime` reaches the
//! duration (20 s), `ended` fires, no `error` event, no fatal player error, no HTTP error.
//! Mid-way the video is paused and seeked to 7.325 s (the middle of frame 146) and the video
//! element is screenshot at its natural size: compared at a quarter of the size, box-filtered
//! (so the renderer's chroma upsampling at sharp edges does not count), it must score at least
//! 30 dB against a source frame (the right one scored 42 dB with the server's encoder, 34 dB
//! with ffmpeg's x264 at crf 18; the same tagged BT.709, the mix-up, 25 dB; the neighbouring
//! frame 16.5), and the best match among its neighbours must be the frame for the reported
//! `currentTime` (floor(currentTime * 20), +-1 for the renderer); the test says which it was.
//!
//! The server's page too: its `<video>` plays (HLS, native in Chromium), shows the source's
//! frame after a seek, and its switch goes to the Motion-JPEG `<img>` and back.
//!
//! Time to first frame, from the first request for the playlist (the Resource Timing entry's
//! start) to the `playing` event, is printed for the sample and for a 1280x720 file made here,
//! with the machine's load average; the targets (1 s and 2 s) are met in benchmarks, so no
//! figure is asserted here beyond each step's deadline in players.mjs (20 s). Screenshots and
//! the browser's report are kept under `target/test-artifacts/http_hls_browser/`.

#[path = "support/json.rs"]
mod json;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use json::Field;
use support::*;

const FPS: f64 = 20.0;
/// The middle of frame 146 (7.30 s to 7.35 s): a seek there shows that frame whichever way a
/// player rounds.
const SHOT_AT: f64 = 7.325;
/// The quarter-size, box-filtered PSNR a screenshot must reach against its source frame.
const MIN_PSNR_DB: f64 = 30.0;

/// One test at a time, server and browser alike: the machine's cores are few, playback runs
/// in real time, and one test's encoding must not slow down another's first frame.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn native_hls_plays_sample_to_end_in_chromium() {
    sample_plays_to_end("native", "native", "hls/index.m3u8");
}

#[test]
fn hls_js_plays_sample_to_end_in_chromium() {
    sample_plays_to_end("hlsjs", "hls.js", "hls/index.m3u8");
}

#[test]
fn dash_js_plays_sample_to_end_in_chromium() {
    sample_plays_to_end("dashjs", "dash.js", "dash/manifest.mpd");
}

/// Time to first frame for a 1280x720 video never played before, in each player (each on a
/// server of its own, so every one starts from an empty cache).
#[test]
fn time_to_first_frame_720p_in_chromium() {
    let _one = one_at_a_time();
    let Some(browser) = Browser::find() else {
        return;
    };
    // ffmpeg makes the 1280x720 video.
    if !have_ffmpeg() {
        return;
    }
    let out = artifacts("ttff_720p");
    let source = support::http::make_lab_clip(1280, 720, 5);
    let players = [
        ("native", "native", "hls/index.m3u8"),
        ("hlsjs", "hls.js", "hls/index.m3u8"),
        ("dashjs", "dash.js", "dash/manifest.mpd"),
    ];
    // Every player is tried and reported before any failure fails the test.
    let mut failures = Vec::new();
    for (name, player, manifest) in players {
        // A server of its own for each, dropped before the next: the encodes it queued ahead
        // of its player must not slow down the next one's start.
        let file = format!("{name}-720p.mjpeg");
        let served = Served::start(&[(file.clone(), source.clone())]);
        let job = serde_json::json!({
            "name": name,
            "player": player,
            "url": served.url(&file, manifest),
            "shotAt": null,
            "toEnd": false,
        });
        let report = browser.run(&out.join(name), &[job]);
        drop(served);
        let job = &report["jobs"].arr()[0];
        eprintln!("{name}: {}", request_timeline(job));
        let checked = std::panic::catch_unwind(|| assert_played_cleanly(job));
        if let Err(e) = checked {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(message);
            continue;
        }
        let ttff = time_to_first_frame(job);
        let size = (
            job["final"]["videoWidth"].num(),
            job["final"]["videoHeight"].num(),
        );
        eprintln!(
            "time to first frame: {ttff:.2} s ({name}, 1280x720 source, never played before; \
             first rendition shown {}x{}; load average {})",
            size.0,
            size.1,
            load_average()
        );
        if let Some(levels) = job["run"].get("levels") {
            eprintln!("{name}: hls.js levels {levels}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The first few media requests of a job: each one's path and when it went out and was
/// answered (headers), in seconds from the first one, for the report on a slow start.
fn request_timeline(job: &serde_json::Value) -> String {
    let requests = job["requests"].arr();
    let Some(t0) = requests.first().and_then(|r| r["t"].as_f64()) else {
        return "no requests".into();
    };
    let at = |v: &serde_json::Value| match v.as_f64() {
        Some(t) => format!("{:.2}", (t - t0) / 1000.0),
        None => "-".into(),
    };
    requests
        .iter()
        .filter(|r| !r["url"].str().starts_with("blob:"))
        .take(6)
        .map(|r| {
            let url = r["url"].str();
            let path = url.find("/videos/").map_or(url, |i| &url[i..]);
            let end = match r.get("headersAt") {
                Some(h) => format!("answered {} at {}", r["status"], at(h)),
                None => match r.get("failure") {
                    Some(f) => format!("{} at {}", f.str(), at(&r["failedAt"])),
                    None => "unanswered".into(),
                },
            };
            format!("{path} asked at {}, {end}", at(&r["t"]))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The server's page: in Chromium (which plays HLS natively) its player is the `<video>` on
/// the first video's HLS, which plays and shows the source's frame after a seek (read back
/// through a canvas: the page's own origin); the switch goes to the Motion-JPEG `<img>`,
/// which shows a frame while the `<video>` lets go of its source, and back to the `<video>`,
/// which plays again.
#[test]
fn page_plays_hls_video_in_chromium() {
    let _one = one_at_a_time();
    let Some(browser) = Browser::find() else {
        return;
    };
    let out = artifacts("page");
    let file = "video.mjpeg";
    let served = Served::start(&[(file.to_string(), videos_dir().join(file))]);
    let job = serde_json::json!({
        "name": "page",
        "player": "page",
        "url": format!("{}/", served.base),
        "shotAt": SHOT_AT,
    });
    let report = browser.run(&out, &[job]);
    let job = &report["jobs"].arr()[0];
    assert_no_failure_nor_errors("page", job);
    let hls = format!("/videos/{file}/hls/index.m3u8");

    let before = &job["before"];
    assert!(
        !before["canPlayHls"].str().is_empty(),
        "Chromium says it cannot play HLS"
    );
    assert_eq!(
        before["kind"].str(),
        "H.264 (HLS)",
        "page: the player's kind at first"
    );
    assert_eq!(before["video"]["hidden"].as_bool(), Some(false), "{before}");
    assert_eq!(before["img"]["hidden"].as_bool(), Some(true), "{before}");
    assert_eq!(
        before["video"]["src"].str(),
        hls,
        "page: the <video> plays the first video's HLS"
    );
    assert!(
        before["img"]["src"].is_null(),
        "page: the hidden Motion-JPEG player still streams: {before}"
    );
    let error_responses = json::error_responses(job);
    assert!(
        error_responses.is_empty(),
        "page: error responses {error_responses:?}"
    );
    let ttff = time_to_first_frame(job);
    eprintln!(
        "time to first frame: {ttff:.2} s (the page's <video>, sample 384x288, never played \
         before; load average {})",
        load_average()
    );

    // The frame after the seek, as the page's video holds it.
    let shot = &job["shot"];
    assert!(
        shot.get("timedOut").is_none(),
        "page: no frame presented after seeking to {SHOT_AT} s: {shot}\n{}",
        job_log(job)
    );
    let file_png = out.join(shot["file"].str());
    let got = image::open(&file_png)
        .unwrap_or_else(|e| panic!("{}: {e}", file_png.display()))
        .to_rgb8();
    assert_eq!(got.dimensions(), (384, 288), "{}", file_png.display());
    let current = shot["currentTime"].num();
    let (best, best_db, list) = best_neighbour(&got, current);
    eprintln!(
        "page: the <video>'s picture {} at currentTime {current:.3} s is source frame {best}: \
         {best_db:.1} dB at a quarter size, box-filtered; neighbours [{list}]",
        file_png.display()
    );
    let due = (current * FPS).floor() as usize;
    assert!(
        best.abs_diff(due) <= 1,
        "page: at {current:.3} s frame {due} is due, the picture is frame {best} ({list})"
    );
    assert!(
        best_db >= MIN_PSNR_DB,
        "page: frame {best} at only {best_db:.1} dB: {}",
        file_png.display()
    );

    // The switch, there and back.
    let switched = &job["switched"];
    assert_eq!(switched["kind"].str(), "Motion-JPEG", "{switched}");
    assert_eq!(
        switched["img"]["hidden"].as_bool(),
        Some(false),
        "{switched}"
    );
    assert_eq!(
        switched["img"]["src"].str(),
        format!("/videos/{file}/mjpeg?loop=1"),
        "{switched}"
    );
    assert_eq!(
        switched["video"]["hidden"].as_bool(),
        Some(true),
        "{switched}"
    );
    assert!(
        switched["video"]["src"].is_null(),
        "page: the hidden <video> keeps its source: {switched}"
    );
    let back = &job["switchedBack"];
    assert_eq!(back["kind"].str(), "H.264 (HLS)", "{back}");
    assert_eq!(back["video"]["src"].str(), hls, "{back}");
    assert_eq!(back["video"]["paused"].as_bool(), Some(false), "{back}");
    assert!(back["img"]["src"].is_null(), "{back}");
    eprintln!(
        "page: switched to Motion-JPEG and back, the <video> playing again at {:.2} s; \
         screenshots {}",
        back["video"]["currentTime"].num(),
        out.display()
    );
}

fn sample_plays_to_end(name: &str, player: &str, manifest: &str) {
    let _one = one_at_a_time();
    let Some(browser) = Browser::find() else {
        return;
    };
    let out = artifacts(name);
    let file = "video.mjpeg";
    let served = Served::start(&[(file.to_string(), videos_dir().join(file))]);
    let job = serde_json::json!({
        "name": name,
        "player": player,
        "url": served.url(file, manifest),
        "shotAt": SHOT_AT,
        "toEnd": true,
    });
    let report = browser.run(&out, &[job]);
    let job = &report["jobs"].arr()[0];
    if let Some(v) = job["run"].get("libVersion") {
        eprintln!("{player} {}", v.str());
    }
    assert_played_cleanly(job);
    if player == "native" {
        assert!(
            !job["canPlayHls"].str().is_empty(),
            "Chromium says it cannot play application/vnd.apple.mpegurl"
        );
    }

    let ttff = time_to_first_frame(job);
    eprintln!(
        "time to first frame: {ttff:.2} s ({name}, sample 384x288, never played before; \
         load average {})",
        load_average()
    );

    // To the end.
    let last = &job["final"];
    let duration = last["duration"].num();
    assert!(
        (duration - 400.0 / FPS).abs() < 0.1,
        "{name}: duration {duration} s, the sample is 20.0 s"
    );
    assert!(
        last["ended"].as_bool() == Some(true) && last["currentTime"].num() >= duration - 1e-3,
        "{name}: did not play to the end: {last}"
    );
    let events = job["run"]["events"].arr();
    assert!(
        events.iter().any(|e| e["type"].str() == "ended"),
        "{name}: no ended event: {}",
        event_list(job)
    );
    eprintln!(
        "{name}: ended at {:.3} s of {duration:.3} s; {} frames decoded, {} dropped",
        last["currentTime"].num(),
        last["totalVideoFrames"],
        last["droppedVideoFrames"]
    );

    // The frame mid-way.
    let shot = &job["shot"];
    assert!(
        shot.get("timedOut").is_none(),
        "{name}: no frame presented after seeking to {SHOT_AT} s: {shot}\n{}",
        event_list(job)
    );
    assert_eq!(
        shot["paused"].as_bool(),
        Some(true),
        "{name}: paused for the screenshot"
    );
    assert!(
        shot.get("unsteady").is_none(),
        "{name}: the paused video's screenshots kept changing: {shot}"
    );
    if shot["changed"].num() > 0.0 {
        eprintln!(
            "{name}: the picture changed {} times after the frame was presented before two \
             screenshots agreed",
            shot["changed"]
        );
    }
    let file = out.join(shot["file"].str());
    let got = image::open(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .to_rgb8();
    assert_eq!(
        got.dimensions(),
        (384, 288),
        "{name}: {} is not the picture at its natural size (box {})",
        file.display(),
        shot["box"]
    );
    let current = shot["currentTime"].num();
    let due = (current * FPS).floor() as usize;
    let (best, best_db, list) = best_neighbour(&got, current);
    let full_db = psnr(&got, &decode_rgb(&sample_frames()[best]));
    eprintln!(
        "{name}: screenshot {} at currentTime {current:.3} s (frame {due} due; the presented \
         frame's mediaTime {:.3} s) shows source frame {best}: {best_db:.1} dB at a quarter \
         size, box-filtered ({full_db:.1} dB at full size); neighbours [{list}]",
        file.display(),
        shot["frame"]["mediaTime"].num(),
    );
    assert!(
        best.abs_diff(due) <= 1,
        "{name}: at currentTime {current:.3} s frame {due} is due, the screenshot is frame \
         {best} ({list})"
    );
    assert!(
        best_db >= MIN_PSNR_DB,
        "{name}: the screenshot is frame {best} at only {best_db:.1} dB (>= {MIN_PSNR_DB} \
         wanted; about 25 dB is a BT.601/BT.709 mix-up): {}",
        file.display()
    );
}

/// The source frame `got` is closest to among the three either side of the one due at
/// `current` (quarter-size, box-filtered PSNR): its index, its score, and every score.
fn best_neighbour(got: &image::RgbImage, current: f64) -> (usize, f64, String) {
    let due = (current * FPS).floor() as usize;
    let source = sample_frames();
    let lo = due.saturating_sub(3);
    let hi = (due + 3).min(source.len() - 1);
    let scored: Vec<(usize, f64)> = (lo..=hi)
        .map(|i| (i, quarter_psnr(got, &decode_rgb(&source[i]))))
        .collect();
    let &(best, best_db) = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let list: Vec<String> = scored
        .iter()
        .map(|(i, db)| format!("{i}: {db:.1}"))
        .collect();
    (best, best_db, list.join(", "))
}

/// No `error` event, no fatal player error, no step that failed, no HTTP error response.
fn assert_played_cleanly(job: &serde_json::Value) {
    let name = job["name"].str();
    let log = || job_log(job);
    assert_no_failure_nor_errors(name, job);
    let events = job["run"]["events"].arr();
    assert!(job["final"]["error"].is_null(), "{name}: {}", log());
    let player_errors = job["run"]["playerErrors"].arr();
    for e in player_errors {
        eprintln!("{name}: player said: {}", e["text"].str());
    }
    assert!(
        player_errors
            .iter()
            .all(|e| e["fatal"].as_bool() == Some(false)),
        "{name}: fatal player errors\n{}",
        log()
    );
    assert!(
        job["errorResponses"].arr().is_empty(),
        "{name}: error responses {}\n{}",
        job["errorResponses"],
        log()
    );
    assert!(
        events.iter().any(|e| e["type"].str() == "playing"),
        "{name}: never playing\n{}",
        log()
    );
}

/// No step of the job that failed, no `error` event, no page error (an uncaught exception).
fn assert_no_failure_nor_errors(name: &str, job: &serde_json::Value) {
    assert!(
        job.get("failure").is_none(),
        "{name}: {}\n{}",
        job["failure"],
        job_log(job)
    );
    let errors: Vec<&serde_json::Value> = job["run"]["events"]
        .arr()
        .iter()
        .filter(|e| e["type"].str() == "error")
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: error events {errors:?}\n{}",
        job_log(job)
    );
    let page_errors = json::page_errors(job);
    assert!(page_errors.is_empty(), "{name}: {page_errors:?}");
}

/// What a failure message shows of a job: its events, player errors, console and requests.
fn job_log(job: &serde_json::Value) -> String {
    format!(
        "events: {}\nplayer errors: {}\nconsole: {}\nfailed requests: {}\nrequests: {}",
        event_list(job),
        job["run"]["playerErrors"],
        job["console"],
        job["failedRequests"],
        job["requests"]
    )
}

/// Seconds from the first request for the playlist to the first `playing` event.
fn time_to_first_frame(job: &serde_json::Value) -> f64 {
    let playing = job["run"]["events"]
        .arr()
        .iter()
        .find(|e| e["type"].str() == "playing")
        .expect("a playing event")["t"]
        .num();
    let start = job["firstRequest"].as_f64().unwrap_or_else(|| {
        eprintln!(
            "{}: no Resource Timing entry for the playlist; timing from handing the URL over",
            job["name"].str()
        );
        job["run"]["t_start"].num()
    });
    (playing - start) / 1000.0
}

/// The machine's load averages (1, 5, 15 minutes), printed beside each time to first frame:
/// the encode workers run at nice 10, so other work on the machine shows in the figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn event_list(job: &serde_json::Value) -> String {
    job["run"]["events"]
        .arr()
        .iter()
        .map(|e| format!("{}@{:.3}", e["type"].str(), e["currentTime"].num()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// PSNR of the two pictures reduced to a quarter of their size by averaging 4x4 blocks.
fn quarter_psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (qa, qb) = (quarter(a), quarter(b));
    let se: f64 = qa.iter().zip(&qb).map(|(x, y)| (x - y).powi(2)).sum();
    let mse = se / qa.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn quarter(img: &image::RgbImage) -> Vec<f64> {
    let (w, h) = (img.width() / 4, img.height() / 4);
    let mut out = vec![0.0; (w * h * 3) as usize];
    for y in 0..h * 4 {
        for x in 0..w * 4 {
            let p = img.get_pixel(x, y).0;
            let o = (((y / 4) * w + x / 4) * 3) as usize;
            for c in 0..3 {
                out[o + c] += p[c] as f64 / 16.0;
            }
        }
    }
    out
}

/// Chromium, node and the npm packages players.mjs needs, or a loud skip (a failure under
/// REQUIRE_PEERS=1).
struct Browser(support::browser::Browser);

impl Browser {
    fn find() -> Option<Browser> {
        support::browser::Browser::find(&["puppeteer-core", "hls.js", "dashjs"]).map(Browser)
    }

    /// Runs players.mjs on `jobs` (one browser, one job after the other) and returns its report.
    fn run(&self, out: &Path, jobs: &[serde_json::Value]) -> serde_json::Value {
        let jobs = serde_json::Value::Array(jobs.to_vec()).to_string();
        let output = self.0.node(
            "players.mjs",
            &[out.as_os_str(), jobs.as_ref()],
            ("PLAYERS_TIMEOUT_MS", 150_000),
            Duration::from_secs(180),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        let path = out.join("report.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "players.mjs wrote no {}: {e}\n{}\n{stderr}",
                path.display(),
                String::from_utf8_lossy(&output.stdout)
            )
        });
        let report = serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()));
        eprintln!("players.mjs ran in {}", report["browser"].str());
        report
    }
}

/// A server on loopback with its own videos directory (copies of the given files under the
/// given names) and an empty encode cache on disk (and in memory): every video is one never
/// played before. Copies of one file share their segments (the cache is keyed by content), so
/// a player that must start cold gets a server of its own.
struct Served {
    _server: server::ServerHandle,
    base: String,
}

impl Served {
    fn start(files: &[(String, PathBuf)]) -> Served {
        let videos = scratch_dir("hls-browser-videos");
        for (name, from) in files {
            std::fs::copy(from, videos.join(name)).unwrap();
        }
        let cache = scratch_dir("hls-browser-cache");
        let server = start_server(&videos, |c| {
            c.http = server::http::HttpListen::Port(0);
            c.cmaf.cache_dir = Some(cache);
        });
        let http = server.http_addr.expect("the HTTP side is listening");
        Served {
            _server: server,
            base: format!("http://{http}"),
        }
    }

    fn url(&self, file: &str, manifest: &str) -> String {
        format!("{}/videos/{file}/{manifest}", self.base)
    }
}

/// A fresh artifacts directory for one test.
fn artifacts(name: &str) -> PathBuf {
    let out = repo_root()
        .join("target/test-artifacts/http_hls_browser")
        .join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    out
}
