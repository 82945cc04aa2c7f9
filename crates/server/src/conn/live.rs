//! Live paths on an RTSP connection: which requests are live, a viewer's DESCRIBE, SETUP,
//! PLAY and PAUSE, and the end of a live session (the publisher's ANNOUNCE and SETUP
//! `mode=record` are [`super::publish`]'s; the rules are
//! [`crate::live::session::LiveSession`]'s; frames go through [`crate::live::path`]).

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rtsp_proto::rtsp::{
    LowerTransport, Method, PortRange, Request, Response, RtpInfo, StatusCode, Transport,
};

use super::{Connection, Refusal};
use crate::live::path::Path;
use crate::live::session::{LiveSession, LiveState};
use crate::live::udp::UdpReceiver;
use crate::live::viewer::RtspViewer;
use crate::live::{self, sdp};

/// A connection's live session: its rules, its path, and what it does there.
pub(super) struct LiveLink {
    pub session: LiveSession,
    pub path: Arc<Path>,
    pub role: LiveRole,
}

/// What a live session does on its path.
pub(super) enum LiveRole {
    Publisher(Box<super::publish::Publisher>),
    Viewer(Viewer),
}

pub(super) struct Viewer {
    viewer: Arc<RtspViewer>,
    subscription: Option<u64>,
    track_url: String,
    pub rtcp_socket: Option<Arc<UdpSocket>>,
    rtcp_channel: Option<u8>,
}

pub(super) fn refuse(status: StatusCode, why: impl Into<String>) -> Refusal {
    Refusal::new(status, why)
}

/// The base URL of a live path as the client named it, ending in `/`.
pub(super) fn live_base(uri: &str, name: &str) -> String {
    let key = format!("{}{name}", live::LIVE_PREFIX);
    match uri.find(&key) {
        Some(i) if uri.contains("://") => format!("{}/", &uri[..i + key.len()]),
        _ => format!("/{key}/"),
    }
}

/// Whether a Transport's `mode` asks to record (RFC 2326 12.39: `mode=record`, quoted or not).
pub(super) fn records(t: &Transport) -> bool {
    t.mode
        .as_deref()
        .is_some_and(|m| m.trim().trim_matches('"').eq_ignore_ascii_case("record"))
}

