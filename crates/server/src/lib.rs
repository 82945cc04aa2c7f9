//! The RTSP/RTP Motion-JPEG server as a library, so tests run it in-process on an ephemeral
//! port. The binary (`main.rs`) only parses the command line.
//!
//! Threads: an accept loop; per RTSP connection, a thread that reads and answers requests and
//! RTCP ([`conn`]) and a writer thread that does all its writing ([`net::writer`]); the pacers,
//! one per core, which send every playing session's frames at their deadlines ([`pacer`]); and
//! the media workers that convert frames RFC 2435 cannot carry ahead of playback ([`media`]).
//! The HTTP side ([`http`]) has an accept loop of its own and a thread per connection; its
//! Motion-JPEG viewers are sessions the same pacers send, and its RTSP-over-HTTP tunnels are
//! RTSP connections like any other.
//! Each live channel plays on a thread of its own, each recording writes on one, and a live
//! path waiting for its publisher to come back is ended by one when the wait is over.
//! A session's state ([`session`]) is shared by its connection thread and the pacers; its rules
//! are `rtsp_proto`'s session and playout state machines. Files are found by [`catalog`] and
//! prepared once for every session ([`media::MediaCache`]), each at its own frame rate (its
//! container's, a sidecar's or `--fps`); [`library`] says at startup what is served. Live
//! paths ([`live`]) take a publisher's stream (ANNOUNCE/RECORD), or a channel's file played
//! on a loop, and hand each frame, as it arrives, to every viewer (and recorder) of the path.

/// The log target of the one line per session start and end: shown at the default level, so an
/// operator sees who watches what without `-v`.
pub const SESSION_LOG: &str = "sessions";

pub mod catalog;
pub mod cmaf;
pub mod conn;
pub mod http;
pub mod library;
pub mod live;
pub mod media;
pub mod net;
pub mod pacer;
pub mod session;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Everything the command line sets.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// The directory whose videos (`.mjpeg`, and Motion-JPEG in AVI, MP4/MOV and Matroska)
    /// are served.
    pub videos: PathBuf,
    /// Frames per second of a file that gives no rate of its own (a `.mjpeg` without a
    /// sidecar): the lab's server sends one frame every 50 ms, 20.
    pub fps: f64,
    /// Start over at the end of the file instead of stopping.
    pub looping: bool,
    /// Most RTSP connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Most sessions at once; a SETUP beyond it is answered 503.
    pub max_sessions: usize,
    /// A connection with no session and no request for this long is closed.
    pub idle_timeout: Duration,
    /// Bounds on requests: line, header count, head size, body size.
    pub limits: rtsp_proto::rtsp::Limits,
    /// Users allowed in (name, password); empty means no authentication.
    pub users: Vec<(String, String)>,
    /// Where the HTTP side listens (`--http`, `--no-http`), on the same address as RTSP.
    pub http: http::HttpListen,
    /// Most HTTP connections served at once; more are answered 503 and closed.
    pub http_max_connections: usize,
    /// Offer and accept Basic authentication besides Digest.
    pub allow_basic: bool,
    /// How long a request may take to arrive once it has started (slow peers get 408).
    pub request_timeout: Duration,
    /// How quiet the peer must be before an unterminated request (the lab's) is taken as whole.
    pub lab_quiet: Duration,
    /// A session with no request and no RTCP for this long is ended.
    pub session_timeout: Duration,
    /// Offer RTP over UDP.
    pub udp: bool,
    /// Offer RTP interleaved on the RTSP connection.
    pub tcp: bool,
    /// Bytes of converted frames each file may keep in memory.
    pub converted_limit: usize,
    /// Largest frame accepted from a file.
    pub max_frame: usize,
    /// Hand each UDP frame to the kernel as one segmented datagram where it can (UDP GSO);
    /// off, one sendmmsg(2) of separate packets. On by default; off is for comparing the two.
    pub gso: bool,
    /// HLS and DASH: segment length, renditions, the segment cache.
    pub cmaf: cmaf::CmafConfig,
    /// Who may publish on live paths (`--publish-auth`), by Digest or Basic as `users`;
    /// empty means publishers need what viewers need.
    pub publish_users: Vec<(String, String)>,
    /// A second publisher on a path replaces the first instead of getting 455.
    pub publish_replace: bool,
    /// `--channel NAME=FILE`: files played on a loop as live paths.
    pub channels: Vec<live::channel::ChannelSpec>,
    /// How long a live path whose publisher left waits for one to come back (zero: its
    /// viewers are ended at once).
    pub live_linger: Duration,
    /// Where every published live path is recorded (inside `videos`), if anywhere.
    pub record_dir: Option<PathBuf>,
    /// How long each recording runs before the next file starts.
    pub record_segment: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([0, 0, 0, 0], 8554)),
            videos: PathBuf::from("videos"),
            fps: 20.0,
            looping: false,
            max_connections: 1000,
            max_sessions: 1000,
            idle_timeout: Duration::from_secs(60),
            limits: rtsp_proto::rtsp::Limits::default(),
            request_timeout: Duration::from_secs(10),
            lab_quiet: Duration::from_millis(150),
            session_timeout: rtsp_proto::session::DEFAULT_TIMEOUT,
            udp: true,
            tcp: true,
            converted_limit: media::DEFAULT_CONVERTED_LIMIT,
            max_frame: media::MAX_FRAME,
            users: Vec::new(),
            allow_basic: true,
            http: http::HttpListen::Off,
            http_max_connections: 2000,
            gso: true,
            cmaf: cmaf::CmafConfig::default(),
            publish_users: Vec::new(),
            publish_replace: false,
            channels: Vec::new(),
            live_linger: Duration::ZERO,
            record_dir: None,
            record_segment: Duration::from_secs(600),
        }
    }
}

