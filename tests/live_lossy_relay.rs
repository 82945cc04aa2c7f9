//! A real publisher through a lossy relay. ffmpeg encodes the sample (`-c:v mjpeg -huffman
//! default`, as a camera or an encoder would send it) and publishes it over TCP through a relay
//! in this test that drops every 97th RTP packet (about 1%), each wherever it falls in its
//! frame. Viewers (ffmpeg over RTSP/TCP, a reader of Motion-JPEG over HTTP) must get only
//! whole frames, each byte-equal in its scan data to a frame of the same encoding written to a
//! file; the server must count as lost each frame the relay hit, and the viewers get the rest.

mod support;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::live::live_url;
use support::*;

/// One RTP packet in this many is dropped.
const DROP_EVERY: usize = 97;
/// ffmpeg's encoding, for the publisher and for the reference file alike.
const ENCODE: &[&str] = &["-c:v", "mjpeg", "-huffman", "default", "-q:v", "5"];
/// The longest the relay waits for a byte from either side.
const READ_DEADLINE: Duration = Duration::from_secs(20);

/// What the relay dropped: the frames of the packets it did not forward, by their index in
/// the publisher's stream (ffmpeg's RTP times go 4500 ticks a frame, at 90 kHz and 20 fps,
/// from the first packet's).
type Hits = BTreeSet<usize>;

/// RTP ticks from one frame to the next at 20 fps.
const TICKS_PER_FRAME: u32 = 90_000 / 20;

/// A TCP relay in front of the server for one RTSP connection: requests and their bodies go
/// through as they are, `$` frames of channel 0 (RTP) too, but every [`DROP_EVERY`]th.
fn lossy_relay(server: SocketAddr) -> (SocketAddr, JoinHandle<Hits>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut accepted = None;
        assert!(
            wait_until(READ_DEADLINE, || {
                accepted = listener.accept().ok();
                accepted.is_some()
            }),
            "the publisher never connected to the relay"
        );
        let (from, _) = accepted.unwrap();
        from.set_nonblocking(false).unwrap();
        let to = TcpStream::connect(server).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let back = copy_back(
            to.try_clone().unwrap(),
            from.try_clone().unwrap(),
            done.clone(),
        );
        let hits = forward(from, &to);
        done.store(true, Ordering::SeqCst);
        let _ = to.shutdown(Shutdown::Both);
        back.join().unwrap();
        hits
    });
    (addr, relay)
}

/// The server's answers back to the publisher, untouched, until `done`.
fn copy_back(mut from: TcpStream, mut to: TcpStream, done: Arc<AtomicBool>) -> JoinHandle<()> {
    from.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !done.load(Ordering::SeqCst) {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    })
}

/// The publisher's bytes to the server, message by message, until the publisher closes.
fn forward(mut from: TcpStream, mut to: &TcpStream) -> Hits {
    from.set_read_timeout(Some(READ_DEADLINE)).unwrap();
    let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 65536]);
    let (mut rtp_packets, mut hits, mut first) = (0usize, Hits::new(), None);
    loop {
        while let Some(len) = next_message(&buf) {
            let message: Vec<u8> = buf.drain(..len).collect();
            let rtp = message[0] == b'$' && message[1] == 0 && message.len() >= 12;
            if rtp {
                rtp_packets += 1;
                // The packet's RTP timestamp: bytes 4..8 of the RTP header, after `$`, the
                // channel and the length.
                let time = u32::from_be_bytes(message[8..12].try_into().unwrap());
                let first = *first.get_or_insert(time);
                if rtp_packets % DROP_EVERY == 0 {
                    hits.insert((time.wrapping_sub(first) / TICKS_PER_FRAME) as usize);
                    continue;
                }
            }
            if to.write_all(&message).is_err() {
                return hits;
            }
        }
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => return hits,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The length of the whole message `buf` starts with: a `$` frame (RFC 2326 10.12) or a request
/// with its `Content-Length` body; `None` until it is all there.
fn next_message(buf: &[u8]) -> Option<usize> {
    if buf.first() == Some(&b'$') {
        let len = usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]));
        return (buf.len() >= 4 + len).then_some(4 + len);
    }
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]);
    let body: usize = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.trim().parse().unwrap());
    (buf.len() >= head + body).then_some(head + body)
}

/// ffmpeg encoding the sample with [`ENCODE`] to `out` (`-f mjpeg`, or `-f rtsp` over TCP);
/// killed when dropped.
struct Ffmpeg(Child);

