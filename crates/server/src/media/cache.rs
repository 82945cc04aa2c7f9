//! [`MediaCache`]: prepared files shared by all sessions, and the pool of conversion workers
//! that converts their frames ahead of the readers.
//!
//! One pool for the whole server, of [`DEFAULT_WORKERS`] threads, rather than a thread per
//! file: conversion is CPU work that competes with the pacers for the same cores, and a fixed
//! pool bounds what it takes however many files play at once. Two workers, not one, so that
//! one slow frame (a huge or hostile one) never stops every other conversion behind it. The
//! workers take files in turn, one frame at a time, so one file cannot starve the others, and
//! run at a lower priority than the pacers ([`WORKER_NICE`]), so an encode rarely delays a
//! frame.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, SystemTime};

use super::convert::{Converter, Recoder, Wake, DEFAULT_LOOKAHEAD};
use super::{PrepareError, PreparedMedia, DEFAULT_CONVERTED_LIMIT, MAX_FRAME};

/// Conversion threads for the whole server (see the module doc).
pub const DEFAULT_WORKERS: usize = 2;
/// Frames [`MediaCache::get`] waits to see converted before it returns a new file.
const READY_AT_START: usize = 2;
/// The most it waits for them (a held or slow conversion must not stall DESCRIBE long).
const START_WAIT: Duration = Duration::from_secs(1);
/// How long an idle worker sleeps before looking again on its own (readers that timed out
/// are dropped then); a moving reader wakes it at once.
const IDLE_RECHECK: Duration = Duration::from_millis(500);

/// A file by path, size and modification time, with its sidecar's size and time (or none):
/// a changed sidecar changes the file's rate, so it is prepared again.
type CacheKey = (
    PathBuf,
    u64,
    Option<SystemTime>,
    Option<(u64, Option<SystemTime>)>,
);

/// Prepared files shared by all sessions.
pub struct MediaCache {
    entries: Mutex<HashMap<PathBuf, (CacheKey, Arc<PreparedMedia>)>>,
    converted_limit: usize,
    max_frame: usize,
    lookahead: usize,
    converter: Arc<dyn Converter>,
    pool: Arc<Pool>,
}

impl Default for MediaCache {
    fn default() -> Self {
        MediaCache::new(DEFAULT_CONVERTED_LIMIT, MAX_FRAME)
    }
}

impl MediaCache {
    /// A cache whose files each keep at most `converted_limit` bytes of converted frames and
    /// accept frames up to `max_frame` bytes.
    pub fn new(converted_limit: usize, max_frame: usize) -> Self {
        MediaCache {
            entries: Mutex::new(HashMap::new()),
            converted_limit,
            max_frame,
            lookahead: DEFAULT_LOOKAHEAD,
            converter: Arc::new(Recoder),
            pool: Arc::new(Pool::new(DEFAULT_WORKERS)),
        }
    }

    /// The same cache converting with `converter` instead of [`Recoder`]: the hook for tests
    /// that hold one frame's conversion or make it fail. Set it before the first `get`. A
    /// conversion held among the first frames of a file also holds up (for at most a second)
    /// the request that prepares the file, as [`MediaCache::get`] says.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use server::media::{Converter, MediaCache, Recoder};
    ///
    /// let config = server::Config::default();
    /// // Frame 30's conversion takes half a second; every other frame converts as usual.
    /// let slow = |i: usize, jpeg: &[u8], how| {
    ///     if i == 30 {
    ///         std::thread::sleep(Duration::from_millis(500));
    ///     }
    ///     Recoder.convert(i, jpeg, how)
    /// };
    /// let cache = MediaCache::new(config.converted_limit, config.max_frame)
    ///     .with_converter(Arc::new(slow));
    /// let _server = server::Server::bind_with_cache(config, cache)?.spawn()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_converter(mut self, converter: Arc<dyn Converter>) -> Self {
        self.converter = converter;
        self
    }

    /// The same cache converting `frames` ahead of each reader instead of
    /// [`DEFAULT_LOOKAHEAD`].
    pub fn with_lookahead(mut self, frames: usize) -> Self {
        self.lookahead = frames.max(1);
        self
    }

    /// The prepared file at `path`, prepared now if it or its sidecar (`NAME.json`, its frame
    /// rate) is new or changed on disk. Frames that
    /// need converting start converting at once, from frame 0, and a new file is returned
    /// once its first frames are converted (or after a second at most), so a PLAY right
    /// after finds them ready. Only the caller that prepares the file waits.
    pub fn get(&self, path: &Path) -> Result<Arc<PreparedMedia>, PrepareError> {
        let meta = std::fs::metadata(path).map_err(|source| PrepareError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let sidecar = std::fs::metadata(super::timing::sidecar_path(path))
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        let key = (
            path.to_path_buf(),
            meta.len(),
            meta.modified().ok(),
            sidecar,
        );
        if let Some((k, media)) = self.entries.lock().unwrap().get(path) {
            if *k == key {
                return Ok(media.clone());
            }
        }
        // Prepared outside the lock so one slow file does not stall other sessions.
        let media = Arc::new(PreparedMedia::prepare_with(
            path,
            self.converted_limit,
            self.max_frame,
            self.converter.clone(),
        )?);
        if media.conversions.needs_conversion() {
            self.pool.add(&media);
            media.conversions.attach(self.pool.clone(), self.lookahead);
            // PLAY follows at once: the first frames are converted while DESCRIBE waits
            // (boundedly), the rest while they play.
            media.conversions.wait_for_start(READY_AT_START, START_WAIT);
        }
        self.entries
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), (key, media.clone()));
        Ok(media)
    }
}

