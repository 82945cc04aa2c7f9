//! One RTSP connection and its session, on one thread.
//!
//! The thread waits for the next request (or RTCP) until the next frame is due (see
//! [`crate::wait`]), so requests and frames never race and no lock guards a socket. Frame
//! deadlines are absolute (`start + n * period`): a late frame does not delay the next one.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtsp_proto::interleaved;
use rtsp_proto::rtcp::{self, RtcpPacket};
use rtsp_proto::rtsp::{
    self, Limits, LowerTransport, Method, NptTime, Parsed, Public, Range, Request, Response,
    RtpInfo, Session, StatusCode, Transport,
};
use rtsp_proto::sdp::MediaDescription;
use rtsp_proto::session::{ServerSession, State, Transition};

use crate::catalog::{self, CatalogError, TRACK_CONTROL};
use crate::media::PreparedMedia;
use crate::pacer::{self, Playout, SharedPlayout, SERVER_NAME};
use crate::transport::{bind_pair, MediaTransport};
use crate::wait;
use crate::writer::Writer;
use crate::{SessionReport, Shared};

/// The methods this server implements, as OPTIONS and 501 answers list them.
pub fn public() -> Public {
    Public(vec![
        Method::Options,
        Method::Describe,
        Method::Setup,
        Method::Play,
        Method::Pause,
        Method::Teardown,
        Method::GetParameter,
    ])
}

/// RFC 3550 6.2 suggests 5 s as the minimum RTCP interval; one source needs no more.
const SR_INTERVAL: Duration = Duration::from_secs(5);

/// Answers 503 to a connection over the limit, without reading from it.
pub fn refuse_busy(mut stream: TcpStream) {
    let mut r = Response::new(StatusCode::SERVICE_UNAVAILABLE);
    r.headers.append("Server", SERVER_NAME);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&r.to_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// A session as its connection thread holds it; what goes out is in its [`Playout`], shared
/// with the pacer that sends its frames.
struct Stream {
    session: ServerSession,
    playout: SharedPlayout,
    /// The lab's transport: it reads replies by line and has no keepalive.
    lab: bool,
    /// The track URL as the client named it, for RTP-Info.
    track_url: String,
    /// Where the client's RTCP arrives: a UDP socket this thread polls, or an interleaved
    /// channel on the connection.
    rtcp_socket: Option<Arc<UdpSocket>>,
    rtcp_channel: Option<u8>,
    next_sr: Instant,
}

impl Stream {
    fn playout(&self) -> std::sync::MutexGuard<'_, Playout> {
        pacer::lock(&self.playout)
    }
}

struct Connection<'a> {
    shared: &'a Shared,
    /// Shared with the writer thread, which does all the writing.
    stream: Arc<TcpStream>,
    writer: Writer,
    peer: SocketAddr,
    local: SocketAddr,
    limits: Limits,
    buf: Vec<u8>,
    /// When the first byte of the request now in `buf` arrived.
    request_started: Option<Instant>,
    last_rx: Instant,
    /// The buffered bytes have already been offered as a quiet (lab) request.
    quiet_checked: bool,
    session: Option<Stream>,
}

/// Serves one connection until the peer closes it, it idles out, or the server stops.
pub fn serve(stream: TcpStream, shared: &Shared) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let writer = match Writer::spawn(&stream) {
        Ok(w) => w,
        Err(e) => {
            log::warn!("{peer}: cannot start the writer thread: {e}");
            return;
        }
    };
    log::info!("{peer}: connected");
    let now = Instant::now();
    let mut conn = Connection {
        shared,
        stream,
        writer,
        peer,
        local,
        limits: shared.config.limits,
        buf: Vec::with_capacity(4096),
        request_started: None,
        last_rx: now,
        quiet_checked: false,
        session: None,
    };
    match conn.run() {
        Ok(()) => log::info!("{peer}: closed"),
        Err(e) => log::info!("{peer}: closed ({e})"),
    }
    conn.end_session("connection closed");
    // Stops the writer thread once what is queued is written (or the peer is gone).
    let _ = conn.stream.shutdown(Shutdown::Read);
}

/// Entropy for session ids and SSRCs: the operating system's random source, so session ids
/// cannot be guessed; a hash of the peer and the time only if that source is missing.
pub(crate) fn os_random() -> u64 {
    let mut bytes = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.finish()
        }
    }
}

