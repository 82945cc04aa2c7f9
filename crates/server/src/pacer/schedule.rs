//! The pacers' shared heap of deadlines, and the part each pacer thread plays in emptying it.
//! Pure bookkeeping, no sockets: what a push must wake and how long a role sleeps are unit
//! tests.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::session::SessionHandle;

/// How overdue a frame must be before a standby pacer sends it instead of the lead. The lead
/// wakes within 0.6 ms of its deadline 999 times in 1000 (measured at 500 sessions); a frame
/// later than this means the lead is stopped or has more than a core's worth to send.
pub(super) const STANDBY_GRACE: Duration = Duration::from_micros(500);

/// How often the first standby looks for overdue frames; the k-th looks every k times this,
/// so that many cores do not mean many wake-ups. A frame the lead cannot send goes out at
/// most about this plus [`STANDBY_GRACE`] late.
pub(super) const STANDBY_CHECK: Duration = Duration::from_millis(1);

/// A session's next deadline, as the heap holds it. `generation` is the playout's when the
/// entry was made: a PLAY, PAUSE or teardown since then makes the entry stale, and it is
/// dropped instead of sending.
pub(super) struct Entry {
    pub due: Instant,
    pub generation: u64,
    pub session: SessionHandle,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

/// Every playing session's next deadline, one heap the pacers share.
pub(super) struct Schedule {
    queue: Mutex<Queue>,
    /// Wakes the lead early: a session is due before what it sleeps for, or the server closes.
    pub lead: Condvar,
    /// Wakes the standbys: the heap is no longer empty, or the server closes.
    pub standby: Condvar,
}

pub(super) struct Queue {
    pub heap: BinaryHeap<Reverse<Entry>>,
    pub closed: bool,
}

/// Whom a push onto the heap must wake.
#[derive(Debug, PartialEq)]
pub(super) struct Wake {
    /// One of the entries is now the earliest, and the lead sleeps until the earliest it saw.
    pub lead: bool,
    /// The heap was empty, and the standbys sleep until woken while it is.
    pub standbys: bool,
}

impl Queue {
    pub fn new() -> Queue {
        Queue {
            heap: BinaryHeap::new(),
            closed: false,
        }
    }

    /// Puts `entries` on the heap, and says whom that must wake.
    pub fn push(&mut self, entries: impl IntoIterator<Item = Entry>) -> Wake {
        let before = self.earliest();
        self.heap.extend(entries.into_iter().map(Reverse));
        let after = self.earliest();
        Wake {
            lead: after.is_some() && after != before,
            standbys: before.is_none() && after.is_some(),
        }
    }

    /// The earliest deadline on the heap.
    pub fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.due)
    }

    /// Moves the entries due by `horizon` into `batch`, at most `max` of them.
    pub fn take_due(&mut self, horizon: Instant, max: usize, batch: &mut Vec<Entry>) {
        while batch.len() < max && self.earliest().is_some_and(|due| due <= horizon) {
            batch.push(self.heap.pop().expect("peeked").0);
        }
    }
}

impl Schedule {
    pub fn new() -> Schedule {
        Schedule {
            queue: Mutex::new(Queue::new()),
            lead: Condvar::new(),
            standby: Condvar::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is only pushed to and popped from: a panic elsewhere leaves it whole.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wake(&self, wake: Wake) {
        if wake.lead {
            self.lead.notify_one();
        }
        if wake.standbys {
            self.standby.notify_all();
        }
    }

    /// Ends every pacer's loop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.lead.notify_all();
        self.standby.notify_all();
    }
}

/// The part a pacer thread plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Role {
    /// Sleeps until the earliest deadline and sends what is due: everything, while one core
    /// keeps up. One pacer sending everything costs less CPU than several sharing it (half
    /// the wake-ups at two cores, BENCHMARKS.md), so the others only stand by.
    Lead,
    /// Looks every `check` for frames overdue by [`STANDBY_GRACE`] and sends them. On a
    /// virtual machine the host stops a virtual CPU for milliseconds at a time, several
    /// times a second (`loadgen stalls` here: 2-15 ms, and one CPU at a time in all but a
    /// few), and a lead on the stopped CPU sends nothing until it runs again; a standby
    /// pinned to another CPU sends for it. It also shares the work when there is more than
    /// one core's worth. While the heap is empty it sleeps until woken: an idle server does
    /// not wake a thousand times a second.
    Standby { check: Duration },
}

impl Role {
    /// The role of the `k`-th pacer: the first leads, the k-th standby looks every k ms.
    pub fn of(k: usize) -> Role {
        match k {
            0 => Role::Lead,
            k => Role::Standby {
                check: STANDBY_CHECK * k as u32,
            },
        }
    }

    /// How long to sleep, given the earliest deadline on the heap: zero to send now, `None`
    /// to sleep until woken.
    pub fn rest(self, earliest: Option<Instant>, now: Instant) -> Option<Duration> {
        match self {
            Role::Lead => earliest.map(|due| due.saturating_duration_since(now)),
            Role::Standby { check } => match earliest {
                None => None,
                Some(due) if now.saturating_duration_since(due) >= STANDBY_GRACE => {
                    Some(Duration::ZERO)
                }
                Some(_) => Some(check),
            },
        }
    }
}
