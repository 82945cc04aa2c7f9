//! Live paths: ffmpeg and GStreamer publish into the server (ANNOUNCE / SETUP mode=record /
//! RECORD) while ffmpeg (UDP, TCP, the HTTP tunnel), GStreamer, our client, a reader of the
//! path's Motion-JPEG over HTTP and hand-made viewers watch;
//! hostile publishers; a lossy one (frames dropped and counted, never corrupt); BYE when the
//! publisher leaves; a slow viewer that slows nobody.

mod support;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtcp::{parse_compound, RtcpPacket};
use rtsp_proto::rtp::RtpPacket;
use support::live::*;
use support::*;

/// A viewer made by hand over UDP: rebuilds frames, notes a BYE.
struct UdpViewer {
    playing: Playing,
    depay: Depacketizer,
    frames: Vec<Vec<u8>>,
    /// The SSRC and RTP time of each frame.
    stamps: Vec<(u32, u32)>,
    bye: bool,
}

impl UdpViewer {
    /// DESCRIBE, SETUP, PLAY; returns once the path hands it frames (it joins the path
    /// just after the PLAY is answered).
    fn start(server: &server::ServerHandle, name: &str) -> UdpViewer {
        let path = server.shared.live.get(name).expect("a publisher");
        let before = path.subscribers().len();
        let playing = describe_setup_play(server.addr, &live_url(server, name));
        let joined = wait_until(Duration::from_secs(5), || path.subscribers().len() > before);
        assert!(
            joined || path.is_ended(),
            "the viewer did not join live/{name}"
        );
        playing.rtp.set_nonblocking(true).unwrap();
        playing.rtcp.set_nonblocking(true).unwrap();
        UdpViewer {
            playing,
            depay: Depacketizer::new(16 << 20),
            frames: Vec::new(),
            stamps: Vec::new(),
            bye: false,
        }
    }

    /// Reads what has arrived, until `cond` holds or `limit` passes; whether it held.
    fn until(&mut self, limit: Duration, mut cond: impl FnMut(&UdpViewer) -> bool) -> bool {
        let mut buf = vec![0u8; 65536];
        wait_until(limit, || {
            while let Ok(n) = self.playing.rtp.recv(&mut buf) {
                let p = RtpPacket::parse(&buf[..n]).unwrap();
                let ev = self.depay.push(&p.header, p.payload);
                if ev.frame.is_some() {
                    self.stamps.push((p.header.ssrc, p.header.timestamp));
                }
                assert!(
                    ev.dropped.is_empty(),
                    "loopback lost a packet: {:?}",
                    ev.dropped
                );
                self.frames.extend(ev.frame);
            }
            while let Ok(n) = self.playing.rtcp.recv(&mut buf) {
                let bye = parse_compound(&buf[..n])
                    .unwrap()
                    .iter()
                    .any(|p| matches!(p, RtcpPacket::Goodbye { .. }));
                self.bye |= bye;
            }
            cond(self)
        })
    }
}

/// Starts ffmpeg publishing the sample video (frames copied as they are) on `url` in real
/// time; killed when dropped.
struct FfmpegPublisher(Child);

