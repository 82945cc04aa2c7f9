//! The RTSP/RTP Motion-JPEG player as a library: the binary (`main.rs`) parses the command
//! line and owns the window; tests drive [`session::ClientSession`] and [`headless::run`]
//! in-process.
//!
//! Threads, as DESIGN.md lays out: a reader thread per RTSP connection ([`connection`]), a
//! receiver thread for RTP ([`receiver`]), a player thread that decodes and schedules frames by
//! RTP timestamp ([`player`]), and the caller's thread for keys ([`ui`]) and the window
//! ([`window`]). What the three share about seeking (which frames belong to the current PLAY,
//! and where in the presentation each one is) is the [`playhead`].

pub mod connection;
pub mod error;
pub mod font;
pub mod headless;
pub mod http_mjpeg;
pub mod player;
pub mod playhead;
pub mod receiver;
pub mod session;
pub mod stats;
pub mod ui;
pub mod window;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use rtsp_proto::url::{self, RtspUrl};

pub use error::{ClientError, Closed, ResponseProblem};

/// Set by the binary's SIGINT/SIGTERM handler: headless playback and the window stop, and
/// the session is torn down before the process exits.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// How recorded frames are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// Concatenated JPEG, as `ffmpeg -f mjpeg` writes.
    Plain,
    /// The lab's 5-digit length + JPEG.
    Lab,
}

/// Which lower transport to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChoice {
    /// UDP, falling back to TCP when SETUP gets 461 or no RTP arrives within 2 s of PLAY.
    Auto,
    /// UDP only (`--udp`).
    Udp,
    /// RTP interleaved on the RTSP connection (`--tcp`).
    Tcp,
}

/// Everything the command line sets.
#[derive(Debug, Clone)]
pub struct Options {
    /// Absolute `rtsp://host:port/path` URL of the stream.
    pub url: String,
    /// The server's address, from the URL (or the lab's HOST PORT).
    pub server: SocketAddr,
    /// The bare file name the lab's dialect sends as its URI.
    pub file: String,
    /// User and password from the URL (`rtsp://user:pass@host/...`), for a server that asks.
    pub credentials: Option<(String, String)>,
    /// Local UDP port for RTP (RTCP on the next); ephemeral when `None`.
    pub rtp_port: Option<u16>,
    /// Force the lab dialect instead of detecting it.
    pub lab: bool,
    pub transport: TransportChoice,
    pub frames: Option<u64>,
    pub duration: Option<f64>,
    /// Where the first PLAY starts, in seconds (`--start`).
    pub start: Option<f64>,
    /// Headless: keys pressed at given seconds after the start (`--keys`), as the window
    /// would take them.
    pub keys: Vec<(f64, ui::PlayerKey)>,
    pub record: Option<PathBuf>,
    pub record_format: RecordFormat,
    pub stats_json: Option<String>,
    /// Delay between a frame's arrival and its display, absorbing network jitter.
    pub playout_delay: std::time::Duration,
    /// Largest frame the depacketizer assembles; bigger ones are dropped.
    pub max_frame: usize,
    /// Packets the reorder buffer holds behind a gap before giving up on it.
    pub reorder_packets: usize,
    /// RTSP tunnelled over HTTP (`--http-tunnel`, or an `rtsph://` URL): RTP interleaved on a
    /// GET, requests on a POST, for networks that pass only HTTP.
    pub http_tunnel: bool,
}

