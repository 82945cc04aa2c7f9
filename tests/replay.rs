//! Captured exchanges of real peers (`tests/data/*.rtsp`), replayed through our parser, typed
//! headers, serializer and server session state machine, as retina replays its transcripts.
//!
//! A transcript is a header of `#` lines saying where it came from, then records:
//! `%% connection NAME` starts an RTSP connection, and `%% C->S N` / `%% S->C N` is followed by
//! exactly N bytes of one message as the peer sent it (CRLF, bare LF and all) and one LF.
//!
//! For every message: the request parser (client to server) or response parser (server to
//! client) takes all of it; the lab's unterminated messages go through the parser the server
//! uses once the peer has gone quiet. Every typed header present parses, and what it writes
//! parses back to the same value. The message written by our serializer parses back to the
//! same message. Each connection's requests walk through `ServerSession` in order, and the
//! real client's sequence must be accepted.

use std::time::Instant;

use rtsp_proto::playout::{RtpOrigin, Timeline};
use rtsp_proto::rtsp::{
    self, CSeq, ContentBase, Headers, Limits, Method, NptTime, Parsed, Public, Range, Request,
    Response, RtpInfo, Session, StatusCode, Transport,
};
use rtsp_proto::sdp;
use rtsp_proto::session::{ServerSession, State};

mod support;
use support::transcript::{read_transcript, Direction};

/// Parses a whole message with `parse`; the lab's messages (no blank line, so `Incomplete`
/// for ever) with `unterminated`, as the server does once the peer has gone quiet. Whatever
/// follows the message may only be stray line endings (RFC 2326 allows them between messages).
fn parse_whole<T>(
    bytes: &[u8],
    parse: fn(&[u8], &Limits) -> Result<Parsed<T>, rtsp::ParseError>,
    unterminated: fn(&[u8], &Limits) -> Result<T, rtsp::ParseError>,
) -> Result<T, rtsp::ParseError> {
    let limits = Limits::default();
    match parse(bytes, &limits)? {
        Parsed::Complete(message, used) => {
            let rest = &bytes[used..];
            assert!(
                rest.iter().all(|b| matches!(b, b'\r' | b'\n')),
                "{} bytes after the message: {:?}",
                rest.len(),
                String::from_utf8_lossy(rest)
            );
            Ok(message)
        }
        Parsed::Incomplete => unterminated(bytes, &limits),
    }
}

/// Checks `value` parses as header `T` and that what `T` writes parses back to the same value.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, rtsp::HeaderError>,
    write: impl Fn(&T) -> String,
) {
    let parsed = parse(value).unwrap_or_else(|e| panic!("{what}: {e}"));
    let written = write(&parsed);
    let again = parse(&written).unwrap_or_else(|e| panic!("{what}: our {written:?}: {e}"));
    assert_eq!(again, parsed, "{what}: {value:?} written as {written:?}");
}

/// Every typed header the message carries parses and round-trips through its writer.
fn check_typed_headers(what: &str, headers: &Headers) {
    let show = |name: &str| format!("{what}, {name}");
    if let Some(v) = headers.get(CSeq::NAME) {
        round_trip(&show("CSeq"), v, CSeq::parse, CSeq::to_string);
    }
    if let Some(v) = headers.get(Session::NAME) {
        round_trip(&show("Session"), v, Session::parse, Session::to_string);
    }
    if let Some(v) = headers.get(Transport::NAME) {
        round_trip(&show("Transport"), v, Transport::parse_list, |list| {
            let specs: Vec<String> = list.iter().map(Transport::to_string).collect();
            specs.join(",")
        });
    }
    if let Some(v) = headers.get(Range::NAME) {
        check_range(&show("Range"), v);
    }
    if let Some(v) = headers.get(RtpInfo::NAME) {
        round_trip(&show("RTP-Info"), v, RtpInfo::parse_list, |list| {
            let entries: Vec<String> = list.iter().map(RtpInfo::to_string).collect();
            entries.join(",")
        });
    }
    if let Some(v) = headers.get(Public::NAME) {
        round_trip(
            &show("Public"),
            v,
            |v| Ok(Public::parse(v)),
            Public::to_string,
        );
    }
    if let Some(v) = headers.get(ContentBase::NAME) {
        round_trip(
            &show("Content-Base"),
            v,
            ContentBase::parse,
            ContentBase::to_string,
        );
    }
}

