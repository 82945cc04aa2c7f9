//! The hostile request table (issue #14), shared by tests/hostile.rs, which checks every
//! answer, and tests/hostile_stateful.rs, which runs it as load while it watches the server's
//! threads and descriptors. Included with `#[path]` by those two only, so the other test
//! binaries do not compile it.
//!
//! Every case names the RFC section whose rule it checks. Where RFC 2326 (RTSP 1.0) borrows
//! HTTP's message syntax, the rule cited is RFC 7230's (HTTP/1.1 message syntax), which is
//! where that syntax is now stated with its MUSTs.

use std::time::{Duration, Instant};

use rtsp_proto::rtp::RtpPacket;
use rtsp_proto::rtsp::{self, Limits, Parsed};

use crate::support::*;

/// SETUP on `c` and return the session id.
pub fn setup(c: &mut RtspConn, base: &str) -> String {
    let r = c.request(
        "SETUP",
        &format!("{base}/track1"),
        &[("Transport", "RTP/AVP;unicast;client_port=5000-5001")],
    );
    assert_eq!(r.status.0, 200);
    r.headers.get("Session").unwrap().to_string()
}

/// A normal player still gets a frame from the server.
pub fn still_plays(server: &server::ServerHandle) {
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Before {
    Nothing,
    /// A UDP session in Ready; `{session}` in the bytes becomes its id.
    Setup,
    /// The same, playing.
    SetupPlay,
}

/// What must become of the connection after the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum After {
    /// Still answers requests: RTSP lets the peer go on after this error.
    Usable,
    /// Closed by the server: the framing is lost (RFC 7230 3.3.3), nothing after can be read.
    Closed,
    /// Either is allowed (413: the server MAY close, RFC 7231 6.5.11).
    Any,
}

/// One hostile request: the rule it checks (name), the state it needs, its bytes, the status
/// RFC requires, and what must become of the connection.
pub struct Case {
    pub name: &'static str,
    pub before: Before,
    pub bytes: Vec<u8>,
    pub expect: u16,
    pub after: After,
}

