//! Frames leave from a few pacer threads, not from each session's own thread.
//!
//! A session's connection thread handles its RTSP requests and RTCP; its frames are sent by a
//! pacer: one thread per core, each with a heap of the next frame deadline of the sessions it
//! paces. Measured on two cores (BENCHMARKS.md), waking a thread per session per frame cost
//! three times the kernel's own cost of sending the frames, because a wake-up (a timer, a
//! context switch, a poll set up again) costs more than handing the kernel one segmented
//! datagram. A pacer wakes at a deadline and sends every frame due within the next
//! [`BATCH_WINDOW`], so at a thousand sessions one wake-up sends about ten frames.
//!
//! Deadlines stay absolute (`start + n * period`, see [`Playout::next_deadline`]), so a frame
//! sent early or late does not move the next one: the cost of batching is jitter under the
//! window, never drift. A session and its pacer share the session's [`Playout`] behind a mutex that only
//! they take, briefly; a PLAY, PAUSE or teardown bumps its generation, so an entry the pacer
//! still holds from before is dropped instead of sending.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
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
                    Some(frame) => {
                        let (params, scan) = frame.parts();
                        let stamp = RtpStamp {
                            timestamp,
                            ssrc: self.ssrc,
                        };
                        self.transport
                            .send_rtp(params, scan, stamp, &mut self.seq, scratch)
                    }
                    None => Ok(Sent::default()),
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

/// A pacer busier than this (parts per million of its time spent sending) gets no new
/// sessions while another is under it: see [`Pacers::play`].
const SPILL_LOAD: u32 = 500_000;

/// What a session handed to a pacer is taken to cost until the pacer's load shows it, if its
/// sessions so far cost less (parts per million of a core): about what one costs at 384x288
/// and 20 fps. A burst of new sessions then fills the first pacer by its estimate instead of
/// all landing there before its load has been measured again.
const MIN_SESSION_LOAD: u32 = 500;

/// How often a pacer tells how busy it was.
const LOAD_WINDOW: Duration = Duration::from_millis(100);

/// How busy a pacer is, as it last told, and what it was handed since.
#[derive(Default)]
struct Load {
    /// Parts per million of the last [`LOAD_WINDOW`] the pacer spent sending.
    busy: AtomicU32,
    /// Sessions it was pacing then, on average over the window.
    sessions: AtomicU32,
    /// Sessions handed to it since.
    handed: AtomicU32,
}

impl Load {
    /// Its load with the sessions handed since counted in, each at the average of its
    /// sessions (or at least [`MIN_SESSION_LOAD`]).
    fn estimate(&self) -> u32 {
        let busy = self.busy.load(Ordering::Relaxed);
        let sessions = self.sessions.load(Ordering::Relaxed).max(1);
        let handed = self.handed.load(Ordering::Relaxed);
        let each = (busy / sessions).max(MIN_SESSION_LOAD);
        busy.saturating_add(handed.saturating_mul(each))
    }

    /// The pacer's report: `busy` over its last window, pacing `sessions` on average.
    fn tell(&self, busy: u32, sessions: f64) {
        self.busy.store(busy, Ordering::Relaxed);
        self.sessions
            .store(sessions.ceil() as u32, Ordering::Relaxed);
        self.handed.store(0, Ordering::Relaxed);
    }
}

/// One pacer thread as [`Pacers`] sees it.
struct Lane {
    entries: mpsc::Sender<Entry>,
    load: Arc<Load>,
}

/// `count` lanes, and the receiving end of each one's channel.
fn lanes(count: usize) -> (Arc<[Lane]>, Vec<mpsc::Receiver<Entry>>) {
    let (lanes, receivers): (Vec<Lane>, Vec<_>) = (0..count)
        .map(|_| {
            let (entries, rx) = mpsc::channel();
            let load = Arc::new(Load::default());
            (Lane { entries, load }, rx)
        })
        .unzip();
    (lanes.into(), receivers)
}

/// The pacer threads of a server. They end when this is dropped.
pub struct Pacers {
    lanes: Arc<[Lane]>,
}

impl Pacers {
    /// One pacer thread per core.
    pub fn spawn(dropped: Arc<AtomicU64>) -> std::io::Result<Pacers> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (lanes, receivers) = lanes(count);
        for (me, rx) in receivers.into_iter().enumerate() {
            let pacer = Pacer {
                me,
                // Weak: the pacers end when `Pacers` is dropped and their channels close.
                lanes: Arc::downgrade(&lanes),
                dropped: dropped.clone(),
            };
            std::thread::Builder::new()
                .name(format!("pacer-{me}"))
                .spawn(move || pace(rx, &pacer))?;
        }
        Ok(Pacers { lanes })
    }

    /// Hands a playing session to a pacer. Call with the playout's state as PLAY left it:
    /// its next deadline and generation (an entry from before that is dropped).
    ///
    /// Sessions fill the first pacer until it is busy [`SPILL_LOAD`] of its time, and only
    /// then go to the least busy one. Measured at a thousand sessions (BENCHMARKS.md), one
    /// pacer sending everything costs less CPU than two sharing it: half the wake-ups, and
    /// the kernel's per-core buffers and caches stay on one core. Past the threshold, every
    /// core sends.
    pub fn play(&self, playout: &SharedPlayout, state: &Playout) {
        let Some(due) = state.next_deadline() else {
            return;
        };
        let lane = &self.lanes[choose_lane(self.lanes.iter().map(|l| l.load.estimate()))];
        lane.load.handed.fetch_add(1, Ordering::Relaxed);
        let _ = lane.entries.send(Entry {
            due,
            generation: state.generation,
            playout: playout.clone(),
        });
    }
}