impl FfmpegPublisher {
    fn start(url: &str, transport: &str) -> FfmpegPublisher {
        let video = videos_dir().join("video.mjpeg");
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-re"])
            .args(["-f", "mjpeg", "-framerate", "20", "-i"])
            .arg(&video)
            .args([
                "-c:v",
                "copy",
                "-f",
                "rtsp",
                "-rtsp_transport",
                transport,
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ffmpeg");
        FfmpegPublisher(child)
    }
}

impl Drop for FfmpegPublisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `name` has a publisher sending frames.
fn wait_for_frames(
    server: &server::ServerHandle,
    name: &str,
    frames: u64,
) -> Arc<server::live::path::Path> {
    let mut found = None;
    let ok = wait_until(Duration::from_secs(20), || {
        found = server.shared.live.get(name);
        found.as_ref().is_some_and(|p| {
            p.counters
                .frames_in
                .load(std::sync::atomic::Ordering::Relaxed)
                >= frames
        })
    });
    assert!(ok, "live/{name} received no {frames} frames within 20 s");
    found.unwrap()
}

/// Every frame a viewer got is a source frame, bit-exact in its scan data, and it got at least
/// 98% of the frames published while it watched (the span from its first to its last).
fn assert_live_delivery(viewer: &str, received: &[Vec<u8>], source: &[Vec<u8>], min_frames: usize) {
    let indices = match_frames(received, source);
    assert!(
        indices.len() >= min_frames,
        "{viewer}: only {} frames",
        indices.len()
    );
    // The publisher sends the file in order, once: indices rise one by one.
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{viewer}: frames out of order: {indices:?}"
    );
    let span = indices.last().unwrap() - indices.first().unwrap() + 1;
    eprintln!(
        "{viewer}: {} of the {span} frames published while it watched",
        indices.len()
    );
    assert!(
        indices.len() * 100 >= span * 98,
        "{viewer}: {} of the {span} frames published while it watched",
        indices.len()
    );
}

/// The acceptance's viewers, all at once on live path `name` for about `seconds`: ffmpeg over
/// UDP, TCP and the HTTP tunnel, GStreamer over `transport`, our client, and a reader of
/// `/live/NAME/mjpeg` over HTTP. Gives what each received, named.
fn every_viewer_watches(
    server: &server::ServerHandle,
    name: &str,
    transport: &str,
    seconds: u32,
) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let url = live_url(server, name);
    let mut watchers: Vec<_> = [
        ("ffmpeg udp", "udp"),
        ("ffmpeg tcp", "tcp"),
        ("ffmpeg over the HTTP tunnel", "http"),
    ]
    .into_iter()
    .map(|(who, t)| {
        let url = url.clone();
        std::thread::spawn(move || (who, ffmpeg_plays_url(&url, t, seconds)))
    })
    .collect();
    if have_gstreamer() {
        let (url, t) = (url.clone(), transport.to_string());
        watchers.push(std::thread::spawn(move || {
            ("GStreamer", gstreamer_plays(&url, &t, seconds + 1))
        }));
    }
    let client = std::thread::spawn(move || {
        let rec = scratch_dir("live-client").join("rec.mjpeg");
        let mut opts = client::Options::for_url(&url).unwrap();
        opts.record = Some(rec.clone());
        opts.duration = Some(f64::from(seconds));
        client::headless::run(&opts).unwrap();
        ("our client", read_plain_mjpeg(&rec))
    });
    let http = server.http_addr.expect("the server's HTTP port");
    let until = Instant::now() + Duration::from_secs(u64::from(seconds));
    let reader = support::http::read_mjpeg_until(http, &format!("/live/{name}/mjpeg"), until);
    let mut got: Vec<_> = watchers.into_iter().map(|w| w.join().unwrap()).collect();
    got.push(client.join().unwrap());
    let parts = reader.join().unwrap();
    got.push((
        "MJPEG over HTTP",
        parts.into_iter().map(|(_, p)| p).collect(),
    ));
    got
}

/// A server with its HTTP port open, for the acceptance's HTTP reader.
fn server_with_http() -> server::ServerHandle {
    start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    })
}

/// ffmpeg publishes over `transport`; every viewer of [`every_viewer_watches`] watches at
/// once, and gets at least 98% of the frames published while it watched, bit-exact.
fn ffmpeg_publishes(transport: &str) {
    if !have_ffmpeg() {
        return;
    }
    let server = server_with_http();
    let _publisher = FfmpegPublisher::start(&live_url(&server, "cam"), transport);
    let path = wait_for_frames(&server, "cam", 5);
    assert_eq!(path.publisher().transport, transport);
    let source = sample_frames();
    for (who, frames) in every_viewer_watches(&server, "cam", transport, 4) {
        let who = format!("ffmpeg publishing over {transport} to {who}");
        assert_live_delivery(&who, &frames, &source, 50);
    }
    let lost = path
        .counters
        .frames_lost
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(lost, 0, "loopback lost frames of the publisher");
}

#[test]
fn ffmpeg_publishes_over_udp_to_ffmpeg_gstreamer_our_client_and_http() {
    ffmpeg_publishes("udp");
}

#[test]
fn ffmpeg_publishes_over_tcp_to_ffmpeg_gstreamer_our_client_and_http() {
    ffmpeg_publishes("tcp");
}

