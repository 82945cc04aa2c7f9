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
    let wrong = challenges[0].answer("alice", "guess", "DESCRIBE", &url, ("c", 1));
    assert_eq!(
        c.request("DESCRIBE", &url, &[("Authorization", &wrong)])
            .status
            .0,
        401
    );
    let right = challenges[0].answer("alice", "s3cret", "DESCRIBE", &url, ("c", 2));
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

/// A connection to `addr` from another loopback address: another client, as the server sees
/// it. (std cannot bind before it connects.)
fn connect_from(local: std::net::IpAddr, addr: std::net::SocketAddr) -> RtspConn {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::new(local, 0).into())
        .unwrap();
    let timeout = std::time::Duration::from_secs(5);
    socket.connect_timeout(&addr.into(), timeout).unwrap();
    RtspConn::over(socket.into())
}

/// The Digest challenge of a 401.
fn digest_challenge(r: &rtsp_proto::rtsp::Response) -> Challenge {
    r.headers
        .get_all("WWW-Authenticate")
        .filter_map(|v| Challenge::parse(v).ok())
        .find(|c| matches!(c, Challenge::Digest { .. }))
        .unwrap_or_else(|| panic!("no Digest challenge: {r:?}"))
}

/// The status of `method uri` sent on `c` with `authorization`.
fn status(c: &mut RtspConn, method: &str, uri: &str, authorization: &str) -> u16 {
    c.request(method, uri, &[("Authorization", authorization)])
        .status
        .0
}

#[test]
fn a_digest_answer_is_refused_for_another_request_a_replay_or_another_connection() {
    let server = digest_only_server();
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let challenge = digest_challenge(&c.request("DESCRIBE", &url, &[]));
    assert!(matches!(challenge, Challenge::Digest { qop: true, .. }));
    let answer = |method: &str, uri: &str, nc| {
        challenge.answer("alice", "s3cret", method, uri, ("0a4f113b", nc))
    };

    let first = answer("DESCRIBE", &url, 1);
    assert_eq!(status(&mut c, "DESCRIBE", &url, &first), 200);
    // RFC 2617 3.2.2: the nonce count grows; the same count again is a replay.
    assert_eq!(status(&mut c, "DESCRIBE", &url, &first), 401, "replayed");
    // RFC 2617 3.2.2.5: the answer names its URI, which must be the request's.
    let other = url.replace("video.mjpeg", "other.mjpeg");
    assert_eq!(
        status(&mut c, "DESCRIBE", &other, &answer("DESCRIBE", &url, 2)),
        401,
        "URI"
    );
    // The method is hashed in (HA2 = MD5(method:uri)).
    assert_eq!(
        status(&mut c, "PLAY", &url, &answer("DESCRIBE", &url, 3)),
        401,
        "method"
    );
    // RFC 2617 3.2.2: with qop, cnonce and nc MUST be given; each directive once.
    let bare = first.replace(", cnonce=\"0a4f113b\"", "");
    assert_eq!(
        status(&mut c, "DESCRIBE", &url, &bare),
        400,
        "qop without cnonce"
    );
    let twice = answer("DESCRIBE", &url, 4)
        .replace("username=\"alice\"", "username=\"alice\", username=\"bob\"");
    assert_eq!(
        status(&mut c, "DESCRIBE", &url, &twice),
        400,
        "two usernames"
    );

    // A header captured here is worth nothing on another connection: its nonce is bound to
    // this one (stale=TRUE: a client holding the password answers the new nonce).
    let mut elsewhere = RtspConn::connect(server.addr);
    let r = elsewhere.request(
        "DESCRIBE",
        &url,
        &[("Authorization", &answer("DESCRIBE", &url, 5))],
    );
    assert_eq!(r.status.0, 401, "replayed on another connection");
    assert!(matches!(
        digest_challenge(&r),
        Challenge::Digest { stale: true, .. }
    ));
    let rfc2069 = match &challenge {
        Challenge::Digest { realm, nonce, .. } => Challenge::Digest {
            realm: realm.clone(),
            nonce: nonce.clone(),
            stale: false,
            qop: false,
        },
        _ => unreachable!(),
    };
    let plain = rfc2069.answer("alice", "s3cret", "DESCRIBE", &url, ("", 0));
    assert_eq!(
        status(&mut c, "DESCRIBE", &url, &plain),
        200,
        "RFC 2069 form, as GStreamer"
    );
    assert_eq!(
        status(&mut elsewhere, "DESCRIBE", &url, &plain),
        401,
        "and not elsewhere"
    );

    // The honest client goes on with its next count.
    assert_eq!(
        status(&mut c, "DESCRIBE", &url, &answer("DESCRIBE", &url, 6)),
        200
    );
}

#[test]
fn repeated_failures_refuse_one_address_for_a_while_and_not_another() {
    let server = digest_only_server();
    let url = url(&server, "video.mjpeg");
    let mut mallory = RtspConn::connect(server.addr);
    let challenge = digest_challenge(&mallory.request("DESCRIBE", &url, &[]));
    for nc in 1..=20 {
        let guess = challenge.answer("alice", &format!("guess{nc}"), "DESCRIBE", &url, ("m", nc));
        assert_eq!(
            status(&mut mallory, "DESCRIBE", &url, &guess),
            401,
            "guess {nc}"
        );
    }
    // The 21st attempt is refused without a look at the password, the right one included.
    let right = challenge.answer("alice", "s3cret", "DESCRIBE", &url, ("m", 21));
    let r = mallory.request("DESCRIBE", &url, &[("Authorization", &right)]);
    assert_eq!(r.status.0, 503, "{r:?}");
    let retry: u64 = r.headers.get("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    // A new connection from the same address is refused as well.
    let mut again = RtspConn::connect(server.addr);
    assert_eq!(again.request("DESCRIBE", &url, &[]).status.0, 503);

    // The real user, from another address, gets in at once.
    let mut alice = connect_from([127, 0, 0, 2].into(), server.addr);
    let challenge = digest_challenge(&alice.request("DESCRIBE", &url, &[]));
    let right = challenge.answer("alice", "s3cret", "DESCRIBE", &url, ("a", 1));
    assert_eq!(status(&mut alice, "DESCRIBE", &url, &right), 200);
}
