//! Hostile requests and byte streams: each gets the right answer, the connection stays usable
//! where RTSP allows it, and a normal session on the same server still plays afterwards.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rtsp_proto::rtp::RtpPacket;
use support::*;

#[path = "support/hostile_cases.rs"]
mod hostile_cases;

use hostile_cases::{setup, still_plays};

/// Every case of the table (tests/support/hostile_cases.rs) gets the status its RFC section
/// requires, on a fresh connection, and a normal player still gets frames after each. All
/// cases run; the failure lists every one that went wrong, not just the first.
#[test]
fn hostile_requests_get_the_right_answer_and_the_server_keeps_serving() {
    let server = start_server(&videos_dir(), |_| {});
    let (count, failures) = hostile_cases::run_table(&server, true);
    assert!(count >= 80, "{count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases did not get what the RFC requires:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn stateful_streams_pipelining_partial_and_interleaved_input() {
    let server = start_server(&videos_dir(), |_| {});
    let base = url(&server, "video.mjpeg");
    // RFC 2326 12.17: three requests in one write come back as three responses, in order,
    // each with its CSeq.
    let mut c = RtspConn::connect(server.addr);
    c.send_raw(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 3\r\n\r\n");
    for n in 1..=3 {
        assert_eq!(c.read_response().headers.cseq(), Some(n));
    }
    // RFC 2326 4 (a message is its bytes, however TCP cuts them): a request a byte at a time.
    for b in b"OPTIONS * RTSP/1.0\r\nCSeq: 4\r\n\r\n" {
        c.send_raw(&[*b]);
    }
    assert_eq!(c.read_response().headers.cseq(), Some(4));
    // RFC 2326 10.12: interleaved data from the client (no TCP session): ignored, the next
    // request answered.
    c.send_raw(b"$\x00\x00\x04abcd$\x05\x00\x00OPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n");
    assert_eq!(c.read_response().headers.cseq(), Some(5));
    // RFC 2326 11.3.5: a session is usable only from the connection that made it; elsewhere
    // it is not found (a session id alone must not let another peer steer the stream).
    let id = setup(&mut c, &base);
    let mut other = RtspConn::connect(server.addr);
    assert_eq!(
        other.request("PLAY", &base, &[("Session", &id)]).status.0,
        454
    );
    assert_eq!(c.request("PLAY", &base, &[("Session", &id)]).status.0, 200);
    // RFC 2326 3.4 (ids are to be chosen so they cannot be guessed): 64 random bits in
    // decimal.
    assert!(
        id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    still_plays(&server);
}

/// RFC 2326 7.1.1 / RFC 7231 6.5.7 (408): a request that never finishes arriving is answered
/// 408 and its connection closed after the request timeout, while a session plays on.
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
        ("RFC 2326 6.1: not a request line", b"GARBAGE\r\n".to_vec()),
        ("RFC 2326 6.1: method only", b"OPTIONS\r\n".to_vec()),
        (
            "RFC 2326 6.1: four words",
            b"OPTIONS * RTSP/1.0 extra\r\nCSeq: 7\r\n".to_vec(),
        ),
        (
            "RFC 2326 6.1: NUL bytes",
            b"OPTIONS \0\0\0 RTSP/1.0\r\nCSeq: 7\r\n".to_vec(),
        ),
        (
            "RFC 2326 6.1: binary garbage",
            (0..1000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80)
                .chain(*b"\r\n")
                .collect(),
        ),
        ("RFC 2326 6.1: 4096 random bytes", noise),
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
