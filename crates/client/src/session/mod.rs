//! One client session: the RTSP requests for SETUP, PLAY, PAUSE and TEARDOWN in either dialect,
//! and the receiver and player threads that a SETUP starts.
//!
//! Standard RTSP is the default. The lab's server never answers OPTIONS, so when OPTIONS gets
//! no answer within a second the session switches to the lab's dialect on the same connection:
//! bare file name as URI, LF lines, no blank line, `Transport: RTP/UDP; client_port= N` as the
//! third line, whole JPEGs in the datagrams.
//!
//! SETUP (the sockets, the choice between UDP and TCP, the threads it starts) is in `setup`;
//! seeking, speed and frame steps are in `trick`.

mod setup;
mod trick;

pub use trick::{DEFAULT_FPS, SPEEDS};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtsp_proto::rtsp::{Method, Public, Request, Response};
use rtsp_proto::sdp::{self, VideoInfo};

use crate::connection::Connection;
use crate::player::{Display, Player};
use crate::playhead::Playhead;
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
/// How long TEARDOWN may take when quitting: a server that is gone must not hold the quit.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// When the last PLAY was answered (silence after it means the end).
    last_play: Option<Instant>,
    last_request: Instant,
    request_timeout: Duration,
    /// The seek gate and time base, shared with the receiver and the player.
    playhead: Arc<Mutex<Playhead>>,
    /// Whether the server may be sending: after a PLAY, until PAUSE or TEARDOWN (a frame step
    /// leaves the server playing past its one-frame range).
    server_playing: bool,
    /// Where a resume plays from after a step or a seek while paused.
    resume_at: Option<f64>,
    /// A PLAY with a range end has been sent (see `trick::play_request`).
    bounded: bool,
    /// Where the first PLAY starts (`--start`).
    start: Option<f64>,
    /// The Scale asked for, then the one the server applies.
    scale: f64,
    plays: u64,
    seeks: u64,
    notice: Option<String>,
    /// The last request's error, for the exit summary and the exit code.
    pub last_error: Option<String>,
    /// The connection has closed ([`ClientSession::server_gone`] said so).
    gone: bool,
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
            last_play: None,
            last_request: Instant::now(),
            request_timeout: REQUEST_TIMEOUT,
            playhead: Arc::default(),
            server_playing: false,
            resume_at: None,
            bounded: false,
            start: opts.start,
            scale: 1.0,
            plays: 0,
            seeks: 0,
            notice: None,
            last_error: None,
            gone: false,
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
        let r = self.conn.request(req, self.request_timeout)?;
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
        let r = self
            .conn
            .wait_response(&method, cseq, self.request_timeout)?;
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

    /// PLAY, from Ready (the start, from `--start` the first time) or Paused (a resume; after
    /// a step or a seek while paused, from the frame after the one shown).
    pub fn play(&mut self) -> Result<(), ClientError> {
        if !matches!(self.state, PlayState::Ready | PlayState::Paused) {
            return Err(ClientError::NotAllowed {
                method: Method::Play,
                state: self.state,
            });
        }
        let resume = self.state == PlayState::Paused;
        if self.play_sent.is_none() {
            self.play_sent = Some(Instant::now());
        }
        match self.dialect {
            Dialect::Standard => {
                let range = if !resume {
                    let from = self.start.take().map_or(0.0, |t| self.clamp(t));
                    Some((from, None))
                } else {
                    self.resume_at.take().map(|t| (self.clamp(t), None))
                };
                self.pause_if_sending()?;
                self.ended_by_range = false;
                self.play_at_speed(range)?;
            }
            Dialect::Lab => {
                if self.start.take().is_some() {
                    log::warn!("the lab's server cannot start mid-file: playing from the start");
                }
                let s = self.session_header();
                self.lab(Method::Play, s)?;
                self.last_play = Some(Instant::now());
            }
        }
        self.plays += 1;
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
        self.server_playing = false;
        self.resume_at = None;
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
        self.server_playing = false;
        self.resume_at = None;
        result
    }

    /// TEARDOWN with a short deadline ([`QUIT_TIMEOUT`]), for quitting: the threads stop
    /// whether or not a server that is gone answers.
    pub fn quit(&mut self) -> Result<(), ClientError> {
        if self.state == PlayState::Init {
            return Ok(());
        }
        self.request_timeout = QUIT_TIMEOUT;
        let result = self.teardown();
        self.request_timeout = REQUEST_TIMEOUT;
        result
    }

    /// With `TransportChoice::Auto`: when no RTP has come over UDP within 2 s of PLAY (a
    /// firewall or NAT in the way), tears the UDP session down and plays again over TCP.
    /// Returns whether it fell back.
    pub fn check_udp_fallback(&mut self) -> Result<bool, ClientError> {
        let silent = self.rx.lock().unwrap().first_packet.is_none();
        // From this transport's PLAY: an earlier session's counts are gone with its receiver.
        let due = self
            .last_play
            .or(self.play_sent)
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

    /// Whether the stream has ended: the server said BYE, the shown frame is the last of the
    /// SDP's range (the first, playing backwards), or nothing arrived for 3 s while playing
    /// (the lab's server just stops at the end of its file).
    pub fn ended(&mut self) -> bool {
        if self.state != PlayState::Playing {
            return false;
        }
        if let (Some(duration), Some(pos)) = (self.duration(), self.position()) {
            let frame = 1.0 / self.fps();
            let at_end = match self.scale < 0.0 {
                false => pos + 1.5 * frame >= duration,
                true => pos <= 1.5 * frame,
            };
            self.ended_by_range |= at_end && !self.playhead_pending();
        }
        let rx = self.rx.lock().unwrap();
        if rx.bye || self.ended_by_range {
            // The server said so, or the last frame of the range is shown: let the player show
            // what it holds (the playout delay) before calling it over.
            let quiet = rx
                .last_packet
                .is_none_or(|t| t.elapsed() > self.opts.playout_delay + Duration::from_millis(100));
            return quiet && self.player_drained(&rx);
        }
        let silent_since = match (rx.last_packet, self.last_play.or(self.play_sent)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        silent_since.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
    }

    fn playhead_pending(&self) -> bool {
        self.playhead.lock().unwrap().gate == crate::playhead::Gate::Pending
    }

    /// Whether the player has dealt with every frame received (or has been stuck for 2 s).
    fn player_drained(&self, rx: &RxStats) -> bool {
        let d = self.display.lock().unwrap();
        let done = d.frames_decoded
            + d.decode_errors
            + d.skipped_at_seek
            + rx.frames_dropped_by_player
            + rx.frames_skipped_at_seek;
        done >= rx.frames_received
            || d.last_decoded
                .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
    }

    /// Why the server is gone, the first time this sees it (the connection closed): nothing
    /// more will play, and requests would fail.
    pub fn server_gone(&mut self) -> Option<String> {
        if self.gone {
            return None;
        }
        let why = self.conn.poll_closed()?;
        self.gone = true;
        let text = format!("the server is gone: {why}");
        self.last_error = Some(text.clone());
        Some(text)
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
            fps: d.fps.fps(),
            playing_seconds: d.fps.playing_seconds(),
            plays: self.plays,
            seeks: self.seeks,
            scale: self.scale,
            position: d.latest.as_ref().and_then(|p| p.position),
            frames_skipped_at_seek: rx.frames_skipped_at_seek + d.skipped_at_seek,
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
            error: self.last_error.clone(),
        }
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