/// The pacer a new session goes to, given each one's estimated load: the first under
/// [`SPILL_LOAD`], or else the least busy.
fn choose_lane(loads: impl Iterator<Item = u32> + Clone) -> usize {
    match loads.clone().position(|load| load < SPILL_LOAD) {
        Some(lane) => lane,
        None => loads
            .enumerate()
            .min_by_key(|&(_, load)| load)
            .map_or(0, |(lane, _)| lane),
    }
}

/// A pacer busier than this (parts per million) hands sessions to a pacer at least
/// [`REBALANCE_GAP`] less busy. Sessions stay where [`Pacers::play`] put them otherwise, and
/// that is a guess when many start at once or cost more than those before them.
const REBALANCE_LOAD: u32 = 800_000;

/// See [`REBALANCE_LOAD`].
const REBALANCE_GAP: u32 = 200_000;

/// What a pacer thread knows of itself and the others.
struct Pacer {
    /// Its index in `lanes`.
    me: usize,
    lanes: std::sync::Weak<[Lane]>,
    /// Frames a client was too slow for (the server's count).
    dropped: Arc<AtomicU64>,
}

impl Pacer {
    /// After a window `busy` parts per million: if that is too much and another pacer has
    /// room, hands it enough of this one's sessions to even the two out.
    fn rebalance(&self, heap: &mut BinaryHeap<Reverse<Entry>>, busy: u32) {
        if busy <= REBALANCE_LOAD {
            return;
        }
        let Some(lanes) = self.lanes.upgrade() else {
            return;
        };
        let others = lanes.iter().enumerate().filter(|&(i, _)| i != self.me);
        let Some((_, lane)) = others.min_by_key(|(_, lane)| lane.load.estimate()) else {
            return;
        };
        let theirs = lane.load.estimate();
        if theirs.saturating_add(REBALANCE_GAP) >= busy {
            return;
        }
        let moving = heap.len() as u64 * u64::from((busy - theirs) / 2) / u64::from(busy);
        for _ in 0..moving {
            let Some(Reverse(entry)) = heap.pop() else {
                break;
            };
            lane.load.handed.fetch_add(1, Ordering::Relaxed);
            if lane.entries.send(entry).is_err() {
                break;
            }
        }
        log::debug!(
            "pacer {}: {}% busy, {moving} sessions handed to a pacer {}% busy",
            self.me,
            busy / 10_000,
            theirs / 10_000
        );
    }
}

/// A pacer's loop: sleep until the earliest deadline, send what is due within
/// [`BATCH_WINDOW`] of now, put each session back with its next deadline. Every
/// [`LOAD_WINDOW`] it tells its lane how busy it was, and rebalances if it is too busy.
fn pace(rx: mpsc::Receiver<Entry>, pacer: &Pacer) {
    let Some(load) = pacer
        .lanes
        .upgrade()
        .map(|lanes| lanes[pacer.me].load.clone())
    else {
        return;
    };
    let dropped = &*pacer.dropped;
    let mut heap: BinaryHeap<Reverse<Entry>> = BinaryHeap::new();
    // RTP sends put only headers here (payloads go from the shared frame); the lab's
    // whole-JPEG datagrams grow it to their size.
    let mut scratch = Vec::with_capacity(4096);
    let mut window = Window::new(Instant::now());
    let mut due = Vec::new();
    loop {
        let woke = Instant::now();
        let horizon = woke + BATCH_WINDOW;
        while heap.peek().is_some_and(|Reverse(e)| e.due <= horizon) {
            due.push(heap.pop().expect("peeked").0);
        }
        // By a session's next frame its state has long left the cache. Asking for all of
        // this batch's at once lets the misses overlap instead of each stalling a send in
        // turn (measured, about a microsecond a frame at a thousand sessions).
        for entry in &due {
            prefetch(Arc::as_ptr(&entry.playout));
        }
        for entry in due.drain(..) {
            let next = {
                let mut p = lock(&entry.playout);
                if p.generation != entry.generation {
                    continue;
                }
                // A bug in one session's send must not stop the others this pacer serves:
                // that session stops, the pacer goes on.
                let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    p.send_due_frames(horizon, dropped, &mut scratch);
                    p.next_deadline()
                }));
                sent.unwrap_or_else(|_| {
                    log::error!("{}: sending a frame panicked: its stream stops", p.peer);
                    None
                })
            };
            if let Some(due) = next {
                heap.push(Reverse(Entry { due, ..entry }));
            }
        }
        let now = Instant::now();
        if let Some(busy) = window.round(woke, now, heap.len(), &load) {
            pacer.rebalance(&mut heap, busy);
        }
        let received = match heap.peek() {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(Reverse(e)) => match e.due.checked_duration_since(now) {
                Some(wait) => rx.recv_timeout(wait),
                None => continue,
            },
        };
        match received {
            Ok(entry) => heap.push(Reverse(entry)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(entry) = rx.try_recv() {
            heap.push(Reverse(entry));
        }
    }
}

