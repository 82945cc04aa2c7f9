//! Channels (`--channel NAME=FILE`): a file played on a loop as a live path, on one timeline
//! for every viewer. Two viewers joining 3 s apart see the same frame at the same moment;
//! RTP times go on across loops; RTSP over UDP and TCP, Motion-JPEG over HTTP, our client
//! and ffmpeg (UDP, TCP, the HTTP tunnel) watch it unchanged; nobody publishes over it; `/api/paths` shows it; any container plays.

#[path = "support/live_peer.rs"]
mod live_peer;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use live_peer::*;
use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtp::RtpPacket;
use support::http::{http_get, HttpConn};
use support::*;

/// Frames in the test channel's file: 1.65 s at 20 fps, so 3 s is no whole number of loops.
const CLIP_FRAMES: usize = 33;

/// A videos directory holding `clip.mjpeg` (the sample's first frames, plain concatenated
/// JPEG); the clip's frames.
fn clip_dir(name: &str) -> (PathBuf, Vec<Vec<u8>>) {
    let dir = scratch_dir(name);
    let frames: Vec<Vec<u8>> = sample_frames().into_iter().take(CLIP_FRAMES).collect();
    std::fs::write(dir.join("clip.mjpeg"), frames.concat()).unwrap();
    (dir, frames)
}

fn channel_server(dir: &Path, file: &str) -> server::ServerHandle {
    start_server(dir, |c| {
        c.channels = vec![format!("tv={file}").parse().unwrap()];
        c.http = server::http::HttpListen::Port(0);
    })
}

/// Which frame of `source` each received JPEG is (bit-exact, or the test fails).
fn indices(received: &[Vec<u8>], source: &[Vec<u8>]) -> Vec<usize> {
    match_frames(received, source)
}

/// How far apart two frames of a loop of `n` are, either way round.
fn loop_distance(a: usize, b: usize, n: usize) -> usize {
    let d = a.abs_diff(b);
    d.min(n - d)
}

/// Consecutive frames are the file's next ones, loop after loop (a frame lost on the way
/// may leave a gap of its own).
fn assert_plays_on(who: &str, idx: &[usize], n: usize) {
    let steps = idx.windows(2).filter(|w| w[1] == (w[0] + 1) % n).count();
    assert!(
        steps * 100 >= (idx.len() - 1) * 98,
        "{who}: {steps} of {} steps go to the next frame: {idx:?}",
        idx.len() - 1
    );
}

/// At each moment the second viewer (and the HTTP reader) got a frame (`moments`: who, when,
/// which frame), the first viewer (`a`, its frames' indices `ia`) shows the same one, within one
/// frame. The moments are when the test's own threads read the frames: on a loaded machine a
/// few of them come late, so 95% must be within one frame, and none far off (a viewer on a
/// timeline of its own is off at every moment).
fn assert_same_moments(a: &Seen, ia: &[usize], moments: &[((&str, Instant), usize)]) {
    let shown_by_first = |at: Instant| {
        let last = a
            .frames
            .iter()
            .rposition(|f| f.at <= at)
            .expect("the first viewer was on");
        ia[last]
    };
    let mut apart = Vec::new();
    for ((who, at), index) in moments {
        let theirs = shown_by_first(*at);
        let d = loop_distance(*index, theirs, CLIP_FRAMES);
        assert!(
            d <= 4,
            "at one moment {who} got frame {index}, the first viewer showed {theirs}"
        );
        if d > 1 {
            apart.push((*who, *index, theirs));
        }
    }
    assert!(
        apart.len() * 20 <= moments.len(),
        "of {} moments, {} are more than a frame apart: {apart:?}",
        moments.len(),
        apart.len()
    );
}

/// RTP times go on across the loops: 4500 per frame at 20 fps, never back.
fn assert_rtp_time_follows_the_frames(a: &Seen, ia: &[usize]) {
    assert!(
        ia.windows(2).filter(|w| w[1] < w[0]).count() >= 2,
        "two loops at least"
    );
    for (w, i) in a.frames.windows(2).zip(ia.windows(2)) {
        let step = w[1].rtptime.wrapping_sub(w[0].rtptime);
        let frames = (i[1] + CLIP_FRAMES - i[0]) % CLIP_FRAMES;
        assert_eq!(
            step % 4500,
            0,
            "RTP time steps by whole frames: {step} (frames {i:?})"
        );
        assert_eq!(
            (step / 4500) as usize % CLIP_FRAMES,
            frames,
            "RTP time follows the frames, across loops"
        );
    }
}

