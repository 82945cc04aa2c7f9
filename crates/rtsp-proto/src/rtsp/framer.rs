//! The RTSP TCP byte stream cut into what travels on it, for server and client alike: requests,
//! responses, `$` interleaved frames ([`crate::interleaved`]) and the lab's unterminated
//! messages.
//!
//! Sans-IO, in quinn-proto's and str0m's style: the caller reads the socket, hands the bytes to
//! [`Framer::push`] with the time they arrived, and drains [`Framer::poll`]. The lab's peers end
//! a message without the blank line (LF lines, one `send()` per message; DESIGN.md "The lab
//! dialect"), so such a message can only be taken as whole once the peer has been quiet for
//! `lab_quiet`; [`Framer::poll_timeout`] says when that will be, so the caller can wake then.
//!
//! What each side accepts differs, which is what [`Role`] says: a server reads requests (and
//! answers a broken one, since it is still talking to the peer); a client reads responses, reads
//! and reports the requests a server may send, and skips garbage up to the next place a frame or
//! response could start rather than give up the connection over stray bytes.
//!
//! Every error is reported once and the framer goes on with the bytes after the dropped ones, so
//! the caller decides whether an error ends the connection. The buffer is bounded: after `poll`
//! has returned `None`, at most [`Framer::max_buffer`] bytes are held.

use std::time::{Duration, Instant};

use super::{
    parse_request, parse_response, parse_unterminated_request, parse_unterminated_response, Limits,
    ParseError, Parsed, Request, Response,
};
use crate::interleaved;

/// Which end of the connection the framer reads for: it decides which messages are expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads requests (and `$` frames carrying the client's RTCP).
    Server,
    /// Reads responses, requests the server sends (RFC 2326 allows them), and `$` frames.
    Client,
}

/// Which kind of RTSP message a framing error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Request,
    Response,
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageKind::Request => "request",
            MessageKind::Response => "response",
        })
    }
}

/// One unit cut from the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A request, terminated or (taken on quiet) the lab's unterminated one.
    Request(Request),
    /// A response, terminated or (taken on quiet) the lab's unterminated one.
    Response(Response),
    /// An interleaved RTP or RTCP packet (RFC 2326 10.12).
    Interleaved { channel: u8, payload: Vec<u8> },
}

/// Bytes the framer had to drop, and why. The framer has already moved past them: the next
/// [`Framer::poll`] reads what follows.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The parser rejected a message. Nothing tells where a broken message ends, so every
    /// buffered byte is dropped.
    #[error("malformed {kind}, {buffered} buffered bytes dropped: {source}")]
    Malformed {
        kind: MessageKind,
        buffered: usize,
        #[source]
        source: ParseError,
    },
    /// A lab-shaped message (LF lines, no blank line) taken as whole after the quiet time did
    /// not parse.
    #[error("unterminated {kind} of {buffered} bytes does not parse: {source}")]
    Unterminated {
        kind: MessageKind,
        buffered: usize,
        #[source]
        source: ParseError,
    },
    /// More bytes than any message under the limits can take, and still no whole message.
    #[error("{kind} still incomplete after {buffered} bytes (at most {limit}): dropped")]
    TooLarge {
        kind: MessageKind,
        buffered: usize,
        limit: usize,
    },
    /// Client side: bytes that start neither a message nor a `$` frame, skipped up to where
    /// one could start.
    #[error("{skipped} bytes that start no message or interleaved frame skipped")]
    Garbage { skipped: usize },
}

