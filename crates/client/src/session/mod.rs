//! One client session: the RTSP requests for SETUP, PLAY, PAUSE and TEARDOWN in either dialect,
//! and the receiver and player threads that a SETUP starts.
//!
//! Standard RTSP is the default. The lab's server never answers OPTIONS, so when OPTIONS gets
//! no answer within a second the session switches to the lab's dialect on the same connection:
//! bare file name as URI, LF lines, no blank line, `Transport: RTP/UDP; client_port= N` as the
//! third line, whole JPEGs in the datagrams.
//!
//! SETUP (the sockets, the choice between UDP and TCP, the threads it starts) is in `setup`.

mod setup;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_proto::rtsp::{Method, Public, Request, Response};
use rtsp_proto::sdp::{self, VideoInfo};

use crate::connection::Connection;
use crate::player::{Display, Player};
use crate::receiver::{self, Receiver, RtcpOut, RxStats};
use crate::stats::Stats;
use crate::{ClientError, Options, ResponseProblem, TransportChoice};

/// With `TransportChoice::Auto`, how long after PLAY UDP may stay silent before TCP is tried.
pub const UDP_FALLBACK_AFTER: Duration = Duration::from_secs(2);

/// Receive buffer asked for on the RTP socket (the kernel caps it at net.core.rmem_max).
const RTP_RECEIVE_BUFFER: usize = 4 << 20;

/// How long OPTIONS may go unanswered before the server is taken for the lab's.
pub const LAB_DETECT_TIMEOUT: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Which RTSP the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Standard,
    /// The classic lab's Python server.
    Lab,
}

/// Where the session is, as the window title shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayState {
    Init,
    Ready,
    Playing,
    Paused,
}

impl PlayState {
    /// The state's name in capitals, as the window title shows it.
    pub fn name(self) -> &'static str {
        match self {
            PlayState::Init => "INIT",
            PlayState::Ready => "READY",
            PlayState::Playing => "PLAYING",
            PlayState::Paused => "PAUSED",
        }
    }
}

impl std::fmt::Display for PlayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A connection to one server and at most one session on it.
pub struct ClientSession {
    opts: Options,
    conn: Connection,
    pub dialect: Dialect,
    pub state: PlayState,
    /// What DESCRIBE said about the video.
    pub info: Option<VideoInfo>,
    /// The SDP text, for the `D` key.
    pub sdp: Option<String>,
    public: Option<Public>,
    /// Aggregate URL for PLAY, PAUSE, TEARDOWN.
    base: String,
    session: Option<String>,
    timeout: Duration,
    rx: Arc<Mutex<RxStats>>,
    pub display: Arc<Mutex<Display>>,
    receiver: Option<Receiver>,
    player: Option<Player>,
    play_sent: Option<Instant>,
    last_request: Instant,
    ended_by_range: bool,
    /// The transport in use after SETUP: true for interleaved TCP.
    tcp: bool,
    /// Why UDP was abandoned for TCP.
    fallback: Option<String>,
    rtcp_out: RtcpOut,
    ssrc: u32,
}

