//! Hostile requests and byte streams: each gets the right answer, the connection stays usable
//! where RTSP allows it, and a normal session on the same server still plays afterwards.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rtsp_proto::rtp::RtpPacket;
use support::*;

/// SETUP on `c` and return the session id.
fn setup(c: &mut RtspConn, base: &str) -> String {
    let r = c.request(
        "SETUP",
        &format!("{base}/track1"),
        &[("Transport", "RTP/AVP;unicast;client_port=5000-5001")],
    );
    assert_eq!(r.status.0, 200);
    r.headers.get("Session").unwrap().to_string()
}

/// A normal player still gets a frame from the server.
fn still_plays(server: &server::ServerHandle) {
    let p = describe_setup_play(server.addr, &url(server, "video.mjpeg"));
    let got = receive_for(&p.rtp, Duration::from_secs(3), |g| {
        g.iter()
            .any(|(_, d)| RtpPacket::parse(d).is_ok_and(|p| p.header.marker))
    });
    assert!(
        got.iter()
            .any(|(_, d)| RtpPacket::parse(d).unwrap().header.marker),
        "no frame after a hostile request"
    );
}

/// What a case needs before its bytes are sent.
#[derive(Clone, Copy, PartialEq)]
enum Before {
    Nothing,
    Setup,
    SetupPlay,
}

