//! The framer against a fake clock: `t0` plus whatever the test says, never the real time.

use super::*;
use crate::rtsp::Method;
use proptest::prelude::*;

const QUIET: Duration = Duration::from_millis(100);

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn server() -> Framer {
    Framer::new(Role::Server, Limits::default(), Some(QUIET))
}

fn client(lab: bool) -> Framer {
    Framer::new(Role::Client, Limits::default(), lab.then_some(QUIET))
}

/// Everything the framer yields at `now`, until it says `None`.
fn drain(f: &mut Framer, now: Instant) -> Vec<Result<Frame, FramingError>> {
    std::iter::from_fn(|| f.poll(now)).collect()
}

fn request(item: &Result<Frame, FramingError>) -> &Request {
    match item {
        Ok(Frame::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

const OPTIONS: &[u8] = b"OPTIONS rtsp://h/v.mjpeg RTSP/1.0\r\nCSeq: 1\r\n\r\n";
const LAB_SETUP: &[u8] =
    b"SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 5008";

#[test]
fn a_request_split_at_every_byte() {
    let msg = b"SET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 3\r\n\r\nabc";
    for split in 0..=msg.len() {
        let t0 = Instant::now();
        let mut f = server();
        f.push(&msg[..split], t0);
        let early = drain(&mut f, ms(t0, 1));
        assert!(
            early.is_empty() || split == msg.len(),
            "split {split}: {early:?}"
        );
        f.push(&msg[split..], ms(t0, 2));
        let mut all = early;
        all.extend(drain(&mut f, ms(t0, 3)));
        assert_eq!(all.len(), 1, "split {split}");
        let r = request(&all[0]);
        assert_eq!(
            (r.headers.cseq(), r.body.as_slice()),
            (Some(7), &b"abc"[..])
        );
        assert_eq!(f.buffered(), 0);
        assert_eq!(f.message_started(), None);
    }
}

#[test]
fn pipelined_requests_and_interleaved_frames_between_them() {
    let t0 = Instant::now();
    let mut bytes = OPTIONS.to_vec();
    interleaved::write(1, &[b"rtcp"], &mut bytes).unwrap();
    bytes.extend_from_slice(&OPTIONS.to_vec().repeat(2));
    interleaved::write(0, &[b""], &mut bytes).unwrap();
    bytes.extend_from_slice(b"PLAY rtsp://h/v RTSP/1.0\r\nCSeq: 2");
    let mut f = server();
    f.push(&bytes, t0);
    let got = drain(&mut f, t0);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        matches!(&got[1], Ok(Frame::Interleaved { channel: 1, payload }) if payload == b"rtcp")
    );
    assert!(
        matches!(&got[4], Ok(Frame::Interleaved { channel: 0, payload }) if payload.is_empty())
    );
    assert_eq!(request(&got[3]).method, Method::Options);
    // The PLAY is not whole: it started (as far as the framer knows) with the last push.
    assert_eq!(f.message_started(), Some(t0));
    f.push(b"\r\n\r\n", ms(t0, 5));
    assert_eq!(request(&drain(&mut f, ms(t0, 5))[0]).method, Method::Play);
}

#[test]
fn a_frame_split_inside_its_header_waits() {
    let t0 = Instant::now();
    let mut f = client(false);
    f.push(b"$\x00\x00", t0);
    assert!(f.poll(t0).is_none());
    f.push(b"\x02ab", t0);
    assert!(matches!(
        f.poll(t0),
        Some(Ok(Frame::Interleaved { channel: 0, .. }))
    ));
}

#[test]
fn a_lab_request_is_taken_only_after_the_quiet_time() {
    let t0 = Instant::now();
    let mut f = server();
    f.push(LAB_SETUP, t0);
    assert!(f.poll(ms(t0, 99)).is_none());
    assert_eq!(f.poll_timeout(), Some(ms(t0, 100)));
    // More bytes restart the quiet time.
    f.push(b"\n", ms(t0, 50));
    assert!(f.poll(ms(t0, 100)).is_none());
    assert_eq!(f.poll_timeout(), Some(ms(t0, 150)));
    let got = drain(&mut f, ms(t0, 150));
    let r = request(&got[0]);
    assert_eq!(
        (r.method.clone(), r.uri.as_str()),
        (Method::Setup, "movie.Mjpeg")
    );
    assert_eq!(f.buffered(), 0);
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn a_lab_request_is_not_taken_when_a_crlf_was_seen() {
    let t0 = Instant::now();
    let mut f = server();
    f.push(b"OPTIONS rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\n", t0);
    assert!(f.poll(ms(t0, 1000)).is_none());
    // Offered once: no more wake-ups for the same bytes.
    assert_eq!(f.poll_timeout(), None);
    f.push(b"\r\n", ms(t0, 1001));
    assert_eq!(
        request(&drain(&mut f, ms(t0, 1001))[0]).headers.cseq(),
        Some(1)
    );
}

#[test]
fn no_line_yet_is_not_a_lab_request() {
    let t0 = Instant::now();
    let mut f = server();
    f.push(b"SETUP movie.Mjpeg RTSP/1.0", t0);
    assert!(f.poll(ms(t0, 1000)).is_none());
    assert_eq!(f.buffered(), 26);
}

#[test]
fn an_unparsable_lab_request_is_reported_and_dropped() {
    let t0 = Instant::now();
    let mut f = server();
    f.push(b"SETUP movie.Mjpeg RTSP/1.0\nno colon here", t0);
    match f.poll(ms(t0, 100)) {
        Some(Err(FramingError::Unterminated {
            kind: MessageKind::Request,
            buffered: 40,
            source: ParseError::BadHeader { line: 2, .. },
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.buffered(), 0);
}

#[test]
fn a_lab_reply_needs_the_lab_dialect_on_the_client() {
    let t0 = Instant::now();
    let reply = b"RTSP/1.0 200 OK\nCSeq: 1\nSession: 123456";
    let mut f = client(false);
    f.push(reply, t0);
    assert!(f.poll(ms(t0, 500)).is_none());
    assert_eq!(f.poll_timeout(), None);
    f.set_lab_quiet(Some(QUIET));
    assert_eq!(f.poll_timeout(), Some(ms(t0, 100)));
    match f.poll(ms(t0, 500)) {
        Some(Ok(Frame::Response(r))) => assert_eq!(r.headers.get("Session"), Some("123456")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversize_messages_are_dropped_with_what_was_buffered() {
    let limits = Limits {
        max_line: 4096,
        max_headers: 64,
        max_body: 16,
        max_head: 8192,
    };
    let t0 = Instant::now();
    // A body over the limit: a parse error that names the length.
    let mut f = Framer::new(Role::Server, limits, Some(QUIET));
    f.push(
        b"ANNOUNCE rtsp://h/ RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 17\r\n\r\n",
        t0,
    );
    match f.poll(t0) {
        Some(Err(FramingError::Malformed {
            kind: MessageKind::Request,
            source: ParseError::BodyTooLarge { len: 17, limit: 16 },
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    // A head that never ends, fed in pieces: bounded, then reported.
    let mut f = Framer::new(Role::Server, limits, Some(QUIET));
    let mut errors = 0;
    for i in 0..100u64 {
        f.push(
            b"X-Filler: 0123456789012345678901234567890123456789\r\n",
            ms(t0, i),
        );
        for item in drain(&mut f, ms(t0, i)) {
            assert!(matches!(
                item,
                Err(FramingError::Malformed { .. } | FramingError::TooLarge { .. })
            ));
            errors += 1;
        }
        assert!(f.buffered() <= limits.max_message());
    }
    assert!(errors >= 1);
}

#[test]
fn the_client_skips_garbage_up_to_the_next_frame_or_response() {
    let t0 = Instant::now();
    let mut f = client(false);
    f.push(
        b"\x00\x01junk$\x00\x00\x01xgarbageRTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n",
        t0,
    );
    let got = drain(&mut f, t0);
    assert!(
        matches!(got[0], Err(FramingError::Garbage { skipped: 6 })),
        "{got:?}"
    );
    assert!(matches!(&got[1], Ok(Frame::Interleaved { channel: 0, payload }) if payload == b"x"));
    assert!(matches!(got[2], Err(FramingError::Garbage { skipped: 7 })));
    assert!(matches!(&got[3], Ok(Frame::Response(r)) if r.headers.cseq() == Some(3)));
    assert_eq!(got.len(), 4);
}

#[test]
fn the_client_reads_requests_the_server_sends() {
    let t0 = Instant::now();
    let mut f = client(false);
    f.push(
        b"GET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 9\r\n\r\nRTSP/1.0 200 OK\r\n",
        t0,
    );
    assert_eq!(request(&f.poll(t0).unwrap()).method, Method::GetParameter);
    assert!(f.poll(t0).is_none());
    f.push(b"\r\n", t0);
    assert!(matches!(f.poll(t0), Some(Ok(Frame::Response(_)))));
}

#[test]
fn a_malformed_response_is_reported() {
    let t0 = Instant::now();
    let mut f = client(false);
    f.push(b"RTSP/1.0 abc\r\n\r\n", t0);
    assert!(matches!(
        f.poll(t0),
        Some(Err(FramingError::Malformed {
            kind: MessageKind::Response,
            buffered: 16,
            ..
        }))
    ));
}

#[test]
fn the_buffer_bound_covers_a_whole_message_and_a_whole_frame() {
    let f = server();
    assert_eq!(f.max_buffer(), Limits::default().max_message() + 4 + 65535);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_the_buffer_stays_bounded(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..40),
        client_side in any::<bool>(),
        lab in any::<bool>(),
    ) {
        let limits = Limits { max_line: 256, max_headers: 8, max_body: 512, max_head: 1024 };
        let role = if client_side { Role::Client } else { Role::Server };
        let mut f = Framer::new(role, limits, lab.then_some(QUIET));
        let t0 = Instant::now();
        for (i, chunk) in chunks.iter().enumerate() {
            let now = ms(t0, 60 * i as u64);
            f.push(chunk, now);
            while f.poll(now).is_some() {}
            prop_assert!(f.buffered() <= f.max_buffer());
        }
    }

    #[test]
    fn messages_survive_any_chunking(cuts in prop::collection::vec(0usize..200, 0..8)) {
        let mut stream = OPTIONS.to_vec();
        interleaved::write(3, &[&[7u8; 40]], &mut stream).unwrap();
        stream.extend_from_slice(b"DESCRIBE rtsp://h/v RTSP/1.0\r\nCSeq: 2\r\n\r\n");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % stream.len()).collect();
        cuts.sort_unstable();
        let t0 = Instant::now();
        let mut f = server();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            f.push(&stream[from..cut], t0);
            from = cut;
            got.extend(drain(&mut f, t0));
        }
        prop_assert_eq!(got.len(), 3);
        let framed = matches!(&got[1], Ok(Frame::Interleaved { channel: 3, payload }) if payload.len() == 40);
        prop_assert!(framed, "{:?}", got[1]);
        prop_assert_eq!(&request(&got[2]).method, &Method::Describe);
    }

    /// The shortcut that skips re-parsing an incomplete head yields exactly what parsing every
    /// time does, whatever the bytes, their chunking and the quiet times between them.
    #[test]
    fn skipping_reparses_changes_nothing(
        pieces in prop::collection::vec(prop::sample::select(vec![
            &b"OPTIONS * RTSP/1.0"[..], b"RTSP/1.0 200 OK", b"\r\n", b"\n", b"\r", b"CSeq: 1",
            b"Content-Length: 3", b"Content-Length: 300", b"abc", b"$\x00\x00\x02xy", b"x",
            b" ", b":", &[b'a'; 200], b"GET", b"\x00",
            b"ANNOUNCE * RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n",
            b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nbody",
            b"SETUP x RTSP/1.0\nCSeq: 4\nTransport: RTP/UDP; client_port= 5008",
        ]), 0..60),
        cuts in prop::collection::vec(0usize..4000, 0..30),
        pauses in prop::collection::vec(any::<bool>(), 30),
        client_side in any::<bool>(),
        lab in any::<bool>(),
    ) {
        let stream = pieces.concat();
        let limits = Limits { max_line: 256, max_headers: 8, max_body: 512, max_head: 1024 };
        let role = if client_side { Role::Client } else { Role::Server };
        let mut fast = Framer::new(role, limits, lab.then_some(QUIET));
        let mut slow = Framer::new(role, limits, lab.then_some(QUIET));
        slow.shortcut = false;
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.sort_unstable();
        let t0 = Instant::now();
        let (mut from, mut t) = (0, 0);
        for (i, cut) in cuts.into_iter().chain([stream.len()]).enumerate() {
            t += if pauses[i % pauses.len()] { 150 } else { 1 };
            for f in [&mut fast, &mut slow] {
                f.push(&stream[from..cut], ms(t0, t));
            }
            from = cut;
            let got = format!("{:?}", drain(&mut fast, ms(t0, t)));
            prop_assert_eq!(got, format!("{:?}", drain(&mut slow, ms(t0, t))));
        }
        let quiet = ms(t0, t + 200);
        prop_assert_eq!(format!("{:?}", drain(&mut fast, quiet)), format!("{:?}", drain(&mut slow, quiet)));
    }
}
