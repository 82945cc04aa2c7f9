//! The encode workers: a fixed number of threads for the whole server, started on first use,
//! taking jobs from two bounded queues. What a player waits for (demand) goes to workers at
//! the pacers' priority: on a busy machine, nice 10 gave a player's first segment a tenth of
//! a core (a 720p video took 10 to 20 s to start in Chromium). Work ahead of the players goes
//! to a worker at nice 10, so it never competes with a pacer or a waiting player; a job
//! queued ahead that a player then asks for is moved to the demand queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use super::store::PartKey;

/// Jobs waiting ahead at most; more work ahead is not queued. (The demand queue holds at
/// most a job per request waiting for it, so the HTTP connection bound bounds it.)
pub const QUEUE_BOUND: usize = 64;
/// The ahead worker's nice value: below the pacers, as the conversion workers are.
const AHEAD_NICE: i32 = 10;
/// How long an idle worker waits before it checks whether the pool is gone.
const IDLE_RECHECK: Duration = Duration::from_millis(500);

type Job = (PartKey, Box<dyn FnOnce() + Send>);

/// How urgent a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Someone waits for it: the demand queue, never refused.
    Demand,
    /// Work ahead: refused when its queue is full.
    Ahead,
}

#[derive(Default)]
struct Queues {
    demand: VecDeque<Job>,
    ahead: VecDeque<Job>,
}

struct Inner {
    queues: Mutex<Queues>,
    more: Condvar,
    running: AtomicUsize,
}

/// The pool. Dropping it ends its workers (each finishes the job it has).
pub struct Pool {
    inner: Arc<Inner>,
    demand_workers: usize,
    started: Mutex<bool>,
}

impl Pool {
    /// `workers` at the pacers' priority for demand, and one more at [`AHEAD_NICE`].
    pub fn new(workers: usize) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                queues: Mutex::new(Queues::default()),
                more: Condvar::new(),
                running: AtomicUsize::new(0),
            }),
            demand_workers: workers.max(1),
            started: Mutex::new(false),
        }
    }

    /// Queues `job`, which makes `key`; false when it is work ahead and the queue is full.
    pub fn submit(
        &self,
        key: PartKey,
        urgency: Urgency,
        job: impl FnOnce() + Send + 'static,
    ) -> bool {
        self.start();
        let mut q = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        match urgency {
            Urgency::Demand => q.demand.push_back((key, Box::new(job))),
            Urgency::Ahead if q.ahead.len() >= QUEUE_BOUND => return false,
            Urgency::Ahead => q.ahead.push_back((key, Box::new(job))),
        }
        self.inner.more.notify_all();
        true
    }

    /// Moves the job that makes `key` from the ahead queue to the demand queue, if it is
    /// still waiting there: someone now waits for it.
    pub fn promote(&self, key: &PartKey) {
        let mut q = self.inner.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = q.ahead.iter().position(|(k, _)| k == key) {
            let job = q.ahead.remove(at).expect("found just now");
            q.demand.push_back(job);
            self.inner.more.notify_all();
        }
    }

    /// Jobs waiting now, and jobs being done.
    pub fn load(&self) -> (usize, usize) {
        let queued = self
            .inner
            .queues
            .lock()
            .map_or(0, |q| q.demand.len() + q.ahead.len());
        (queued, self.inner.running.load(Ordering::SeqCst))
    }

    fn start(&self) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
        for i in 0..=self.demand_workers {
            let ahead = i == self.demand_workers;
            let inner = Arc::downgrade(&self.inner);
            let name = match ahead {
                true => "encode-ahead".to_string(),
                false => format!("encode-{i}"),
            };
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || work(inner, ahead));
            if let Err(e) = spawned {
                log::error!("cannot start an encode worker: {e}");
            }
        }
    }
}

/// A worker: demand first; the ahead worker takes work ahead when there is no demand.
fn work(inner: Weak<Inner>, ahead: bool) {
    if ahead {
        crate::media::lower_priority(AHEAD_NICE, "encode worker (ahead)");
    }
    loop {
        let Some(pool) = inner.upgrade() else {
            return;
        };
        let job = {
            let q = pool.queues.lock().unwrap_or_else(|e| e.into_inner());
            let idle = |q: &mut Queues| q.demand.is_empty() && (!ahead || q.ahead.is_empty());
            let (mut q, _) = pool
                .more
                .wait_timeout_while(q, IDLE_RECHECK, idle)
                .unwrap_or_else(|e| e.into_inner());
            let job = q.demand.pop_front().or_else(|| match ahead {
                true => q.ahead.pop_front(),
                false => None,
            });
            if job.is_some() {
                pool.running.fetch_add(1, Ordering::SeqCst);
            }
            job
        };
        let Some((_, job)) = job else { continue };
        // A job that panics costs its segment (its waiters see it fail), not the worker.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("an encode job panicked");
        }
        pool.running.fetch_sub(1, Ordering::SeqCst);
    }
}
