//! One HTTP/1.1 request read off a connection: the head parsed by `httparse`, bounded in every
//! dimension, and the body by its `Content-Length` (RFC 7230 3.3.3). [`parse_head`] is the
//! sans-IO part, tested without sockets; [`read_request`] feeds it from a socket with
//! deadlines.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bounds on what a request may be. Beyond them: 414, 431 or 413, and the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The request line (method, target, version).
    pub max_line: usize,
    /// The whole head: request line and header fields.
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_line: 8192,
            max_head: 16384,
            max_headers: 64,
            max_body: 65536,
        }
    }
}

/// A request, its head decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (origin form: path and query).
    pub target: String,
    /// HTTP/1.x's minor version: 0 or 1.
    pub minor: u8,
    /// Header fields in order, names as sent, values as text (obsolete non-UTF-8 octets are
    /// replaced).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the one header field `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target's path, before any query.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// The first value of query parameter `key`, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1.split('#').next()?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key)
                .then(|| rtsp_proto::url::percent_decode(&v.replace('+', " ")).unwrap_or_default())
        })
    }

    /// Whether the connection stays open after the answer (RFC 7230 6.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("Connection"))
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match self.minor {
            0 => has("keep-alive"),
            _ => !has("close"),
        }
    }
}

/// Why no request could be read; each becomes a status (or silence) and the connection closes.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("request head longer than {limit} bytes or more than {headers} header fields")]
    HeadTooLarge { limit: usize, headers: usize },
    #[error("body of {len} bytes, more than {limit}")]
    BodyTooLarge { len: u64, limit: usize },
    #[error("request bodies with Transfer-Encoding ({0}) are not accepted")]
    TransferEncoding(String),
    #[error("HTTP/1.1 request without exactly one Host header")]
    Host,
    #[error("the request did not arrive within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl HttpError {
    /// The status to answer with, or `None` to close without a word (the peer is gone).
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Malformed(_) | HttpError::Host => Some(400),
            HttpError::LineTooLong { .. } => Some(414),
            HttpError::HeadTooLarge { .. } => Some(431),
            HttpError::BodyTooLarge { .. } => Some(413),
            HttpError::TransferEncoding(_) => Some(501),
            HttpError::Timeout(_) => Some(408),
            HttpError::Io(_) => None,
        }
    }
}

/// Parses a request head at the start of `buf`: `Ok(None)` while it is incomplete (and within
/// the limits), else the request (body not yet read: its length is given) and the head's length.
pub fn parse_head(
    buf: &[u8],
    limits: &HttpLimits,
) -> Result<Option<(Request, usize, usize)>, HttpError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    if line_end.map_or(buf.len(), |e| e + 1) > limits.max_line {
        return Err(HttpError::LineTooLong {
            limit: limits.max_line,
        });
    }
    let too_large = || HttpError::HeadTooLarge {
        limit: limits.max_head,
        headers: limits.max_headers,
    };
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head => return Err(too_large()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    if head_len > limits.max_head {
        return Err(too_large());
    }
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let request = Request {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        minor: req.version.unwrap_or(1),
        headers,
        body: Vec::new(),
    };
    let body_len = body_length(&request, limits)?;
    if request.minor == 1
        && request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Host"))
            .count()
            != 1
    {
        return Err(HttpError::Host);
    }
    Ok(Some((request, head_len, body_len)))
}

/// The body's length (RFC 7230 3.3.3): `Content-Length` at most once, decimal digits, within
/// the bound; no `Transfer-Encoding` (nothing this server serves takes a chunked body).
fn body_length(request: &Request, limits: &HttpLimits) -> Result<usize, HttpError> {
    if let Some(te) = request.header("Transfer-Encoding") {
        return Err(HttpError::TransferEncoding(te.to_string()));
    }
    let mut lengths = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"));
    let Some((_, value)) = lengths.next() else {
        return Ok(0);
    };
    if lengths.next().is_some() {
        return Err(HttpError::Malformed("more than one Content-Length".into()));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 19 {
        return Err(HttpError::Malformed(format!("Content-Length {value:?}")));
    }
    let len: u64 = value
        .parse()
        .map_err(|_| HttpError::Malformed(format!("Content-Length {value:?}")))?;
    if len > limits.max_body as u64 {
        return Err(HttpError::BodyTooLarge {
            len,
            limit: limits.max_body,
        });
    }
    Ok(len as usize)
}

/// How long reading a request may take.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For the first byte of a request on a kept-alive connection.
    pub idle: Duration,
    /// For the whole request once its first byte arrived.
    pub request: Duration,
}

/// The longest a read blocks before it looks at the server's stop flag again.
const STOP_POLL: Duration = Duration::from_millis(250);

