//! Test doubles of servers, for what real servers cannot be made to do on demand:
//! - [`start_lab_double`]: the classic lab's Python server, written from the facts in
//!   DESIGN.md (no reply to OPTIONS, replies without a blank line, whole JPEGs in datagrams
//!   numbered from 1, Unix-seconds timestamps, SSRC 0, a frame every 50 ms).
//! - [`start_standard_double`]: a minimal standard RTSP server that sends chosen frames as
//!   RFC 2435 packets and can drop chosen packets, so a test knows exactly what was lost.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtsp_proto::jpeg::{fragments, JpegInfo, MAX_PACKET};
use rtsp_proto::rtp::RtpHeader;
use rtsp_proto::rtsp::{self, Limits, Parsed, Response, StatusCode, Transport};

/// A double running on its own threads; stops when dropped.
pub struct Double {
    pub addr: SocketAddr,
    /// Every request line received, in order (the lab double logs whole requests).
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Double {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn listen() -> (
    TcpListener,
    SocketAddr,
    Arc<AtomicBool>,
    Arc<Mutex<Vec<String>>>,
) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (
        l,
        addr,
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Vec::new())),
    )
}

/// The lab's server: one client, its requests read as the lab reads them (one `recv(256)` per
/// request, fields picked by line and by space).
pub fn start_lab_double(frames: Vec<Vec<u8>>) -> Double {
    let (listener, addr, stop, requests) = listen();
    let (stop2, log) = (stop.clone(), requests.clone());
    std::thread::spawn(move || {
        let Ok((mut conn, peer)) = listener.accept() else {
            return;
        };
        if stop2.load(Ordering::SeqCst) {
            return;
        }
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let playing = Arc::new(AtomicBool::new(false));
        let mut rtp_port: Option<u16> = None;
        let mut sender_started = false;
        let session = 123456;
        let mut buf = [0u8; 256];
        while !stop2.load(Ordering::SeqCst) {
            let n = match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => continue,
            };
            let data = String::from_utf8_lossy(&buf[..n]).to_string();
            log.lock().unwrap().push(data.clone());
            let request: Vec<&str> = data.split('\n').collect();
            let line1: Vec<&str> = request[0].split(' ').collect();
            let kind = line1[0];
            let Some(seq) = request.get(1).and_then(|l| l.split(' ').nth(1)) else {
                continue;
            };
            let reply = format!("RTSP/1.0 200 OK\nCSeq: {seq}\nSession: {session}");
            match kind {
                "SETUP" => {
                    // The lab takes the port as the 4th space-separated field of line 3.
                    let port = request[2]
                        .split(' ')
                        .nth(3)
                        .expect("lab Transport line shape");
                    rtp_port = Some(port.trim().parse().expect("lab client_port"));
                    conn.write_all(reply.as_bytes()).unwrap();
                }
                "PLAY" => {
                    conn.write_all(reply.as_bytes()).unwrap();
                    playing.store(true, Ordering::SeqCst);
                    if !sender_started {
                        sender_started = true;
                        let dest = SocketAddr::new(peer.ip(), rtp_port.expect("SETUP first"));
                        let (playing, frames, stop) =
                            (playing.clone(), frames.clone(), stop2.clone());
                        std::thread::spawn(move || lab_send(dest, frames, playing, stop));
                    }
                }
                "PAUSE" => {
                    playing.store(false, Ordering::SeqCst);
                    conn.write_all(reply.as_bytes()).unwrap();
                }
                "TEARDOWN" => {
                    playing.store(false, Ordering::SeqCst);
                    conn.write_all(reply.as_bytes()).unwrap();
                }
                _ => {} // OPTIONS, DESCRIBE: the lab's server says nothing at all.
            }
        }
        playing.store(false, Ordering::SeqCst);
    });
    Double {
        addr,
        requests,
        stop,
    }
}

fn lab_send(
    dest: SocketAddr,
    frames: Vec<Vec<u8>>,
    playing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut frame_nbr: u16 = 0;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        if !playing.load(Ordering::SeqCst) {
            continue;
        }
        let Some(jpeg) = frames.get(frame_nbr as usize) else {
            continue;
        };
        frame_nbr += 1;
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let mut fixed = [0u8; 12];
        RtpHeader {
            marker: false,
            payload_type: 26,
            sequence_number: frame_nbr,
            timestamp: unix,
            ssrc: 0,
        }
        .write(&mut fixed);
        let _ = sock.send_to(&[&fixed[..], jpeg].concat(), dest);
    }
}

/// What the standard double does.
#[derive(Clone, Default)]
pub struct StandardDoubleConfig {
    /// Packet numbers (0 = the first RTP packet sent) never sent.
    pub drop_packets: HashSet<usize>,
    /// Send no RTP over UDP (as if a firewall dropped it), though every request succeeds;
    /// RTP interleaved over TCP still flows.
    pub black_hole: bool,
}

/// A minimal standard RTSP server sending `frames` at 20 fps once, then nothing.
pub fn start_standard_double(frames: Vec<Vec<u8>>, config: StandardDoubleConfig) -> Double {
    let (listener, addr, stop, requests) = listen();
    let (stop2, log) = (stop.clone(), requests.clone());
    std::thread::spawn(move || {
        let Ok((conn, peer)) = listener.accept() else {
            return;
        };
        if stop2.load(Ordering::SeqCst) {
            return;
        }
        standard_conn(conn, peer, addr, frames, config, stop2, log);
    });
    Double {
        addr,
        requests,
        stop,
    }
}

