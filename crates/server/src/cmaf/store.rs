//! Segments by key, each made once: the first request for a missing segment queues its
//! encode and every request for it meanwhile waits for that one encode (never a second).
//! Finished segments stay in memory up to a bound (least recently used goes first) and go
//! to the disk cache, where a later request finds them without encoding again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::disk::DiskCache;

/// Which bytes: one part of one rendition of one version of a video.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    /// The video's content and every encoding setting, hashed (see `Plan::key`).
    pub video: u64,
    pub rendition: String,
    pub part: Part,
}

/// The init segment or media segment `n` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Init,
    Segment(u32),
}

impl PartKey {
    /// Its file in the disk cache's directory of the video.
    pub fn file_name(&self) -> String {
        match self.part {
            Part::Init => format!("{}-init.mp4", self.rendition),
            Part::Segment(n) => format!("{}-{n}.m4s", self.rendition),
        }
    }
}

/// A finished part: its bytes and strong entity tag (a hash of the bytes).
#[derive(Debug)]
pub struct Entity {
    pub bytes: Vec<u8>,
    pub etag: String,
    /// Whole responses carrying it (for `/metrics`: an edge in front should make it one).
    pub served: AtomicU32,
}

impl Entity {
    pub fn new(bytes: Vec<u8>) -> Entity {
        let hash = super::fnv1a(&bytes);
        Entity {
            etag: format!("\"{hash:016x}-{}\"", bytes.len()),
            bytes,
            served: AtomicU32::new(0),
        }
    }
}

enum Slot {
    /// Being made: wait on the condition variable.
    Pending,
    Ready(Arc<Entity>),
    Failed(String),
}

/// What a failed slot counts against the memory bound.
const FAILED_COST: usize = 1024;

#[derive(Default)]
struct Slots {
    map: HashMap<PartKey, (Slot, u64)>,
    bytes: usize,
    clock: u64,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Parts made by an encode.
    pub encoded: AtomicU64,
    /// Parts read back from the disk cache.
    pub from_disk: AtomicU64,
    /// Encodes that failed.
    pub failed: AtomicU64,
    /// Whole media segments served (200 to a GET).
    pub segment_responses: AtomicU64,
    /// Segments served a second time (behind a caching edge, this stays 0).
    pub served_again: AtomicU64,
}

/// What [`Store::lookup`] found.
pub enum Lookup {
    Ready(Arc<Entity>),
    Failed(String),
    /// Nobody makes it yet: the caller now does (the slot is pending in its name) and must
    /// call [`Store::finish`].
    Make,
    /// Someone makes it.
    Pending,
}

/// The store of one server.
pub struct Store {
    slots: Mutex<Slots>,
    changed: Condvar,
    memory_limit: usize,
    pub disk: Option<DiskCache>,
    pub counters: StoreCounters,
}

impl Store {
    pub fn new(memory_limit: usize, disk: Option<DiskCache>) -> Store {
        Store {
            slots: Mutex::new(Slots::default()),
            changed: Condvar::new(),
            memory_limit,
            disk,
            counters: StoreCounters::default(),
        }
    }

    /// The part if it is in memory or on disk; else it is marked pending and the caller
    /// makes it ([`Lookup::Make`]), unless someone already is ([`Lookup::Pending`]).
    pub fn lookup(&self, key: &PartKey) -> Lookup {
        let mut slots = self.lock();
        slots.clock += 1;
        let clock = slots.clock;
        if let Some((slot, used)) = slots.map.get_mut(key) {
            *used = clock;
            return match slot {
                Slot::Pending => Lookup::Pending,
                Slot::Ready(e) => Lookup::Ready(e.clone()),
                Slot::Failed(why) => Lookup::Failed(why.clone()),
            };
        }
        slots.map.insert(key.clone(), (Slot::Pending, clock));
        drop(slots);
        match self.disk.as_ref().and_then(|d| d.read(key)) {
            Some(bytes) => {
                self.counters.from_disk.fetch_add(1, Ordering::Relaxed);
                let e = Arc::new(Entity::new(bytes));
                self.settle(key, Slot::Ready(e.clone()));
                Lookup::Ready(e)
            }
            None => Lookup::Make,
        }
    }