/// GStreamer's rtspclientsink publishes over TCP (jpegenc's frames, which a tee also writes
/// to files: what the publisher sent); every viewer of [`every_viewer_watches`] watches.
#[test]
fn gstreamer_rtspclientsink_publishes_over_tcp_to_every_viewer() {
    if !peer_available(
        "GStreamer rtspclientsink",
        &["gst-inspect-1.0", "rtspclientsink"],
    ) || !peer_available("GStreamer jpegenc", &["gst-inspect-1.0", "jpegenc"])
        || !have_ffmpeg()
    {
        return;
    }
    let server = server_with_http();
    let url = live_url(&server, "gst");
    let sent = scratch_dir("gst-publisher");
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers=200 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=20/1 ! jpegenc ! tee name=t ! queue ! rtspclientsink location={url} protocols=tcp t. ! queue ! multifilesink location={}/f%05d.jpg",
        sent.display()
    );
    let mut child = Command::new("gst-launch-1.0")
        .args(pipeline.split(' '))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gst-launch-1.0");
    let path = wait_for_frames(&server, "gst", 5);
    assert_eq!(path.publisher().transport, "tcp");
    let viewers = every_viewer_watches(&server, "gst", "tcp", 4);
    // All 200 frames sent (the tee wrote them), rather than gst-launch gone: at the end of
    // the stream rtspclientsink now and then never posts EOS, and gst-launch waits for ever
    // after its BYE. It did so against gst-rtsp-server's own RECORD too (3 of 42 runs by
    // hand, GStreamer 1.22), and more often against ours (7 of 20); the server saw nothing
    // from it after RECORD either way, so the frames it sent are what this test checks.
    let all_sent = wait_until(Duration::from_secs(30), || {
        let written = std::fs::read_dir(&sent).map_or(0, |d| d.count());
        // The last file whole, too: it may be being written when it first shows.
        let last_whole = || {
            read_frames(&sent)
                .last()
                .is_some_and(|f| f.ends_with(&[0xff, 0xd9]))
        };
        child.try_wait().unwrap().is_some() || (written == 200 && last_whole())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(all_sent, "gst-launch did not send its 200 frames");
    let source = read_frames(&sent);
    assert_eq!(
        source.len(),
        200,
        "the frames gst-launch wrote as it sent them"
    );
    for (who, frames) in viewers {
        let who = format!("rtspclientsink publishing over tcp to {who}");
        assert_live_delivery(&who, &frames, &source, 40);
    }
}

/// What an interleaved viewer received until a BYE (or `limit`): its frames, and whether
/// the BYE came.
fn interleaved_until_bye(conn: &mut FramedConn, limit: Duration) -> (Vec<Vec<u8>>, bool) {
    let end = Instant::now() + limit;
    let mut depay = Depacketizer::new(16 << 20);
    let (mut frames, mut bye, mut seen) = (Vec::new(), false, 0);
    while !bye && Instant::now() < end {
        // No response comes: this only collects the `$` frames for a while.
        let _ = conn.read_response(Duration::from_millis(100));
        for (channel, p) in &conn.frames[seen..] {
            if *channel == 0 {
                let p = RtpPacket::parse(p).unwrap();
                frames.extend(depay.push(&p.header, p.payload).frame);
            } else {
                bye |= parse_compound(p)
                    .unwrap()
                    .iter()
                    .any(|p| matches!(p, RtcpPacket::Goodbye { .. }));
            }
        }
        seen = conn.frames.len();
    }
    (frames, bye)
}

/// Hand-made viewers over UDP and TCP get every frame a hand-made publisher sends, bit-exact,
/// and a BYE when it leaves; the path is gone then.
#[test]
fn viewers_get_each_frame_then_bye_when_the_publisher_leaves() {
    let server = start_server(&videos_dir(), |_| {});
    let source = sample_frames();
    for tcp_publisher in [false, true] {
        let mut publisher = TestPublisher::start(&server, "cam", tcp_publisher);
        let mut udp = UdpViewer::start(&server, "cam");
        let mut tcp = FramedConn::connect(server.addr);
        let r = tcp.request(
            "SETUP",
            &format!("{}/trackID=0", live_url(&server, "cam")),
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
        );
        assert_eq!(r.status.0, 200, "{r:?}");
        let tcp_session = session_of(&r);
        let path = server.shared.live.get("cam").unwrap();
        let r = tcp.request(
            "PLAY",
            &live_url(&server, "cam"),
            &[("Session", &tcp_session), ("Scale", "2")],
        );
        assert!(wait_until(Duration::from_secs(5), || path
            .subscribers()
            .len()
            == 2));
        assert_eq!(r.status.0, 200, "{r:?}");
        assert_eq!(r.headers.get("Range"), Some("npt=now-"));
        assert_eq!(
            r.headers.get("Scale"),
            Some("1"),
            "a live path plays at scale 1"
        );
        for n in 0..30 {
            publisher.send_frame(&source, n);
            // Read as the frames come: a socket buffer holds only a few.
            udp.until(Duration::from_millis(5), |_| false);
        }
        assert!(
            udp.until(Duration::from_secs(10), |v| v.frames.len() == 30),
            "UDP viewer: {} frames",
            udp.frames.len()
        );
        assert_eq!(
            match_frames(&udp.frames, &source),
            (0..30).collect::<Vec<_>>()
        );
        // Its own SSRC, and RTP times from its own base with the publisher's spacing.
        let (ssrc, base) = udp.stamps[0];
        assert_ne!(ssrc, publisher.ssrc);
        for (n, &(s, t)) in udp.stamps.iter().enumerate() {
            assert_eq!(
                (s, t.wrapping_sub(base)),
                (ssrc, n as u32 * 4500),
                "frame {n}"
            );
        }
        publisher.teardown();
        assert!(
            udp.until(Duration::from_secs(10), |v| v.bye),
            "the UDP viewer got no BYE"
        );
        // The TCP viewer: 30 frames, then the BYE on the RTCP channel.
        let (frames, bye) = interleaved_until_bye(&mut tcp, Duration::from_secs(10));
        assert_eq!(match_frames(&frames, &source), (0..30).collect::<Vec<_>>());
        assert!(bye, "the TCP viewer got no BYE");
        assert!(wait_until(Duration::from_secs(5), || server
            .shared
            .live
            .get("cam")
            .is_none()));
        let r = RtspConn::connect(server.addr).request("DESCRIBE", &live_url(&server, "cam"), &[]);
        assert_eq!(r.status.0, 404, "nobody publishes any more");
    }
}

/// A viewer joining mid-stream gets whole frames only (frames are handed out whole, so one
/// whose first packets came before the viewer joined reaches it complete); PAUSE stops its
/// frames and PLAY resumes them at the next one.
#[test]
fn a_late_viewer_gets_whole_frames_and_pause_stops_it() {
    let server = start_server(&videos_dir(), |_| {});
    let source = sample_frames();
    let mut publisher = TestPublisher::start(&server, "cam", true);
    publisher.send_frame(&source, 0);
    let packets = publisher.packets(&source[1], 4500, publisher.ssrc);
    let (before, after) = packets.split_at(packets.len() / 2);
    publisher.send_packets(before);
    let path = wait_for_frames(&server, "cam", 1);
    let mut viewer = UdpViewer::start(&server, "cam");
    publisher.send_packets(after);
    for n in 2..6 {
        publisher.send_frame(&source, n);
    }
    assert!(viewer.until(Duration::from_secs(10), |v| v.frames.len() == 5));
    assert_eq!(match_frames(&viewer.frames, &source), [1, 2, 3, 4, 5]);
    let p = &mut viewer.playing;
    let r = p.conn.request("PAUSE", &p.url, &[("Session", &p.session)]);
    assert_eq!(r.status.0, 200, "{r:?}");
    let before = path
        .counters
        .frames_in
        .load(std::sync::atomic::Ordering::Relaxed);
    publisher.send_frame(&source, 6);
    assert!(wait_until(Duration::from_secs(5), || path
        .counters
        .frames_in
        .load(std::sync::atomic::Ordering::Relaxed)
        > before));
    let p = &mut viewer.playing;
    let r = p.conn.request("PLAY", &p.url, &[("Session", &p.session)]);
    assert_eq!(r.status.0, 200, "{r:?}");
    publisher.send_frame(&source, 7);
    assert!(viewer.until(Duration::from_secs(10), |v| v.frames.len() == 6));
    assert_eq!(
        match_frames(&viewer.frames, &source),
        [1, 2, 3, 4, 5, 7],
        "frame 6 came while paused"
    );
}

/// ANNOUNCEs a publisher may send that are refused: what, Content-Type, body, status.
fn bad_announcements() -> Vec<(&'static str, &'static str, String, u16)> {
    let sdp = "application/sdp";
    let h264 = SDP.replace("RTP/AVP 26", "RTP/AVP 96\r\na=rtpmap:96 H264/90000");
    let padding = |n| format!("{SDP}{}", "a=x-padding:0123456789\r\n".repeat(n));
    vec![
        ("garbage SDP", sdp, "this is no SDP".into(), 400),
        (
            "no video",
            sdp,
            "v=0\r\nm=audio 0 RTP/AVP 0\r\n".into(),
            400,
        ),
        ("H.264", sdp, h264, 415),
        ("not SDP", "text/plain", SDP.into(), 415),
        // Over the 16 KiB an SDP may have, and over the 64 KiB any request body may.
        ("huge SDP", sdp, padding(1000), 413),
        ("over the body limit", sdp, padding(4000), 413),
    ]
}

/// Publishers that break the rules get the right status; the path's viewer is unharmed.
/// A second publisher on `url` (taken), and RECORD or SETUP `mode=record` out of their
/// order (RFC 2326 A.2, the server's state machine), are answered 455.
fn assert_out_of_turn_publishing_is_refused(server: &server::ServerHandle, url: &str) {
    let mut c = RtspConn::connect(server.addr);
    let r = announce(&mut c, url, SDP);
    assert_eq!(r.status.0, 455, "a second publisher: {r:?}");
    let r = c.request("RECORD", url, &[]);
    assert_eq!(r.status.0, 455, "RECORD without ANNOUNCE and SETUP: {r:?}");
    let mut c = RtspConn::connect(server.addr);
    let r = c.request(
        "SETUP",
        &format!("{}/streamid=0", live_url(server, "new")),
        &[(
            "Transport",
            "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
        )],
    );
    assert_eq!(r.status.0, 455, "SETUP mode=record without ANNOUNCE: {r:?}");
    let r = announce(&mut c, &live_url(server, "new"), SDP);
    assert_eq!(r.status.0, 200);
    let r = c.request("RECORD", &live_url(server, "new"), &[]);
    assert_eq!(r.status.0, 455, "RECORD without SETUP: {r:?}");
}

#[test]
fn hostile_publishers_get_the_right_status_and_viewers_are_unharmed() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let source = sample_frames();
    let url = live_url(&server, "cam");
    let mut publisher = TestPublisher::start(&server, "cam", false);
    let mut viewer = UdpViewer::start(&server, "cam");
    let mut sent = 0;
    let mut send_one = |publisher: &mut TestPublisher| {
        publisher.send_frame(&source, sent);
        sent += 1;
    };
    send_one(&mut publisher);
    for (what, kind, body, status) in bad_announcements() {
        let mut c = RtspConn::connect(server.addr);
        let r = request_with_body(
            &mut c,
            "ANNOUNCE",
            &live_url(&server, "other"),
            kind,
            body.as_bytes(),
            "",
        );
        assert_eq!(r.status.0, status, "{what}: {r:?}");
        send_one(&mut publisher);
        viewer.until(Duration::from_millis(20), |_| false);
    }
    assert_out_of_turn_publishing_is_refused(&server, &url);
    // RTP with another SSRC, and from another port and another address: ignored, counted.
    let path = server.shared.live.get("cam").unwrap();
    let wrong = publisher.packets(&source[50], 999, 0xdead_beef);
    publisher.send_packets(&wrong);
    let server_rtp = publisher.udp.as_ref().unwrap().1;
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let other_ip = UdpSocket::bind("127.0.0.2:0").unwrap();
    let spoofed = publisher.packets(&source[51], 1999, publisher.ssrc);
    for p in &spoofed {
        stranger.send_to(p, server_rtp).unwrap();
        other_ip.send_to(p, server_rtp).unwrap();
    }
    send_one(&mut publisher);
    let c = &path.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(5), || load(&c.wrong_source)
        == 2 * spoofed.len() as u64));
    assert_eq!(load(&c.wrong_ssrc), wrong.len() as u64);
    assert!(
        viewer.until(Duration::from_secs(10), |v| v.frames.len() == sent),
        "viewer: {} of {sent}",
        viewer.frames.len()
    );
    assert_eq!(
        match_frames(&viewer.frames, &source),
        (0..sent).collect::<Vec<_>>()
    );
    assert_eq!(load(&c.frames_lost), 0);
    let body = support::http::http_get(server.http_addr.unwrap(), "/api/paths").body;
    let paths: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let cam = &paths["paths"][0];
    assert_eq!(cam["name"], "cam");
    assert_eq!(cam["publisher"]["transport"], "udp");
    assert_eq!(cam["viewers"], 1);
    assert_eq!(cam["frames_in"], sent as u64);
    assert_eq!(cam["packets_wrong_ssrc"], wrong.len() as u64);
}

