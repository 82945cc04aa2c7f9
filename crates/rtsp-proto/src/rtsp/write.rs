//! Serializing RTSP messages: CRLF line endings, headers in the order they were added, and a
//! `Content-Length` computed from the body (never copied from the headers, so the two cannot
//! disagree).

use super::{Headers, Request, Response};

impl Request {
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
