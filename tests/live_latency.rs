//! Glass-to-glass latency of a live path on loopback, publisher send to viewer receive. The
//! test is the publisher (RTP over UDP, as a camera sends it) and sends the sample's frames in
//! order at 20 fps, each one different: a frame's number is its picture, read back by matching
//! each received frame's scan data to the frame sent. A frame's send time is just after its
//! last packet left; its receive time is when a viewer holds the whole frame: RTSP over UDP,
//! RTSP over TCP (interleaved) and MJPEG over HTTP from our server, and, fed the very same
//! packets, gst-rtsp-server's shared live media (udpsrc, depayloaded and payloaded again)
//! watched over UDP. Prints median / p95 / max per viewer (BENCHMARKS.md has the figures); it
//! asserts only that every viewer got its frames, whole, within a generous second.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtp::RtpPacket;
use support::live::*;
use support::*;

/// Frames sent while the viewers join (gst-rtsp-server's DESCRIBE waits for its first frame
/// to know the caps); not measured.
const WARMUP: usize = 40;
/// Frames sent once every viewer is in: 15 s at 20 fps.
const MEASURED: usize = 300;
/// Frames a viewer receives after the last one sent, at most.
const DRAIN: Duration = Duration::from_secs(2);

/// What one viewer received: each whole frame and when it was whole.
type Received = Vec<(Instant, Vec<u8>)>;

/// Reads RTP from `socket` until `until`, rebuilding frames; each one timed when whole.
fn rtp_viewer(socket: UdpSocket, until: Instant) -> JoinHandle<Received> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    std::thread::spawn(move || {
        let (mut depay, mut got) = (Depacketizer::new(16 << 20), Vec::new());
        let mut buf = vec![0u8; 65536];
        while Instant::now() < until {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            let p = RtpPacket::parse(&buf[..n]).expect("an RTP packet");
            if let Some(frame) = depay.push(&p.header, p.payload).frame {
                got.push((Instant::now(), frame));
            }
        }
        got
    })
}

