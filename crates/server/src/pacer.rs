//! Frames leave from a few pacer threads, not from each session's own thread.
//!
//! A session's connection thread handles its RTSP requests and RTCP; its frames are sent by the
//! pacers: one thread per core, sharing one heap of the sessions' next frame deadlines.
//! Measured on two cores (BENCHMARKS.md), waking a thread per session per frame cost three
//! times the kernel's own cost of sending the frames, because a wake-up (a timer, a context
//! switch, a poll set up again) costs more than handing the kernel one segmented datagram. A
//! pacer wakes at a deadline and sends every frame due within the next [`BATCH_WINDOW`], so at
//! a thousand sessions one wake-up sends about ten frames.
//!
//! One pacer, the lead, sends everything while it keeps up; the others stand by, each pinned to
//! its own core, and send what the lead has left overdue (see [`Role`]): on a virtual machine
//! the host stops one CPU for milliseconds at a time, and with a single sender every frame due
//! meanwhile was late.
//!
//! Deadlines stay absolute (`start + n * period`, see [`Playout::next_deadline`]), so a frame
//! sent early or late does not move the next one: the cost of batching is jitter under the
//! window, never drift. A session and the pacers share the session's [`Playout`] behind a mutex
//! that only they take, briefly; a PLAY, PAUSE or teardown bumps its generation, so an entry the
//! heap still holds from before is dropped instead of sending.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rtsp_proto::rtcp::{self, RtcpPacket, SenderReport};
use rtsp_proto::rtp::JPEG_CLOCK_RATE;

use crate::media::PreparedMedia;
use crate::transport::{MediaTransport, RtpStamp, Sent};

/// How far ahead of its deadline a pacer sends a frame that is due soon after the one that
/// woke it: each wake-up serves every session due within this window, frames are at most this
/// early, and the pacer never sleeps less than this. (Sleeping a minimum after the deadline
/// instead made frames late by more than the window: short sleeps overshoot on this VM.)
pub const BATCH_WINDOW: Duration = Duration::from_micros(500);

/// How late a frame may be sent: GStreamer's default jitter buffer (200 ms) drops a frame
/// later than this, so past it a pacer that fell behind skips ahead instead of catching up.
pub const MAX_LATE: Duration = Duration::from_millis(200);

/// Who the server says it is in RTCP SDES and the Server header.
pub const SERVER_NAME: &str = concat!("mjpeg-rtsp/", env!("CARGO_PKG_VERSION"));

/// A session's stream as it goes out: what is sent, where, and the RTP state an SR reports.
pub struct Playout {
    /// The client, for logs.
    pub peer: SocketAddr,
    pub media: Arc<PreparedMedia>,
    pub transport: MediaTransport,
    pub ssrc: u32,
    pub seq: u16,
    pub rtptime_base: u32,
    /// The next frame to send, counted from the start of the file (keeps counting across
    /// loops so RTP timestamps only grow).
    pub position: u64,
    /// While playing: when frame `.1` is due (`.0`).
    pub clock: Option<(Instant, u64)>,
    /// The end of the file was reached (and not looping): BYE sent, nothing more to send.
    pub finished: bool,
    pub fps: f64,
    pub looping: bool,
    /// RTP packets and payload octets sent, for sender reports.
    pub packets: u32,
    pub octets: u32,
    /// Bumped by every PLAY, PAUSE and teardown; see the module comment.
    pub generation: u64,
}

