//! An RTSP viewer of a live path: each shared frame re-packetized (RFC 2435, the server's own
//! packetizer) with the viewer's own SSRC, sequence numbers and RTP times, into its transport
//! (UDP, interleaved TCP, or the HTTP tunnel), which drops the whole frame when the viewer is
//! behind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rtsp_proto::playout::RtpOrigin;
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
        let packets = [
            RtcpPacket::SenderReport(SenderReport {
                ssrc: s.ssrc,
                ntp: ntp_now(),
                rtp_timestamp: s.last_rtptime,
                packet_count: s.packets,
                octet_count: s.octets,
                reports: Vec::new(),
            }),
            RtcpPacket::SourceDescription(vec![(s.ssrc, SERVER_NAME.to_string())]),
            RtcpPacket::Goodbye {
                ssrcs: vec![s.ssrc],
                reason: Some("the publisher left".into()),
            },
        ];
        let mut out = Vec::with_capacity(128);
        rtcp::write_compound(&packets, &mut out);
        if let Err(e) = s.transport.send_rtcp(&out) {
            log::debug!("live viewer: sending BYE: {e}");
        }
    }
}

impl Subscriber for RtspViewer {
    fn deliver(&self, frame: &Arc<LiveFrame>) {
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
                s.packets = s.packets.wrapping_add(sent.packets);
                s.octets = s.octets.wrapping_add(sent.octets);
                self.sent.fetch_add(1, Ordering::Relaxed);
                self.counters.frames_sent[kind].fetch_add(1, Ordering::Relaxed);
                self.counters.bytes_sent[kind].fetch_add(u64::from(sent.octets), Ordering::Relaxed);
            }
            Err(e) => log::debug!("live viewer: sending a frame: {e}"),
        }
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