/// Every hostile request. A table, not logic: one line per case (rustfmt would spread each
/// over seven) reads best as one long list.
#[rustfmt::skip]
pub fn cases(base: &str) -> Vec<Case> {
    use After::*;
    use Before::*;
    let req = |m: &str, uri: &str, extra: &str| {
        format!("{m} {uri} RTSP/1.0\r\nCSeq: 7\r\n{extra}\r\n").into_bytes()
    };
    let raw = |s: &str| s.as_bytes().to_vec();
    let with_body = |head: Vec<u8>, body: &[u8]| -> Vec<u8> { [head, body.to_vec()].concat() };
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
    let udp = t("RTP/AVP;unicast;client_port=5000-5001");
    let track = format!("{base}/track1");
    let file = |name: &str| base.replace("video.mjpeg", name);
    let s = "Session: {session}\r\n";
    // A whole request as a body: it must be read as the body, never answered.
    let inner: &[u8] = b"OPTIONS * RTSP/1.0\r\nCSeq: 99\r\n\r\n";
    let case = |name, before, bytes, expect, after| Case {
        name,
        before,
        bytes,
        expect,
        after,
    };
    vec![
        // Request line and version (RFC 2326 3.1, 6.1).
        case("RFC 2326 3.1: HTTP/1.1 is not RTSP's version (505)", Nothing, raw("OPTIONS * HTTP/1.1\r\nCSeq: 7\r\n\r\n"), 505, Usable),
        case("RFC 2326 3.1: RTSP/2.0, a major version not served (505)", Nothing, raw("OPTIONS * RTSP/2.0\r\nCSeq: 7\r\n\r\n"), 505, Usable),
        case("RFC 2326 6.1: method names are case-sensitive, `options` is no method (501)", Nothing, req("options", "*", ""), 501, Usable),
        case("RFC 2326 6.1: OPTIONS on a resource URL", Nothing, req("OPTIONS", base, ""), 200, Usable),
        case("RFC 2326 6.1: `*` only for methods about the server, DESCRIBE * names nothing (404)", Nothing, req("DESCRIBE", "*", ""), 404, Usable),
        // RFC 7230 3.1.1: a request-target longer than the server parses MUST get 414.
        case("RFC 7230 3.1.1: Request-URI over the line limit (414)", Nothing, req("DESCRIBE", &format!("{base}/{}", "a".repeat(5000)), ""), 414, Any),
        // Methods (RFC 2326 10, 7.1.1: 501 for a method the server does not implement).
        case("RFC 2326 10 / 7.1.1: unknown method FROB (501)", Nothing, req("FROB", "*", ""), 501, Usable),
        case("RFC 2326 10.11: RECORD, not offered by a play-only server (501)", Nothing, req("RECORD", base, ""), 501, Usable),
        case("RFC 2326 10.3: ANNOUNCE, not offered (501)", Nothing, req("ANNOUNCE", base, ""), 501, Usable),
        case("RFC 2326 10.9: SET_PARAMETER, not offered (501)", Nothing, req("SET_PARAMETER", "*", ""), 501, Usable),
        // CSeq (RFC 2326 12.17: `CSeq: 1*DIGIT`, MUST be in every request).
        case("RFC 2326 12.17: no CSeq (400)", Nothing, raw("OPTIONS * RTSP/1.0\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: CSeq not 1*DIGIT (abc)", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: abc\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: negative CSeq", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: -1\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: CSeq with a sign (+7) is not 1*DIGIT", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: +7\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: CSeq with a fraction (7.5)", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7.5\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: empty CSeq", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq:\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: two numbers in one CSeq (7, 8)", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7, 8\r\n\r\n"), 400, Usable),
        // RFC 2326 sets no bound; RTSP 2.0 (RFC 7826 18.20) bounds CSeq to 32 bits, and a value
        // the server cannot echo exactly is refused rather than answered with another number.
        case("RFC 2326 12.17 (RFC 7826 18.20): CSeq past 32 bits", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 99999999999999\r\n\r\n"), 400, Usable),
        case("RFC 2326 12.17: CSeq 0 is 1*DIGIT", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 0\r\n\r\n"), 200, Usable),
        case("RFC 2326 12.17: CSeq 4294967295, the largest 32-bit one, echoed", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 4294967295\r\n\r\n"), 200, Usable),
        case("RFC 2326 12.17: CSeq with leading zeros (007) is 7", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 007\r\n\r\n"), 200, Usable),
        case("RFC 2326 12.17: two CSeq headers", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nCSeq: 8\r\n\r\n"), 400, Usable),
        // Header field syntax (RFC 2326 4.2 takes HTTP's; RFC 7230 3.2).
        case("RFC 7230 3.2: header line without colon", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nbroken\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2: empty field-name", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n: x\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2: field-name is a token, `X(Y)` is none", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nX(Y): z\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2: control character in a field-name", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nX\x01Y: z\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2: field names are case-insensitive (cSeQ)", Nothing, raw("OPTIONS * RTSP/1.0\r\ncSeQ: 7\r\n\r\n"), 200, Usable),
        case("RFC 7230 3.2: an empty field value is allowed", Nothing, req("OPTIONS", "*", "X-Empty:\r\n"), 200, Usable),
        case("RFC 7230 3.2.1: an unknown header field is ignored", Nothing, req("OPTIONS", "*", "X-Unknown-Extension: 1\r\n"), 200, Usable),
        case("RFC 7230 3.2.4: optional white space around a value", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: \t 7 \t\r\n\r\n"), 200, Usable),
        case("RFC 7230 3.2.4: white space between CSeq and its colon MUST be 400", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq : 7\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2.4: white space before the colon of any field MUST be 400", Nothing, req("OPTIONS", "*", "User-Agent\t: x\r\n"), 400, Usable),
        case("RFC 7230 3.2.4: obs-fold in a value is replaced by SP", Nothing, req("OPTIONS", "*", "User-Agent: a\r\n  b\r\n"), 200, Usable),
        case("RFC 7230 3.2.4: obs-fold carrying the CSeq value", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq:\r\n 7\r\n\r\n"), 200, Usable),
        // RFC 7230 3: the line would otherwise be a header; rejected or ignored, either way the
        // request has no CSeq.
        case("RFC 7230 3: white space before the first header line MUST be rejected or ignored", Nothing, raw("OPTIONS * RTSP/1.0\r\n CSeq: 7\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.2 / 3.5: NUL inside the CSeq value", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\x00\r\n\r\n"), 400, Usable),
        case("RFC 7230 3.5: a bare CR inside the CSeq value is invalid", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\r8\r\n\r\n"), 400, Usable),
        case("RFC 2326 15 (UTF-8 text): a UTF-8 header value", Nothing, req("OPTIONS", "*", "User-Agent: caf\u{e9} \u{263a}\r\n"), 200, Usable),
        // Line endings (RFC 2326 4: receivers should also take LF alone; RFC 7230 3.5).
        case("RFC 2326 4 / RFC 7230 3.5: bare LF line endings", Nothing, raw("OPTIONS * RTSP/1.0\nCSeq: 7\n\n"), 200, Usable),
        case("RFC 2326 4 / RFC 7230 3.5: CRLF and LF mixed", Nothing, raw("OPTIONS * RTSP/1.0\r\nCSeq: 7\nUser-Agent: x\r\n\n"), 200, Usable),
        case("RFC 7230 3.5: empty lines before the request line are ignored", Nothing, raw("\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n"), 200, Usable),
        // Limits (RFC 7230 3.2.5: a header section larger than the server processes MUST get
        // a 4xx; RTSP 1.0 has no 431, so 400).
        case("RFC 7230 3.2.5: header line over the limit (4xx)", Nothing, raw(&format!("OPTIONS * RTSP/1.0\r\nCSeq: 7\r\nX: {}\r\n\r\n", "a".repeat(5000))), 400, Usable),
        case("RFC 7230 3.2.5: 100 header fields (4xx)", Nothing, raw(&many), 400, Usable),
        case("RFC 7230 3.2.5: header section over 8 KiB (4xx)", Nothing, raw(&big_head), 400, Usable),
        // Content-Length (RFC 2326 4.3 and 12.14: the only way a body's length is known;
        // RFC 7230 3.3.2/3.3.3: an invalid or ambiguous length MUST get 400 and then the
        // connection MUST be closed, since where the next request starts is unknown).
        case("RFC 2326 7.1.1 (413): Content-Length over the body limit", Nothing, req("SET_PARAMETER", "*", "Content-Length: 999999999\r\n"), 413, Any),
        case("RFC 7230 3.3.3: Content-Length not a number: 400 and close", Nothing, req("SET_PARAMETER", "*", "Content-Length: lots\r\n"), 400, Closed),
        case("RFC 7230 3.3.2: signed Content-Length (+0): 400 and close", Nothing, req("SET_PARAMETER", "*", "Content-Length: +0\r\n"), 400, Closed),
        case("RFC 7230 3.3.2: negative Content-Length: 400 and close", Nothing, req("SET_PARAMETER", "*", "Content-Length: -1\r\n"), 400, Closed),
        case("RFC 7230 3.3.2: hexadecimal Content-Length (0x5): 400 and close", Nothing, with_body(req("SET_PARAMETER", "*", "Content-Length: 0x5\r\n"), b"hello"), 400, Closed),
        case("RFC 7230 3.3.2: empty Content-Length: 400 and close", Nothing, req("SET_PARAMETER", "*", "Content-Length:\r\n"), 400, Closed),
        case("RFC 7230 3.3.2: a list in Content-Length (5, 5) rejected: 400 and close", Nothing, with_body(req("SET_PARAMETER", "*", "Content-Length: 5, 5\r\n"), b"hello"), 400, Closed),
        case("RFC 7230 3.3.3 / RFC 2326 12.14: two differing Content-Length: 400 and close", Nothing, with_body(req("SET_PARAMETER", "*", "Content-Length: 0\r\nContent-Length: 5\r\n"), b"hello"), 400, Closed),
        case("RFC 2326 4.3 / RFC 7230 3.3.3: Transfer-Encoding not ending in chunked: 400 and close", Nothing, with_body(req("OPTIONS", "*", "Transfer-Encoding: gzip\r\n"), b"hello"), 400, Closed),
        // RTSP has no chunked coding (RFC 2326 4.3): a transfer coding the server does not
        // understand SHOULD get 501 (RFC 7230 3.3.1), and the body's end is unknown.
        case("RFC 2326 4.3 / RFC 7230 3.3.1: chunked Transfer-Encoding (501 and close)", Nothing, with_body(req("OPTIONS", "*", "Transfer-Encoding: chunked\r\n"), b"5\r\nhello\r\n0\r\n\r\n"), 501, Closed),
        case("RFC 2326 12.14: a body read by its Content-Length, not as the next request", Nothing, with_body(req("GET_PARAMETER", "*", &format!("Content-Type: text/parameters\r\nContent-Length: {}\r\n", inner.len())), inner), 200, Usable),
        case("RFC 2326 12.14: Content-Length with leading zeros (0005)", Nothing, with_body(req("GET_PARAMETER", "*", "Content-Length: 0005\r\n"), b"hello"), 200, Usable),
        // Session (RFC 2326 12.37; 11.3.5: 454 when the identifier is missing, invalid or
        // timed out).
        case("RFC 2326 11.3.5: PLAY without Session (454)", Nothing, req("PLAY", base, ""), 454, Usable),
        case("RFC 2326 11.3.5: PLAY naming an unknown session (454)", Nothing, req("PLAY", base, "Session: 12345\r\n"), 454, Usable),
        case("RFC 2326 11.3.5: PAUSE without Session (454)", Nothing, req("PAUSE", base, ""), 454, Usable),
        case("RFC 2326 11.3.5: TEARDOWN without Session (454)", Nothing, req("TEARDOWN", base, ""), 454, Usable),
        case("RFC 2326 11.3.5: TEARDOWN naming an unknown session (454)", Nothing, req("TEARDOWN", base, "Session: 999\r\n"), 454, Usable),
        case("RFC 2326 11.3.5: GET_PARAMETER naming an unknown session (454)", Nothing, req("GET_PARAMETER", base, "Session: 999\r\n"), 454, Usable),
        case("RFC 2326 11.3.5: a Session header with no identifier (;;;) is a missing id (454)", Nothing, req("PLAY", base, "Session: ;;;\r\n"), 454, Usable),
        case("RFC 2326 3.4 / 11.3.5: a session id outside 3.4's characters is an invalid id (454)", Nothing, req("PLAY", base, "Session: abc/def\r\n"), 454, Usable),
        case("RFC 2326 12.37: two Session headers", Setup, req("PLAY", base, "Session: {session}\r\nSession: {session}\r\n"), 400, Usable),
        case("RFC 2326 12.37: the id with the `;timeout=` the client may echo", Setup, req("GET_PARAMETER", base, "Session: {session};timeout=60\r\n"), 200, Usable),
        case("RFC 2326 10.8: GET_PARAMETER on the session is a keepalive", Setup, req("GET_PARAMETER", base, s), 200, Usable),
        case("RFC 2326 10.1: OPTIONS naming the session", Setup, req("OPTIONS", "*", s), 200, Usable),
        // The session state machine (RFC 2326 A.2).
        case("RFC 2326 A.2: PLAY in Ready", Setup, req("PLAY", base, s), 200, Usable),
        case("RFC 2326 A.2: PLAY in Playing", SetupPlay, req("PLAY", base, s), 200, Usable),
        case("RFC 2326 A.2: PAUSE in Playing", SetupPlay, req("PAUSE", base, s), 200, Usable),
        case("RFC 2326 A.2: PAUSE in Ready is not a transition of the server's (455)", Setup, req("PAUSE", base, s), 455, Usable),
        case("RFC 2326 A.2: TEARDOWN in Ready", Setup, req("TEARDOWN", base, s), 200, Usable),
        case("RFC 2326 A.2: TEARDOWN in Playing", SetupPlay, req("TEARDOWN", base, s), 200, Usable),
        case("RFC 2326 A.2 / 10.4: SETUP in Ready naming the session changes its transport", Setup, req("SETUP", &track, &format!("{s}{}", t("RTP/AVP;unicast;client_port=5002-5003"))), 200, Usable),
        // RFC 2326 10.4: a server that does not allow a transport change while playing MUST
        // answer 455.
        case("RFC 2326 10.4: SETUP while playing, transport change refused (455)", SetupPlay, req("SETUP", &track, &format!("{s}{}", t("RTP/AVP;unicast;client_port=5002-5003"))), 455, Usable),
        // One session per connection here; a second SETUP must name it (RFC 2326 leaves the
        // refusal's status open, 455 says the connection's state is why).
        case("RFC 2326 10.4: a second SETUP not naming this connection's session (455)", Setup, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5002-5003")), 455, Usable),
        case("RFC 2326 10.4 / 11.3.5: SETUP naming a session that does not exist (454)", Nothing, req("SETUP", &track, &format!("Session: 4242\r\n{udp}")), 454, Usable),
        // Transport (RFC 2326 12.39; 11.3.12: 461 when no offered transport can be served).
        case("RFC 2326 10.4 / 12.39: SETUP without Transport (400)", Nothing, req("SETUP", &track, ""), 400, Usable),
        case("RFC 2326 12.39: garbage Transport (461)", Nothing, req("SETUP", &track, &t("garbage")), 461, Usable),
        case("RFC 2326 12.39: multicast, not offered (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;multicast;client_port=5000-5001")), 461, Usable),
        // RFC 2326 12.39 destination: the server must not become a traffic reflector.
        case("RFC 2326 12.39: destination other than the client (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;destination=192.0.2.1;client_port=5000-5001")), 461, Usable),
        case("RFC 2326 12.39: destination equal to the client's own address", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;destination=127.0.0.1;client_port=5000-5001")), 200, Usable),
        case("RFC 2326 12.39: client_port 0 (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=0-1")), 461, Usable),
        case("RFC 2326 12.39: client_port 70000 (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=70000-70001")), 461, Usable),
        case("RFC 2326 12.39: client_port not a number (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=abc-def")), 461, Usable),
        case("RFC 2326 12.39: UDP without client_port (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast")), 461, Usable),
        case("RFC 2326 12.39 / RFC 3550 11: RTP and RTCP on one client port (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5000-5000")), 461, Usable),
        case("RFC 2326 12.39 / 10.12: interleaved channel 300 (461)", Nothing, req("SETUP", &track, &t("RTP/AVP/TCP;interleaved=300-301")), 461, Usable),
        case("RFC 2326 12.39 / 10.12: interleaved 255-256, past the last channel (461)", Nothing, req("SETUP", &track, &t("RTP/AVP/TCP;interleaved=255-256")), 461, Usable),
        case("RFC 2326 12.39: RTP and RTCP on one interleaved channel (461)", Nothing, req("SETUP", &track, &t("RTP/AVP/TCP;unicast;interleaved=0-0")), 461, Usable),
        case("RFC 2326 12.39: mode=RECORD on a server that only plays (461)", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5000-5001;mode=RECORD")), 461, Usable),
        case("RFC 2326 12.39: mode=\"PLAY\", quoted", Nothing, req("SETUP", &track, &t("RTP/AVP;unicast;client_port=5000-5001;mode=\"PLAY\"")), 200, Usable),
        case("RFC 2326 12.39: RTP/AVP/UDP spelled out", Nothing, req("SETUP", &track, &t("RTP/AVP/UDP;unicast;client_port=5000-5001")), 200, Usable),
        case("RFC 2326 12.39: a list, the first spec unknown, the second served", Nothing, req("SETUP", &track, &t("RTP/SAVP;unicast;client_port=5000-5001,RTP/AVP;unicast;client_port=5000-5001")), 200, Usable),
        case("RFC 2326 12.39 / 10.12: interleaved=2-3", Nothing, req("SETUP", &track, &t("RTP/AVP/TCP;unicast;interleaved=2-3")), 200, Usable),
        case("RFC 2326 12.39: two Transport headers (one header holds the list)", Nothing, req("SETUP", &track, &format!("{udp}{}", t("RTP/AVP/TCP"))), 400, Usable),
        // Require (RFC 2326 12.32: an option the server does not implement is 551) and
        // Proxy-Require (12.27: for proxies; an origin server ignores it).
        case("RFC 2326 12.32: Require of an unknown option (551)", Nothing, req("OPTIONS", "*", "Require: some.option\r\n"), 551, Usable),
        case("RFC 2326 12.27: Proxy-Require is ignored by an origin server", Nothing, req("OPTIONS", "*", "Proxy-Require: some.option\r\n"), 200, Usable),
        // Range (RFC 2326 12.29, 3.6; 457 for a range the server cannot honour).
        case("RFC 2326 12.29 / 11.3.8: Range past the end", Setup, req("PLAY", base, "Session: {session}\r\nRange: npt=999-\r\n"), 457, Usable),
        case("RFC 2326 12.29: Range in SMPTE units, not served (457)", Setup, req("PLAY", base, "Session: {session}\r\nRange: smpte=0:00:01-\r\n"), 457, Usable),
        case("RFC 2326 12.29: Range garbage (457)", Setup, req("PLAY", base, "Session: {session}\r\nRange: npt=x-y\r\n"), 457, Usable),
        case("RFC 2326 3.6: Range ending before it starts (457)", Setup, req("PLAY", base, "Session: {session}\r\nRange: npt=10-5\r\n"), 457, Usable),
        case("RFC 2326 3.6: npt-hhmmss Range (0:00:01-)", Setup, req("PLAY", base, "Session: {session}\r\nRange: npt=0:00:01-\r\n"), 200, Usable),
        case("RFC 2326 3.6: Range npt=now-", Setup, req("PLAY", base, "Session: {session}\r\nRange: npt=now-\r\n"), 200, Usable),
        // DESCRIBE and Accept (RFC 2326 10.2, 12.1 takes HTTP's Accept: RFC 7231 5.3.2).
        case("RFC 2326 12.1: Accept: application/sdp", Nothing, req("DESCRIBE", base, "Accept: application/sdp\r\n"), 200, Usable),
        case("RFC 2326 12.1 / RFC 7231 5.3.2: Accept the server cannot satisfy (406)", Nothing, req("DESCRIBE", base, "Accept: text/html\r\n"), 406, Usable),
        // Request-URI to file (RFC 2326 3.2 URLs, RFC 3986 5.2.4 dot segments): never outside
        // the videos directory.
        case("RFC 3986 5.2.4: dot-dot segment", Nothing, req("DESCRIBE", &file("../Cargo.toml"), ""), 404, Usable),
        case("RFC 3986 2.1 / 5.2.4: percent-encoded dot-dot", Nothing, req("DESCRIBE", &file("%2e%2e/Cargo.toml"), ""), 404, Usable),
        case("RFC 3986 2.1: percent-encoded slash", Nothing, req("DESCRIBE", &file("..%2fCargo.toml"), ""), 404, Usable),
        case("RFC 2326 3.2: absolute path inside the URL", Nothing, req("DESCRIBE", &file("/etc/passwd"), ""), 404, Usable),
        case("RFC 2326 6.1: a bare absolute path as Request-URI", Nothing, req("DESCRIBE", "/etc/passwd", ""), 404, Usable),
        case("RFC 3986 2.1: percent-encoded NUL in the name", Nothing, req("DESCRIBE", &file("video.mjpeg%00.txt"), ""), 404, Usable),
        case("RFC 3986 2.1: percent-encoded backslashes", Nothing, req("DESCRIBE", &file("..%5c..%5cetc%5cpasswd"), ""), 404, Usable),
        case("RFC 2326 7.1.1 (404): a file that is no media", Nothing, req("DESCRIBE", &file("make_sample.sh"), ""), 404, Usable),
        case("RFC 2326 7.1.1 (404): no such file", Nothing, req("DESCRIBE", &file("nope.mjpeg"), ""), 404, Usable),
        case("RFC 2326 7.1.1 (404): SETUP of no such file", Nothing, req("SETUP", &file("nope.mjpeg/track1"), &udp), 404, Usable),
        case("RFC 2326 3.2: a query string names the same file", Nothing, req("DESCRIBE", &format!("{base}?x=1"), ""), 200, Usable),
        case("RFC 3986 6.2.2.2: a percent-encoded unreserved character is the character", Nothing, req("DESCRIBE", &file("video%2Emjpeg"), ""), 200, Usable),
    ]
}