#[test]
fn two_viewers_joining_3_s_apart_see_the_same_frame_at_the_same_moment() {
    let (dir, source) = clip_dir("channel-timeline");
    let server = channel_server(&dir, "clip.mjpeg");
    let url = live_url(server.addr, "tv");
    let first = UdpWatcher::start(server.addr, &url);
    let joined = Instant::now();
    // Three seconds of the channel (60 frames at 20 fps) before the second viewer joins.
    assert!(wait_until(Duration::from_secs(15), || first.count() >= 60));
    std::thread::sleep((joined + Duration::from_secs(3)).saturating_duration_since(Instant::now()));
    let second = UdpWatcher::start(server.addr, &url);
    let mut http = HttpConn::connect(server.http_addr.unwrap());
    let r = http.request("GET", "/live/tv/mjpeg", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let mut parts = Vec::new();
    while parts.len() < 40 {
        parts.push(
            http.next_part("mjpegframe")
                .expect("a part of /live/tv/mjpeg"),
        );
    }
    assert!(wait_until(Duration::from_secs(15), || second.count() >= 40));
    let (a, _conn_a) = first.finish();
    let (b, _conn_b) = second.finish();
    assert_eq!(a.lost + b.lost, 0, "loopback lost a packet");
    let ia = indices(
        &a.frames.iter().map(|f| f.jpeg.clone()).collect::<Vec<_>>(),
        &source,
    );
    let ib = indices(
        &b.frames.iter().map(|f| f.jpeg.clone()).collect::<Vec<_>>(),
        &source,
    );
    assert_plays_on("the first viewer", &ia, CLIP_FRAMES);
    assert_plays_on("the second viewer", &ib, CLIP_FRAMES);
    assert!(
        loop_distance(ib[0], 0, CLIP_FRAMES) > 1,
        "the second viewer starts where the channel is ({}), not at the file's start",
        ib[0]
    );
    let http_idx = indices(
        &parts.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
        &source,
    );
    let moments = b
        .frames
        .iter()
        .map(|f| ("the second viewer", f.at))
        .zip(ib.iter().copied());
    let http_moments = parts.iter().map(|(at, _)| ("the HTTP reader", *at));
    let moments: Vec<_> = moments
        .chain(http_moments.zip(http_idx.iter().copied()))
        .collect();
    assert_same_moments(&a, &ia, &moments);
    assert_rtp_time_follows_the_frames(&a, &ia);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An interleaved viewer's frames for about `seconds`.
fn interleaved_frames(addr: std::net::SocketAddr, url: &str, seconds: u64) -> Vec<Vec<u8>> {
    let mut conn = FramedConn::connect(addr);
    let r = conn.request("DESCRIBE", url, &[]);
    assert_eq!(r.status.0, 200, "DESCRIBE: {r:?}");
    let transport = "RTP/AVP/TCP;unicast;interleaved=0-1";
    let r = conn.request(
        "SETUP",
        &format!("{url}/streamid=0"),
        &[("Transport", transport)],
    );
    assert_eq!(r.status.0, 200, "SETUP: {r:?}");
    let session = rtsp_proto::rtsp::Session::parse(r.headers.get("Session").unwrap())
        .unwrap()
        .id;
    let r = conn.request("PLAY", url, &[("Session", &session)]);
    assert_eq!(r.status.0, 200, "PLAY: {r:?}");
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        // No response comes: this only collects the `$` frames for a while.
        let _ = conn.read_response(Duration::from_millis(100));
    }
    let mut depay = Depacketizer::new(16 << 20);
    let rtp = conn.frames.iter().filter(|(channel, _)| *channel == 0);
    rtp.filter_map(|(_, p)| {
        let p = RtpPacket::parse(p).unwrap();
        depay.push(&p.header, p.payload).frame
    })
    .collect()
}

#[test]
fn a_channel_plays_over_tcp_http_and_to_ffmpeg_and_nobody_publishes_over_it() {
    let (dir, source) = clip_dir("channel-outputs");
    let server = start_server(&dir, |c| {
        c.channels = vec!["tv=clip.mjpeg".parse().unwrap()];
        c.http = server::http::HttpListen::Port(0);
        // Not even a publisher that could replace others.
        c.publish_replace = true;
    });
    let http = server.http_addr.unwrap();
    let url = live_url(server.addr, "tv");
    let tcp = interleaved_frames(server.addr, &url, 2);
    assert!(tcp.len() >= 20, "{} frames over TCP in 2 s", tcp.len());
    assert_plays_on("the TCP viewer", &indices(&tcp, &source), CLIP_FRAMES);
    // Motion-JPEG over HTTP: each part is the file's JPEG, byte for byte.
    let mut reader = HttpConn::connect(http);
    let r = reader.request("GET", "/live/tv/mjpeg", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    for n in 0..20 {
        let (_, part) = reader.next_part("mjpegframe").expect("a part");
        assert!(source.contains(&part), "part {n} is no frame of the file");
    }
    drop(reader);
    // Nobody publishes over a channel: 455, as for a taken path.
    let mut conn = RtspConn::connect(server.addr);
    let r = announce(&mut conn, &url, JPEG_SDP);
    assert_eq!(r.status.0, 455, "ANNOUNCE over a channel: {r:?}");
    let paths: serde_json::Value =
        serde_json::from_str(&http_get(http, "/api/paths").text()).unwrap();
    let tv = &paths["paths"][0];
    assert_eq!(tv["name"], "tv");
    assert_eq!(tv["publisher"]["kind"], "channel");
    assert_eq!(tv["publisher"]["file"], "clip.mjpeg");
    assert!(tv["frames_in"].as_u64().unwrap() >= 40, "{tv}");
    let metrics = http_get(http, "/metrics").text();
    assert!(metrics.contains("mjpeg_live_paths 1"), "{metrics}");
    // Nobody behind: a plain 0, never the "-0" of an empty float sum.
    let dropped = r#"mjpeg_live_viewer_frames_dropped{path="tv"} 0"#;
    assert!(metrics.lines().any(|l| l == dropped), "{metrics}");
    // Our own client, recording what it receives.
    let rec = dir.join("client-rec.part");
    let mut opts = client::Options::for_url(&url).unwrap();
    opts.record = Some(rec.clone());
    opts.duration = Some(2.0);
    client::headless::run(&opts).unwrap();
    let got = read_plain_mjpeg(&rec);
    assert!(got.len() >= 20, "our client: {} frames", got.len());
    assert_plays_on("our client", &indices(&got, &source), CLIP_FRAMES);
    if !have_ffmpeg() {
        return;
    }
    // ffmpeg over TCP, UDP and the HTTP tunnel.
    for transport in ["tcp", "udp", "http"] {
        let frames = ffmpeg_plays_url(&url, transport, 2);
        assert!(
            frames.len() >= 20,
            "ffmpeg over {transport}: {} frames",
            frames.len()
        );
        assert_plays_on(
            &format!("ffmpeg over {transport}"),
            &indices(&frames, &source),
            CLIP_FRAMES,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The clip, put in an AVI at 25 fps by ffmpeg (frames copied as they are).
fn avi_clip(dir: &Path) -> PathBuf {
    let avi = dir.join("clip.avi");
    let o = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "mjpeg",
            "-framerate",
            "25",
            "-i",
        ])
        .arg(dir.join("clip.mjpeg"))
        .args(["-c:v", "copy", "-r", "25"])
        .arg(&avi)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    avi
}

#[test]
fn a_channel_plays_any_container_at_its_own_rate_and_a_bad_file_is_named() {
    let (dir, source) = clip_dir("channel-avi");
    let bad = server::Server::bind(server::Config {
        bind: ([127, 0, 0, 1], 0).into(),
        videos: dir.clone(),
        channels: vec!["tv=missing.mjpeg".parse().unwrap()],
        ..server::Config::default()
    });
    let e = bad.err().expect("a channel without its file");
    assert!(e.to_string().contains("--channel tv="), "{e}");
    if !have_ffmpeg() {
        return;
    }
    avi_clip(&dir);
    let server = channel_server(&dir, "clip.avi");
    let url = live_url(server.addr, "tv");
    let mut conn = RtspConn::connect(server.addr);
    let r = conn.request("DESCRIBE", &url, &[]);
    let sdp = String::from_utf8_lossy(&r.body).into_owned();
    assert!(sdp.contains("a=framerate:25"), "{sdp}");
    let viewer = UdpWatcher::start(server.addr, &url);
    assert!(wait_until(Duration::from_secs(15), || viewer.count() >= 30));
    let (seen, _) = viewer.finish();
    let idx = indices(
        &seen
            .frames
            .iter()
            .map(|f| f.jpeg.clone())
            .collect::<Vec<_>>(),
        &source,
    );
    assert_plays_on("the AVI channel's viewer", &idx, CLIP_FRAMES);
    for w in seen.frames.windows(2) {
        assert_eq!(
            w[1].rtptime.wrapping_sub(w[0].rtptime) % 3600,
            0,
            "25 fps: 3600 a frame"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
