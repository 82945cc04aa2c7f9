//! An HTTP viewer that stops reading slows nobody: 25 other HTTP viewers and 25 RTSP
//! sessions over UDP keep their frames on time while the stalled viewer's frames are dropped
//! whole and counted in `/metrics`.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::http::{http_get, HttpConn};
use support::*;

const OTHERS: usize = 25;
/// How long the others are watched once the stalled viewer is losing frames.
const WATCH: Duration = Duration::from_secs(4);
const PERIOD: Duration = Duration::from_millis(50);

/// A connection whose receive buffer is as small as the kernel allows, so a viewer that never
/// reads is stalled after a few frames instead of after megabytes.
fn stalled_viewer(addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let mut stream: TcpStream = s.into();
    use std::io::Write;
    stream
        .write_all(b"GET /videos/video.mjpeg/mjpeg?loop=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
}

fn dropped_http(addr: SocketAddr) -> f64 {
    let text = http_get(addr, "/metrics").text();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "mjpeg_frames_dropped_total" && s.labels.get("transport") == Some("http")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => f64::NAN,
        })
        .unwrap()
}

/// The spread of a viewer's arrivals around the frame clock: how much later than the
/// earliest-running frame the latest one came (0 for a perfectly paced stream).
fn lateness(arrivals: &[Instant]) -> Duration {
    let t0 = arrivals[0];
    let offsets: Vec<f64> = arrivals
        .iter()
        .enumerate()
        .map(|(k, t)| (*t - t0).as_secs_f64() - k as f64 * PERIOD.as_secs_f64())
        .collect();
    let min = offsets.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = offsets.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    Duration::from_secs_f64(max - min)
}

#[test]
fn a_viewer_that_stops_reading_slows_no_other_viewer_or_session() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
        c.looping = true;
    });
    let http = server.http_addr.unwrap();
    let _stalled = stalled_viewer(http);
    let stalled_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || dropped_http(http) > 0.0),
        "the stalled viewer never lost a frame"
    );
    eprintln!(
        "the stalled viewer lost its first frame after {:.1} s",
        stalled_at.elapsed().as_secs_f64()
    );
    let watching = AtomicBool::new(true);
    let results = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..OTHERS {
            handles.push(s.spawn(|| {
                let mut c = HttpConn::connect(http);
                let r = c.request("GET", "/videos/video.mjpeg/mjpeg?loop=1", &[]);
                assert_eq!(r.status, 200);
                let mut arrivals = Vec::new();
                while watching.load(Ordering::SeqCst) {
                    match c.next_part("mjpegframe") {
                        Some((t, _)) => arrivals.push(t),
                        None => break,
                    }
                }
                ("http", arrivals)
            }));
            handles.push(s.spawn(|| {
                let playing = describe_setup_play(server.addr, &url(&server, "video.mjpeg"));
                let rtp = &playing.rtp;
                // A frame's arrival is its last packet's (RTP marker bit).
                let mut arrivals = Vec::new();
                let mut buf = [0u8; 2048];
                rtp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                while watching.load(Ordering::SeqCst) {
                    let Ok(n) = rtp.recv(&mut buf) else { break };
                    if n > 2 && buf[1] & 0x80 != 0 {
                        arrivals.push(Instant::now());
                    }
                }
                ("rtsp", arrivals)
            }));
        }
        std::thread::sleep(WATCH);
        watching.store(false, Ordering::SeqCst);
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let expected = (WATCH.as_secs_f64() / PERIOD.as_secs_f64()) as usize;
    let mut worst = Duration::ZERO;
    for (kind, arrivals) in &results {
        // The first second may be spent connecting 50 sessions: frames from then on count.
        assert!(
            arrivals.len() * 10 >= expected * 7,
            "{kind}: {} frames of about {expected}",
            arrivals.len()
        );
        let late = lateness(&arrivals[2..]);
        worst = worst.max(late);
        assert!(
            late < Duration::from_millis(100),
            "{kind}: frames {late:?} off their clock"
        );
    }
    eprintln!(
        "{} others watched for {WATCH:?}: worst spread around the frame clock {:.1} ms; the stalled viewer's dropped frames: {}",
        results.len(),
        worst.as_secs_f64() * 1000.0,
        dropped_http(http)
    );
}