impl Playout {
    /// A stream at the start of `media`, paused.
    pub fn new(
        peer: SocketAddr,
        media: Arc<PreparedMedia>,
        transport: MediaTransport,
        rtp: (u32, u16, u32),
        fps: f64,
        looping: bool,
    ) -> Playout {
        let (ssrc, seq, rtptime_base) = rtp;
        Playout {
            peer,
            media,
            transport,
            ssrc,
            seq,
            rtptime_base,
            position: 0,
            clock: None,
            finished: false,
            fps,
            looping,
            packets: 0,
            octets: 0,
            generation: 0,
        }
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.fps)
    }

    /// Moves the position past the frames more than [`MAX_LATE`] behind their deadlines,
    /// and says how many that was. Sending them would put seconds of video on the wire at
    /// once (after a pacer could not keep up), only for the receiver to drop them.
    fn skip_late_frames(&mut self, now: Instant) -> u64 {
        let Some((start, origin)) = self.clock else {
            return 0;
        };
        let Some(cutoff) = now.checked_sub(MAX_LATE) else {
            return 0;
        };
        // The first frame due at or after the cutoff.
        let behind = cutoff.saturating_duration_since(start).as_secs_f64() * self.fps;
        let mut first_in_time = origin + behind.ceil() as u64;
        if !self.looping {
            first_in_time = first_in_time.min(self.media.frames.len() as u64);
        }
        if self.finished || first_in_time <= self.position {
            return 0;
        }
        let skipped = first_in_time - self.position;
        self.position = first_in_time;
        skipped
    }

    /// When the next frame is due, while playing.
    pub fn next_deadline(&self) -> Option<Instant> {
        let (start, origin) = self.clock?;
        if self.finished {
            return None;
        }
        Some(start + self.period().mul_f64((self.position - origin) as f64))
    }

    /// The RTP timestamp of frame `frame` (counted from the start, across loops).
    pub fn rtptime(&self, frame: u64) -> u32 {
        self.rtptime_at(frame as f64)
    }

    fn rtptime_at(&self, frame: f64) -> u32 {
        let ticks = (frame * JPEG_CLOCK_RATE as f64 / self.fps).round() as u64;
        self.rtptime_base.wrapping_add(ticks as u32)
    }

    /// The media position now, in (fractional) frames: what an SR's RTP timestamp says.
    fn position_now(&self, now: Instant) -> f64 {
        match self.clock {
            Some((start, origin)) if !self.finished => {
                origin as f64 + now.saturating_duration_since(start).as_secs_f64() * self.fps
            }
            _ => self.position as f64,
        }
    }

    /// SR + SDES (+ BYE when leaving), as one compound packet.
    pub fn rtcp_report(&self, now: Instant, bye: bool) -> Vec<u8> {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut packets = vec![
            RtcpPacket::SenderReport(SenderReport {
                ssrc: self.ssrc,
                ntp: rtcp::ntp_from_unix(unix),
                rtp_timestamp: self.rtptime_at(self.position_now(now)),
                packet_count: self.packets,
                octet_count: self.octets,
                reports: vec![],
            }),
            RtcpPacket::SourceDescription(vec![(self.ssrc, SERVER_NAME.to_string())]),
        ];
        if bye {
            packets.push(RtcpPacket::Goodbye {
                ssrcs: vec![self.ssrc],
                reason: None,
            });
        }
        let mut out = Vec::with_capacity(128);
        rtcp::write_compound(&packets, &mut out);
        out
    }

    /// Sends every frame whose deadline has passed; at the end of the file (not looping) says
    /// BYE and stops. Frames more than [`MAX_LATE`] late are skipped, and they and frames a
    /// client was too slow for count in `dropped`. Packets are written into `scratch`, which
    /// the pacer reuses for every session it serves: one buffer that stays in the cache
    /// instead of one per session that is cold by its next frame.
    pub fn send_due_frames(&mut self, now: Instant, dropped: &AtomicU64, scratch: &mut Vec<u8>) {
        let skipped = self.skip_late_frames(now);
        if skipped > 0 {
            dropped.fetch_add(skipped, Ordering::Relaxed);
            log::info!("{}: {skipped} frames skipped: too late to send", self.peer);
        }
        while let Some(deadline) = self.next_deadline() {
            if deadline > now {
                break;
            }
            let frames = self.media.frames.len() as u64;
            if self.position >= frames && !self.looping {
                self.finished = true;
                log::info!("{}: end of {}: BYE", self.peer, self.media.path.display());
                let _ = self.transport.send_rtcp(&self.rtcp_report(now, true));
                break;
            }
            let index = (self.position % frames) as usize;
            let timestamp = self.rtptime(self.position);
            let media = &self.media;
            let result = if self.transport.is_lab() {
                // The lab's client gets the file's own JPEG, whatever kind it is.
                let jpeg = &media.data[media.frames[index].jpeg.clone()];
                self.transport
                    .send_lab(jpeg, timestamp, &mut self.seq, scratch)
            } else {
                match media.rtp_frame(index) {
                    Ok(frame) => {
                        let (params, scan) = frame.parts();
                        let stamp = RtpStamp {
                            timestamp,
                            ssrc: self.ssrc,
                        };
                        self.transport
                            .send_rtp(params, scan, stamp, &mut self.seq, scratch)
                    }
                    Err(crate::media::Unavailable::Skipped) => Ok(Sent::default()),
                    Err(crate::media::Unavailable::NotReady) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        log::debug!("{}: frame {index} not converted yet: skipped", self.peer);
                        Ok(Sent::default())
                    }
                }
            };
            match result {
                Ok(sent) if sent.dropped => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    log::info!(
                        "{}: frame {index} dropped: its {} send queue is full",
                        self.peer,
                        self.transport.name()
                    )
                }
                Ok(sent) => {
                    self.packets = self.packets.wrapping_add(sent.packets);
                    self.octets = self.octets.wrapping_add(sent.octets);
                }
                Err(e) => log::warn!("{}: sending frame {index}: {e}", self.peer),
            }
            self.position += 1;
        }
    }
}