/// --publish-auth: publishing needs those credentials; viewers do not.
#[test]
fn publishing_needs_the_publish_credentials() {
    let server = start_server(&videos_dir(), |c| {
        c.publish_users = vec![("cam".into(), "secret".into())];
    });
    let url = live_url(&server, "cam");
    let mut c = RtspConn::connect(server.addr);
    let r = announce(&mut c, &url, SDP);
    assert_eq!(r.status.0, 401, "{r:?}");
    assert!(r
        .headers
        .get_all("WWW-Authenticate")
        .any(|v| v.starts_with("Digest")));
    // Basic, as the existing --auth allows it.
    let basic = "Authorization: Basic Y2FtOnNlY3JldA==\r\n";
    let r = request_with_body(
        &mut c,
        "ANNOUNCE",
        &url,
        "application/sdp",
        SDP.as_bytes(),
        basic,
    );
    assert_eq!(r.status.0, 200, "{r:?}");
    // A viewer needs no credentials (no --auth).
    let r = RtspConn::connect(server.addr).request("DESCRIBE", &url, &[]);
    assert_eq!(r.status.0, 200, "{r:?}");
}

/// --publish-replace: a second publisher takes the path; the first one's viewers get BYE.
#[test]
fn a_second_publisher_replaces_the_first_with_publish_replace() {
    let server = start_server(&videos_dir(), |c| c.publish_replace = true);
    let source = sample_frames();
    let mut first = TestPublisher::start(&server, "cam", true);
    first.send_frame(&source, 0);
    let mut viewer = UdpViewer::start(&server, "cam");
    let mut second = TestPublisher::start(&server, "cam", true);
    assert!(
        viewer.until(Duration::from_secs(10), |v| v.bye),
        "no BYE for the replaced stream"
    );
    second.send_frame(&source, 1);
    let path = wait_for_frames(&server, "cam", 1);
    assert_eq!(path.publisher().session, second.session);
}

