//! A session as its connection thread and the pacers share it.
//!
//! The rules of the session (which method is valid when, pause, seek, what each frame is
//! stamped with) are [`rtsp_proto::session::ServerSession`] and its
//! [`rtsp_proto::playout::Playout`], sans-IO. This module adds what they do not know: the file
//! ([`PreparedMedia`]), the sockets ([`MediaTransport`]), and the one mutex behind which the
//! connection thread (requests, RTCP) and a pacer (frames) take turns, each briefly. Neither
//! reaches into the other's fields: the connection calls [`SessionHandle`]'s methods, a pacer
//! calls [`SessionState::send_due_frames`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rtsp_proto::playout::{self, DueFrame, Playout, Poll};
use rtsp_proto::rtcp;
use rtsp_proto::session::ServerSession;

use crate::media::{PreparedMedia, Unavailable};
use crate::net::transport::{MediaTransport, RtpStamp};

/// Who the server says it is in RTCP SDES and the Server header.
pub const SERVER_NAME: &str = concat!("mjpeg-rtsp/", env!("CARGO_PKG_VERSION"));

/// What the pacers sent and dropped, by transport (indexed as
/// [`crate::net::transport::TRANSPORT_NAMES`]): the server's totals for `/metrics`.
#[derive(Debug, Default)]
pub struct MediaCounters {
    pub frames_sent: [AtomicU64; 4],
    /// Payload octets: RTP payloads, or whole multipart parts.
    pub bytes_sent: [AtomicU64; 4],
    /// Frames not sent: too late, not converted in time, or a client too slow for them.
    pub frames_dropped: [AtomicU64; 4],
}