/// A session's playout as the session thread and a pacer share it.
pub type SharedPlayout = Arc<Mutex<Playout>>;

/// Locks a playout; a pacer that panicked while holding it leaves the state as usable as any.
pub fn lock(playout: &SharedPlayout) -> MutexGuard<'_, Playout> {
    playout.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session's next deadline, as a pacer holds it.
struct Entry {
    due: Instant,
    generation: u64,
    playout: SharedPlayout,
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

/// How overdue a frame must be before a standby pacer sends it instead of the lead. The lead
/// wakes within 0.6 ms of its deadline 999 times in 1000 (measured at 500 sessions); a frame
/// later than this means the lead is stopped or has more than a core's worth to send.
const STANDBY_GRACE: Duration = Duration::from_micros(500);

/// How often the first standby looks for overdue frames; the k-th looks every k times this,
/// so that many cores do not mean many wake-ups. A frame the lead cannot send goes out at
/// most about this plus [`STANDBY_GRACE`] late.
const STANDBY_CHECK: Duration = Duration::from_millis(1);

/// The most entries a pacer takes off the heap at once: while it sends them, another pacer
/// can take the next ones, and a pacer stopped mid-batch holds up no more than these.
const MAX_BATCH: usize = 64;

/// Every playing session's next deadline, one heap the pacers share.
struct Schedule {
    queue: Mutex<Queue>,
    /// Wakes the lead early: a session is due before what it sleeps for, or the server closes.
    lead: Condvar,
    /// Wakes the standbys: the heap is no longer empty, or the server closes.
    standby: Condvar,
    /// Frames a client was too slow for (the server's count).
    dropped: Arc<AtomicU64>,
}

struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    closed: bool,
}

/// Whom a push onto the heap must wake.
#[derive(Debug, PartialEq)]
struct Wake {
    /// One of the entries is now the earliest, and the lead sleeps until the earliest it saw.
    lead: bool,
    /// The heap was empty, and the standbys sleep until woken while it is.
    standbys: bool,
}

impl Queue {
    /// Puts `entries` on the heap, and says whom that must wake.
    fn push(&mut self, entries: impl IntoIterator<Item = Entry>) -> Wake {
        let before = self.heap.peek().map(|Reverse(e)| e.due);
        self.heap.extend(entries.into_iter().map(Reverse));
        let after = self.heap.peek().map(|Reverse(e)| e.due);
        Wake {
            lead: after.is_some() && after != before,
            standbys: before.is_none() && after.is_some(),
        }
    }
}

impl Schedule {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is only pushed to and popped from: a panic elsewhere leaves it whole.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, wake: Wake) {
        if wake.lead {
            self.lead.notify_one();
        }
        if wake.standbys {
            self.standby.notify_all();
        }
    }
}