/// A publisher that goes silent: its session times out, the path is freed, viewers get BYE.
#[test]
fn a_silent_publisher_times_out_and_frees_the_path() {
    let server = start_server(&videos_dir(), |c| {
        c.session_timeout = Duration::from_secs(2)
    });
    let source = sample_frames();
    let mut publisher = TestPublisher::start(&server, "cam", false);
    let mut viewer = UdpViewer::start(&server, "cam");
    publisher.send_frame(&source, 0);
    // The viewer keeps its own session alive; the publisher sends nothing more.
    let keepalive = Instant::now();
    let mut freed = false;
    while keepalive.elapsed() < Duration::from_secs(10) && !freed {
        let p = &mut viewer.playing;
        let r = p
            .conn
            .request("GET_PARAMETER", &p.url, &[("Session", &p.session)]);
        assert_eq!(r.status.0, 200);
        freed = wait_until(Duration::from_millis(500), || {
            server.shared.live.get("cam").is_none()
        });
    }
    assert!(freed, "the silent publisher still holds the path");
    assert!(viewer.until(Duration::from_secs(5), |v| v.bye), "no BYE");
    let mut again = TestPublisher::start(&server, "cam", true);
    again.send_frame(&source, 1);
    wait_for_frames(&server, "cam", 1);
}

