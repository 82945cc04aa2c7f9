//! `--live-linger`: a publisher that leaves does not end its viewers; they wait for one to
//! come back on the same path and get its frames, on one RTP timeline (their own SSRC and
//! sequence numbers going on); once the linger passes with nobody back, BYE and the end of
//! the multipart stream, as without it.

#[path = "support/live_peer.rs"]
mod live_peer;
mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use live_peer::*;
use support::http::{http_get, HttpConn};
use support::*;

const LINGER: Duration = Duration::from_secs(3);

/// Sends `frames` paced at 20 fps from a new publisher on `cam`, then leaves (TEARDOWN).
fn publish_and_leave(server: &server::ServerHandle, frames: &[Vec<u8>], ssrc: u32, base: u32) {
    let mut publisher = LivePublisher::start(server.addr, "cam", ssrc, base);
    publisher.send_paced(frames, 20.0);
    publisher.teardown();
}

/// What a viewer got is one RTP stream across publishers: its own SSRC, its sequence numbers
/// going on packet after packet; the RTP time steps between frames, each with the wall-clock
/// time between their arrivals (in 90 kHz ticks).
fn one_stream(frames: &[Received]) -> Vec<(u32, f64)> {
    assert!(frames.iter().all(|f| f.ssrc == frames[0].ssrc), "one SSRC");
    let steps = frames.windows(2).enumerate().map(|(n, w)| {
        let next = w[0].seq.1.wrapping_add(1);
        assert_eq!(w[1].seq.0, next, "sequence at frame {n}");
        let gap = w[1].at.duration_since(w[0].at).as_secs_f64() * 90_000.0;
        (w[1].rtptime.wrapping_sub(w[0].rtptime), gap)
    });
    steps.collect()
}

#[test]
fn viewers_wait_for_a_publisher_that_comes_back_then_end_after_the_linger() {
    let server = start_server(&videos_dir(), |c| {
        c.live_linger = LINGER;
        c.http = server::http::HttpListen::Port(0);
    });
    let http = server.http_addr.unwrap();
    let source: Vec<Vec<u8>> = sample_frames().into_iter().take(40).collect();
    // The first publisher announces; a viewer over UDP and one over HTTP join.
    let mut first = LivePublisher::start(server.addr, "cam", 0x1111_1111, 1000);
    let path = server.shared.live.get("cam").unwrap();
    let viewer = UdpWatcher::start(server.addr, &live_url(server.addr, "cam"));
    let mut reader = HttpConn::connect(http);
    let r = reader.request("GET", "/live/cam/mjpeg", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let reader = std::thread::spawn(move || {
        let mut parts = Vec::new();
        while let Some((_, part)) = reader.next_part("mjpegframe") {
            parts.push(part);
        }
        let closed = matches!(reader.stream.read(&mut [0u8; 1]), Ok(0));
        (parts, closed)
    });
    assert!(wait_until(Duration::from_secs(5), || path
        .subscribers()
        .len()
        == 2));
    first.send_paced(&source[..20], 20.0);
    assert!(wait_until(Duration::from_secs(5), || viewer.count() == 20));
    first.teardown();
    // The path waits: it still takes viewers, and says so.
    assert!(wait_until(Duration::from_secs(5), || path.is_waiting()));
    assert!(!path.is_ended());
    let paths: serde_json::Value =
        serde_json::from_str(&http_get(http, "/api/paths").text()).unwrap();
    assert_eq!(paths["paths"][0]["waiting_for_publisher"], true, "{paths}");
    let left = Instant::now();
    // Another publisher, with its own SSRC and a clock far from the first's.
    publish_and_leave(&server, &source[20..], 0x2222_2222, 0x8000_0000);
    assert!(
        !viewer.got_bye(),
        "no BYE while the path waited for a publisher"
    );
    assert!(wait_until(LINGER + Duration::from_secs(10), || viewer.got_bye()));
    let (seen, _conn) = viewer.finish();
    let (parts, closed) = reader.join().unwrap();
    let bye = seen.bye.unwrap();
    assert!(
        bye >= left + LINGER,
        "BYE came only after the linger (here after the second publisher left, later still)"
    );
    assert!(server.shared.live.get("cam").is_none(), "the path is gone");
    // Every frame of both publishers, bit-exact and in order, to both viewers.
    let frames: Vec<Vec<u8>> = seen.frames.iter().map(|f| f.jpeg.clone()).collect();
    assert_eq!(match_frames(&frames, &source), (0..40).collect::<Vec<_>>());
    assert_eq!(match_frames(&parts, &source), (0..40).collect::<Vec<_>>());
    assert!(closed, "the multipart response ended when the linger did");
    // One stream for the RTSP viewer: its own SSRC, its sequence numbers going on, its RTP
    // times growing across the change of publisher (by about the time between).
    for (n, (step, gap)) in one_stream(&seen.frames).into_iter().enumerate() {
        match n {
            19 => assert!(
                step > 0 && f64::from(step) < gap + 90_000.0,
                "RTP time across the publishers: +{step} over {gap:.0} ticks of wall clock"
            ),
            _ => assert_eq!(step, 4500, "RTP time at frame {n}"),
        }
    }
}

#[test]
fn without_a_publisher_back_the_viewers_end_after_the_linger() {
    let server = start_server(&videos_dir(), |c| {
        c.live_linger = Duration::from_millis(500)
    });
    let mut publisher = LivePublisher::start(server.addr, "cam", 7, 0);
    let viewer = UdpWatcher::start(server.addr, &live_url(server.addr, "cam"));
    let path = server.shared.live.get("cam").unwrap();
    assert!(wait_until(Duration::from_secs(5), || path
        .subscribers()
        .len()
        == 1));
    publisher.send_paced(&sample_frames()[..5], 20.0);
    // The publisher's connection just closes (no TEARDOWN): the same as leaving.
    drop(publisher);
    assert!(wait_until(Duration::from_secs(5), || path.is_waiting()));
    assert!(wait_until(Duration::from_secs(10), || viewer.got_bye()));
    assert!(path.is_ended() && server.shared.live.get("cam").is_none());
    // A publisher now starts the path afresh.
    let _next = LivePublisher::start(server.addr, "cam", 8, 0);
    let again = server.shared.live.get("cam").unwrap();
    assert!(!std::sync::Arc::ptr_eq(&path, &again));
}

/// ffmpeg publishing the sample's first `frames` frames in real time on `url` over TCP, then
/// leaving (its TEARDOWN at the end of the input).
fn ffmpeg_publishes(url: &str, frames: u32) -> std::process::Child {
    std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "mjpeg", "-framerate", "20", "-i"])
        .arg(videos_dir().join("video.mjpeg"))
        .args(["-frames:v", &frames.to_string(), "-c:v", "copy"])
        .args(["-f", "rtsp", "-rtsp_transport", "tcp", url])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start ffmpeg")
}