/// The part a pacer thread plays.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
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
    /// How long to sleep, given the earliest deadline on the heap: zero to send now, `None`
    /// to sleep until woken.
    fn rest(self, earliest: Option<Instant>, now: Instant) -> Option<Duration> {
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

/// The pacer threads of a server. They end when this is dropped.
pub struct Pacers {
    schedule: Arc<Schedule>,
}

impl Pacers {
    /// One pacer thread per core (at least two, so that a lead held up by one session's
    /// lock does not hold up the rest): a lead and standbys, each pinned to its own core.
    pub fn spawn(dropped: Arc<AtomicU64>) -> std::io::Result<Pacers> {
        let schedule = Arc::new(Schedule {
            queue: Mutex::new(Queue {
                heap: BinaryHeap::new(),
                closed: false,
            }),
            lead: Condvar::new(),
            standby: Condvar::new(),
            dropped,
        });
        let cpus = allowed_cpus();
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for me in 0..count {
            let role = match me {
                0 => Role::Lead,
                k => Role::Standby {
                    check: STANDBY_CHECK * k as u32,
                },
            };
            let cpu = (!cpus.is_empty()).then(|| cpus[me % cpus.len()]);
            let schedule = schedule.clone();
            std::thread::Builder::new()
                .name(format!("pacer-{me}"))
                .spawn(move || {
                    // Refused (a container's CPU set, say): the thread runs anywhere, as it
                    // would have.
                    if let Some(Err(e)) = cpu.map(pin_to) {
                        log::debug!("pacer-{me} not pinned: {e}");
                    }
                    pace(&schedule, role)
                })?;
        }
        Ok(Pacers { schedule })
    }

    /// Hands a playing session to the pacers. Call with the playout's state as PLAY left it:
    /// its next deadline and generation (an entry from before that is dropped).
    pub fn play(&self, playout: &SharedPlayout, state: &Playout) {
        let Some(due) = state.next_deadline() else {
            return;
        };
        let entry = Entry {
            due,
            generation: state.generation,
            playout: playout.clone(),
        };
        let wake = self.schedule.lock().push([entry]);
        self.schedule.wake(wake);
    }
}

impl Drop for Pacers {
    fn drop(&mut self) {
        self.schedule.lock().closed = true;
        self.schedule.lead.notify_all();
        self.schedule.standby.notify_all();
    }
}

/// A pacer's loop: sleep as its [`Role`] says, then take what is due within
/// [`BATCH_WINDOW`] of now (up to [`MAX_BATCH`] sessions) off the heap, send it without the
/// heap's lock, and put each session back with its next deadline.
fn pace(schedule: &Schedule, role: Role) {
    let signal = match role {
        Role::Lead => &schedule.lead,
        Role::Standby { .. } => &schedule.standby,
    };
    // RTP sends put only headers here (payloads go from the shared frame); the lab's
    // whole-JPEG datagrams grow it to their size.
    let mut scratch = Vec::with_capacity(4096);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut queue = schedule.lock();
    while !queue.closed {
        let now = Instant::now();
        let earliest = queue.heap.peek().map(|Reverse(e)| e.due);
        match role.rest(earliest, now) {
            None => queue = signal.wait(queue).unwrap_or_else(|e| e.into_inner()),
            Some(wait) if !wait.is_zero() => {
                queue = signal
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            Some(_) => {
                let horizon = now + BATCH_WINDOW;
                while batch.len() < MAX_BATCH
                    && queue.heap.peek().is_some_and(|Reverse(e)| e.due <= horizon)
                {
                    batch.push(queue.heap.pop().expect("peeked").0);
                }
                drop(queue);
                send_batch(&mut batch, horizon, &schedule.dropped, &mut scratch);
                queue = schedule.lock();
                let mut wake = queue.push(batch.drain(..));
                // The lead looks at the heap again before it sleeps.
                wake.lead &= role != Role::Lead;
                schedule.wake(wake);
            }
        }
    }
}

/// Sends the frames of `batch` due by `horizon`, and leaves in it the sessions still playing,
/// each with its next deadline.
fn send_batch(
    batch: &mut Vec<Entry>,
    horizon: Instant,
    dropped: &AtomicU64,
    scratch: &mut Vec<u8>,
) {
    // By a session's next frame its state has long left the cache. Asking for all of this
    // batch's at once lets the misses overlap instead of each stalling a send in turn
    // (measured, about a microsecond a frame at a thousand sessions).
    for entry in batch.iter() {
        prefetch(Arc::as_ptr(&entry.playout));
    }
    batch.retain_mut(|entry| {
        let mut p = lock(&entry.playout);
        if p.generation != entry.generation {
            return false;
        }
        // A bug in one session's send must not stop the others: that session stops, the
        // pacer goes on.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.send_due_frames(horizon, dropped, scratch);
            p.next_deadline()
        }))
        .unwrap_or_else(|_| {
            log::error!("{}: sending a frame panicked: its stream stops", p.peer);
            None
        });
        match next {
            Some(due) => {
                entry.due = due;
                true
            }
            None => false,
        }
    });
}