/// A TCP viewer that never reads drops whole frames; another viewer gets every frame.
#[test]
fn a_slow_viewer_slows_nobody() {
    let server = start_server(&videos_dir(), |_| {});
    let source = sample_frames();
    let mut publisher = TestPublisher::start(&server, "cam", true);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut slow = RtspConn::over(socket.into());
    let track = format!("{}/trackID=0", live_url(&server, "cam"));
    let r = slow.request(
        "SETUP",
        &track,
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    assert_eq!(r.status.0, 200);
    let s = session_of(&r);
    let r = slow.request("PLAY", &live_url(&server, "cam"), &[("Session", &s)]);
    assert_eq!(r.status.0, 200);
    let mut viewer = UdpViewer::start(&server, "cam");
    let frames = 400;
    let started = Instant::now();
    for n in 0..frames {
        publisher.send_frame(&source, n);
        // 500 frames a second: far more than the slow viewer takes, little enough for UDP.
        std::thread::sleep(Duration::from_millis(2));
        viewer.until(Duration::ZERO, |_| true);
    }
    assert!(
        viewer.until(Duration::from_secs(10), |v| v.frames.len() == frames),
        "{} of {frames}",
        viewer.frames.len()
    );
    eprintln!(
        "{frames} frames to the fast viewer in {:?}",
        started.elapsed()
    );
    let path = server.shared.live.get("cam").unwrap();
    let subs = path.subscribers();
    assert!(
        subs.iter().any(|(_, dropped)| *dropped > 0),
        "the slow viewer dropped nothing: {subs:?}"
    );
}

/// A publisher whose relay loses about 1% of its packets: viewers get only whole frames, each
/// bit-exact, and every frame that lost a packet is counted as lost (in /metrics too).
#[test]
fn a_lossy_publisher_drops_frames_never_corrupts_them() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let source = sample_frames();
    let mut publisher = TestPublisher::start(&server, "cam", true);
    let mut viewer = UdpViewer::start(&server, "cam");
    let (mut packets_sent, mut hit) = (0usize, Vec::new());
    for (n, frame) in source.iter().enumerate().take(100) {
        let packets = publisher.packets(frame, n as u32 * 4500, publisher.ssrc);
        // Every 97th packet is lost: about 1%, in every position of a frame over the run.
        let kept: Vec<_> = packets
            .iter()
            .enumerate()
            .filter(|(i, _)| (packets_sent + i) % 97 != 96)
            .map(|(_, p)| p.clone())
            .collect();
        if kept.len() < packets.len() {
            hit.push(n);
        }
        packets_sent += packets.len();
        publisher.send_packets(&kept);
        viewer.until(Duration::from_millis(5), |_| false);
    }
    // One more whole frame: a loss in the last packet of frame 99 shows when it begins.
    publisher.send_frame(&source, 100);
    let whole: Vec<usize> = (0..=100).filter(|n| !hit.contains(n)).collect();
    assert!(!hit.is_empty(), "the relay lost nothing");
    let got = viewer.until(Duration::from_secs(10), |v| v.frames.len() == whole.len());
    assert!(
        got,
        "{} of the {} whole frames",
        viewer.frames.len(),
        whole.len()
    );
    assert_eq!(match_frames(&viewer.frames, &source), whole);
    let path = server.shared.live.get("cam").unwrap();
    let lost = path
        .counters
        .frames_lost
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(lost, hit.len() as u64);
    let metrics = support::http::http_get(server.http_addr.unwrap(), "/metrics").text();
    let line = format!("mjpeg_live_frames_lost_total{{path=\"cam\"}} {lost}");
    assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
}

/// A publisher whose connection just closes: the path is freed and its viewers get BYE.
#[test]
fn a_publisher_that_disconnects_frees_the_path_with_bye() {
    let server = start_server(&videos_dir(), |_| {});
    let source = sample_frames();
    let mut publisher = TestPublisher::start(&server, "cam", false);
    let mut viewer = UdpViewer::start(&server, "cam");
    publisher.send_frame(&source, 0);
    assert!(viewer.until(Duration::from_secs(10), |v| v.frames.len() == 1));
    drop(publisher);
    assert!(viewer.until(Duration::from_secs(10), |v| v.bye), "no BYE");
    assert!(wait_until(Duration::from_secs(5), || {
        server.shared.live.get("cam").is_none()
    }));
}