impl Connection<'_> {
    fn random(&mut self) -> u64 {
        os_random()
    }

    fn fps(&self) -> f64 {
        self.shared.config.fps
    }

    fn run(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            if self.shared.stopping.load(Ordering::Relaxed) {
                return Ok(());
            }
            if self.writer.is_dead() {
                return Ok(());
            }
            let now = Instant::now();
            self.send_sender_report(now);
            if let Some(s) = &self.session {
                // The lab's client has no keepalive: its open connection is its liveness.
                if !s.lab && s.session.expired(now) {
                    self.end_session("timed out: no request or RTCP");
                    return Ok(());
                }
            } else if now.duration_since(self.last_rx) > self.shared.config.idle_timeout {
                return Ok(());
            }
            if let Some(started) = self.request_started {
                if now.duration_since(started) > self.shared.config.request_timeout {
                    let r = Response::new(StatusCode::REQUEST_TIMEOUT);
                    self.write_response(None, r, false)?;
                    return Ok(());
                }
            }

            // Quiet: a lab request (no blank line) may now be whole.
            if !self.buf.is_empty()
                && !self.quiet_checked
                && now.duration_since(self.last_rx) >= self.shared.config.lab_quiet
            {
                self.quiet_checked = true;
                self.handle_buffered(true)?;
            }

            let wake = self.next_wake(now);
            let timeout = wake.saturating_duration_since(Instant::now());
            let rtcp = self.session.as_ref().and_then(|s| s.rtcp_socket.as_deref());
            let ready = wait::wait(&self.stream, rtcp, &self.shared.stop_signal, timeout)?;
            if ready.rtcp {
                self.drain_rtcp(Instant::now());
            }
            if !ready.rtsp {
                continue;
            }
            match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let now = Instant::now();
                    if self.buf.is_empty() {
                        self.request_started = Some(now);
                    }
                    self.last_rx = now;
                    self.quiet_checked = false;
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.handle_buffered(false)?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The earliest moment the loop must act without input.
    fn next_wake(&self, now: Instant) -> Instant {
        // Frames are the pacer's: this thread wakes only for its own deadlines (requests,
        // RTCP and the server stopping wake it through `wait`).
        let config = &self.shared.config;
        let mut wake = match &self.session {
            Some(s) if !s.lab => s.session.deadline(),
            // The lab's client has no keepalive: its open connection is its liveness.
            Some(_) => now + Duration::from_secs(3600),
            None => self.last_rx + config.idle_timeout,
        };
        if let Some(s) = &self.session {
            let playing = {
                let p = s.playout();
                p.clock.is_some() && !p.finished
            };
            if playing && !s.lab {
                wake = wake.min(s.next_sr);
            }
        }
        if let Some(started) = self.request_started {
            wake = wake.min(started + config.request_timeout);
        }
        if !self.buf.is_empty() && !self.quiet_checked {
            wake = wake.min(self.last_rx + config.lab_quiet);
        }
        // The checks above compare with `>`: a millisecond past the deadline, they fire.
        wake + Duration::from_millis(1)
    }

    /// Parses and answers every complete request in the buffer. With `quiet`, a request head
    /// that never got its blank line (the lab's) is taken as complete.
    fn handle_buffered(&mut self, quiet: bool) -> io::Result<()> {
        loop {
            if self.buf.is_empty() {
                self.request_started = None;
                return Ok(());
            }
            match interleaved::parse(&self.buf) {
                Some(Some(frame)) => {
                    let packet = self.buf[frame.payload.clone()].to_vec();
                    self.buf.drain(..frame.len);
                    self.on_interleaved(frame.channel, &packet);
                    continue;
                }
                Some(None) => return Ok(()),
                None => {}
            }
            match rtsp::parse_request(&self.buf, &self.limits) {
                Ok(Parsed::Complete(req, used)) => {
                    self.buf.drain(..used);
                    self.request_started = (!self.buf.is_empty()).then_some(self.last_rx);
                    self.handle(req)?;
                }
                Ok(Parsed::Incomplete) => {
                    if self.buf.len() > self.limits.max_message() {
                        self.buf.clear();
                        return self.bad_request("request too large");
                    }
                    // Only the lab's shape: LF-only lines and at least a whole request line.
                    let lab_shaped = !self.buf.contains(&b'\r') && self.buf.contains(&b'\n');
                    if !(quiet && lab_shaped) {
                        return Ok(());
                    }
                    let taken = std::mem::take(&mut self.buf);
                    match rtsp::parse_unterminated_request(&taken, &self.limits) {
                        Ok(req) => self.handle(req)?,
                        Err(e) => self.bad_request(&e.to_string())?,
                    }
                }
                Err(e) => {
                    // Nothing tells where the broken message ends: drop what arrived.
                    self.buf.clear();
                    if let rtsp::ParseError::BodyTooLarge { .. } = e {
                        let mut r = Response::new(StatusCode::REQUEST_ENTITY_TOO_LARGE);
                        r.body = format!("{e}\r\n").into_bytes();
                        return self.write_response(None, r, false);
                    }
                    return self.bad_request(&e.to_string());
                }
            }
        }
    }

    fn bad_request(&mut self, why: &str) -> io::Result<()> {
        log::info!("{}: 400 Bad Request: {why}", self.peer);
        let mut r = Response::new(StatusCode::BAD_REQUEST);
        r.body = format!("{why}\r\n").into_bytes();
        r.headers.append("Content-Type", "text/plain");
        self.write_response(None, r, false)
    }

    /// Writes a response: `CSeq` first and `Session` second, where the lab's client looks.
    fn write_response(
        &mut self,
        cseq: Option<u32>,
        response: Response,
        with_session: bool,
    ) -> io::Result<()> {
        let mut out = Response {
            headers: rtsp::Headers::new(),
            ..response.clone()
        };
        if let Some(c) = cseq {
            out.headers.append("CSeq", c.to_string());
        }
        if with_session {
            if let Some(s) = &self.session {
                // `;timeout=` only when it is not RFC 2326's default: the lab's client cannot
                // parse it.
                let secs = s.session.timeout.as_secs() as u32;
                let timeout = (s.session.timeout != rtsp_proto::session::DEFAULT_TIMEOUT && !s.lab)
                    .then_some(secs.max(1));
                out.headers.append(
                    "Session",
                    Session {
                        id: s.session.id.clone(),
                        timeout,
                    }
                    .to_string(),
                );
            }
        }
        for (n, v) in response.headers.iter() {
            out.headers.append(n, v);
        }
        if !self.session.as_ref().is_some_and(|s| s.lab) {
            out.headers.append("Server", SERVER_NAME);
        }
        log::debug!("{}: -> {} {}", self.peer, out.status.0, out.reason);
        self.writer.send_message(out.to_bytes())
    }

    fn handle(&mut self, req: Request) -> io::Result<()> {
        log::debug!("{}: <- {} {}", self.peer, req.method, req.uri);
        let cseq = req.headers.cseq();
        if req.version != rtsp::RTSP_1_0 {
            return self.write_response(
                cseq,
                Response::new(StatusCode::RTSP_VERSION_NOT_SUPPORTED),
                false,
            );
        }
        if cseq.is_none() {
            return self.bad_request("missing or malformed CSeq");
        }
        // OPTIONS stays open (clients probe with it before they know a realm); the rest needs
        // credentials when users are configured.
        if let (Some(auth), false) = (&self.shared.auth, req.method == Method::Options) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if let Err(refusal) =
                auth.check(req.headers.get("Authorization"), req.method.as_str(), now)
            {
                log::info!(
                    "{}: {} {}: 401 ({refusal:?})",
                    self.peer,
                    req.method,
                    req.uri
                );
                let mut r = Response::new(StatusCode::UNAUTHORIZED);
                for c in auth.challenges(now, refusal == rtsp_proto::auth::Refusal::Stale) {
                    r.headers.append("WWW-Authenticate", c.to_header());
                }
                return self.write_response(cseq, r, false);
            }
        }
        // A request naming a session must name ours.
        let named = match req.headers.get("Session").map(Session::parse) {
            None => None,
            Some(Ok(s)) => Some(s.id),
            Some(Err(e)) => return self.bad_request(&e.to_string()),
        };
        if let Some(id) = &named {
            if self.session.as_ref().map(|s| &s.session.id) != Some(id) {
                return self.write_response(
                    cseq,
                    Response::new(StatusCode::SESSION_NOT_FOUND),
                    false,
                );
            }
        }
        let has_session = named.is_some();
        let result = match req.method {
            Method::Options => {
                if has_session {
                    self.touch();
                }
                let mut r = Response::new(StatusCode::OK);
                r.headers.append("Public", public().to_string());
                Ok(r)
            }
            Method::Describe => self.describe(&req),
            Method::Setup => self.setup(&req, has_session),
            Method::Play | Method::Pause | Method::Teardown | Method::GetParameter
                if !has_session =>
            {
                match req.method {
                    // GET_PARAMETER without a session is a connection keepalive.
                    Method::GetParameter => Ok(Response::new(StatusCode::OK)),
                    _ if self.session.is_some() => Err((
                        StatusCode::SESSION_NOT_FOUND,
                        "missing Session header".to_string(),
                    )),
                    _ => Err((
                        StatusCode::SESSION_NOT_FOUND,
                        "no session: SETUP first".to_string(),
                    )),
                }
            }
            Method::Play => self.play(&req),
            Method::Pause => self.apply(Method::Pause),
            Method::Teardown => self.apply(Method::Teardown),
            Method::GetParameter => self.apply(Method::GetParameter),
            _ => {
                let mut r = Response::new(StatusCode::NOT_IMPLEMENTED);
                r.headers.append("Public", public().to_string());
                Ok(r)
            }
        };
        let with_session = has_session || req.method == Method::Setup;
        match result {
            Ok(r) => {
                self.write_response(cseq, r, with_session && self.session.is_some())?;
                match req.method {
                    // Only now: over TCP the reply must reach the client before any frame.
                    Method::Play => self.start_pacing(),
                    Method::Teardown => self.end_session("TEARDOWN"),
                    _ => {}
                }
                Ok(())
            }
            Err((status, why)) => {
                log::info!(
                    "{}: {} {} -> {status}: {why}",
                    self.peer,
                    req.method,
                    req.uri
                );
                let mut r = Response::new(status);
                if !why.is_empty() {
                    r.headers.append("Content-Type", "text/plain");
                    r.body = format!("{why}\r\n").into_bytes();
                }
                let with = has_session && self.session.is_some();
                self.write_response(cseq, r, with)
            }
        }
    }

    fn touch(&mut self) {
        if let Some(s) = &mut self.session {
            s.session.touch(Instant::now());
        }
    }

    fn open(
        &self,
        uri: &str,
    ) -> Result<(catalog::Target, Arc<PreparedMedia>), (StatusCode, String)> {
        let target = catalog::target(uri).map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
        let path =
            catalog::resolve(&self.shared.config.videos, &target.name).map_err(|e| match e {
                CatalogError::Outside(_) => (StatusCode::NOT_FOUND, e.to_string()),
                _ => (StatusCode::NOT_FOUND, e.to_string()),
            })?;
        let media = self.shared.cache.get(&path).map_err(|e| {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{}: {e}", target.name),
            )
        })?;
        Ok((target, media))
    }

    /// The base URL for a file: the client's absolute URL when it sent one (minus the track
    /// control), so relative controls resolve against the address the client actually used.
    fn content_base(&self, uri: &str, target: &catalog::Target) -> String {
        if uri.to_ascii_lowercase().starts_with("rtsp://") {
            let mut base = uri
                .split(['?', '#'])
                .next()
                .unwrap_or(uri)
                .trim_end_matches('/');
            if target.track {
                base = base
                    .strip_suffix(TRACK_CONTROL)
                    .map(|b| b.trim_end_matches('/'))
                    .unwrap_or(base);
            }
            format!("{base}/")
        } else {
            format!("rtsp://{}/{}/", self.local, target.name)
        }
    }

    fn describe(&mut self, req: &Request) -> Result<Response, (StatusCode, String)> {
        let (target, media) = self.open(&req.uri)?;
        if let Some(why) = &media.unsupported {
            log::warn!("{}: DESCRIBE {}: 415: {why}", self.peer, target.name);
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, why.clone()));
        }
        let fps = self.fps();
        let description = MediaDescription {
            session_id: media.version,
            name: target.name.clone(),
            origin_address: self.local.ip().to_string(),
            framerate: fps,
            duration: (!self.shared.config.looping).then(|| media.duration(fps)),
            track_control: TRACK_CONTROL.to_string(),
            dimensions: media.dimensions.map(|(w, h)| (w as u32, h as u32)),
        };
        let mut r = Response::new(StatusCode::OK);
        r.headers
            .append("Content-Base", self.content_base(&req.uri, &target));
        r.headers.append("Content-Type", "application/sdp");
        r.body = description.to_sdp().into_bytes();
        Ok(r)
    }

    fn setup(
        &mut self,
        req: &Request,
        has_session: bool,
    ) -> Result<Response, (StatusCode, String)> {
        if self.session.is_some() && !has_session {
            // One session per connection: a second SETUP must name the first.
            return Err((
                StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                "this connection already has a session: name it in a Session header".into(),
            ));
        }
        if let Some(s) = &self.session {
            if s.session.state == State::Playing {
                return Err((
                    StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                    "cannot change the transport while playing".into(),
                ));
            }
        }
        let header = req.headers.get("Transport").ok_or((
            StatusCode::BAD_REQUEST,
            "missing Transport header".to_string(),
        ))?;
        let offered = Transport::parse_list(header)
            .map_err(|e| (StatusCode::UNSUPPORTED_TRANSPORT, e.to_string()))?;
        let (transport, why) = self.choose_transport(&offered);
        let mut transport =
            transport.ok_or((StatusCode::UNSUPPORTED_TRANSPORT, why.to_string()))?;
        let (target, media) = self.open(&req.uri)?;
        let lab = transport.lower == LowerTransport::LabRtpUdp;
        if !lab {
            if let Some(why) = &media.unsupported {
                return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, why.clone()));
            }
        }
        let internal = |e: io::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        let (media_transport, server_port) = match transport.lower {
            LowerTransport::RtpAvpTcp => {
                // Without interleaved= the server picks the channels (RFC 2326 12.39) and says.
                let (rtp_channel, rtcp_channel) = transport.interleaved.unwrap_or((0, 1));
                transport.interleaved = Some((rtp_channel, rtcp_channel));
                let writer = self.writer.clone();
                (
                    MediaTransport::Interleaved {
                        writer,
                        rtp_channel,
                        rtcp_channel,
                    },
                    None,
                )
            }
            lower => {
                let client = transport.client_port.expect("checked by choose_transport");
                let rtp_dest = SocketAddr::new(self.peer.ip(), client.rtp);
                if lower == LowerTransport::LabRtpUdp {
                    let rtp =
                        UdpSocket::bind(SocketAddr::new(self.local.ip(), 0)).map_err(internal)?;
                    rtp.connect(rtp_dest).map_err(internal)?;
                    // A pacer sends for many sessions: a full send buffer must cost this
                    // session a frame, never block the others.
                    rtp.set_nonblocking(true).map_err(internal)?;
                    (MediaTransport::Lab { rtp }, None)
                } else {
                    let rtcp_port = client.rtcp.unwrap_or(client.rtp.wrapping_add(1));
                    let (rtp, rtcp) = bind_pair(self.local.ip()).map_err(internal)?;
                    rtp.connect(rtp_dest).map_err(internal)?;
                    // A pacer sends for many sessions: a full send buffer must cost this
                    // session a frame, never block the others.
                    rtp.set_nonblocking(true).map_err(internal)?;
                    rtcp.connect(SocketAddr::new(self.peer.ip(), rtcp_port))
                        .map_err(internal)?;
                    rtcp.set_nonblocking(true).map_err(internal)?;
                    let p = rtp.local_addr().map_err(internal)?.port();
                    (
                        MediaTransport::Udp {
                            rtp,
                            rtcp: Arc::new(rtcp),
                            gso: Cell::new(self.shared.config.gso),
                        },
                        Some((p, p + 1)),
                    )
                }
            }
        };
        let now = Instant::now();
        let ssrc = if lab { 0 } else { self.random() as u32 };
        let track_url = format!("{}{}", self.content_base(&req.uri, &target), TRACK_CONTROL);
        let rtcp_socket = media_transport.rtcp_socket().cloned();
        let rtcp_channel = media_transport.rtcp_channel();
        match &mut self.session {
            Some(s) => {
                s.session
                    .apply(&Method::Setup, now)
                    .map_err(|c| (c, String::new()))?;
                let mut p = s.playout();
                p.transport = media_transport;
                p.media = media;
                // The old transport's entry at a pacer, if playing, must not send on the new.
                p.generation += 1;
                p.clock = None;
                drop(p);
                s.lab = lab;
                s.track_url = track_url;
                s.rtcp_socket = rtcp_socket;
                s.rtcp_channel = rtcp_channel;
            }
            None => {
                if self.shared.sessions.load(Ordering::SeqCst) >= self.shared.config.max_sessions {
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many sessions (--max-sessions)".into(),
                    ));
                }
                let mut session = ServerSession::new(self.random(), now);
                session.timeout = self.shared.config.session_timeout;
                session
                    .apply(&Method::Setup, now)
                    .map_err(|c| (c, String::new()))?;
                let seq = if lab { 1 } else { self.random() as u16 };
                let rtptime_base = self.random() as u32;
                log::info!(
                    "{}: session {} for {} ({})",
                    self.peer,
                    session.id,
                    target.name,
                    media_transport.name()
                );
                let config = &self.shared.config;
                let playout = Playout::new(
                    self.peer,
                    media,
                    media_transport,
                    (ssrc, seq, rtptime_base),
                    config.fps,
                    config.looping,
                );
                self.session = Some(Stream {
                    session,
                    playout: Arc::new(std::sync::Mutex::new(playout)),
                    lab,
                    track_url,
                    rtcp_socket,
                    rtcp_channel,
                    next_sr: now,
                });
                self.shared.sessions.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut r = Response::new(StatusCode::OK);
        if !lab {
            transport.unicast = Some(true);
            transport.destination = None;
            transport.server_port = server_port.map(|(rtp, rtcp)| rtsp::PortRange {
                rtp,
                rtcp: Some(rtcp),
            });
            transport.ssrc = Some(ssrc);
            transport.mode = None;
        }
        r.headers.append("Transport", transport.to_string());
        Ok(r)
    }

    /// Picks the first offered transport the server can serve, or says why none fits.
    fn choose_transport(&self, offered: &[Transport]) -> (Option<Transport>, &'static str) {
        let config = &self.shared.config;
        let mut why =
            "no transport the server offers (RTP/AVP over UDP or TCP, or the lab's RTP/UDP)";
        for t in offered {
            if t.unicast == Some(false) {
                why = "multicast is not offered";
                continue;
            }
            match t.lower {
                LowerTransport::RtpAvpTcp if !config.tcp => {
                    why = "RTP over TCP is not offered (--transports)";
                    continue;
                }
                LowerTransport::RtpAvpTcp => return (Some(t.clone()), ""),
                LowerTransport::RtpAvpUdp if !config.udp => {
                    why = "RTP over UDP is not offered (--transports)";
                    continue;
                }
                _ => {}
            }
            match t.client_port {
                None => {
                    why = "client_port is required";
                    continue;
                }
                Some(p) if p.rtp == 0 || p.rtcp == Some(0) => {
                    why = "client_port 0 is not a port";
                    continue;
                }
                _ => {}
            }
            if let Some(d) = &t.destination {
                // RTP goes only where the request came from: a destination elsewhere would
                // turn the server into a traffic reflector.
                if d.parse::<IpAddr>().ok() != Some(self.peer.ip()) {
                    why = "destination differs from the client's address";
                    continue;
                }
            }
            return (Some(t.clone()), "");
        }
        (None, why)
    }

    fn play(&mut self, req: &Request) -> Result<Response, (StatusCode, String)> {
        let fps = self.fps();
        let looping = self.shared.config.looping;
        let range = match req.headers.get("Range") {
            None => None,
            Some(v) => {
                Some(Range::parse(v).map_err(|e| (StatusCode::INVALID_RANGE, e.to_string()))?)
            }
        };
        let s = self.session.as_mut().expect("has_session checked");
        let mut p = pacer::lock(&s.playout);
        let frames = p.media.frames.len() as u64;
        let seek = match range.map(|r| r.start) {
            Some(NptTime::Seconds(t)) => {
                let frame = (t * fps).round() as u64;
                if frame >= frames && !(t == 0.0) {
                    return Err((
                        StatusCode::INVALID_RANGE,
                        format!(
                            "start {t:.3} s is past the end ({:.3} s)",
                            frames as f64 / fps
                        ),
                    ));
                }
                Some(frame)
            }
            Some(NptTime::Now) | None => None,
        };
        s.session
            .apply(&Method::Play, Instant::now())
            .map_err(|c| (c, String::new()))?;
        if let Some(frame) = seek {
            p.position = frame;
            p.finished = false;
        }
        p.clock = Some((Instant::now(), p.position));
        p.generation += 1;
        let start = (p.position % frames.max(1)) as f64 / fps;
        let mut r = Response::new(StatusCode::OK);
        let range = Range {
            start: NptTime::Seconds(start),
            end: (!looping).then_some(NptTime::Seconds(frames as f64 / fps)),
        };
        r.headers.append("Range", range.to_string());
        if !s.lab {
            let info = RtpInfo {
                url: s.track_url.clone(),
                seq: Some(p.seq),
                rtptime: Some(p.rtptime(p.position)),
            };
            r.headers.append("RTP-Info", info.to_string());
        }
        Ok(r)
    }

    fn apply(&mut self, method: Method) -> Result<Response, (StatusCode, String)> {
        let s = self.session.as_mut().expect("has_session checked");
        match s.session.apply(&method, Instant::now()) {
            Ok(Transition::Pause) => {
                let mut p = s.playout();
                p.clock = None;
                p.generation += 1;
            }
            Ok(_) => {}
            Err(c) => return Err((c, format!("not valid in state {:?}", s.session.state))),
        }
        Ok(Response::new(StatusCode::OK))
    }

    /// Hands the playing session to a pacer, which sends its frames from now on.
    fn start_pacing(&self) {
        if let Some(s) = &self.session {
            self.shared.pacers.play(&s.playout, &s.playout());
        }
    }

    /// Ends the session: a last SR with BYE tells the client the stream is over.
    fn end_session(&mut self, why: &str) {
        if let Some(s) = self.session.take() {
            let mut p = s.playout();
            // The pacer drops its entry (and with it the sockets) at its next deadline.
            p.generation += 1;
            if p.clock.is_some() || p.packets > 0 {
                let _ = p.transport.send_rtcp(&p.rtcp_report(Instant::now(), true));
            }
            p.clock = None;
            log::info!("{}: session {} ended: {why}", self.peer, s.session.id);
            self.shared.sessions.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A sender report every few seconds while playing.
    fn send_sender_report(&mut self, now: Instant) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.lab || now < s.next_sr {
            return;
        }
        let p = pacer::lock(&s.playout);
        if p.clock.is_none() || p.finished {
            return;
        }
        s.next_sr = now + SR_INTERVAL;
        if let Err(e) = p.transport.send_rtcp(&p.rtcp_report(now, false)) {
            log::debug!("{}: sending RTCP: {e}", self.peer);
        }
    }

    /// Reads whatever RTCP the client sent over UDP without blocking.
    fn drain_rtcp(&mut self, now: Instant) {
        let Some(s) = self.session.as_ref() else {
            return;
        };
        let Some(socket) = s.rtcp_socket.as_ref() else {
            return;
        };
        let mut buf = [0u8; 1500];
        let mut packets = Vec::new();
        while let Ok(n) = socket.recv(&mut buf) {
            packets.push(buf[..n].to_vec());
        }
        for p in packets {
            self.on_rtcp(&p, now);
        }
    }

    /// An interleaved frame from the client: RTCP on the session's odd channel; anything else
    /// (RTP from a recording client) is not expected and is dropped.
    fn on_interleaved(&mut self, channel: u8, packet: &[u8]) {
        let rtcp_channel = self.session.as_ref().and_then(|s| s.rtcp_channel);
        if Some(channel) == rtcp_channel {
            self.on_rtcp(packet, Instant::now());
        } else {
            log::debug!(
                "{}: interleaved data on channel {channel} ignored",
                self.peer
            );
        }
    }

    /// Any RTCP from the client keeps its session alive; receiver reports are logged and kept.
    fn on_rtcp(&mut self, packet: &[u8], now: Instant) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        s.session.touch(now);
        let packets = match rtcp::parse_compound(packet) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("{}: bad RTCP ({e})", self.peer);
                return;
            }
        };
        let id = s.session.id.clone();
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
}