/// The CPUs this thread may run on, in order; empty where that cannot be asked.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Keeps the calling thread on `cpu`: a standby's timer must not be on the same stopped CPU
/// as the lead's (and `loadgen stalls` watches each CPU from a thread of its own).
pub fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as in `allowed_cpus`; the set outlives the call.
    let refused = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0
    };
    if refused {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Starts loading `*state` into the cache, without waiting for it.
fn prefetch<T>(state: *const T) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..std::mem::size_of::<T>()).step_by(64) {
        // SAFETY: a prefetch is a hint: it never faults and changes no memory, and the
        // pointer is in bounds of `*state` (or one past it).
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>((state as *const i8).wrapping_add(line));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = state;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::PreparedMedia;
    use rtsp_proto::rtp::RtpPacket;
    use std::cell::Cell;
    use std::net::UdpSocket;
    use std::path::Path;

    const FPS: f64 = 100.0;

    fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        done()
    }

    /// A paused playout of the sample video whose RTP goes to a new socket, and that socket.
    fn playout() -> (SharedPlayout, UdpSocket) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos/video.mjpeg");
        let media = Arc::new(PreparedMedia::prepare(&path, 1 << 20).unwrap());
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.connect(sink.local_addr().unwrap()).unwrap();
        let transport = MediaTransport::Udp {
            rtp,
            rtcp: Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap()),
            gso: Cell::new(true),
        };
        let peer = sink.local_addr().unwrap();
        let p = Playout::new(peer, media, transport, (7, 100, 0), FPS, true);
        (Arc::new(Mutex::new(p)), sink)
    }

    fn play(pacers: &Pacers, shared: &SharedPlayout) {
        let mut p = lock(shared);
        let position = p.position;
        p.clock = Some((Instant::now(), position));
        p.generation += 1;
        pacers.play(shared, &p);
    }

    /// RTP timestamps of the next `n` frames (marker packets) reaching `sink`.
    fn frames(sink: &UdpSocket, n: usize) -> Vec<u32> {
        sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        while out.len() < n {
            let len = sink.recv(&mut buf).expect("a packet within 2 s");
            let packet = RtpPacket::parse(&buf[..len]).unwrap();
            if packet.header.marker {
                out.push(packet.header.timestamp);
            }
        }
        out
    }

    #[test]
    fn the_lead_sleeps_until_a_deadline_and_a_standby_sends_only_what_the_lead_left_late() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(Role::Lead.rest(None, now), None);
        assert_eq!(Role::Lead.rest(Some(now + ms(3)), now), Some(ms(3)));
        assert_eq!(
            Role::Lead.rest(Some(now - ms(3)), now),
            Some(Duration::ZERO)
        );

        let standby = Role::Standby { check: ms(2) };
        assert_eq!(standby.rest(None, now), None);
        assert_eq!(standby.rest(Some(now + ms(3)), now), Some(ms(2)));
        // Due, but not yet overdue by the grace: still the lead's.
        let due = now - STANDBY_GRACE / 2;
        assert_eq!(standby.rest(Some(due), now), Some(ms(2)));
        let overdue = now - STANDBY_GRACE;
        assert_eq!(standby.rest(Some(overdue), now), Some(Duration::ZERO));
    }

    #[test]
    fn a_push_wakes_the_lead_for_an_earlier_deadline_and_the_standbys_for_an_empty_heap() {
        let (shared, _sink) = playout();
        let now = Instant::now();
        let entry = |ms: u64| Entry {
            due: now + Duration::from_millis(ms),
            generation: 0,
            playout: shared.clone(),
        };
        let mut queue = Queue {
            heap: BinaryHeap::new(),
            closed: false,
        };
        let wake = |lead, standbys| Wake { lead, standbys };
        // Everyone sleeps without an alarm on an empty heap.
        assert_eq!(queue.push([entry(10)]), wake(true, true));
        assert_eq!(queue.push([entry(20), entry(10)]), wake(false, false));
        assert_eq!(queue.push([entry(30), entry(5)]), wake(true, false));
        assert_eq!(queue.push([]), wake(false, false));
        assert_eq!(queue.heap.len(), 5);
    }

    #[test]
    fn a_lead_held_up_by_one_session_does_not_hold_up_the_others() {
        let pacers = Pacers::spawn(Arc::new(AtomicU64::new(0))).unwrap();
        let (stuck, _stuck_sink) = playout();
        let (other, sink) = playout();
        play(&pacers, &stuck);
        // Half a period later, so the two are never due in the same batch.
        std::thread::sleep(Duration::from_secs_f64(0.5 / FPS));
        play(&pacers, &other);
        frames(&sink, 2);

        // Whoever takes the stuck session next waits for this lock; the other session's
        // frames go on coming, one per period.
        let held = lock(&stuck);
        let period = (90_000.0 / FPS) as u32;
        let meanwhile = frames(&sink, 20);
        assert!(meanwhile
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == period));
        drop(held);
    }

    #[test]
    fn frames_far_behind_their_deadlines_are_skipped_not_sent_at_once() {
        let (shared, sink) = playout();
        let mut p = lock(&shared);
        // Playing for 5 s without a frame sent: 500 frames due at 100 fps.
        p.clock = Some((Instant::now() - Duration::from_secs(5), 0));
        let now = Instant::now();
        let dropped = AtomicU64::new(0);
        p.send_due_frames(now, &dropped, &mut Vec::new());
        let due = p.position;
        assert!((500..=502).contains(&due), "position {due}");
        // Only the last 200 ms of them were sent; the rest counted as dropped.
        let sent = due - dropped.load(Ordering::Relaxed);
        assert!((19..=21).contains(&sent), "{sent} frames sent");
        // The first to arrive is one of those, not the start of the file.
        let first = frames(&sink, 1)[0];
        assert_eq!(first, p.rtptime(due - sent));
        assert_eq!(p.next_deadline().map(|d| d > now), Some(true));
    }

    #[test]
    fn frames_flow_stop_on_pause_resume_where_they_stopped_and_a_teardown_frees_the_sockets() {
        let pacers = Pacers::spawn(Arc::new(AtomicU64::new(0))).unwrap();
        let (shared, sink) = playout();
        let period = (90_000.0 / FPS) as u32;

        play(&pacers, &shared);
        let first = frames(&sink, 5);
        assert!(first.windows(2).all(|w| w[1].wrapping_sub(w[0]) == period));

        // PAUSE: once what was already sent is read, nothing more comes.
        {
            let mut p = lock(&shared);
            p.clock = None;
            p.generation += 1;
        }
        let sent = lock(&shared).position;
        sink.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 65536];
        while sink.recv(&mut buf).is_ok() {}
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            sink.recv(&mut buf).is_err(),
            "a frame was sent while paused"
        );
        assert_eq!(lock(&shared).position, sent);
        sink.set_nonblocking(false).unwrap();

        // PLAY again (twice, as a client repeating itself might): one stream, on from where
        // it paused, one frame per period.
        play(&pacers, &shared);
        play(&pacers, &shared);
        let resumed = frames(&sink, 10);
        assert_eq!(resumed[0], lock(&shared).rtptime(sent));
        assert!(resumed
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == period));

        // Teardown: the pacer lets go of the playout (and its sockets) at its next deadline.
        lock(&shared).generation += 1;
        assert!(
            wait_until(Duration::from_secs(2), || Arc::strong_count(&shared) == 1),
            "the pacer still holds a torn-down session"
        );
    }
}
