//! The RTP receiver thread: datagrams from the server's address only, through the reorder
//! buffer, into the depacketizer (or, in the lab's dialect, one whole JPEG per datagram), and
//! complete frames out to the player. It counts RFC 3550 statistics as it goes.

use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::reorder::ReorderBuffer;
use rtsp_proto::rtp::RtpPacket;
use rtsp_proto::stats::ReceiverStats;

/// Largest frame the depacketizer assembles.
pub const MAX_FRAME: usize = 16 << 20;
/// Reorder bounds: RTP/JPEG frames at 1400 bytes a packet rarely exceed this in flight.
const REORDER_PACKETS: usize = 64;
const REORDER_DELAY: Duration = Duration::from_millis(40);

/// How payloads become frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// RFC 2435 fragments.
    Rfc2435,
    /// The lab's whole JPEG per datagram.
    WholeJpeg,
}

/// A complete JPEG and when its last packet came.
#[derive(Debug, Clone)]
pub struct ReceivedFrame {
    pub jpeg: Vec<u8>,
    pub rtp_timestamp: u32,
    pub arrival: Instant,
}

/// Counters shared with the session (read for the title and the stats JSON).
#[derive(Debug, Default)]
pub struct RxStats {
    pub rtp: ReceiverStats,
    pub frames_received: u64,
    pub frames_dropped: u64,
    pub foreign_packets: u64,
    pub first_packet: Option<Instant>,
    pub last_packet: Option<Instant>,
    /// RTP timestamp of the newest frame, and of the first.
    pub first_timestamp: Option<u32>,
    pub last_timestamp: Option<u32>,
}

/// The running receiver thread; stops when dropped.
pub struct Receiver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Packet {
    data: Vec<u8>,
    arrival: Instant,
}

/// Starts receiving on `rtp`. Only datagrams from `server` are taken.
pub fn spawn(
    rtp: UdpSocket,
    server: IpAddr,
    payload: Payload,
    frames: SyncSender<ReceivedFrame>,
    stats: Arc<Mutex<RxStats>>,
) -> std::io::Result<Receiver> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    rtp.set_read_timeout(Some(Duration::from_millis(20)))?;
    let thread = std::thread::Builder::new()
        .name("rtp-receiver".into())
        .spawn(move || receive_loop(rtp, server, payload, frames, stats, stop2))?;
    Ok(Receiver {
        stop,
        thread: Some(thread),
    })
}

fn receive_loop(
    rtp: UdpSocket,
    server: IpAddr,
    payload: Payload,
    frames: SyncSender<ReceivedFrame>,
    stats: Arc<Mutex<RxStats>>,
    stop: Arc<AtomicBool>,
) {
    let epoch = Instant::now();
    let mut buf = vec![0u8; 65536];
    let mut reorder: ReorderBuffer<Packet> = ReorderBuffer::new(REORDER_PACKETS, REORDER_DELAY);
    let mut depay = Depacketizer::new(MAX_FRAME);
    let mut ready = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        reorder.poll(now, &mut ready);
        match rtp.recv_from(&mut buf) {
            Ok((n, from)) => {
                let arrival = Instant::now();
                if from.ip() != server {
                    stats.lock().unwrap().foreign_packets += 1;
                    continue;
                }
                let Ok(packet) = RtpPacket::parse(&buf[..n]) else {
                    log::debug!("{n}-byte datagram from {from} is not RTP: ignored");
                    continue;
                };
                {
                    let mut s = stats.lock().unwrap();
                    // Arrival on a 90 kHz clock for the A.8 jitter (meaningless, and unused,
                    // when the timestamps are the lab's Unix seconds).
                    let arrival90 =
                        (arrival.duration_since(epoch).as_secs_f64() * 90_000.0) as u64 as u32;
                    s.rtp.on_packet(
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        arrival90,
                        packet.payload.len(),
                    );
                    s.first_packet.get_or_insert(arrival);
                    s.last_packet = Some(arrival);
                }
                reorder.push(
                    packet.header.sequence_number,
                    Packet {
                        data: buf[..n].to_vec(),
                        arrival,
                    },
                    arrival,
                    &mut ready,
                );
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => {
                log::warn!("RTP socket: {e}");
                return;
            }
        }
        for p in ready.drain(..) {
            let Ok(packet) = RtpPacket::parse(&p.data) else {
                continue;
            };
            let (frame, dropped) = match payload {
                Payload::Rfc2435 => {
                    let ev = depay.push(
                        packet.header.timestamp,
                        packet.header.marker,
                        packet.payload,
                    );
                    for why in &ev.dropped {
                        log::info!("frame dropped: {why}");
                    }
                    (ev.frame, ev.dropped.len() as u64)
                }
                Payload::WholeJpeg => {
                    let jpeg = packet.payload;
                    if jpeg.starts_with(&[0xff, 0xd8]) && jpeg.ends_with(&[0xff, 0xd9]) {
                        (Some(jpeg.to_vec()), 0)
                    } else {
                        log::info!("datagram is not a whole JPEG: dropped");
                        (None, 1)
                    }
                }
            };
            let mut s = stats.lock().unwrap();
            s.frames_dropped += dropped;
            if let Some(jpeg) = frame {
                s.frames_received += 1;
                s.first_timestamp.get_or_insert(packet.header.timestamp);
                s.last_timestamp = Some(packet.header.timestamp);
                drop(s);
                let f = ReceivedFrame {
                    jpeg,
                    rtp_timestamp: packet.header.timestamp,
                    arrival: p.arrival,
                };
                match frames.try_send(f) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        log::warn!("player is behind: frame dropped");
                        stats.lock().unwrap().frames_dropped += 1;
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
        }
    }
}