impl Connection<'_> {
    /// The answer to a request that concerns a live path (its URI is under `/live/`, or the
    /// connection's session is live); `None` leaves the request to file playback.
    pub(super) fn live_dispatch(
        &mut self,
        req: &Request,
        named: bool,
    ) -> Option<Result<Response, Refusal>> {
        let target = live::target(&req.uri);
        let has_live = self.live.is_some();
        let announced_only = self
            .live
            .as_ref()
            .is_some_and(|l| l.session.state() == LiveState::Announced);
        let answer = match (&req.method, target) {
            // Publishers (rtspclientsink) look for ANNOUNCE and RECORD in the answer; a file's
            // OPTIONS keeps the list of what files offer.
            (Method::Options, Some(_)) if !named || has_live => {
                if named {
                    if let Err(refusal) = self.live_method(req, Method::Options) {
                        return Some(Err(refusal));
                    }
                }
                let mut public = super::public();
                public.0.extend([Method::Announce, Method::Record]);
                let mut r = Response::new(StatusCode::OK);
                r.headers.append("Public", public.to_string());
                Ok(r)
            }
            (Method::Describe, Some((name, _))) => self.live_describe(req, &name),
            (Method::Announce, Some((name, _))) => self.announce(req, &name),
            (Method::Setup, Some((name, _))) => self.live_setup(req, &name, named),
            (Method::Record, Some(_)) if !has_live => Err(refuse(
                StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                "RECORD needs ANNOUNCE and SETUP first",
            )),
            (_, _) if !has_live => return None,
            // Before SETUP a publisher has no session id to name: its rules answer (455).
            (m, _) if announced_only && *m != Method::Teardown => self.live_method(req, m.clone()),
            (m, _) if !named && !matches!(m, Method::Options | Method::GetParameter) => Err(
                refuse(StatusCode::SESSION_NOT_FOUND, "missing Session header"),
            ),
            (Method::Options | Method::GetParameter, _) if !named => return None,
            (m, _) => self.live_method(req, m.clone()),
        };
        Some(answer)
    }

    fn live_describe(&mut self, req: &Request, name: &str) -> Result<Response, Refusal> {
        let path = self.shared.live.get(name).ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                format!("nobody publishes on live/{name}"),
            )
        })?;
        let body = sdp::describe(name, &self.local.ip().to_string(), 1, &path.announced);
        let mut r = Response::new(StatusCode::OK);
        r.headers.append("Content-Base", live_base(&req.uri, name));
        r.headers.append("Content-Type", "application/sdp");
        r.body = body.into_bytes();
        Ok(r)
    }

    fn live_setup(&mut self, req: &Request, name: &str, named: bool) -> Result<Response, Refusal> {
        let header = req
            .headers
            .get("Transport")
            .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "missing Transport header"))?;
        let offered = Transport::parse_list(header)
            .map_err(|e| refuse(StatusCode::UNSUPPORTED_TRANSPORT, e.to_string()))?;
        if offered.iter().any(records) {
            return self.setup_record(&offered, name, named);
        }
        self.setup_viewer(req, &offered, name, named)
    }

    /// Whether this connection may set up a live viewer now: no other session on it.
    fn check_viewer_setup(&self, named: bool) -> Result<(), Refusal> {
        if self.session.is_some() || (self.live.is_some() && !named) {
            let why = "this connection already has a session: name it in a Session header";
            return Err(refuse(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE, why));
        }
        if self.live.is_some() {
            // RFC 2326 allows a second SETUP to change the transport; a live path has one
            // stream and keeps the first.
            let why = "the live session is set up already";
            return Err(refuse(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE, why));
        }
        Ok(())
    }

    /// SETUP of a viewer: a transport as for files, and a paused subscriber of the path.
    fn setup_viewer(
        &mut self,
        req: &Request,
        offered: &[Transport],
        name: &str,
        named: bool,
    ) -> Result<Response, Refusal> {
        self.check_viewer_setup(named)?;
        let path = self.shared.live.get(name).ok_or_else(|| {
            refuse(
                StatusCode::NOT_FOUND,
                format!("nobody publishes on live/{name}"),
            )
        })?;
        let mut transport = self
            .choose_transport(offered)
            .map_err(|e| refuse(StatusCode::UNSUPPORTED_TRANSPORT, e.to_string()))?;
        if transport.lower == LowerTransport::LabRtpUdp {
            let why = "the lab's RTP/UDP carries files only; live paths need RTP/AVP";
            return Err(refuse(StatusCode::UNSUPPORTED_TRANSPORT, why));
        }
        let config = &self.shared.config;
        if self.shared.sessions.load(Ordering::SeqCst) >= config.max_sessions {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sessions (--max-sessions)",
            ));
        }
        let internal = |e: io::Error| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let bound = self.bind(&mut transport).map_err(internal)?;
        let origin = super::setup::stream_origin(&mut self.ids, false).map_err(internal)?;
        let session = LiveSession::new(
            self.ids.next().map_err(internal)?,
            config.session_timeout,
            LiveState::ViewReady,
            self.now,
        );
        let id = session.rtsp.id.clone();
        let rtcp_socket = bound.transport.rtcp_socket().cloned();
        let rtcp_channel = bound.transport.rtcp_channel();
        let kind = bound.transport.name();
        let viewer = Arc::new(RtspViewer::new(
            bound.transport,
            origin,
            self.shared.counters.clone(),
        ));
        log::info!(target: crate::SESSION_LOG, "{}: session {id} started: live/{name} over {kind}", self.peer);
        self.shared.sessions.fetch_add(1, Ordering::SeqCst);
        let track_url = format!("{}{}", live_base(&req.uri, name), sdp::VIEWER_CONTROL);
        self.live = Some(LiveLink {
            session,
            path,
            role: LiveRole::Viewer(Viewer {
                viewer,
                subscription: None,
                track_url,
                rtcp_socket,
                rtcp_channel,
            }),
        });
        transport.unicast = Some(true);
        transport.destination = None;
        transport.server_port = bound.server_port.map(|rtp| PortRange {
            rtp,
            rtcp: Some(rtp + 1),
        });
        transport.ssrc = Some(origin.ssrc);
        transport.mode = None;
        let mut r = Response::new(StatusCode::OK);
        r.headers.append("Transport", transport.to_string());
        Ok(r)
    }

    /// A method on the connection's live session (named in the request).
    fn live_method(&mut self, req: &Request, method: Method) -> Result<Response, Refusal> {
        let link = self.live.as_mut().expect("live_dispatch checked");
        let state = link.session.apply(&method, false, self.now).map_err(|s| {
            refuse(
                s,
                format!("{method} is not valid in state {:?}", link.session.state()),
            )
        })?;
        let mut r = Response::new(StatusCode::OK);
        match (&method, &link.role) {
            (Method::Play, LiveRole::Viewer(v)) => {
                // RFC 2326 12.29: a live stream has no position to seek to; Scale (12.34) is
                // answered with the one applied, 1.
                r.headers.append("Range", "npt=now-");
                if req.headers.get("Scale").is_some() {
                    r.headers.append("Scale", "1");
                }
                let start = v.viewer.play();
                let info = RtpInfo {
                    url: v.track_url.clone(),
                    seq: Some(start.seq),
                    rtptime: start.rtptime,
                };
                r.headers.append("RTP-Info", info.to_string());
            }
            (Method::Pause, LiveRole::Viewer(v)) => v.viewer.pause(),
            _ => {}
        }
        if link.session.publishes() {
            // PAUSE halts what the publisher sends reaching viewers, RECORD resumes it.
            link.path.set_paused(state != LiveState::Recording);
        }
        if method == Method::Record {
            r.headers.append("Range", "npt=now-");
        }
        Ok(r)
    }

    /// A publisher's TEARDOWN frees its path before the answer goes out: a publisher that
    /// starts again as soon as it has the answer (ffmpeg restarted, a camera reconnecting) must
    /// find the path free, not 455. The rest of the session ends after the answer, as any.
    pub(super) fn free_path_before_answer(&mut self, method: &Method) {
        if let Some(link) = self.live.as_ref().filter(|_| *method == Method::Teardown) {
            if matches!(link.role, LiveRole::Publisher(_)) {
                self.shared.live.unpublish(&link.path);
            }
        }
    }

    /// After a live PLAY or RECORD was answered: the viewer joins its path (so over TCP the
    /// answer goes before any frame), the publisher's packets start being read.
    pub(super) fn live_started(&mut self, method: &Method) {
        let shared = self.shared;
        let Some(link) = self.live.as_mut() else {
            return;
        };
        match (&mut link.role, method) {
            (LiveRole::Viewer(v), Method::Play) if v.subscription.is_none() => {
                // The path may have a new publisher since SETUP.
                if link.path.is_ended() {
                    if let Some(p) = shared.live.get(&link.path.name) {
                        link.path = p;
                    }
                }
                v.subscription = link.path.subscribe(v.viewer.clone());
                if v.subscription.is_none() {
                    v.viewer.say_bye();
                }
            }
            (LiveRole::Publisher(p), Method::Record) => {
                if let Some((rtp, rtcp, ingest)) = p.pending.take() {
                    match UdpReceiver::spawn(rtp, rtcp, ingest, link.path.clone()) {
                        Ok(r) => p.receiver = Some(r),
                        Err(e) => log::warn!("{}: cannot read the publisher's RTP: {e}", self.peer),
                    }
                }
            }
            _ => {}
        }
    }

    /// An interleaved frame on a live session: the publisher's RTP, or anyone's RTCP (which
    /// keeps the session alive). False when the session is not live.
    pub(super) fn live_interleaved(&mut self, channel: u8, packet: &[u8]) -> bool {
        let now = self.now;
        let Some(link) = self.live.as_mut() else {
            return false;
        };
        match &mut link.role {
            LiveRole::Publisher(p) => match p.channels {
                Some((rtp, _))
                    if rtp == channel && link.session.state() == LiveState::Recording =>
                {
                    link.session.touch(now);
                    if let Some(frame) = p.ingest.as_mut().and_then(|i| i.push(packet, now)) {
                        link.path.publish(frame);
                    }
                }
                Some((_, rtcp)) if rtcp == channel => link.session.touch(now),
                _ => {}
            },
            LiveRole::Viewer(v) if v.rtcp_channel == Some(channel) => link.session.touch(now),
            LiveRole::Viewer(_) => {}
        }
        true
    }

    /// Whether the live session must end now: it timed out (a publisher's packets count as
    /// activity), or another publisher replaced this one.
    pub(super) fn live_expired(&mut self) -> Option<&'static str> {
        let link = self.live.as_mut()?;
        if let LiveRole::Publisher(p) = &link.role {
            if let Some(r) = &p.receiver {
                link.session.touch(r.last_heard());
            }
            if link.path.is_ended() {
                return Some("replaced by another publisher");
            }
        }
        link.session
            .expired(self.now)
            .then_some("timed out: no request, RTP or RTCP")
    }

    /// Ends the live session: a publisher's path ends (its viewers get BYE), a viewer leaves
    /// its path with a BYE of its own.
    pub(super) fn end_live(&mut self, why: &str) {
        let Some(link) = self.live.take() else {
            return;
        };
        match link.role {
            LiveRole::Publisher(p) => {
                drop(p.receiver);
                self.shared.live.unpublish(&link.path);
            }
            LiveRole::Viewer(v) => {
                if let Some(id) = v.subscription {
                    link.path.unsubscribe(id);
                    v.viewer.say_bye();
                }
            }
        }
        log::info!(
            target: crate::SESSION_LOG,
            "{}: session {} ended ({why}): live/{}",
            self.peer,
            link.session.rtsp.id,
            link.path.name
        );
        self.shared.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}
