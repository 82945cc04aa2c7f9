//! RTSP tunnelled over HTTP, as QuickTime defined it and live555, gst-rtsp-server, ffmpeg
//! (`-rtsp_transport http`) and GStreamer (`rtsph://`) speak it: the client opens a GET that
//! carries the server's RTSP responses and interleaved RTP for as long as it lasts, and a POST
//! whose body is the client's RTSP requests in base64. An `x-sessioncookie` header names the
//! pair. This module has the parts with no IO: telling the two requests apart, and the POST
//! body's base64 decoded as it arrives, in pieces of any size.

use crate::auth::base64_decode;

/// The media type both tunnel requests name (GET in `Accept`, POST in `Content-Type`).
pub const TUNNEL_MEDIA_TYPE: &str = "application/x-rtsp-tunnelled";

/// The header that binds the GET and the POST of one tunnel.
pub const COOKIE_HEADER: &str = "x-sessioncookie";

/// The longest cookie accepted: clients send 22-32 characters.
pub const MAX_COOKIE: usize = 128;

/// Which half of a tunnel a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelHalf {
    /// The GET that carries the server's side.
    Get,
    /// The POST that carries the client's requests.
    Post,
}

/// Whether an HTTP request opens half of a tunnel, from its method and the values of its
/// `x-sessioncookie`, `Accept` and `Content-Type` headers. A cookie is what makes it one:
/// clients differ in the other headers (ffmpeg and GStreamer send both, some none).
pub fn tunnel_half(method: &str, cookie: Option<&str>) -> Option<TunnelHalf> {
    cookie?;
    match method {
        "GET" => Some(TunnelHalf::Get),
        "POST" => Some(TunnelHalf::Post),
        _ => None,
    }
}

/// Why a cookie or a POST body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    #[error("x-sessioncookie {0:?}: empty, longer than {MAX_COOKIE} or not visible ASCII")]
    BadCookie(String),
    #[error("byte {at} of the tunnelled requests ({byte:#04x}) is not base64")]
    NotBase64 { at: u64, byte: u8 },
    #[error("base64 group ending at byte {at} of the tunnelled requests is malformed")]
    BadGroup { at: u64 },
}

/// Checks a cookie: visible ASCII, bounded.
pub fn check_cookie(cookie: &str) -> Result<(), TunnelError> {
    let ok = !cookie.is_empty()
        && cookie.len() <= MAX_COOKIE
        && cookie.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(())
        .ok_or_else(|| TunnelError::BadCookie(cookie.chars().take(40).collect()))
}

/// The POST body decoded as it arrives. Each request is base64 of its own, so padding can
/// appear mid-stream; groups of four characters decode independently, whitespace between them
/// is skipped, and a group cut by the end of a read waits for the rest.
#[derive(Debug, Default, Clone)]
pub struct Base64Stream {
    pending: Vec<u8>,
    /// Bytes of body seen so far, for the offsets in errors.
    seen: u64,
}

impl Base64Stream {
    /// Decodes what `bytes` completes; the rest waits for the next call.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, TunnelError> {
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
        for &b in bytes {
            let at = self.seen;
            self.seen += 1;
            if b.is_ascii_whitespace() {
                continue;
            }
            if !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=') {
                return Err(TunnelError::NotBase64 { at, byte: b });
            }
            self.pending.push(b);
            if self.pending.len() == 4 {
                let group = std::mem::take(&mut self.pending);
                // Padding only at the end of a group, and at most two of it.
                let pad = group.iter().rev().take_while(|&&c| c == b'=').count();
                if pad > 2 || group[..4 - pad].contains(&b'=') {
                    return Err(TunnelError::BadGroup { at });
                }
                let text = std::str::from_utf8(&group).map_err(|_| TunnelError::BadGroup { at })?;
                out.extend(base64_decode(text).ok_or(TunnelError::BadGroup { at })?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::base64_encode;

    #[test]
    fn requests_each_in_base64_decode_in_pieces_of_any_size() {
        let a = "OPTIONS rtsp://h/v RTSP/1.0\r\nCSeq: 1\r\n\r\n";
        let b = "DESCRIBE rtsp://h/v RTSP/1.0\r\nCSeq: 2\r\n\r\n";
        // Two messages, each padded, with a line break between them (some clients add one).
        let body = format!(
            "{}\r\n{}",
            base64_encode(a.as_bytes()),
            base64_encode(b.as_bytes())
        );
        for size in [1, 2, 3, 5, 7, 64, body.len()] {
            let mut s = Base64Stream::default();
            let mut out = Vec::new();
            for piece in body.as_bytes().chunks(size) {
                out.extend(s.push(piece).unwrap());
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{a}{b}"),
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn bad_bytes_and_groups_are_errors_with_their_offset() {
        let mut s = Base64Stream::default();
        assert_eq!(
            s.push(b"QUJD$"),
            Err(TunnelError::NotBase64 { at: 4, byte: b'$' })
        );
        let mut s = Base64Stream::default();
        assert_eq!(s.push(b"QU=D"), Err(TunnelError::BadGroup { at: 3 }));
        let mut s = Base64Stream::default();
        assert_eq!(s.push(b"Q==="), Err(TunnelError::BadGroup { at: 3 }));
    }

    #[test]
    fn cookies_and_halves() {
        assert!(check_cookie("QqJ3Bdvnq2P6DdjLx7lYBQ").is_ok());
        assert!(check_cookie("").is_err());
        assert!(check_cookie("has space").is_err());
        assert!(check_cookie(&"x".repeat(200)).is_err());
        assert_eq!(tunnel_half("GET", Some("c")), Some(TunnelHalf::Get));
        assert_eq!(tunnel_half("POST", Some("c")), Some(TunnelHalf::Post));
        assert_eq!(tunnel_half("GET", None), None);
        assert_eq!(tunnel_half("PUT", Some("c")), None);
    }
}