impl ClientSession {
    /// Connects and finds out the dialect.
    pub fn connect(opts: &Options) -> Result<ClientSession, ClientError> {
        let mut conn = match opts.http_tunnel {
            true => {
                let path = format!("/{}", rtsp_proto::url::request_path(&opts.url));
                Connection::connect_tunnel(opts.server, &path, Duration::from_secs(5))?
            }
            false => Connection::connect(opts.server, Duration::from_secs(5))?,
        };
        conn.set_credentials(opts.credentials.clone());
        let (dialect, public) = if opts.lab {
            (Dialect::Lab, None)
        } else {
            match conn.request(
                Request::new(Method::Options, opts.url.clone()),
                LAB_DETECT_TIMEOUT,
            ) {
                Ok(r) => (
                    Dialect::Standard,
                    r.headers.get("Public").map(Public::parse),
                ),
                Err(ClientError::Timeout { .. }) => {
                    log::info!("no answer to OPTIONS within {LAB_DETECT_TIMEOUT:?}: switching to the lab dialect");
                    (Dialect::Lab, None)
                }
                Err(e) => return Err(e),
            }
        };
        conn.set_lab(dialect == Dialect::Lab);
        Ok(ClientSession {
            opts: opts.clone(),
            conn,
            dialect,
            state: PlayState::Init,
            info: None,
            sdp: None,
            public,
            base: opts.url.clone(),
            session: None,
            timeout: rtsp_proto::session::DEFAULT_TIMEOUT,
            rx: Arc::new(Mutex::new(RxStats::default())),
            display: Arc::new(Mutex::new(Display::default())),
            receiver: None,
            player: None,
            play_sent: None,
            last_request: Instant::now(),
            ended_by_range: false,
            tcp: false,
            fallback: None,
            rtcp_out: RtcpOut::None,
            // RFC 3550 8.1: a random SSRC, so two clients of one server do not collide.
            ssrc: getrandom::u32().map_err(ClientError::Random)?,
        })
    }

    fn check(method: Method, r: Response) -> Result<Response, ClientError> {
        if r.status.is_success() {
            Ok(r)
        } else {
            Err(ClientError::Status {
                method,
                status: r.status.0,
                reason: r.reason,
            })
        }
    }