/// The standard double's DESCRIBE answer: one JPEG track of `frames` frames at 20 fps.
fn describe(r: &mut Response, addr: SocketAddr, frames: usize) {
    let d = rtsp_proto::sdp::MediaDescription {
        session_id: 1,
        name: "double".into(),
        origin_address: "127.0.0.1".into(),
        framerate: 20.0,
        duration: Some(frames as f64 / 20.0),
        track_control: "track1".into(),
        dimensions: None,
    };
    r.headers
        .append("Content-Base", format!("rtsp://{addr}/double/"));
    r.headers.append("Content-Type", "application/sdp");
    r.body = d.to_sdp().into_bytes();
}

fn standard_conn(
    mut conn: TcpStream,
    peer: SocketAddr,
    addr: SocketAddr,
    frames: Vec<Vec<u8>>,
    config: StandardDoubleConfig,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
) {
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = Vec::new();
    let mut dest: Option<Dest> = None;
    let playing = Arc::new(AtomicBool::new(false));
    let mut started = false;
    while !stop.load(Ordering::SeqCst) {
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        while let Ok(Parsed::Complete(req, used)) = rtsp::parse_request(&buf, &Limits::default()) {
            buf.drain(..used);
            log.lock()
                .unwrap()
                .push(format!("{} {}", req.method, req.uri));
            let mut r = Response::new(StatusCode::OK);
            r.headers
                .append("CSeq", req.headers.cseq().unwrap_or(0).to_string());
            match req.method.as_str() {
                "OPTIONS" => r.headers.append(
                    "Public",
                    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER",
                ),
                "DESCRIBE" => describe(&mut r, addr, frames.len()),
                "SETUP" => {
                    let t = Transport::parse(req.headers.get("Transport").unwrap()).unwrap();
                    r.headers.append("Session", "4242");
                    if let Some((ch, _)) = t.interleaved {
                        dest = Some(Dest::Tcp(conn.try_clone().unwrap(), ch));
                        r.headers.append("Transport", t.to_string());
                    } else {
                        let to = SocketAddr::new(peer.ip(), t.client_port.unwrap().rtp);
                        dest = Some(Dest::Udp(to));
                        r.headers
                            .append("Transport", format!("{t};server_port=40000-40001"));
                    }
                }
                "PLAY" => {
                    r.headers.append("Session", "4242");
                    playing.store(true, Ordering::SeqCst);
                    let black_holed = config.black_hole && matches!(dest, Some(Dest::Udp(_)));
                    if !started && !black_holed {
                        started = true;
                        let (dest, frames, config, stop) = (
                            dest.take().unwrap(),
                            frames.clone(),
                            config.clone(),
                            stop.clone(),
                        );
                        std::thread::spawn(move || standard_send(dest, frames, config, stop));
                    }
                }
                _ => r.headers.append("Session", "4242"),
            }
            conn.write_all(&r.to_bytes()).unwrap();
        }
    }
}

/// Where the standard double sends RTP.
enum Dest {
    Udp(SocketAddr),
    /// Interleaved on the RTSP connection, on this channel.
    Tcp(TcpStream, u8),
}

fn standard_send(
    mut dest: Dest,
    frames: Vec<Vec<u8>>,
    config: StandardDoubleConfig,
    stop: Arc<AtomicBool>,
) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let mut packet_no = 0usize;
    let mut seq: u16 = 1000;
    for (n, jpeg) in frames.iter().enumerate() {
        let due = start + Duration::from_millis(50 * n as u64);
        while Instant::now() < due {
            std::thread::sleep(due - Instant::now());
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let info = JpegInfo::parse(jpeg).unwrap();
        let params = info.rfc2435().unwrap();
        for f in fragments(&params, &jpeg[info.scan_data.start..], MAX_PACKET) {
            let mut fixed = [0u8; 12];
            RtpHeader {
                marker: f.last,
                payload_type: 26,
                sequence_number: seq,
                timestamp: n as u32 * 4500,
                ssrc: 7,
            }
            .write(&mut fixed);
            seq = seq.wrapping_add(1);
            if !config.drop_packets.contains(&packet_no) {
                let packet = [&fixed[..], f.header(), f.data].concat();
                match &mut dest {
                    Dest::Udp(to) => {
                        let _ = sock.send_to(&packet, *to);
                    }
                    Dest::Tcp(conn, ch) => {
                        let mut out = Vec::new();
                        rtsp_proto::interleaved::write(*ch, &[&packet], &mut out).unwrap();
                        let _ = conn.write_all(&out);
                    }
                }
            }
            packet_no += 1;
        }
    }
}

/// How many RTP packets each frame takes, so a test can pick packets to drop.
pub fn packets_per_frame(frames: &[Vec<u8>]) -> Vec<usize> {
    frames
        .iter()
        .map(|jpeg| {
            let info = JpegInfo::parse(jpeg).unwrap();
            let params = info.rfc2435().unwrap();
            fragments(&params, &jpeg[info.scan_data.start..], MAX_PACKET).count()
        })
        .collect()
}
