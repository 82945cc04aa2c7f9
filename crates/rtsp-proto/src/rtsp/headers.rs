//! Typed RTSP headers. Each struct both parses and writes its header (via `Display`), so the
//! two directions share one idea of what is valid.

use std::fmt;

use super::Method;

/// A header value that does not follow its grammar. Carries the header and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {header} header {value:?}: {why}")]
pub struct HeaderError {
    pub header: &'static str,
    pub value: String,
    pub why: &'static str,
}

fn header_error(header: &'static str, value: &str, why: &'static str) -> HeaderError {
    HeaderError {
        header,
        value: value.to_string(),
        why,
    }
}

/// `Session: id[;timeout=S]` (RFC 2326 12.37). Real servers append `;timeout=60` (VLC) and
/// some clients echo it back, so the id is everything before the first `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Seconds of inactivity after which the server may drop the session.
    pub timeout: Option<u32>,
}

impl Session {
    /// Parses a Session header value.
    pub fn parse(value: &str) -> Result<Session, HeaderError> {
        let mut parts = value.split(';');
        let id = parts.next().unwrap_or("").trim();
        if id.is_empty() || !id.bytes().all(is_session_id_char) {
            return Err(header_error("Session", value, "bad session id"));
        }
        let mut timeout = None;
        for param in parts {
            let param = param.trim();
            if let Some((name, v)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("timeout") {
                    timeout = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| header_error("Session", value, "bad timeout"))?,
                    );
                }
            }
        }
        Ok(Session {
            id: id.to_string(),
            timeout,
        })
    }
}

/// RFC 2326 section 3.4: session ids are alphanumerics plus a few safe characters.
fn is_session_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$-_.+".contains(&b)
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if let Some(t) = self.timeout {
            write!(f, ";timeout={t}")?;
        }
        Ok(())
    }
}

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
    pub lower: LowerTransport,
    /// `Some(true)` for `unicast`, `Some(false)` for `multicast`, `None` when not said.
    pub unicast: Option<bool>,
    pub destination: Option<String>,
    pub source: Option<String>,
    pub client_port: Option<PortRange>,
    pub server_port: Option<PortRange>,
    pub interleaved: Option<(u8, u8)>,
    pub ssrc: Option<u32>,
    pub ttl: Option<u8>,
    pub mode: Option<String>,
    /// Parameters this struct does not model, verbatim.
    pub other: Vec<String>,
}

/// `a` or `a-b` in `client_port` / `server_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub rtp: u16,
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
            (true, None) => Err(header_error("Transport", value, "empty")),
            _ => Ok(list),
        }
    }

    /// Parses one transport spec.
    pub fn parse(spec: &str) -> Result<Transport, HeaderError> {
        let err = |why| header_error("Transport", spec, why);
        let mut params = spec.split(';').map(str::trim);
        let protocol = params.next().unwrap_or("");
        let lower = match protocol.to_ascii_uppercase().as_str() {
            "RTP/AVP" | "RTP/AVP/UDP" => LowerTransport::RtpAvpUdp,
            "RTP/AVP/TCP" => LowerTransport::RtpAvpTcp,
            "RTP/UDP" => LowerTransport::LabRtpUdp,
            "" => return Err(err("empty spec")),
            _ => return Err(err("unknown protocol")),
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
                    t.client_port = Some(PortRange::parse(v).ok_or_else(|| err("bad client_port"))?)
                }
                ("server_port", Some(v)) => {
                    t.server_port = Some(PortRange::parse(v).ok_or_else(|| err("bad server_port"))?)
                }
                ("interleaved", Some(v)) => {
                    let range = PortRange::parse(v)
                        .filter(|r| r.rtp <= 255 && r.rtcp.unwrap_or(0) <= 255)
                        .ok_or_else(|| err("bad interleaved"))?;
                    let rtp = range.rtp as u8;
                    let rtcp = range.rtcp.map(|c| c as u8).unwrap_or(rtp.wrapping_add(1));
                    t.interleaved = Some((rtp, rtcp));
                }
                ("ssrc", Some(v)) => {
                    t.ssrc = Some(u32::from_str_radix(v, 16).map_err(|_| err("bad ssrc"))?)
                }
                ("ttl", Some(v)) => t.ttl = Some(v.parse().map_err(|_| err("bad ttl"))?),
                ("mode", Some(v)) => t.mode = Some(v.to_string()),
                _ => t.other.push(param.to_string()),
            }
        }
        Ok(t)
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
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

/// A normal play time (RFC 2326 3.6): seconds, or `now` for live positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NptTime {
    Now,
    Seconds(f64),
}

