//! One RTSP connection, on one thread, and its session.
//!
//! The thread sleeps until a request, RTCP from the client, the server stopping, or its own
//! next deadline (a timeout, a sender report; see [`crate::net::wait`]), then frames what
//! arrived ([`rtsp_proto::rtsp::framer`]) and answers it (`dispatch`, `setup`). Everything it writes goes
//! through the connection's writer thread ([`crate::net::writer`]), which interleaved RTP from
//! the pacers shares, so a frame can never land inside a response. The session's frames are the
//! pacers' ([`crate::pacer`]); this thread only starts, pauses and ends them through the
//! session's [`SessionHandle`], and reads the client's RTCP (`rtcp`).

mod dispatch;
mod live;
pub mod memory;
mod publish;
mod rtcp;
mod setup;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtsp_proto::rtsp::framer::{Frame, Framer, FramingError, Role};
use rtsp_proto::rtsp::{self, Method, ParseError, Public, Response, Session, StatusCode};

use crate::net::wait;
use crate::net::writer::{Writer, WRITE_DEADLINE};
use crate::session::{SessionHandle, SERVER_NAME};
use crate::Shared;

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

/// Answers 503 to a connection over the limit, without reading from it.
pub fn refuse_busy(mut stream: TcpStream) {
    let mut r = Response::new(StatusCode::SERVICE_UNAVAILABLE);
    r.headers.append("Server", SERVER_NAME);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&r.to_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// A refusal: the status to answer with, and why (sent as the body, and logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub why: String,
}

impl Refusal {
    pub fn new(status: StatusCode, why: impl Into<String>) -> Refusal {
        Refusal {
            status,
            why: why.into(),
        }
    }
}

/// The connection's own view of its session: what the shared state does not need.
struct SessionLink {
    handle: SessionHandle,
    /// Copied from the state machine: it never changes, and every response names it.
    id: String,
    /// The lab's transport: it reads replies by line and has no keepalive.
    lab: bool,
    /// The track URL as the client named it, for RTP-Info.
    track_url: String,
    /// Where the client's RTCP arrives: a UDP socket this thread polls, or an interleaved
    /// channel on the connection.
    rtcp_socket: Option<Arc<UdpSocket>>,
    rtcp_channel: Option<u8>,
}

struct Connection<'a> {
    shared: &'a Shared,
    writer: Writer,
    peer: SocketAddr,
    local: SocketAddr,
    framer: Framer,
    /// The time of the step being handled, set by whoever drives the connection (the socket
    /// loop in [`serve`], or by hand in [`memory`]): nothing below reads the clock.
    now: Instant,
    /// When the connection opened, on both clocks: Digest nonces carry Unix time.
    opened: (Instant, u64),
    last_rx: Instant,
    session: Option<SessionLink>,
    /// A live path's session (publishing or viewing) instead of a file's.
    live: Option<live::LiveLink>,
    /// The token this connection's Digest nonces are bound to, and the counts seen with them.
    auth_scope: rtsp_proto::auth::NonceScope,
    ids: Ids,
}

/// Serves one connection until the peer closes it, it idles out, or the server stops. An
/// HTTP request on the RTSP port (a tunnel's GET or POST, as live555 and gst-rtsp-server
/// accept there, or anything else) goes to the HTTP side.
pub fn serve(stream: TcpStream, shared: &Shared) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    match speaks_http(&stream, shared) {
        None => return,
        Some(true) => {
            log::debug!("{peer}: HTTP on the RTSP port");
            crate::http::serve(stream, shared);
            return;
        }
        Some(false) => {}
    }
    let stream = Arc::new(stream);
    let writer = match Writer::spawn(&stream, peer) {
        Ok(w) => w,
        Err(e) => {
            log::warn!("{peer}: cannot start the writer thread: {e}");
            return;
        }
    };
    log::info!("{peer}: connected");
    let mut conn = match Connection::new(shared, writer, peer, local, Instant::now(), Ids::Random) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("{peer}: {e}");
            return;
        }
    };
    match conn.run(&stream, &mut Input::Plain) {
        Ok(()) => log::info!("{peer}: closed"),
        Err(e) => log::info!("{peer}: closed ({e})"),
    }
    conn.end_session("connection closed");
    // Stops the writer thread once what is queued is written (or the peer is gone).
    let _ = stream.shutdown(Shutdown::Read);
}

