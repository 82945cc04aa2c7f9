//! Motion-JPEG over HTTP of live paths: `/live/NAME/mjpeg` carries each frame a publisher
//! sends, byte-equal to what the server rebuilt, in order; the response ends when the
//! publisher leaves; a reader that never reads slows nobody; a closed connection unsubscribes.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::{fragments, Depacketizer, JpegInfo};
use rtsp_proto::rtp::{RtpHeader, RtpPacket, FIXED_HEADER_LEN};
use rtsp_proto::rtsp::Session;
use support::http::{http_get, HttpConn};
use support::*;

const BOUNDARY: &str = "mjpegframe";

/// A publisher over interleaved TCP, made by hand: ANNOUNCE, SETUP `mode=record`, RECORD,
/// then RTP/JPEG packets the test builds, and what the server rebuilds from them.
struct Publisher {
    conn: RtspConn,
    url: String,
    session: String,
    seq: u16,
    /// Rebuilds each frame from the packets sent, as the server's ingest does.
    depay: Depacketizer,
}

impl Publisher {
    fn start(server: &server::ServerHandle, name: &str) -> Publisher {
        let url = format!("rtsp://{}/live/{name}", server.addr);
        let mut conn = RtspConn::connect(server.addr);
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=t\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";
        conn.cseq += 1;
        let announce = format!(
            "ANNOUNCE {url} RTSP/1.0\r\nCSeq: {}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            conn.cseq,
            sdp.len()
        );
        conn.send_raw(announce.as_bytes());
        assert_eq!(conn.read_response().status.0, 200, "ANNOUNCE");
        let transport = "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record";
        let r = conn.request(
            "SETUP",
            &format!("{url}/streamid=0"),
            &[("Transport", transport)],
        );
        assert_eq!(r.status.0, 200, "SETUP: {r:?}");
        let session = Session::parse(r.headers.get("Session").unwrap())
            .unwrap()
            .id;
        let r = conn.request("RECORD", &url, &[("Session", &session)]);
        assert_eq!(r.status.0, 200, "RECORD: {r:?}");
        Publisher {
            conn,
            url,
            session,
            seq: 0,
            depay: Depacketizer::new(16 << 20),
        }
    }

    /// Sends `jpeg` as frame `n` (RTP time n * 4500); gives the JPEG viewers should get.
    fn send(&mut self, jpeg: &[u8], n: u32) -> Vec<u8> {
        let info = JpegInfo::parse(jpeg).unwrap();
        let params = info.rfc2435().unwrap();
        let (mut out, mut rebuilt) = (Vec::new(), None);
        for f in fragments(&params, &jpeg[info.scan_data.start..info.len], 1400) {
            let mut head = [0u8; FIXED_HEADER_LEN];
            let header = RtpHeader {
                marker: f.last,
                payload_type: 26,
                sequence_number: self.seq,
                timestamp: n * 4500,
                ssrc: 0x5eed,
            };
            header.write(&mut head);
            self.seq = self.seq.wrapping_add(1);
            let packet = [&head[..], f.header(), f.data].concat();
            let p = RtpPacket::parse(&packet).unwrap();
            rebuilt = rebuilt.or(self.depay.push(&p.header, p.payload).frame);
            rtsp_proto::interleaved::write(0, &[&packet], &mut out).unwrap();
        }
        self.conn.send_raw(&out);
        rebuilt.expect("a whole frame")
    }

    fn leave(&mut self) {
        let r = self
            .conn
            .request("TEARDOWN", &self.url, &[("Session", &self.session)]);
        assert_eq!(r.status.0, 200, "TEARDOWN: {r:?}");
    }
}

fn http_server() -> (server::ServerHandle, SocketAddr) {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let http = server.http_addr.unwrap();
    (server, http)
}

/// The http viewers of `name` now, with their drops.
fn http_viewers(server: &server::ServerHandle, name: &str) -> Vec<u64> {
    let Some(path) = server.shared.live.get(name) else {
        return Vec::new();
    };
    let subs = path.subscribers();
    subs.iter()
        .filter(|(kind, _)| *kind == "http")
        .map(|(_, d)| *d)
        .collect()
}

/// Each received frame is byte-equal to one sent, later than the one before.
fn assert_in_order(got: &[Vec<u8>], sent: &[Vec<u8>]) {
    let mut next = 0;
    for (i, frame) in got.iter().enumerate() {
        let at = sent[next..].iter().position(|s| s == frame);
        next += 1 + at.unwrap_or_else(|| panic!("frame {i} received is not one sent after {next}"));
    }
}

