//! A publisher on an RTSP connection: ANNOUNCE (its SDP, one publisher per path, none on a
//! channel's) and SETUP `mode=record` (RFC 2326 12.39: UDP ports the server binds for it, or
//! interleaved channels).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;

use rtsp_proto::rtsp::{
    LowerTransport, Method, PortRange, Request, Response, StatusCode, Transport,
};

use super::live::{records, refuse, LiveLink, LiveRole};
use super::{Connection, Refusal};
use crate::live::ingest::Ingest;
use crate::live::path::{PublishRefused, PublisherInfo, PUBLISHER_RTSP};
use crate::live::sdp;
use crate::live::session::{LiveSession, LiveState};
use crate::live::udp::UdpReceiver;
use crate::net::transport::bind_pair;

/// A publisher's stream and transport, from its ANNOUNCE on.
#[derive(Default)]
pub(super) struct Publisher {
    /// What it announced: its own, which may not be the path's description when it took
    /// over a path waiting for its publisher to come back.
    pub announced: Option<sdp::Announced>,
    /// UDP: the sockets bound at SETUP, read from RECORD on.
    pub pending: Option<(UdpSocket, UdpSocket, Ingest)>,
    pub receiver: Option<UdpReceiver>,
    /// Interleaved: the channels, and the frames' rebuilder once RECORD starts.
    pub channels: Option<(u8, u8)>,
    pub ingest: Option<Ingest>,
}

/// The first offered `mode=record` transport the server takes (RTP/AVP over UDP with a
/// client port, or interleaved), or 461.
fn record_transport(offered: &[Transport], config: &crate::Config) -> Result<Transport, Refusal> {
    offered
        .iter()
        .filter(|t| records(t))
        .find(|t| match t.lower {
            LowerTransport::RtpAvpTcp => config.tcp,
            LowerTransport::RtpAvpUdp => config.udp && t.client_port.is_some_and(|p| p.rtp != 0),
            LowerTransport::LabRtpUdp => false,
        })
        .cloned()
        .ok_or_else(|| {
            refuse(
                StatusCode::UNSUPPORTED_TRANSPORT,
                "no RTP/AVP transport to record over",
            )
        })
}

impl Connection<'_> {
    /// ANNOUNCE of a live path: its SDP read, the path taken (455 when it has a publisher,
    /// unless --publish-replace, and always on a channel's).
    pub(super) fn announce(&mut self, req: &Request, name: &str) -> Result<Response, Refusal> {
        if self.live.is_some() || self.session.is_some() {
            let why = "this connection already has a session";
            return Err(refuse(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE, why));
        }
        let announced = sdp::parse_announce(req.headers.get("Content-Type"), &req.body)
            .map_err(|e| refuse(e.status(), e.to_string()))?;
        let internal = |e: io::Error| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let session = LiveSession::new(
            self.ids.next().map_err(internal)?,
            self.shared.config.session_timeout,
            LiveState::Announced,
            self.now,
        );
        let publisher = PublisherInfo {
            kind: PUBLISHER_RTSP,
            peer: self.peer,
            transport: "announced",
            session: session.rtsp.id.clone(),
        };
        let replace = self.shared.config.publish_replace;
        let path = self
            .shared
            .live
            .publish(name, announced.clone(), publisher, replace)
            .map_err(
                |e @ (PublishRefused::Taken(_) | PublishRefused::Channel(_))| {
                    refuse(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE, e.to_string())
                },
            )?;
        log::info!(target: crate::SESSION_LOG, "{}: publishes on live/{name}", self.peer);
        self.shared.sessions.fetch_add(1, Ordering::SeqCst);
        self.live = Some(LiveLink {
            session,
            path,
            role: LiveRole::Publisher(Box::new(Publisher {
                announced: Some(announced),
                ..Publisher::default()
            })),
        });
        Ok(Response::new(StatusCode::OK))
    }

    /// SETUP `mode=record` of the path this connection announced: where its RTP will come in.
    pub(super) fn setup_record(
        &mut self,
        offered: &[Transport],
        name: &str,
        named: bool,
    ) -> Result<Response, Refusal> {
        let not_valid = |why: &str| refuse(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE, why);
        let Some(link) = self.live.as_ref() else {
            return Err(not_valid("SETUP mode=record needs an ANNOUNCE first"));
        };
        if link.path.name != name || !link.session.publishes() {
            return Err(not_valid(
                "SETUP mode=record of a path this connection did not announce",
            ));
        }
        if link.session.state() != LiveState::Announced && !named {
            return Err(refuse(
                StatusCode::SESSION_NOT_FOUND,
                "missing Session header",
            ));
        }
        let config = &self.shared.config;
        let mut t = record_transport(offered, config)?;
        let link = self.live.as_mut().expect("checked above");
        let LiveRole::Publisher(publisher) = &mut link.role else {
            unreachable!("publishes() checked above");
        };
        let announced = publisher.announced.as_ref().unwrap_or(&link.path.announced);
        let counters = link.path.counters.clone();
        let mut ingest = Ingest::new(announced.payload_type, config.max_frame, counters);
        if let Some((w, h)) = announced.dimensions {
            ingest.set_dimensions(w.min(u16::MAX as u32) as u16, h.min(u16::MAX as u32) as u16);
        }
        if t.lower == LowerTransport::RtpAvpTcp {
            let channels = t.interleaved.unwrap_or((0, 1));
            t.interleaved = Some(channels);
            publisher.channels = Some(channels);
            publisher.pending = None;
            publisher.ingest = Some(ingest);
            link.path.set_transport("tcp");
        } else {
            let client = t.client_port.expect("filtered above");
            let internal = |e: io::Error| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
            let (rtp, rtcp) = bind_pair(self.local.ip()).map_err(internal)?;
            let port = rtp.local_addr().map_err(internal)?.port();
            ingest.source = Some(SocketAddr::new(self.peer.ip(), client.rtp));
            publisher.pending = Some((rtp, rtcp, ingest));
            publisher.channels = None;
            t.server_port = Some(PortRange {
                rtp: port,
                rtcp: Some(port + 1),
            });
            link.path.set_transport("udp");
        }
        link.session
            .apply(&Method::Setup, true, self.now)
            .map_err(|s| refuse(s, "SETUP is not valid now"))?;
        t.unicast = Some(true);
        t.destination = None;
        let mut r = Response::new(StatusCode::OK);
        r.headers.append("Transport", t.to_string());
        Ok(r)
    }
}
