//! The RTP receiver thread: packets from the server only (UDP datagrams from its address, or
//! interleaved frames on the RTSP connection), through the reorder buffer, into the
//! depacketizer (or, in the lab's dialect, one whole JPEG per datagram), and complete frames
//! out to the player. It counts RFC 3550 statistics as it goes, reads the server's RTCP
//! (sender reports map RTP time to wall time; BYE ends the stream) and sends receiver reports.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtsp_proto::interleaved;
use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::reorder::ReorderBuffer;
use rtsp_proto::rtcp::{self, ReceiverReport, ReportBlock, RtcpPacket};
use rtsp_proto::rtp::RtpPacket;
use rtsp_proto::stats::ReceiverStats;

use crate::connection::SharedWriter;
use crate::player::Recorder;
use crate::playhead::{Admit, Playhead};

/// RFC 3550 6.2's minimum interval, for one receiver of one source.
const RR_INTERVAL: Duration = Duration::from_secs(5);

/// Where packets come from.
pub enum Input {
    /// RTP on one socket, RTCP on the next; `server_rtcp` is where receiver reports go.
    Udp {
        rtp: UdpSocket,
        rtcp: UdpSocket,
        server_rtcp: Option<SocketAddr>,
    },
    /// Interleaved frames handed over by the connection's reader thread.
    Interleaved {
        frames: mpsc::Receiver<(u8, Vec<u8>)>,
        rtp_channel: u8,
        rtcp_channel: u8,
    },
}

/// Where our RTCP goes: the server's RTCP port, or the odd channel on the RTSP connection.
#[derive(Clone)]
pub enum RtcpOut {
    Udp {
        socket: Arc<UdpSocket>,
        to: SocketAddr,
    },
    Interleaved {
        writer: SharedWriter,
        channel: u8,
    },
    /// The lab's server has no RTCP.
    None,
}

impl RtcpOut {
    /// Sends one compound RTCP packet.
    pub fn send(&self, packet: &[u8]) {
        let result = match self {
            RtcpOut::Udp { socket, to } => socket.send_to(packet, to).map(|_| ()),
            RtcpOut::Interleaved { writer, channel } => {
                let mut out = Vec::with_capacity(packet.len() + 4);
                let _ = interleaved::write(*channel, &[packet], &mut out);
                writer.lock().unwrap().write_all(&out)
            }
            RtcpOut::None => Ok(()),
        };
        if let Err(e) = result {
            log::debug!("sending RTCP: {e}");
        }
    }
}

/// Default largest frame the depacketizer assembles.
pub const MAX_FRAME: usize = 16 << 20;
/// Reorder bounds: RTP/JPEG frames at 1400 bytes a packet rarely exceed this in flight.
pub const REORDER_PACKETS: usize = 64;
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
    /// The sequence number of its last packet (the seek gate compares it with RTP-Info's).
    pub seq: u16,
    pub arrival: Instant,
}

/// Counters shared with the session (read for the title and the stats JSON).
#[derive(Debug, Default)]
pub struct RxStats {
    pub rtp: ReceiverStats,
    pub frames_received: u64,
    /// Frames dropped here: incomplete ones and those the player had no room for.
    pub frames_dropped: u64,
    /// The part of `frames_dropped` that never arrived whole (not in `frames_received`).
    pub frames_incomplete: u64,
    /// Complete frames that came out of the reorder buffer when the receiver stopped:
    /// recorded and counted as received, but never handed to the player.
    pub frames_discarded_at_stop: u64,
    pub foreign_packets: u64,
    pub first_packet: Option<Instant>,
    pub last_packet: Option<Instant>,
    /// RTP timestamp of the newest frame, and of the first.
    pub first_timestamp: Option<u32>,
    pub last_timestamp: Option<u32>,
    /// The sender's SSRC, from its packets.
    pub sender_ssrc: Option<u32>,
    /// The last sender report: its NTP time, its RTP time, and when it arrived.
    pub last_sr: Option<(u64, u32, Instant)>,
    /// The server said BYE: the stream is over.
    pub bye: bool,
    pub receiver_reports_sent: u64,
    /// Complete frames from before a seek, dropped at the gate (counted in `frames_received`).
    pub frames_skipped_at_seek: u64,
    /// Complete frames dropped because the player's queue was full.
    pub frames_dropped_by_player: u64,
    /// Counts from earlier sources (before an SSRC change).
    pub earlier_received: u64,
    pub earlier_lost: i64,
    pub earlier_bytes: u64,
}