    /// Waits until `key` is no longer pending, or `deadline`.
    pub fn wait(&self, key: &PartKey, deadline: Instant) -> Option<Result<Arc<Entity>, String>> {
        let mut slots = self.lock();
        loop {
            match slots.map.get(key).map(|s| &s.0) {
                Some(Slot::Ready(e)) => return Some(Ok(e.clone())),
                Some(Slot::Failed(why)) => return Some(Err(why.clone())),
                // Evicted the moment it was made (a tiny memory bound): look again.
                None => return None,
                Some(Slot::Pending) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slots = self
                .changed
                .wait_timeout(slots, left.min(Duration::from_secs(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The result of making `key` (the caller had [`Lookup::Make`]): kept, written to disk,
    /// and every waiter woken.
    pub fn finish(&self, key: &PartKey, made: Result<Vec<u8>, String>) {
        let slot = match made {
            Ok(bytes) => {
                self.counters.encoded.fetch_add(1, Ordering::Relaxed);
                if let Some(d) = &self.disk {
                    d.write(key, &bytes);
                }
                Slot::Ready(Arc::new(Entity::new(bytes)))
            }
            Err(why) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Slot::Failed(why)
            }
        };
        self.settle(key, slot);
    }

    /// Forgets a pending slot nobody will make (work ahead that was not queued).
    pub fn abandon(&self, key: &PartKey) {
        let mut slots = self.lock();
        if matches!(slots.map.get(key), Some((Slot::Pending, _))) {
            slots.map.remove(key);
        }
        drop(slots);
        self.changed.notify_all();
    }

    /// The part if it is finished and in memory (never reads the disk, never waits).
    pub fn peek(&self, key: &PartKey) -> Option<Arc<Entity>> {
        match self.lock().map.get(key) {
            Some((Slot::Ready(e), _)) => Some(e.clone()),
            _ => None,
        }
    }

    /// The size of a finished part, in memory or on disk, without reading it.
    pub fn size(&self, key: &PartKey) -> Option<u64> {
        if let Some((Slot::Ready(e), _)) = self.lock().map.get(key) {
            return Some(e.bytes.len() as u64);
        }
        self.disk.as_ref().and_then(|d| d.size(key))
    }

    /// Bytes of finished parts held in memory now.
    pub fn memory_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn settle(&self, key: &PartKey, slot: Slot) {
        let cost = cost_of(&slot);
        let mut slots = self.lock();
        slots.clock += 1;
        let clock = slots.clock;
        if let Some((old, _)) = slots.map.insert(key.clone(), (slot, clock)) {
            slots.bytes -= cost_of(&old);
        }
        slots.bytes += cost;
        evict(&mut slots, self.memory_limit);
        drop(slots);
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn cost_of(slot: &Slot) -> usize {
    match slot {
        Slot::Ready(e) => e.bytes.len(),
        Slot::Failed(_) => FAILED_COST,
        Slot::Pending => 0,
    }
}

/// Drops the least recently used finished parts until `limit` holds (pending ones stay:
/// someone waits for them).
fn evict(slots: &mut Slots, limit: usize) {
    if slots.bytes <= limit {
        return;
    }
    let mut done: Vec<(u64, PartKey)> = slots
        .map
        .iter()
        .filter(|(_, (s, _))| !matches!(s, Slot::Pending))
        .map(|(k, (_, used))| (*used, k.clone()))
        .collect();
    done.sort_by_key(|(used, _)| *used);
    for (_, key) in done {
        if slots.bytes <= limit {
            break;
        }
        if let Some((old, _)) = slots.map.remove(&key) {
            slots.bytes -= cost_of(&old);
        }
    }
}