/// The RTSP connection's receive side: a bounded buffer and the rules for cutting it.
#[derive(Debug)]
pub struct Framer {
    role: Role,
    limits: Limits,
    /// `None`: unterminated messages are never taken (a client not speaking the lab dialect).
    lab_quiet: Option<Duration>,
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` start: consumed frames are dropped in one move at the
    /// next push, not one move per frame.
    start: usize,
    last_rx: Option<Instant>,
    message_started: Option<Instant>,
    /// The buffered bytes have been offered as a quiet message; no need to wake for them again.
    quiet_checked: bool,
    /// What the last parse of an incomplete head learnt, so bytes that cannot complete it are
    /// not parsed again (a peer sending one byte per segment would cost a parse per byte).
    pending: Option<PendingHead>,
    /// Tests turn the shortcut off to show that it never changes what is yielded.
    shortcut: bool,
}

/// An incomplete message head as last parsed, offsets relative to the unread bytes.
#[derive(Debug, Clone, Copy)]
struct PendingHead {
    /// Unread bytes when it was parsed.
    parsed: usize,
    /// Where its last, unfinished line starts.
    line_start: usize,
}

impl Framer {
    /// A framer for `role` under `limits`; with `lab_quiet`, a lab-shaped message is taken as
    /// whole once no byte has arrived for that long.
    pub fn new(role: Role, limits: Limits, lab_quiet: Option<Duration>) -> Framer {
        Framer {
            role,
            limits,
            lab_quiet,
            buf: Vec::new(),
            start: 0,
            last_rx: None,
            message_started: None,
            quiet_checked: false,
            pending: None,
            shortcut: true,
        }
    }

    /// Turns the lab dialect on or off: the client learns it only when OPTIONS goes unanswered.
    pub fn set_lab_quiet(&mut self, lab_quiet: Option<Duration>) {
        if self.lab_quiet != lab_quiet {
            self.lab_quiet = lab_quiet;
            self.quiet_checked = false;
        }
    }

    /// The most bytes held once [`Framer::poll`] has returned `None`: the largest message the
    /// limits allow plus the largest interleaved frame.
    pub fn max_buffer(&self) -> usize {
        self.limits.max_message() + interleaved::HEADER_LEN + usize::from(u16::MAX)
    }

    /// Bytes received and not yet taken.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes that arrived at `now`. Call [`Framer::poll`] until it returns `None`
    /// before pushing more, which is what keeps the buffer bounded.
    pub fn push(&mut self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.is_empty() {
            self.message_started = Some(now);
        }
        self.buf.extend_from_slice(bytes);
        self.last_rx = Some(now);
        self.quiet_checked = false;
    }

    /// When the first byte of the incomplete message now buffered arrived: a server answers
    /// 408 when a request takes too long to arrive.
    pub fn message_started(&self) -> Option<Instant> {
        self.message_started
    }

    /// When a lab-shaped message now buffered would be taken as whole, if the peer stays
    /// quiet: the caller should poll again then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.buffered() == 0 || self.quiet_checked {
            return None;
        }
        Some(self.last_rx? + self.lab_quiet?)
    }

    /// The next frame or message, or an error about bytes dropped; `None` when what is
    /// buffered is not whole yet (push more, or poll again at [`Framer::poll_timeout`]).
    pub fn poll(&mut self, now: Instant) -> Option<Result<Frame, FramingError>> {
        let quiet = match (self.last_rx, self.lab_quiet) {
            (Some(last), Some(q)) => now.saturating_duration_since(last) >= q,
            _ => false,
        };
        let next = self.next(quiet);
        if next.is_some() {
            self.pending = None;
        }
        if self.buffered() == 0 {
            self.buf.clear();
            self.start = 0;
            self.message_started = None;
        } else if next.is_some() {
            // What is left arrived by the last push at the latest.
            self.message_started = self.last_rx;
        } else if quiet {
            self.quiet_checked = true;
        }
        next
    }

    fn next(&mut self, quiet: bool) -> Option<Result<Frame, FramingError>> {
        let unread = &self.buf[self.start..];
        if unread.is_empty() {
            return None;
        }
        if let Some(frame) = interleaved::parse(unread) {
            let frame = frame?;
            let payload = unread[frame.payload.clone()].to_vec();
            self.start += frame.len;
            return Some(Ok(Frame::Interleaved {
                channel: frame.channel,
                payload,
            }));
        }
        if !quiet && self.head_still_pending() {
            return None;
        }
        match self.role {
            Role::Server => self.next_message(MessageKind::Request, quiet),
            Role::Client => {
                if !unread.starts_with(b"RTSP/") && unread.len() >= 5 {
                    return self.next_server_request();
                }
                self.next_message(MessageKind::Response, quiet)
            }
        }
    }

    /// A request or response (by `kind`) from the start of the unread bytes.
    fn next_message(
        &mut self,
        kind: MessageKind,
        quiet: bool,
    ) -> Option<Result<Frame, FramingError>> {
        let unread = &self.buf[self.start..];
        let parsed = match kind {
            MessageKind::Request => parse_request(unread, &self.limits).map(|p| match p {
                Parsed::Complete(r, n) => Parsed::Complete(Frame::Request(r), n),
                Parsed::Incomplete => Parsed::Incomplete,
            }),
            MessageKind::Response => parse_response(unread, &self.limits).map(|p| match p {
                Parsed::Complete(r, n) => Parsed::Complete(Frame::Response(r), n),
                Parsed::Incomplete => Parsed::Incomplete,
            }),
        };
        match parsed {
            Ok(Parsed::Complete(frame, used)) => {
                self.start += used;
                Some(Ok(frame))
            }
            Ok(Parsed::Incomplete) => self.incomplete(kind, quiet),
            Err(source) => {
                let buffered = self.drop_all();
                Some(Err(FramingError::Malformed {
                    kind,
                    buffered,
                    source,
                }))
            }
        }
    }

    /// An incomplete message: too large, the lab's (once quiet), or one to wait for.
    fn incomplete(
        &mut self,
        kind: MessageKind,
        quiet: bool,
    ) -> Option<Result<Frame, FramingError>> {
        let unread = &self.buf[self.start..];
        let limit = self.limits.max_message();
        if unread.len() > limit {
            let buffered = self.drop_all();
            return Some(Err(FramingError::TooLarge {
                kind,
                buffered,
                limit,
            }));
        }
        // Only the lab's shape: LF-only lines and at least one whole line. A CR says the peer
        // speaks RFC 2326 and its blank line is still on the way.
        let lab_shaped = || !unread.contains(&b'\r') && unread.contains(&b'\n');
        if !(quiet && lab_shaped()) {
            self.pending = pending_head(unread);
            return None;
        }
        let parsed = match kind {
            MessageKind::Request => {
                parse_unterminated_request(unread, &self.limits).map(Frame::Request)
            }
            MessageKind::Response => {
                parse_unterminated_response(unread, &self.limits).map(Frame::Response)
            }
        };
        let buffered = self.drop_all();
        Some(parsed.map_err(|source| FramingError::Unterminated {
            kind,
            buffered,
            source,
        }))
    }

    /// Client side, bytes that are not a response: a request from the server, or garbage.
    fn next_server_request(&mut self) -> Option<Result<Frame, FramingError>> {
        let unread = &self.buf[self.start..];
        // Method names are upper-case tokens; anything else cannot start a request.
        if unread[0].is_ascii_uppercase() {
            match parse_request(unread, &self.limits) {
                Ok(Parsed::Complete(req, used)) => {
                    self.start += used;
                    return Some(Ok(Frame::Request(req)));
                }
                Ok(Parsed::Incomplete) => return self.incomplete(MessageKind::Request, false),
                Err(_) => {}
            }
        }
        let skipped = resync_point(unread);
        self.start += skipped;
        Some(Err(FramingError::Garbage { skipped }))
    }

    /// Whether the bytes pushed since the last parse left an incomplete head as it was: no new
    /// line ended, and no limit is passed by the line that grew. Then the parser's answer is
    /// known without running it.
    fn head_still_pending(&self) -> bool {
        let Some(p) = self.pending.filter(|_| self.shortcut) else {
            return false;
        };
        let unread = &self.buf[self.start..];
        // A client tells a response from a server's request by its first five bytes.
        let decided = self.role == Role::Server || p.parsed >= 5;
        decided
            && unread.len() <= self.limits.max_head
            && unread.len() - p.line_start <= self.limits.max_line
            && !unread[p.parsed..].contains(&b'\n')
    }

    /// Drops every unread byte, returning how many there were.
    fn drop_all(&mut self) -> usize {
        let n = self.buffered();
        self.start = self.buf.len();
        n
    }
}

/// What to remember of `unread`, an incomplete message, if its head is what is incomplete (no
/// blank line yet): a body still arriving must be parsed whatever bytes come.
fn pending_head(unread: &[u8]) -> Option<PendingHead> {
    let blank_line = unread
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && unread.get(i + 2) == Some(&b'\n')));
    if blank_line {
        return None;
    }
    let line_start = unread
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Some(PendingHead {
        parsed: unread.len(),
        line_start,
    })
}

/// Where the next interleaved frame (`$`) or response (`RTSP/`) could start after garbage at
/// the start of `buf` (the whole buffer if nowhere).
fn resync_point(buf: &[u8]) -> usize {
    (1..buf.len())
        .find(|&i| buf[i] == b'$' || buf[i..].starts_with(b"RTSP/"))
        .unwrap_or(buf.len())
}

#[cfg(test)]
mod tests;
