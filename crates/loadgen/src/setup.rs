//! Bringing a step's sessions to PLAY and tearing them down: one DESCRIBE for the track's
//! URL, then per session its own connection, a SETUP naming its receiving socket, and a PLAY.

use std::net::{SocketAddr, UdpSocket};

use rtsp_proto::rtsp::{HeaderError, Session, StatusCode};
use rtsp_proto::sdp::SdpError;

use crate::rtsp::{AddressError, Rtsp, RtspError};

/// Why a step's sessions could not all be set up and played. The messages are what a failed
/// step's row shows, so they name the request and, past the DESCRIBE, the session.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL does not start with rtsp://.
    #[error("URL must start with rtsp://")]
    NotRtsp,
    /// Its host and port gave no address.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// A receiving socket could not be bound or asked its port.
    #[error(transparent)]
    Socket(#[from] std::io::Error),
    /// The DESCRIBE was answered with an error.
    #[error("DESCRIBE: {status}")]
    Describe { status: StatusCode },
    /// The DESCRIBE's SDP has no usable video.
    #[error(transparent)]
    Sdp(#[from] SdpError),
    /// Session `session` (from 0) could not connect.
    #[error("session {session}: connect")]
    Connect {
        session: usize,
        #[source]
        source: RtspError,
    },
    /// Session `session`'s SETUP was answered with an error.
    #[error("session {session}: SETUP: {status}")]
    Setup { session: usize, status: StatusCode },
    /// A SETUP's answer has no Session header.
    #[error("no Session")]
    NoSession,
    /// A SETUP's answer has a Session header that does not parse.
    #[error(transparent)]
    SessionHeader(#[from] HeaderError),
    /// A PLAY was answered with an error.
    #[error("PLAY: {status}")]
    Play { status: StatusCode },
    /// A request failed on its connection.
    #[error(transparent)]
    Rtsp(#[from] RtspError),
}

/// The address to connect to for an rtsp:// URL.
pub fn server_address(url: &str) -> Result<SocketAddr, SetupError> {
    let authority = crate::rtsp::authority(url).ok_or(SetupError::NotRtsp)?;
    Ok(crate::rtsp::resolve(&authority)?)
}

/// Where a stream's requests go, from its DESCRIBE.
pub struct Described {
    /// The aggregate URL (Content-Base, else the URL described): what PLAY and TEARDOWN name.
    pub base: String,
    /// The video track's URL: what SETUP names.
    pub track: String,
}

/// DESCRIBEs `url` on a connection of its own, closed after.
pub fn describe(addr: SocketAddr, url: &str) -> Result<Described, SetupError> {
    let mut first = Rtsp::connect(addr)?;
    let d = first.request("DESCRIBE", url, &[("Accept", "application/sdp")])?;
    if !d.status.is_success() {
        return Err(SetupError::Describe { status: d.status });
    }
    let info = rtsp_proto::sdp::parse_video(&d.body)?;
    let base = d.headers.get("Content-Base").unwrap_or(url).to_string();
    let track = rtsp_proto::url::resolve_control(&base, info.control.as_deref().unwrap_or(""));
    Ok(Described { base, track })
}

/// A session set up on its own connection.
pub struct SetUpSession {
    conn: Rtsp,
    /// The server's session id (RFC 2326 12.37), without its timeout.
    id: String,
}

/// Sets up one session per socket, each on its own connection, in the sockets' order.
pub fn setup_all(
    addr: SocketAddr,
    track: &str,
    sockets: &[UdpSocket],
) -> Result<Vec<SetUpSession>, SetupError> {
    let mut sessions = Vec::with_capacity(sockets.len());
    for (i, socket) in sockets.iter().enumerate() {
        let mut conn =
            Rtsp::connect(addr).map_err(|source| SetupError::Connect { session: i, source })?;
        let port = socket.local_addr()?.port();
        let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = conn.request("SETUP", track, &[("Transport", &transport)])?;
        if !r.status.is_success() {
            return Err(SetupError::Setup {
                session: i,
                status: r.status,
            });
        }
        let id = Session::parse(r.headers.get("Session").ok_or(SetupError::NoSession)?)?.id;
        sessions.push(SetUpSession { conn, id });
    }
    Ok(sessions)
}

/// PLAYs every session (`base`: the aggregate URL), one after the other.
pub fn play_all(sessions: &mut [SetUpSession], base: &str) -> Result<(), SetupError> {
    for s in sessions {
        let r = s.conn.request("PLAY", base, &[("Session", &s.id)])?;
        if !r.status.is_success() {
            return Err(SetupError::Play { status: r.status });
        }
    }
    Ok(())
}

/// Tears every session down politely; the server frees everything when the connections
/// close anyway, so a failed TEARDOWN is ignored.
pub fn teardown_all(sessions: &mut [SetUpSession], base: &str) {
    for s in sessions {
        let _ = s.conn.request("TEARDOWN", base, &[("Session", &s.id)]);
    }
}