/// An interleaved viewer of `url`: SETUP over TCP, PLAY, then its `$` frames read off the
/// connection until `until`. The PLAY's answer is read here, byte-exact, so that no RTP
/// that follows it in the same read is lost.
fn interleaved_viewer(addr: SocketAddr, url: &str, until: Instant) -> JoinHandle<Received> {
    let mut conn = RtspConn::connect(addr);
    let r = conn.request(
        "SETUP",
        &format!("{url}/trackID=0"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    assert_eq!(r.status.0, 200, "SETUP: {r:?}");
    let session = session_of(&r);
    conn.send_raw(&request_bytes(
        "PLAY",
        url,
        conn.cseq + 1,
        &[("Session", &session)],
    ));
    let mut stream: TcpStream = conn.stream;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => panic!("the server closed the connection before answering PLAY"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => assert!(Instant::now() < until, "no answer to PLAY"),
        }
    };
    assert!(buf.starts_with(b"RTSP/1.0 200"), "PLAY: {buf:?}");
    buf.drain(..head_end);
    std::thread::spawn(move || read_interleaved(stream, buf, until))
}

/// The RTP frames on channel 0 of `stream` (`buf` what was already read), rebuilt and timed.
fn read_interleaved(mut stream: TcpStream, mut buf: Vec<u8>, until: Instant) -> Received {
    let (mut depay, mut got) = (Depacketizer::new(16 << 20), Vec::new());
    let mut chunk = vec![0u8; 65536];
    while Instant::now() < until {
        while let Some(Some(f)) = rtsp_proto::interleaved::parse(&buf) {
            if f.channel == 0 {
                let p = RtpPacket::parse(&buf[f.payload.clone()]).expect("an RTP packet");
                if let Some(frame) = depay.push(&p.header, p.payload).frame {
                    got.push((Instant::now(), frame));
                }
            }
            buf.drain(..f.len);
        }
        assert!(
            buf.is_empty() || buf[0] == b'$',
            "no interleaved frame: {:?}",
            &buf[..buf.len().min(32)]
        );
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    got
}

/// gst-rtsp-server with one shared live media: RTP/JPEG from a UDP port (which it gives),
/// depayloaded and payloaded again for every viewer.
fn gst_live_server() -> Option<(GstServer, SocketAddr)> {
    if !have_gst_rtsp_server() {
        return None;
    }
    let port = support::nginx::free_port();
    let launch = format!(
        "( udpsrc port={port} caps=application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26 ! rtpjpegdepay ! rtpjpegpay name=pay0 pt=26 mtu=1400 )"
    );
    let server = start_gst_server(
        std::path::Path::new("launch"),
        &["--shared", "--transports", "udp", "--launch", &launch],
    );
    Some((server, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// The sample's frames that differ from every other frame in their scan data, in order: the
/// frames sent, so that each received one names the one sent.
fn distinct_frames() -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let frames: Vec<Vec<u8>> = sample_frames()
        .into_iter()
        .filter(|f| seen.insert(scan_data(f).unwrap()))
        .collect();
    assert!(frames.len() >= WARMUP + MEASURED, "{} frames", frames.len());
    frames
}

/// Sends frames `range` of `frames` at 20 fps from `start` (absolute deadlines), to the
/// server and to `tee` (the peer's port) alike; gives each frame's send time.
fn publish(
    publisher: &mut TestPublisher,
    tee: &Option<(UdpSocket, SocketAddr)>,
    frames: &[Vec<u8>],
    range: std::ops::Range<usize>,
    start: Instant,
) -> Vec<Instant> {
    range
        .map(|n| {
            let due = start + Duration::from_millis(50 * n as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let packets = publisher.packets(&frames[n], n as u32 * 4500, publisher.ssrc);
            for p in &packets {
                let (socket, to) = publisher.udp.as_ref().unwrap();
                socket.send_to(p, to).unwrap();
                if let Some((socket, to)) = tee {
                    socket.send_to(p, to).unwrap();
                }
            }
            Instant::now()
        })
        .collect()
}

/// Milliseconds from send to receive of each measured frame (from [`WARMUP`] on) `who` got,
/// matched by scan data, sorted; checks it got at least 98% of them.
fn latencies(who: &str, got: &Received, frames: &[Vec<u8>], sent: &[Instant]) -> Vec<f64> {
    let index: HashMap<Vec<u8>, usize> = frames[..sent.len()]
        .iter()
        .enumerate()
        .map(|(i, f)| (scan_data(f).unwrap(), i))
        .collect();
    let mut ms: Vec<f64> = Vec::new();
    for (n, (at, frame)) in got.iter().enumerate() {
        let scan = scan_data(frame).unwrap_or_else(|| panic!("{who}: frame {n} is no JPEG"));
        let i = *index
            .get(&scan)
            .unwrap_or_else(|| panic!("{who}: frame {n} is none of those sent"));
        if i >= WARMUP {
            ms.push(at.duration_since(sent[i]).as_secs_f64() * 1000.0);
        }
    }
    let due = sent.len() - WARMUP;
    assert!(
        ms.len() * 100 >= due * 98,
        "{who}: {} of the {due} frames sent from its first",
        ms.len()
    );
    ms.sort_by(f64::total_cmp);
    ms
}

/// `sorted`'s `p` quantile (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A viewer: its name, its reading thread, and the RTSP session it keeps alive.
type Viewer = (&'static str, JoinHandle<Received>, Option<Playing>);

/// Our three viewers of `url` and, with `gst`, one of the peer's, each reading until `until`.
fn join_viewers(
    server: &server::ServerHandle,
    url: &str,
    gst: Option<&GstServer>,
    until: Instant,
) -> Vec<Viewer> {
    let playing = describe_setup_play(server.addr, url);
    let socket = playing.rtp.try_clone().unwrap();
    let http = server.http_addr.unwrap();
    let mut viewers: Vec<Viewer> = vec![
        ("RTSP over UDP", rtp_viewer(socket, until), Some(playing)),
        (
            "RTSP over TCP",
            interleaved_viewer(server.addr, url, until),
            None,
        ),
        (
            "MJPEG over HTTP",
            support::http::read_mjpeg_until(http, "/live/cam/mjpeg", until),
            None,
        ),
    ];
    if let Some(g) = gst {
        let addr: SocketAddr = g.base.trim_start_matches("rtsp://").parse().unwrap();
        let playing = describe_setup_play(addr, &format!("{}/test", g.base));
        let socket = playing.rtp.try_clone().unwrap();
        let who = "gst-rtsp-server over UDP";
        viewers.push((who, rtp_viewer(socket, until), Some(playing)));
    }
    viewers
}

/// One live publisher, every viewer at once; each frame's latency is printed as median /
/// p95 / max; a viewer must get 98% of the frames, none later than a second.
#[test]
fn publisher_to_viewer_latency_rtsp_udp_tcp_http_and_gst_rtsp_server() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let frames = distinct_frames();
    let url = live_url(&server, "cam");
    let mut publisher = TestPublisher::start(&server, "cam", false);
    let gst = gst_live_server();
    let tee = gst
        .as_ref()
        .map(|(_, port)| (UdpSocket::bind("127.0.0.1:0").unwrap(), *port));
    let start = Instant::now();
    let until = start + Duration::from_millis(50 * (WARMUP + MEASURED) as u64) + DRAIN;
    // The viewers join during the warm-up frames (gst's DESCRIBE needs them to flow).
    let (sent, viewers) = std::thread::scope(|s| {
        let all = 0..WARMUP + MEASURED;
        let sending = s.spawn(|| publish(&mut publisher, &tee, &frames, all, start));
        let viewers = join_viewers(&server, &url, gst.as_ref().map(|(g, _)| g), until);
        let joined = Instant::now();
        (sending.join().unwrap(), (viewers, joined))
    });
    let (viewers, joined) = viewers;
    assert!(
        joined < start + Duration::from_millis(50 * WARMUP as u64),
        "the viewers took {:?} to join, more than the warm-up",
        joined - start
    );
    for (who, reader, _session) in viewers {
        let got = reader.join().unwrap();
        let ms = latencies(who, &got, &frames, &sent);
        eprintln!(
            "{who}: {} frames, latency median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            ms.len(),
            quantile(&ms, 0.5),
            quantile(&ms, 0.95),
            ms[ms.len() - 1]
        );
        assert!(
            ms[ms.len() - 1] < 1000.0,
            "{who}: a frame took {:.0} ms",
            ms[ms.len() - 1]
        );
    }
}