impl NptTime {
    fn parse(s: &str) -> Option<NptTime> {
        let s = s.trim();
        if s == "now" {
            return Some(NptTime::Now);
        }
        // npt-hhmmss: H+:MM:SS[.frac]
        let mut secs = 0.0;
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 {
            return None;
        }
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (last && b == b'.'))
            {
                return None;
            }
            let v: f64 = part.parse().ok()?;
            secs = secs * 60.0 + v;
        }
        secs.is_finite().then_some(NptTime::Seconds(secs))
    }
}

impl fmt::Display for NptTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NptTime::Now => f.write_str("now"),
            NptTime::Seconds(s) => write!(f, "{s:.3}"),
        }
    }
}

/// `Range: npt=start-[end]` (RFC 2326 12.29). Only NPT is modelled: the server answers 457
/// to SMPTE or clock ranges it cannot honour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub start: NptTime,
    pub end: Option<NptTime>,
}

impl Range {
    /// Parses a Range value; `;time=` suffixes are ignored.
    pub fn parse(value: &str) -> Result<Range, HeaderError> {
        let err = |why| header_error("Range", value, why);
        let spec = value.split(';').next().unwrap_or("").trim();
        let npt = spec
            .strip_prefix("npt")
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix('='))
            .ok_or_else(|| err("only npt ranges are supported"))?;
        let (start, end) = npt.split_once('-').ok_or_else(|| err("no '-'"))?;
        let start = if start.trim().is_empty() {
            // "npt=-20" means from the beginning (RFC 2326 allows an open start).
            NptTime::Seconds(0.0)
        } else {
            NptTime::parse(start).ok_or_else(|| err("bad start"))?
        };
        let end = if end.trim().is_empty() {
            None
        } else {
            Some(NptTime::parse(end).ok_or_else(|| err("bad end"))?)
        };
        if let (NptTime::Seconds(a), Some(NptTime::Seconds(b))) = (start, end) {
            if b < a {
                return Err(err("end before start"));
            }
        }
        Ok(Range { start, end })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "npt={}-", self.start)?;
        if let Some(end) = self.end {
            write!(f, "{end}")?;
        }
        Ok(())
    }
}

/// One stream's entry in `RTP-Info` (RFC 2326 12.33): where the PLAY starts in RTP terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInfo {
    pub url: String,
    pub seq: Option<u16>,
    pub rtptime: Option<u32>,
}

impl RtpInfo {
    /// Parses every comma-separated entry of an `RTP-Info` value.
    pub fn parse_list(value: &str) -> Result<Vec<RtpInfo>, HeaderError> {
        let err = |why| header_error("RTP-Info", value, why);
        let mut list = Vec::new();
        // URLs may themselves contain commas only in theory; split on ",url=" boundaries by
        // splitting on ',' and gluing pieces that do not start a new entry.
        let mut entries: Vec<String> = Vec::new();
        for piece in value.split(',') {
            match entries.last_mut() {
                Some(last) if !piece.trim_start().starts_with("url=") => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => entries.push(piece.to_string()),
            }
        }
        for entry in entries {
            let mut info = RtpInfo {
                url: String::new(),
                seq: None,
                rtptime: None,
            };
            for param in entry.split(';').map(str::trim) {
                match param.split_once('=') {
                    Some(("url", v)) => info.url = unquote(v.trim()).to_string(),
                    Some(("seq", v)) => info.seq = Some(v.trim().parse().map_err(|_| err("seq"))?),
                    Some(("rtptime", v)) => {
                        info.rtptime = Some(v.trim().parse().map_err(|_| err("rtptime"))?)
                    }
                    _ => {}
                }
            }
            if info.url.is_empty() {
                return Err(err("entry without url"));
            }
            list.push(info);
        }
        Ok(list)
    }
}

impl fmt::Display for RtpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={}", self.url)?;
        if let Some(seq) = self.seq {
            write!(f, ";seq={seq}")?;
        }
        if let Some(t) = self.rtptime {
            write!(f, ";rtptime={t}")?;
        }
        Ok(())
    }
}

/// `Public: OPTIONS, DESCRIBE, ...`: the methods a server implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public(pub Vec<Method>);

impl Public {
    /// Parses a comma-separated method list.
    pub fn parse(value: &str) -> Public {
        Public(
            value
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(Method::from_token)
                .collect(),
        )
    }

    /// Whether `method` is listed.
    pub fn contains(&self, method: &Method) -> bool {
        self.0.contains(method)
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}