/// Whether `status` answers a request the server could not read (so it cannot echo a CSeq).
fn unread(status: u16) -> bool {
    matches!(status, 400 | 408 | 413 | 414)
}

/// Runs one case on a fresh connection; connections that must be closed are handed back to
/// be checked together (one deadline for all, not one each).
fn run_case(
    server: &server::ServerHandle,
    base: &str,
    case: &Case,
    to_close: &mut Vec<(&'static str, RtspConn)>,
) -> Result<(), String> {
    let mut c = RtspConn::connect(server.addr);
    let mut bytes = case.bytes.clone();
    if case.before != Before::Nothing {
        let id = setup(&mut c, base);
        if case.before == Before::SetupPlay {
            assert_eq!(c.request("PLAY", base, &[("Session", &id)]).status.0, 200);
        }
        bytes = String::from_utf8(bytes)
            .unwrap()
            .replace("{session}", &id)
            .into_bytes();
    }
    c.send_raw(&bytes);
    let r = c.try_read_response(Duration::from_secs(3))?;
    if r.status.0 != case.expect {
        return Err(format!("answered {} {}", r.status.0, r.reason));
    }
    // RFC 2326 12.17: the response carries the request's CSeq, wherever the server could read
    // the request at all.
    if !unread(r.status.0) {
        let sent = match rtsp::parse_request(&bytes, &Limits::default()) {
            Ok(Parsed::Complete(req, _)) => req.headers.cseq(),
            _ => None,
        };
        if sent.is_some() && r.headers.cseq() != sent {
            return Err(format!(
                "CSeq {:?} answered as {:?}",
                sent,
                r.headers.cseq()
            ));
        }
    }
    match case.after {
        After::Usable => {
            let r = c.try_read_response(Duration::ZERO);
            if let Ok(extra) = r {
                return Err(format!("a second answer {} to one request", extra.status.0));
            }
            c.send_raw(b"OPTIONS * RTSP/1.0\r\nCSeq: 101\r\n\r\n");
            match c.try_read_response(Duration::from_secs(3)) {
                Ok(r) if r.status.0 == 200 && r.headers.cseq() == Some(101) => {}
                Ok(r) => {
                    return Err(format!(
                        "then OPTIONS answered {} {:?}",
                        r.status.0,
                        r.headers.cseq()
                    ))
                }
                Err(e) => return Err(format!("connection unusable after the answer: {e}")),
            }
        }
        After::Closed => to_close.push((case.name, c)),
        After::Any => {}
    }
    Ok(())
}

/// Runs every case against `server`; with `check_plays`, a normal session must still play
/// after each. Returns one line per case that did not get what the RFC requires.
pub fn run_table(server: &server::ServerHandle, check_plays: bool) -> (usize, Vec<String>) {
    let base = url(server, "video.mjpeg");
    let cases = cases(&base);
    let mut failures = Vec::new();
    let mut to_close = Vec::new();
    for case in &cases {
        if let Err(e) = run_case(server, &base, case, &mut to_close) {
            failures.push(format!("{}: {e} (RFC: {})", case.name, case.expect));
        }
        if check_plays {
            still_plays(server);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for (name, mut c) in to_close {
        if !c.closed_by(deadline) {
            failures.push(format!("{name}: connection left open after the 400"));
        }
    }
    (cases.len(), failures)
}