impl RxStats {
    /// Packets received from every source so far.
    pub fn packets_received(&self) -> u64 {
        self.earlier_received + self.rtp.received()
    }

    /// Packets lost from every source so far (RFC 3550 A.3 per source, summed).
    pub fn packets_lost(&self) -> i64 {
        self.earlier_lost + self.rtp.lost()
    }

    /// Payload bytes from every source so far.
    pub fn bytes(&self) -> u64 {
        self.earlier_bytes + self.rtp.bytes()
    }

    /// Wall-clock time (Unix seconds) of an RTP timestamp, from the last sender report
    /// (RFC 3550 6.4.1: the SR pairs an NTP time with an RTP time on the same clock).
    pub fn wallclock(&self, rtp_timestamp: u32) -> Option<f64> {
        let (ntp, rtp, _) = self.last_sr?;
        let delta = rtp_timestamp.wrapping_sub(rtp) as i32 as f64 / 90_000.0;
        Some(rtcp::unix_from_ntp(ntp) + delta)
    }

    /// This receiver's report on the sender (RFC 3550 6.4.2, A.3, A.8).
    fn report(&mut self, our_ssrc: u32) -> Vec<u8> {
        let (last_sr, delay) = match self.last_sr {
            Some((ntp, _, at)) => (
                rtcp::ntp_middle(ntp),
                (at.elapsed().as_secs_f64() * 65536.0) as u32,
            ),
            None => (0, 0),
        };
        let lost = self.rtp.lost().clamp(-(1 << 23), (1 << 23) - 1) as i32;
        let block = ReportBlock {
            ssrc: self.sender_ssrc.unwrap_or(0),
            fraction_lost: self.rtp.fraction_lost_interval(),
            cumulative_lost: lost,
            highest_seq: self.rtp.extended_max(),
            jitter: self.rtp.jitter(),
            last_sr,
            delay_since_last_sr: delay,
        };
        let mut out = Vec::with_capacity(128);
        rtcp::write_compound(
            &[
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc: our_ssrc,
                    reports: vec![block],
                }),
                RtcpPacket::SourceDescription(vec![(
                    our_ssrc,
                    concat!("mjpeg-rtsp-client/", env!("CARGO_PKG_VERSION")).to_string(),
                )]),
            ],
            &mut out,
        );
        out
    }
}

/// A BYE from `ssrc`, for TEARDOWN.
pub fn bye_packet(ssrc: u32) -> Vec<u8> {
    let mut out = Vec::new();
    rtcp::write_compound(
        &[
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc,
                reports: vec![],
            }),
            RtcpPacket::Goodbye {
                ssrcs: vec![ssrc],
                reason: Some("teardown".into()),
            },
        ],
        &mut out,
    );
    out
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

/// Starts receiving from `input`. Only packets from `server` are taken. Every complete frame
/// is written to `recorder` as it comes out of the depacketizer (in sequence order, before the
/// player sees it), so the recording holds every frame counted as received, even those the
/// player drops or never reaches.
#[allow(clippy::too_many_arguments)] // each is one fact of the SETUP; a struct would only rename them
pub fn spawn(
    input: Input,
    server: IpAddr,
    payload: Payload,
    rtcp_out: RtcpOut,
    our_ssrc: u32,
    bounds: Bounds,
    frames: SyncSender<ReceivedFrame>,
    stats: Arc<Mutex<RxStats>>,
    recorder: Option<Recorder>,
    playhead: Arc<Mutex<Playhead>>,
) -> std::io::Result<Receiver> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    if let Input::Udp { rtp, rtcp, .. } = &input {
        rtp.set_read_timeout(Some(Duration::from_millis(20)))?;
        rtcp.set_nonblocking(true)?;
    }
    let mut depay = Depacketizer::new(bounds.max_frame);
    if let Some((w, h)) = bounds.dimensions {
        depay.set_dimensions(w, h);
    }
    let thread = std::thread::Builder::new()
        .name("rtp-receiver".into())
        .spawn(move || {
            let mut r = ReceiveLoop {
                server,
                payload,
                rtcp_out,
                our_ssrc,
                frames,
                stats,
                reorder: ReorderBuffer::new(bounds.reorder_packets, REORDER_DELAY),
                reorder_packets: bounds.reorder_packets,
                depay,
                ready: Vec::new(),
                epoch: Instant::now(),
                next_rr: Instant::now() + RR_INTERVAL,
                recorder,
                stopping: false,
                playhead,
            };
            r.run(input, &stop2);
            r.finish();
        })?;
    Ok(Receiver {
        stop,
        thread: Some(thread),
    })
}

