//! SETUP: choosing a transport from what the client offers, binding its sockets, and making
//! (or re-making) the session.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtsp_proto::playout::{RtpOrigin, Timeline};
use rtsp_proto::rtsp::{self, LowerTransport, Request, Response, StatusCode, Transport};
use rtsp_proto::session::{ServerSession, State};

use super::{Connection, Ids, Refusal, SessionLink};
use crate::catalog::TRACK_CONTROL;
use crate::media::PreparedMedia;
use crate::net::transport::{bind_pair, MediaTransport};
use crate::session::{SessionHandle, SessionState};

/// Why no offered transport was taken: the last reason found, as the 461 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum NoTransport {
    #[error("no transport the server offers (RTP/AVP over UDP or TCP, or the lab's RTP/UDP)")]
    NoneOffered,
    #[error("multicast is not offered")]
    Multicast,
    #[error("RTP over TCP is not offered (--transports)")]
    TcpOff,
    #[error("RTP over UDP is not offered (--transports)")]
    UdpOff,
    #[error("client_port is required")]
    NoClientPort,
    #[error("client_port 0 is not a port")]
    PortZero,
    #[error("destination differs from the client's address")]
    Elsewhere,
    #[error("RTP and RTCP on the same interleaved channel")]
    SameChannel,
    #[error("RTP and RTCP on the same client port")]
    SamePort,
    #[error("only mode=PLAY is offered (this server does not record)")]
    NotPlay,
}

/// A transport bound for a session, and the server ports to answer with (UDP only).
pub(super) struct Bound {
    pub transport: MediaTransport,
    pub server_port: Option<u16>,
}

