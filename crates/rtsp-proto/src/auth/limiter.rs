//! Refusing, for a while, whoever keeps failing to log in: password guessing at full speed
//! turns into at most [`FailureLimiter::max_failures`] guesses per block. Sans-IO: the caller
//! names the peer (any key: an IP address for the server) and passes the time in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Counts authentication failures per key and refuses a key for [`FailureLimiter::block`]
/// after [`FailureLimiter::max_failures`] of them within [`FailureLimiter::window`]. A block
/// ends by itself, so the real user behind the same address is locked out for a while, never
/// for good; other keys are never affected.
#[derive(Debug)]
pub struct FailureLimiter<K> {
    /// Failures within the window that start a block.
    pub max_failures: u32,
    /// How long failures are remembered when no block follows.
    pub window: Duration,
    /// How long a block lasts.
    pub block: Duration,
    /// Keys remembered at most: past it, the stalest entry is forgotten (a bound on memory,
    /// whatever the number of addresses an attacker has).
    capacity: usize,
    entries: HashMap<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When the first failure of the current window happened.
    since: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Entry {
    /// Whether this entry still says anything at `now`.
    fn live(&self, window: Duration, now: Instant) -> bool {
        match self.blocked_until {
            Some(until) => now < until,
            None => now.duration_since(self.since) < window,
        }
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    /// 20 failures in a minute block for a minute; 4096 keys remembered.
    pub fn new() -> Self {
        FailureLimiter {
            max_failures: 20,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
            capacity: 4096,
            entries: HashMap::new(),
        }
    }

    /// Remembers at most `capacity` keys.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long `key` stays refused, if it is refused at `now`.
    pub fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.entries.get(key)?.blocked_until?;
        (now < until).then(|| until - now)
    }

    /// Records a failure of `key` at `now`. Gives the block's length when this failure starts
    /// one (the caller says so in its log).
    pub fn failed(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let (window, max, block) = (self.window, self.max_failures, self.block);
        if !self.entries.contains_key(key) {
            self.make_room(now);
        }
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            since: now,
            failures: 0,
            blocked_until: None,
        });
        if !entry.live(window, now) {
            *entry = Entry {
                since: now,
                failures: 0,
                blocked_until: None,
            };
        }
        entry.failures += 1;
        if entry.failures >= max && entry.blocked_until.is_none() {
            entry.blocked_until = Some(now + block);
            return Some(block);
        }
        None
    }

    /// Forgets `key`'s failures: it has just got in.
    pub fn succeeded(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Keys remembered now (for tests and the log).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Below capacity again: entries that say nothing any more go first, then the oldest.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.capacity {
            return;
        }
        let window = self.window;
        self.entries.retain(|_, e| e.live(window, now));
        while self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
        }
    }
}

impl<K: Hash + Eq + Clone> Default for FailureLimiter<K> {
    fn default() -> Self {
        Self::new()
    }
}
