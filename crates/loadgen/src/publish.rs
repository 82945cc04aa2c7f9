//! `loadgen publish`: a live source for the fan-out benchmark. It publishes a file's frames
//! on a loop to an rtsp://.../live/NAME path (ANNOUNCE with RFC 2435 JPEG, SETUP
//! `mode=record` over UDP, RECORD), as a camera does: each frame's packets at its absolute
//! deadline (`start + n / fps`), never `sleep(period)`, so the rate does not drift and a late
//! wake-up shows as lateness, not as fewer frames. RTP time runs 90000 / fps a frame, so a
//! viewer's frames missing show as gaps in it ([`crate::count::SessionCount::frames_missing`]).
//! The packets are cut once, up front, by the floor's own preparation. The publisher's RTP
//! keeps its session alive, so no keep-alive request is needed.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN};
use rtsp_proto::rtsp::{Session, Transport};

use crate::rtsp::Rtsp;

/// What `loadgen publish` sends.
pub struct PublishPlan<'a> {
    /// rtsp://HOST:PORT/live/NAME
    pub url: &'a str,
    /// The .mjpeg file whose frames are sent, on a loop.
    pub file: &'a Path,
    /// Frames per second.
    pub fps: f64,
    /// Seconds to publish; 0 for as long as the process runs.
    pub seconds: u64,
}

/// The SDP a publisher announces: one JPEG video stream (payload type 26, RFC 3551).
const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=loadgen\r\nc=IN IP4 127.0.0.1\r\n\
    t=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";

/// ANNOUNCE, SETUP over UDP, RECORD; gives the connection (kept open: closing it ends the
/// publishing), the RTP socket and the server's RTP address.
fn start(url: &str) -> anyhow::Result<(Rtsp, UdpSocket, SocketAddr)> {
    let addr = crate::setup::server_address(url)?;
    let mut conn = Rtsp::connect(addr)?;
    let sdp = Some(("application/sdp", SDP.as_bytes()));
    let r = conn.request_with_body("ANNOUNCE", url, &[], sdp)?;
    anyhow::ensure!(r.status.is_success(), "ANNOUNCE: {}", r.status);
    let socket = UdpSocket::bind((addr.ip(), 0)).context("binding the RTP socket")?;
    let port = socket.local_addr()?.port();
    let transport = format!(
        "RTP/AVP;unicast;client_port={port}-{};mode=record",
        port + 1
    );
    let track = format!("{}/streamid=0", url.trim_end_matches('/'));
    let r = conn.request("SETUP", &track, &[("Transport", &transport)])?;
    anyhow::ensure!(r.status.is_success(), "SETUP: {}", r.status);
    let session = Session::parse(r.headers.get("Session").context("SETUP: no Session")?)?.id;
    let t = Transport::parse(r.headers.get("Transport").context("SETUP: no Transport")?)?;
    let server_rtp = t.server_port.context("SETUP: no server_port")?.rtp;
    let r = conn.request("RECORD", url, &[("Session", &session)])?;
    anyhow::ensure!(r.status.is_success(), "RECORD: {}", r.status);
    Ok((conn, socket, SocketAddr::new(addr.ip(), server_rtp)))
}

/// `loadgen publish`: publishes until `plan.seconds` pass, then prints what it sent and how
/// late its worst frame left.
pub fn publish(plan: &PublishPlan) -> anyhow::Result<()> {
    let frames = crate::floor::prepare_frames(plan.file)?;
    anyhow::ensure!(!frames.is_empty(), "{} holds no frame", plan.file.display());
    let (_conn, socket, to) = start(plan.url)?;
    eprintln!(
        "publishing {} at {} fps to {}",
        plan.file.display(),
        plan.fps,
        plan.url
    );
    let period = Duration::from_secs_f64(1.0 / plan.fps);
    let ticks = (90_000.0 / plan.fps).round() as u32;
    let end = (plan.seconds > 0).then(|| Instant::now() + Duration::from_secs(plan.seconds));
    let (start, mut seq, mut packet) = (Instant::now(), 0u16, Vec::with_capacity(1500));
    let (mut n, mut worst_late) = (0u32, Duration::ZERO);
    while end.is_none_or(|e| Instant::now() < e) {
        let due = start + period * n;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        worst_late = worst_late.max(Instant::now().saturating_duration_since(due));
        let frame = &frames[n as usize % frames.len()];
        for (i, p) in frame.iter().enumerate() {
            packet.clear();
            packet.extend_from_slice(&p.head);
            packet.extend_from_slice(&p.body);
            RtpHeader {
                marker: i + 1 == frame.len(),
                payload_type: 26,
                sequence_number: seq,
                timestamp: n.wrapping_mul(ticks),
                ssrc: 0x10ad_9e11,
            }
            .write((&mut packet[..FIXED_HEADER_LEN]).try_into()?);
            socket.send_to(&packet, to).context("sending RTP")?;
            seq = seq.wrapping_add(1);
        }
        n += 1;
    }
    println!(
        "published {n} frames ({seq} packets, modulo 65536) in {:.1} s; worst send {:.1} ms after its deadline",
        start.elapsed().as_secs_f64(),
        worst_late.as_secs_f64() * 1000.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// Against our server in-process: the path appears, its frames come in whole (none lost)
    /// at the rate asked, and it is freed when the publisher is done.
    #[test]
    fn publishes_a_file_on_a_live_path_at_its_rate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = server::Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            videos: root.join("videos"),
            ..server::Config::default()
        };
        let server = server::Server::bind(config).unwrap().spawn().unwrap();
        let url = format!("rtsp://{}/live/cam", server.addr);
        let file = root.join("videos/video.mjpeg");
        let publishing = std::thread::spawn(move || {
            publish(&PublishPlan {
                url: &url,
                file: &file,
                fps: 50.0,
                seconds: 2,
            })
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let frames_in = || {
            let path = server.shared.live.get("cam")?;
            Some(path.counters.frames_in.load(Ordering::Relaxed))
        };
        while frames_in().unwrap_or(0) < 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let path = server
            .shared
            .live
            .get("cam")
            .expect("the path is published");
        assert!(
            frames_in().unwrap_or(0) >= 20,
            "{:?} frames in",
            frames_in()
        );
        publishing.join().unwrap().unwrap();
        let (got, lost) = (
            path.counters.frames_in.load(Ordering::Relaxed),
            path.counters.frames_lost.load(Ordering::Relaxed),
        );
        // 100 frames in 2 s at 50 fps; a busy machine may take the last ones late.
        assert!((90..=101).contains(&got), "{got} frames in");
        assert_eq!(lost, 0);
        while server.shared.live.get("cam").is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            server.shared.live.get("cam").is_none(),
            "the path is not freed"
        );
    }
}