impl Options {
    /// Options for `url` with everything else at its default.
    pub fn for_url(url: &str) -> Result<Options, ClientError> {
        if url.starts_with("http://") {
            // Motion-JPEG over HTTP: only the address and the path matter.
            let (server, _, path) = http_mjpeg::parse_http_url(url)?;
            let mut o = Options::for_url(&format!("rtsp://{server}{path}"))?;
            o.url = url.to_string();
            return Ok(o);
        }
        // rtsph:// (GStreamer's name for the tunnel) is rtsp:// through HTTP.
        let (url, http_tunnel) = match url.strip_prefix("rtsph://") {
            Some(rest) => (format!("rtsp://{rest}"), true),
            None => (url.to_string(), false),
        };
        let (url, credentials) = split_credentials(&url);
        let (server, file) = parse_rtsp_url(&url)?;
        Ok(Options {
            url,
            server,
            file,
            credentials,
            rtp_port: None,
            lab: false,
            transport: TransportChoice::Auto,
            frames: None,
            duration: None,
            start: None,
            keys: Vec::new(),
            record: None,
            record_format: RecordFormat::Plain,
            stats_json: None,
            playout_delay: std::time::Duration::from_millis(100),
            max_frame: receiver::MAX_FRAME,
            reorder_packets: receiver::REORDER_PACKETS,
            http_tunnel,
        })
    }
}

/// Takes `user:password@` out of an RTSP URL: requests must not carry it (servers answer 400
/// or leak it into logs), and it is used only to answer a 401. A part that does not
/// percent-decode is kept as written. Text that is not an RTSP URL comes back unchanged.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Ok(parsed) = RtspUrl::parse(url) else {
        return (url.to_string(), None);
    };
    let Some(userinfo) = parsed.userinfo else {
        return (url.to_string(), None);
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| url::percent_decode(s).unwrap_or_else(|_| s.to_string());
    (
        parsed.without_userinfo(),
        Some((decode(user), decode(pass))),
    )
}

/// Splits `rtsp://host[:port]/path` into the server address (port 554 by default, as RFC
/// 2326 3.2 says) and the path without its leading `/` (the lab's dialect sends it bare).
pub fn parse_rtsp_url(text: &str) -> Result<(SocketAddr, String), ClientError> {
    let parsed = RtspUrl::parse(text)?;
    let addr = resolve(parsed.host_port())?;
    let path = parsed.path.strip_prefix('/').unwrap_or(parsed.path);
    Ok((addr, path.to_string()))
}

/// The first address `host:port` resolves to.
pub fn resolve(host_port: String) -> Result<SocketAddr, ClientError> {
    host_port
        .to_socket_addrs()
        .map_err(|source| ClientError::Resolve {
            host_port: host_port.clone(),
            source,
        })?
        .next()
        .ok_or(ClientError::NoAddress { host_port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (a, p) = parse_rtsp_url("rtsp://127.0.0.1:1025/video.mjpeg").unwrap();
        assert_eq!((a.port(), p.as_str()), (1025, "video.mjpeg"));
        let (a, p) = parse_rtsp_url("RTSP://127.0.0.1/a/b").unwrap();
        assert_eq!((a.port(), p.as_str()), (554, "a/b"));
        let (a, p) = parse_rtsp_url("rtsp://u:p@[::1]:9/v").unwrap();
        assert_eq!((a.to_string(), p.as_str()), ("[::1]:9".to_string(), "v"));
        assert!(matches!(
            parse_rtsp_url("http://x/"),
            Err(ClientError::Url(url::UrlError::NotRtsp { .. }))
        ));
        assert!(matches!(
            parse_rtsp_url("rtsp:///x"),
            Err(ClientError::Url(url::UrlError::NoHost { .. }))
        ));
    }

    #[test]
    fn credentials_leave_the_url() {
        let (u, c) = split_credentials("rtsp://alice:p%40ss@127.0.0.1:8554/v.mjpeg");
        assert_eq!(u, "rtsp://127.0.0.1:8554/v.mjpeg");
        assert_eq!(c, Some(("alice".into(), "p@ss".into())));
        assert_eq!(split_credentials("rtsp://h/a@b").1, None);
        // An escape that does not decode is kept as written.
        assert_eq!(
            split_credentials("rtsp://bob:%zz@h/").1,
            Some(("bob".into(), "%zz".into()))
        );
    }
}