/// Every hostile request with the state it needs and the status it must get. A table, not
/// logic: one line per case reads best as one long list (it is over 80 lines for that reason).
fn cases(base: &str) -> Vec<(&'static str, Before, Vec<u8>, u16)> {
    let req = |m: &str, uri: &str, extra: &str| {
        format!("{m} {uri} RTSP/1.0\r\nCSeq: 7\r\n{extra}\r\n").into_bytes()
    };
    let mut many = String::from("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    let mut big_head = String::from("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n");
    for i in 0..30 {
        big_head.push_str(&format!("X-{i}: {}\r\n", "v".repeat(400)));
    }
    big_head.push_str("\r\n");
    let t = |transport: &str| format!("Transport: {transport}\r\n");
    let track = format!("{base}/track1");
    vec![
        (
            "HTTP version",
            Before::Nothing,
            b"OPTIONS * HTTP/1.1\r\nCSeq: 7\r\n\r\n".to_vec(),
            505,
        ),
        (
            "RTSP/2.0",
            Before::Nothing,
            b"OPTIONS * RTSP/2.0\r\nCSeq: 7\r\n\r\n".to_vec(),
            505,
        ),
        (
            "no CSeq",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "CSeq not a number",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: abc\r\n\r\n".to_vec(),
            400,
        ),
        (
            "negative CSeq",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "CSeq overflow",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: 99999999999999\r\n\r\n".to_vec(),
            400,
        ),
        (
            "header without colon",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nbroken\r\n\r\n".to_vec(),
            400,
        ),
        (
            "header with empty name",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n: x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "line too long",
            Before::Nothing,
            format!(
                "OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nX: {}\r\n\r\n",
                "a".repeat(5000)
            )
            .into_bytes(),
            400,
        ),
        ("100 headers", Before::Nothing, many.into_bytes(), 400),
        (
            "head over 8 KiB",
            Before::Nothing,
            big_head.into_bytes(),
            400,
        ),
        (
            "huge Content-Length",
            Before::Nothing,
            req("SET_PARAMETER", "*", "Content-Length: 999999999\r\n"),
            413,
        ),
        (
            "bad Content-Length",
            Before::Nothing,
            req("SET_PARAMETER", "*", "Content-Length: lots\r\n"),
            400,
        ),
        ("unknown method", Before::Nothing, req("FROB", "*", ""), 501),
        ("RECORD", Before::Nothing, req("RECORD", base, ""), 501),
        ("ANNOUNCE", Before::Nothing, req("ANNOUNCE", base, ""), 501),
        (
            "PLAY without session",
            Before::Nothing,
            req("PLAY", base, ""),
            454,
        ),
        (
            "PLAY unknown session",
            Before::Nothing,
            req("PLAY", base, "Session: 12345\r\n"),
            454,
        ),
        (
            "PAUSE without session",
            Before::Nothing,
            req("PAUSE", base, ""),
            454,
        ),
        (
            "TEARDOWN unknown session",
            Before::Nothing,
            req("TEARDOWN", base, "Session: 999\r\n"),
            454,
        ),
        (
            "GET_PARAMETER unknown session",
            Before::Nothing,
            req("GET_PARAMETER", base, "Session: 999\r\n"),
            454,
        ),
        (
            "malformed Session",
            Before::Nothing,
            req("PLAY", base, "Session: ;;;\r\n"),
            400,
        ),
        (
            "SETUP without Transport",
            Before::Nothing,
            req("SETUP", &track, ""),
            400,
        ),
        (
            "garbage Transport",
            Before::Nothing,
            req("SETUP", &track, &t("garbage")),
            461,
        ),
        (
            "multicast",
            Before::Nothing,
            req(
                "SETUP",
                &track,
                &t("RTP/AVP;multicast;client_port=5000-5001"),
            ),
            461,
        ),
        (
            "destination elsewhere",
            Before::Nothing,
            req(
                "SETUP",
                &track,
                &t("RTP/AVP;unicast;destination=192.0.2.1;client_port=5000-5001"),
            ),
            461,
        ),
        (
            "client_port 0",
            Before::Nothing,
            req("SETUP", &track, &t("RTP/AVP;unicast;client_port=0-1")),
            461,
        ),
        (
            "client_port 70000",
            Before::Nothing,
            req(
                "SETUP",
                &track,
                &t("RTP/AVP;unicast;client_port=70000-70001"),
            ),
            461,
        ),
        (
            "interleaved 300",
            Before::Nothing,
            req("SETUP", &track, &t("RTP/AVP/TCP;interleaved=300-301")),
            461,
        ),
        (
            "no client_port",
            Before::Nothing,
            req("SETUP", &track, &t("RTP/AVP;unicast")),
            461,
        ),
        (
            "dot-dot",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "../Cargo.toml"),
                "",
            ),
            404,
        ),
        (
            "encoded dot-dot",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "%2e%2e/Cargo.toml"),
                "",
            ),
            404,
        ),
        (
            "encoded slash",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "..%2fCargo.toml"),
                "",
            ),
            404,
        ),
        (
            "absolute path",
            Before::Nothing,
            req("DESCRIBE", &base.replace("video.mjpeg", "/etc/passwd"), ""),
            404,
        ),
        (
            "bare absolute path",
            Before::Nothing,
            req("DESCRIBE", "/etc/passwd", ""),
            404,
        ),
        (
            "NUL in the name",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "video.mjpeg%00.txt"),
                "",
            ),
            404,
        ),
        (
            "backslashes",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "..%5c..%5cetc%5cpasswd"),
                "",
            ),
            404,
        ),
        (
            "not a media file",
            Before::Nothing,
            req(
                "DESCRIBE",
                &base.replace("video.mjpeg", "make_sample.sh"),
                "",
            ),
            404,
        ),
        (
            "no such file",
            Before::Nothing,
            req("DESCRIBE", &base.replace("video.mjpeg", "nope.mjpeg"), ""),
            404,
        ),
        ("no path", Before::Nothing, req("DESCRIBE", "*", ""), 404),
        (
            "PAUSE in Ready",
            Before::Setup,
            req("PAUSE", base, "Session: {session}\r\n"),
            455,
        ),
        (
            "second SETUP without Session",
            Before::Setup,
            req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5002-5003")),
            455,
        ),
        (
            "SETUP while playing",
            Before::SetupPlay,
            req(
                "SETUP",
                &track,
                &format!(
                    "Session: {{session}}\r\n{}",
                    t("RTP/AVP;unicast;client_port=5002-5003")
                ),
            ),
            455,
        ),
        (
            "Range past the end",
            Before::Setup,
            req("PLAY", base, "Session: {session}\r\nRange: npt=999-\r\n"),
            457,
        ),
        (
            "Range not npt",
            Before::Setup,
            req(
                "PLAY",
                base,
                "Session: {session}\r\nRange: smpte=0:00:01-\r\n",
            ),
            457,
        ),
        (
            "Range garbage",
            Before::Setup,
            req("PLAY", base, "Session: {session}\r\nRange: npt=x-y\r\n"),
            457,
        ),
        // RFC 2326 12.17: one CSeq per request; two would say which request is answered.
        (
            "two CSeq",
            Before::Nothing,
            b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nCSeq: 8\r\n\r\n".to_vec(),
            400,
        ),
        // RFC 2326 12.37: one session per request.
        (
            "two Session",
            Before::Setup,
            req("PLAY", base, "Session: {session}\r\nSession: {session}\r\n"),
            400,
        ),
        // RFC 2326 12.14 (RFC 7230 3.3.2): two lengths would let the peer choose where the
        // next request starts.
        (
            "two Content-Length",
            Before::Nothing,
            req(
                "SET_PARAMETER",
                "*",
                "Content-Length: 0\r\nContent-Length: 5\r\n",
            )
            .into_iter()
            .chain(*b"hello")
            .collect(),
            400,
        ),
        // RFC 2326 12.14 takes HTTP's 1*DIGIT: no sign.
        (
            "signed Content-Length",
            Before::Nothing,
            req("SET_PARAMETER", "*", "Content-Length: +0\r\n"),
            400,
        ),
        // RFC 2326 12.39: one Transport header (a list inside it, not several headers).
        (
            "two Transport",
            Before::Nothing,
            req(
                "SETUP",
                &track,
                &format!(
                    "{}{}",
                    t("RTP/AVP;unicast;client_port=5000-5001"),
                    t("RTP/AVP/TCP")
                ),
            ),
            400,
        ),
        // RFC 2326 12.32: an option the server does not implement is 551.
        (
            "Require",
            Before::Nothing,
            req("OPTIONS", "*", "Require: some.option\r\n"),
            551,
        ),
        // RFC 2326 12.39: RTP and RTCP each on a channel of its own.
        (
            "interleaved 0-0",
            Before::Nothing,
            req("SETUP", &track, &t("RTP/AVP/TCP;unicast;interleaved=0-0")),
            461,
        ),
        // RFC 3550 11: RTCP on another port than RTP.
        (
            "client_port 5000-5000",
            Before::Nothing,
            req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5000-5000")),
            461,
        ),
    ]
}

