//! Our client against servers: ours, gst-rtsp-server, VLC's, and a double of the lab's. Each
//! received frame is matched to its source frame by scan data and compared by pixels.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use support::doubles::*;
use support::*;

fn headless(
    url: &str,
    tweak: impl FnOnce(&mut client::Options),
) -> (client::stats::Stats, Vec<Vec<u8>>) {
    let rec = scratch_dir("client").join("rec.mjpeg");
    let mut opts = client::Options::for_url(url).unwrap();
    opts.record = Some(rec.clone());
    tweak(&mut opts);
    let stats = client::headless::run(&opts).unwrap();
    (stats, read_plain_mjpeg(&rec))
}

/// Every received frame decodes to exactly its source frame's pixels.
fn assert_same_pixels(received: &[Vec<u8>], indices: &[usize], source: &[Vec<u8>]) {
    for (f, &i) in received.iter().zip(indices) {
        assert!(
            decode_rgb(f) == decode_rgb(&source[i]),
            "frame {i}: pixels differ"
        );
    }
}

#[test]
fn our_client_plays_our_server_for_10_s_with_source_pixels() {
    let server = start_server(&videos_dir(), |_| {});
    let (stats, received) = headless(&url(&server, "video.mjpeg"), |o| o.duration = Some(10.0));
    let source = sample_frames();
    let indices = match_frames(&received, &source);
    let span = indices.last().unwrap() - indices[0] + 1;
    eprintln!("{} of {span} frames; {}", received.len(), stats.to_json());
    assert!(span >= 190, "only {span} frames of streaming in 10 s");
    assert!(
        received.len() * 100 >= span * 98,
        "{} of {span}",
        received.len()
    );
    assert_eq!(indices[0], 0, "playback starts at the first frame");
    assert_same_pixels(&received, &indices, &source);
    assert_eq!((stats.width, stats.height), (384, 288));
    assert_eq!((stats.packets_lost, stats.frames_dropped), (0, 0));
    assert_eq!(stats.dialect, "standard");
    assert!(stats.first_frame_ms.is_some());
}

#[test]
fn our_client_plays_gst_rtsp_server_bit_exact() {
    if !have_gst_rtsp_server() {
        return;
    }
    let gst = start_gst_server(&videos_dir().join("video.mjpeg"), &["--fps", "20"]);
    let (stats, received) = headless(&format!("{}/video.mjpeg", gst.base), |o| {
        o.duration = Some(4.0)
    });
    let source = sample_frames();
    let indices = match_frames(&received, &source);
    eprintln!(
        "{} frames from gst-rtsp-server; {}",
        received.len(),
        stats.to_json()
    );
    assert!(received.len() >= 60, "{} frames in 4 s", received.len());
    assert_same_pixels(&received, &indices, &source);
}

#[test]
fn lab_server_is_detected_played_paused_and_torn_down() {
    let source = sample_frames();
    let lab = start_lab_double(source.clone());
    let mut opts = client::Options::for_url(&format!("rtsp://{}/video.mjpeg", lab.addr)).unwrap();
    let mut s = client::session::ClientSession::connect(&opts).unwrap();
    assert_eq!(
        s.dialect,
        client::session::Dialect::Lab,
        "no answer to OPTIONS means the lab"
    );
    s.setup().unwrap();
    s.play().unwrap();
    assert!(wait_until(Duration::from_secs(5), || s
        .display
        .lock()
        .unwrap()
        .frames_decoded
        >= 10));
    s.pause().unwrap();
    let paused_at = s.stats().frames_received;
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        s.stats().frames_received <= paused_at + 1,
        "frames kept coming while paused"
    );
    s.play().unwrap();
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .frames_received
        >= paused_at + 5));
    s.teardown().unwrap();
    let st = s.stats();
    assert_eq!(st.dialect, "lab");
    assert_eq!(
        st.jitter_ms, None,
        "the lab's timestamps are not a media clock"
    );
    assert_eq!((st.packets_lost, st.frames_dropped), (0, 0));
    let requests = lab.requests.lock().unwrap().clone();
    let kinds: Vec<&str> = requests
        .iter()
        .map(|r| r.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["OPTIONS", "SETUP", "PLAY", "PAUSE", "PLAY", "TEARDOWN"]
    );
    // Byte for byte the lab client's shapes: LF lines, no blank line, the Transport third.
    assert_eq!(
        requests[1],
        format!(
            "SETUP video.mjpeg RTSP/1.0\nCSeq: 2\nTransport: RTP/UDP; client_port= {}",
            requests[1].rsplit(' ').next().unwrap()
        )
    );
    assert_eq!(
        requests[2],
        "PLAY video.mjpeg RTSP/1.0\nCSeq: 3\nSession: 123456"
    );
    drop(s);
    // --lab skips the OPTIONS probe.
    let lab2 = start_lab_double(source);
    opts = client::Options::for_url(&format!("rtsp://{}/video.mjpeg", lab2.addr)).unwrap();
    opts.lab = true;
    opts.frames = Some(5);
    let st = client::headless::run(&opts).unwrap();
    assert!(st.frames_decoded >= 5);
    assert!(lab2.requests.lock().unwrap()[0].starts_with("SETUP"));
}

#[test]
fn loss_is_reported_honestly() {
    let source: Vec<Vec<u8>> = sample_frames().into_iter().take(30).collect();
    let per_frame = packets_per_frame(&source);
    // Packet numbers where each frame starts.
    let starts: Vec<usize> = per_frame
        .iter()
        .scan(0, |acc, n| {
            let s = *acc;
            *acc += n;
            Some(s)
        })
        .collect();
    // Lose: frame 3's second packet; frame 10's first (no start: must still count);
    // frame 17's last (the marker); and two packets of frame 24.
    let drop: HashSet<usize> = [
        starts[3] + 1,
        starts[10],
        starts[17] + per_frame[17] - 1,
        starts[24] + 1,
        starts[24] + 2,
    ]
    .into_iter()
    .collect();
    assert!(per_frame[24] >= 4);
    let double = start_standard_double(
        source.clone(),
        StandardDoubleConfig {
            drop_packets: drop.clone(),
            ..Default::default()
        },
    );
    let (stats, received) = headless(&format!("rtsp://{}/double", double.addr), |_| {});
    eprintln!("{}", stats.to_json());
    assert_eq!(stats.packets_lost, drop.len() as i64);
    assert_eq!(stats.frames_dropped, 4);
    assert_eq!(stats.frames_received, 26);
    let indices = match_frames(&received, &source);
    let lost: HashSet<usize> = [3, 10, 17, 24].into_iter().collect();
    assert_eq!(
        indices,
        (0..30).filter(|i| !lost.contains(i)).collect::<Vec<_>>()
    );
    assert_same_pixels(&received, &indices, &source);
}
