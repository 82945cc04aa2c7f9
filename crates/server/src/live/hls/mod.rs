//! Live HLS (with Low-Latency HLS) and DASH of live paths: the H.264 renditions encoded as
//! the publisher's frames arrive, into a sliding window of CMAF segments and parts.
//!
//! A path's stream starts on the first HLS or DASH request for it, not when it is
//! published: encoding costs a core's fraction per rendition, and most live paths are
//! watched over RTSP or Motion-JPEG only. The first player waits (bounded) for the first
//! part, a third of a second of video. The stream subscribes to its path like any viewer
//! ([`crate::live::path::Subscriber`]): `deliver` only queues the shared frame to the
//! stream's encoder thread in a bounded channel, and a frame that finds it full is dropped
//! and counted. The stream stops when its path ends (the window, `EXT-X-ENDLIST` added,
//! stays readable for [`LINGER`]) or when no request came for [`IDLE`].
//!
//! [`cutter`] decides where parts and segments end, `encode` makes their bytes, [`window`]
//! keeps the last few and [`playlist`] writes the playlists and the MPD; `http::live_cmaf`
//! serves them.

pub mod cutter;
mod encode;
pub mod playlist;
pub mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::path::{Path, Paths, Subscriber};
use super::LiveFrame;
use crate::cmaf::RenditionList;
use cutter::Cutter;
use encode::LiveEncoder;
use window::Window;

/// Frames queued to an encoder thread at most: over a second at 20 fps, so a scheduling
/// hiccup costs nothing, while a machine too slow to encode in real time drops frames
/// instead of falling ever further behind.
pub const QUEUE: usize = 32;
/// A stream nobody asked anything of for this long stops encoding.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long an ended stream's window is still served (its players read `EXT-X-ENDLIST`).
pub const LINGER: Duration = Duration::from_secs(30);
/// Requests that may wait for a part at once, over all streams; more are answered 503.
pub const MAX_WAITING: usize = 256;
/// How often an idle encoder thread looks whether its stream is still wanted.
const POLL: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One live path's HLS/DASH stream.
pub struct Stream {
    path: Arc<Path>,
    window: Mutex<Window>,
    /// Signalled whenever a part is added or the stream ends.
    changed: Condvar,
    last_asked: Mutex<Instant>,
    ended_at: Mutex<Option<Instant>>,
    /// Frames the encoder thread's queue had no room for.
    pub dropped: AtomicU64,
}

impl Stream {
    /// The window, locked.
    pub fn lock(&self) -> MutexGuard<'_, Window> {
        lock(&self.window)
    }

    /// Waits until `ready` holds of the window, the stream ends, or `deadline`; returns the
    /// window, locked, and whether `ready` holds.
    pub fn wait_for(
        &self,
        deadline: Instant,
        ready: impl Fn(&Window) -> bool,
    ) -> (MutexGuard<'_, Window>, bool) {
        let mut w = self.lock();
        loop {
            if ready(&w) {
                return (w, true);
            }
            let now = Instant::now();
            if w.ended || now >= deadline {
                return (w, false);
            }
            w = self
                .changed
                .wait_timeout(w, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn update(&self, change: impl FnOnce(&mut Window)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }

    fn ended_before(&self, now: Instant) -> Option<Duration> {
        lock(&self.ended_at).map(|t| now.saturating_duration_since(t))
    }
}

/// The stream as its path's subscriber: queues each frame to the encoder thread.
struct Feed {
    stream: Arc<Stream>,
    queue: SyncSender<Arc<LiveFrame>>,
}

impl Subscriber for Feed {
    fn deliver(&self, frame: &Arc<LiveFrame>) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(frame.clone()) {
            self.stream.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    // The path lets go of the feed after this, which closes the queue: the thread ends.
    fn end(&self) {}

    fn kind(&self) -> &'static str {
        "hls"
    }

    fn dropped(&self) -> u64 {
        self.stream.dropped.load(Ordering::Relaxed)
    }
}

/// Every live path's stream, by name.
#[derive(Default)]
pub struct LiveHls {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    waiting: AtomicUsize,
}

/// Leave to wait for a part; given back when dropped.
pub struct WaitSlot<'a>(&'a AtomicUsize);

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LiveHls {
    /// The stream of live path `name`, started (with `renditions`) if it has a publisher
    /// and no running stream; an ended one while it lingers. `None`: nobody publishes.
    pub fn stream(
        &self,
        paths: &Paths,
        name: &str,
        renditions: &RenditionList,
        now: Instant,
    ) -> Option<Arc<Stream>> {
        let path = paths.get(name);
        let mut all = lock(&self.streams);
        all.retain(|_, s| s.ended_before(now).is_none_or(|d| d < LINGER));
        if let Some(s) = all.get(name) {
            let current = path.as_ref().is_some_and(|p| Arc::ptr_eq(p, &s.path));
            let stopped_idle =
                current && s.ended_before(now).is_some() && s.lock().failed.is_none();
            if (current || path.is_none()) && !stopped_idle {
                *lock(&s.last_asked) = now;
                return Some(s.clone());
            }
            all.remove(name);
        }
        let s = start(path?, renditions.clone(), now)?;
        all.insert(name.to_string(), s.clone());
        Some(s)
    }

    /// Leave for one more request to wait, unless [`MAX_WAITING`] already do.
    pub fn wait_slot(&self) -> Option<WaitSlot<'_>> {
        let slot = WaitSlot(&self.waiting);
        (self.waiting.fetch_add(1, Ordering::SeqCst) < MAX_WAITING).then_some(slot)
    }
}