impl Connection<'_> {
    pub(super) fn setup(&mut self, req: &Request, named: bool) -> Result<Response, Refusal> {
        self.check_setup_allowed(named)?;
        let header = req
            .headers
            .get("Transport")
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "missing Transport header"))?;
        let offered = Transport::parse_list(header)
            .map_err(|e| Refusal::new(StatusCode::UNSUPPORTED_TRANSPORT, e.to_string()))?;
        let mut transport = self
            .choose_transport(&offered)
            .map_err(|e| Refusal::new(StatusCode::UNSUPPORTED_TRANSPORT, e.to_string()))?;
        let (target, media) = self.open(&req.uri)?;
        let lab = transport.lower == LowerTransport::LabRtpUdp;
        if let (false, Some(why)) = (lab, &media.unsupported) {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                why.clone(),
            ));
        }
        let internal =
            |e: io::Error| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let bound = self.bind(&mut transport).map_err(internal)?;
        let track_url = format!("{}{}", self.content_base(&req.uri, &target), TRACK_CONTROL);
        let ssrc = self.install(bound.transport, media, lab, track_url, &target.name)?;
        let mut r = Response::new(StatusCode::OK);
        if !lab {
            transport.unicast = Some(true);
            transport.destination = None;
            transport.server_port = bound.server_port.map(|rtp| rtsp::PortRange {
                rtp,
                rtcp: Some(rtp + 1),
            });
            transport.ssrc = Some(ssrc);
            transport.mode = None;
        }
        r.headers.append("Transport", transport.to_string());
        Ok(r)
    }

    /// One session per connection, and its transport stays while it plays.
    fn check_setup_allowed(&self, named: bool) -> Result<(), Refusal> {
        let Some(s) = &self.session else {
            return Ok(());
        };
        if !named {
            // A second SETUP must name the first.
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                "this connection already has a session: name it in a Session header",
            ));
        }
        if s.handle.lock().rtsp.state() == State::Playing {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                "cannot change the transport while playing",
            ));
        }
        Ok(())
    }

    /// Picks the first offered transport the server can serve, or says why none fits.
    pub(super) fn choose_transport(&self, offered: &[Transport]) -> Result<Transport, NoTransport> {
        let mut why = NoTransport::NoneOffered;
        for t in offered {
            match self.refuse_transport(t) {
                None => return Ok(t.clone()),
                Some(reason) => why = reason,
            }
        }
        Err(why)
    }

    /// Why the server cannot serve `t`, if it cannot.
    fn refuse_transport(&self, t: &Transport) -> Option<NoTransport> {
        let config = &self.shared.config;
        if t.unicast == Some(false) {
            return Some(NoTransport::Multicast);
        }
        // RFC 2326 12.39: `mode` names the methods the session is for (PLAY when absent);
        // answering 200 to a RECORD session would promise what no request can then do.
        if t.mode
            .as_deref()
            .is_some_and(|m| !m.trim().eq_ignore_ascii_case("PLAY"))
        {
            return Some(NoTransport::NotPlay);
        }
        match t.lower {
            LowerTransport::RtpAvpTcp if !config.tcp => return Some(NoTransport::TcpOff),
            // RFC 2326 12.39: one channel for RTP, another for RTCP; one would mix the two.
            LowerTransport::RtpAvpTcp if t.interleaved.is_some_and(|(rtp, rtcp)| rtp == rtcp) => {
                return Some(NoTransport::SameChannel)
            }
            LowerTransport::RtpAvpTcp => return None,
            LowerTransport::RtpAvpUdp if !config.udp => return Some(NoTransport::UdpOff),
            _ => {}
        }
        match t.client_port {
            None => return Some(NoTransport::NoClientPort),
            Some(p) if p.rtp == 0 || p.rtcp == Some(0) => return Some(NoTransport::PortZero),
            Some(p) if p.rtcp == Some(p.rtp) => return Some(NoTransport::SamePort),
            _ => {}
        }
        // RTP goes only where the request came from: a destination elsewhere would turn the
        // server into a traffic reflector.
        let elsewhere = t
            .destination
            .as_ref()
            .is_some_and(|d| d.parse::<IpAddr>().ok() != Some(self.peer.ip()));
        elsewhere.then_some(NoTransport::Elsewhere)
    }

    /// Binds what the chosen transport needs; interleaved channels the client left to the
    /// server are filled in (RFC 2326 12.39).
    pub(super) fn bind(&self, transport: &mut Transport) -> io::Result<Bound> {
        if transport.lower == LowerTransport::RtpAvpTcp {
            let (rtp_channel, rtcp_channel) = transport.interleaved.unwrap_or((0, 1));
            transport.interleaved = Some((rtp_channel, rtcp_channel));
            let transport = MediaTransport::Interleaved {
                writer: self.writer.clone(),
                rtp_channel,
                rtcp_channel,
            };
            return Ok(Bound {
                transport,
                server_port: None,
            });
        }
        let client = transport.client_port.expect("checked by choose_transport");
        let rtp_dest = SocketAddr::new(self.peer.ip(), client.rtp);
        // A pacer sends for many sessions: a full send buffer must cost this session a
        // frame, never block the others. Hence non-blocking sockets.
        if transport.lower == LowerTransport::LabRtpUdp {
            let rtp = UdpSocket::bind(SocketAddr::new(self.local.ip(), 0))?;
            rtp.connect(rtp_dest)?;
            rtp.set_nonblocking(true)?;
            return Ok(Bound {
                transport: MediaTransport::Lab { rtp },
                server_port: None,
            });
        }
        let rtcp_port = client.rtcp.unwrap_or(client.rtp.wrapping_add(1));
        let (rtp, rtcp) = bind_pair(self.local.ip())?;
        rtp.connect(rtp_dest)?;
        rtp.set_nonblocking(true)?;
        rtcp.connect(SocketAddr::new(self.peer.ip(), rtcp_port))?;
        rtcp.set_nonblocking(true)?;
        let server_port = Some(rtp.local_addr()?.port());
        let transport = MediaTransport::Udp {
            rtp,
            rtcp: Arc::new(rtcp),
            gso: Cell::new(self.shared.config.gso),
        };
        Ok(Bound {
            transport,
            server_port,
        })
    }

    /// Makes the session (or gives the existing one its new file and transport), and says
    /// the stream's SSRC.
    fn install(
        &mut self,
        transport: MediaTransport,
        media: Arc<PreparedMedia>,
        lab: bool,
        track_url: String,
        name: &str,
    ) -> Result<u32, Refusal> {
        let now = self.now;
        let config = &self.shared.config;
        let timeline = Timeline {
            frames: media.frames.len() as u64,
            fps: media.fps(config.fps),
            looping: config.looping,
        };
        let rtcp_socket = transport.rtcp_socket().cloned();
        let rtcp_channel = transport.rtcp_channel();
        let refused = |status| Refusal::new(status, "");
        if let Some(s) = &mut self.session {
            let mut state = s.handle.lock();
            // A new timeline bumps the playout's generation: an entry a pacer still holds
            // for the old transport dies instead of sending on the new one.
            let origin = RtpOrigin {
                ssrc: 0,
                seq: 0,
                rtptime: 0,
            };
            state.rtsp.setup(timeline, origin, now).map_err(refused)?;
            state.transport = transport;
            state.media = media;
            let ssrc = state.rtsp.playout().map_or(0, |p| p.ssrc());
            drop(state);
            s.lab = lab;
            s.track_url = track_url;
            s.rtcp_socket = rtcp_socket;
            s.rtcp_channel = rtcp_channel;
            return Ok(ssrc);
        }
        if self.shared.sessions.load(Ordering::SeqCst) >= config.max_sessions {
            let why = "too many sessions (--max-sessions)";
            return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, why));
        }
        let internal =
            |e: io::Error| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let mut rtsp = ServerSession::new(self.ids.next().map_err(internal)?, now);
        rtsp.timeout = config.session_timeout;
        let origin = stream_origin(&mut self.ids, lab).map_err(internal)?;
        rtsp.setup(timeline, origin, now).map_err(refused)?;
        log::info!(
            target: crate::SESSION_LOG,
            "{}: session {} started: {name} over {}",
            self.peer,
            rtsp.id,
            transport.name()
        );
        let id = rtsp.id.clone();
        let handle = SessionHandle::new(SessionState {
            rtsp,
            media,
            transport,
            peer: self.peer,
        });
        self.shared.registry.insert(&id, &handle);
        self.session = Some(SessionLink {
            handle,
            id,
            lab,
            track_url,
            rtcp_socket,
            rtcp_channel,
        });
        self.shared.sessions.fetch_add(1, Ordering::SeqCst);
        Ok(origin.ssrc)
    }
}

/// A new stream's random SSRC, first sequence number and RTP time; the lab's server sends
/// SSRC 0 and numbers frames from 1, and the lab's client expects just that.
pub(super) fn stream_origin(ids: &mut Ids, lab: bool) -> io::Result<RtpOrigin> {
    let bits = ids.next()?;
    Ok(RtpOrigin {
        ssrc: if lab { 0 } else { bits as u32 },
        seq: if lab { 1 } else { (bits >> 32) as u16 },
        rtptime: ids.next()? as u32,
    })
}
