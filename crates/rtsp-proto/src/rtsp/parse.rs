//! The incremental RTSP parser, in the retina / rtsp-types style: it is handed whatever bytes
//! have arrived and answers either [`Parsed::Incomplete`] or a message plus how many bytes it
//! used, so the caller owns buffering and pipelining. It accepts CRLF and bare LF line endings
//! (the lab's client sends LF) and is lenient where real peers are sloppy (header-name case,
//! stray spaces), but every input is bounded by [`Limits`].

use super::{Headers, Method, Request, Response, StatusCode};

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

/// Why bytes could not be parsed as an RTSP message. Each variant says where (line numbers
/// count from 1, the start line being line 1), so the offending message can be found in a
/// capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A line exceeds [`Limits::max_line`].
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    /// A first line that starts as a request line (a method and a space) and runs past the
    /// line limit: its URI is too long (RFC 7230 3.1.1: answered 414).
    #[error("request line longer than {limit} bytes: the URI is too long")]
    UriTooLong { limit: usize },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {limit} header lines")]
    TooManyHeaders { limit: usize },
    /// `Content-Length` is not a number.
    #[error("Content-Length {value:?} is not a number")]
    BadContentLength { value: String },
    /// `Content-Length` exceeds [`Limits::max_body`] (RTSP's answer: 413).
    #[error("body of {len} bytes is larger than {limit}")]
    BodyTooLarge { len: usize, limit: usize },
    /// A message known to be whole (the lab's unterminated kind) has fewer body bytes than its
    /// `Content-Length` announced.
    #[error("Content-Length announces {announced} bytes but only {arrived} arrived")]
    BodyShort { announced: usize, arrived: usize },
    /// The start line and headers exceed [`Limits::max_head`].
    #[error("request line and headers exceed {limit} bytes")]
    HeadTooLarge { limit: usize },
    /// The start line is not `METHOD URI VERSION` / `VERSION CODE REASON`.
    #[error("malformed start line {text:?}")]
    BadStartLine { text: String },
    /// A header line has no colon or an empty name.
    #[error("malformed header line {line}: {text:?}")]
    BadHeader { line: usize, text: String },
    /// A line of the message head is not UTF-8.
    #[error("line {line} of the message head is not UTF-8 text")]
    NotText { line: usize },
    /// `Transfer-Encoding` is present: RTSP has no transfer codings (RFC 2326 4.3, bodies are
    /// sized by Content-Length only), so where the body ends is unknown (RFC 7230 3.3.3).
    #[error("Transfer-Encoding {value:?}: RTSP bodies are sized by Content-Length only")]
    TransferEncoding { value: String },
    /// A header that may appear once appears again (RFC 2326 12: CSeq, Session,
    /// Content-Length... are single). Two `Content-Length`s would let the peer choose where the
    /// next message starts (request smuggling), two `CSeq`s which request is answered.
    #[error("header {name} repeated: lines {first} and {again}")]
    RepeatedHeader {
        name: &'static str,
        first: usize,
        again: usize,
    },
}

/// The headers a message may carry at most once. RFC 2326 defines each with a single value
/// (12.17 CSeq, 12.37 Session, 12.14 Content-Length, 12.39 Transport, 12.29 Range...); a second
/// copy is ambiguous, so it is refused wherever a message is parsed.
pub const SINGLE_HEADERS: [&str; 12] = [
    "CSeq",
    "Session",
    "Content-Length",
    "Content-Type",
    "Content-Base",
    "Content-Encoding",
    "Transport",
    "Range",
    "RTP-Info",
    "Authorization",
    "Scale",
    "Speed",
];

/// The result of offering bytes to a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Not a whole message yet: read more bytes and offer the whole buffer again.
    Incomplete,
    /// A message, and how many bytes of the buffer it took.
    Complete(T, usize),
}

/// Parses one request from the start of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed<Request>, ParseError> {
    let Parsed::Complete(((method, uri, version), headers, body), used) =
        parse_parts(buf, limits, false, parse_request_line)?
    else {
        return Ok(Parsed::Incomplete);
    };
    let request = Request {
        method,
        uri,
        version,
        headers,
        body,
    };
    Ok(Parsed::Complete(request, used))
}