/// Whether `child` exits successfully within 30 s (killed if not).
fn finishes(child: &mut std::process::Child) -> bool {
    let mut status = None;
    wait_until(Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
    }
    status.is_some_and(|s| s.success())
}

#[test]
fn ffmpeg_leaves_and_another_ffmpeg_comes_back_to_the_same_viewer() {
    if !have_ffmpeg() {
        return;
    }
    let server = start_server(&videos_dir(), |c| c.live_linger = LINGER);
    let url = live_url(server.addr, "cam");
    let mut first = ffmpeg_publishes(&url, 60);
    assert!(wait_until(Duration::from_secs(20), || server
        .shared
        .live
        .get("cam")
        .is_some()));
    let viewer = UdpWatcher::start(server.addr, &url);
    assert!(
        finishes(&mut first),
        "the first ffmpeg published its frames"
    );
    let path = server.shared.live.get("cam").expect("the path waits");
    assert!(wait_until(Duration::from_secs(5), || path.is_waiting()));
    let mut second = ffmpeg_publishes(&url, 40);
    assert!(
        finishes(&mut second),
        "the second ffmpeg published its frames"
    );
    assert!(
        !viewer.got_bye(),
        "no BYE while the path waited for a publisher"
    );
    assert!(wait_until(LINGER + Duration::from_secs(10), || viewer.got_bye()));
    let (seen, _conn) = viewer.finish();
    let frames: Vec<Vec<u8>> = seen.frames.iter().map(|f| f.jpeg.clone()).collect();
    let idx = match_frames(&frames, &sample_frames());
    // The first ffmpeg's frames, then the second's from the file's start again.
    let restart = idx
        .windows(2)
        .position(|w| w[1] < w[0])
        .expect("a second run");
    let (a, b) = idx.split_at(restart + 1);
    assert!(a.len() >= 30 && a.windows(2).all(|w| w[0] < w[1]), "{a:?}");
    assert!(
        b.len() >= 38 && b[0] <= 1 && b.windows(2).all(|w| w[0] < w[1]),
        "{b:?}"
    );
    for (n, (step, _)) in one_stream(&seen.frames).into_iter().enumerate() {
        assert!(
            step > 0 && step < 90_000 * 30,
            "RTP time at frame {n}: +{step}"
        );
    }
}
