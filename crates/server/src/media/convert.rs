//! One file's converted frames: what is ready, where its readers are, what to convert next,
//! and what to evict when the byte limit is reached.
//!
//! The lock here ([`Conversions`]' state) is held only to look up or change a few fields,
//! never while a frame converts: a pacer asking for a frame waits at most for another short
//! lookup, however long a conversion takes. The conversion itself runs on a worker of
//! [`super::cache`]'s pool, or on the caller's thread for [`Conversions::convert_now`].
//!
//! Readers are not named: a request for frame `i` moves the nearest reader at most a
//! lookahead behind `i` (the same session, one frame or a few skipped frames on), or starts a
//! new one (a new session, a seek). Readers nobody moved for [`READER_TIMEOUT`] are forgotten,
//! so a finished session stops pinning frames.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use jpeg_recode::{Conversion, ConvertError, Converted};

use super::{PreparedFrame, Unavailable};

/// Converts one frame. The server's is [`Recoder`]; tests give [`super::MediaCache`] one that
/// is slow or fails for chosen frames.
pub trait Converter: Send + Sync + 'static {
    /// Converts frame `index` (whose JPEG is `jpeg`) the way its class asks.
    fn convert(
        &self,
        index: usize,
        jpeg: &[u8],
        how: Conversion,
    ) -> Result<Converted, ConvertError>;
}

/// The real converter: [`jpeg_recode::convert`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Recoder;

impl Converter for Recoder {
    fn convert(&self, _: usize, jpeg: &[u8], how: Conversion) -> Result<Converted, ConvertError> {
        jpeg_recode::convert(jpeg, how)
    }
}

impl<F> Converter for F
where
    F: Fn(usize, &[u8], Conversion) -> Result<Converted, ConvertError> + Send + Sync + 'static,
{
    fn convert(
        &self,
        index: usize,
        jpeg: &[u8],
        how: Conversion,
    ) -> Result<Converted, ConvertError> {
        self(index, jpeg, how)
    }
}

/// How many frames ahead of each reader are converted: 2 s at the default 20 fps.
pub const DEFAULT_LOOKAHEAD: usize = 40;
/// A reader not seen for this long is forgotten.
pub const READER_TIMEOUT: Duration = Duration::from_secs(3);
/// Most readers tracked per file; past it the one seen longest ago is replaced.
const MAX_READERS: usize = 256;

/// What is known of one frame's conversion.
enum Slot {
    /// RFC 2435 carries it as is, or it is skipped: nothing to convert.
    Unconverted,
    Empty,
    Converting,
    Ready(Arc<Converted>),
    /// Its conversion failed: remembered, so no session tries again.
    Failed,
}

/// A position being read, and when it was last asked for.
struct Reader {
    at: usize,
    seen: Instant,
}

struct State {
    slots: Vec<Slot>,
    /// The frames whose slot is `Ready`, so eviction need not walk every slot.
    ready: BTreeSet<usize>,
    readers: Vec<Reader>,
    bytes: usize,
    /// Counts reader moves; a file found full is not looked at again until it changes.
    moves: u64,
    full_at: Option<u64>,
}

/// Whom to tell when a reader moves: the pool of conversion workers.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

/// One file's converted frames (see the module doc).
pub(crate) struct Conversions {
    state: Mutex<State>,
    /// Signalled whenever a conversion ends, for [`Conversions::wait_for_start`].
    finished: Condvar,
    /// `state.bytes`, readable without the lock.
    bytes: AtomicUsize,
    limit: usize,
    lookahead: AtomicUsize,
    /// Whether any frame needs converting; if not, nothing here is ever locked.
    any: bool,
    pub(crate) converter: Arc<dyn Converter>,
    /// Set when a [`super::MediaCache`] serves the file: its workers.
    workers: OnceLock<Arc<dyn Wake>>,
}