/// A pacer's account of its current [`LOAD_WINDOW`].
struct Window {
    start: Instant,
    /// The end of the last round of sends.
    last: Instant,
    /// Time spent sending.
    busy: Duration,
    /// Sessions paced, times how long: a session that joined halfway counts half, so that
    /// sessions arriving in a burst are not taken for cheap ones.
    session_seconds: f64,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            start: now,
            last: now,
            busy: Duration::ZERO,
            session_seconds: 0.0,
        }
    }

    /// A round of sends from `woke` to `now`, after which the pacer has `sessions`; at the
    /// end of a window it tells `load`, and returns what it told (parts per million busy).
    fn round(&mut self, woke: Instant, now: Instant, sessions: usize, load: &Load) -> Option<u32> {
        self.busy += now - woke;
        self.session_seconds += sessions as f64 * (now - self.last).as_secs_f64();
        self.last = now;
        let elapsed = (now - self.start).as_secs_f64();
        if sessions == 0 {
            load.tell(0, 0.0);
            *self = Window::new(now);
            None
        } else if now - self.start >= LOAD_WINDOW {
            let busy = (self.busy.as_secs_f64() / elapsed * 1e6) as u32;
            load.tell(busy, self.session_seconds / elapsed);
            *self = Window::new(now);
            Some(busy)
        } else {
            None
        }
    }
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
    fn sessions_fill_the_first_pacer_then_go_to_the_least_busy() {
        let choose = |loads: &[u32]| choose_lane(loads.iter().copied());
        assert_eq!(choose(&[0, 0]), 0);
        assert_eq!(choose(&[SPILL_LOAD - 1, 0]), 0);
        assert_eq!(choose(&[SPILL_LOAD, 0]), 1);
        assert_eq!(choose(&[SPILL_LOAD, SPILL_LOAD - 1, 0]), 1);
        assert_eq!(choose(&[900_000, 600_000, 700_000]), 1);
        assert_eq!(choose(&[600_000, 900_000]), 0);
        assert_eq!(choose(&[]), 0);
    }

    #[test]
    fn sessions_handed_since_the_last_report_count_at_the_average_cost() {
        let load = Load::default();
        assert_eq!(load.estimate(), 0);
        // Nothing measured yet: a burst counts at the minimum cost each.
        load.handed.store(1000, Ordering::Relaxed);
        assert_eq!(load.estimate(), 1000 * MIN_SESSION_LOAD);
        // 400 sessions took 40% of the time: the next ones count at 0.1% each.
        load.tell(400_000, 400.0);
        assert_eq!(load.estimate(), 400_000);
        load.handed.store(100, Ordering::Relaxed);
        assert_eq!(load.estimate(), 500_000);
        assert_eq!(choose_lane([load.estimate(), 0].into_iter()), 1);
    }

    #[test]
    fn a_pacer_too_busy_hands_sessions_to_one_with_room() {
        let (lanes, receivers) = lanes(2);
        lanes[1].load.tell(100_000, 100.0);
        let pacer = Pacer {
            me: 0,
            lanes: Arc::downgrade(&lanes),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let (shared, _sink) = playout();
        let mut heap: BinaryHeap<_> = (0..10)
            .map(|_| {
                Reverse(Entry {
                    due: Instant::now(),
                    generation: 0,
                    playout: shared.clone(),
                })
            })
            .collect();

        // Busy, but not too busy: nothing moves.
        pacer.rebalance(&mut heap, REBALANCE_LOAD);
        assert_eq!(heap.len(), 10);
        // 90% against 10%: 4 of 10 sessions go, which evens the two out at about 50%.
        pacer.rebalance(&mut heap, 900_000);
        assert_eq!(heap.len(), 6);
        assert_eq!(receivers[1].try_iter().count(), 4);
        assert_eq!(lanes[1].load.handed.load(Ordering::Relaxed), 4);
        // Too busy, but so is the other one: nothing moves.
        lanes[1].load.tell(750_000, 100.0);
        pacer.rebalance(&mut heap, 900_000);
        assert_eq!(heap.len(), 6);
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
