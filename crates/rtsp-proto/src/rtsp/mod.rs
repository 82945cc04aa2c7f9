//! RTSP 1.0 messages (RFC 2326): an incremental parser, a serializer and typed headers.
//!
//! The parser is incremental in the retina / rtsp-types style: it is handed whatever bytes have
//! arrived and answers either [`Parsed::Incomplete`] or a message plus how many bytes it used, so
//! the caller owns buffering and pipelining. It accepts CRLF and bare LF line endings (the lab's
//! client sends LF) and is lenient where real peers are sloppy (header-name case, stray spaces),
//! but every input is bounded by [`Limits`].

pub mod framer;
mod headers;
mod status;

pub use headers::*;
pub use status::StatusCode;

use std::fmt;

/// The protocol version this crate speaks; anything else in a request line is answered with 505.
pub const RTSP_1_0: &str = "RTSP/1.0";

/// Bounds on what the parser accepts, so a hostile peer cannot make a buffer grow without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest start line or header line, in bytes (without its line ending).
    pub max_line: usize,
    /// Most header lines in one message.
    pub max_headers: usize,
    /// Largest `Content-Length` body accepted.
    pub max_body: usize,
    /// Largest start line plus headers, in bytes.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4096,
            max_headers: 64,
            max_body: 64 * 1024,
            max_head: 8 * 1024,
        }
    }
}

impl Limits {
    /// The most bytes one complete message can take under these limits; a receive buffer this
    /// big can always hold a whole message, so a fuller buffer means the peer broke the limits.
    pub fn max_message(&self) -> usize {
        self.max_head
            .min((self.max_line + 2) * (self.max_headers + 2))
            + self.max_body
    }
}

/// Why bytes could not be parsed as an RTSP message. Each variant says where, so the offending
/// message can be found in a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line exceeds [`Limits::max_line`].
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {limit} header lines")]
    TooManyHeaders { limit: usize },
    /// `Content-Length` is not a number.
    #[error("Content-Length {value:?} is not a number")]
    BadContentLength { value: String, limit: usize },
    /// `Content-Length` exceeds [`Limits::max_body`] (RTSP's answer: 413).
    #[error("body of {len} bytes is larger than {limit}")]
    BodyTooLarge { len: usize, limit: usize },
    /// The start line and headers exceed [`Limits::max_head`].
    #[error("request line and headers exceed {limit} bytes")]
    HeadTooLarge { limit: usize },
    /// The start line is not `METHOD URI VERSION` / `VERSION CODE REASON`.
    #[error("malformed start line {0:?}")]
    BadStartLine(String),
    /// A header line has no colon or an empty name.
    #[error("malformed header line {line}: {text:?}")]
    BadHeader { line: usize, text: String },
    /// The message head is not UTF-8.
    #[error("message head is not UTF-8 text")]
    NotText,
}

/// The result of offering bytes to a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Not a whole message yet: read more bytes and offer the whole buffer again.
    Incomplete,
    /// A message, and how many bytes of the buffer it took.
    Complete(T, usize),
}

/// An RTSP method. Unknown methods are kept by name so the server can answer 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Options,
    Describe,
    Setup,
    Play,
    Pause,
    Teardown,
    GetParameter,
    SetParameter,
    Announce,
    Record,
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
pub struct Headers(Vec<(String, String)>);

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
        self.get("CSeq").and_then(|v| v.trim().parse().ok())
    }

    /// The `Content-Length` header, parsed; absent means no body.
    fn content_length(&self, limit: usize) -> Result<usize, ParseError> {
        match self.get("Content-Length") {
            None => Ok(0),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n <= limit => Ok(n),
                Ok(n) => Err(ParseError::BodyTooLarge { len: n, limit }),
                Err(_) => Err(ParseError::BadContentLength {
                    value: v.to_string(),
                    limit,
                }),
            },
        }
    }
}

/// An RTSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request URI as sent: absolute (`rtsp://host/path`), `*`, or the lab's bare file name.
    pub uri: String,
    /// The version token; the server answers 505 unless it is [`RTSP_1_0`].
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// An RTSP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub version: String,
    pub status: StatusCode,
    pub reason: String,
    pub headers: Headers,
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

    /// Writes the request with CRLF line endings and a `Content-Length` for a non-empty body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.method, self.uri, self.version).as_bytes(),
        );
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The request as bytes; see [`Request::write`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
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

    /// Writes the response with CRLF line endings. Headers go out in the order they were added:
    /// the server relies on this to put `CSeq` and `Session` where the lab's client looks.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.version, self.status.0, self.reason).as_bytes(),
        );
        write_headers_and_body(&self.headers, &self.body, out);
    }

    /// The response as bytes; see [`Response::write`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

fn write_headers_and_body(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Splits the message head off `buf`: the lines up to the first empty line, and the offset
/// just past that empty line. `Incomplete` until the empty line has arrived.
fn split_head<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<Vec<&'a [u8]>>, ParseError> {
    let mut lines = Vec::new();
    let mut start = 0;
    // Leading empty lines before a message are allowed (RFC 2326 follows RFC 2616 4.1 here),
    // so a stray CRLF after a previous message does not break the next one.
    let mut seen_text = false;
    loop {
        if start > limits.max_head {
            return Err(ParseError::HeadTooLarge {
                limit: limits.max_head,
            });
        }
        let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') else {
            if buf.len() > limits.max_head {
                return Err(ParseError::HeadTooLarge {
                    limit: limits.max_head,
                });
            }
            if buf.len() - start > limits.max_line {
                return Err(ParseError::LineTooLong {
                    line: lines.len() + 1,
                    limit: limits.max_line,
                });
            }
            return Ok(Parsed::Incomplete);
        };
        let mut line = &buf[start..start + nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        start += nl + 1;
        if line.len() > limits.max_line {
            return Err(ParseError::LineTooLong {
                line: lines.len() + 1,
                limit: limits.max_line,
            });
        }
        if line.is_empty() {
            if seen_text {
                return Ok(Parsed::Complete(lines, start));
            }
            continue;
        }
        seen_text = true;
        if lines.len() > limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        lines.push(line);
    }
}