impl Conversions {
    pub(crate) fn new(
        frames: &[PreparedFrame],
        limit: usize,
        converter: Arc<dyn Converter>,
    ) -> Self {
        let slots: Vec<Slot> = frames
            .iter()
            .map(|f| match f.class.conversion() {
                Some(_) => Slot::Empty,
                None => Slot::Unconverted,
            })
            .collect();
        Conversions {
            any: slots.iter().any(|s| matches!(s, Slot::Empty)),
            state: Mutex::new(State {
                slots,
                ready: BTreeSet::new(),
                readers: Vec::new(),
                bytes: 0,
                moves: 0,
                full_at: None,
            }),
            finished: Condvar::new(),
            bytes: AtomicUsize::new(0),
            limit,
            lookahead: AtomicUsize::new(DEFAULT_LOOKAHEAD),
            converter,
            workers: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn needs_conversion(&self) -> bool {
        self.any
    }

    /// Hands the file to `workers` (once), converting `lookahead` frames ahead of each reader,
    /// and puts a reader at frame 0 so the start is ready by PLAY.
    pub(crate) fn attach(&self, workers: Arc<dyn Wake>, lookahead: usize) {
        self.lookahead.store(lookahead.max(1), Ordering::Relaxed);
        if self.workers.set(workers).is_ok() {
            self.reader_at(0);
        }
    }

    /// Notes a reader at frame `i` and wakes the workers if it moved.
    pub(crate) fn reader_at(&self, i: usize) {
        if !self.any {
            return;
        }
        let moved = note_reader(&mut self.lock(), i, self.lookahead.load(Ordering::Relaxed));
        if moved {
            if let Some(w) = self.workers.get() {
                w.wake();
            }
        }
    }

    /// Frame `i` if it is converted; notes a reader there.
    pub(crate) fn get(&self, i: usize) -> Result<Arc<Converted>, Unavailable> {
        let lookahead = self.lookahead.load(Ordering::Relaxed);
        let (result, moved) = {
            let mut st = self.lock();
            let moved = note_reader(&mut st, i, lookahead);
            let result = match st.slots.get(i) {
                Some(Slot::Ready(c)) => Ok(c.clone()),
                Some(Slot::Empty | Slot::Converting) => Err(Unavailable::NotReady),
                _ => Err(Unavailable::Skipped),
            };
            (result, moved)
        };
        if moved {
            if let Some(w) = self.workers.get() {
                w.wake();
            }
        }
        result
    }

    #[cfg(test)]
    pub(crate) fn is_ready(&self, i: usize) -> bool {
        matches!(self.lock().slots.get(i), Some(Slot::Ready(_)))
    }

    /// How far the nearest frame still to convert is ahead of its reader, if there is one
    /// and the limit may leave room: how urgent this file's next conversion is.
    pub(crate) fn most_urgent(&self) -> Option<usize> {
        if !self.any {
            return None;
        }
        let mut st = self.lock();
        let now = Instant::now();
        st.readers
            .retain(|r| now.duration_since(r.seen) < READER_TIMEOUT);
        if st.full_at == Some(st.moves) {
            return None;
        }
        nearest_empty(&st, self.lookahead.load(Ordering::Relaxed)).map(|(d, _)| d)
    }

    /// The next frame a worker should convert, marked as being converted: the nearest one
    /// ahead of any reader that is not converted yet, if the limit leaves room.
    pub(crate) fn pick(&self) -> Option<usize> {
        if !self.any {
            return None;
        }
        let lookahead = self.lookahead.load(Ordering::Relaxed);
        let mut st = self.lock();
        if st.full_at == Some(st.moves) {
            return None;
        }
        let (_, found) = nearest_empty(&st, lookahead)?;
        let room = make_room(&mut st, found, 1, self.limit, lookahead);
        self.bytes.store(st.bytes, Ordering::Relaxed);
        if !room {
            st.full_at = Some(st.moves);
            return None;
        }
        st.slots[found] = Slot::Converting;
        Some(found)
    }

    /// Waits until the first `frames` frames are converted (or failed), for at most `timeout`.
    pub(crate) fn wait_for_start(&self, frames: usize, timeout: Duration) {
        let pending = |st: &mut State| {
            (st.slots.iter().take(frames)).any(|s| matches!(s, Slot::Empty | Slot::Converting))
        };
        let st = self.lock();
        let _ = self.finished.wait_timeout_while(st, timeout, pending);
    }

    /// Records the outcome of converting frame `i` (picked by [`Conversions::pick`]), keeping
    /// it if the limit allows, and returns the frame.
    pub(crate) fn finish(
        &self,
        i: usize,
        result: Result<Converted, ConvertError>,
        path: &Path,
    ) -> Option<Arc<Converted>> {
        let kept = self.record(i, result, path);
        self.finished.notify_all();
        kept
    }

    fn record(
        &self,
        i: usize,
        result: Result<Converted, ConvertError>,
        path: &Path,
    ) -> Option<Arc<Converted>> {
        let lookahead = self.lookahead.load(Ordering::Relaxed);
        let mut st = self.lock();
        if let Slot::Ready(done) = &st.slots[i] {
            // Converted twice (by convert_now beside a worker): keep the first, count it once.
            return Some(done.clone());
        }
        let converted = match result {
            Ok(c) => Arc::new(c),
            Err(e) => {
                log::warn!(
                    "{}: frame {i} could not be converted ({e}): skipped",
                    path.display()
                );
                st.slots[i] = Slot::Failed;
                return None;
            }
        };
        let size = converted.jpeg.len();
        // An empty cache takes one frame whatever its size, so a limit below one frame
        // still streams.
        if make_room(&mut st, i, size, self.limit, lookahead) || st.bytes == 0 {
            st.bytes += size;
            st.ready.insert(i);
            st.slots[i] = Slot::Ready(converted.clone());
        } else {
            st.slots[i] = Slot::Empty;
            st.full_at = Some(st.moves);
        }
        self.bytes.store(st.bytes, Ordering::Relaxed);
        Some(converted)
    }

    /// Records that converting frame `i` panicked: it is skipped from now on.
    pub(crate) fn panicked(&self, i: usize, path: &Path) {
        log::error!(
            "{}: frame {i}: the converter panicked: skipped",
            path.display()
        );
        if let Some(slot) = self.lock().slots.get_mut(i) {
            *slot = Slot::Failed;
        }
        self.finished.notify_all();
    }

    /// Converts frame `i` on this thread unless it is ready or known to fail.
    pub(crate) fn convert_now(
        &self,
        i: usize,
        jpeg: &[u8],
        how: Conversion,
        path: &Path,
    ) -> Option<Arc<Converted>> {
        match self.lock().slots.get(i)? {
            Slot::Ready(c) => return Some(c.clone()),
            Slot::Failed | Slot::Unconverted => return None,
            Slot::Empty | Slot::Converting => {}
        }
        let result = self.converter.convert(i, jpeg, how);
        self.finish(i, result, path)
    }
}

/// Moves the reader that is at most `lookahead` frames behind `i` (the nearest) to `i`, or
/// starts one there. Returns whether anything moved.
fn note_reader(st: &mut State, i: usize, lookahead: usize) -> bool {
    let n = st.slots.len().max(1);
    let now = Instant::now();
    let behind = |r: &Reader| (i + n - r.at % n) % n;
    let nearest = st
        .readers
        .iter_mut()
        .filter(|r| behind(r) <= lookahead)
        .min_by_key(|r| behind(r));
    let moved = match nearest {
        Some(r) => {
            r.seen = now;
            std::mem::replace(&mut r.at, i) != i
        }
        None => {
            let reader = Reader { at: i, seen: now };
            if st.readers.len() < MAX_READERS {
                st.readers.push(reader);
            } else if let Some(oldest) = st.readers.iter_mut().min_by_key(|r| r.seen) {
                *oldest = reader;
            }
            true
        }
    };
    if moved {
        st.moves += 1;
    }
    moved
}

/// The frame still to convert that is nearest ahead of a reader, and how far ahead it is.
fn nearest_empty(st: &State, lookahead: usize) -> Option<(usize, usize)> {
    let n = st.slots.len();
    (0..lookahead.min(n)).find_map(|d| {
        st.readers
            .iter()
            .map(|r| (r.at + d) % n)
            .find(|&j| matches!(st.slots[j], Slot::Empty))
            .map(|j| (d, j))
    })
}

/// How far frame `j` is ahead of the nearest reader behind it (`n` frames in the file).
fn ahead(readers: &[Reader], j: usize, n: usize) -> usize {
    readers
        .iter()
        .map(|r| (j + n - r.at % n) % n)
        .min()
        .unwrap_or(usize::MAX)
}

/// Makes room for `size` more bytes for frame `frame`, evicting first every converted frame
/// no reader reaches within `lookahead` frames (those behind every reader), then the ones
/// farther ahead than `frame`, farthest first. Returns whether `size` fits now.
fn make_room(st: &mut State, frame: usize, size: usize, limit: usize, lookahead: usize) -> bool {
    let fits = |st: &State| st.bytes.saturating_add(size) <= limit;
    if fits(st) {
        return true;
    }
    let n = st.slots.len().max(1);
    let unread: Vec<usize> = (st.ready.iter().copied())
        .filter(|&j| ahead(&st.readers, j, n) >= lookahead)
        .collect();
    for j in unread {
        evict(st, j);
    }
    let mine = ahead(&st.readers, frame, n);
    while !fits(st) {
        let farthest = (st.ready.iter().copied())
            .map(|j| (ahead(&st.readers, j, n), j))
            .filter(|&(d, _)| d > mine)
            .max();
        let Some((_, j)) = farthest else {
            return false;
        };
        evict(st, j);
    }
    true
}

fn evict(st: &mut State, j: usize) {
    if let Slot::Ready(c) = std::mem::replace(&mut st.slots[j], Slot::Empty) {
        st.bytes -= c.jpeg.len();
    }
    st.ready.remove(&j);
}