/// State shared by every connection thread.
pub struct Shared {
    pub config: Config,
    pub cache: media::MediaCache,
    /// The H.264 renditions for HLS and DASH, encoded once and cached.
    pub packager: cmaf::Packager,
    /// Connections being served now.
    pub connections: AtomicUsize,
    /// Sessions that exist now (SETUP done, not yet torn down or expired).
    pub sessions: AtomicUsize,
    /// Frames and bytes sent and frames dropped, by transport.
    pub counters: Arc<session::MediaCounters>,
    /// HTTP connections being served now.
    pub http_connections: AtomicUsize,
    /// Every session now, RTSP and HTTP, for `/api/sessions` and `/metrics`.
    pub(crate) registry: session::Registry,
    /// Where the RTSP listener is, for the URLs the web page shows.
    pub(crate) rtsp_addr: SocketAddr,
    /// The Digest nonce scope of every HTTP connection (see `http::router`).
    pub(crate) http_nonces: Mutex<rtsp_proto::auth::NonceScope>,
    /// RTSP-over-HTTP tunnels whose GET waits for its POST.
    pub(crate) tunnels: http::tunnel::Tunnels,
    /// The threads that send every playing session's frames.
    pub(crate) pacers: pacer::Pacers,
    /// Raised when the server stops: wakes every connection thread at once.
    pub(crate) stop_signal: net::wait::StopSignal,
    pub(crate) stopping: AtomicBool,
    reports: Mutex<VecDeque<SessionReport>>,
    /// Set when `config.users` is not empty.
    pub(crate) auth: Option<rtsp_proto::auth::Authenticator>,
    /// Set when `config.publish_users` is not empty: ANNOUNCE, RECORD and a publisher's
    /// other requests are checked against it instead of `auth`.
    pub(crate) publish_auth: Option<rtsp_proto::auth::Authenticator>,
    /// The live paths that have a publisher.
    pub live: live::path::Paths,
    /// The HLS/DASH streams of live paths, started on their first request.
    pub live_hls: live::hls::LiveHls,
    /// Addresses that failed to log in, refused for a while after too many failures.
    pub(crate) auth_failures: Mutex<rtsp_proto::auth::FailureLimiter<std::net::IpAddr>>,
}

/// One reception report block a client sent about a session's stream (RFC 3550 6.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    pub session: String,
    pub peer: SocketAddr,
    pub block: rtsp_proto::rtcp::ReportBlock,
}

/// How many recent receiver reports [`Shared::receiver_reports`] keeps.
const KEPT_REPORTS: usize = 256;

impl Shared {
    /// The most recent receiver reports from all sessions, oldest first.
    pub fn receiver_reports(&self) -> Vec<SessionReport> {
        self.reports.lock().unwrap().iter().cloned().collect()
    }

    pub(crate) fn record_report(&self, report: SessionReport) {
        let mut r = self.reports.lock().unwrap();
        if r.len() == KEPT_REPORTS {
            r.pop_front();
        }
        r.push_back(report);
    }
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    /// The HTTP listener, unless `--no-http`.
    http: Option<TcpListener>,
    shared: Arc<Shared>,
}

