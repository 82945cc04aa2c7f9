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

/// A TCP port that was free a moment ago, for peers that cannot take port 0 (VLC).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn have_vlc() -> bool {
    // `cvlc --version` refuses to run as root, so look for the binary and its RTP stream output.
    peer_available(
        "VLC (cvlc with the RTP stream output)",
        &[
            "sh",
            "-c",
            "command -v cvlc && ls /usr/lib/*/vlc/plugins/stream_out/libstream_out_rtp_plugin.so",
        ],
    )
}

/// Starts VLC's server, plays it with our client and checks every frame against the source: one
/// scenario from peer to pixels, kept in one function so its steps read in order (hence its
/// length).
#[test]
fn our_client_plays_vlc_single_table_stream_without_chroma_garbage() {
    if !have_vlc() || !have_ffmpeg() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let dir = scratch_dir("vlc");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    // ffmpeg without -force_duplicated_matrix writes ONE quantization table for all components;
    // VLC's server then sends a single 64-byte table, which GStreamer's depayloader garbles.
    let one = dir.join("one.mjpeg");
    let o = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=384x288:rate=20:duration=4",
        ])
        .args([
            "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-huffman", "default", "-q:v", "5",
            "-threads", "1", "-f", "mjpeg", "-y",
        ])
        .arg(&one)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let source = read_plain_mjpeg(&one);
    let info = rtsp_proto::jpeg::JpegInfo::parse(&source[0]).unwrap();
    assert!(
        info.quant_tables[1].is_none(),
        "the source must have a single DQT table"
    );
    // VLC ends its track at the end of the input even with --loop: give it the file 3 times.
    let file = dir.join("vlc.mjpeg");
    std::fs::write(&file, std::fs::read(&one).unwrap().repeat(3)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let home = dir.join("home");

    let port = free_port();
    let url = format!("rtsp://127.0.0.1:{port}/test");
    let mut vlc = vlc_command(&home)
        .arg(&file)
        .args([
            "--demux=mjpeg",
            "--mjpeg-fps=20",
            "--loop",
            "--rtsp-host=127.0.0.1",
        ])
        .arg(format!("--sout=#rtp{{sdp={url}}}"))
        .arg("--sout-keep")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // VLC listens before its stream exists (DESCRIBE gets 500 until then): wait for a 200.
    let up = wait_until(Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && RtspConn::connect(format!("127.0.0.1:{port}").parse().unwrap())
                .request("DESCRIBE", &url, &[])
                .status
                .0
                == 200
    });
    let result = std::panic::catch_unwind(|| {
        assert!(up, "VLC did not listen on {port}");
        let (stats, received) = headless(&url, |o| o.duration = Some(3.0));
        eprintln!("{} frames from VLC; {}", received.len(), stats.to_json());
        assert!(
            received.len() >= 30,
            "{} frames from VLC in 3 s",
            received.len()
        );
        let indices = match_frames_scan_only(&received, &source);
        let worst = received
            .iter()
            .zip(&indices)
            .map(|(f, &i)| psnr(&decode_rgb(f), &decode_rgb(&source[i])))
            .fold(f64::INFINITY, f64::min);
        eprintln!("worst PSNR against the source: {worst}");
        assert!(worst >= 40.0, "PSNR {worst} dB: chroma garbage");
    });
    let _ = vlc.kill();
    let _ = vlc.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Matches frames by scan data alone (VLC's rebuilt headers differ from the source's: one
/// table sent, two written), returning source indices.
fn match_frames_scan_only(received: &[Vec<u8>], source: &[Vec<u8>]) -> Vec<usize> {
    let by_scan: std::collections::HashMap<Vec<u8>, usize> = source
        .iter()
        .enumerate()
        .map(|(i, f)| (scan_data(f).unwrap(), i))
        .collect();
    received
        .iter()
        .map(|f| {
            *by_scan
                .get(&scan_data(f).unwrap())
                .expect("a received frame matches no source frame")
        })
        .collect()
}

#[test]
fn packets_from_other_addresses_are_ignored() {
    let server = start_server(&videos_dir(), |_| {});
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    drop((rtp, rtcp));
    let mut opts = client::Options::for_url(&url(&server, "video.mjpeg")).unwrap();
    opts.rtp_port = Some(port);
    let mut s = client::session::ClientSession::connect(&opts).unwrap();
    s.setup().unwrap();
    s.play().unwrap();
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .frames_decoded
        >= 3));
    // Another host on the loopback network sprays RTP-looking garbage at the port.
    let intruder = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    for seq in 0..20u16 {
        let mut p = vec![0x80, 26];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0, 0, 0, 0, 1, 255, 48, 36, 0xff, 0xd8]);
        intruder.send_to(&p, ("127.0.0.1", port)).unwrap();
    }
    assert!(wait_until(Duration::from_secs(2), || s
        .stats()
        .foreign_packets
        == 20));
    std::thread::sleep(Duration::from_millis(200));
    let st = s.stats();
    assert_eq!(
        (st.packets_lost, st.frames_dropped),
        (0, 0),
        "{}",
        st.to_json()
    );
    s.teardown().unwrap();
}