/// What bounds the receiver, and the picture size the SDP gave.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_frame: usize,
    pub reorder_packets: usize,
    pub dimensions: Option<(u16, u16)>,
}

struct ReceiveLoop {
    server: IpAddr,
    reorder_packets: usize,
    payload: Payload,
    rtcp_out: RtcpOut,
    our_ssrc: u32,
    frames: SyncSender<ReceivedFrame>,
    stats: Arc<Mutex<RxStats>>,
    reorder: ReorderBuffer<Packet>,
    depay: Depacketizer,
    ready: Vec<Packet>,
    epoch: Instant,
    next_rr: Instant,
    recorder: Option<Recorder>,
    /// Set by [`ReceiveLoop::finish`]: frames still coming out are recorded and counted as
    /// discarded at the stop instead of going to the player.
    stopping: bool,
    /// The seek gate: frames from before the current PLAY's RTP-Info seq are dropped here.
    playhead: Arc<Mutex<Playhead>>,
}

enum Got {
    Rtp(Vec<u8>),
    Rtcp(Vec<u8>),
    Nothing,
    Closed,
}

impl ReceiveLoop {
    /// At the stop: packets the reorder buffer still holds behind a gap are released (the
    /// complete frames among them are recorded and counted as received and discarded at the
    /// stop), and the recording is flushed.
    fn finish(&mut self) {
        self.stopping = true;
        let mut ready = std::mem::take(&mut self.ready);
        self.reorder
            .poll(Instant::now() + Duration::from_secs(3600), &mut ready);
        self.ready = ready;
        self.release();
        if let Some(r) = &mut self.recorder {
            if let Err(e) = r.flush() {
                log::warn!("recording: {e}");
            }
        }
    }