/// Whether the first bytes on a new connection are an HTTP request ("GET " or "POST ", which
/// no RTSP method is: GET_PARAMETER has an underscore), without taking them off the socket.
/// `None` when nothing arrives within the idle timeout or the server stops meanwhile: the
/// connection just closes, as an RTSP connection that never spoke would.
fn speaks_http(stream: &TcpStream, shared: &Shared) -> Option<bool> {
    let config = &shared.config;
    let ready = wait::wait(stream, None, &shared.stop_signal, config.idle_timeout).ok()?;
    if !ready.rtsp || ready.stop {
        return None;
    }
    let end = Instant::now() + config.request_timeout;
    let mut first = [0u8; 5];
    loop {
        let n = stream.peek(&mut first).ok()?;
        let seen = &first[..n];
        if seen.starts_with(b"GET ") || seen.starts_with(b"POST ") {
            return Some(true);
        }
        if n == 0 || !(b"GET ".starts_with(seen) || b"POST ".starts_with(seen)) {
            return Some(false);
        }
        // A prefix of one of them (a peer typing by hand): the rest decides.
        if Instant::now() >= end {
            return Some(false);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How the bytes read off the connection become RTSP: as they are, or (the POST half of a
/// tunnel) base64-decoded.
pub(crate) enum Input {
    Plain,
    Base64(rtsp_proto::tunnel::Base64Stream),
}

impl Input {
    fn decode<'b>(&mut self, bytes: &'b [u8]) -> io::Result<std::borrow::Cow<'b, [u8]>> {
        match self {
            Input::Plain => Ok(bytes.into()),
            Input::Base64(s) => s
                .push(bytes)
                .map(Into::into)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

/// Serves an RTSP connection tunnelled over HTTP: responses and interleaved RTP go out on
/// the GET's connection, requests come in base64 on the POST's (`body`: what arrived with the
/// POST's head). Ends when either closes. A POST body that is not base64 is answered 400 on
/// the POST connection.
pub(crate) fn serve_tunnel(get: TcpStream, post: TcpStream, body: &[u8], shared: &Shared) {
    let (Ok(peer), Ok(local)) = (get.peer_addr(), get.local_addr()) else {
        return;
    };
    let get = Arc::new(get);
    let writer = match Writer::spawn(&get, peer) {
        Ok(w) => w,
        Err(e) => {
            log::warn!("{peer}: cannot start the writer thread: {e}");
            return;
        }
    };
    log::info!("{peer}: RTSP tunnelled over HTTP");
    let mut conn = match Connection::new(shared, writer, peer, local, Instant::now(), Ids::Random) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("{peer}: {e}");
            return;
        }
    };
    let mut input = Input::Base64(Default::default());
    let result = input
        .decode(body)
        .and_then(|first| conn.receive(&first, Instant::now()))
        .and_then(|()| conn.run(&post, &mut input));
    match result {
        Ok(()) => log::info!("{peer}: tunnel closed"),
        Err(e) => {
            log::info!("{peer}: tunnel closed ({e})");
            if e.kind() == io::ErrorKind::InvalidData {
                let r = crate::http::response::Response::text(400, &e.to_string());
                let _ = r.write_to(&mut &post, false, false);
            }
        }
    }
    conn.end_session("tunnel closed");
    let _ = post.shutdown(Shutdown::Both);
    let _ = get.shutdown(Shutdown::Read);
}

/// Whether, after this error, nothing tells where the next request starts, so the connection
/// must close: the first line is no RTSP request at all (random bytes, another protocol), or
/// is cut off, or the body's length is unknown (RFC 7230 3.3.3: an invalid or repeated
/// Content-Length, any Transfer-Encoding: 400 or 501, and close).
fn framing_lost(e: &ParseError) -> bool {
    matches!(
        e,
        ParseError::BadStartLine { .. }
            | ParseError::NotText { line: 1 }
            | ParseError::LineTooLong { line: 1, .. }
            | ParseError::UriTooLong { .. }
            | ParseError::BadContentLength { .. }
            | ParseError::RepeatedHeader {
                name: "Content-Length",
                ..
            }
            | ParseError::TransferEncoding { .. }
    )
}

/// Whether a `Transfer-Encoding` value ends in `chunked`: a coding HTTP knows and RTSP has not.
fn ends_chunked(value: &str) -> bool {
    value
        .rsplit(',')
        .next()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
}

/// 64 random bits from the operating system: session ids and SSRCs must not be guessable.
pub(crate) fn random() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("no random source: {e}")))
}

