//! The `client` binary as a user runs it: headless, recording, the stats JSON, the lab's
//! command-line form, the end of a stream, and failure exit codes.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod common;

use std::process::{Command, Output};

use common::json_number;
use support::*;

fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_client"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn headless_writes_stats_json_and_a_lab_format_recording() {
    let server = start_server(&videos_dir(), |_| {});
    let rec = scratch_dir("cli").join("rec.mjpeg");
    let o = client(&[
        &url(&server, "video.mjpeg"),
        "--headless",
        "--frames",
        "10",
        "--stats-json",
        "-",
        "--record",
        rec.to_str().unwrap(),
        "--record-format",
        "lab",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = String::from_utf8(o.stdout).unwrap();
    assert!(json_number(&json, "frames_decoded") >= 10.0, "{json}");
    assert_eq!(json_number(&json, "packets_lost"), 0.0);
    assert_eq!(json_number(&json, "width"), 384.0);
    for key in [
        "frames_received",
        "frames_dropped",
        "packets_received",
        "jitter_ms",
        "kbps",
        "fps",
        "first_frame_ms",
    ] {
        json_number(&json, key);
    }
    assert!(
        json.contains("\"transport\":\"udp\"") && json.contains("\"dialect\":\"standard\""),
        "{json}"
    );
    let data = std::fs::read(&rec).unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
    assert_eq!(idx.container, rtsp_proto::mjpeg::Container::Lab);
    assert!(idx.frames.len() >= 10);
    let source = sample_frames();
    for (n, r) in idx.frames.iter().enumerate() {
        assert_eq!(
            scan_data(&data[r.clone()]),
            scan_data(&source[n]),
            "recorded frame {n}"
        );
    }
    // The summary line at exit.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fps"),
        "no summary line"
    );
}

/// `--duration` stops mid-stream: the frame counts still add up (received = decoded + dropped
/// + discarded at the stop) and the recording holds every complete frame received.
#[test]
fn a_duration_stop_adds_up_and_records_every_received_frame() {
    let server = start_server(&videos_dir(), |_| {});
    let rec = scratch_dir("cli-duration").join("rec.mjpeg");
    let o = client(&[
        &url(&server, "video.mjpeg"),
        "--headless",
        "--duration",
        "1.5",
        "--stats-json",
        "-",
        "--record",
        rec.to_str().unwrap(),
        "--record-format",
        "lab",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = String::from_utf8(o.stdout).unwrap();
    let n = |key| json_number(&json, key) as u64;
    let received = n("frames_received");
    assert!(received >= 5, "{json}");
    assert_eq!(n("frames_incomplete"), 0, "{json}");
    assert_eq!(
        received,
        n("frames_decoded") + n("frames_dropped") + n("frames_discarded_at_stop"),
        "{json}"
    );
    // The lab format: a 5-digit ASCII length, then the JPEG.
    let data = std::fs::read(&rec).unwrap();
    let mut frames = 0u64;
    let mut at = 0;
    while at < data.len() {
        let len: usize = std::str::from_utf8(&data[at..at + 5])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(&data[at + 5..at + 7], &[0xff, 0xd8], "frame {frames}");
        at += 5 + len;
        frames += 1;
    }
    assert_eq!(at, data.len());
    assert_eq!(frames, received, "{json}");
}

#[test]
fn the_labs_command_line_form_works() {
    let server = start_server(&videos_dir(), |_| {});
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    drop((rtp, rtcp));
    let o = client(&[
        "127.0.0.1",
        &server.addr.port().to_string(),
        &port.to_string(),
        "video.mjpeg",
        "--headless",
        "--frames",
        "5",
        "--stats-json",
        "-",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(json_number(&String::from_utf8(o.stdout).unwrap(), "frames_decoded") >= 5.0);
}

#[test]
fn headless_plays_to_the_end_of_a_stream_and_exits_0() {
    let dir = scratch_dir("cli-end");
    let mut short = Vec::new();
    for f in sample_frames().iter().take(30) {
        rtsp_proto::mjpeg::write_lab_frame(&mut short, f).unwrap();
    }
    std::fs::write(dir.join("short.mjpeg"), short).unwrap();
    let server = start_server(&dir, |_| {});
    let o = client(&[
        &url(&server, "short.mjpeg"),
        "--headless",
        "--stats-json",
        "-",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = String::from_utf8(o.stdout).unwrap();
    assert_eq!(json_number(&json, "frames_decoded"), 30.0, "{json}");
}

#[test]
fn exits_non_zero_when_nothing_plays() {
    let server = start_server(&videos_dir(), |_| {});
    let o = client(&[&url(&server, "missing.mjpeg"), "--headless"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("404"), "{err}");
    let o = client(&["not a url"]);
    assert!(!o.status.success());
}

#[test]
fn help_documents_the_keys() {
    let o = client(&["--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    for k in [
        "SETUP",
        "PLAY",
        "Space",
        "TEARDOWN",
        "DESCRIBE",
        "Esc",
        "--headless",
        "--record",
        "--stats-json",
        "--lab",
        "Left Right",
        "Down Up",
        "Home",
        "progress bar",
        "[ ]",
        "reverse",
        ", .",
        "fullscreen",
        "--start",
        "--keys",
    ] {
        assert!(help.contains(k), "--help lacks {k}");
    }
}

#[test]
fn a_killed_client_frees_its_session_within_the_timeout() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let timeout = Duration::from_secs(3);
    let server = start_server(&videos_dir(), |c| {
        c.session_timeout = timeout;
        c.looping = true;
    });
    for transport in ["--udp", "--tcp"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
            .args([
                &url(&server, "video.mjpeg"),
                "--headless",
                "--duration",
                "60",
                transport,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_until(Duration::from_secs(10), || server
            .shared
            .sessions
            .load(Ordering::SeqCst)
            == 1));
        child.kill().unwrap(); // SIGKILL: no TEARDOWN, no BYE
        child.wait().unwrap();
        let freed = wait_until(timeout + Duration::from_secs(5), || {
            server.shared.sessions.load(Ordering::SeqCst) == 0
                && server.shared.connections.load(Ordering::SeqCst) == 0
        });
        assert!(
            freed,
            "{transport}: session or connection thread still alive after the timeout + 5 s"
        );
    }
}

#[test]
fn sigterm_makes_the_client_tear_down_before_it_exits() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let server = start_server(&videos_dir(), |_| {});
    let child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args([
            &url(&server, "video.mjpeg"),
            "--headless",
            "--duration",
            "60",
            "--stats-json",
            "-",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || server
        .shared
        .sessions
        .load(Ordering::SeqCst)
        == 1));
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    // TEARDOWN, not a vanished connection: the session is gone while the server still sees
    // a clean exchange, and the client wrote its statistics.
    assert!(wait_until(Duration::from_secs(2), || server
        .shared
        .sessions
        .load(Ordering::SeqCst)
        == 0));
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json_number(&json, "frames_decoded") > 0.0, "{json}");
}
