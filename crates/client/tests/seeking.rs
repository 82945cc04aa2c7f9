//! Seeking, speed, frame steps and honest figures, headless, against our server and
//! gst-rtsp-server: `--start 10` shows the source's frame at 10 s first; `--keys` scripts the
//! same keys the window takes (pause and resume, TEARDOWN and PLAY again, `]`, `.` and `,`),
//! and `--stats-json` says what came of them.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::json_number;
use support::*;

const FPS: usize = 20;

fn client(args: &[&str]) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_client")).args(args),
        Duration::from_secs(60),
    )
}

/// The sample as a Matroska file (the JPEGs copied, not re-encoded): gst-rtsp-server seeks in
/// it (matroskademux), which it cannot do in the appsrc feed of tests/peers/gst_server.py.
fn sample_mkv() -> Option<PathBuf> {
    let dir = scratch_dir("seek-mkv");
    let plain = dir.join("sample.mjpeg");
    std::fs::write(&plain, sample_frames().concat()).unwrap();
    let mkv = dir.join("sample.mkv");
    let o = run(
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-y", "-framerate", "20"])
            .args(["-f", "mjpeg", "-i"])
            .arg(&plain)
            .args(["-c", "copy"])
            .arg(&mkv),
        Duration::from_secs(60),
    );
    o.status.success().then_some(mkv)
}

/// gst-rtsp-server serving `mkv` seekably, at `/test`.
fn start_gst_seekable(mkv: &Path) -> GstServer {
    let launch = format!(
        "( filesrc location={} ! matroskademux ! rtpjpegpay name=pay0 pt=26 )",
        mkv.display()
    );
    start_gst_server(Path::new("videotestsrc"), &["--launch", &launch])
}

fn gst_available() -> Option<(GstServer, String)> {
    if !have_gst_rtsp_server() || !have_ffmpeg() {
        return None;
    }
    let mkv = sample_mkv().expect("ffmpeg makes the Matroska copy");
    let gst = start_gst_seekable(&mkv);
    let url = format!("{}/test", gst.base);
    Some((gst, url))
}

/// Plays `url` headless from 10 s and returns the frames it recorded.
fn recorded_from_10s(url: &str, name: &str) -> Vec<Vec<u8>> {
    let rec = scratch_dir(name).join("rec.mjpeg");
    let o = client(&[
        url,
        "--headless",
        "--start",
        "10",
        "--frames",
        "3",
        "--record",
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_plain_mjpeg(&rec)
}

#[test]
fn start_10_shows_the_frame_at_10_s_first_from_our_server() {
    let server = start_server(&videos_dir(), |_| {});
    let got = recorded_from_10s(&url(&server, "video.mjpeg"), "seek-ours");
    let source = sample_frames();
    assert!(!got.is_empty());
    assert_eq!(
        scan_data(&got[0]),
        scan_data(&source[10 * FPS]),
        "the first frame is not source frame {}",
        10 * FPS
    );
}

#[test]
fn start_10_shows_the_frame_at_10_s_first_from_gst_rtsp_server() {
    let Some((_gst, url)) = gst_available() else {
        return;
    };
    let got = recorded_from_10s(&url, "seek-gst");
    let source = sample_frames();
    let first = decode_rgb(&got[0]);
    let at = |n: usize| psnr(&first, &decode_rgb(&source[n]));
    let (here, before, after) = (at(10 * FPS), at(10 * FPS - 1), at(10 * FPS + 1));
    eprintln!("PSNR against frame 200: {here:.1} dB, 199: {before:.1} dB, 201: {after:.1} dB");
    assert!(here > 30.0, "PSNR {here:.1} dB against the frame at 10 s");
    assert!(here > before && here > after);
}

/// Pause and resume, then TEARDOWN and PLAY again: the fps is the stream's (20), not
/// lowered by the pause or the gap, and the summary says it covers three plays.
#[test]
fn fps_is_the_streams_after_pause_resume_and_two_plays() {
    let server = start_server(&videos_dir(), |_| {});
    let o = client(&[
        &url(&server, "video.mjpeg"),
        "--headless",
        "--keys",
        "1.5:space 3:space 4.5:t 5.5:p",
        "--duration",
        "7.5",
        "--stats-json",
        "-",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let json = String::from_utf8(o.stdout).unwrap();
    let fps = json_number(&json, "fps");
    assert!(
        (18.0..=21.0).contains(&fps),
        "fps {fps} for a 20 fps stream: {json}"
    );
    assert_eq!(json_number(&json, "plays"), 3.0, "{json}");
    assert_eq!(json_number(&json, "seeks"), 0.0, "{json}");
    // 1.5 + 1.5 + 2 s of playing, less the start-up of each play.
    let playing = json_number(&json, "playing_seconds");
    assert!(
        (3.0..=5.2).contains(&playing),
        "{playing} s playing: {json}"
    );
    assert!(stderr.contains("of 3 plays (0 seeks)"), "{stderr}");
}

/// `]` asks for 2x; `.` and `,` step while paused. Against `url`, returns the stats JSON and
/// the log.
fn speed_and_steps(url: &str) -> (String, String) {
    let o = client(&[
        url,
        "--headless",
        "-v",
        "--keys",
        "0.5:] 2.5:space 3:home 3.5:period 4:period 4.5:comma",
        "--duration",
        "5.5",
        "--stats-json",
        "-",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    (String::from_utf8(o.stdout).unwrap(), stderr)
}

/// Steps from the start: `.` `.` `,` leaves frame 1 shown.
fn assert_steps(json: &str) {
    let pos = json_number(json, "position");
    assert!(
        (pos - 1.0 / FPS as f64).abs() < 1e-3,
        "after Home . . , the position is {pos}, not frame 1's: {json}"
    );
    assert_eq!(json_number(json, "seeks"), 4.0, "{json}");
}

/// gst-rtsp-server answers `Scale: 1.000` for this pipeline: the client plays on at 1x and
/// says so.
#[test]
fn speed_keys_fall_back_clearly_with_gst_rtsp_server_and_steps_work() {
    let Some((_gst, url)) = gst_available() else {
        return;
    };
    let (json, log) = speed_and_steps(&url);
    let scale = json_number(&json, "scale");
    if scale == 1.0 {
        assert!(
            log.contains("the server plays at 1x, not 2x") || log.contains("speed 2x refused"),
            "1x without a word: {log}"
        );
    } else {
        assert_eq!(scale, 2.0, "{json}");
    }
    assert_steps(&json);
}

/// Our server applies Scale: after `]` the stream plays at 2x, with no fallback message.
/// (This needs the server's Scale support.)
#[test]
fn speed_keys_and_steps_with_our_server() {
    let server = start_server(&videos_dir(), |_| {});
    let (json, log) = speed_and_steps(&url(&server, "video.mjpeg"));
    assert!(
        !log.contains("not 2x") && !log.contains("refused"),
        "our server did not apply Scale 2: {log}"
    );
    assert_eq!(json_number(&json, "scale"), 2.0, "{json}");
    assert_steps(&json);
}
