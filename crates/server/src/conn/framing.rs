//! The server's side of the RTSP byte stream: requests, `$` frames, and the lab's
//! unterminated requests, with time passed in.

use std::time::{Duration, Instant};

use rtsp_proto::interleaved;
use rtsp_proto::rtsp::{self, Limits, ParseError, Parsed, Request};

/// A whole message from the client.
pub enum Framed {
    Request(Request),
    Interleaved { channel: u8, payload: Vec<u8> },
}

/// Why bytes from the client are not a message; the buffer is dropped.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("request too large: {buffered} bytes without an end")]
    TooLarge { buffered: usize },
    #[error("{0}")]
    BodyTooLarge(ParseError),
    #[error("{0}")]
    Malformed(ParseError),
}

/// Bytes from the client until they make whole messages.
pub struct Framer {
    buf: Vec<u8>,
    limits: Limits,
    lab_quiet: Duration,
    started: Option<Instant>,
    last_rx: Option<Instant>,
    quiet_checked: bool,
}

impl Framer {
    pub fn new(limits: Limits, lab_quiet: Duration) -> Framer {
        Framer {
            buf: Vec::with_capacity(4096),
            limits,
            lab_quiet,
            started: None,
            last_rx: None,
            quiet_checked: false,
        }
    }

    pub fn push(&mut self, bytes: &[u8], now: Instant) {
        if self.buf.is_empty() {
            self.started = Some(now);
        }
        self.buf.extend_from_slice(bytes);
        self.last_rx = Some(now);
        self.quiet_checked = false;
    }

    /// When the first byte of the message not yet whole arrived.
    pub fn message_started(&self) -> Option<Instant> {
        self.started
    }

    /// When a lab request would be whole if nothing more arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.last_rx {
            Some(t) if !self.buf.is_empty() && !self.quiet_checked => Some(t + self.lab_quiet),
            _ => None,
        }
    }

    pub fn poll(&mut self, now: Instant) -> Option<Result<Framed, FramingError>> {
        if self.buf.is_empty() {
            self.started = None;
            return None;
        }
        match interleaved::parse(&self.buf) {
            Some(Some(frame)) => {
                let payload = self.buf[frame.payload.clone()].to_vec();
                self.buf.drain(..frame.len);
                return Some(Ok(Framed::Interleaved {
                    channel: frame.channel,
                    payload,
                }));
            }
            Some(None) => return None,
            None => {}
        }
        match rtsp::parse_request(&self.buf, &self.limits) {
            Ok(Parsed::Complete(req, used)) => {
                self.buf.drain(..used);
                self.started = (!self.buf.is_empty()).then_some(self.last_rx).flatten();
                Some(Ok(Framed::Request(req)))
            }
            Ok(Parsed::Incomplete) => self.incomplete(now),
            Err(e) => {
                // Nothing tells where the broken message ends: drop what arrived.
                self.buf.clear();
                self.started = None;
                Some(Err(match e {
                    ParseError::BodyTooLarge { .. } => FramingError::BodyTooLarge(e),
                    e => FramingError::Malformed(e),
                }))
            }
        }
    }

    fn incomplete(&mut self, now: Instant) -> Option<Result<Framed, FramingError>> {
        if self.buf.len() > self.limits.max_message() {
            let buffered = self.buf.len();
            self.buf.clear();
            self.started = None;
            return Some(Err(FramingError::TooLarge { buffered }));
        }
        let quiet = self.poll_timeout().is_some_and(|t| now >= t);
        if !quiet {
            return None;
        }
        self.quiet_checked = true;
        // Only the lab's shape: LF-only lines and at least a whole request line.
        if self.buf.contains(&b'\r') || !self.buf.contains(&b'\n') {
            return None;
        }
        let taken = std::mem::take(&mut self.buf);
        self.started = None;
        Some(
            rtsp::parse_unterminated_request(&taken, &self.limits)
                .map(Framed::Request)
                .map_err(FramingError::Malformed),
        )
    }
}
