//! An RTSP viewer of a live path: each shared frame re-packetized (RFC 2435, the server's own
//! packetizer) with the viewer's own SSRC, sequence numbers and RTP times, into its transport
//! (UDP, interleaved TCP, or the HTTP tunnel), which drops the whole frame when the viewer is
//! behind. Like a file's sessions, it sends a sender report with its first frame and every
//! [`REPORT_INTERVAL`] after, so a player can map its RTP times to the wallclock (RFC 3550
//! 6.4.1) without waiting for the BYE.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtsp_proto::playout::{RtpOrigin, REPORT_INTERVAL};
use rtsp_proto::rtcp::{self, RtcpPacket, SenderReport};

use super::path::Subscriber;
use super::LiveFrame;
use crate::net::transport::{MediaTransport, RtpStamp};
use crate::session::{ntp_now, MediaCounters, SERVER_NAME};

/// The sending side of one viewer, behind its lock.
struct Stream {
    transport: MediaTransport,
    ssrc: u32,
    seq: u16,
    /// The viewer's first RTP time, and the publisher's timestamp it stands for (set by the
    /// first frame sent): RTP time keeps the publisher's spacing from the viewer's own base.
    base: u32,
    first_source: Option<u32>,
    last_rtptime: u32,
    packets: u32,
    octets: u32,
    scratch: Vec<u8>,
    /// When the next sender report is due; `None` until the first frame is sent.
    next_report: Option<Instant>,
    /// When the last frame went out, which `last_rtptime` stands for.
    last_sent: Option<Instant>,
}

impl Stream {
    /// SR + SDES (+ BYE with `bye`'s reason), one compound packet (RFC 3550 6.1). The SR's RTP
    /// time is the last frame's, carried forward to `now` at 90 kHz: the instant `ntp` names.
    fn report(&self, now: Instant, ntp: u64, bye: Option<&str>) -> Vec<u8> {
        let since = self.last_sent.map(|t| now.saturating_duration_since(t));
        let ahead = since.unwrap_or_default().as_secs_f64() * 90_000.0;
        let mut packets = vec![
            RtcpPacket::SenderReport(SenderReport {
                ssrc: self.ssrc,
                ntp,
                rtp_timestamp: self.last_rtptime.wrapping_add(ahead as u32),
                packet_count: self.packets,
                octet_count: self.octets,
                reports: Vec::new(),
            }),
            RtcpPacket::SourceDescription(vec![(self.ssrc, SERVER_NAME.to_string())]),
        ];
        if let Some(reason) = bye {
            packets.push(RtcpPacket::Goodbye {
                ssrcs: vec![self.ssrc],
                reason: Some(reason.into()),
            });
        }
        let mut out = Vec::with_capacity(128);
        rtcp::write_compound(&packets, &mut out);
        out
    }
}

/// A viewer as its path's subscriber; its connection thread plays, pauses and ends it.
pub struct RtspViewer {
    stream: Mutex<Stream>,
    playing: AtomicBool,
    sent: AtomicU64,
    dropped: AtomicU64,
    kind: &'static str,
    counters: Arc<MediaCounters>,
}

/// Where a PLAY starts, for its RTP-Info.
pub struct PlayStart {
    pub seq: u16,
    /// Known only before the first frame: after a pause the next frame's time is the
    /// publisher's to say.
    pub rtptime: Option<u32>,
}