/// Where a connection's session ids, SSRCs and nonce token come from.
enum Ids {
    /// The operating system's random source: nobody can guess them.
    Random,
    /// SplitMix64 from a fixed start (an in-memory connection): a replayed exchange can name
    /// the session the server will make.
    Sequence(u64),
}

impl Ids {
    fn next(&mut self) -> io::Result<u64> {
        match self {
            Ids::Random => random(),
            Ids::Sequence(state) => {
                *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                Ok(z ^ (z >> 31))
            }
        }
    }
}

impl<'a> Connection<'a> {
    /// A connection from `peer` to `local` that writes through `writer`, opened at `now`.
    fn new(
        shared: &'a Shared,
        writer: Writer,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
        mut ids: Ids,
    ) -> io::Result<Connection<'a>> {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let config = &shared.config;
        Ok(Connection {
            shared,
            writer,
            peer,
            local,
            framer: Framer::new(Role::Server, config.limits, Some(config.lab_quiet)),
            now,
            opened: (now, unix),
            last_rx: now,
            session: None,
            live: None,
            auth_scope: rtsp_proto::auth::NonceScope::new(ids.next()?),
            ids,
        })
    }

    /// Unix seconds at [`Connection::now`].
    fn unix_now(&self) -> u64 {
        let (at, unix) = self.opened;
        unix + self.now.saturating_duration_since(at).as_secs()
    }

    /// Bytes from the peer at `now`: every request they complete is answered. An error closes
    /// the connection.
    fn receive(&mut self, bytes: &[u8], now: Instant) -> io::Result<()> {
        self.now = now;
        self.last_rx = now;
        self.framer.push(bytes, now);
        self.handle_framed(now)
    }

    /// The socket loop: waits for the peer, RTCP, the server stopping or the next deadline.
    /// Requests are read from `stream` and turned into RTSP by `input`.
    fn run(&mut self, stream: &TcpStream, input: &mut Input) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            if self.shared.stopping.load(Ordering::Relaxed) || self.writer.is_dead() {
                return Ok(());
            }
            let now = Instant::now();
            if !self.on_deadlines(now)? {
                return Ok(());
            }
            let wake = self.next_wake(now);
            let timeout = wake.saturating_duration_since(Instant::now());
            let rtcp = self.rtcp_socket();
            let ready = wait::wait(stream, rtcp.as_deref(), &self.shared.stop_signal, timeout)?;
            if ready.rtcp {
                self.now = Instant::now();
                self.drain_rtcp(self.now);
            }
            if !ready.rtsp {
                continue;
            }
            match (&*stream).read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let bytes = input.decode(&chunk[..n])?;
                    self.receive(&bytes, Instant::now())?
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

    /// Acts on every deadline passed by `now`: a sender report, the session's or the
    /// connection's idle timeout, a request too slow to arrive, a quiet lab request. False when
    /// the connection must close.
    fn on_deadlines(&mut self, now: Instant) -> io::Result<bool> {
        self.now = now;
        let config = &self.shared.config;
        if let Some(started) = self.framer.message_started() {
            if now.duration_since(started) > config.request_timeout {
                let r = Response::new(StatusCode::REQUEST_TIMEOUT);
                self.write_response(None, r, false)?;
                return Ok(false);
            }
        }
        if let Some(why) = self.live_expired() {
            self.end_live(why);
            return Ok(false);
        }
        if let Some(s) = &self.session {
            let mut state = s.handle.lock();
            state.send_report_if_due(now);
            // The lab's client has no keepalive: its open connection is its liveness.
            if !s.lab && state.rtsp.expired(now) {
                drop(state);
                self.end_session("timed out: no request or RTCP");
                return Ok(false);
            }
        } else if self.live.is_none() && now.duration_since(self.last_rx) > config.idle_timeout {
            // A request cut off mid-way is told why, even when idling ends it first.
            if self.framer.message_started().is_some() {
                let r = Response::new(StatusCode::REQUEST_TIMEOUT);
                self.write_response(None, r, false)?;
            }
            return Ok(false);
        }
        // Quiet: a lab request (no blank line) may now be whole.
        self.handle_framed(now)?;
        Ok(true)
    }

    /// The earliest moment the loop must act without input.
    fn next_wake(&self, now: Instant) -> Instant {
        // Frames are the pacers': this thread wakes only for its own deadlines (requests,
        // RTCP and the server stopping wake it through `wait`).
        let config = &self.shared.config;
        let mut wake = match &self.session {
            Some(s) if !s.lab => {
                let state = s.handle.lock();
                let expiry = state.rtsp.deadline();
                state.report_deadline(now).map_or(expiry, |r| r.min(expiry))
            }
            // The lab's client has no keepalive: its open connection is its liveness.
            Some(_) => now + Duration::from_secs(3600),
            None => match &self.live {
                // A publisher's RTP over UDP is heard by another thread: look again within
                // a second of the deadline.
                Some(l) => l.session.deadline().min(now + Duration::from_secs(1)),
                None => self.last_rx + config.idle_timeout,
            },
        };
        if let Some(started) = self.framer.message_started() {
            wake = wake.min(started + config.request_timeout);
        }
        if let Some(quiet) = self.framer.poll_timeout() {
            wake = wake.min(quiet);
        }
        // The checks above compare with `>`: a millisecond past the deadline, they fire.
        wake + Duration::from_millis(1)
    }

    /// Answers every whole message the framer holds at `now`. A broken request is answered
    /// 400 (413 for a body over the limit) and the connection stays usable.
    fn handle_framed(&mut self, now: Instant) -> io::Result<()> {
        while let Some(framed) = self.framer.poll(now) {
            match framed {
                Ok(Frame::Request(req)) => {
                    self.handle(req)?;
                    // Backpressure: a peer that does not read its answers gets no more read
                    // from it until they drain (bounded memory, however fast it pipelines).
                    if !self.writer.wait_for_room(WRITE_DEADLINE) {
                        return Err(io::Error::other("the peer reads none of its answers"));
                    }
                }
                Ok(Frame::Interleaved { channel, payload }) => {
                    self.on_interleaved(channel, &payload)
                }
                // A server reads no responses; the framer never gives one in this role.
                Ok(Frame::Response(_)) => {}
                Err(e) => self.on_broken(e)?,
            }
        }
        Ok(())
    }

    /// Answers what the framer could not make a request of. A broken request is answered
    /// 400 (413 for a body over the limit) and the connection stays usable, unless nothing
    /// after it can be trusted to start a message: then the answer is the last (an `Err`).
    fn on_broken(&mut self, e: FramingError) -> io::Result<()> {
        let source = match e {
            FramingError::TooLarge { .. } => return self.bad_request("request too large"),
            FramingError::Garbage { .. } => return self.bad_request(&e.to_string()),
            FramingError::Malformed { source, .. } | FramingError::Unterminated { source, .. } => {
                source
            }
        };
        let status = match &source {
            ParseError::BodyTooLarge { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            ParseError::UriTooLong { .. } => StatusCode::REQUEST_URI_TOO_LARGE,
            // RFC 7230 3.3.1: a transfer coding the server does not know (RTSP has none).
            ParseError::TransferEncoding { value } if ends_chunked(value) => {
                StatusCode::NOT_IMPLEMENTED
            }
            _ => StatusCode::BAD_REQUEST,
        };
        log::info!("{}: {status}: {source}", self.peer);
        let mut r = Response::new(status);
        r.headers.append("Content-Type", "text/plain");
        r.body = format!("{source}\r\n").into_bytes();
        self.write_response(None, r, false)?;
        if framing_lost(&source) {
            return Err(io::Error::other(format!("framing lost: {source}")));
        }
        Ok(())
    }

    /// The connection's session as responses name it: id, timeout, and whether it is the
    /// lab's. A file's session or a live one.
    fn session_named(&self) -> Option<(String, Duration, bool)> {
        if let Some(s) = &self.session {
            return Some((s.id.clone(), s.handle.lock().rtsp.timeout, s.lab));
        }
        let l = self.live.as_ref()?;
        Some((l.session.rtsp.id.clone(), l.session.rtsp.timeout, false))
    }

    /// The UDP socket the client's RTCP arrives on, if the session has one.
    fn rtcp_socket(&self) -> Option<Arc<UdpSocket>> {
        if let Some(s) = &self.session {
            return s.rtcp_socket.clone();
        }
        match &self.live.as_ref()?.role {
            live::LiveRole::Viewer(v) => v.rtcp_socket.clone(),
            live::LiveRole::Publisher(_) => None,
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
        if let Some((id, timeout, lab)) = self.session_named().filter(|_| with_session) {
            // `;timeout=` only when it is not RFC 2326's default: the lab's client cannot
            // parse it.
            let named = (timeout != rtsp_proto::session::DEFAULT_TIMEOUT && !lab)
                .then_some((timeout.as_secs() as u32).max(1));
            let header = Session { id, timeout: named };
            out.headers.append("Session", header.to_string());
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
}