/// Range writes NPT in milliseconds (what our server sends, and what its tests expect), while
/// VLC sends microseconds (`npt=1.796356-`): so the written form must parse back to itself
/// exactly, and to the peer's value within half a millisecond.
fn check_range(what: &str, value: &str) {
    let parsed = Range::parse(value).unwrap_or_else(|e| panic!("{what}: {e}"));
    let written = parsed.to_string();
    let again = Range::parse(&written).unwrap_or_else(|e| panic!("{what}: our {written:?}: {e}"));
    assert_eq!(
        again.to_string(),
        written,
        "{what}: {written:?} is not stable"
    );
    let seconds = |t: Option<rtsp::NptTime>| match t {
        Some(rtsp::NptTime::Seconds(s)) => Some(s),
        _ => None,
    };
    for (a, b) in [
        (seconds(Some(parsed.start)), seconds(Some(again.start))),
        (seconds(parsed.end), seconds(again.end)),
    ] {
        match (a, b) {
            (Some(a), Some(b)) => {
                assert!((a - b).abs() < 0.0005, "{what}: {value:?} -> {written:?}")
            }
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "{what}: {value:?} -> {written:?}"),
        }
    }
    assert_eq!(
        std::mem::discriminant(&parsed.start),
        std::mem::discriminant(&again.start),
        "{what}: now vs seconds"
    );
}

/// Headers without `Content-Length`, which our writer derives from the body instead of copying.
fn without_length(headers: &Headers) -> Headers {
    let mut h = headers.clone();
    h.remove("Content-Length");
    h
}

fn check_request(what: &str, req: &Request) {
    check_typed_headers(what, &req.headers);
    let bytes = req.to_bytes();
    let Ok(Parsed::Complete(again, used)) = rtsp::parse_request(&bytes, &Limits::default()) else {
        panic!("{what}: our serialization does not parse: {bytes:?}");
    };
    assert_eq!(used, bytes.len(), "{what}");
    assert_eq!(
        (&again.method, &again.uri, &again.version, &again.body),
        (&req.method, &req.uri, &req.version, &req.body),
        "{what}"
    );
    assert_eq!(
        without_length(&again.headers),
        without_length(&req.headers),
        "{what}"
    );
}

fn check_response(what: &str, resp: &Response) {
    check_typed_headers(what, &resp.headers);
    let bytes = resp.to_bytes();
    let Ok(Parsed::Complete(again, used)) = rtsp::parse_response(&bytes, &Limits::default()) else {
        panic!("{what}: our serialization does not parse: {bytes:?}");
    };
    assert_eq!(used, bytes.len(), "{what}");
    assert_eq!(
        (&again.version, again.status, &again.reason, &again.body),
        (&resp.version, resp.status, &resp.reason, &resp.body),
        "{what}"
    );
    assert_eq!(
        without_length(&again.headers),
        without_length(&resp.headers),
        "{what}"
    );
    if resp.headers.get("Content-Type") == Some("application/sdp") {
        let video = sdp::parse_video(&resp.body).unwrap_or_else(|e| panic!("{what}: SDP: {e}"));
        assert_eq!(video.payload_type, Some(26), "{what}: SDP of a JPEG stream");
        assert!(
            video.control.is_some(),
            "{what}: SDP names the video's control"
        );
    }
}