    fn run(&mut self, input: Input, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut ready = std::mem::take(&mut self.ready);
            self.reorder.poll(now, &mut ready);
            self.ready = ready;
            self.release();
            if now >= self.next_rr {
                self.next_rr = now + RR_INTERVAL;
                let rr = self.stats.lock().unwrap().report(self.our_ssrc);
                self.rtcp_out.send(&rr);
                self.stats.lock().unwrap().receiver_reports_sent += 1;
            }
            match self.next(&input, &mut buf) {
                Got::Rtp(p) => self.on_rtp(p),
                Got::Rtcp(p) => self.on_rtcp(&p),
                Got::Nothing => {}
                Got::Closed => return,
            }
        }
    }

    fn next(&mut self, input: &Input, buf: &mut [u8]) -> Got {
        match input {
            Input::Udp { rtp, rtcp, .. } => {
                if let Ok((n, from)) = rtcp.recv_from(buf) {
                    if from.ip() == self.server {
                        return Got::Rtcp(buf[..n].to_vec());
                    }
                }
                match rtp.recv_from(buf) {
                    Ok((n, from)) if from.ip() == self.server => Got::Rtp(buf[..n].to_vec()),
                    Ok(_) => {
                        self.stats.lock().unwrap().foreign_packets += 1;
                        Got::Nothing
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                                | std::io::ErrorKind::ConnectionRefused
                        ) =>
                    {
                        Got::Nothing
                    }
                    Err(e) => {
                        log::warn!("RTP socket: {e}");
                        Got::Closed
                    }
                }
            }
            Input::Interleaved {
                frames,
                rtp_channel,
                rtcp_channel,
            } => match frames.recv_timeout(Duration::from_millis(20)) {
                Ok((ch, p)) if ch == *rtp_channel => Got::Rtp(p),
                Ok((ch, p)) if ch == *rtcp_channel => Got::Rtcp(p),
                Ok(_) => Got::Nothing,
                Err(RecvTimeoutError::Timeout) => Got::Nothing,
                Err(RecvTimeoutError::Disconnected) => Got::Closed,
            },
        }
    }

    fn on_rtp(&mut self, data: Vec<u8>) {
        let arrival = Instant::now();
        let Ok(packet) = RtpPacket::parse(&data) else {
            log::debug!("{}-byte packet is not RTP: ignored", data.len());
            return;
        };
        let seq = packet.header.sequence_number;
        let previous = self.stats.lock().unwrap().sender_ssrc;
        if previous.is_some_and(|p| p != packet.header.ssrc) {
            // A new source (the server restarted the stream): its sequence numbers and frames
            // have nothing to do with the old ones. Counts so far are kept.
            log::warn!(
                "SSRC changed from {:08X} to {:08X}: starting over",
                previous.unwrap(),
                packet.header.ssrc
            );
            let mut ready = std::mem::take(&mut self.ready);
            self.reorder
                .poll(arrival + Duration::from_secs(3600), &mut ready);
            self.ready = ready;
            self.release();
            self.reorder = ReorderBuffer::new(self.reorder_packets, REORDER_DELAY);
            self.depay.reset();
            let mut s = self.stats.lock().unwrap();
            let old = std::mem::take(&mut s.rtp);
            s.earlier_received += old.received();
            s.earlier_lost += old.lost();
            s.earlier_bytes += old.bytes();
        }
        {
            let mut s = self.stats.lock().unwrap();
            // Arrival on a 90 kHz clock for the A.8 jitter (meaningless, and unused, when the
            // timestamps are the lab's Unix seconds).
            let arrival90 =
                (arrival.duration_since(self.epoch).as_secs_f64() * 90_000.0) as u64 as u32;
            s.rtp.on_packet(
                seq,
                packet.header.timestamp,
                arrival90,
                packet.payload.len(),
            );
            s.first_packet.get_or_insert(arrival);
            s.last_packet = Some(arrival);
            s.sender_ssrc = Some(packet.header.ssrc);
        }
        let mut ready = std::mem::take(&mut self.ready);
        self.reorder
            .push(seq, Packet { data, arrival }, arrival, &mut ready);
        self.ready = ready;
        self.release();
    }

    fn on_rtcp(&mut self, data: &[u8]) {
        let Ok(packets) = rtcp::parse_compound(data) else {
            log::debug!("bad RTCP from the server: ignored");
            return;
        };
        let mut s = self.stats.lock().unwrap();
        for p in packets {
            match p {
                RtcpPacket::SenderReport(sr) => {
                    s.last_sr = Some((sr.ntp, sr.rtp_timestamp, Instant::now()))
                }
                RtcpPacket::Goodbye { .. } => {
                    log::info!("server said BYE: end of stream");
                    s.bye = true;
                }
                _ => {}
            }
        }
    }

    /// Frames out of the packets the reorder buffer released.
    fn release(&mut self) {
        for p in std::mem::take(&mut self.ready) {
            let Ok(packet) = RtpPacket::parse(&p.data) else {
                continue;
            };
            let (frame, dropped) = match self.payload {
                Payload::Rfc2435 => {
                    let ev = self.depay.push(&packet.header, packet.payload);
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
            let mut s = self.stats.lock().unwrap();
            s.frames_dropped += dropped;
            s.frames_incomplete += dropped;
            let Some(jpeg) = frame else { continue };
            s.frames_received += 1;
            let seq = packet.header.sequence_number;
            if self.playhead.lock().unwrap().admit(seq) == Admit::Drop && !self.stopping {
                // From before a seek: neither recorded nor shown.
                s.frames_skipped_at_seek += 1;
                continue;
            }
            s.first_timestamp.get_or_insert(packet.header.timestamp);
            s.last_timestamp = Some(packet.header.timestamp);
            if self.stopping {
                s.frames_discarded_at_stop += 1;
            }
            drop(s);
            if let Some(r) = &mut self.recorder {
                if let Err(e) = r.write(&jpeg) {
                    log::warn!("recording: {e}");
                }
            }
            if self.stopping {
                continue;
            }
            let f = ReceivedFrame {
                jpeg,
                rtp_timestamp: packet.header.timestamp,
                seq,
                arrival: p.arrival,
            };
            match self.frames.try_send(f) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    log::warn!("player is behind: frame dropped");
                    let mut s = self.stats.lock().unwrap();
                    s.frames_dropped += 1;
                    s.frames_dropped_by_player += 1;
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_loop(dims: Option<(u16, u16)>) -> (ReceiveLoop, mpsc::Receiver<ReceivedFrame>) {
        let (tx, rx) = mpsc::sync_channel(64);
        let mut depay = Depacketizer::new(64 * 1024);
        if let Some((w, h)) = dims {
            depay.set_dimensions(w, h);
        }
        let l = ReceiveLoop {
            server: "127.0.0.1".parse().unwrap(),
            payload: Payload::Rfc2435,
            rtcp_out: RtcpOut::None,
            our_ssrc: 1,
            frames: tx,
            stats: Arc::new(Mutex::new(RxStats::default())),
            reorder: ReorderBuffer::new(REORDER_PACKETS, REORDER_DELAY),
            reorder_packets: REORDER_PACKETS,
            depay,
            ready: Vec::new(),
            epoch: Instant::now(),
            next_rr: Instant::now() + RR_INTERVAL,
            recorder: None,
            stopping: false,
            playhead: Arc::default(),
        };
        (l, rx)
    }

    fn rtp(seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut h = [0u8; 12];
        rtsp_proto::rtp::RtpHeader {
            marker,
            payload_type: 26,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
        }
        .write(&mut h);
        [&h[..], payload].concat()
    }

    /// The sample's first frames as RTP packets.
    fn frame_packets(n: usize, first_seq: u16, ssrc: u32) -> Vec<Vec<u8>> {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../videos/video.mjpeg"
        ))
        .unwrap();
        let idx = rtsp_proto::mjpeg::index(&data, 1 << 20).unwrap();
        let mut seq = first_seq;
        let mut out = Vec::new();
        for (i, r) in idx.frames.iter().take(n).enumerate() {
            let jpeg = &data[r.clone()];
            let info = rtsp_proto::jpeg::JpegInfo::parse(jpeg).unwrap();
            let p = info.rfc2435().unwrap();
            for f in rtsp_proto::jpeg::fragments(&p, &jpeg[info.scan_data.start..], 1400) {
                out.push(rtp(seq, i as u32 * 4500, ssrc, f.last, &f.to_payload()));
                seq = seq.wrapping_add(1);
            }
        }
        out
    }

    #[test]
    fn hostile_packets_are_counted_and_never_make_a_corrupt_frame() {
        let (mut l, frames) = test_loop(None);
        let hostile: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x80],
            vec![0x40; 20], // version 1
            [
                &[0xa0u8, 26, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9][..],
                &[1, 2, 200][..],
            ]
            .concat(), // padding past the end
            vec![0x8f, 26, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9], // 15 CSRCs, none there
            rtp(3, 0, 9, true, &[0, 0, 0, 0, 1, 255, 48, 36]), // Q=255, no tables
            rtp(4, 0, 9, true, &[0, 0, 0, 0, 9, 50, 48, 36, 0xff]), // type 9
            rtp(5, 0, 9, true, &[0, 0, 0, 0, 1, 50, 0, 0, 0xff]), // size 0, no SDP size
            rtp(6, 0, 9, true, &[0, 0, 0, 0, 1, 50, 48, 36]), // no scan data at all
            rtp(7, 0, 9, true, &[0, 0xff, 0xff, 0xff, 1, 50, 48, 36, 1]), // offset without a start
        ];
        for p in hostile {
            l.on_rtp(p);
        }
        for p in [
            vec![0x81, 201, 0, 40],
            vec![0x80, 200, 0, 1, 0, 0, 0, 0],
            vec![0xff; 9],
        ] {
            l.on_rtcp(&p);
        }
        // Then real frames, across a sequence wrap, and a new SSRC midway.
        let mut packets = frame_packets(6, 65530, 0x1234);
        let later = frame_packets(4, 100, 0x5678);
        packets.extend(later);
        for p in packets {
            l.on_rtp(p);
        }
        let mut ready = std::mem::take(&mut l.ready);
        l.reorder
            .poll(Instant::now() + Duration::from_secs(1), &mut ready);
        l.ready = ready;
        l.release();
        let got: Vec<ReceivedFrame> = frames.try_iter().collect();
        for f in &got {
            let info =
                rtsp_proto::jpeg::JpegInfo::parse(&f.jpeg).expect("every frame handed on parses");
            assert!(info.width == 384 || info.width == 0);
            image::load_from_memory_with_format(&f.jpeg, image::ImageFormat::Jpeg)
                .expect("and decodes");
        }
        let good = got.iter().filter(|f| f.jpeg.len() > 5000).count();
        assert_eq!(
            good, 10,
            "all ten real frames, across the wrap and the SSRC change"
        );
        let s = l.stats.lock().unwrap();
        assert!(s.frames_dropped >= 1);
        assert_eq!(s.sender_ssrc, Some(0x5678));
    }

    #[test]
    fn the_stop_releases_records_and_counts_what_the_reorder_buffer_holds() {
        let (mut l, frames) = test_loop(None);
        let path = std::env::temp_dir().join(format!("rx-stop-{}.mjpeg", std::process::id()));
        l.recorder = Some(Recorder::create(&path, crate::RecordFormat::Lab).unwrap());
        // Held behind a gap until the stop, however slow the test runs.
        l.reorder = ReorderBuffer::new(REORDER_PACKETS, Duration::from_secs(600));
        let per_frame = frame_packets(1, 0, 7).len();
        let mut packets = frame_packets(3, 0, 7);
        // Frame 1 loses its second packet: frame 2 waits behind the gap.
        packets.remove(per_frame + 1);
        for p in packets {
            l.on_rtp(p);
        }
        assert_eq!(
            frames.try_iter().count(),
            1,
            "frame 0 only, before the stop"
        );
        l.finish();
        assert_eq!(
            frames.try_iter().count(),
            0,
            "nothing for the player after the stop"
        );
        let s = l.stats.lock().unwrap();
        assert_eq!(
            (
                s.frames_received,
                s.frames_discarded_at_stop,
                s.frames_incomplete
            ),
            (2, 1, 1)
        );
        let data = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let idx = rtsp_proto::mjpeg::index(&data, 1 << 20).unwrap();
        assert_eq!(idx.frames.len(), 2, "frames 0 and 2 recorded");
    }

    #[test]
    fn an_oversized_frame_is_dropped() {
        let (mut l, frames) = test_loop(None);
        let mut p = vec![0, 0, 0, 0, 1, 50, 48, 36];
        p.extend(vec![7u8; 1300]);
        for i in 0..60u16 {
            let mut q = p.clone();
            let off = (i as u32 * 1300).to_be_bytes();
            q[1..4].copy_from_slice(&off[1..]);
            l.on_rtp(rtp(i, 0, 3, i == 59, &q));
        }
        assert_eq!(frames.try_iter().count(), 0);
        assert!(l.stats.lock().unwrap().frames_dropped >= 1);
    }

    #[test]
    fn sender_reports_map_rtp_time_to_wall_time() {
        let mut s = RxStats::default();
        assert_eq!(s.wallclock(0), None);
        let t = 1_790_000_000.5;
        s.last_sr = Some((rtcp::ntp_from_unix(t), 90_000, Instant::now()));
        assert!((s.wallclock(180_000).unwrap() - (t + 1.0)).abs() < 1e-6);
        assert!((s.wallclock(0).unwrap() - (t - 1.0)).abs() < 1e-6);
        // Across the 32-bit wrap.
        s.last_sr = Some((rtcp::ntp_from_unix(t), u32::MAX - 44_999, Instant::now()));
        assert!((s.wallclock(45_000).unwrap() - (t + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn receiver_report_carries_loss_and_lsr() {
        let mut s = RxStats::default();
        for seq in [1u16, 2, 4] {
            s.rtp.on_packet(seq, 0, 0, 10);
        }
        s.sender_ssrc = Some(77);
        s.last_sr = Some((0x0001_2345_6789_0000, 0, Instant::now()));
        let p = rtcp::parse_compound(&s.report(5)).unwrap();
        let RtcpPacket::ReceiverReport(rr) = &p[0] else {
            panic!("{p:?}")
        };
        assert_eq!(rr.ssrc, 5);
        let b = rr.reports[0];
        assert_eq!((b.ssrc, b.cumulative_lost, b.last_sr), (77, 1, 0x2345_6789));
        assert_eq!(b.fraction_lost, 64);
    }
}
