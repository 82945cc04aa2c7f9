//! A connection driven by hand, with no socket of its own and no thread: bytes in, the bytes
//! the server would write out, time passed in. It is the state machine [`super::serve`] drives
//! (framing, authentication, sessions, transports, timeouts), so the connection fuzz target
//! can run it millions of times and check every answer.
//!
//! Its session ids, SSRCs and nonces are a fixed sequence, not random, so a recorded exchange
//! can name the session it will get (the fuzz seeds do). What stays real: SETUP binds UDP sockets on the local address, PLAY hands the session to
//! the server's pacers, and interleaved media reaches [`MemoryConnection::take_written`] as it
//! would reach the socket.
//!
//! [`replay`] is the fuzz target's whole run, kept here so the tests replay its seeds too.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtsp_proto::rtsp::framer::{Frame, Framer, Role};
use rtsp_proto::rtsp::Limits;

use super::{Connection, Ids};
use crate::net::writer::{Writer, Written};
use crate::Shared;

/// One RTSP connection to `shared`'s server, fed by hand.
pub struct MemoryConnection<'a> {
    conn: Connection<'a>,
    written: Written,
    /// Set once the server has closed the connection: it reads nothing more.
    closed: bool,
}

impl<'a> MemoryConnection<'a> {
    /// A connection from `peer` to `local` (the server's address), opened at `now`.
    pub fn open(
        shared: &'a Shared,
        peer: SocketAddr,
        local: SocketAddr,
        now: Instant,
    ) -> io::Result<MemoryConnection<'a>> {
        let (writer, written) = Writer::in_memory();
        Ok(MemoryConnection {
            conn: Connection::new(shared, writer, peer, local, now, Ids::Sequence(0))?,
            written,
            closed: false,
        })
    }

    /// Bytes from the peer at `now`, answered as they complete requests. False once the
    /// server has closed the connection (then nothing more is read).
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> bool {
        if !self.closed {
            self.closed = self.conn.receive(bytes, now).is_err() || self.conn.writer.is_dead();
        }
        !self.closed
    }

    /// Time passes to `now` with nothing from the peer: timeouts fire, a quiet lab request is
    /// answered. False once the server has closed the connection.
    pub fn advance(&mut self, now: Instant) -> bool {
        if !self.closed {
            self.closed = !matches!(self.conn.on_deadlines(now), Ok(true));
        }
        !self.closed
    }

    /// When the connection next acts if nothing arrives.
    pub fn next_wake(&self, now: Instant) -> Instant {
        self.conn.next_wake(now)
    }

    /// Everything the server wrote since the last call, in order: responses and interleaved
    /// frames.
    pub fn take_written(&mut self) -> Vec<u8> {
        self.written.take()
    }

    /// Whether the connection has a session now.
    pub fn has_session(&self) -> bool {
        self.conn.session.is_some()
    }
}

impl Drop for MemoryConnection<'_> {
    /// The peer hangs up: its session ends, as when a socket closes.
    fn drop(&mut self) {
        self.conn.end_session("connection closed");
    }
}

/// Plays one peer against `shared`'s server and checks what it wrote. `input`: byte 0 is the
/// size of each chunk the peer sends (1 to 256 bytes), byte 1 the milliseconds that pass after
/// each; the rest is what the peer sends. Then time runs to the connection's next deadline a
/// few times, so request, session and idle timeouts and the lab's quiet rule fire too.
///
/// The server's output, read with the client's framer, must be whole, well-formed responses
/// and `$` frames, and no session may outlive the connection. `Err` says which rule broke.
/// Give it a server with no other connections: it counts the server's sessions.
pub fn replay(shared: &Shared, local: SocketAddr, input: &[u8]) -> Result<(), String> {
    let [chunk, step, ref peer_bytes @ ..] = *input else {
        return Ok(());
    };
    let peer: SocketAddr = (local.ip(), 40_000).into();
    let mut now = Instant::now();
    let mut conn = MemoryConnection::open(shared, peer, local, now).map_err(|e| e.to_string())?;
    let limits = Limits {
        max_body: 1 << 20,
        ..Limits::default()
    };
    // The lab's replies end without a blank line: the reader takes them once quiet.
    let mut reader = Framer::new(Role::Client, limits, Some(Duration::from_millis(1)));
    let mut open = true;
    for piece in peer_bytes.chunks(chunk as usize + 1) {
        open = conn.receive(piece, now);
        read_back(&mut reader, &conn.take_written(), now)?;
        now += Duration::from_millis(step.into());
        if !open {
            break;
        }
    }
    for _ in 0..4 {
        if !open {
            break;
        }
        now = conn.next_wake(now);
        open = conn.advance(now);
        read_back(&mut reader, &conn.take_written(), now)?;
    }
    drop(conn);
    read_back(&mut reader, &[], now + Duration::from_secs(1))?;
    if reader.message_started().is_some() {
        return Err("the server's last message was cut short".into());
    }
    match shared.sessions.load(Ordering::SeqCst) {
        0 => Ok(()),
        n => Err(format!("{n} sessions outlived their connection")),
    }
}

/// Frames what the server wrote: responses and `$` frames, nothing else.
fn read_back(reader: &mut Framer, bytes: &[u8], now: Instant) -> Result<(), String> {
    reader.push(bytes, now);
    while let Some(framed) = reader.poll(now) {
        match framed {
            Ok(Frame::Response(r)) if (100..600).contains(&r.status.0) => {}
            Ok(Frame::Interleaved { .. }) => {}
            other => return Err(format!("the server wrote something else: {other:?}")),
        }
    }
    Ok(())
}
