//! `Transport` (RFC 2326 12.39): every form real peers send, the lab's `RTP/UDP; client_port= N`
//! included.

use std::fmt;

use super::{unquote, HeaderError, HeaderFault};

/// The transport protocol named at the start of a transport spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowerTransport {
    /// `RTP/AVP` or `RTP/AVP/UDP`: RTP over UDP with an RFC 2435 payload.
    RtpAvpUdp,
    /// `RTP/AVP/TCP`: RTP interleaved on the RTSP connection.
    RtpAvpTcp,
    /// `RTP/UDP`: the lab's own spelling, meaning one whole JPEG per datagram.
    LabRtpUdp,
}

impl LowerTransport {
    fn as_str(self) -> &'static str {
        match self {
            LowerTransport::RtpAvpUdp => "RTP/AVP",
            LowerTransport::RtpAvpTcp => "RTP/AVP/TCP",
            LowerTransport::LabRtpUdp => "RTP/UDP",
        }
    }
}

/// One transport specification of a `Transport` header (RFC 2326 12.39), plus the lab's
/// `RTP/UDP; client_port= N`. Unknown parameters are kept so a round trip loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// The protocol at the start of the spec.
    pub lower: LowerTransport,
    /// `Some(true)` for `unicast`, `Some(false)` for `multicast`, `None` when not said.
    pub unicast: Option<bool>,
    /// `destination=`: where the client wants RTP (the server only sends to the peer's own
    /// address).
    pub destination: Option<String>,
    /// `source=`: where RTP comes from.
    pub source: Option<String>,
    /// `client_port=`: the client's RTP (and RTCP) ports.
    pub client_port: Option<PortRange>,
    /// `server_port=`: the server's RTP (and RTCP) ports.
    pub server_port: Option<PortRange>,
    /// `interleaved=`: the RTP and RTCP channels on the RTSP connection.
    pub interleaved: Option<(u8, u8)>,
    /// `ssrc=`: the sender's SSRC (hex on the wire).
    pub ssrc: Option<u32>,
    /// `ttl=`: multicast time-to-live.
    pub ttl: Option<u8>,
    pub mode: Option<String>,
    /// Parameters this struct does not model, verbatim.
    pub other: Vec<String>,
}

/// `a` or `a-b` in `client_port` / `server_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first (RTP) port or channel.
    pub rtp: u16,
    /// The second (RTCP) one, when a pair was given.
    pub rtcp: Option<u16>,
}

impl PortRange {
    fn parse(value: &str) -> Option<PortRange> {
        let (a, b) = match value.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (value, None),
        };
        let rtp = a.trim().parse().ok()?;
        let rtcp = match b {
            Some(b) => Some(b.trim().parse().ok()?),
            None => None,
        };
        Some(PortRange { rtp, rtcp })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rtcp {
            Some(rtcp) => write!(f, "{}-{}", self.rtp, rtcp),
            None => write!(f, "{}", self.rtp),
        }
    }
}

impl Transport {
    /// The header's name.
    pub const NAME: &'static str = "Transport";

    /// A bare spec of the given lower transport, every parameter unset.
    pub fn new(lower: LowerTransport) -> Transport {
        Transport {
            lower,
            unicast: None,
            destination: None,
            source: None,
            client_port: None,
            server_port: None,
            interleaved: None,
            ssrc: None,
            ttl: None,
            mode: None,
            other: Vec::new(),
        }
    }

    /// Parses every comma-separated spec of a `Transport` header, in the client's order of
    /// preference. A spec with an unknown protocol is an error for the whole header only when
    /// no spec is understood; otherwise it is skipped (the server picks among the rest).
    pub fn parse_list(value: &str) -> Result<Vec<Transport>, HeaderError> {
        let mut list = Vec::new();
        let mut first_error = None;
        for spec in value.split(',') {
            match Transport::parse(spec) {
                Ok(t) => list.push(t),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (list.is_empty(), first_error) {
            (true, Some(e)) => Err(e),
            (true, None) => Err(HeaderError::new(Self::NAME, value, HeaderFault::Empty)),
            _ => Ok(list),
        }
    }

    /// Parses one transport spec.
    pub fn parse(spec: &str) -> Result<Transport, HeaderError> {
        let err = |fault| HeaderError::new(Self::NAME, spec, fault);
        let mut params = spec.split(';').map(str::trim);
        let protocol = params.next().unwrap_or("");
        let lower = match protocol.to_ascii_uppercase().as_str() {
            "RTP/AVP" | "RTP/AVP/UDP" => LowerTransport::RtpAvpUdp,
            "RTP/AVP/TCP" => LowerTransport::RtpAvpTcp,
            "RTP/UDP" => LowerTransport::LabRtpUdp,
            "" => return Err(err(HeaderFault::Empty)),
            _ => return Err(err(HeaderFault::UnknownProtocol)),
        };
        let mut t = Transport::new(lower);
        for param in params.filter(|p| !p.is_empty()) {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (param, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("unicast", None) => t.unicast = Some(true),
                ("multicast", None) => t.unicast = Some(false),
                ("destination", Some(v)) => t.destination = Some(v.to_string()),
                ("source", Some(v)) => t.source = Some(v.to_string()),
                ("client_port", Some(v)) => {
                    t.client_port =
                        Some(PortRange::parse(v).ok_or_else(|| err(HeaderFault::BadClientPort))?)
                }
                ("server_port", Some(v)) => {
                    t.server_port =
                        Some(PortRange::parse(v).ok_or_else(|| err(HeaderFault::BadServerPort))?)
                }
                ("interleaved", Some(v)) => {
                    let range = PortRange::parse(v)
                        .filter(|r| r.rtp <= 255 && r.rtcp.unwrap_or(0) <= 255)
                        .ok_or_else(|| err(HeaderFault::BadInterleaved))?;
                    let rtp = range.rtp as u8;
                    let rtcp = range.rtcp.map(|c| c as u8).unwrap_or(rtp.wrapping_add(1));
                    t.interleaved = Some((rtp, rtcp));
                }
                ("ssrc", Some(v)) => {
                    t.ssrc =
                        Some(u32::from_str_radix(v, 16).map_err(|_| err(HeaderFault::BadSsrc))?)
                }
                ("ttl", Some(v)) => t.ttl = Some(v.parse().map_err(|_| err(HeaderFault::BadTtl))?),
                ("mode", Some(v)) => t.mode = Some(v.to_string()),
                _ => t.other.push(param.to_string()),
            }
        }
        Ok(t)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lower.as_str())?;
        match self.unicast {
            Some(true) => f.write_str(";unicast")?,
            Some(false) => f.write_str(";multicast")?,
            None => {}
        }
        if let Some(d) = &self.destination {
            write!(f, ";destination={d}")?;
        }
        if let Some(s) = &self.source {
            write!(f, ";source={s}")?;
        }
        if let Some((a, b)) = self.interleaved {
            write!(f, ";interleaved={a}-{b}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, ";ttl={ttl}")?;
        }
        if let Some(p) = self.client_port {
            write!(f, ";client_port={p}")?;
        }
        if let Some(p) = self.server_port {
            write!(f, ";server_port={p}")?;
        }
        if let Some(ssrc) = self.ssrc {
            write!(f, ";ssrc={ssrc:08X}")?;
        }
        if let Some(m) = &self.mode {
            write!(f, ";mode={m}")?;
        }
        for o in &self.other {
            write!(f, ";{o}")?;
        }
        Ok(())
    }
}
