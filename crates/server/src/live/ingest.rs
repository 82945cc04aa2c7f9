//! A publisher's RTP in, whole frames out, sans-IO: one SSRC (the first seen), the announced
//! payload type, packets over UDP put back in sequence order (a short reorder buffer), and
//! RFC 2435 depacketizing that drops a frame with any fragment lost, so a corrupt picture
//! never reaches a viewer. What is dropped is counted in [`PathCounters`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::{Depacketizer, JpegInfo};
use rtsp_proto::reorder::{Offer, ReorderBuffer};
use rtsp_proto::rtp::RtpPacket;

/// Most UDP packets held behind a gap: a few frames' worth at the sizes cameras send.
const REORDER_PACKETS: usize = 64;

/// Longest a UDP packet waits for one before it (then the gap is a loss): a live viewer's
/// latency is what this costs when packets do arrive out of order.
const REORDER_DELAY: Duration = Duration::from_millis(40);

use super::LiveFrame;

/// What a path received and refused, for `/api/paths` and `/metrics`.
#[derive(Debug, Default)]
pub struct PathCounters {
    /// Whole frames rebuilt and handed to the subscribers.
    pub frames_in: AtomicU64,
    /// Frames dropped because a fragment was lost or broken.
    pub frames_lost: AtomicU64,
    /// Packets with another SSRC than the stream's first.
    pub wrong_ssrc: AtomicU64,
    /// Datagrams from an address that is not the publisher's.
    pub wrong_source: AtomicU64,
    /// Packets that are no RTP, or of another payload type.
    pub bad_packets: AtomicU64,
}

impl PathCounters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A datagram from somewhere other than the publisher, ignored.
    pub fn count_wrong_source(&self) {
        Self::bump(&self.wrong_source);
    }
}

/// Rebuilds one publisher's frames.
pub struct Ingest {
    payload_type: u8,
    ssrc: Option<u32>,
    depay: Depacketizer,
    counters: Arc<PathCounters>,
    /// Where RTP over UDP must come from (`None` for interleaved, where the connection says).
    pub source: Option<SocketAddr>,
    /// UDP packets put back in order before depacketizing (TCP keeps its own order).
    reorder: ReorderBuffer<Vec<u8>>,
}

impl Ingest {
    /// An ingest of RTP with `payload_type`, frames up to `max_frame` bytes.
    pub fn new(payload_type: u8, max_frame: usize, counters: Arc<PathCounters>) -> Ingest {
        Ingest {
            payload_type,
            ssrc: None,
            depay: Depacketizer::new(max_frame),
            counters,
            source: None,
            reorder: ReorderBuffer::new(REORDER_PACKETS, REORDER_DELAY),
        }
    }

    /// The picture size for frames wider or taller than RFC 2435 can say (`a=x-dimensions`).
    pub fn set_dimensions(&mut self, width: u16, height: u16) {
        self.depay.set_dimensions(width, height);
    }

    /// One datagram from `from` at `now`: the whole frames it completes, once the packets
    /// before it are in (or given up on).
    pub fn push_from(&mut self, from: SocketAddr, packet: &[u8], now: Instant) -> Vec<LiveFrame> {
        if self.source.is_some_and(|s| s != from) {
            self.counters.count_wrong_source();
            return Vec::new();
        }
        let Some(seq) = self.admit(packet) else {
            return Vec::new();
        };
        let mut released = Vec::new();
        if self.reorder.push(seq, packet.to_vec(), now, &mut released) != Offer::Accepted {
            PathCounters::bump(&self.counters.bad_packets);
        }
        self.rebuild(released, now)
    }

    /// The frames of packets that waited long enough for a gap before them, at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<LiveFrame> {
        let mut released = Vec::new();
        self.reorder.poll(now, &mut released);
        self.rebuild(released, now)
    }

    /// When [`Ingest::poll`] must next be called (packets wait behind a gap).
    pub fn deadline(&self) -> Option<Instant> {
        self.reorder.deadline()
    }

    /// One RTP packet in order (interleaved: TCP keeps it) at `now`.
    pub fn push(&mut self, packet: &[u8], now: Instant) -> Option<LiveFrame> {
        self.admit(packet)?;
        self.depacketize(packet, now)
    }

    /// Whether a packet is the stream's (RTP, the announced type, the first SSRC): its
    /// sequence number if so; counted if not.
    fn admit(&mut self, packet: &[u8]) -> Option<u16> {
        let c = &self.counters;
        let Ok(rtp) = RtpPacket::parse(packet) else {
            PathCounters::bump(&c.bad_packets);
            return None;
        };
        if rtp.header.payload_type != self.payload_type {
            PathCounters::bump(&c.bad_packets);
            return None;
        }
        let ssrc = *self.ssrc.get_or_insert(rtp.header.ssrc);
        if rtp.header.ssrc != ssrc {
            PathCounters::bump(&c.wrong_ssrc);
            return None;
        }
        Some(rtp.header.sequence_number)
    }

    fn rebuild(&mut self, packets: Vec<Vec<u8>>, now: Instant) -> Vec<LiveFrame> {
        packets
            .iter()
            .filter_map(|p| self.depacketize(p, now))
            .collect()
    }

    /// An admitted packet into the depacketizer: the frame it completes.
    fn depacketize(&mut self, packet: &[u8], now: Instant) -> Option<LiveFrame> {
        let c = &self.counters;
        let rtp = RtpPacket::parse(packet).ok()?;
        let event = self.depay.push(&rtp.header, rtp.payload);
        for why in &event.dropped {
            log::debug!("live ingest: frame dropped: {why}");
            PathCounters::bump(&c.frames_lost);
        }
        let jpeg = event.frame?;
        match frame_of(jpeg, rtp.header.timestamp, now) {
            Some(f) => {
                PathCounters::bump(&c.frames_in);
                Some(f)
            }
            None => {
                PathCounters::bump(&c.frames_lost);
                None
            }
        }
    }
}