/// Walks one connection's requests through the server session state machine the way the
/// server's connection does: OPTIONS and DESCRIBE are answered without a session, SETUP
/// creates one when none exists, PLAY (with its Range) and PAUSE drive its playout, and every
/// other method keeps it alive. Every request must be accepted, and the state must follow
/// RFC 2326 A.2. (Kept small and alone so it follows `ServerSession`'s API as that changes.)
fn walk_server_session(what: &str, requests: &[Request]) {
    let now = Instant::now();
    let timeline = Timeline {
        frames: 250,
        fps: 20.0,
        looping: false,
    };
    let origin = RtpOrigin {
        ssrc: 1,
        seq: 2,
        rtptime: 3,
    };
    let mut session: Option<ServerSession> = None;
    for req in requests {
        if matches!(req.method, Method::Options | Method::Describe) {
            continue;
        }
        let s = session.get_or_insert_with(|| ServerSession::new(1, now));
        let refused = |status: StatusCode, s: &ServerSession| {
            panic!(
                "{what}: {} refused with {status} in state {:?}",
                req.method,
                s.state()
            )
        };
        match req.method {
            Method::Setup => {
                if let Err(status) = s.setup(timeline, origin, now) {
                    refused(status, s)
                }
                assert_eq!(s.state(), State::Ready, "{what}: after SETUP");
            }
            Method::Play => {
                let from = match req.headers.get("Range").map(Range::parse) {
                    Some(Ok(Range {
                        start: NptTime::Seconds(t),
                        ..
                    })) => Some(t),
                    _ => None,
                };
                if let Err(e) = s.play(now, from) {
                    refused(e.status(), s)
                }
                assert_eq!(s.state(), State::Playing, "{what}: after PLAY");
            }
            Method::Pause => {
                if let Err(status) = s.pause(now) {
                    refused(status, s)
                }
                assert_eq!(s.state(), State::Ready, "{what}: after PAUSE");
            }
            Method::Teardown => {
                assert!(s.teardown().is_some(), "{what}: TEARDOWN of no session");
                assert_eq!(s.state(), State::Init, "{what}: after TEARDOWN");
            }
            ref method => {
                if let Err(status) = s.keep_alive(method, now) {
                    refused(status, s)
                }
            }
        }
    }
}

/// Replays one transcript; `expect_methods` is each connection's client requests in order, so
/// a transcript that lost or gained a message fails here rather than passing quietly.
fn replay(name: &str, expect_methods: &[(&str, &[Method])]) {
    let records = read_transcript(name);
    let mut connections: Vec<(String, Vec<Request>)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let what = format!("{name} record {i} ({}, {:?})", r.connection, r.direction);
        if connections.last().is_none_or(|(c, _)| *c != r.connection) {
            connections.push((r.connection.clone(), Vec::new()));
        }
        match r.direction {
            Direction::ClientToServer => {
                let req = parse_whole(
                    &r.bytes,
                    rtsp::parse_request,
                    rtsp::parse_unterminated_request,
                )
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                check_request(&what, &req);
                connections.last_mut().unwrap().1.push(req);
            }
            Direction::ServerToClient => {
                let resp = parse_whole(
                    &r.bytes,
                    rtsp::parse_response,
                    rtsp::parse_unterminated_response,
                )
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                check_response(&what, &resp);
            }
        }
    }
    let got: Vec<(&str, Vec<&Method>)> = connections
        .iter()
        .map(|(c, reqs)| (c.as_str(), reqs.iter().map(|r| &r.method).collect()))
        .collect();
    let want: Vec<(&str, Vec<&Method>)> = expect_methods
        .iter()
        .map(|(c, methods)| (*c, methods.iter().collect()))
        .collect();
    assert_eq!(got, want, "{name}: the client's requests");
    for (connection, requests) in &connections {
        walk_server_session(&format!("{name} connection {connection}"), requests);
    }
}

use Method::*;

#[test]
fn ffmpeg_against_gst_rtsp_server() {
    let session: &[Method] = &[Options, Describe, Setup, Play, Teardown];
    replay(
        "ffmpeg_gst-rtsp-server.rtsp",
        &[("udp", session), ("tcp", session)],
    );
}

#[test]
fn rtsp_raw_against_vlc() {
    replay(
        "rtsp_raw_vlc.rtsp",
        &[
            ("udp", &[Options, Describe, Setup, Play, Teardown]),
            ("tcp", &[Options, Describe, Setup]),
            ("setup-without-describe", &[Setup]),
        ],
    );
}

#[test]
fn lab_python_client_and_server() {
    replay(
        "lab_python.rtsp",
        &[("lab", &[Setup, Play, Pause, Play, Teardown])],
    );
}

/// The replay itself can fail: a request out of order is refused by the session walk.
#[test]
#[should_panic(expected = "refused with 455")]
fn a_play_before_setup_is_refused_by_the_walk() {
    let play = Request::new(Play, "rtsp://h/v.mjpeg");
    walk_server_session("synthetic", &[Request::new(Options, "*"), play]);
}
