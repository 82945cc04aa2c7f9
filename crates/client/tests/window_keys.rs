//! The window as a person drives it, under Xvfb with xdotool: a brief synthetic tap pauses,
//! Right and Left seek 5 s while paused (the frame shown is the source's frame 100 later, then
//! back), a click at 75% of the progress bar shows the frame at 15 s, F fills the screen, and
//! one Q quits. A 404 shows its error in the window and the client exits non-zero.
//! Screenshots are kept under `target/test-artifacts/`.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod common;

use std::collections::HashMap;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{screenshot, start_xvfb, Kill};
use support::*;

const BAR: u32 = 16;

fn tools_available() -> bool {
    peer_available(
        "Xvfb, ImageMagick's import and xdotool",
        &[
            "sh",
            "-c",
            "command -v Xvfb && command -v import && command -v xdotool",
        ],
    )
}

fn xdotool(display: &str, args: &[&str]) {
    let o = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("run xdotool");
    assert!(o.status.success(), "xdotool {args:?}: {o:?}");
}

fn save(shot: &image::RgbImage, name: &str) {
    let dir = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    shot.save(dir.join(name)).unwrap();
}

/// The picture's pixels at (x0, y0), as the lookup key.
fn key(img: &image::RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            v.extend_from_slice(&img.get_pixel(x, y).0);
        }
    }
    v
}

struct Frames {
    by_pixels: HashMap<Vec<u8>, usize>,
    decoded: Vec<image::RgbImage>,
    w: u32,
    h: u32,
}

impl Frames {
    fn load() -> Frames {
        let decoded: Vec<image::RgbImage> = sample_frames().iter().map(|f| decode_rgb(f)).collect();
        let (w, h) = decoded[0].dimensions();
        let by_pixels = decoded
            .iter()
            .enumerate()
            .map(|(i, d)| (key(d, 0, 0, w, h), i))
            .collect();
        Frames {
            by_pixels,
            decoded,
            w,
            h,
        }
    }

    /// Which source frame the centred window shows, pixel for pixel.
    fn shown(&self, shot: &image::RgbImage) -> Option<usize> {
        let (sw, sh) = shot.dimensions();
        let (x, y) = ((sw - self.w) / 2, (sh - self.h - BAR) / 2);
        self.by_pixels
            .get(&key(shot, x, y, self.w, self.h))
            .copied()
    }

    /// Waits until screenshots show `want(frame)` twice in a row (a still picture).
    fn wait_for(&self, display: &str, what: &str, want: impl Fn(usize) -> bool) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last = None;
        let mut shot = None;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(150));
            let Some(s) = screenshot(display) else {
                continue;
            };
            let now = self.shown(&s);
            if let (Some(a), Some(b)) = (last, now) {
                if a == b && want(b) {
                    save(&s, &format!("client-keys-{what}.png"));
                    return b;
                }
            }
            last = now;
            shot = Some(s);
        }
        if let Some(s) = &shot {
            save(s, &format!("client-keys-{what}.png"));
        }
        panic!("{what}: the window never showed the frame wanted (last {last:?}; see target/test-artifacts/client-keys-{what}.png)");
    }
}

/// The client in a window on `display`, playing `url` at once.
fn launch(url: &str, display: &str, stderr: Stdio) -> Kill {
    launch_with(url, display, stderr, &["--autoplay"])
}

fn launch_with(url: &str, display: &str, stderr: Stdio, args: &[&str]) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_client"))
            .arg(url)
            .args(args)
            .env("DISPLAY", display)
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

/// Waits until the window shows a source frame.
fn wait_playing(frames: &Frames, display: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while screenshot(display).and_then(|s| frames.shown(&s)).is_none() {
        assert!(Instant::now() < deadline, "the window never played");
    }
}

/// Waits until the screen shows an error: text in the error colour (0xff4040), at least 200
/// pixels of it. The last screenshot is saved as `artifact`.
fn wait_for_error_text(display: &str, artifact: &str) {
    let red = |p: &image::Rgb<u8>| p.0 == [0xff, 0x40, 0x40];
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut reds = 0;
    let mut last = None;
    while Instant::now() < deadline && reds < 200 {
        std::thread::sleep(Duration::from_millis(150));
        if let Some(shot) = screenshot(display) {
            reds = shot.pixels().filter(|p| red(p)).count();
            last = Some(shot);
        }
    }
    if let Some(s) = &last {
        save(s, artifact);
    }
    assert!(
        reds >= 200,
        "no error text in the window ({reds} red pixels; see target/test-artifacts/{artifact})"
    );
}

