//! What can go wrong in the client, typed, with enough context to find the exchange in a
//! capture: the request's method and CSeq, the server's address, the step that failed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rtsp_proto::rtp::PortPairError;
use rtsp_proto::rtsp::framer::FramingError;
use rtsp_proto::rtsp::Method;
use rtsp_proto::sdp::SdpError;
use rtsp_proto::url::UrlError;

use crate::session::PlayState;

/// Why a request, a session step or the window failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection to the server could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A socket, thread or file operation failed; `what` names the step.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The control connection ended while a response was awaited.
    #[error("connection closed: {0}")]
    Closed(#[source] Closed),
    /// No response carrying the request's CSeq arrived in time (the lab's server never
    /// answers OPTIONS, which is how it is detected).
    #[error("no response to {method} (CSeq {cseq}) within {waited:?}")]
    Timeout {
        method: Method,
        cseq: u32,
        waited: Duration,
    },
    /// The server answered with a status other than 2xx.
    #[error("{method} failed: {status} {reason}")]
    Status {
        method: Method,
        status: u16,
        reason: String,
    },
    /// A 2xx response lacks what the request needs, or carries it malformed.
    #[error("bad response to {method}: {problem}")]
    BadResponse {
        method: Method,
        problem: ResponseProblem,
    },
    /// The URL given is not an `rtsp://` URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The URL's host did not resolve.
    #[error("cannot resolve {host_port}: {source}")]
    Resolve {
        host_port: String,
        #[source]
        source: io::Error,
    },
    /// The URL's host resolved to no address at all.
    #[error("{host_port} resolves to no address")]
    NoAddress { host_port: String },
    /// A request the session's state does not allow.
    #[error("{method} in state {state}")]
    NotAllowed { method: Method, state: PlayState },
    /// The lab's server has no such method.
    #[error("the lab's server has no {0}")]
    NotInLabDialect(Method),
    /// No RTP/RTCP port pair could be bound.
    #[error("binding the RTP/RTCP ports: {0}")]
    PortPair(#[source] PortPairError<io::Error>),
    /// The operating system's random source failed (for the SSRC).
    #[error("no random number from the operating system: {0}")]
    Random(#[source] getrandom::Error),
    /// An HTTP exchange failed: a tunnel's GET, or a Motion-JPEG stream's request.
    #[error("HTTP: {0}")]
    Http(String),
    /// The window could not be opened or drawn into.
    #[error("{what}: {source}")]
    Window {
        what: &'static str,
        #[source]
        source: minifb::Error,
    },
}

impl ClientError {
    /// Wraps an IO error with what was being done, for `map_err`.
    pub fn io(what: &'static str) -> impl Fn(io::Error) -> ClientError {
        move |source| ClientError::Io { what, source }
    }
}

/// Why the control connection stopped delivering responses.
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    /// The server closed its end.
    #[error("the server closed the connection")]
    ByServer,
    /// Reading the socket failed.
    #[error("reading from the server: {0}")]
    Read(#[source] io::Error),
    /// The server sent a response the framer cannot cut, so no later one can be found.
    #[error("{0}")]
    Framing(#[source] FramingError),
    /// The reader thread is gone (it ended on one of the above, already reported).
    #[error("the reader thread stopped")]
    ReaderStopped,
}

/// What is wrong with a successful response.
#[derive(Debug, thiserror::Error)]
pub enum ResponseProblem {
    /// A header the request needs back is absent.
    #[error("no {0} header")]
    MissingHeader(&'static str),
    /// A header is there but does not parse.
    #[error("{header} header {value:?}: {why}")]
    BadHeader {
        header: &'static str,
        value: String,
        why: String,
    },
    /// The session description does not describe a video we can play.
    #[error("SDP: {0}")]
    Sdp(#[source] SdpError),
}
