//! The connection's writer thread. Everything sent on the RTSP TCP connection (responses, and
//! interleaved RTP/RTCP) goes through one queue as whole messages, so an interleaved frame can
//! never land inside a response, and a peer that stops reading blocks only this thread: the
//! pacers keep their pace and drop whole media frames when the queue is full.
//!
//! Responses are never dropped, so their queue is bounded the other way: once the answers the
//! peer has not read pass [`MAX_UNREAD_MESSAGES`], the connection thread waits for them to
//! drain ([`Writer::wait_for_room`]) before it takes the next request. A client that pipelines
//! requests and never reads its answers costs that bound, not all the memory there is.
//!
//! [`Writer::in_memory`] is the same queue with no thread and no socket: whoever holds its
//! [`Written`] takes the bytes out by hand (the connection fuzz target and its tests).

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Media bytes that may wait in the queue; beyond this a frame is dropped whole.
pub const MAX_QUEUED_MEDIA: usize = 1 << 20;
/// Response bytes that may wait for a peer that does not read them before the connection stops
/// reading its requests (a DESCRIBE answer is about 600 bytes: some 400 of them).
pub const MAX_UNREAD_MESSAGES: usize = 256 << 10;
/// A write that makes no progress for this long means the peer is gone: the connection closes
/// (a partly written interleaved frame cannot be taken back).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// What the writer thread and its handles share.
struct Queue {
    queued_media: AtomicUsize,
    /// Response bytes queued and not yet written, behind a lock so a waiter can be woken.
    queued_messages: Mutex<usize>,
    written: Condvar,
    dead: AtomicBool,
    /// In memory: nothing drains the queue while someone waits for room, so nobody waits.
    by_hand: bool,
}

/// A handle to the writer thread; clones share the queue.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Vec<u8>, bool)>,
    queue: Arc<Queue>,
}

impl Writer {
    /// Starts the writer thread on `stream`, shared with the thread that reads it (a shared
    /// handle rather than a cloned descriptor: one file descriptor fewer per connection).
    /// `peer` names the connection in the log (asked of the socket once, while it is open).
    pub fn spawn(stream: &Arc<TcpStream>, peer: SocketAddr) -> std::io::Result<Writer> {
        let out = stream.clone();
        out.set_write_timeout(Some(WRITE_DEADLINE))?;
        let (tx, rx) = mpsc::channel::<(Vec<u8>, bool)>();
        let queue = Arc::new(Queue::new(false));
        let q = queue.clone();
        std::thread::Builder::new()
            .name("rtsp-writer".into())
            .spawn(move || write_all(&out, rx, &q, peer))?;
        Ok(Writer { tx, queue })
    }

    /// A writer whose bytes nobody writes: [`Written::take`] hands them over, in order, as the
    /// writer thread would write them.
    pub fn in_memory() -> (Writer, Written) {
        let (tx, rx) = mpsc::channel::<(Vec<u8>, bool)>();
        let queue = Arc::new(Queue::new(true));
        let written = Written {
            rx,
            queue: queue.clone(),
        };
        (Writer { tx, queue }, written)
    }

    /// Queues an RTSP message; these are never dropped.
    pub fn send_message(&self, bytes: Vec<u8>) -> std::io::Result<()> {
        let stopped =
            || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection writer stopped");
        if self.is_dead() {
            return Err(stopped());
        }
        let len = bytes.len();
        *self.messages() += len;
        self.tx.send((bytes, false)).map_err(|_| {
            *self.messages() -= len;
            stopped()
        })
    }

    /// Waits until the responses the peer has not read are under [`MAX_UNREAD_MESSAGES`].
    /// False if the writer gave up on the peer, or they did not drain within `timeout`.
    pub fn wait_for_room(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queued = self.messages();
        while *queued >= MAX_UNREAD_MESSAGES {
            let now = Instant::now();
            if self.is_dead() || now >= deadline || self.queue.by_hand {
                return false;
            }
            queued = self
                .queue
                .written
                .wait_timeout(queued, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        !self.is_dead()
    }

    /// Queues a whole media frame, or drops it whole when the peer is behind (false).
    pub fn send_media(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        let media = &self.queue.queued_media;
        if self.is_dead() || media.load(Ordering::SeqCst) + len > MAX_QUEUED_MEDIA {
            return false;
        }
        media.fetch_add(len, Ordering::SeqCst);
        if self.tx.send((bytes, true)).is_err() {
            media.fetch_sub(len, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether nothing is queued or being written: a caller that is the only one queueing
    /// may then write to the socket itself without reordering anything.
    pub fn is_idle(&self) -> bool {
        self.queue.queued_media.load(Ordering::SeqCst) == 0 && *self.messages() == 0
    }

    /// Whether the writer gave up on the peer.
    pub fn is_dead(&self) -> bool {
        self.queue.dead.load(Ordering::SeqCst)
    }

    fn messages(&self) -> std::sync::MutexGuard<'_, usize> {
        lock(&self.queue.queued_messages)
    }
}

impl Queue {
    fn new(by_hand: bool) -> Queue {
        Queue {
            by_hand,
            queued_media: AtomicUsize::new(0),
            queued_messages: Mutex::new(0),
            written: Condvar::new(),
            dead: AtomicBool::new(false),
        }
    }

    /// `len` bytes left the queue: a media frame's, or a message's (waking whoever waits for
    /// room).
    fn written(&self, len: usize, media: bool) {
        if media {
            self.queued_media.fetch_sub(len, Ordering::SeqCst);
        } else {
            *lock(&self.queued_messages) -= len;
            self.written.notify_all();
        }
    }
}

/// The other end of an in-memory [`Writer`].
pub struct Written {
    rx: mpsc::Receiver<(Vec<u8>, bool)>,
    queue: Arc<Queue>,
}

impl Written {
    /// Everything queued so far, in order, as one byte string.
    pub fn take(&self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok((bytes, media)) = self.rx.try_recv() {
            self.queue.written(bytes.len(), media);
            out.extend_from_slice(&bytes);
        }
        out
    }
}

fn lock(m: &Mutex<usize>) -> std::sync::MutexGuard<'_, usize> {
    // A count: a panic elsewhere leaves it as usable as any.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer thread: writes each queued message whole, in order, until the queue closes or
/// a write fails (then the connection is shut, and waiters are woken to see it).
fn write_all(
    out: &TcpStream,
    rx: mpsc::Receiver<(Vec<u8>, bool)>,
    queue: &Queue,
    peer: SocketAddr,
) {
    for (bytes, media) in rx {
        let result = (&*out).write_all(&bytes);
        queue.written(bytes.len(), media);
        if let Err(e) = result {
            log::info!("{peer}: write failed ({e}): closing the connection");
            queue.dead.store(true, Ordering::SeqCst);
            queue.written.notify_all();
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
    }
}