/// A server running on its own thread; dropping it stops the accept loops.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The HTTP listener's address, when there is one.
    pub http_addr: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds the listening socket (port 0 picks a free one).
    pub fn bind(config: Config) -> io::Result<Server> {
        let cache = media::MediaCache::new(config.converted_limit, config.max_frame);
        Self::bind_with_cache(config, cache)
    }

    /// [`Server::bind`] serving files through `cache` (tests give it a converter of their own
    /// with [`media::MediaCache::with_converter`]).
    pub fn bind_with_cache(config: Config, cache: media::MediaCache) -> io::Result<Server> {
        let listener = TcpListener::bind(config.bind)?;
        let authenticator = |users: &Vec<(String, String)>| -> io::Result<_> {
            if users.is_empty() {
                return Ok(None);
            }
            let secret = conn::random()?;
            let mut a = rtsp_proto::auth::Authenticator::new("mjpeg-rtsp", users.clone(), secret);
            a.allow_basic = config.allow_basic;
            Ok(Some(a))
        };
        let auth = authenticator(&config.users)?;
        let publish_auth = authenticator(&config.publish_users)?;
        let counters = Arc::new(session::MediaCounters::default());
        let pacers = pacer::Pacers::spawn(counters.clone())?;
        let http = http::bind(config.bind.ip(), config.http).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the HTTP listener ({:?}): {e}", config.http),
            )
        })?;
        let rtsp_addr = listener.local_addr()?;
        let record = match &config.record_dir {
            Some(dir) => Some(live::record::RecordSettings {
                dir: live::record::check_dir(&config.videos, dir)?,
                segment: config.record_segment,
            }),
            None => None,
        };
        let live = live::path::Paths::new(config.live_linger, record);
        let server = Server {
            listener,
            http,
            shared: Arc::new(Shared {
                pacers,
                stop_signal: net::wait::StopSignal::new()?,
                cache,
                packager: cmaf::Packager::new(config.cmaf.clone()),
                auth,
                publish_auth,
                live,
                live_hls: Default::default(),
                auth_failures: Mutex::new(rtsp_proto::auth::FailureLimiter::new()),
                config,
                connections: AtomicUsize::new(0),
                sessions: AtomicUsize::new(0),
                counters,
                http_connections: AtomicUsize::new(0),
                registry: session::Registry::default(),
                rtsp_addr,
                tunnels: Default::default(),
                http_nonces: Mutex::new(rtsp_proto::auth::NonceScope::new(conn::random()?)),
                stopping: AtomicBool::new(false),
                reports: Mutex::new(VecDeque::new()),
            }),
        };
        live::channel::start_all(&server.shared)?;
        Ok(server)
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The HTTP listener's address, when there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// State shared with the connection threads (counters for monitoring).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// A handle that stops the accept loop and every connection (each ends its session with
    /// an RTCP BYE), for signal handlers.
    pub fn stopper(&self) -> io::Result<Stopper> {
        Ok(Stopper {
            shared: self.shared.clone(),
            addr: self.local_addr()?,
            http_addr: self.http_addr(),
        })
    }

    /// Accepts connections until stopped, one thread each: RTSP here, HTTP on a thread of
    /// its own.
    pub fn run(mut self) {
        if let Some(listener) = self.http.take() {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || http::accept_loop(listener, shared));
            if let Err(e) = spawned {
                log::error!("cannot start the HTTP listener: {e}");
            }
        }
        for stream in self.listener.incoming() {
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            match stream {
                Ok(stream) => self.serve(stream),
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    // Out of descriptors: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn serve(&self, stream: TcpStream) {
        let shared = self.shared.clone();
        let n = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        if n > shared.config.max_connections {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            conn::refuse_busy(stream);
            return;
        }
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "a peer already gone".to_string(), |p| p.to_string());
        let spawned = std::thread::Builder::new()
            .name("rtsp-conn".into())
            .spawn(move || {
                conn::serve(stream, &shared);
                shared.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log::error!("{peer}: cannot start a connection thread: {e}");
            self.shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Runs the accept loop on a thread of its own.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let http_addr = self.http_addr();
        let shared = self.shared.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-accept".into())
            .spawn(move || self.run())?;
        Ok(ServerHandle {
            addr,
            http_addr,
            shared,
            thread: Some(thread),
        })
    }
}

/// Stops a running server from another thread.
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
}

impl Stopper {
    /// Tells the accept loop and every connection to stop, and waits up to `grace` for the
    /// connections to finish (each sends its BYE). Returns whether they all did.
    pub fn stop(&self, grace: Duration) -> bool {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.stop_signal.raise();
        // Wake the blocking accept()s so they see the flag.
        for addr in std::iter::once(self.addr).chain(self.http_addr) {
            let wake = if addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], addr.port()))
            } else {
                addr
            };
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
        let end = std::time::Instant::now() + grace;
        while self.shared.connections.load(Ordering::SeqCst) > 0
            || self.shared.http_connections.load(Ordering::SeqCst) > 0
        {
            if std::time::Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        Stopper {
            shared: self.shared.clone(),
            addr: self.addr,
            http_addr: self.http_addr,
        }
        .stop(Duration::ZERO);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
