//! Typed RTSP headers, one file per header. Each struct both parses its header (`parse`) and
//! writes it (`Display`), so the two directions share one idea of what is valid. Headers the
//! server and client only copy around (Content-Type, User-Agent...) stay strings in
//! [`Headers`](super::Headers).

mod content_base;
mod cseq;
mod public;
mod range;
mod rtp_info;
mod scale;
mod session;
mod transport;

pub use content_base::ContentBase;
pub use cseq::CSeq;
pub use public::Public;
pub use range::{NptTime, Range};
pub use rtp_info::RtpInfo;
pub use scale::{Scale, Speed};
pub use session::Session;
pub use transport::{LowerTransport, PortRange, Transport};

/// A header value that does not follow its grammar: which header, the value as received, and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {header} header {value:?}: {fault}")]
pub struct HeaderError {
    /// The header's name as RFC 2326 spells it.
    pub header: &'static str,
    /// The value as it arrived.
    pub value: String,
    /// The rule the value breaks.
    pub fault: HeaderFault,
}

/// The rule a header value breaks, one variant per rule so callers and tests can tell them
/// apart without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderFault {
    /// Nothing where a value is required.
    #[error("empty")]
    Empty,
    /// `CSeq` is not a decimal number.
    #[error("not a decimal sequence number")]
    BadCSeq,
    /// A session id outside RFC 2326 3.4's characters.
    #[error("bad session id")]
    BadSessionId,
    /// `;timeout=` is not a number of seconds.
    #[error("bad timeout")]
    BadTimeout,
    /// A transport spec that names no protocol this crate speaks.
    #[error("unknown protocol")]
    UnknownProtocol,
    /// `client_port=` is not a port or port pair.
    #[error("bad client_port")]
    BadClientPort,
    /// `server_port=` is not a port or port pair.
    #[error("bad server_port")]
    BadServerPort,
    /// `interleaved=` is not a channel or channel pair (0..=255).
    #[error("bad interleaved")]
    BadInterleaved,
    /// `ssrc=` is not eight hex digits' worth of number.
    #[error("bad ssrc")]
    BadSsrc,
    /// `ttl=` is not 0..=255.
    #[error("bad ttl")]
    BadTtl,
    /// A range in units other than NPT (SMPTE, clock).
    #[error("only npt ranges are supported")]
    NotNpt,
    /// A range without its `-`.
    #[error("no '-' between start and end")]
    NoDash,
    /// The start of a range is not an NPT time.
    #[error("bad start")]
    BadStart,
    /// The end of a range is not an NPT time.
    #[error("bad end")]
    BadEnd,
    /// A range whose end comes before its start.
    #[error("end before start")]
    EndBeforeStart,
    /// An RTP-Info `seq=` that is not a 16-bit number.
    #[error("bad seq")]
    BadSeq,
    /// An RTP-Info `rtptime=` that is not a 32-bit number.
    #[error("bad rtptime")]
    BadRtpTime,
    /// A Scale or Speed that is not a decimal rate other than zero (Speed: above zero).
    #[error("not a rate other than zero")]
    BadRate,
    /// An RTP-Info entry without `url=`.
    #[error("entry without url")]
    EntryWithoutUrl,
    /// Not an absolute URL (Content-Base must be one, RFC 2326 12.11).
    #[error("not an absolute URL")]
    NotAbsoluteUrl,
}

impl HeaderError {
    fn new(header: &'static str, value: &str, fault: HeaderFault) -> HeaderError {
        HeaderError {
            header,
            value: value.to_string(),
            fault,
        }
    }
}

/// A parameter value without its surrounding double quotes, if it has them.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}
