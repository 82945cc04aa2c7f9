//! Our client over TCP, and its fallback from UDP to TCP when the server refuses UDP or when
//! UDP never arrives.

mod support;

use support::doubles::*;
use support::*;

fn headless(
    url: &str,
    tweak: impl FnOnce(&mut client::Options),
) -> (client::stats::Stats, Vec<Vec<u8>>) {
    let rec = scratch_dir("transports").join("rec.mjpeg");
    let mut opts = client::Options::for_url(url).unwrap();
    opts.record = Some(rec.clone());
    tweak(&mut opts);
    let stats = client::headless::run(&opts).unwrap();
    (stats, read_plain_mjpeg(&rec))
}

fn assert_same_pixels(received: &[Vec<u8>], source: &[Vec<u8>]) {
    let indices = match_frames(received, source);
    for (f, &i) in received.iter().zip(&indices) {
        assert!(
            decode_rgb(f) == decode_rgb(&source[i]),
            "frame {i}: pixels differ"
        );
    }
}

#[test]
fn our_client_plays_our_server_over_tcp() {
    let server = start_server(&videos_dir(), |_| {});
    let (stats, received) = headless(&url(&server, "video.mjpeg"), |o| {
        o.transport = client::TransportChoice::Tcp;
        o.duration = Some(3.0);
    });
    assert_eq!(
        (stats.transport.as_str(), stats.fallback.as_deref()),
        ("tcp", None)
    );
    assert!(received.len() >= 55, "{} frames in 3 s", received.len());
    assert_eq!((stats.packets_lost, stats.frames_dropped), (0, 0));
    assert_same_pixels(&received, &sample_frames());
}

#[test]
fn our_client_plays_gst_rtsp_server_over_tcp() {
    if !have_gst_rtsp_server() {
        return;
    }
    let gst = start_gst_server(&videos_dir().join("video.mjpeg"), &["--fps", "20"]);
    let (stats, received) = headless(&format!("{}/video.mjpeg", gst.base), |o| {
        o.transport = client::TransportChoice::Tcp;
        o.duration = Some(3.0);
    });
    assert_eq!(stats.transport, "tcp");
    assert!(received.len() >= 40, "{} frames in 3 s", received.len());
    assert_same_pixels(&received, &sample_frames());
}

#[test]
fn falls_back_to_tcp_when_the_server_refuses_udp() {
    let server = start_server(&videos_dir(), |c| c.udp = false);
    let (stats, received) = headless(&url(&server, "video.mjpeg"), |o| o.frames = Some(10));
    eprintln!("{}", stats.to_json());
    assert_eq!(stats.transport, "tcp");
    assert!(stats.fallback.as_deref().unwrap().contains("461"));
    assert!(
        stats.first_frame_ms.unwrap() < 3000.0,
        "first frame {:?} ms after PLAY",
        stats.first_frame_ms
    );
    assert!(received.len() >= 10);
    // --udp insists: no fallback, a clear failure.
    let mut opts = client::Options::for_url(&url(&server, "video.mjpeg")).unwrap();
    opts.transport = client::TransportChoice::Udp;
    let err = client::headless::run(&opts).unwrap_err().to_string();
    assert!(err.contains("461"), "{err}");
}

#[test]
fn falls_back_to_tcp_when_udp_never_arrives() {
    let source: Vec<Vec<u8>> = sample_frames().into_iter().take(100).collect();
    let double = start_standard_double(
        source.clone(),
        StandardDoubleConfig {
            black_hole: true,
            ..Default::default()
        },
    );
    let (stats, received) = headless(&format!("rtsp://{}/double", double.addr), |o| {
        o.frames = Some(10)
    });
    eprintln!("{}", stats.to_json());
    assert_eq!(stats.transport, "tcp");
    assert!(stats
        .fallback
        .as_deref()
        .unwrap()
        .contains("no RTP over UDP"));
    let first = stats.first_frame_ms.unwrap();
    assert!(
        first < 3000.0,
        "first frame {first} ms after the first PLAY"
    );
    assert!(received.len() >= 10);
    assert_same_pixels(&received, &source);
    let requests = double.requests.lock().unwrap().clone();
    let setups = requests.iter().filter(|r| r.starts_with("SETUP")).count();
    assert_eq!(setups, 2, "{requests:?}");
}

#[test]
fn end_of_stream_bye_ends_headless_playback_over_udp_and_tcp() {
    let dir = scratch_dir("bye");
    let mut short = Vec::new();
    for f in sample_frames().iter().take(20) {
        rtsp_proto::mjpeg::write_lab_frame(&mut short, f).unwrap();
    }
    std::fs::write(dir.join("short.mjpeg"), short).unwrap();
    let server = start_server(&dir, |_| {});
    for transport in [client::TransportChoice::Udp, client::TransportChoice::Tcp] {
        let mut opts = client::Options::for_url(&url(&server, "short.mjpeg")).unwrap();
        opts.transport = transport;
        let mut s = client::session::ClientSession::connect(&opts).unwrap();
        s.setup().unwrap();
        s.play().unwrap();
        let rx = s.rx_stats();
        assert!(
            wait_until(std::time::Duration::from_secs(5), || rx.lock().unwrap().bye),
            "{transport:?}: no BYE"
        );
        assert!(
            wait_until(std::time::Duration::from_secs(2), || s.ended()),
            "{transport:?}: BYE did not end playback"
        );
        let st = s.stats();
        assert_eq!(st.frames_decoded, 20, "{transport:?}");
        // The server's sender reports gave the client a wall clock for RTP time.
        let rx = rx.lock().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let wall = rx
            .wallclock(rx.last_timestamp.unwrap())
            .expect("a sender report arrived");
        assert!(
            (wall - now).abs() < 5.0,
            "{transport:?}: SR maps RTP time to {wall}, now is {now}"
        );
        drop(rx);
        s.teardown().unwrap();
    }
}

#[test]
fn a_server_that_stops_answering_is_an_error_not_a_hang() {
    // Accepts, reads, never answers: the lab fallback's OPTIONS wait, then SETUP times out.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        while std::io::Read::read(&mut s, &mut buf).is_ok_and(|n| n > 0) {}
    });
    let opts = client::Options::for_url(&format!("rtsp://{addr}/x.mjpeg")).unwrap();
    let start = std::time::Instant::now();
    let err = client::headless::run(&opts).unwrap_err().to_string();
    assert!(err.contains("no response"), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
}
