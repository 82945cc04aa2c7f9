//! RTCP from the client (receiver reports, BYE), and the end of the session with the server's
//! last report and BYE.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rtsp_proto::rtcp::{self, RtcpPacket};

use super::Connection;
use crate::SessionReport;

/// Largest RTCP datagram read; a compound packet from one receiver is far smaller.
const MAX_RTCP: usize = 1500;

impl Connection<'_> {
    /// Reads whatever RTCP the client sent over UDP, without blocking.
    pub(super) fn drain_rtcp(&mut self, now: Instant) {
        let Some(socket) = self.rtcp_socket() else {
            return;
        };
        let mut buf = [0u8; MAX_RTCP];
        while let Ok(n) = socket.recv(&mut buf) {
            match self.live.as_mut() {
                // A live viewer's RTCP only keeps its session alive.
                Some(l) => l.session.touch(now),
                None => self.on_rtcp(&buf[..n], now),
            }
        }
    }

    /// An interleaved frame from the client: RTCP on the session's odd channel; anything else
    /// (RTP from a recording client) is not expected and is dropped.
    pub(super) fn on_interleaved(&mut self, channel: u8, packet: &[u8]) {
        if self.live_interleaved(channel, packet) {
            return;
        }
        let rtcp_channel = self.session.as_ref().and_then(|s| s.rtcp_channel);
        if Some(channel) == rtcp_channel {
            self.on_rtcp(packet, self.now);
        } else {
            log::debug!(
                "{}: interleaved data on channel {channel} ignored",
                self.peer
            );
        }
    }

    /// Any RTCP from the client keeps its session alive; receiver reports are logged and kept.
    fn on_rtcp(&mut self, packet: &[u8], now: Instant) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        s.handle.lock().rtsp.touch(now);
        let packets = match rtcp::parse_compound(packet) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("{}: bad RTCP ({e})", self.peer);
                return;
            }
        };
        let id = &s.id;
        for p in packets {
            let blocks = match p {
                RtcpPacket::ReceiverReport(rr) => rr.reports,
                RtcpPacket::SenderReport(sr) => sr.reports,
                RtcpPacket::Goodbye { .. } => {
                    log::info!("{}: session {id}: client said BYE", self.peer);
                    continue;
                }
                _ => continue,
            };
            for block in blocks {
                log::info!(
                    "{}: session {id}: receiver report: {:.1}% lost recently, {} lost in all, jitter {:.2} ms",
                    self.peer,
                    block.fraction_lost as f64 * 100.0 / 256.0,
                    block.cumulative_lost,
                    block.jitter as f64 / 90.0
                );
                self.shared.record_report(SessionReport {
                    session: id.clone(),
                    peer: self.peer,
                    block,
                });
            }
        }
    }

    /// Ends the session: a last SR with BYE tells the client the stream is over. The pacers
    /// drop their entry (and with it the sockets) at its next deadline.
    pub(super) fn end_session(&mut self, why: &str) {
        self.end_live(why);
        let Some(s) = self.session.take() else {
            return;
        };
        let mut state = s.handle.lock();
        let (file, transport) = (state.media.path.clone(), state.transport.name());
        if let Some(stopped) = state.rtsp.teardown() {
            if stopped.has_started() && !state.transport.is_lab() {
                let report = stopped.rtcp_report(
                    self.now,
                    crate::session::ntp_now(),
                    crate::session::SERVER_NAME,
                    true,
                );
                let _ = state.transport.send_rtcp(&report);
            }
        }
        drop(state);
        log::info!(
            target: crate::SESSION_LOG,
            "{}: session {} ended ({why}): {} over {transport}",
            self.peer,
            s.id,
            crate::catalog::name_in(&self.shared.config.videos, &file),
        );
        self.shared.registry.remove(&s.id);
        self.shared.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}
