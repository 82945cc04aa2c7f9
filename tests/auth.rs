//! `--auth`: Digest and Basic. ffmpeg, GStreamer and our client get in with the right
//! credentials; wrong or missing ones get 401 with both challenges.

mod support;

use rtsp_proto::auth::{base64_encode, Challenge};
use support::*;

fn server() -> server::ServerHandle {
    start_server(&videos_dir(), |c| {
        c.users = vec![("alice".into(), "s3cret".into())]
    })
}

/// A server that offers Digest only: a peer that gets in has done Digest.
fn digest_only_server() -> server::ServerHandle {
    start_server(&videos_dir(), |c| {
        c.users = vec![("alice".into(), "s3cret".into())];
        c.allow_basic = false;
    })
}

fn with_user(url: &str, userinfo: &str) -> String {
    url.replacen("rtsp://", &format!("rtsp://{userinfo}@"), 1)
}

#[test]
fn missing_or_wrong_credentials_get_401_with_both_challenges() {
    let server = server();
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    assert_eq!(
        c.request("OPTIONS", &url, &[]).status.0,
        200,
        "OPTIONS stays open"
    );
    let r = c.request("DESCRIBE", &url, &[]);
    assert_eq!(r.status.0, 401);
    let challenges: Vec<Challenge> = r
        .headers
        .get_all("WWW-Authenticate")
        .filter_map(|v| Challenge::parse(v).ok())
        .collect();
    assert!(
        matches!(
            challenges[..],
            [Challenge::Digest { .. }, Challenge::Basic { .. }]
        ),
        "{challenges:?}"
    );
    let wrong = challenges[0].answer("alice", "guess", "DESCRIBE", &url);
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &wrong)])
            .status
            .0,
        401
    );
    let right = challenges[0].answer("alice", "s3cret", "DESCRIBE", &url);
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &right)])
            .status
            .0,
        200
    );
    let basic = format!("Basic {}", base64_encode(b"alice:s3cret"));
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &basic)])
            .status
            .0,
        200
    );
    let bad_basic = format!("Basic {}", base64_encode(b"alice:nope"));
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &bad_basic)])
            .status
            .0,
        401
    );
}

#[test]
fn ffmpeg_authenticates_with_digest() {
    if !have_ffmpeg() {
        return;
    }
    let server = digest_only_server();
    let url = url(&server, "video.mjpeg");
    let frames = ffmpeg_plays_url(&with_user(&url, "alice:s3cret"), "udp", 2);
    assert!(frames.len() >= 30, "{} frames", frames.len());
    let o = ffmpeg_client(
        &with_user(&url, "alice:wrong"),
        "udp",
        1,
        &["-f", "null", "-"],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn gstreamer_authenticates_with_digest() {
    if !have_gstreamer() {
        return;
    }
    let server = digest_only_server();
    // rtspsrc takes credentials from the URL too.
    let frames = gstreamer_plays(
        &with_user(&url(&server, "video.mjpeg"), "alice:s3cret"),
        "udp",
        4,
    );
    assert!(frames.len() >= 30, "{} frames", frames.len());
}

#[test]
fn our_client_authenticates_and_reports_a_refusal() {
    let server = digest_only_server();
    let url = url(&server, "video.mjpeg");
    let mut opts = client::Options::for_url(&with_user(&url, "alice:s3cret")).unwrap();
    opts.frames = Some(10);
    assert!(client::headless::run(&opts).unwrap().frames_decoded >= 10);
    let mut opts = client::Options::for_url(&with_user(&url, "alice:wrong")).unwrap();
    opts.frames = Some(10);
    let err = client::headless::run(&opts).unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}
