//! `loadgen floor`: the kernel's floor. One thread sends the same RTP/JPEG packets the
//! server would, to N sessions' worth of destinations, with the server's own send function,
//! paced as the server's pacer paces, with no RTSP at all: what delivering the stream costs
//! before any server logic.

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use server::net::udp_batch::Packet;

use crate::procfs::cpu_seconds;
use crate::receive::{bind_receivers, receive_until, receiving_threads};

/// What `floor` sends, and how its sink receives.
pub struct FloorPlan<'a> {
    /// A .mjpeg file (RFC 2435-streamable frames).
    pub file: &'a Path,
    /// Destinations, one receiving socket each.
    pub sessions: usize,
    /// Seconds of sending.
    pub seconds: u64,
    /// Frames per second per destination.
    pub fps: f64,
    /// Let the send function segment a frame's packets into one send (UDP GSO).
    pub gso: bool,
    /// Let the receiving end coalesce them into one read (UDP GRO).
    pub gro: bool,
}

/// One RTP packet as the server gathers it: headers (RTP and RFC 2435) and payload apart.
/// The RTP header's sequence number, timestamp, marker and SSRC are left to the sender.
pub struct PreparedPacket {
    /// The 12-byte RTP header, then the RFC 2435 headers.
    pub head: Vec<u8>,
    /// The fragment of scan data.
    pub body: Vec<u8>,
}

/// What the sending loop did.
struct Sent {
    /// Packets handed to the kernel.
    packets: u64,
    /// The sending thread's CPU over the run, in percent of one core.
    cpu_percent: f64,
    /// Whether segmentation offload was still on at the end (the send function turns it off
    /// where the kernel refuses it).
    gso: bool,
}

/// Every frame of `file` cut into the packets the server sends, prepared up front.
pub fn prepare_frames(file: &Path) -> anyhow::Result<Vec<Vec<PreparedPacket>>> {
    let data = std::fs::read(file)?;
    let idx = rtsp_proto::mjpeg::index(&data, 16 << 20)?;
    let mut frames = Vec::with_capacity(idx.frames.len());
    for r in &idx.frames {
        let jpeg = &data[r.clone()];
        let info = rtsp_proto::jpeg::JpegInfo::parse(jpeg)?;
        let p = info.rfc2435().map_err(anyhow::Error::msg)?;
        frames.push(
            rtsp_proto::jpeg::fragments(
                &p,
                &jpeg[info.scan_data.start..],
                rtsp_proto::jpeg::MAX_PACKET,
            )
            .map(|f| {
                let head = [&[0x80u8, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], f.header()].concat();
                PreparedPacket {
                    head,
                    body: f.data.to_vec(),
                }
            })
            .collect(),
        );
    }
    Ok(frames)
}

/// `loadgen floor`: sends for `plan.seconds` and prints what it sent, what arrived, and what
/// the sending cost.
pub fn floor(plan: &FloorPlan) -> anyhow::Result<()> {
    let FloorPlan {
        file,
        sessions,
        seconds,
        fps,
        gso,
        gro,
    } = *plan;
    let frames = prepare_frames(file)?;
    anyhow::ensure!(!frames.is_empty(), "{} holds no frame", file.display());
    anyhow::ensure!(sessions > 0, "a floor needs at least one session");
    // The receiving end `run` uses, so that what a delivery costs the sender is the same.
    let receivers = bind_receivers(sessions, gro)?;
    let senders: Vec<UdpSocket> = receivers
        .iter()
        .map(|r| {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(r.local_addr()?)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now() + Duration::from_millis(100);
    let stop = start + Duration::from_secs(seconds);
    let chunk = sessions.div_ceil(receiving_threads(sessions)).max(1);
    let (sent, received) = std::thread::scope(|scope| {
        let receiving: Vec<_> = receivers
            .chunks(chunk)
            .map(|socks| scope.spawn(move || receive_until(socks, stop + period)))
            .collect();
        let sent = send_paced(&frames, &senders, start, stop, period, gso);
        let received: u64 = receiving
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .map(|c| c.packets)
            .sum();
        (sent, received)
    });
    let how = if sent.gso {
        "segmented (GSO)"
    } else {
        "sendmmsg"
    };
    let cpu = sent.cpu_percent;
    println!("floor: {sessions} sessions x {fps} fps for {seconds} s, {how}: {} packets sent ({received} received), sender CPU {cpu:.1}% of one core, {:.2}% per session", sent.packets, cpu / sessions as f64);
    Ok(())
}

/// Sends `frames` in a loop to every one of `senders` from `start` until `stop`, each
/// destination a frame per `period`, on this thread.
fn send_paced(
    frames: &[Vec<PreparedPacket>],
    senders: &[UdpSocket],
    start: Instant,
    stop: Instant,
    period: Duration,
    gso: bool,
) -> Sent {
    let me = "/proc/thread-self/stat";
    let sessions = senders.len();
    let cpu0 = cpu_seconds(me);
    let mut sent = 0u64;
    let gso = std::cell::Cell::new(gso);
    // Sessions start at different moments, so session i's frame n is due at
    // start + (n + i / sessions) * period: the g-th send overall is due at
    // start + g * period / sessions. Like the server's pacer, send everything due within
    // one batch window, then sleep until the next.
    for g in 0u64.. {
        let due = start + period.mul_f64(g as f64 / sessions as f64);
        if due >= stop {
            break;
        }
        let now = Instant::now();
        if due > now + server::pacer::BATCH_WINDOW {
            std::thread::sleep(due - now);
        }
        let session = (g % sessions as u64) as usize;
        let frame = &frames[(g / sessions as u64) as usize % frames.len()];
        // What the server does per frame: its own send function, a batch at a time.
        for batch in frame.chunks(server::net::udp_batch::MAX_BATCH) {
            let mut packets = [Packet::default(); server::net::udp_batch::MAX_BATCH];
            for (p, prepared) in packets.iter_mut().zip(batch) {
                *p = Packet {
                    head: &prepared.head,
                    body: &prepared.body,
                };
            }
            let packets = &packets[..batch.len()];
            let _ = server::net::udp_batch::send_batch(&senders[session], packets, &gso);
        }
        sent += frame.len() as u64;
    }
    Sent {
        packets: sent,
        cpu_percent: (cpu_seconds(me) - cpu0) / start.elapsed().as_secs_f64() * 100.0,
        gso: gso.get(),
    }
}
