//! The server's connection as a state machine with time passed in
//! (`server::conn::memory`): what the connection fuzz target runs, replayed on its seeds
//! (real peers' exchanges from `tests/data/`), and timeouts that fire on the clock given, not
//! on the wall's.

mod support;

use std::time::{Duration, Instant};

use rtsp_proto::rtsp::framer::{Frame, Framer, Role};
use rtsp_proto::rtsp::{Limits, Response};
use server::conn::memory::{replay, MemoryConnection};
use support::*;

/// The responses in `bytes`, in order (interleaved frames skipped).
fn responses(bytes: &[u8]) -> Vec<Response> {
    let mut reader = Framer::new(Role::Client, Limits::default(), None);
    let now = Instant::now();
    reader.push(bytes, now);
    std::iter::from_fn(|| reader.poll(now))
        .filter_map(|f| match f.expect("well-formed output") {
            Frame::Response(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn every_connection_seed_replays_cleanly() {
    let open = start_server(&videos_dir(), |_| {});
    let auth = start_server(&videos_dir(), |c| {
        c.users = vec![("alice".into(), "s3cret".into())]
    });
    let dir = repo_root().join("fuzz/seeds/connection");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 10,
        "{} seeds in {}",
        seeds.len(),
        dir.display()
    );
    for path in seeds {
        let data = std::fs::read(&path).unwrap();
        let server = if data[0] & 1 == 1 { &auth } else { &open };
        replay(&server.shared, server.addr, &data[1..])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn a_real_peers_exchange_reaches_play_through_the_in_memory_connection() {
    let server = start_server(&videos_dir(), |_| {});
    let seed = std::fs::read(repo_root().join("fuzz/seeds/connection/ffmpeg_gst-rtsp-server-udp"))
        .unwrap();
    let now = Instant::now();
    let peer = ([127, 0, 0, 1], 40_000).into();
    let mut conn = MemoryConnection::open(&server.shared, peer, server.addr, now).unwrap();
    assert!(conn.receive(&seed[3..], now));
    let statuses: Vec<u16> = responses(&conn.take_written())
        .iter()
        .map(|r| r.status.0)
        .collect();
    // OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, as ffmpeg sent them to gst-rtsp-server.
    assert_eq!(statuses, [200, 200, 200, 200, 200]);
    assert!(!conn.has_session());
}

#[test]
fn timeouts_fire_on_the_time_passed_in() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let t0 = Instant::now();
    let peer = ([127, 0, 0, 1], 40_001).into();

    // A session nobody keeps alive ends after the session timeout, and only then.
    let mut conn = MemoryConnection::open(&server.shared, peer, server.addr, t0).unwrap();
    let setup = format!(
        "SETUP {url}/track1 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    );
    assert!(conn.receive(setup.as_bytes(), t0));
    assert_eq!(responses(&conn.take_written())[0].status.0, 200);
    assert!(conn.has_session());
    let timeout = rtsp_proto::session::DEFAULT_TIMEOUT;
    assert!(conn.advance(t0 + timeout - Duration::from_secs(1)));
    assert!(conn.has_session(), "ended early");
    conn.advance(t0 + timeout + Duration::from_secs(1));
    assert!(!conn.has_session(), "did not time out");
    assert_eq!(
        server
            .shared
            .sessions
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // A request that never ends is answered 408 after the request timeout, and closed.
    let mut conn = MemoryConnection::open(&server.shared, peer, server.addr, t0).unwrap();
    assert!(conn.receive(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", t0));
    assert!(conn.advance(t0 + Duration::from_secs(9)));
    assert!(conn.take_written().is_empty());
    assert!(!conn.advance(t0 + Duration::from_secs(11)), "still open");
    assert_eq!(responses(&conn.take_written())[0].status.0, 408);

    // Idling out with a request half-arrived says 408 too, even before the request timeout.
    let short = start_server(&videos_dir(), |c| c.idle_timeout = Duration::from_secs(5));
    let mut conn = MemoryConnection::open(&short.shared, peer, short.addr, t0).unwrap();
    assert!(conn.receive(b"OPTIONS * RTSP/1.0\r\n", t0));
    assert!(!conn.advance(t0 + Duration::from_secs(6)), "still open");
    assert_eq!(responses(&conn.take_written())[0].status.0, 408);
}
