//! The web page in a real browser: Debian's Chromium, driven by puppeteer-core
//! (tests/browser/page.mjs; `.ci/run` installs both, `npm ci --prefix tests/browser`).
//!
//! At a phone and a desktop width, the page must list every video in `videos/`, and its player
//! (`<img id="player">` on the Motion-JPEG stream) must show the source's frames: each sample
//! the browser copied out of the `<img>` through a canvas is, within a decoder's rounding
//! (PSNR > 40 dB), one of video.mjpeg's frames, and the frames advance at 20 fps. The
//! screenshots and the samples are kept under `target/test-artifacts/http_page/`. With a
//! channel, its live card is listed first and its "Play here" plays it
//! (`target/test-artifacts/http_page_live/`).

#[path = "support/json.rs"]
mod json;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use json::Field;
use support::browser::Browser;
use support::http::http_get;
use support::*;

/// Chromium decodes with libjpeg-turbo, the `image` crate with zune-jpeg: their pictures may
/// differ by a step or two per channel, never by a frame's content.
const MIN_PSNR_DB: f64 = 40.0;
const FPS: f64 = 20.0;

#[test]
fn page_lists_videos_and_plays_source_frames_in_chromium() {
    let Some(browser) = Browser::find(&["puppeteer-core"]) else {
        return;
    };
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
    });
    let expected = video_names();
    let first = expected.iter().next().unwrap();
    let src = format!("/videos/{first}/mjpeg?loop=1");
    check_page(&browser, &server, "http_page", None, &expected, &src);
}

/// A channel (`--channel tv=video.mjpeg`) is listed above the videos, with its last frame as
/// its picture, and its "Play here" button plays it: the player's frames are the source's,
/// at 20 fps, from `/live/tv/mjpeg`.
#[test]
fn page_lists_a_live_path_and_plays_it_in_chromium() {
    let Some(browser) = Browser::find(&["puppeteer-core"]) else {
        return;
    };
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
        c.channels = vec!["tv=video.mjpeg".parse().unwrap()];
    });
    let mut expected = video_names();
    expected.insert("live/tv".to_string());
    let out = check_page(
        &browser,
        &server,
        "http_page_live",
        Some("live/tv"),
        &expected,
        "/live/tv/mjpeg",
    );
    // The live card comes first, and its facts say what feeds it.
    let html = http_get(server.http_addr.unwrap(), "/").text();
    let live = html.find("data-name=\"live/tv\"").expect("a live card");
    let file = html
        .find("data-name=\"video.mjpeg\"")
        .expect("the video's card");
    assert!(live < file, "the live section comes before the videos");
    assert!(html.contains("channel: video.mjpeg on a loop"), "{html}");
    eprintln!("screenshots in {}", out.display());
}

/// The `.mjpeg` files of `videos/`: what the page must list.
fn video_names() -> BTreeSet<String> {
    let names: BTreeSet<String> = std::fs::read_dir(videos_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mjpeg"))
        .collect();
    assert!(!names.is_empty());
    names
}

/// Opens the page in Chromium at a phone and a desktop width (playing the card `play` first,
/// when given) and judges each view: the cards are `expected`, the player plays `src`, its
/// frames are the source's at 20 fps. Artifacts go to `target/test-artifacts/ARTIFACTS/`.
fn check_page(
    browser: &Browser,
    server: &server::ServerHandle,
    artifacts: &str,
    play: Option<&str>,
    expected: &BTreeSet<String>,
    src: &str,
) -> std::path::PathBuf {
    let http = server.http_addr.expect("the HTTP side is listening");
    let out = repo_root().join("target/test-artifacts").join(artifacts);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    // The Motion-JPEG player: this test is about it (tests/http_hls_browser.rs plays the
    // page's H.264 one).
    let url = format!("http://{http}/?player=mjpeg");
    let mut args = vec![std::ffi::OsString::from(url), out.clone().into_os_string()];
    args.extend(play.map(Into::into));
    let output = browser.node(
        "page.mjs",
        &args,
        ("PAGE_TIMEOUT_MS", 60_000),
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!("page.mjs printed no JSON:\n{stdout}\n{stderr}");
        });
    let report = serde_json::from_str::<serde_json::Value>(line)
        .unwrap_or_else(|e| panic!("page.mjs JSON: {e}: {line}"));
    eprintln!("browser: {}", report["browser"].str());

    let source: Vec<Frame> = sample_frames()
        .iter()
        .map(|jpeg| Frame::new(decode_rgb(jpeg)))
        .collect();
    let views = report["views"].arr();
    assert_eq!(views.len(), 2, "a phone and a desktop view");
    for view in views {
        let name = view["view"].str();
        assert_eq!(view["status"].num(), 200.0, "{name}: GET /");
        assert_lists(view, expected);
        assert_player(view, src);
        assert_plays_source_frames(view, &out, &source);
        let shot = out.join(view["screenshot"].str());
        let img = image::open(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert_eq!(
            img.width() as f64,
            view["width"].num(),
            "{}",
            shot.display()
        );
        eprintln!("{name}: screenshot {}", shot.display());
    }
    out
}

/// Every card of `expected`, once each, nothing broken, nothing failed to load but the
/// favicon the page does not have, no script error, and nothing wider than the screen.
fn assert_lists(view: &serde_json::Value, expected: &BTreeSet<String>) {
    let name = view["view"].str();
    let width = view["width"].num();
    let listed: Vec<String> = view["names"]
        .arr()
        .iter()
        .map(|n| n.str().to_string())
        .collect();
    let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "{name}: a card listed twice: {listed:?}"
    );
    assert_eq!(&listed_set, expected, "{name}: the page's cards");
    assert!(
        view["broken"].arr().is_empty(),
        "{name}: broken cards {:?}",
        view["broken"]
    );
    let errors = json::error_responses(view);
    assert!(errors.is_empty(), "{name}: error responses {errors:?}");
    let page_errors = json::page_errors(view);
    assert!(page_errors.is_empty(), "{name}: {page_errors:?}");
    assert!(
        view["scrollWidth"].num() <= width,
        "{name}: the page is {} px wide in a {width} px viewport; sticking out: {:?}",
        view["scrollWidth"].num(),
        view["overflowing"]
    );
}