#[test]
fn hostile_requests_get_the_right_answer_and_the_server_keeps_serving() {
    let server = start_server(&videos_dir(), |_| {});
    let base = url(&server, "video.mjpeg");
    let cases = cases(&base);
    assert!(cases.len() >= 45, "{} cases", cases.len());
    for (name, before, bytes, expect) in cases {
        let mut c = RtspConn::connect(server.addr);
        let mut bytes = bytes;
        if before != Before::Nothing {
            let id = setup(&mut c, &base);
            if before == Before::SetupPlay {
                assert_eq!(c.request("PLAY", &base, &[("Session", &id)]).status.0, 200);
            }
            bytes = String::from_utf8(bytes)
                .unwrap()
                .replace("{session}", &id)
                .into_bytes();
        }
        c.send_raw(&bytes);
        let r = c.read_response();
        assert_eq!(r.status.0, expect, "{name}");
        c.assert_still_usable();
        still_plays(&server);
    }
}

#[test]
fn stateful_streams_pipelining_partial_and_interleaved_input() {
    let server = start_server(&videos_dir(), |_| {});
    let base = url(&server, "video.mjpeg");
    // Three requests in one write come back as three responses, in order.
    let mut c = RtspConn::connect(server.addr);
    c.send_raw(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n");
    for n in 1..=3 {
        assert_eq!(c.read_response().headers.cseq(), Some(n));
    }
    // A request in pieces, a byte at a time.
    for b in b"OPTIONS * RTSP/1.0\r\nCSeq: 4\r\n\r\n" {
        c.send_raw(&[*b]);
    }
    assert_eq!(c.read_response().headers.cseq(), Some(4));
    // Interleaved data from the client (no TCP session): ignored, the next request answered.
    c.send_raw(b"$\x00\x00\x04abcd$\x05\x00\x00OPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n");
    assert_eq!(c.read_response().headers.cseq(), Some(5));
    // A session is usable only from the connection that made it.
    let id = setup(&mut c, &base);
    let mut other = RtspConn::connect(server.addr);
    assert_eq!(
        other.request("PLAY", &base, &[("Session", &id)]).status.0,
        454
    );
    assert_eq!(c.request("PLAY", &base, &[("Session", &id)]).status.0, 200);
    // Session ids are 64-bit random numbers in decimal.
    assert!(
        id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    still_plays(&server);
}

#[test]
fn a_slowloris_peer_is_cut_off_while_a_normal_session_plays() {
    let timeout = Duration::from_secs(2);
    let server = start_server(&videos_dir(), |c| c.request_timeout = timeout);
    let player = describe_setup_play(server.addr, &url(&server, "video.mjpeg"));
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let start = Instant::now();
    let mut reply = Vec::new();
    let mut frames = 0;
    let mut buf = [0u8; 65536];
    let closed_at = 'outer: loop {
        assert!(
            start.elapsed() < timeout + Duration::from_secs(5),
            "the slow peer was never cut off"
        );
        // One byte a second of a request that never ends.
        if slow.write_all(b"X").is_err() {
            break start.elapsed();
        }
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next {
            match slow.read(&mut buf) {
                Ok(0) => break 'outer start.elapsed(),
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            player
                .rtp
                .set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            while let Ok(n) = player.rtp.recv(&mut buf) {
                frames += RtpPacket::parse(&buf[..n]).is_ok_and(|p| p.header.marker) as usize;
            }
        }
    };
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("RTSP/1.0 408"), "{text:?}");
    assert!(
        closed_at >= timeout && closed_at < timeout + Duration::from_secs(2),
        "cut off after {closed_at:?}"
    );
    // Meanwhile the normal session kept its 20 fps.
    let expected = (closed_at.as_secs_f64() * 20.0) as usize;
    assert!(
        frames + 4 >= expected,
        "{frames} frames while the slow peer hung on ({expected} expected)"
    );
}

/// Bytes that start no RTSP request (RFC 2326 6.1: `Method SP Request-URI SP RTSP-Version`)
/// are known to be bad when their first line ends: answered 400 at once, and the connection
/// closed, since nothing after them can be trusted to start a message.
#[test]
fn a_first_line_that_is_no_request_is_answered_at_once_and_the_connection_closed() {
    let server = start_server(&videos_dir(), |_| {});
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cases: [(&str, Vec<u8>); 6] = [
        ("not a request line", b"GARBAGE\r\n".to_vec()),
        ("method only", b"OPTIONS\r\n".to_vec()),
        (
            "four words",
            b"OPTIONS * RTSP/1.0 extra\r\nCSeq: 7\r\n".to_vec(),
        ),
        (
            "NUL bytes",
            b"OPTIONS \0\0\0 RTSP/1.0\r\nCSeq: 7\r\n".to_vec(),
        ),
        (
            "binary garbage",
            (0..1000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80)
                .chain(*b"\r\n")
                .collect(),
        ),
        ("4096 random bytes", noise),
    ];
    for (name, bytes) in cases {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let sent = Instant::now();
        // No blank line follows: the answer must not wait for one, nor for the request timeout.
        c.write_all(&bytes).unwrap();
        let mut reply = Vec::new();
        let closed = loop {
            let mut buf = [0u8; 4096];
            match c.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                // Reset by the server while our bytes were still arriving: closed, too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(e) => panic!("{name}: no close within 3 s ({e}); got {reply:?}"),
            }
        };
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("RTSP/1.0 400"), "{name}: {text:?}");
        assert!(closed && sent.elapsed() < Duration::from_secs(3), "{name}");
    }
    still_plays(&server);
}

/// RFC 2326 12.32: the options a request requires and the server lacks come back in
/// `Unsupported`, and the request is not carried out.
#[test]
fn required_options_are_listed_back_as_unsupported() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = RtspConn::connect(server.addr);
    let r = c.request(
        "OPTIONS",
        "*",
        &[
            ("Require", "some.option, other.option"),
            ("Require", "third"),
        ],
    );
    assert_eq!(r.status.0, 551);
    assert_eq!(
        r.headers.get("Unsupported"),
        Some("some.option, other.option, third")
    );
    c.assert_still_usable();
}