/// A reader of `/live/NAME/mjpeg` on its own thread: every part until the response ends,
/// and whether it ended with the connection closing (not a read timing out).
fn reader(http: SocketAddr, name: &str) -> JoinHandle<(Vec<Vec<u8>>, bool)> {
    let mut conn = HttpConn::connect(http);
    let r = conn.request("GET", &format!("/live/{name}/mjpeg"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let content_type = format!("multipart/x-mixed-replace; boundary={BOUNDARY}");
    assert_eq!(r.header("Content-Type"), Some(content_type.as_str()));
    let cache = r.header("Cache-Control");
    assert_eq!(cache, Some("no-cache, no-store, must-revalidate"));
    std::thread::spawn(move || {
        let mut parts = Vec::new();
        while let Some((_, part)) = conn.next_part(BOUNDARY) {
            parts.push(part);
        }
        let closed = matches!(conn.stream.read(&mut [0u8; 1]), Ok(0));
        (parts, closed)
    })
}

/// Frames a publisher sends reach an HTTP reader byte-equal and in order, and its response
/// ends (close delimiter, then the connection closes) when the publisher leaves.
#[test]
fn an_http_reader_gets_each_live_frame_then_the_end_of_the_stream() {
    let (server, http) = http_server();
    let source = sample_frames();
    let mut publisher = Publisher::start(&server, "cam");
    // Frames before the reader joined reach nobody (once the server has taken it in: it reads
    // the publisher's connection on a thread of its own).
    publisher.send(&source[0], 0);
    let path = server.shared.live.get("cam").unwrap();
    let frames_in = || {
        path.counters
            .frames_in
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert!(wait_until(Duration::from_secs(5), || frames_in() == 1));
    let reading = reader(http, "cam");
    assert!(wait_until(Duration::from_secs(5), || http_viewers(
        &server, "cam"
    )
    .len()
        == 1));
    let frames = 150u32;
    let sent: Vec<Vec<u8>> = (1..=frames)
        .map(|n| {
            // 200 frames a second: a live rate a reader on loopback keeps up with.
            std::thread::sleep(Duration::from_millis(5));
            publisher.send(&source[n as usize % source.len()], n)
        })
        .collect();
    let left = Instant::now();
    publisher.leave();
    let (got, closed) = reading.join().unwrap();
    assert!(closed, "the response did not end with the connection");
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
    let mut next = 0;
    for part in &got {
        let i = next
            + sent[next..]
                .iter()
                .position(|s| s == part)
                .expect("a sent frame");
        next = i + 1;
    }
    let share = got.len() as f64 / sent.len() as f64;
    assert!(share >= 0.98, "{} of {} frames", got.len(), sent.len());
    assert!(server.shared.live.get("cam").is_none());
}

/// A reader that never reads loses whole frames (its drops in `/api/paths`, kind http) and
/// the other reader still gets its frames; a closed connection unsubscribes its viewer.
#[test]
fn a_reader_that_never_reads_slows_nobody_and_leaving_unsubscribes() {
    let (server, http) = http_server();
    let source = sample_frames();
    let mut publisher = Publisher::start(&server, "cam");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&http.into()).unwrap();
    let mut stalled = HttpConn::over(socket.into());
    stalled.send(b"GET /live/cam/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(wait_until(Duration::from_secs(5), || http_viewers(
        &server, "cam"
    )
    .len()
        == 1));
    let reading = reader(http, "cam");
    assert!(wait_until(Duration::from_secs(5), || http_viewers(
        &server, "cam"
    )
    .len()
        == 2));
    // Until the stalled reader's queue and socket buffers are full and it drops frames
    // (a few megabytes), and as many again.
    let started = Instant::now();
    let (mut frames, mut until) = (0u32, 5000u32);
    while frames < until {
        std::thread::sleep(Duration::from_millis(2));
        publisher.send(&source[frames as usize % source.len()], frames);
        frames += 1;
        if until == 5000 && http_viewers(&server, "cam").iter().any(|d| *d > 0) {
            until = 2 * frames;
        }
    }
    eprintln!("{frames} frames published in {:?}", started.elapsed());
    let api = http_get(http, "/api/paths").text();
    let paths: serde_json::Value = serde_json::from_str(&api).unwrap();
    let viewers = paths["paths"][0]["viewer_list"].as_array().unwrap().clone();
    assert_eq!(viewers.len(), 2, "{api}");
    assert!(viewers.iter().all(|v| v["kind"] == "http"), "{api}");
    let dropped: Vec<u64> = viewers
        .iter()
        .map(|v| v["frames_dropped"].as_u64().unwrap())
        .collect();
    assert!(dropped.iter().any(|d| *d > 0), "nobody dropped: {api}");
    // The stalled reader leaves: its viewer is gone, the other stays.
    drop(stalled);
    assert!(
        wait_until(Duration::from_secs(5), || http_viewers(&server, "cam")
            .len()
            == 1),
        "the closed viewer is still subscribed"
    );
    publisher.leave();
    let (got, closed) = reading.join().unwrap();
    assert!(closed);
    let share = got.len() as f64 / f64::from(frames);
    assert!(share >= 0.98, "the reader got {} of {frames}", got.len());
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .sessions
        .load(std::sync::atomic::Ordering::SeqCst)
        == 0));
}