/// A rebuilt JPEG as viewers share it, or `None` when RFC 2435 cannot carry it again (the
/// depacketizer only builds frames it can, so this is a defence, not a path).
fn frame_of(jpeg: Vec<u8>, rtptime: u32, received: Instant) -> Option<LiveFrame> {
    let info = JpegInfo::parse(&jpeg).ok()?;
    let params = info.rfc2435().ok()?;
    let scan = info.scan_data.start..info.len.min(jpeg.len());
    Some(LiveFrame {
        jpeg,
        params,
        scan,
        rtptime,
        received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtsp_proto::jpeg::{fragments, JpegInfo};
    use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN};

    /// The packets our own packetizer makes of the sample video's first frame.
    fn packets(ssrc: u32, seq: u16, ts: u32) -> Vec<Vec<u8>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../videos/video.mjpeg");
        let media =
            crate::media::PreparedMedia::prepare(std::path::Path::new(path), 1 << 20).unwrap();
        let frame = media.rtp_frame(0).unwrap();
        let (params, scan) = frame.parts();
        fragments(params, scan, 1000)
            .enumerate()
            .map(|(i, f)| {
                let mut head = [0u8; FIXED_HEADER_LEN];
                RtpHeader {
                    marker: f.last,
                    payload_type: 26,
                    sequence_number: seq.wrapping_add(i as u16),
                    timestamp: ts,
                    ssrc,
                }
                .write(&mut head);
                [&head[..], f.header(), f.data].concat()
            })
            .collect()
    }

    fn ingest() -> (Ingest, Arc<PathCounters>) {
        let c = Arc::new(PathCounters::default());
        (Ingest::new(26, 1 << 20, c.clone()), c)
    }

    #[test]
    fn whole_frames_come_out_with_their_scan_data() {
        let (mut ingest, c) = ingest();
        let now = Instant::now();
        let sent = packets(7, 100, 9000);
        assert!(sent.len() > 2, "the test frame must need several packets");
        let frames: Vec<_> = sent.iter().filter_map(|p| ingest.push(p, now)).collect();
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        assert_eq!(f.rtptime, 9000);
        let info = JpegInfo::parse(&f.jpeg).unwrap();
        assert_eq!(f.scan(), &f.jpeg[info.scan_data.start..info.len]);
        assert_eq!(c.frames_in.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_lost_fragment_drops_the_frame_and_is_counted() {
        let (mut ingest, c) = ingest();
        let now = Instant::now();
        let mut first = packets(7, 100, 9000);
        first.remove(1);
        let second = packets(7, 100 + first.len() as u16 + 1, 13500);
        let out: Vec<_> = first
            .iter()
            .chain(&second)
            .filter_map(|p| ingest.push(p, now))
            .collect();
        assert_eq!(out.len(), 1, "only the whole second frame");
        assert_eq!(out[0].rtptime, 13500);
        assert_eq!(c.frames_lost.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn udp_packets_out_of_order_are_put_back_and_a_gap_is_given_up_on() {
        let (mut ingest, c) = ingest();
        let now = Instant::now();
        let from: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut first = packets(7, 100, 9000);
        first.swap(1, 2);
        let frames: Vec<_> = first
            .iter()
            .flat_map(|p| ingest.push_from(from, p, now))
            .collect();
        assert_eq!(frames.len(), 1, "reordered packets make a whole frame");
        // A packet lost for good: its frame is dropped once the wait is over, the next
        // frame comes whole.
        let mut second = packets(7, 100 + first.len() as u16, 13500);
        second.remove(1);
        let mut out: Vec<_> = second
            .iter()
            .flat_map(|p| ingest.push_from(from, p, now))
            .collect();
        let gave_up = ingest.deadline().expect("packets wait behind the gap");
        out.extend(ingest.poll(gave_up));
        let third = packets(7, 100 + first.len() as u16 * 2, 18000);
        out.extend(
            third
                .iter()
                .flat_map(|p| ingest.push_from(from, p, gave_up)),
        );
        assert_eq!(out.iter().map(|f| f.rtptime).collect::<Vec<_>>(), [18000]);
        assert_eq!(c.frames_lost.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn another_ssrc_source_or_payload_type_is_ignored_and_counted() {
        let (mut ingest, c) = ingest();
        let now = Instant::now();
        let publisher: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        ingest.source = Some(publisher);
        let own = packets(7, 1, 0);
        assert!(ingest.push_from(publisher, &own[0], now).is_empty());
        for p in packets(8, 50, 0) {
            assert!(ingest.push_from(publisher, &p, now).is_empty());
        }
        let elsewhere: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        assert!(ingest.push_from(elsewhere, &own[1], now).is_empty());
        let mut other_pt = own[1].clone();
        other_pt[1] = (other_pt[1] & 0x80) | 96;
        assert!(ingest.push(&other_pt, now).is_none());
        assert!(ingest.push(b"not rtp", now).is_none());
        let frames = own[1..]
            .iter()
            .flat_map(|p| ingest.push_from(publisher, p, now));
        assert_eq!(frames.count(), 1, "the own stream is unharmed");
        assert_eq!(
            c.wrong_ssrc.load(Ordering::Relaxed),
            packets(8, 50, 0).len() as u64
        );
        assert_eq!(c.wrong_source.load(Ordering::Relaxed), 1);
        assert_eq!(c.bad_packets.load(Ordering::Relaxed), 2);
    }
}