/// Parses header lines (everything after the start line).
fn parse_header_lines(lines: &[&[u8]]) -> Result<Headers, ParseError> {
    let mut headers = Headers::new();
    for (i, raw) in lines.iter().enumerate() {
        let text = std::str::from_utf8(raw).map_err(|_| ParseError::NotText)?;
        // A line starting with white space continues the previous header (RFC 2616 2.2).
        if text.starts_with([' ', '\t']) {
            if let Some(last) = headers.0.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
                continue;
            }
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(ParseError::BadHeader {
                line: i + 2,
                text: text.to_string(),
            });
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ParseError::BadHeader {
                line: i + 2,
                text: text.to_string(),
            });
        }
        headers.append(name, value.trim());
    }
    Ok(headers)
}

fn parse_request_line(line: &[u8]) -> Result<(Method, String, String), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        // No control characters in a method or URI (RFC 2396 URIs have none); NUL bytes are
        // the usual smuggling attempt.
        (Some(method), Some(uri), Some(version), None)
            if method.bytes().all(|b| b.is_ascii_graphic())
                && uri.bytes().all(|b| b > 0x20 && b != 0x7f) =>
        {
            Ok((
                Method::from_token(method),
                uri.to_string(),
                version.to_string(),
            ))
        }
        _ => Err(ParseError::BadStartLine(text.to_string())),
    }
}

fn parse_status_line(line: &[u8]) -> Result<(String, StatusCode, String), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    let bad = || ParseError::BadStartLine(text.to_string());
    let (version, rest) = text.trim().split_once(' ').ok_or_else(bad)?;
    if !version.starts_with("RTSP/") {
        return Err(bad());
    }
    let rest = rest.trim_start();
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().map_err(|_| bad())?;
    if !(100..=999).contains(&code) {
        return Err(bad());
    }
    Ok((
        version.to_string(),
        StatusCode(code),
        reason.trim().to_string(),
    ))
}

/// Takes the body announced by `Content-Length` from `buf[head_len..]`.
fn take_body(
    buf: &[u8],
    head_len: usize,
    headers: &Headers,
    limits: &Limits,
) -> Result<Option<(Vec<u8>, usize)>, ParseError> {
    let len = headers.content_length(limits.max_body)?;
    if buf.len() - head_len < len {
        return Ok(None);
    }
    Ok(Some((
        buf[head_len..head_len + len].to_vec(),
        head_len + len,
    )))
}

/// Parses one request from the start of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed<Request>, ParseError> {
    let (lines, head_len) = match split_head(buf, limits)? {
        Parsed::Incomplete => return Ok(Parsed::Incomplete),
        Parsed::Complete(lines, n) => (lines, n),
    };
    let (method, uri, version) = parse_request_line(lines[0])?;
    let headers = parse_header_lines(&lines[1..])?;
    match take_body(buf, head_len, &headers, limits)? {
        None => Ok(Parsed::Incomplete),
        Some((body, used)) => Ok(Parsed::Complete(
            Request {
                method,
                uri,
                version,
                headers,
                body,
            },
            used,
        )),
    }
}

/// Parses a request whose head has no terminating empty line, as the lab's client sends it
/// (one `send()` per request, lines joined by LF, nothing after the last header). The caller
/// decides when the peer has gone quiet; this only reads every line in `buf` as the head.
pub fn parse_unterminated_request(buf: &[u8], limits: &Limits) -> Result<Request, ParseError> {
    parse_unterminated(buf, limits, parse_request)
}

/// Parses a response whose head has no terminating empty line, as the lab's server sends it.
pub fn parse_unterminated_response(buf: &[u8], limits: &Limits) -> Result<Response, ParseError> {
    parse_unterminated(buf, limits, parse_response)
}

fn parse_unterminated<T>(
    buf: &[u8],
    limits: &Limits,
    parse: fn(&[u8], &Limits) -> Result<Parsed<T>, ParseError>,
) -> Result<T, ParseError> {
    let mut terminated = buf.to_vec();
    if !terminated.ends_with(b"\n") {
        terminated.push(b'\n');
    }
    terminated.push(b'\n');
    match parse(&terminated, limits)? {
        Parsed::Complete(message, _) => Ok(message),
        // With the head terminated, only a body shorter than its Content-Length is left short.
        Parsed::Incomplete => Err(ParseError::BadContentLength {
            value: "longer than the bytes that arrived".to_string(),
            limit: limits.max_body,
        }),
    }
}

/// Parses one response from the start of `buf`.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Parsed<Response>, ParseError> {
    let (lines, head_len) = match split_head(buf, limits)? {
        Parsed::Incomplete => return Ok(Parsed::Incomplete),
        Parsed::Complete(lines, n) => (lines, n),
    };
    let (version, status, reason) = parse_status_line(lines[0])?;
    let headers = parse_header_lines(&lines[1..])?;
    match take_body(buf, head_len, &headers, limits)? {
        None => Ok(Parsed::Incomplete),
        Some((body, used)) => Ok(Parsed::Complete(
            Response {
                version,
                status,
                reason,
                headers,
                body,
            },
            used,
        )),
    }
}

#[cfg(test)]
mod tests;