/// Presses Q once and waits for the client to exit.
fn quit_with_one_q(client: &mut Kill, display: &str) -> ExitStatus {
    xdotool(display, &["key", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = client.0.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "one Q did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A window playing the sample from our server under its own Xvfb (`None`, said loudly, when
/// the tools are missing).
struct Playing {
    frames: Frames,
    server: Option<server::ServerHandle>,
    client: Kill,
    display: String,
    _xvfb: Kill,
}

fn playing_window() -> Option<Playing> {
    if !tools_available() {
        return None;
    }
    let frames = Frames::load();
    let server = start_server(&videos_dir(), |_| {});
    let (xvfb, display) = start_xvfb();
    let client = launch(&url(&server, "video.mjpeg"), &display, Stdio::inherit());
    wait_playing(&frames, &display);
    Some(Playing {
        frames,
        server: Some(server),
        client,
        display,
        _xvfb: xvfb,
    })
}

#[test]
fn keys_clicks_and_fullscreen_drive_the_window() {
    // Every field bound: one left to `..` would be dropped (the server or Xvfb stopped) here.
    let Some(Playing {
        frames,
        mut client,
        display,
        server: _server,
        _xvfb,
    }) = playing_window()
    else {
        return;
    };
    // Playing: two screenshots show different frames.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        if let Some(i) = screenshot(&display).and_then(|s| frames.shown(&s)) {
            if seen.last() != Some(&i) {
                seen.push(i);
            }
        }
    }
    assert!(seen.len() >= 2, "the window never played: {seen:?}");
    // A zero-length tap (press and release in one go) pauses: the picture stands still.
    xdotool(&display, &["key", "space"]);
    let paused = frames.wait_for(&display, "paused", |_| true);
    // Right: 5 s on, still paused, so exactly 100 frames later.
    xdotool(&display, &["key", "Right"]);
    let right = frames.wait_for(&display, "right", |i| i != paused);
    assert_eq!(right, paused + 100, "Right from frame {paused}");
    xdotool(&display, &["key", "Left"]);
    let left = frames.wait_for(&display, "left", |i| i != right);
    assert_eq!(left, paused, "Left from frame {right}");
    // A click at 75% of the bar: 15 s, frame 300. The bar is the 16 rows under the picture.
    let (sw, sh) = (640, 480);
    let (x0, y0) = ((sw - frames.w) / 2, (sh - frames.h - BAR) / 2);
    let x = x0 + frames.w * 3 / 4;
    let y = y0 + frames.h + BAR / 2;
    xdotool(
        &display,
        &[
            "mousemove",
            &x.to_string(),
            &y.to_string(),
            "mousedown",
            "1",
        ],
    );
    std::thread::sleep(Duration::from_millis(200)); // the button held, as a hand holds it
    xdotool(&display, &["mouseup", "1"]);
    let clicked = frames.wait_for(&display, "click", |i| i != left);
    assert_eq!(clicked, 300, "a click at 75% of the bar");
    // F: the picture covers the screen (stretched: compare scaled back down).
    xdotool(&display, &["key", "f"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut best = 0.0;
    while Instant::now() < deadline && best < 25.0 {
        std::thread::sleep(Duration::from_millis(200));
        let Some(shot) = screenshot(&display) else {
            continue;
        };
        let small = image::imageops::resize(
            &shot,
            frames.w,
            frames.h,
            image::imageops::FilterType::Triangle,
        );
        // The bar lies over the bottom rows in fullscreen: compare above it.
        let crop = |img: &image::RgbImage| {
            image::imageops::crop_imm(img, 0, 0, frames.w, frames.h - 20).to_image()
        };
        best = psnr(&crop(&small), &crop(&frames.decoded[300]));
        save(&shot, "client-keys-fullscreen.png");
    }
    assert!(
        best >= 25.0,
        "fullscreen: the screen is not the picture (PSNR {best:.1} dB; see target/test-artifacts/client-keys-fullscreen.png)"
    );
    // One Q quits.
    let status = quit_with_one_q(&mut client, &display);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_404_shows_in_the_window_and_exits_non_zero() {
    if !tools_available() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let (_xvfb, display) = start_xvfb();
    let mut client = launch(
        &url(&server, "no-such-video.mjpeg"),
        &display,
        Stdio::piped(),
    );
    wait_for_error_text(&display, "client-keys-404.png");
    let status = quit_with_one_q(&mut client, &display);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut client.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "exit {status:?} after a 404");
    assert!(stderr.contains("404 Not Found"), "{stderr}");
}

/// The server goes away mid-play: the window says so at once (in red, the title `ERROR`), and
/// one Q quits.
#[test]
fn a_server_that_goes_away_is_shown_and_one_q_quits() {
    let Some(mut p) = playing_window() else {
        return;
    };
    drop(p.server.take());
    wait_for_error_text(&p.display, "client-keys-server-gone.png");
    quit_with_one_q(&mut p.client, &p.display);
}

/// Up seeks past the end (kept at the last frame): the stream ends, the title says `ENDED`
/// with the time, and the window says so too (white text on the band over the picture).
#[test]
fn the_end_of_the_stream_shows_in_the_title_and_the_window() {
    let Some(Playing {
        frames,
        display,
        client: _client,
        server: _server,
        _xvfb,
    }) = playing_window()
    else {
        return;
    };
    xdotool(&display, &["key", "Up"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let title = loop {
        let o = Command::new("xdotool")
            .args(["search", "--name", "^ENDED", "getwindowname"])
            .env("DISPLAY", &display)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if !t.is_empty() {
            break t;
        }
        assert!(Instant::now() < deadline, "the title never said ENDED");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(title.contains("00:19 / 00:20"), "{title}");
    let shot = screenshot(&display).unwrap();
    save(&shot, "client-keys-ended.png");
    let (sw, sh) = shot.dimensions();
    let (x0, y0) = ((sw - frames.w) / 2, (sh - frames.h - BAR) / 2);
    let band = image::imageops::crop_imm(&shot, x0, y0, frames.w, 12).to_image();
    let white = band.pixels().filter(|p| p.0 == [0xff, 0xff, 0xff]).count();
    assert!(
        white >= 100,
        "no end-of-stream message: {white} white pixels on the band"
    );
}

/// An 800x600 video on a 640x480 screen: the window opens wholly on the screen (scaled down,
/// the picture and its bar kept in proportion), as xdotool reads its geometry.
#[test]
fn a_video_larger_than_the_screen_opens_wholly_on_it() {
    if !tools_available() || !have_ffmpeg() {
        return;
    }
    let clip = support::http::make_clip(800, 600, 40).expect("ffmpeg makes the clip");
    let dir = scratch_dir("window-800x600");
    std::fs::copy(&clip, dir.join("big.mjpeg")).unwrap();
    let server = start_server(&dir, |_| {});
    let (_xvfb, display) = start_xvfb();
    let _client = launch(&url(&server, "big.mjpeg"), &display, Stdio::inherit());
    let deadline = Instant::now() + Duration::from_secs(15);
    let geometry = loop {
        let o = Command::new("xdotool")
            .args([
                "search",
                "--name",
                "big.mjpeg",
                "getwindowgeometry",
                "--shell",
            ])
            .env("DISPLAY", &display)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if text.contains("WIDTH=") {
            break text;
        }
        assert!(Instant::now() < deadline, "no window named big.mjpeg");
        std::thread::sleep(Duration::from_millis(100));
    };
    let field = |name: &str| -> i64 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {geometry}"))
            .parse()
            .unwrap()
    };
    let (x, y, w, h) = (field("X"), field("Y"), field("WIDTH"), field("HEIGHT"));
    eprintln!("window at {x},{y} size {w}x{h}");
    assert!(x >= 0 && y >= 0, "{geometry}");
    assert!(x + w <= 640 && y + h <= 480, "off screen: {geometry}");
    assert!(
        w >= 600 || h >= 460,
        "scaled down more than it needs: {geometry}"
    );
    if let Some(shot) = screenshot(&display) {
        save(&shot, "client-keys-800x600.png");
    }
}

/// Without --autoplay the window waits; one zero-length tap of P (`xdotool key p`, press and
/// release in one go, shorter than a frame of the window's loop) sets up and plays.
#[test]
fn a_brief_tap_of_p_plays() {
    if !tools_available() {
        return;
    }
    let frames = Frames::load();
    let server = start_server(&videos_dir(), |_| {});
    let (_xvfb, display) = start_xvfb();
    let _client = launch_with(
        &url(&server, "video.mjpeg"),
        &display,
        Stdio::inherit(),
        &[],
    );
    // The help is drawn once the window is up: then tap.
    let deadline = Instant::now() + Duration::from_secs(15);
    while screenshot(&display).is_none_or(|s| s.pixels().all(|p| p.0 == [0, 0, 0])) {
        assert!(Instant::now() < deadline, "no window");
        std::thread::sleep(Duration::from_millis(100));
    }
    xdotool(&display, &["key", "p"]);
    wait_playing(&frames, &display);
}