/// Subscribes a new stream to `path` and starts its encoder thread.
fn start(path: Arc<Path>, renditions: RenditionList, now: Instant) -> Option<Arc<Stream>> {
    let stream = Arc::new(Stream {
        path: path.clone(),
        window: Mutex::default(),
        changed: Condvar::new(),
        last_asked: Mutex::new(now),
        ended_at: Mutex::default(),
        dropped: AtomicU64::new(0),
    });
    let (queue, frames) = sync_channel(QUEUE);
    let feed = Arc::new(Feed {
        stream: stream.clone(),
        queue,
    });
    let id = path.subscribe(feed)?;
    let fps = path.announced.framerate;
    let (s, name) = (stream.clone(), path.name.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("hls {name}"))
        .spawn(move || run(&s, frames, fps, &renditions, id));
    if let Err(e) = spawned {
        log::error!("live/{name}: no HLS encoder thread: {e}");
        path.unsubscribe(id);
        return None;
    }
    log::info!("live/{name}: HLS/DASH encoding started");
    Some(stream)
}

/// The encoder thread: frames in, parts out, until the path ends or nobody asks.
fn run(
    stream: &Stream,
    frames: Receiver<Arc<LiveFrame>>,
    fps: Option<f64>,
    renditions: &RenditionList,
    id: u64,
) {
    let name = &stream.path.name;
    let mut cutter = Cutter::default();
    let mut encoder = None;
    let idle = AtomicBool::new(false);
    let outcome = loop {
        let frame = match frames.recv_timeout(POLL) {
            Ok(f) => Some(f),
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
            Err(RecvTimeoutError::Timeout) => None,
        };
        if lock(&stream.last_asked).elapsed() > IDLE {
            idle.store(true, Ordering::Relaxed);
            break Ok(());
        }
        let Some(frame) = frame else {
            continue;
        };
        let step = Step {
            stream,
            fps,
            renditions,
        };
        if let Err(e) = step.frame(&frame, &mut cutter, &mut encoder) {
            break Err(e);
        }
    };
    stream.path.unsubscribe(id);
    let flushed = match &mut encoder {
        Some(enc) => Step::finish(stream, enc, true),
        None => Ok(()),
    };
    let failed = outcome.and(flushed).err();
    match (&failed, idle.load(Ordering::Relaxed)) {
        (Some(e), _) => log::error!("live/{name}: HLS encoding stopped: {e}"),
        (None, true) => log::info!("live/{name}: HLS encoding stopped: nobody asked for {IDLE:?}"),
        (None, false) => log::info!("live/{name}: HLS encoding ended with its publisher"),
    }
    *lock(&stream.ended_at) = Some(Instant::now());
    stream.update(|w| {
        w.ended = true;
        w.failed = failed;
    });
}

/// What one frame does to a stream.
struct Step<'a> {
    stream: &'a Stream,
    fps: Option<f64>,
    renditions: &'a RenditionList,
}

impl Step<'_> {
    fn frame(
        &self,
        frame: &LiveFrame,
        cutter: &mut Cutter,
        encoder: &mut Option<LiveEncoder>,
    ) -> Result<(), String> {
        let cut = cutter.frame(frame.rtptime);
        if let (Some(enc), true) = (encoder.as_mut(), cut.before.part) {
            Self::finish(self.stream, enc, cut.before.segment)?;
        }
        if encoder.is_none() {
            match h264::Yuv420::from_jpeg(&frame.jpeg) {
                Ok(first) => *encoder = Some(LiveEncoder::new(&first, self.fps, self.renditions)),
                Err(e) => {
                    log::debug!("live/{}: frame skipped ({e})", self.stream.path.name);
                    return Ok(());
                }
            }
        }
        let enc = encoder.as_mut().expect("made above");
        let age = Instant::now().saturating_duration_since(frame.received);
        let wall = SystemTime::now() - age;
        if let Some(tracks) = enc.encode(&frame.jpeg, cut.duration, wall)? {
            self.stream.update(|w| w.tracks = tracks);
        }
        if cut.after.part {
            Self::finish(self.stream, enc, cut.after.segment)?;
        }
        Ok(())
    }

    /// The open part goes into the window, and closes its segment if `segment`.
    fn finish(stream: &Stream, enc: &mut LiveEncoder, segment: bool) -> Result<(), String> {
        let part = enc.take_part(segment)?;
        stream.update(|w| {
            if let Some((part, start, wall)) = part {
                w.add_part(part, start, wall);
            }
            if segment {
                w.close_segment();
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_requests_are_bounded_and_leave_is_given_back() {
        let hls = LiveHls::default();
        let held: Vec<_> = (0..MAX_WAITING).map(|_| hls.wait_slot().unwrap()).collect();
        assert!(hls.wait_slot().is_none(), "one more than MAX_WAITING");
        drop(held);
        assert!(hls.wait_slot().is_some());
        assert_eq!(hls.waiting.load(Ordering::SeqCst), 0);
    }
}
