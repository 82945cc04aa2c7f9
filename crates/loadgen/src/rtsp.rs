//! A minimal blocking RTSP client: one request at a time on one TCP connection, which is all
//! a generator that opens thousands of sessions needs (no pipelining, no interleaving).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rtsp_proto::rtsp::{self, Limits, Parsed, Response};

/// Why an RTSP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum RtspError {
    /// Connecting, writing or reading (a read waits at most 10 s).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server's bytes are not an RTSP response.
    #[error(transparent)]
    Parse(#[from] rtsp::ParseError),
    /// The server closed the connection before answering.
    #[error("server closed the connection")]
    Closed,
}

/// Why an rtsp:// URL's host and port gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The lookup itself failed (e.g. no port, unknown host).
    #[error(transparent)]
    Lookup(#[from] std::io::Error),
    /// The lookup succeeded with no address.
    #[error("cannot resolve")]
    NoAddress,
}

/// The `host:port` of an rtsp:// URL (554 when none is written), or `None` if the URL is not
/// rtsp://.
pub fn authority(url: &str) -> Option<String> {
    rtsp_proto::url::RtspUrl::parse(url)
        .ok()
        .map(|u| u.host_port())
}

/// The first address `authority` (`host:port`) resolves to.
pub fn resolve(authority: &str) -> Result<SocketAddr, AddressError> {
    authority
        .to_socket_addrs()?
        .next()
        .ok_or(AddressError::NoAddress)
}

/// One RTSP connection, its CSeq counter and what it has read past the last response.
pub struct Rtsp {
    stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
}

impl Rtsp {
    /// Connects within 5 s; each read then waits at most 10 s.
    pub fn connect(addr: SocketAddr) -> Result<Rtsp, RtspError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Rtsp {
            stream,
            buf: Vec::new(),
            cseq: 0,
        })
    }

    /// Sends `method uri` with `headers` and returns the response with its CSeq, skipping
    /// any other (a late answer to an earlier request).
    pub fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, RtspError> {
        self.request_with_body(method, uri, headers, None)
    }

    /// [`Rtsp::request`] with a body of the content type given (a publisher's ANNOUNCE).
    pub fn request_with_body(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, RtspError> {
        self.cseq += 1;
        let mut text = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        let bytes = match body {
            Some((kind, body)) => {
                text.push_str(&format!(
                    "Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                ));
                [text.as_bytes(), body].concat()
            }
            None => (text + "\r\n").into_bytes(),
        };
        self.stream.write_all(&bytes)?;
        loop {
            if let Parsed::Complete(r, n) = rtsp::parse_response(&self.buf, &Limits::default())? {
                self.buf.drain(..n);
                if r.headers.cseq() == Some(self.cseq) {
                    return Ok(r);
                }
                continue;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(RtspError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_what_comes_between_rtsp_and_the_path() {
        assert_eq!(
            authority("rtsp://127.0.0.1:8554/video.mjpeg").as_deref(),
            Some("127.0.0.1:8554")
        );
        assert_eq!(
            authority("rtsp://127.0.0.1:8554").as_deref(),
            Some("127.0.0.1:8554")
        );
        assert_eq!(authority("http://127.0.0.1:8554/video.mjpeg"), None);
        assert!(resolve("127.0.0.1:8554").is_ok());
        assert!(matches!(resolve("127.0.0.1"), Err(AddressError::Lookup(_))));
    }
}
