//! The RTSP message model: methods, header fields in arrival order, requests and responses.
//! Parsing lives in `parse`, serializing in `write`; both work on these types.

use std::fmt;

use super::{CSeq, StatusCode, RTSP_1_0};

/// An RTSP method. Unknown methods are kept by name so the server can answer 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 2326 10.1: what the server implements (answered with `Public`).
    Options,
    /// 10.2: the presentation's description (SDP).
    Describe,
    /// 10.4: a stream's transport; creates the session.
    Setup,
    /// 10.5: start or resume sending.
    Play,
    /// 10.6: stop sending, keep the position.
    Pause,
    /// 10.7: end the session.
    Teardown,
    /// 10.8: a keepalive, as clients send it.
    GetParameter,
    /// 10.9: not offered; answered 501.
    SetParameter,
    /// 10.3: recording, not offered.
    Announce,
    /// 10.11: recording, not offered.
    Record,
    /// 10.10: server to client, never sent by this project.
    Redirect,
    /// Any other token; method names are case-sensitive (RFC 2326 section 6.1).
    Other(String),
}

impl Method {
    /// The method's token as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Announce => "ANNOUNCE",
            Method::Record => "RECORD",
            Method::Redirect => "REDIRECT",
            Method::Other(s) => s,
        }
    }

    /// Maps a token to a method; never fails, since an unknown one is `Other`.
    pub fn from_token(token: &str) -> Method {
        match token {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "ANNOUNCE" => Method::Announce,
            "RECORD" => Method::Record,
            "REDIRECT" => Method::Redirect,
            other => Method::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header fields in arrival order. Names compare case-insensitively (VLC writes `Cseq`); order is
/// kept because the lab's client reads replies by line number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(super) Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (a response may carry several `WWW-Authenticate`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Appends a header at the end, keeping any existing one of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces the value of `name` in place, or appends it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// Removes every header called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many header lines there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `CSeq` header, parsed. `None` when absent or not a number.
    pub fn cseq(&self) -> Option<u32> {
        self.get("CSeq")
            .and_then(|v| CSeq::parse(v).ok())
            .map(|c| c.0)
    }
}

/// An RTSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method from the request line.
    pub method: Method,
    /// The request URI as sent: absolute (`rtsp://host/path`), `*`, or the lab's bare file name.
    pub uri: String,
    /// The version token; the server answers 505 unless it is [`RTSP_1_0`].
    pub version: String,
    /// The header fields, in the order they came.
    pub headers: Headers,
    /// The body (`Content-Length` bytes of it), empty for most requests.
    pub body: Vec<u8>,
}

/// An RTSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The version token of the status line (`RTSP/1.0`).
    pub version: String,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as sent (peers word them differently: VLC's "Unsupported transport").
    pub reason: String,
    /// The header fields, in order: the lab's client reads them by line number.
    pub headers: Headers,
    /// The body (the SDP of a DESCRIBE answer), empty for most responses.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers yet.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Request {
            method,
            uri: uri.into(),
            version: RTSP_1_0.to_string(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }
}

impl Response {
    /// A response with the status's standard reason phrase and no headers yet.
    pub fn new(status: StatusCode) -> Self {
        Response {
            version: RTSP_1_0.to_string(),
            status,
            reason: status.reason().to_string(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }
}
