//! The RTSP/RTP Motion-JPEG player as a library: the binary (`main.rs`) parses the command
//! line and owns the window; tests drive [`session::ClientSession`] and [`headless::run`]
//! in-process.
//!
//! Threads, as DESIGN.md lays out: a reader thread per RTSP connection ([`connection`]), a
//! receiver thread for RTP ([`receiver`]), a player thread that decodes and schedules frames by
//! RTP timestamp ([`player`]), and the caller's thread for keys and the window ([`ui`]).

pub mod connection;
pub mod font;
pub mod headless;
pub mod player;
pub mod receiver;
pub mod session;
pub mod stats;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;

/// Set by the binary's SIGINT/SIGTERM handler: headless playback and the window stop, and
/// the session is torn down before the process exits.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// What can go wrong talking to a server, with enough context to find it in a capture.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, String),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("connection closed: {0}")]
    Closed(String),
    #[error("no response to request CSeq {0} in time")]
    Timeout(u32),
    #[error("{method} failed: {status} {reason}")]
    Status {
        method: &'static str,
        status: u16,
        reason: String,
    },
    #[error("bad response to {0}: {1}")]
    BadResponse(&'static str, String),
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// Wraps an IO error with what was being done, for `map_err`.
    pub fn io(what: &'static str) -> impl Fn(std::io::Error) -> ClientError {
        move |e| ClientError::Io(what, e)
    }
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
    pub record: Option<PathBuf>,
    pub record_format: RecordFormat,
    pub stats_json: Option<String>,
    /// Delay between a frame's arrival and its display, absorbing network jitter.
    pub playout_delay: std::time::Duration,
    /// Largest frame the depacketizer assembles; bigger ones are dropped.
    pub max_frame: usize,
    /// Packets the reorder buffer holds behind a gap before giving up on it.
    pub reorder_packets: usize,
}

impl Options {
    /// Options for `url` with everything else at its default.
    pub fn for_url(url: &str) -> Result<Options, ClientError> {
        let (url, credentials) = split_credentials(url);
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
            record: None,
            record_format: RecordFormat::Plain,
            stats_json: None,
            playout_delay: std::time::Duration::from_millis(100),
            max_frame: receiver::MAX_FRAME,
            reorder_packets: receiver::REORDER_PACKETS,
        })
    }
}

/// Takes `user:password@` out of an RTSP URL: requests must not carry it (servers answer 400
/// or leak it into logs), and it is used only to answer a 401.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some(rest) = url
        .get(7..)
        .filter(|_| url[..7].eq_ignore_ascii_case("rtsp://"))
    else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &rest[..at];
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| percent_decode(s).unwrap_or_else(|| s.to_string());
    (
        format!("{}{}", &url[..7], &rest[at + 1..]),
        Some((decode(user), decode(pass))),
    )
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits `rtsp://host[:port]/path` into the server address (port 554 by default, as RFC
/// 2326 3.2 says) and the path.
pub fn parse_rtsp_url(url: &str) -> Result<(SocketAddr, String), ClientError> {
    use std::net::ToSocketAddrs;
    let bad = || ClientError::Invalid(format!("{url:?} is not an rtsp://HOST[:PORT]/PATH URL"));
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("rtsp://"))
        .map(|_| &url[7..])
        .ok_or_else(bad)?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(bad());
    }
    let with_port = if authority.starts_with('[') {
        if authority.contains("]:") {
            authority.to_string()
        } else {
            format!("{authority}:554")
        }
    } else if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:554")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| ClientError::Invalid(format!("cannot resolve {with_port}: {e}")))?
        .next()
        .ok_or_else(bad)?;
    Ok((addr, path.to_string()))
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
        assert!(parse_rtsp_url("http://x/").is_err());
        assert!(parse_rtsp_url("rtsp:///x").is_err());
    }

    #[test]
    fn credentials_leave_the_url() {
        let (u, c) = split_credentials("rtsp://alice:p%40ss@127.0.0.1:8554/v.mjpeg");
        assert_eq!(u, "rtsp://127.0.0.1:8554/v.mjpeg");
        assert_eq!(c, Some(("alice".into(), "p@ss".into())));
        assert_eq!(split_credentials("rtsp://h/a@b").1, None);
    }
}
