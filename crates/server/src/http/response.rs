//! An HTTP/1.1 response and how it goes on the wire: status line, `Date`, `Server`,
//! `Content-Length` (RFC 7230 3.3.2) and `Connection`, then the body unless the request was
//! HEAD (RFC 7231 4.3.2: the same header fields, no body).

use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use crate::session::SERVER_NAME;

/// A whole response, body in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// A body held by a cache instead (an encoded segment), written from where it lies:
    /// serving a segment never copies it. When set, `body` is empty.
    pub shared: Option<SharedBody>,
}

/// Part of bytes someone else keeps (see [`Response::shared`]).
#[derive(Clone)]
pub struct SharedBody {
    pub owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    pub range: Range<usize>,
}

impl SharedBody {
    pub fn bytes(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.range.clone()]
    }
}

impl std::fmt::Debug for SharedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBody({:?})", self.range)
    }
}

impl PartialEq for SharedBody {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for SharedBody {}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            shared: None,
        }
    }

    /// A response with a body of `content_type`.
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", content_type)
            .body(body)
    }

    /// An error or notice for people: the status's reason and `why`, as plain text.
    pub fn text(status: u16, why: &str) -> Response {
        let body = match why.is_empty() {
            true => format!("{status} {}\n", reason(status)),
            false => format!("{status} {}: {why}\n", reason(status)),
        };
        Response::with_body(status, "text/plain; charset=utf-8", body)
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self.shared = None;
        self
    }

    /// A body of `range` of what `owner` holds, not copied.
    pub fn shared_body(
        mut self,
        owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
        range: Range<usize>,
    ) -> Response {
        self.body = Vec::new();
        self.shared = Some(SharedBody { owner, range });
        self
    }

    /// The body's bytes, wherever they are.
    pub fn body_bytes(&self) -> &[u8] {
        self.shared.as_ref().map_or(&self.body, |s| s.bytes())
    }

    /// The value of header `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bytes on the wire; `head_only` for HEAD, `keep_alive` says what `Connection` says.
    pub fn to_bytes(&self, head_only: bool, keep_alive: bool) -> Vec<u8> {
        let (head, body) = self.wire(head_only, keep_alive);
        [head.as_slice(), body].concat()
    }

    /// The head and the body to send after it.
    fn wire(&self, head_only: bool, keep_alive: bool) -> (Vec<u8>, &[u8]) {
        let mut out = head(self.status, &self.headers, keep_alive);
        let body = self.body_bytes();
        // 1xx, 204 and 304 have no body and no Content-Length (RFC 7230 3.3.2).
        if !matches!(self.status, 100..=199 | 204 | 304) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        match head_only || matches!(self.status, 204 | 304) {
            true => (out, &[]),
            false => (out, body),
        }
    }

    /// Writes the response: head and body in one vectored write where the socket takes it
    /// (one segment on the wire for a small answer, and no copy of a large body).
    pub fn write_to(
        &self,
        w: &mut impl Write,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let (head, body) = self.wire(head_only, keep_alive);
        let (mut head, mut body) = (&head[..], body);
        while !head.is_empty() || !body.is_empty() {
            let n = w.write_vectored(&[IoSlice::new(head), IoSlice::new(body)])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let from_head = n.min(head.len());
            head = &head[from_head..];
            body = &body[n - from_head..];
        }
        Ok(())
    }
}

/// A response head without `Content-Length` or the blank line: for streamed responses, whose
/// length is the connection's.
pub fn head(status: u16, headers: &[(&'static str, String)], keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nServer: {SERVER_NAME}\r\nConnection: {}\r\n",
        reason(status),
        httpdate::fmt_http_date(SystemTime::now()),
        if keep_alive { "keep-alive" } else { "close" },
    );
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// RFC 7231 6's reason phrases for the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_say_length_date_and_connection_and_head_has_no_body() {
        let r = Response::with_body(200, "text/plain", "hello");
        let get = String::from_utf8(r.to_bytes(false, true)).unwrap();
        assert!(get.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{get}");
        assert!(get.contains("\r\nContent-Length: 5\r\n"));
        assert!(get.contains("\r\nConnection: keep-alive\r\n"));
        assert!(get.ends_with("\r\n\r\nhello"));
        let head = String::from_utf8(r.to_bytes(true, false)).unwrap();
        assert!(head.contains("\r\nContent-Length: 5\r\n") && head.ends_with("\r\n\r\n"));
        assert!(head.contains("\r\nConnection: close\r\n"));
        let not_modified = String::from_utf8(Response::new(304).to_bytes(false, true)).unwrap();
        assert!(!not_modified.contains("Content-Length"));
    }
}
