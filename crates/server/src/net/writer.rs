//! The connection's writer thread. Everything sent on the RTSP TCP connection (responses, and
//! interleaved RTP/RTCP) goes through one queue as whole messages, so an interleaved frame can
//! never land inside a response, and a peer that stops reading blocks only this thread: the
//! pacers keep their pace and drop whole media frames when the queue is full, and the
//! connection thread goes on reading requests.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Media bytes that may wait in the queue; beyond this a frame is dropped whole.
pub const MAX_QUEUED_MEDIA: usize = 1 << 20;
/// A write that makes no progress for this long means the peer is gone: the connection closes
/// (a partly written interleaved frame cannot be taken back).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// A handle to the writer thread; clones share the queue.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Vec<u8>, bool)>,
    queued_media: Arc<AtomicUsize>,
    dead: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer thread on `stream`, shared with the thread that reads it (a shared
    /// handle rather than a cloned descriptor: one file descriptor fewer per connection).
    pub fn spawn(stream: &Arc<TcpStream>) -> std::io::Result<Writer> {
        let out = stream.clone();
        out.set_write_timeout(Some(WRITE_DEADLINE))?;
        let (tx, rx) = mpsc::channel::<(Vec<u8>, bool)>();
        let queued_media = Arc::new(AtomicUsize::new(0));
        let dead = Arc::new(AtomicBool::new(false));
        let (q, d) = (queued_media.clone(), dead.clone());
        std::thread::Builder::new()
            .name("rtsp-writer".into())
            .spawn(move || {
                for (bytes, media) in rx {
                    let result = (&*out).write_all(&bytes);
                    if media {
                        q.fetch_sub(bytes.len(), Ordering::SeqCst);
                    }
                    if let Err(e) = result {
                        log::info!("write to {:?} failed ({e}): closing", out.peer_addr().ok());
                        d.store(true, Ordering::SeqCst);
                        let _ = out.shutdown(Shutdown::Both);
                        return;
                    }
                }
            })?;
        Ok(Writer {
            tx,
            queued_media,
            dead,
        })
    }

    /// Queues an RTSP message; these are never dropped.
    pub fn send_message(&self, bytes: Vec<u8>) -> std::io::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "connection writer stopped",
            ));
        }
        self.tx.send((bytes, false)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection writer stopped")
        })
    }

    /// Queues a whole media frame, or drops it whole when the peer is behind (false).
    pub fn send_media(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        if self.dead.load(Ordering::SeqCst)
            || self.queued_media.load(Ordering::SeqCst) + len > MAX_QUEUED_MEDIA
        {
            return false;
        }
        self.queued_media.fetch_add(len, Ordering::SeqCst);
        if self.tx.send((bytes, true)).is_err() {
            self.queued_media.fetch_sub(len, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether the writer gave up on the peer.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
}