impl RtspViewer {
    /// A paused viewer sending over `transport` from `origin`; the server's per-transport
    /// counters count what it sends and drops.
    pub fn new(transport: MediaTransport, origin: RtpOrigin, counters: Arc<MediaCounters>) -> Self {
        let kind = match transport.name() {
            "udp" => "rtsp/udp",
            _ => "rtsp/tcp",
        };
        RtspViewer {
            stream: Mutex::new(Stream {
                transport,
                ssrc: origin.ssrc,
                seq: origin.seq,
                base: origin.rtptime,
                first_source: None,
                last_rtptime: origin.rtptime,
                packets: 0,
                octets: 0,
                scratch: Vec::new(),
                next_report: None,
                last_sent: None,
            }),
            playing: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            kind,
            counters,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// PLAY: frames from the next one on.
    pub fn play(&self) -> PlayStart {
        let s = self.lock();
        let start = PlayStart {
            seq: s.seq,
            rtptime: s.first_source.is_none().then_some(s.base),
        };
        self.playing.store(true, Ordering::SeqCst);
        start
    }

    /// PAUSE: no frames until the next PLAY.
    pub fn pause(&self) {
        self.playing.store(false, Ordering::SeqCst);
    }

    pub fn frames_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// A last sender report with BYE: the stream is over.
    pub fn say_bye(&self) {
        self.playing.store(false, Ordering::SeqCst);
        let s = self.lock();
        let out = s.report(Instant::now(), ntp_now(), Some("the publisher left"));
        if let Err(e) = s.transport.send_rtcp(&out) {
            log::debug!("live viewer: sending BYE: {e}");
        }
    }

    /// Sends `frame` at `now` (when it is handed over): its packets, then a sender report when
    /// one is due.
    fn send(&self, frame: &LiveFrame, now: Instant, ntp: u64) {
        if !self.playing.load(Ordering::Relaxed) {
            return;
        }
        let mut guard = self.lock();
        let s = &mut *guard;
        let first = *s.first_source.get_or_insert(frame.rtptime);
        let timestamp = s.base.wrapping_add(frame.rtptime.wrapping_sub(first));
        let stamp = RtpStamp {
            timestamp,
            ssrc: s.ssrc,
        };
        let kind = s.transport.kind();
        let result = s.transport.send_rtp(
            &frame.params,
            frame.scan(),
            stamp,
            &mut s.seq,
            &mut s.scratch,
        );
        match result {
            Ok(sent) if sent.dropped => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.counters.frames_dropped[kind].fetch_add(1, Ordering::Relaxed);
            }
            Ok(sent) => {
                s.last_rtptime = timestamp;
                s.last_sent = Some(now);
                s.packets = s.packets.wrapping_add(sent.packets);
                s.octets = s.octets.wrapping_add(sent.octets);
                self.sent.fetch_add(1, Ordering::Relaxed);
                self.counters.frames_sent[kind].fetch_add(1, Ordering::Relaxed);
                self.counters.bytes_sent[kind].fetch_add(u64::from(sent.octets), Ordering::Relaxed);
                if s.next_report.is_none_or(|due| now >= due) {
                    s.next_report = Some(now + REPORT_INTERVAL);
                    if let Err(e) = s.transport.send_rtcp(&s.report(now, ntp, None)) {
                        log::debug!("live viewer: sending a sender report: {e}");
                    }
                }
            }
            Err(e) => log::debug!("live viewer: sending a frame: {e}"),
        }
    }
}

impl Subscriber for RtspViewer {
    fn deliver(&self, frame: &Arc<LiveFrame>) {
        self.send(frame, Instant::now(), ntp_now());
    }

    fn end(&self) {
        self.say_bye();
    }

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::writer::Writer;
    use rtsp_proto::rtcp::parse_compound;
    use std::time::Duration;

    /// The RTCP packets among interleaved `$` frames (channel 1).
    fn rtcp_of(mut written: &[u8]) -> Vec<RtcpPacket> {
        let mut out = Vec::new();
        while let [b'$', channel, hi, lo, rest @ ..] = written {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if *channel == 1 {
                out.extend(parse_compound(&rest[..len]).unwrap());
            }
            written = &rest[len..];
        }
        assert!(written.is_empty(), "only $ frames are written");
        out
    }

    fn reports(packets: &[RtcpPacket]) -> Vec<&SenderReport> {
        packets
            .iter()
            .filter_map(|p| match p {
                RtcpPacket::SenderReport(sr) => Some(sr),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_sender_report_goes_with_the_first_frame_then_every_interval() {
        let (writer, written) = Writer::in_memory();
        let transport = MediaTransport::Interleaved {
            writer,
            rtp_channel: 0,
            rtcp_channel: 1,
        };
        let origin = RtpOrigin {
            ssrc: 7,
            seq: 100,
            rtptime: 1000,
        };
        let viewer = RtspViewer::new(transport, origin, Arc::default());
        viewer.play();
        let t0 = Instant::now();
        let frame = |rtptime| LiveFrame::for_tests(b"\xff\xd8scan\xff\xd9", rtptime);
        viewer.send(&frame(50_000), t0, 1 << 32);
        let first = rtcp_of(&written.take());
        let sr = reports(&first);
        assert_eq!(sr.len(), 1, "{first:?}");
        assert_eq!((sr[0].ssrc, sr[0].rtp_timestamp), (7, 1000));
        assert_eq!((sr[0].packet_count, sr[0].ntp), (1, 1 << 32));
        // Frames within the interval carry none.
        viewer.send(&frame(54_500), t0 + Duration::from_millis(50), 0);
        assert!(reports(&rtcp_of(&written.take())).is_empty());
        // Once it is due: the last frame's RTP time, packets and octets so far.
        let due = t0 + REPORT_INTERVAL;
        viewer.send(&frame(95_000), due, 5 << 32);
        let later = rtcp_of(&written.take());
        let sr = reports(&later);
        assert_eq!(sr.len(), 1);
        assert_eq!((sr[0].rtp_timestamp, sr[0].packet_count), (46_000, 3));
        assert!(sr[0].octet_count > 0);
        // The BYE's report carries the RTP time forward to when it is sent.
        viewer.say_bye();
        let bye = rtcp_of(&written.take());
        assert!(bye.iter().any(|p| matches!(p, RtcpPacket::Goodbye { .. })));
        assert!(reports(&bye)[0].rtp_timestamp.wrapping_sub(46_000) < 90_000 * 60);
    }
}