/// The player plays `src` at the sample's size, within the viewport.
fn assert_player(view: &serde_json::Value, src: &str) {
    let name = view["view"].str();
    let width = view["width"].num();
    let player = &view["player"];
    assert_eq!(player["src"].str(), src, "{name}: what the player plays");
    assert_eq!(
        (player["naturalWidth"].num(), player["naturalHeight"].num()),
        (384.0, 288.0),
        "{name}: the player's picture size"
    );
    let b = &player["box"];
    assert!(
        b["x"].num() >= 0.0 && b["x"].num() + b["width"].num() <= width,
        "{name}: the player ({b:?}) is not within the {width} px viewport"
    );
}

/// The player's frames: each sample is a source frame, later than the one before, and they
/// advance at about 20 fps.
fn assert_plays_source_frames(view: &serde_json::Value, out: &std::path::Path, source: &[Frame]) {
    let name = view["view"].str();
    let mut seen = Vec::new();
    for s in view["samples"].arr() {
        let file = out.join(s["file"].str());
        let got = image::open(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .to_rgba8();
        assert!(
            got.pixels().all(|p| p.0[3] == 255),
            "{}: transparent pixels in the copy of the player",
            file.display()
        );
        let got = Frame::new(image::DynamicImage::ImageRgba8(got).to_rgb8());
        let (index, db, runner_up) = best_match(&got, source);
        eprintln!(
            "{name} t={:7.1} ms: frame {index:3} at {db:5.1} dB (next best {runner_up:4.1} dB)",
            s["t_ms"].num()
        );
        assert!(
            db > MIN_PSNR_DB,
            "{name}: {} is no source frame (best: frame {index} at {db:.1} dB)",
            file.display()
        );
        seen.push((s["t_ms"].num(), index));
    }
    assert!(seen.len() >= 8, "{name}: only {} samples", seen.len());
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "{name}: the player's frames did not advance between every two samples: {seen:?}"
    );
    let (t0, i0) = seen[0];
    let (t1, i1) = *seen.last().unwrap();
    let span_s = (t1 - t0) / 1000.0;
    let advanced = i1 - i0;
    let expected_frames = span_s * FPS;
    eprintln!(
        "{name}: {advanced} frames in {span_s:.2} s ({:.1} fps; {expected_frames:.0} expected)",
        advanced as f64 / span_s
    );
    assert!(
        (2.5..4.5).contains(&span_s),
        "{name}: samples over {span_s:.2} s"
    );
    assert!(
        (advanced as f64) >= expected_frames * 0.5 && (advanced as f64) <= expected_frames * 1.5,
        "{name}: {advanced} frames in {span_s:.2} s, not {FPS} fps: {seen:?}"
    );
}

/// A decoded frame and a coarse signature of it (per-channel sums of 8x8 blocks), so the best
/// match among 400 frames is found without 400 full comparisons per sample.
struct Frame {
    rgb: image::RgbImage,
    sig: Vec<u32>,
}

impl Frame {
    fn new(rgb: image::RgbImage) -> Frame {
        let (w, h) = rgb.dimensions();
        let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
        let mut sig = vec![0u32; (bw * bh * 3) as usize];
        for (x, y, p) in rgb.enumerate_pixels() {
            let b = ((y / 8) * bw + x / 8) as usize * 3;
            for c in 0..3 {
                sig[b + c] += p.0[c] as u32;
            }
        }
        Frame { rgb, sig }
    }
}

/// The source frame `got` is closest to: its index, the PSNR against it, and the PSNR against
/// the next closest candidate.
fn best_match(got: &Frame, source: &[Frame]) -> (usize, f64, f64) {
    let mut by_sig: Vec<(u64, usize)> = source
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rgb.dimensions() == got.rgb.dimensions())
        .map(|(i, f)| {
            let d = f
                .sig
                .iter()
                .zip(&got.sig)
                .map(|(&a, &b)| a.abs_diff(b) as u64)
                .sum::<u64>();
            (d, i)
        })
        .collect();
    assert!(
        !by_sig.is_empty(),
        "no source frame is {:?}",
        got.rgb.dimensions()
    );
    by_sig.sort_unstable();
    let mut scored: Vec<(f64, usize)> = by_sig
        .iter()
        .take(4)
        .map(|&(_, i)| (psnr(&got.rgb, &source[i].rgb), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let runner_up = scored.get(1).map_or(0.0, |s| s.0);
    (scored[0].1, scored[0].0, runner_up)
}