impl Ffmpeg {
    fn encode(realtime: bool, format: &[&str], out: &str) -> Ffmpeg {
        let video = videos_dir().join("video.mjpeg");
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
        if realtime {
            cmd.arg("-re");
        }
        cmd.args(["-f", "mjpeg", "-framerate", "20", "-i"])
            .arg(&video)
            .args(["-threads", "1"])
            .args(ENCODE)
            .args(format)
            .args(["-y", out])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        Ffmpeg(cmd.spawn().expect("start ffmpeg"))
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reference: the same encoding of the whole sample, to a file.
fn reference_frames() -> Vec<Vec<u8>> {
    let out = scratch_dir("lossy-reference").join("ref.mjpeg");
    let mut ffmpeg = Ffmpeg::encode(false, &["-f", "mjpeg"], out.to_str().unwrap());
    let status = ffmpeg.0.wait().unwrap();
    assert!(status.success(), "ffmpeg's reference encoding: {status}");
    let frames = read_plain_mjpeg(&out);
    assert_eq!(
        frames.len(),
        sample_frames().len(),
        "the reference encoding"
    );
    frames
}

/// Every frame `who` received is a frame of the reference, whole and bit-exact, in order, and
/// it has most of those the server got whole while it watched (1% of the packets lost is
/// about one frame in ten).
fn assert_whole_frames(who: &str, received: &[Vec<u8>], reference: &[Vec<u8>], hit: &[usize]) {
    let idx = match_frames(received, reference);
    assert!(idx.len() >= 40, "{who}: only {} frames", idx.len());
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "{who}: out of order: {idx:?}"
    );
    let got_hit: Vec<_> = idx.iter().filter(|i| hit.contains(i)).collect();
    assert!(
        got_hit.is_empty(),
        "{who} got frames the relay broke: {got_hit:?}"
    );
    let (first, last) = (idx[0], *idx.last().unwrap());
    let whole = (first..=last).filter(|i| !hit.contains(i)).count();
    eprintln!(
        "{who}: {} of the {whole} whole frames between its first and last",
        idx.len()
    );
    assert!(
        idx.len() * 100 >= whole * 98,
        "{who}: {} of {whole}",
        idx.len()
    );
}

#[test]
fn ffmpeg_through_a_lossy_relay_viewers_get_only_whole_frames() {
    if !have_ffmpeg() {
        return;
    }
    let reference = reference_frames();
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let (relay, relayed) = lossy_relay(server.addr);
    let url = format!("rtsp://{relay}/live/cam");
    let publisher = Ffmpeg::encode(true, &["-f", "rtsp", "-rtsp_transport", "tcp"], &url);
    let mut path = None;
    let publishing = wait_until(Duration::from_secs(20), || {
        path = server.shared.live.get("cam");
        path.as_ref()
            .is_some_and(|p| p.counters.frames_in.load(Ordering::Relaxed) >= 5)
    });
    assert!(publishing, "ffmpeg published nothing through the relay");
    let path = path.unwrap();

    let viewer_url = live_url(&server, "cam");
    let ffmpeg_viewer = std::thread::spawn(move || ffmpeg_plays_url(&viewer_url, "tcp", 5));
    let until = Instant::now() + Duration::from_secs(5);
    let http = server.http_addr.unwrap();
    let reader = support::http::read_mjpeg_until(http, "/live/cam/mjpeg", until);
    let watched = ffmpeg_viewer.join().unwrap();
    let read: Vec<Vec<u8>> = reader.join().unwrap().into_iter().map(|(_, p)| p).collect();
    drop(publisher);
    let hits = relayed.join().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || path.is_ended()),
        "the path outlived its publisher"
    );

    let in_total = path.counters.frames_in.load(Ordering::Relaxed);
    let lost = path.counters.frames_lost.load(Ordering::Relaxed);
    eprintln!(
        "relay: {} frames hit; server: {in_total} whole, {lost} lost",
        hits.len()
    );
    assert!(hits.len() >= 3, "the relay dropped too little: {hits:?}");
    // A hit on the frame ffmpeg was cut off in may go unseen; every other is counted.
    assert!(
        lost as usize == hits.len() || lost as usize + 1 == hits.len(),
        "{lost} frames counted lost, {} hit",
        hits.len()
    );
    let hit: Vec<usize> = hits.into_iter().collect();
    assert_whole_frames("ffmpeg watching over TCP", &watched, &reference, &hit);
    assert_whole_frames("MJPEG over HTTP", &read, &reference, &hit);
}