impl Drop for MediaCache {
    fn drop(&mut self) {
        self.pool.stop.store(true, Ordering::SeqCst);
        let _files = self.pool.files.lock().unwrap_or_else(|e| e.into_inner());
        self.pool.wake.notify_all();
    }
}

/// The conversion workers and the files they serve.
struct Pool {
    /// Files with frames to convert; dead ones are dropped as the workers pass.
    files: Mutex<Vec<Weak<PreparedMedia>>>,
    wake: Condvar,
    /// Bumped on every reader move, so a worker about to sleep sees work that came meanwhile.
    signal: AtomicU64,
    idle: AtomicUsize,
    stop: AtomicBool,
    threads: usize,
    started: AtomicBool,
    /// Which file a worker looks at first, turn by turn.
    turn: AtomicUsize,
}

impl Wake for Pool {
    fn wake(&self) {
        self.signal.fetch_add(1, Ordering::SeqCst);
        if self.idle.load(Ordering::SeqCst) > 0 {
            let _files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_one();
        }
    }
}

impl Pool {
    fn new(threads: usize) -> Self {
        Pool {
            files: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            signal: AtomicU64::new(0),
            idle: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            threads,
            started: AtomicBool::new(false),
            turn: AtomicUsize::new(0),
        }
    }

    /// Starts serving `media`; the threads start with the first file that needs them.
    fn add(self: &Arc<Self>, media: &Arc<PreparedMedia>) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(media));
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        for n in 0..self.threads {
            let pool = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name(format!("convert-{n}"))
                .spawn(move || {
                    lower_priority(WORKER_NICE, "conversion worker");
                    work(pool)
                });
            if let Err(e) = spawned {
                log::error!("cannot start a conversion thread: {e}");
            }
        }
    }

    /// The files still served, starting from this turn's.
    fn live_files(&self) -> Vec<Arc<PreparedMedia>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.retain(|f| f.strong_count() > 0);
        let mut live: Vec<_> = files.iter().filter_map(Weak::upgrade).collect();
        if !live.is_empty() {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed) % live.len();
            live.rotate_left(turn);
        }
        live
    }

    /// Sleeps until woken, unless work was signalled since `seen`.
    fn idle(&self, seen: u64) {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        // Counted idle before the check, so a reader that signals after it also wakes us.
        self.idle.fetch_add(1, Ordering::SeqCst);
        if self.signal.load(Ordering::SeqCst) == seen && !self.stop.load(Ordering::SeqCst) {
            let _ = self.wake.wait_timeout(files, IDLE_RECHECK);
        }
        self.idle.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How much less CPU a conversion worker gets than the pacers when both want it (a nice
/// value): a pacer waking at a deadline should not wait behind a frame being encoded
/// (tests/slow_conversion.rs measured pacer frames up to 1.7 ms late at nice 0). Not
/// SCHED_IDLE, which kept pacers closer still but starved the conversions whenever the CPU was
/// busy with anything else (tests/any_jpeg.rs lost 17 of 20 frames of a progressive file with
/// three players decoding on the same two cores).
const WORKER_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority to `nice` (the conversion and encode workers, which
/// must not delay a pacer). Refused (a sandbox, say): the worker runs at the pacers'
/// priority, as it would have.
pub(crate) fn lower_priority(nice: libc::c_int, who: &str) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no arguments and cannot fail; setpriority on our own thread id
        // changes only this thread's nice value (Linux's threads have their own).
        let refused = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0
        };
        if refused {
            log::debug!(
                "{who} priority not lowered: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// A worker: converts the next frame some reader will need, or sleeps until a reader moves.
/// It holds the pool only weakly, so dropping the cache ends it.
fn work(pool: Weak<Pool>) {
    loop {
        let Some(p) = pool.upgrade() else { return };
        if p.stop.load(Ordering::SeqCst) {
            return;
        }
        let seen = p.signal.load(Ordering::SeqCst);
        // The most urgent frame of all files first: a reader about to reach an unconverted
        // frame matters more than another file's lookahead (ties go to files in turn).
        let mut files: Vec<(usize, Arc<PreparedMedia>)> = (p.live_files().into_iter())
            .filter_map(|m| m.conversions.most_urgent().map(|d| (d, m)))
            .collect();
        files.sort_by_key(|(d, _)| *d);
        let job =
            (files.into_iter()).find_map(|(_, media)| media.conversions.pick().map(|i| (media, i)));
        let Some((media, i)) = job else {
            p.idle(seen);
            continue;
        };
        drop(p);
        let frame = &media.frames[i];
        // pick() only returns frames whose class asks for a conversion.
        let Some(how) = frame.class.conversion() else {
            continue;
        };
        // No lock is held here: readers of this file keep getting answers meanwhile.
        let jpeg = &media.data[frame.jpeg.clone()];
        let converter = &media.conversions.converter;
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| converter.convert(i, jpeg, how)));
        match result {
            Ok(result) => {
                media.conversions.finish(i, result, &media.path);
            }
            // A decoder bug on a hostile frame costs that frame, not the worker.
            Err(_) => media.conversions.panicked(i, &media.path),
        }
    }
}