/// Parses one response from the start of `buf`.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Parsed<Response>, ParseError> {
    let Parsed::Complete(((version, status, reason), headers, body), used) =
        parse_parts(buf, limits, false, parse_status_line)?
    else {
        return Ok(Parsed::Incomplete);
    };
    let response = Response {
        version,
        status,
        reason,
        headers,
        body,
    };
    Ok(Parsed::Complete(response, used))
}

/// Parses a request whose head has no terminating empty line, as the lab's client sends it
/// (one `send()` per request, lines joined by LF, nothing after the last header). The caller
/// decides when the peer has gone quiet; this only reads every line in `buf` as the head.
pub fn parse_unterminated_request(buf: &[u8], limits: &Limits) -> Result<Request, ParseError> {
    let ((method, uri, version), headers, body) =
        parse_unterminated(buf, limits, parse_request_line)?;
    Ok(Request {
        method,
        uri,
        version,
        headers,
        body,
    })
}

/// Parses a response whose head has no terminating empty line, as the lab's server sends it.
pub fn parse_unterminated_response(buf: &[u8], limits: &Limits) -> Result<Response, ParseError> {
    let ((version, status, reason), headers, body) =
        parse_unterminated(buf, limits, parse_status_line)?;
    Ok(Response {
        version,
        status,
        reason,
        headers,
        body,
    })
}

/// A start line's fields, its headers and its body.
type Parts<S> = (S, Headers, Vec<u8>);

fn parse_unterminated<S>(
    buf: &[u8],
    limits: &Limits,
    start_line: fn(&[u8]) -> Result<S, ParseError>,
) -> Result<Parts<S>, ParseError> {
    let mut terminated = buf.to_vec();
    if !terminated.ends_with(b"\n") {
        terminated.push(b'\n');
    }
    terminated.push(b'\n');
    let appended = terminated.len() - buf.len();
    match parse_parts(&terminated, limits, true, start_line) {
        Ok(Parsed::Complete(parts, _)) => Ok(parts),
        // `at_end` makes a short body an error, so this arm cannot be taken; answer as if
        // the body were short rather than panic.
        Ok(Parsed::Incomplete) => Err(ParseError::BodyShort {
            announced: 0,
            arrived: 0,
        }),
        // The line endings appended above are not bytes the peer sent.
        Err(ParseError::BodyShort { announced, arrived }) => Err(ParseError::BodyShort {
            announced,
            arrived: arrived.saturating_sub(appended),
        }),
        Err(e) => Err(e),
    }
}

/// The shared body of every parser: head, start line (by `start_line`), headers, body. With
/// `at_end` no more bytes will come, so a body shorter than its `Content-Length` is an error
/// rather than `Incomplete`.
fn parse_parts<S>(
    buf: &[u8],
    limits: &Limits,
    at_end: bool,
    start_line: fn(&[u8]) -> Result<S, ParseError>,
) -> Result<Parsed<Parts<S>>, ParseError> {
    let (lines, head_len) = match split_head(buf, limits)? {
        Parsed::Incomplete => {
            // A start line is known to be bad as soon as it ends: say so now, not when the
            // peer (which may never send a blank line) has sent a whole head.
            if let Some(line) = first_line(buf) {
                start_line(line)?;
            }
            return Ok(Parsed::Incomplete);
        }
        Parsed::Complete(lines, n) => (lines, n),
    };
    let start = start_line(lines[0])?;
    let headers = parse_header_lines(&lines[1..])?;
    check_single_headers(&headers)?;
    if let Some(value) = headers.get("Transfer-Encoding") {
        return Err(ParseError::TransferEncoding {
            value: value.to_string(),
        });
    }
    let announced = content_length(&headers, limits.max_body)?;
    let arrived = buf.len() - head_len;
    if arrived < announced {
        return match at_end {
            true => Err(ParseError::BodyShort { announced, arrived }),
            false => Ok(Parsed::Incomplete),
        };
    }
    let body = buf[head_len..head_len + announced].to_vec();
    Ok(Parsed::Complete(
        (start, headers, body),
        head_len + announced,
    ))
}

/// Whether `line` begins as a request line does: a method token, then a space.
fn starts_request(line: &[u8]) -> bool {
    let method = line
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
        .count();
    method > 0 && line.get(method) == Some(&b' ')
}