    fn standard(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, String)],
    ) -> Result<Response, ClientError> {
        let mut req = Request::new(method.clone(), uri);
        if let Some(s) = &self.session {
            req.headers.append("Session", s.clone());
        }
        for (n, v) in headers {
            req.headers.append(*n, v.clone());
        }
        self.last_request = Instant::now();
        let r = self.conn.request(req, REQUEST_TIMEOUT)?;
        Self::check(method, r)
    }

    /// A request in the lab's shape: one write, LF lines, no blank line.
    fn lab(&mut self, method: Method, third_line: String) -> Result<Response, ClientError> {
        let cseq = self.conn.next_cseq();
        let text = format!(
            "{method} {} RTSP/1.0\nCSeq: {cseq}\n{third_line}",
            self.opts.file
        );
        self.last_request = Instant::now();
        self.conn.send_raw(text.as_bytes())?;
        let r = self.conn.wait_response(&method, cseq, REQUEST_TIMEOUT)?;
        Self::check(method, r)
    }

    /// DESCRIBE: reads the video's control URL, frame rate, range and size from the SDP.
    pub fn describe(&mut self) -> Result<String, ClientError> {
        if self.dialect == Dialect::Lab {
            return Err(ClientError::NotInLabDialect(Method::Describe));
        }
        let url = self.opts.url.clone();
        let r = self.standard(
            Method::Describe,
            &url,
            &[("Accept", "application/sdp".into())],
        )?;
        let info = sdp::parse_video(&r.body).map_err(|e| ClientError::BadResponse {
            method: Method::Describe,
            problem: ResponseProblem::Sdp(e),
        })?;
        // RFC 2326 C.1.1: Content-Base, else Content-Location, else the request URL.
        self.base = r
            .headers
            .get("Content-Base")
            .or(r.headers.get("Content-Location"))
            .unwrap_or(&url)
            .to_string();
        let text = String::from_utf8_lossy(&r.body).into_owned();
        self.info = Some(info);
        self.sdp = Some(text.clone());
        Ok(text)
    }

    fn session_header(&self) -> String {
        format!("Session: {}", self.session.as_deref().unwrap_or("0"))
    }

    /// PLAY, from Ready (the start, or a resume after PAUSE).
    pub fn play(&mut self) -> Result<(), ClientError> {
        if !matches!(self.state, PlayState::Ready | PlayState::Paused) {
            return Err(ClientError::NotAllowed {
                method: Method::Play,
                state: self.state,
            });
        }
        let resume = self.state == PlayState::Paused;
        self.display.lock().unwrap().reanchor = resume;
        if self.play_sent.is_none() {
            self.play_sent = Some(Instant::now());
        }
        match self.dialect {
            Dialect::Standard => {
                let base = self.base.clone();
                let range = if resume {
                    vec![]
                } else {
                    vec![("Range", "npt=0.000-".to_string())]
                };
                self.standard(Method::Play, &base, &range)?;
            }
            Dialect::Lab => {
                let s = self.session_header();
                self.lab(Method::Play, s)?;
            }
        }
        self.state = PlayState::Playing;
        Ok(())
    }

    /// PAUSE while playing.
    pub fn pause(&mut self) -> Result<(), ClientError> {
        if self.state != PlayState::Playing {
            return Err(ClientError::NotAllowed {
                method: Method::Pause,
                state: self.state,
            });
        }
        match self.dialect {
            Dialect::Standard => {
                let base = self.base.clone();
                self.standard(Method::Pause, &base, &[])?;
            }
            Dialect::Lab => {
                let s = self.session_header();
                self.lab(Method::Pause, s)?;
            }
        }
        self.state = PlayState::Paused;
        Ok(())
    }

    /// TEARDOWN (after an RTCP BYE), and the threads stop: the receiver first (it records and
    /// counts what its reorder buffer still holds), then the player (it counts what is still
    /// queued for it as discarded at the stop), so [`ClientSession::stats`] afterwards adds up.
    pub fn teardown(&mut self) -> Result<(), ClientError> {
        if self.state == PlayState::Init {
            return Err(ClientError::NotAllowed {
                method: Method::Teardown,
                state: self.state,
            });
        }
        self.rtcp_out.send(&receiver::bye_packet(self.ssrc));
        let result = match self.dialect {
            Dialect::Standard => {
                let base = self.base.clone();
                self.standard(Method::Teardown, &base, &[]).map(|_| ())
            }
            Dialect::Lab => {
                let s = self.session_header();
                self.lab(Method::Teardown, s).map(|_| ())
            }
        };
        // In this order: the receiver hands the player nothing after it is gone.
        self.receiver = None;
        self.player = None;
        self.session = None;
        self.rtcp_out = RtcpOut::None;
        *self.conn.interleaved.lock().unwrap() = None;
        self.state = PlayState::Init;
        result
    }

    /// With `TransportChoice::Auto`: when no RTP has come over UDP within 2 s of PLAY (a
    /// firewall or NAT in the way), tears the UDP session down and plays again over TCP.
    /// Returns whether it fell back.
    pub fn check_udp_fallback(&mut self) -> Result<bool, ClientError> {
        let silent = self.rx.lock().unwrap().first_packet.is_none();
        let due = self
            .play_sent
            .is_some_and(|t| t.elapsed() >= UDP_FALLBACK_AFTER);
        if self.opts.transport != TransportChoice::Auto
            || self.dialect != Dialect::Standard
            || self.tcp
            || self.state != PlayState::Playing
            || !silent
            || !due
        {
            return Ok(false);
        }
        let why = format!("no RTP over UDP within {UDP_FALLBACK_AFTER:?} of PLAY");
        log::warn!("{why}: trying TCP");
        if let Err(e) = self.teardown() {
            log::info!("TEARDOWN of the UDP session: {e}");
        }
        self.fallback = Some(why);
        self.setup()?;
        let first_play = self.play_sent;
        self.play()?;
        // first_frame_ms counts from the first PLAY: the fallback's cost is part of it.
        self.play_sent = first_play;
        Ok(true)
    }

    /// Keeps the session alive at half its timeout: GET_PARAMETER when the server lists it,
    /// else OPTIONS. The lab's server needs none.
    pub fn keepalive_if_due(&mut self) -> Result<(), ClientError> {
        if self.dialect == Dialect::Lab
            || self.session.is_none()
            || self.last_request.elapsed() < self.timeout / 2
        {
            return Ok(());
        }
        let base = self.base.clone();
        let method = if self
            .public
            .as_ref()
            .is_some_and(|p| p.contains(&Method::GetParameter))
        {
            Method::GetParameter
        } else {
            Method::Options
        };
        self.standard(method, &base, &[]).map(|_| ())
    }

    /// Whether the stream has ended: the last frame of the SDP's range has arrived, or nothing
    /// arrived for 3 s while playing (the lab's server just stops at the end of its file).
    pub fn ended(&mut self) -> bool {
        if self.state != PlayState::Playing {
            return false;
        }
        let rx = self.rx.lock().unwrap();
        if let (Some(info), Some(first), Some(last)) =
            (&self.info, rx.first_timestamp, rx.last_timestamp)
        {
            if let Some((start, Some(end))) = info.range {
                let fps = info.framerate.unwrap_or(25.0);
                let span = last.wrapping_sub(first) as f64 / 90_000.0;
                if span + 1.5 / fps >= end - start {
                    self.ended_by_range = true;
                }
            }
        }
        if rx.bye || self.ended_by_range {
            // The server said so, or the last frame of the range is in: let the player show
            // what it holds (the playout delay) before calling it over.
            let quiet = rx
                .last_packet
                .is_none_or(|t| t.elapsed() > self.opts.playout_delay + Duration::from_millis(100));
            return quiet && self.player_drained(&rx);
        }
        let silent_since = rx.last_packet.or(self.play_sent);
        silent_since.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
    }

    /// Whether the player has dealt with every frame received (or has been stuck for 2 s).
    fn player_drained(&self, rx: &RxStats) -> bool {
        let d = self.display.lock().unwrap();
        let done = d.frames_decoded + d.decode_errors + rx.frames_dropped_by_player;
        done >= rx.frames_received
            || d.last_decoded
                .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
    }

    /// The statistics now. While playing, frames in flight between the receiver and the player
    /// are in none of the frame counts; after [`ClientSession::teardown`] every received frame
    /// is decoded, dropped or discarded at the stop ([`Stats::frames_add_up`]).
    pub fn stats(&self) -> Stats {
        let rx = self.rx.lock().unwrap();
        let d = self.display.lock().unwrap();
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) if b > a => Some((b - a).as_secs_f64()),
            _ => None,
        };
        let kbps = span(rx.first_packet, rx.last_packet)
            .map_or(0.0, |s| rx.bytes() as f64 * 8.0 / 1000.0 / s);
        let fps = span(d.first_decoded, d.last_decoded)
            .map_or(0.0, |s| (d.frames_decoded.saturating_sub(1)) as f64 / s);
        let (width, height) = d
            .latest
            .as_ref()
            .map(|p| (p.width as u32, p.height as u32))
            .or(self.info.as_ref().and_then(|i| i.dimensions))
            .unwrap_or((0, 0));
        Stats {
            frames_received: rx.frames_received,
            frames_decoded: d.frames_decoded,
            frames_dropped: rx.frames_dropped + d.decode_errors,
            frames_incomplete: rx.frames_incomplete,
            frames_discarded_at_stop: rx.frames_discarded_at_stop + d.discarded_at_stop,
            packets_received: rx.packets_received(),
            packets_lost: rx.packets_lost(),
            jitter_ms: (self.dialect == Dialect::Standard).then(|| rx.rtp.jitter() as f64 / 90.0),
            kbps,
            fps,
            first_frame_ms: match (self.play_sent, d.first_decoded) {
                (Some(p), Some(f)) if f >= p => Some((f - p).as_secs_f64() * 1000.0),
                _ => None,
            },
            foreign_packets: rx.foreign_packets,
            transport: if self.tcp { "tcp".into() } else { "udp".into() },
            fallback: self.fallback.clone(),
            dialect: match self.dialect {
                Dialect::Standard => "standard".into(),
                Dialect::Lab => "lab".into(),
            },
            width,
            height,
        }
    }

    /// The RTP timestamp of the first frame received (where the progress bar starts).
    pub fn stats_first_timestamp(&self) -> Option<u32> {
        self.rx.lock().unwrap().first_timestamp
    }

    /// The receiver's counters (RTCP details included), for tests and the window.
    pub fn rx_stats(&self) -> Arc<Mutex<RxStats>> {
        self.rx.clone()
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.conn.peer
    }
}
