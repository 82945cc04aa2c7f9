//! A Motion-JPEG HTTP viewer of a live path: each shared frame's JPEG, as the publisher's
//! frame was rebuilt, sent as one part of the viewer's `multipart/x-mixed-replace` response.
//! The multipart transport writes without blocking and drops whole parts when the viewer is
//! behind; the publisher leaving ends the response with its close delimiter.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::path::Subscriber;
use super::LiveFrame;
use crate::net::transport::MediaTransport;
use crate::session::MediaCounters;

/// A viewer as its path's subscriber; its connection thread waits for its end.
pub struct HttpViewer {
    /// A [`MediaTransport::Multipart`]; behind a lock since deliveries and the end come from
    /// the publisher's thread and the connection thread may look at it.
    transport: Mutex<MediaTransport>,
    ended: AtomicBool,
    sent: AtomicU64,
    dropped: AtomicU64,
    counters: Arc<MediaCounters>,
}

impl HttpViewer {
    /// A viewer sending parts over `transport` (multipart); the server's per-transport
    /// counters count what it sends and drops.
    pub fn new(transport: MediaTransport, counters: Arc<MediaCounters>) -> Self {
        debug_assert!(transport.is_multipart());
        HttpViewer {
            transport: Mutex::new(transport),
            ended: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            counters,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MediaTransport> {
        self.transport.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the publisher left (the close delimiter is queued).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Frames sent (or queued) as whole parts, for the session log.
    pub fn frames_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Subscriber for HttpViewer {
    fn deliver(&self, frame: &Arc<LiveFrame>) {
        let transport = self.lock();
        // Checked under the lock `end` takes: no part after the close delimiter.
        if self.has_ended() {
            return;
        }
        let kind = transport.kind();
        let sent = transport.send_part(&frame.jpeg);
        if sent.dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.counters.frames_dropped[kind].fetch_add(1, Ordering::Relaxed);
        } else {
            self.sent.fetch_add(1, Ordering::Relaxed);
            self.counters.frames_sent[kind].fetch_add(1, Ordering::Relaxed);
            self.counters.bytes_sent[kind].fetch_add(u64::from(sent.octets), Ordering::Relaxed);
        }
    }

    fn end(&self) {
        let transport = self.lock();
        if !self.ended.swap(true, Ordering::SeqCst) {
            transport.finish_parts();
        }
    }

    fn kind(&self) -> &'static str {
        "http"
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::transport::{part_bytes, MULTIPART_BOUNDARY};
    use crate::net::writer::Writer;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn frame(jpeg: &[u8]) -> Arc<LiveFrame> {
        Arc::new(LiveFrame::for_tests(jpeg, 0))
    }

    #[test]
    fn frames_go_out_as_whole_parts_and_the_end_closes_the_response() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut reader = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (socket, peer) = listener.accept().unwrap();
        let socket = Arc::new(socket);
        let writer = Writer::spawn(&socket, peer).unwrap();
        let transport = MediaTransport::Multipart { writer, socket };
        let viewer = HttpViewer::new(transport, Arc::default());
        viewer.deliver(&frame(b"\xff\xd8one\xff\xd9"));
        viewer.deliver(&frame(b"\xff\xd8two\xff\xd9"));
        viewer.end();
        viewer.deliver(&frame(b"\xff\xd8late\xff\xd9"));
        drop(viewer);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        let mut want = part_bytes(b"\xff\xd8one\xff\xd9");
        want.extend(part_bytes(b"\xff\xd8two\xff\xd9"));
        want.extend(format!("--{MULTIPART_BOUNDARY}--\r\n").into_bytes());
        assert_eq!(got, want);
    }
}
