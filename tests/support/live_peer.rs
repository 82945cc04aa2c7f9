//! Peers of live paths for the channel, linger and recording tests: a publisher that sends
//! JPEGs it is given over interleaved TCP (ANNOUNCE / SETUP mode=record / RECORD, as ffmpeg
//! does), and a UDP viewer on a thread of its own that notes when each frame arrived.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::{fragments, Depacketizer, JpegInfo};
use rtsp_proto::rtcp::{parse_compound, RtcpPacket};
use rtsp_proto::rtp::{RtpHeader, RtpPacket, FIXED_HEADER_LEN};

use crate::support::{describe_setup_play, RtspConn};

/// The SDP a JPEG publisher announces (ffmpeg's, for `-c:v mjpeg -f rtsp`).
pub const JPEG_SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\n\
    t=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";

/// `rtsp://ADDR/live/NAME`.
pub fn live_url(addr: SocketAddr, name: &str) -> String {
    format!("rtsp://{addr}/live/{name}")
}

/// ANNOUNCE of `sdp` on `url`: the response.
pub fn announce(conn: &mut RtspConn, url: &str, sdp: &str) -> rtsp_proto::rtsp::Response {
    conn.cseq += 1;
    let head = format!(
        "ANNOUNCE {url} RTSP/1.0\r\nCSeq: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
        conn.cseq,
        sdp.len()
    );
    conn.send_raw(&[head.as_bytes(), sdp.as_bytes()].concat());
    conn.read_response()
}

/// The session id of a SETUP's answer, which must be 200.
pub fn session_id(r: &rtsp_proto::rtsp::Response) -> String {
    assert_eq!(r.status.0, 200, "SETUP: {r:?}");
    let header = r.headers.get("Session").expect("a Session header");
    rtsp_proto::rtsp::Session::parse(header).unwrap().id
}

/// A publisher over interleaved TCP, its own SSRC and RTP clock.
pub struct LivePublisher {
    pub conn: RtspConn,
    session: String,
    url: String,
    pub ssrc: u32,
    seq: u16,
    /// Added to every RTP time it sends: publishers' clocks start anywhere.
    pub clock_base: u32,
}

impl LivePublisher {
    /// ANNOUNCE, SETUP and RECORD on `/live/NAME`, each answered 200.
    pub fn start(addr: SocketAddr, name: &str, ssrc: u32, clock_base: u32) -> LivePublisher {
        let url = live_url(addr, name);
        let mut conn = RtspConn::connect(addr);
        let r = announce(&mut conn, &url, JPEG_SDP);
        assert_eq!(r.status.0, 200, "ANNOUNCE: {r:?}");
        let transport = [(
            "Transport",
            "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record",
        )];
        let session = session_id(&conn.request("SETUP", &format!("{url}/streamid=0"), &transport));
        let r = conn.request("RECORD", &url, &[("Session", &session)]);
        assert_eq!(r.status.0, 200, "RECORD: {r:?}");
        LivePublisher {
            conn,
            session,
            url,
            ssrc,
            seq: ssrc as u16,
            clock_base,
        }
    }

    /// Sends `jpeg` (RFC 2435, tables in band) at RTP time `clock_base + rtptime`.
    pub fn send(&mut self, jpeg: &[u8], rtptime: u32) {
        let info = JpegInfo::parse(jpeg).unwrap();
        let params = info.rfc2435().unwrap();
        let mut out = Vec::new();
        for f in fragments(&params, &jpeg[info.scan_data.start..info.len], 1400) {
            let mut head = [0u8; FIXED_HEADER_LEN];
            RtpHeader {
                marker: f.last,
                payload_type: 26,
                sequence_number: self.seq,
                timestamp: self.clock_base.wrapping_add(rtptime),
                ssrc: self.ssrc,
            }
            .write(&mut head);
            self.seq = self.seq.wrapping_add(1);
            let packet = [&head[..], f.header(), f.data].concat();
            rtsp_proto::interleaved::write(0, &[&packet], &mut out).unwrap();
        }
        self.conn.send_raw(&out);
    }

    /// Sends `frames` at `fps` in real time (frame `i` due `i / fps` after the first, RTP
    /// time `i * 90000 / fps`).
    pub fn send_paced(&mut self, frames: &[Vec<u8>], fps: f64) {
        let start = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            let due = start + Duration::from_secs_f64(i as f64 / fps);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            self.send(f, (i as f64 * 90_000.0 / fps) as u32);
        }
    }

    /// TEARDOWN, answered 200.
    pub fn teardown(mut self) {
        let r = self
            .conn
            .request("TEARDOWN", &self.url, &[("Session", &self.session)]);
        assert_eq!(r.status.0, 200, "TEARDOWN: {r:?}");
    }
}

/// One frame a viewer received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub jpeg: Vec<u8>,
    pub ssrc: u32,
    /// The first and last packets' sequence numbers.
    pub seq: (u16, u16),
    pub rtptime: u32,
}

/// What a [`UdpWatcher`] saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub frames: Vec<Received>,
    /// When an RTCP BYE came, if one did.
    pub bye: Option<Instant>,
    /// Fragments the depacketizer found missing (loopback should lose none).
    pub lost: usize,
}

/// A viewer over UDP (DESCRIBE, SETUP, PLAY) reading on a thread of its own until stopped
/// or the server's BYE.
pub struct UdpWatcher {
    pub seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RtspConn>>,
}

impl UdpWatcher {
    pub fn start(addr: SocketAddr, url: &str) -> UdpWatcher {
        let playing = describe_setup_play(addr, url);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_in, stop_in) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let timeout = Some(Duration::from_millis(20));
            playing.rtp.set_read_timeout(timeout).unwrap();
            playing.rtcp.set_nonblocking(true).unwrap();
            let mut depay = Depacketizer::new(16 << 20);
            let mut buf = vec![0u8; 65536];
            let mut first_seq = None;
            while !stop_in.load(Ordering::SeqCst) {
                if let Ok(n) = playing.rtcp.recv(&mut buf) {
                    let bye = parse_compound(&buf[..n])
                        .unwrap()
                        .iter()
                        .any(|p| matches!(p, RtcpPacket::Goodbye { .. }));
                    if bye {
                        seen_in.lock().unwrap().bye = Some(Instant::now());
                        break;
                    }
                }
                let Ok(n) = playing.rtp.recv(&mut buf) else {
                    continue;
                };
                let at = Instant::now();
                let p = RtpPacket::parse(&buf[..n]).unwrap();
                let seq = *first_seq.get_or_insert(p.header.sequence_number);
                let event = depay.push(&p.header, p.payload);
                let mut seen = seen_in.lock().unwrap();
                seen.lost += event.dropped.len();
                if event.frame.is_some() || !event.dropped.is_empty() {
                    first_seq = None;
                }
                if let Some(jpeg) = event.frame {
                    seen.frames.push(Received {
                        at,
                        jpeg,
                        ssrc: p.header.ssrc,
                        seq: (seq, p.header.sequence_number),
                        rtptime: p.header.timestamp,
                    });
                }
            }
            playing.conn
        });
        UdpWatcher {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Frames received so far.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().frames.len()
    }

    /// Whether the server's BYE came.
    pub fn got_bye(&self) -> bool {
        self.seen.lock().unwrap().bye.is_some()
    }

    /// Stops reading; what was seen, and the RTSP connection (still open).
    pub fn finish(mut self) -> (Seen, RtspConn) {
        self.stop.store(true, Ordering::SeqCst);
        let conn = self.thread.take().unwrap().join().unwrap();
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        (seen, conn)
    }
}

impl Drop for UdpWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
