//! A real window under Xvfb: after PLAY, screenshots of the screen show the video's frames,
//! pixel for pixel, and a later screenshot shows a later frame (not a black or stale one).
//! The last screenshot is kept as `target/test-artifacts/client-window.png`.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{screenshot, start_xvfb, Kill};
use support::*;

/// The rows of a picture above the client's 3-pixel progress bar, as the key for a lookup.
fn key(img: &image::RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * (h - 3) * 3) as usize);
    for y in y0..y0 + h - 3 {
        for x in x0..x0 + w {
            v.extend_from_slice(&img.get_pixel(x, y).0);
        }
    }
    v
}

#[test]
fn a_real_window_shows_the_video_under_xvfb() {
    let server = start_server(&videos_dir(), |_| {});
    window_shows_the_video(&url(&server, "video.mjpeg"), "client-window.png");
}

#[test]
fn a_real_window_shows_motion_jpeg_over_http_under_xvfb() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let url = format!(
        "http://{}/videos/video.mjpeg/mjpeg",
        server.http_addr.unwrap()
    );
    window_shows_the_video(&url, "client-window-http.png");
}

/// Plays `url` in the window and reads screenshots until two of them show two frames of the
/// sample in order, pixel for pixel; the last one is saved as `artifact`.
fn window_shows_the_video(url: &str, artifact: &str) {
    if !peer_available(
        "Xvfb and ImageMagick's import",
        &["sh", "-c", "command -v Xvfb && command -v import"],
    ) {
        return;
    }
    let source = sample_frames();
    let decoded: Vec<image::RgbImage> = source.iter().map(|f| decode_rgb(f)).collect();
    let (w, h) = decoded[0].dimensions();
    let by_pixels: HashMap<Vec<u8>, usize> = decoded
        .iter()
        .enumerate()
        .map(|(i, d)| (key(d, 0, 0, w, h), i))
        .collect();

    let (_xvfb, display) = start_xvfb();
    let _client = Kill(
        Command::new(env!("CARGO_BIN_EXE_client"))
            .arg(url)
            .arg("--autoplay")
            .env("DISPLAY", &display)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The client centres its window on the screen; (0, 0) is where X itself would map it.
    // Look in both places.
    let mut seen: Vec<usize> = Vec::new();
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && seen.len() < 2 {
        std::thread::sleep(Duration::from_millis(300));
        let Some(shot) = screenshot(&display) else {
            continue;
        };
        let (sw, sh) = shot.dimensions();
        // An RTSP window holds the picture and the 16-row progress bar under it; the HTTP
        // one only the picture.
        let found = [
            ((sw - w) / 2, (sh - h - 16) / 2),
            ((sw - w) / 2, (sh - h) / 2),
            (0, 0),
        ]
        .into_iter()
        .find_map(|(x, y)| by_pixels.get(&key(&shot, x, y, w, h)));
        if let Some(&i) = found {
            if seen.last() != Some(&i) {
                seen.push(i);
            }
        }
        last = Some(shot);
    }
    let artifacts = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    if let Some(shot) = &last {
        shot.save(artifacts.join(artifact)).unwrap();
    }
    assert!(
        seen.len() >= 2,
        "screenshots showed source frames {seen:?} (see target/test-artifacts/{artifact})"
    );
    assert!(
        seen[1] > seen[0],
        "the second screenshot shows an earlier frame: {seen:?}"
    );
    eprintln!("screenshots matched source frames {seen:?} pixel for pixel");
}