impl MediaCounters {
    /// Frames dropped on every transport.
    pub fn dropped(&self) -> u64 {
        self.frames_dropped
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// What the connection thread and the pacers share of one session.
pub struct SessionState {
    /// The RTSP state machine, which owns the playout.
    pub rtsp: ServerSession,
    pub media: Arc<PreparedMedia>,
    pub transport: MediaTransport,
    /// The client, for logs.
    pub peer: SocketAddr,
}

/// A session's shared state; clones are the same session.
#[derive(Clone)]
pub struct SessionHandle(Arc<Mutex<SessionState>>);

impl SessionHandle {
    pub fn new(state: SessionState) -> SessionHandle {
        SessionHandle(Arc::new(Mutex::new(state)))
    }

    /// Locks the session; a pacer that panicked while holding it leaves the state as usable
    /// as any (the panic is caught per session, see `pacer::send_batch`).
    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many handles to this session exist (tests: the pacers let go of a torn-down one).
    pub fn handles(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Where this session's state lives, for prefetching it into the cache.
    pub(crate) fn as_ptr(&self) -> *const Mutex<SessionState> {
        Arc::as_ptr(&self.0)
    }
}

/// Every session that exists now, by id: whoever makes a session adds it and removes it when
/// it ends, so status pages can list them without asking each connection.
#[derive(Default)]
pub struct Registry(Mutex<HashMap<String, SessionHandle>>);

impl Registry {
    pub fn insert(&self, id: &str, session: &SessionHandle) {
        self.lock().insert(id.to_string(), session.clone());
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The sessions now, by id, sorted by id (a copy: no session's lock is taken here).
    pub fn snapshot(&self) -> Vec<(String, SessionHandle)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SessionHandle>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The wallclock now as an RTCP NTP timestamp (RFC 3550 4).
pub fn ntp_now() -> u64 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    rtcp::ntp_from_unix(unix)
}

impl SessionState {
    fn playout(&self) -> Option<&Playout> {
        self.rtsp.playout()
    }

    /// When a pacer must next call [`SessionState::send_due_frames`], while playing.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.playout()?.poll_timeout()
    }

    /// The playout's generation (see [`Playout::generation`]), for the pacer's heap entries.
    pub fn generation(&self) -> Option<u64> {
        self.playout().map(Playout::generation)
    }

    /// Sends every frame due by `now`; at the end of the file says BYE (or ends the multipart
    /// response). Frames too late to send, frames not converted in time, and frames a client
    /// was too slow for count as dropped in `counters`. Packets are written into `scratch`,
    /// which the pacer reuses for every session it serves: one buffer that stays in the cache
    /// instead of one per session.
    pub fn send_due_frames(
        &mut self,
        now: Instant,
        counters: &MediaCounters,
        scratch: &mut Vec<u8>,
    ) {
        let kind = self.transport.kind();
        let dropped = &counters.frames_dropped[kind];
        while let Some(poll) = self.rtsp.playout_mut().and_then(|p| p.poll_frame(now)) {
            match poll {
                Poll::Skipped(n) => {
                    dropped.fetch_add(n, Ordering::Relaxed);
                    log::info!("{}: {n} frames skipped: too late to send", self.peer);
                }
                Poll::End if self.transport.is_multipart() => {
                    log::info!("{}: end of {}", self.peer, self.media.path.display());
                    self.transport.finish_parts();
                }
                Poll::End => {
                    log::info!("{}: end of {}: BYE", self.peer, self.media.path.display());
                    self.send_report(now, true);
                }
                Poll::Frame(due) => {
                    if let Some(octets) = self.send_frame(due, dropped, scratch) {
                        counters.frames_sent[kind].fetch_add(1, Ordering::Relaxed);
                        counters.bytes_sent[kind].fetch_add(octets, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Sends one frame and tells the playout what went out; gives the octets sent, or `None`
    /// when the frame was not sent.
    fn send_frame(
        &mut self,
        due: DueFrame,
        dropped: &AtomicU64,
        scratch: &mut Vec<u8>,
    ) -> Option<u64> {
        let ssrc = self.playout().map(Playout::ssrc)?;
        let mut seq = due.seq;
        let media = &self.media;
        let result = if self.transport.is_multipart() {
            // A browser's <img> (or ffmpeg's mpjpeg reader) takes any JPEG: the file's own.
            Ok(self
                .transport
                .send_part(&media.data[media.frames[due.index].jpeg.clone()]))
        } else if self.transport.is_lab() {
            // The lab's client gets the file's own JPEG, whatever kind it is.
            let jpeg = &media.data[media.frames[due.index].jpeg.clone()];
            self.transport
                .send_lab(jpeg, due.rtptime, &mut seq, scratch)
        } else {
            match media.rtp_frame(due.index) {
                Ok(frame) => {
                    let (params, scan) = frame.parts();
                    let stamp = RtpStamp {
                        timestamp: due.rtptime,
                        ssrc,
                    };
                    self.transport
                        .send_rtp(params, scan, stamp, &mut seq, scratch)
                }
                Err(Unavailable::Skipped) => return None,
                Err(Unavailable::NotReady) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    log::debug!(
                        "{}: frame {} skipped: not converted in time",
                        self.peer,
                        due.index
                    );
                    return None;
                }
            }
        };
        match result {
            Ok(sent) => {
                if sent.dropped {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    log::info!(
                        "{}: frame {} dropped: its {} send queue is full",
                        self.peer,
                        due.index,
                        self.transport.name()
                    );
                }
                if let Some(p) = self.rtsp.playout_mut() {
                    p.frame_sent(playout::Sent {
                        next_seq: seq,
                        packets: sent.packets,
                        octets: sent.octets,
                    });
                }
                (!sent.dropped).then_some(u64::from(sent.octets))
            }
            Err(e) => {
                log::warn!("{}: sending frame {}: {e}", self.peer, due.index);
                None
            }
        }
    }

    /// Sends a sender report (with BYE when `bye`) the transport's way.
    pub fn send_report(&self, now: Instant, bye: bool) {
        let Some(p) = self.playout() else {
            return;
        };
        let report = p.rtcp_report(now, ntp_now(), SERVER_NAME, bye);
        if let Err(e) = self.transport.send_rtcp(&report) {
            log::debug!("{}: sending RTCP: {e}", self.peer);
        }
    }

    /// A sender report if one is due (every few seconds while playing).
    pub fn send_report_if_due(&mut self, now: Instant) {
        if self.transport.is_lab() || self.transport.is_multipart() {
            return;
        }
        if self.rtsp.playout_mut().is_some_and(|p| p.poll_report(now)) {
            self.send_report(now, false);
        }
    }

    /// When a sender report is next due, while playing.
    pub fn report_deadline(&self, now: Instant) -> Option<Instant> {
        if self.transport.is_lab() || self.transport.is_multipart() {
            return None;
        }
        self.playout()?.report_timeout(now)
    }
}
