//! A publisher's RTP over UDP: a thread per publisher that reads its RTP socket (every read
//! with a deadline: its stop flag, or packets waiting behind a gap), rebuilds frames
//! ([`Ingest`]) and hands them to the path, and notes when
//! the publisher was last heard (its RTP and RTCP keep its session alive).

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ingest::Ingest;
use super::path::Path;

/// How long one read waits before the thread looks at its stop flag again.
const READ_DEADLINE: Duration = Duration::from_millis(100);

/// Largest datagram read: RTP over UDP never exceeds the IPv4 datagram.
const MAX_DATAGRAM: usize = 65_536;

/// The receiving thread of one publisher; dropping it stops the thread.
pub struct UdpReceiver {
    stop: Arc<AtomicBool>,
    heard: Arc<Mutex<Instant>>,
    thread: Option<JoinHandle<()>>,
}

impl UdpReceiver {
    /// Starts reading `rtp` (and `rtcp`, for liveness only) for `path`.
    pub fn spawn(
        rtp: UdpSocket,
        rtcp: UdpSocket,
        mut ingest: Ingest,
        path: Arc<Path>,
    ) -> io::Result<UdpReceiver> {
        rtp.set_read_timeout(Some(READ_DEADLINE))?;
        rtcp.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(Mutex::new(Instant::now()));
        let (stop2, heard2) = (stop.clone(), heard.clone());
        let thread = std::thread::Builder::new()
            .name("live-udp".into())
            .spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while !stop2.load(Ordering::Relaxed) && !path.is_ended() {
                    let mut heard_now = None;
                    // Packets held behind a gap are given up on at their deadline.
                    let wait = ingest.deadline().map_or(READ_DEADLINE, |d| {
                        d.saturating_duration_since(Instant::now())
                            .clamp(Duration::from_millis(1), READ_DEADLINE)
                    });
                    let _ = rtp.set_read_timeout(Some(wait));
                    if let Ok((n, from)) = rtp.recv_from(&mut buf) {
                        let now = Instant::now();
                        if ingest.source.is_none_or(|s| s.ip() == from.ip()) {
                            heard_now = Some(now);
                        }
                        for frame in ingest.push_from(from, &buf[..n], now) {
                            path.publish(frame);
                        }
                    }
                    for frame in ingest.poll(Instant::now()) {
                        path.publish(frame);
                    }
                    while let Ok((_, from)) = rtcp.recv_from(&mut buf) {
                        if ingest.source.is_none_or(|s| s.ip() == from.ip()) {
                            heard_now = Some(Instant::now());
                        }
                    }
                    if let Some(at) = heard_now {
                        *heard2.lock().unwrap_or_else(|e| e.into_inner()) = at;
                    }
                }
            })?;
        Ok(UdpReceiver {
            stop,
            heard,
            thread: Some(thread),
        })
    }

    /// When the publisher's RTP or RTCP last arrived.
    pub fn last_heard(&self) -> Instant {
        *self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for UdpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
