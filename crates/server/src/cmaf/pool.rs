//! The encode workers: a fixed number of threads for the whole server, started on first use,
//! at a lower priority than the pacers (an encode must never delay an RTSP frame), taking
//! jobs from one bounded queue. A player's request goes to the front; work ahead of the
//! players (the next segments) goes to the back and is dropped when the queue is full.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

/// Jobs waiting at most; work ahead beyond it is not queued.
pub const QUEUE_BOUND: usize = 64;
/// The encode workers' nice value: below the pacers, as the conversion workers are.
const ENCODE_NICE: i32 = 10;
/// How long an idle worker waits before it checks whether the pool is gone.
const IDLE_RECHECK: Duration = Duration::from_millis(500);

type Job = Box<dyn FnOnce() + Send>;

/// How urgent a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Someone waits for it: front of the queue, never refused.
    Demand,
    /// Work ahead: back of the queue, refused when it is full.
    Ahead,
}

struct Inner {
    queue: Mutex<VecDeque<Job>>,
    more: Condvar,
    /// Jobs a worker is doing now.
    running: std::sync::atomic::AtomicUsize,
}

/// The pool. Dropping it ends its workers (each finishes the job it has).
pub struct Pool {
    inner: Arc<Inner>,
    workers: usize,
    started: Mutex<bool>,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                more: Condvar::new(),
                running: Default::default(),
            }),
            workers: workers.max(1),
            started: Mutex::new(false),
        }
    }

    /// Queues `job`; false when it is work ahead and the queue is full.
    pub fn submit(&self, urgency: Urgency, job: impl FnOnce() + Send + 'static) -> bool {
        self.start();
        let mut q = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
        match urgency {
            Urgency::Demand => q.push_front(Box::new(job)),
            Urgency::Ahead if q.len() >= QUEUE_BOUND => return false,
            Urgency::Ahead => q.push_back(Box::new(job)),
        }
        self.inner.more.notify_one();
        true
    }

    /// Jobs waiting now, and jobs being done.
    pub fn load(&self) -> (usize, usize) {
        let queued = self.inner.queue.lock().map_or(0, |q| q.len());
        (queued, self.inner.running.load(Ordering::SeqCst))
    }

    fn start(&self) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
        for i in 0..self.workers {
            let inner = Arc::downgrade(&self.inner);
            let spawned = std::thread::Builder::new()
                .name(format!("encode-{i}"))
                .spawn(move || work(inner));
            if let Err(e) = spawned {
                log::error!("cannot start an encode worker: {e}");
            }
        }
    }
}

fn work(inner: Weak<Inner>) {
    crate::media::lower_priority(ENCODE_NICE, "encode worker");
    loop {
        let Some(pool) = inner.upgrade() else {
            return;
        };
        let job = {
            let q = pool.queue.lock().unwrap_or_else(|e| e.into_inner());
            let (mut q, _) = pool
                .more
                .wait_timeout_while(q, IDLE_RECHECK, |q| q.is_empty())
                .unwrap_or_else(|e| e.into_inner());
            let job = q.pop_front();
            if job.is_some() {
                pool.running.fetch_add(1, Ordering::SeqCst);
            }
            job
        };
        let Some(job) = job else { continue };
        // A job that panics costs its segment (its waiters see it fail), not the worker.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("an encode job panicked");
        }
        pool.running.fetch_sub(1, Ordering::SeqCst);
    }
}