/// Reads the next request from `stream`. `buf` holds bytes read past the previous request
/// (pipelining) and keeps what is read past this one. `Ok(None)`: the peer closed, or was idle
/// past its deadline, or the server is stopping, between requests.
pub fn read_request(
    stream: &mut &TcpStream,
    buf: &mut Vec<u8>,
    limits: &HttpLimits,
    deadlines: Deadlines,
    stopping: &AtomicBool,
) -> Result<Option<Request>, HttpError> {
    let idle_end = Instant::now() + deadlines.idle;
    let mut request_end = (!buf.is_empty()).then(|| Instant::now() + deadlines.request);
    let (mut request, head_len, body_len) = loop {
        if let Some(parsed) = parse_head(buf, limits)? {
            break parsed;
        }
        let end = request_end.unwrap_or(idle_end);
        match read_some(stream, buf, end, stopping)? {
            Got::Data => {
                request_end.get_or_insert_with(|| Instant::now() + deadlines.request);
            }
            Got::Closed | Got::Stopping if buf.is_empty() => return Ok(None),
            Got::Closed | Got::Stopping => {
                return Err(HttpError::Malformed("connection closed mid-request".into()))
            }
            Got::Timeout if request_end.is_none() => return Ok(None),
            Got::Timeout => return Err(HttpError::Timeout(deadlines.request)),
        }
    };
    // A tunnel's POST body is the client's RTSP requests for as long as the tunnel lasts,
    // whatever its Content-Length says: the tunnel reads it, not this.
    let cookie = request.header(rtsp_proto::tunnel::COOKIE_HEADER);
    if rtsp_proto::tunnel::tunnel_half(&request.method, cookie)
        == Some(rtsp_proto::tunnel::TunnelHalf::Post)
    {
        buf.drain(..head_len);
        return Ok(Some(request));
    }
    let end = request_end.unwrap_or_else(|| Instant::now() + deadlines.request);
    while buf.len() < head_len + body_len {
        match read_some(stream, buf, end, stopping)? {
            Got::Data => {}
            Got::Timeout => return Err(HttpError::Timeout(deadlines.request)),
            Got::Closed | Got::Stopping => {
                return Err(HttpError::Malformed("connection closed mid-body".into()))
            }
        }
    }
    request.body = buf[head_len..head_len + body_len].to_vec();
    buf.drain(..head_len + body_len);
    Ok(Some(request))
}

enum Got {
    Data,
    Closed,
    Timeout,
    Stopping,
}

/// One read into `buf`, waiting until `end` at most.
fn read_some(
    stream: &mut &TcpStream,
    buf: &mut Vec<u8>,
    end: Instant,
    stopping: &AtomicBool,
) -> Result<Got, HttpError> {
    let mut chunk = [0u8; 4096];
    loop {
        if stopping.load(Ordering::SeqCst) {
            return Ok(Got::Stopping);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(Got::Timeout);
        }
        stream.set_read_timeout(Some((end - now).min(STOP_POLL)))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(Got::Closed),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(Got::Data);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<(Request, usize, usize)>, HttpError> {
        parse_head(text.as_bytes(), &HttpLimits::default())
    }

    #[test]
    fn a_request_head_and_its_parts() {
        let text = "GET /videos/a%20b.mjpeg/mjpeg?start=2.5&loop=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let (r, head, body) = parse(text).unwrap().unwrap();
        assert_eq!((r.method.as_str(), r.minor, body), ("GET", 1, 3));
        assert_eq!(head, text.len() - 3);
        assert_eq!(r.path(), "/videos/a%20b.mjpeg/mjpeg");
        assert_eq!(r.query("start").as_deref(), Some("2.5"));
        assert_eq!(r.query("loop").as_deref(), Some("1"));
        assert_eq!(r.query("t"), None);
        assert!(r.keep_alive());
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused_with_their_status() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        let status = |t: &str| parse(t).unwrap_err().status();
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), Some(400)); // no Host
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Some(400)
        );
        assert_eq!(status("\x16\x03\x01 binary\r\n\r\n"), Some(400));
        let two = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(status(two), Some(400));
        let signed = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n";
        assert_eq!(status(signed), Some(400));
        let big = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n";
        assert_eq!(status(big), Some(413));
        let chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(chunked), Some(501));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(status(&long), Some(414));
        let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(status(&many), Some(431));
        let huge = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n", "y".repeat(7000))
            + &format!("Y: {}\r\n", "z".repeat(7000))
            + &format!("Z: {}\r\n\r\n", "z".repeat(7000));
        assert_eq!(status(&huge), Some(431));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_tokens() {
        let ka = |t: &str| parse(t).unwrap().unwrap().0.keep_alive();
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"
        ));
    }
}