/// Splits the message head off `buf`: the lines up to the first empty line, and the offset
/// just past that empty line. `Incomplete` until the empty line has arrived.
fn split_head<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<Vec<&'a [u8]>>, ParseError> {
    let mut lines = Vec::new();
    let mut start = 0;
    // Leading empty lines before a message are allowed (RFC 2326 follows RFC 2616 4.1 here),
    // so a stray CRLF after a previous message does not break the next one.
    let mut seen_text = false;
    let head_too_large = ParseError::HeadTooLarge {
        limit: limits.max_head,
    };
    loop {
        if start > limits.max_head {
            return Err(head_too_large);
        }
        let rest = &buf[start..];
        let line_too_long = |lines: &Vec<&[u8]>| match lines.is_empty() && starts_request(rest) {
            true => ParseError::UriTooLong {
                limit: limits.max_line,
            },
            false => ParseError::LineTooLong {
                line: lines.len() + 1,
                limit: limits.max_line,
            },
        };
        let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') else {
            if buf.len() > limits.max_head {
                return Err(head_too_large);
            }
            if buf.len() - start > limits.max_line {
                return Err(line_too_long(&lines));
            }
            return Ok(Parsed::Incomplete);
        };
        let mut line = &buf[start..start + nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        start += nl + 1;
        if line.len() > limits.max_line {
            return Err(line_too_long(&lines));
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
        let line = i + 2;
        let text = std::str::from_utf8(raw).map_err(|_| ParseError::NotText { line })?;
        let bad = || ParseError::BadHeader {
            line,
            text: text.to_string(),
        };
        // A line starting with white space continues the previous header (RFC 2616 2.2;
        // RFC 7230 3.2.4 lets a server replace the obs-fold with SP).
        if text.starts_with([' ', '\t']) {
            let Some(last) = headers.0.last_mut() else {
                // RFC 7230 3: white space before the first header MUST be rejected (or the
                // line ignored): taken as a header, it would be one that a reader treating it
                // as a fold never sees.
                return Err(bad());
            };
            last.1.push(' ');
            last.1.push_str(text.trim());
            continue;
        }
        let (name, value) = text.split_once(':').ok_or_else(bad)?;
        // RFC 7230 3.2: the name is a token, and 3.2.4: no white space before the colon (a
        // server MUST answer 400: readers that strip it and readers that do not would see
        // different headers).
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad());
        }
        headers.append(name, value.trim());
    }
    Ok(headers)
}

/// RFC 7230 3.2.6 `tchar`: the characters of a token (a header name, a method).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The first line of `buf` after any leading empty lines, once its line ending has arrived.
fn first_line(buf: &[u8]) -> Option<&[u8]> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = &buf[start..];
    let end = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Refuses a second copy of any of [`SINGLE_HEADERS`], naming both lines.
fn check_single_headers(headers: &Headers) -> Result<(), ParseError> {
    for name in SINGLE_HEADERS {
        let mut lines = headers
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
            .map(|(i, _)| i + 2);
        if let (Some(first), Some(again)) = (lines.next(), lines.next()) {
            return Err(ParseError::RepeatedHeader { name, first, again });
        }
    }
    Ok(())
}

/// `Content-Length`: decimal digits only (RFC 2326 12.14 takes HTTP's `1*DIGIT`: no sign, no
/// spaces inside), within the bound.
fn content_length(headers: &Headers, limit: usize) -> Result<usize, ParseError> {
    let Some(v) = headers.get("Content-Length") else {
        return Ok(0);
    };
    let digits = v.trim();
    let bad = || ParseError::BadContentLength {
        value: v.to_string(),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<usize>() {
        Ok(n) if n <= limit => Ok(n),
        Ok(n) => Err(ParseError::BodyTooLarge { len: n, limit }),
        // More digits than a usize holds: larger than any bound.
        Err(_) => Err(ParseError::BodyTooLarge {
            len: usize::MAX,
            limit,
        }),
    }
}

fn parse_request_line(line: &[u8]) -> Result<(Method, String, String), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText { line: 1 })?;
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
        _ => Err(ParseError::BadStartLine {
            text: text.to_string(),
        }),
    }
}

fn parse_status_line(line: &[u8]) -> Result<(String, StatusCode, String), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText { line: 1 })?;
    let bad = || ParseError::BadStartLine {
        text: text.to_string(),
    };
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
