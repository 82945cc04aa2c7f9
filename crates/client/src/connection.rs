//! The RTSP control connection. A reader thread feeds what the server sends through the
//! framer both sides share ([`rtsp_proto::rtsp::framer`]), hands responses to the caller, who
//! matches them by CSeq, and interleaved frames to the receiver; the writer side is the
//! caller's. Every wait has a deadline.
//!
//! The lab's server ends its replies without a blank line, so in the lab dialect the framer
//! takes a reply as whole once the server has been quiet for a moment (as our server does for
//! the lab's requests).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_proto::auth::Challenge;
use rtsp_proto::rtsp::framer::{Frame, Framer, FramingError, Role};
use rtsp_proto::rtsp::{Limits, Method, Request, Response, StatusCode};

use crate::{ClientError, Closed};

/// How long the lab's server must be quiet before its unterminated reply is taken as whole.
const LAB_QUIET: Duration = Duration::from_millis(100);

/// A TCP connection with the deadlines every socket here has.
fn open(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| ClientError::Connect { addr, source })?;
    stream.set_nodelay(true).ok();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(ClientError::io("set write timeout"))?;
    Ok(stream)
}

/// Reads an HTTP response head off `stream` within `timeout` and checks it is a 200; gives
/// what was read past it.
fn read_http_head(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || buf.len() > 16384 {
            return Err(ClientError::Http(
                "no HTTP answer to the tunnel's GET".into(),
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(ClientError::io("set read timeout"))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(ClientError::Http(
                    "the server closed the tunnel's GET".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ClientError::io("read the tunnel's GET answer")(e)),
        }
    };
    let status = String::from_utf8_lossy(&buf[..end]);
    let line = status.lines().next().unwrap_or_default().to_string();
    if line.split(' ').nth(1) != Some("200") {
        return Err(ClientError::Http(format!(
            "the tunnel's GET was answered {line:?}"
        )));
    }
    Ok(buf[end..].to_vec())
}

/// What the reader thread passes on.
#[derive(Debug)]
enum Incoming {
    Response(Response),
    Closed(Closed),
}

/// Where interleaved frames (`$ channel len packet`) go once a TCP transport is set up.
pub type InterleavedSink = Arc<Mutex<Option<mpsc::Sender<(u8, Vec<u8>)>>>>;

/// The write half of the RTSP connection, shared by requests and interleaved RTCP so that
/// one is never written into the middle of the other: the socket itself, or a tunnel's POST
/// that base64-encodes what it is given.
pub type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// The POST half of an RTSP-over-HTTP tunnel: every write goes out as base64 of its own (the
/// server decodes groups of four, so each write's padding is fine).
struct Base64Writer(TcpStream);

impl Write for Base64Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .write_all(rtsp_proto::auth::base64_encode(buf).as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A control connection to one server.
pub struct Connection {
    stream: SharedWriter,
    /// Interleaved frames from the server are handed here.
    pub interleaved: InterleavedSink,
    incoming: Receiver<Incoming>,
    /// Read by the reader thread: whether to accept replies with no blank line.
    lab: Arc<AtomicBool>,
    cseq: u32,
    /// Who we are, if the server asks.
    credentials: Option<(String, String)>,
    /// The server's last challenge, answered on every request from then on.
    challenge: Option<Challenge>,
    /// With `qop=auth`: our nonce, and how many requests have answered the challenge (RFC
    /// 2617 3.2.2: the server refuses a count it has seen).
    cnonce: String,
    nonce_count: u32,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Handles to the sockets (one, or a tunnel's two), to shut them down.
    sockets: Vec<TcpStream>,
}

impl Connection {
    /// Connects with a deadline and starts the reader thread.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Connection, ClientError> {
        let stream = open(addr, timeout)?;
        let clone = || stream.try_clone().map_err(ClientError::io("clone socket"));
        let (reader, handle) = (clone()?, clone()?);
        Self::start(reader, Vec::new(), Box::new(stream), vec![handle])
    }

    /// Connects through an RTSP-over-HTTP tunnel (QuickTime's GET/POST pair, see
    /// [`rtsp_proto::tunnel`]) to `path` on `addr`: responses and interleaved RTP come on the
    /// GET, requests go base64 on the POST.
    pub fn connect_tunnel(
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let cookie = format!("{:016x}", getrandom::u64().unwrap_or(0x5eed));
        let mut get = open(addr, timeout)?;
        let head = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nx-sessioncookie: {cookie}\r\nAccept: {}\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\r\n",
            rtsp_proto::tunnel::TUNNEL_MEDIA_TYPE
        );
        get.write_all(head.as_bytes())
            .map_err(ClientError::io("send the tunnel's GET"))?;
        let rest = read_http_head(&mut get, timeout)?;
        let mut post = open(addr, timeout)?;
        let head = format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nx-sessioncookie: {cookie}\r\nContent-Type: {}\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nContent-Length: 32767\r\nExpires: Sun, 9 Jan 1972 00:00:00 GMT\r\n\r\n",
            rtsp_proto::tunnel::TUNNEL_MEDIA_TYPE
        );
        post.write_all(head.as_bytes())
            .map_err(ClientError::io("send the tunnel's POST"))?;
        let clone = |s: &TcpStream| s.try_clone().map_err(ClientError::io("clone socket"));
        let handles = vec![clone(&get)?, clone(&post)?];
        Self::start(get, rest, Box::new(Base64Writer(post)), handles)
    }

    /// Starts the reader thread on `reader` (`first`: bytes already read from it).
    fn start(
        reader: TcpStream,
        first: Vec<u8>,
        writer: Box<dyn Write + Send>,
        sockets: Vec<TcpStream>,
    ) -> Result<Connection, ClientError> {
        let (peer, local) = (
            reader
                .peer_addr()
                .map_err(ClientError::io("peer address"))?,
            reader
                .local_addr()
                .map_err(ClientError::io("local address"))?,
        );
        let (tx, rx) = mpsc::channel();
        let lab = Arc::new(AtomicBool::new(false));
        let lab2 = lab.clone();
        let sink: InterleavedSink = Arc::new(Mutex::new(None));
        let sink2 = sink.clone();
        std::thread::Builder::new()
            .name("rtsp-reader".into())
            .spawn(move || read_loop(reader, first, tx, lab2, sink2))
            .map_err(ClientError::io("start reader thread"))?;
        Ok(Connection {
            peer,
            local,
            stream: Arc::new(Mutex::new(writer)),
            interleaved: sink,
            incoming: rx,
            lab,
            cseq: 0,
            credentials: None,
            challenge: None,
            cnonce: String::new(),
            nonce_count: 0,
            sockets,
        })
    }

    /// Switches reply parsing to the lab's unterminated form.
    pub fn set_lab(&self, lab: bool) {
        self.lab.store(lab, Ordering::SeqCst);
    }

    /// The next CSeq to use.
    pub fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }

    /// Writes raw bytes (the lab's request shape is not what [`Request::write`] produces).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream
            .lock()
            .unwrap()
            .write_all(bytes)
            .map_err(ClientError::io("send request"))
    }

    /// The write half, for interleaved RTCP.
    pub fn writer(&self) -> SharedWriter {
        self.stream.clone()
    }

    /// Credentials to answer a 401 with.
    pub fn set_credentials(&mut self, credentials: Option<(String, String)>) {
        self.credentials = credentials;
    }

    /// Sends a standard request (a CSeq is added) and waits for its response. A 401 is answered
    /// once with the credentials, Digest preferred; the challenge is then kept for later
    /// requests.
    pub fn request(&mut self, req: Request, timeout: Duration) -> Result<Response, ClientError> {
        let r = self.send_request(&req, timeout)?;
        if r.status != StatusCode::UNAUTHORIZED || self.credentials.is_none() {
            return Ok(r);
        }
        let challenges: Vec<Challenge> = r
            .headers
            .get_all("WWW-Authenticate")
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        let best = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Digest { .. }))
            .or(challenges.first())
            .cloned();
        match best {
            Some(c) => {
                self.challenge = Some(c);
                self.nonce_count = 0;
                // The cnonce only has to differ from one client to the next (RFC 2617 3.2.2):
                // the clock does, should the random source fail.
                let seed = getrandom::u64().unwrap_or_else(|_| {
                    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                    t.map_or(0, |d| d.as_nanos() as u64)
                });
                self.cnonce = format!("{seed:016x}");
                self.send_request(&req, timeout)
            }
            None => Ok(r),
        }
    }

    fn send_request(&mut self, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
        let mut req = req.clone();
        let cseq = self.next_cseq();
        req.headers.set("CSeq", cseq.to_string());
        req.headers.set(
            "User-Agent",
            concat!("mjpeg-rtsp-client/", env!("CARGO_PKG_VERSION")),
        );
        if let (Some(c), Some((user, pass))) = (&self.challenge, &self.credentials) {
            self.nonce_count += 1;
            let count = (self.cnonce.as_str(), self.nonce_count);
            req.headers.set(
                "Authorization",
                c.answer(user, pass, req.method.as_str(), &req.uri, count),
            );
        }
        log::debug!("-> {} {}", req.method, req.uri);
        self.send_raw(&req.to_bytes())?;
        self.wait_response(&req.method, cseq, timeout)
    }

    /// Waits for the response carrying `cseq` (of a `method` request, for the error), discarding
    /// stale ones.
    pub fn wait_response(
        &mut self,
        method: &Method,
        cseq: u32,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(Incoming::Response(r)) if r.headers.cseq() == Some(cseq) => {
                    log::debug!("<- {} {}", r.status.0, r.reason);
                    return Ok(r);
                }
                Ok(Incoming::Response(r)) => {
                    log::debug!("ignoring response with CSeq {:?}", r.headers.cseq())
                }
                Ok(Incoming::Closed(why)) => return Err(ClientError::Closed(why)),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(ClientError::Timeout {
                        method: method.clone(),
                        cseq,
                        waited: timeout,
                    })
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ClientError::Closed(Closed::ReaderStopped))
                }
            }
        }
    }

    /// Whether the server has closed the connection (or reading from it failed), without
    /// waiting: the window says so at once instead of when the next request fails. Nothing
    /// else is in flight when this is asked (requests wait for their answers), so a stale
    /// response taken here is one `wait_response` would discard too.
    pub fn poll_closed(&mut self) -> Option<Closed> {
        loop {
            match self.incoming.try_recv() {
                Ok(Incoming::Closed(why)) => return Some(why),
                Ok(Incoming::Response(r)) => {
                    log::debug!("ignoring response with CSeq {:?}", r.headers.cseq())
                }
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => return Some(Closed::ReaderStopped),
            }
        }
    }

    /// Closes both directions of every socket; the reader thread then ends.
    pub fn close(&self) {
        for s in &self.sockets {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// The reader thread: socket bytes into the framer, what it cuts out to where it goes.
fn read_loop(
    mut stream: TcpStream,
    first: Vec<u8>,
    tx: mpsc::Sender<Incoming>,
    lab: Arc<AtomicBool>,
    sink: InterleavedSink,
) {
    let mut framer = Framer::new(Role::Client, Limits::default(), None);
    framer.push(&first, Instant::now());
    // Short reads: the loop must notice the quiet time and a switch to the lab dialect.
    let _ = stream.set_read_timeout(Some(LAB_QUIET / 2));
    let mut chunk = [0u8; 8192];
    loop {
        framer.set_lab_quiet(lab.load(Ordering::SeqCst).then_some(LAB_QUIET));
        match stream.read(&mut chunk) {
            Ok(0) => {
                let _ = tx.send(Incoming::Closed(Closed::ByServer));
                return;
            }
            Ok(n) => framer.push(&chunk[..n], Instant::now()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                let _ = tx.send(Incoming::Closed(Closed::Read(e)));
                return;
            }
        }
        while let Some(item) = framer.poll(Instant::now()) {
            if let ControlFlow::Break(closed) = deliver(item, &tx, &sink) {
                if let Some(closed) = closed {
                    let _ = tx.send(Incoming::Closed(closed));
                }
                return;
            }
        }
    }
}

/// Passes one thing the framer cut on. `Break` ends the reader: with `None` when the caller is
/// gone, with why when the server sent a response that leaves no way to find the next one.
fn deliver(
    item: Result<Frame, FramingError>,
    tx: &mpsc::Sender<Incoming>,
    sink: &InterleavedSink,
) -> ControlFlow<Option<Closed>> {
    match item {
        Ok(Frame::Response(r)) => {
            if tx.send(Incoming::Response(r)).is_err() {
                return ControlFlow::Break(None);
            }
        }
        Ok(Frame::Interleaved { channel, payload }) => {
            if let Some(s) = sink.lock().unwrap().as_ref() {
                let _ = s.send((channel, payload));
            }
        }
        Ok(Frame::Request(req)) => log::info!("server sent {} {}: ignored", req.method, req.uri),
        // Stray bytes and a broken lab reply cost one message, not the connection.
        Err(e @ (FramingError::Garbage { .. } | FramingError::Unterminated { .. })) => {
            log::warn!("from the server: {e}")
        }
        Err(e) => return ControlFlow::Break(Some(Closed::Framing(e))),
    }
    ControlFlow::Continue(())
}