/// 404 where nobody publishes (and for other leaves of a live path); HEAD gets the head only
/// and subscribes nobody.
#[test]
fn unpublished_paths_are_404_and_head_subscribes_nobody() {
    let (server, http) = http_server();
    for path in ["/live/cam/mjpeg", "/live/cam", "/live/../mjpeg"] {
        assert_eq!(http_get(http, path).status, 404, "{path}");
    }
    let mut publisher = Publisher::start(&server, "cam");
    assert_eq!(http_get(http, "/live/cam/frame.jpg").status, 404);
    assert_eq!(http_get(http, "/live/other/mjpeg").status, 404);
    let r = HttpConn::connect(http).request("HEAD", "/live/cam/mjpeg", &[]);
    assert_eq!(r.status, 200);
    assert!(r
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/x-mixed-replace"));
    assert!(r.body.is_empty());
    publisher.send(&sample_frames()[0], 0);
    assert!(http_viewers(&server, "cam").is_empty());
    publisher.leave();
    assert_eq!(http_get(http, "/live/cam/mjpeg").status, 404);
}

/// A player (`read`, given the URL, returns the frames it read) watches a live path while 60
/// frames are published, then the publisher leaves: it must have read at least `min` of them,
/// each byte-equal, in order, and have stopped at the end of the stream.
fn a_player_reads_a_live_path(who: &str, min: usize, read: fn(&str) -> Vec<Vec<u8>>) {
    let (server, http) = http_server();
    let source = sample_frames();
    let mut publisher = Publisher::start(&server, "cam");
    let url = format!("http://{http}/live/cam/mjpeg");
    let player = std::thread::spawn(move || read(&url));
    assert!(
        wait_until(Duration::from_secs(30), || http_viewers(&server, "cam")
            .len()
            == 1),
        "{who} did not subscribe"
    );
    let sent: Vec<Vec<u8>> = (0..60u32)
        .map(|n| {
            std::thread::sleep(Duration::from_millis(20));
            publisher.send(&source[n as usize % source.len()], n)
        })
        .collect();
    publisher.leave();
    let got = player.join().unwrap();
    assert!(got.len() >= min, "{who} read {} of 60 frames", got.len());
    assert_in_order(&got, &sent);
}

/// ffmpeg (`-f mpjpeg`) reads a live path's stream: the frames sent after it joined, as the
/// server rebuilt them, and it finishes when the publisher leaves. Skips loudly without
/// ffmpeg (fails under `REQUIRE_PEERS=1`).
#[test]
fn ffmpeg_reads_a_live_path_until_the_publisher_leaves() {
    if have_ffmpeg() {
        a_player_reads_a_live_path("ffmpeg", 59, |url| {
            support::http::ffmpeg_reads_mpjpeg(url, 600)
        });
    }
}

/// VLC keeps one frame back until the next boundary, so the last may be missing.
#[test]
fn vlc_plays_a_live_path_until_the_publisher_leaves() {
    if support::http::have_vlc_mpjpeg() {
        a_player_reads_a_live_path("VLC", 58, |url| {
            support::http::vlc_reads_mpjpeg(url, Duration::from_secs(90))
        });
    }
}

/// A publisher that leaves (TEARDOWN answered) and publishes again at once gets the path: the
/// path is free before the answer goes out. Twenty times, since the old order lost a race.
#[test]
fn a_publisher_that_leaves_can_publish_again_at_once() {
    let (server, http) = http_server();
    for _ in 0..20 {
        let mut publisher = Publisher::start(&server, "cam");
        publisher.leave();
        assert_eq!(http_get(http, "/live/cam/mjpeg").status, 404);
    }
}

/// `/live/NAME/frame.jpg` is the last frame published (a camera's snapshot URL), byte-equal to
/// what the server rebuilt; a poller holding it gets 304 until the next frame; gone with the
/// publisher.
#[test]
fn the_snapshot_is_the_last_frame_published() {
    let (server, http) = http_server();
    let source = sample_frames();
    let mut publisher = Publisher::start(&server, "cam");
    let snapshot_is = |want: &[u8]| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = http_get(http, "/live/cam/frame.jpg");
            if r.status == 200 && r.body == want {
                return r;
            }
            assert!(Instant::now() < deadline, "the snapshot: {}", r.status);
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let first = publisher.send(&source[0], 0);
    let r = snapshot_is(&first);
    assert_eq!(r.header("Content-Type"), Some("image/jpeg"));
    assert_eq!(r.header("Cache-Control"), Some("no-cache"));
    let tag = r.header("ETag").unwrap().to_string();
    let again =
        HttpConn::connect(http).request("GET", "/live/cam/frame.jpg", &[("If-None-Match", &tag)]);
    assert_eq!(again.status, 304, "the same frame, revalidated");
    let second = publisher.send(&source[1], 1);
    let r = snapshot_is(&second);
    assert_ne!(r.header("ETag").unwrap(), tag, "a new frame, a new tag");
    publisher.leave();
    assert_eq!(http_get(http, "/live/cam/frame.jpg").status, 404);
}
