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

/// What the reader thread passes on.
#[derive(Debug)]
enum Incoming {
    Response(Response),
    Closed(Closed),
}

/// Where interleaved frames (`$ channel len packet`) go once a TCP transport is set up.
pub type InterleavedSink = Arc<Mutex<Option<mpsc::Sender<(u8, Vec<u8>)>>>>;

/// The write half of the RTSP connection, shared by requests and interleaved RTCP so that
/// one is never written into the middle of the other.
pub type SharedWriter = Arc<Mutex<TcpStream>>;

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
}

impl Connection {
    /// Connects with a deadline and starts the reader thread.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Connection, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|source| ClientError::Connect { addr, source })?;
        stream.set_nodelay(true).ok();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(ClientError::io("set write timeout"))?;
        let reader = stream
            .try_clone()
            .map_err(ClientError::io("clone socket"))?;
        let (tx, rx) = mpsc::channel();
        let lab = Arc::new(AtomicBool::new(false));
        let lab2 = lab.clone();
        let sink: InterleavedSink = Arc::new(Mutex::new(None));
        let sink2 = sink.clone();
        std::thread::Builder::new()
            .name("rtsp-reader".into())
            .spawn(move || read_loop(reader, tx, lab2, sink2))
            .map_err(ClientError::io("start reader thread"))?;
        Ok(Connection {
            peer: stream
                .peer_addr()
                .map_err(ClientError::io("peer address"))?,
            local: stream
                .local_addr()
                .map_err(ClientError::io("local address"))?,
            stream: Arc::new(Mutex::new(stream)),
            interleaved: sink,
            incoming: rx,
            lab,
            cseq: 0,
            credentials: None,
            challenge: None,
            cnonce: String::new(),
            nonce_count: 0,
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

    /// Closes both directions; the reader thread then ends.
    pub fn close(&self) {
        let _ = self
            .stream
            .lock()
            .unwrap()
            .shutdown(std::net::Shutdown::Both);
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
    tx: mpsc::Sender<Incoming>,
    lab: Arc<AtomicBool>,
    sink: InterleavedSink,
) {
    let mut framer = Framer::new(Role::Client, Limits::default(), None);
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
