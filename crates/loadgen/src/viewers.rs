//! The HTTP viewers: N connections, each sending one GET for a Motion-JPEG stream and reading
//! its parts, shared between a few threads that wait on them with epoll.
//!
//! Receiving must cost little, so that the sender is what is measured: a part's body is
//! discarded in the kernel (`recv` with `MSG_TRUNC` copies nothing out of a TCP socket), and
//! only heads and each JPEG's last bytes are read ([`crate::parts`]). Sockets are read in
//! rounds, with a pause of [`RECEIVE_PAUSE`] after a round that found little, so a thread
//! wakes some hundreds of times a second rather than once per frame. A frame's arrival is the
//! kernel's receive stamp (SO_TIMESTAMPNS) of the last segment of the read that completed it,
//! so the pause and the receiver's own scheduling are not in it; without a stamp, the read's
//! own time.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::parts::{FrameBook, PartReader, Want, TAIL};

/// How long a receiving thread rests after a round that did not fill its event list: a TCP
/// receive buffer holds many frames, so this only batches the reads.
const RECEIVE_PAUSE: Duration = Duration::from_millis(2);

/// Bytes read at a time where the reader looks at them (heads, JPEG tails): a part head is
/// some 70 bytes, so most of each body is discarded rather than copied.
const READ_CHUNK: usize = 512;

/// Most bodies' bytes discarded per call (a bound on what a kernel that ignored `MSG_TRUNC`
/// could write into the buffer passed).
const DISCARD_MAX: usize = 1 << 16;

/// Seconds before the window from which frames are looked at: a frame due at the window's
/// start may arrive just before it, and the most punctual frame fixes every slot.
const KEPT_BEFORE: f64 = 1.0;

/// Connections opened per round while the viewers are still connecting, so the first ones
/// are read while the last ones connect.
const CONNECT_BATCH: usize = 16;

/// What the viewers' threads and the step that measures them share: how many are connected,
/// and the measured window once it is set.
pub struct Clock {
    base: Instant,
    /// Window start, end and when receiving stops (the end plus a grace for the window's last
    /// frames to arrive), ns after `base`; 0 until set.
    window: [AtomicU64; 3],
    /// Viewers whose connection was tried (connected or failed).
    pub connected: AtomicUsize,
    /// Stop now (a step that could not start).
    pub stop: AtomicBool,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            base: Instant::now(),
            window: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            connected: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }
}

impl Clock {
    /// Sets the measured window: frames due in `[start, end)` on their viewer's frame clock
    /// are counted, and those arriving until `end + grace` are seen.
    pub fn open_window(&self, start: Instant, end: Instant, grace: Duration) {
        let ns = |t: Instant| (t - self.base).as_nanos().max(1) as u64;
        self.window[1].store(ns(end), Ordering::SeqCst);
        self.window[2].store(ns(end + grace), Ordering::SeqCst);
        self.window[0].store(ns(start), Ordering::SeqCst);
    }

    /// The measured window, once set.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let start = self.window[0].load(Ordering::SeqCst);
        let end = self.window[1].load(Ordering::SeqCst);
        (start > 0).then(|| {
            (
                self.base + Duration::from_nanos(start),
                self.base + Duration::from_nanos(end),
            )
        })
    }

    /// Whether receiving is over at `now`: stopped, or the window and its grace are past.
    pub fn over(&self, now: Instant) -> bool {
        let stop_at = self.window[2].load(Ordering::SeqCst);
        self.stop.load(Ordering::SeqCst)
            || (self.window[0].load(Ordering::SeqCst) > 0
                && now >= self.base + Duration::from_nanos(stop_at))
    }

    /// Seconds from the clock's start to `t`.
    pub fn secs(&self, t: Instant) -> f64 {
        (t - self.base).as_secs_f64()
    }
}

/// What one viewer received.
#[derive(Debug, Default, Clone)]
pub struct ViewerCount {
    /// Every frame that arrived: its position on the viewer's
    /// frame clock (frames of the file since its first, those skipped included) and its
    /// arrival, seconds on the [`Clock`].
    pub frames: Vec<(u64, f64)>,
    /// Parts that were no frame of the file (placed as the next frame).
    pub unidentified: u64,
    /// Why the stream failed, if it did.
    pub error: Option<String>,
    /// The server closed the stream.
    pub ended: bool,
    last: Option<u32>,
    position: u64,
}

impl ViewerCount {
    /// A part of `len` bytes ending in `tail` completed at `at`.
    fn frame(&mut self, book: &FrameBook, len: usize, tail: &[u8; TAIL], at: f64) {
        let n = book.len().max(1) as u32;
        let next = self.last.map(|l| (l + 1) % n);
        let index = book.identify(len, tail, next);
        if self.last.is_some() {
            let skipped = match (next, index) {
                (Some(x), Some(i)) => u64::from((i + n - x) % n),
                _ => 0,
            };
            self.position += 1 + skipped;
        }
        self.last = index.or(next).or(Some(0));
        self.frames.push((self.position, at));
        self.unidentified += u64::from(index.is_none());
    }
}

/// Where the viewers connect and what they ask.
pub struct Target<'a> {
    pub addr: SocketAddr,
    /// The whole request (GET ... \r\n\r\n).
    pub request: &'a [u8],
    pub book: &'a FrameBook,
}

/// How many threads receive for `viewers` viewers: one per CPU, no more than viewers.
pub fn receiving_threads(viewers: usize) -> usize {
    crate::receive::receiving_threads(viewers)
}

/// Opens `n` viewers of `target` and receives until the clock's window is over; the counts
/// come back in connection order.
pub fn receive_viewers(target: &Target, n: usize, clock: &Clock) -> Vec<ViewerCount> {
    let threads = receiving_threads(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let share = n / threads + usize::from(t < n % threads);
                scope.spawn(move || receive_thread(target, share, clock))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a receiving thread panicked"))
            .collect()
    })
}

/// One connection: its socket (none once closed) and its reader.
struct Viewer {
    socket: Option<TcpStream>,
    reader: PartReader,
}

/// One receiving thread: connects its `n` viewers a batch per round, then reads them.
// (It stays whole: one epoll loop whose states are read together.)
fn receive_thread(target: &Target, n: usize, clock: &Clock) -> Vec<ViewerCount> {
    // SAFETY: plain epoll syscalls on descriptors that outlive the set; closed below.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(
        epoll >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    let mut viewers: Vec<Viewer> = Vec::with_capacity(n);
    let mut counts = vec![ViewerCount::default(); n];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let mut buf = vec![0u8; DISCARD_MAX];
    loop {
        while viewers.len() < n {
            let i = viewers.len();
            let socket = match connect(target) {
                Ok(s) => {
                    let mut event = libc::epoll_event {
                        events: libc::EPOLLIN as u32,
                        u64: i as u64,
                    };
                    // SAFETY: as above.
                    unsafe {
                        libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut event)
                    };
                    Some(s)
                }
                Err(e) => {
                    counts[i].error = Some(format!("connect: {e}"));
                    None
                }
            };
            viewers.push(Viewer {
                socket,
                reader: PartReader::default(),
            });
            clock.connected.fetch_add(1, Ordering::SeqCst);
            if viewers.len().is_multiple_of(CONNECT_BATCH) {
                break;
            }
        }
        let now = Instant::now();
        if clock.over(now) {
            break;
        }
        let connecting = viewers.len() < n;
        let ms = if connecting { 0 } else { 10 };
        // SAFETY: `events` is a valid buffer of its length.
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as _, ms) };
        for event in &events[..ready.max(0) as usize] {
            let i = event.u64 as usize;
            let now = Now {
                at: clock.secs(Instant::now()),
                realtime: realtime(),
            };
            let closed = read_viewer(
                &mut viewers[i],
                &mut counts[i],
                &mut buf,
                now,
                |c, len, tail, at| c.frame(target.book, len, tail, at),
            );
            if closed {
                if let Some(s) = viewers[i].socket.take() {
                    // SAFETY: as above; the descriptor is still open here.
                    unsafe {
                        libc::epoll_ctl(
                            epoll,
                            libc::EPOLL_CTL_DEL,
                            s.as_raw_fd(),
                            std::ptr::null_mut(),
                        )
                    };
                }
            }
        }
        if !connecting && (ready.max(0) as usize) < events.len() {
            std::thread::sleep(RECEIVE_PAUSE);
        }
    }
    // SAFETY: the set is ours and no longer used.
    unsafe { libc::close(epoll) };
    counts
}

/// Connects one viewer and sends its request; the socket is non-blocking after.
fn connect(target: &Target) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&target.addr, Duration::from_secs(10))?;
    stamp_arrivals(&s);
    s.write_all(target.request)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Reads what a ready viewer has, a few reads at most; true when its stream is over (closed
/// by the server, failed, or not a Motion-JPEG stream).
fn read_viewer(
    viewer: &mut Viewer,
    count: &mut ViewerCount,
    buf: &mut [u8],
    now: Now,
    mut frame: impl FnMut(&mut ViewerCount, usize, &[u8; TAIL], f64),
) -> bool {
    let Some(socket) = &viewer.socket else {
        return true;
    };
    let fd = socket.as_raw_fd();
    for _ in 0..32 {
        let want = viewer.reader.want();
        let (len, flags) = match want {
            Want::Discard(n) => (n.min(buf.len()), libc::MSG_TRUNC),
            Want::Read => (READ_CHUNK, 0),
        };
        let mut stamp = None;
        let r = match want {
            // SAFETY: `buf` holds at least `len` bytes (with MSG_TRUNC the kernel writes none).
            Want::Discard(_) => unsafe {
                libc::recv(
                    fd,
                    buf.as_mut_ptr() as *mut libc::c_void,
                    len,
                    flags | libc::MSG_DONTWAIT,
                )
            },
            Want::Read => recv_stamped(fd, &mut buf[..len], &mut stamp),
        };
        if r == 0 {
            count.ended = true;
            return true;
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return false;
            }
            count.error = Some(format!("recv: {e}"));
            return true;
        }
        let r = r as usize;
        match want {
            Want::Discard(_) => viewer.reader.skipped(r),
            Want::Read => {
                // The kernel's arrival stamp of the last bytes read, on the clock's scale;
                // the read's own time without one.
                let at = stamp.map_or(now.at, |s| now.at - (now.realtime - s).max(0.0));
                if let Err(e) = viewer
                    .reader
                    .feed(&buf[..r], |len, tail| frame(count, len, tail, at))
                {
                    count.error = Some(e.to_string());
                    return true;
                }
            }
        }
        if r < len {
            return false;
        }
    }
    false
}

/// The moment a viewer is read: on the [`Clock`], and on the realtime clock that kernel
/// arrival stamps are on.
#[derive(Clone, Copy)]
struct Now {
    at: f64,
    realtime: f64,
}

/// The realtime clock, seconds.
fn realtime() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Turns on the kernel's receive stamps (SO_TIMESTAMPNS): on TCP, each read says when the
/// last segment it took arrived. Best effort: without them a frame's time is its read's.
fn stamp_arrivals(socket: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt with a valid int.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// One non-blocking read into `buf`, with the kernel's arrival stamp of the last segment read
/// (realtime seconds) put in `stamp` when it gives one; what `recv` returns.
fn recv_stamped(fd: libc::c_int, buf: &mut [u8], stamp: &mut Option<f64>) -> isize {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: msghdr zeroed is valid; it points at `iov` and `control`, alive for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n > 0 {
        // SAFETY: walking the control messages the kernel wrote, with its own macros.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if ((*cmsg).cmsg_level, (*cmsg).cmsg_type)
                    == (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                    *stamp = Some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    n
}

/// A step's viewers summed up. Each viewer is judged on its own frame clock: its most
/// punctual frame in the window fixes where every position falls (its slot), the frames
/// counted are those whose slot is in the window, and each slot of the window is a frame
/// expected. So a frame is missing only if it never came (or came after the grace), and no
/// edge of the window can cut a viewer's count by one, whatever the viewers' phases.
#[derive(Debug, Default)]
pub struct ViewersSummary {
    pub viewers: usize,
    /// Viewers that received no frame due in the window.
    pub silent: usize,
    /// Viewers whose stream failed, and the first reason.
    pub failed: usize,
    pub first_error: Option<String>,
    /// Viewers whose stream the server ended.
    pub ended: usize,
    /// Slots in the window, all viewers (a silent viewer's: the nominal rate's).
    pub expected: f64,
    /// Frames received whose slot is in the window.
    pub received: u64,
    /// Of the frames expected and not received, those skipped between two received (the
    /// rest came after the window's grace, or never).
    pub dropped: u64,
    pub unidentified: u64,
    /// Frames received more than the lateness bar after their slot.
    pub late: u64,
    /// The largest lateness, ms.
    pub worst_late_ms: f64,
    /// |inter-frame gap - its frames' distance on the frame clock|, ms: median and p99.
    pub jitter_p50_ms: f64,
    pub jitter_p99_ms: f64,
}

impl ViewersSummary {
    /// Sums up `counts` over the window `[start, end)` (seconds on the [`Clock`]) at `fps`; a
    /// frame more than `max_late_ms` after its slot is late.
    pub fn of(counts: &[ViewerCount], fps: f64, start: f64, end: f64, max_late_ms: f64) -> Self {
        let period = 1.0 / fps;
        let mut s = ViewersSummary {
            viewers: counts.len(),
            ..Default::default()
        };
        let mut jitter = Vec::new();
        for c in counts {
            s.unidentified += c.unidentified;
            s.ended += usize::from(c.ended);
            if let Some(e) = &c.error {
                s.failed += 1;
                s.first_error.get_or_insert_with(|| e.clone());
            }
            let seen = c
                .frames
                .iter()
                .filter(|&&(_, at)| at >= start - KEPT_BEFORE);
            let anchor = seen
                .map(|&(p, at)| at - p as f64 * period)
                .fold(f64::INFINITY, f64::min);
            if !anchor.is_finite() {
                s.silent += 1;
                s.expected += fps * (end - start);
                continue;
            }
            // Slots anchor + k * period in [start, end).
            let first = ((start - anchor) / period).ceil();
            let last = ((end - anchor) / period).ceil();
            s.expected += (last - first).max(0.0);
            let counted: Vec<(u64, f64)> = c
                .frames
                .iter()
                .copied()
                .filter(|&(p, _)| (p as f64) >= first && (p as f64) < last)
                .collect();
            s.received += counted.len() as u64;
            s.silent += usize::from(counted.is_empty());
            for &(p, at) in &counted {
                let late_ms = (at - anchor - p as f64 * period) * 1000.0;
                s.worst_late_ms = s.worst_late_ms.max(late_ms);
                s.late += u64::from(late_ms > max_late_ms);
            }
            for w in counted.windows(2) {
                let steps = w[1].0.saturating_sub(w[0].0);
                s.dropped += steps.saturating_sub(1);
                let off = (w[1].1 - w[0].1) - steps as f64 * period;
                jitter.push(off.abs() * 1000.0);
            }
        }
        jitter.sort_by(|a, b| a.total_cmp(b));
        let pick = |p: f64| {
            jitter
                .get(((jitter.len().max(1) - 1) as f64 * p) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        s.jitter_p50_ms = pick(0.5);
        s.jitter_p99_ms = pick(0.99);
        s
    }

    /// Frames expected and not received, in percent of those expected.
    pub fn missing_percent(&self) -> f64 {
        self.percent((self.expected - self.received as f64).max(0.0))
    }

    /// Frames skipped between two received, in percent of those expected.
    pub fn dropped_percent(&self) -> f64 {
        self.percent(self.dropped as f64)
    }

    /// Late frames, in percent of those expected.
    pub fn late_percent(&self) -> f64 {
        self.percent(self.late as f64)
    }

    fn percent(&self, frames: f64) -> f64 {
        if self.expected > 0.0 {
            frames * 100.0 / self.expected
        } else {
            100.0
        }
    }

    /// Held: every viewer streaming, and frames late plus frames missing (dropped ones
    /// among them) under `max_bad_percent` of those expected.
    pub fn holds(&self, max_bad_percent: f64) -> bool {
        self.failed == 0
            && self.silent == 0
            && self.late_percent() + self.missing_percent() < max_bad_percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::tail_of;

    fn book() -> FrameBook {
        FrameBook::new((0..10u8).map(|i| vec![i; 100 + i as usize]).collect())
    }

    /// A viewer that got frames `indices`, the k-th arriving at `arrivals[k]` seconds.
    fn viewer(indices: &[usize], arrivals: &[f64]) -> ViewerCount {
        let b = book();
        let mut c = ViewerCount::default();
        for (&i, &at) in indices.iter().zip(arrivals) {
            let j = &b.jpegs[i];
            c.frame(&b, j.len(), &tail_of(j), at);
        }
        c
    }

    #[test]
    fn a_tcp_read_carries_the_kernels_arrival_stamp() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reader = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stamp_arrivals(&reader);
        let (mut writer, _) = listener.accept().unwrap();
        // The kernel turns stamping on for the whole machine a moment after the first socket
        // asks (a deferred static-key switch): while no other socket has it on, the first
        // segments can come unstamped. Wait (bounded) until one comes stamped.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            writer.write_all(b"x").unwrap();
            let (mut one, mut stamp) = ([0u8; 1], None);
            let got = loop {
                let n = recv_stamped(reader.as_raw_fd(), &mut one, &mut stamp);
                if n > 0 || std::time::Instant::now() > until {
                    break n;
                }
                std::thread::yield_now();
            };
            assert_eq!(got, 1, "the warm-up byte");
            if stamp.is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < until,
                "no segment stamped in 5 s"
            );
        }
        let before = realtime();
        writer.write_all(b"--mjpegframe\r\n").unwrap();
        // On loopback the segment arrives inside the write: its stamp is between these two,
        // however long this thread waited to be scheduled in between.
        let written = realtime();
        std::thread::sleep(Duration::from_millis(50));
        let (mut buf, mut stamp) = ([0u8; 64], None);
        let read_at = realtime();
        assert_eq!(recv_stamped(reader.as_raw_fd(), &mut buf, &mut stamp), 14);
        let stamp = stamp.expect("an SCM_TIMESTAMPNS");
        // Stamped on arrival, not at the read 50 ms later.
        assert!(
            stamp >= before - 0.001 && stamp <= written + 0.001 && stamp < read_at - 0.04,
            "{} after the write began, {} before the read",
            stamp - before,
            read_at - stamp
        );
    }

    #[test]
    fn a_dropped_frame_is_a_gap_on_the_frame_clock_not_lateness() {
        // Frames 8, 9, 0, 2, 3 (1 dropped, the file looping) on the 50 ms clock, 10 ms after
        // their slots of a window from 1 s to 1.25 s.
        let c = viewer(&[8, 9, 0, 2, 3], &[1.01, 1.06, 1.11, 1.21, 1.26]);
        assert_eq!(c.frames.len(), 5);
        let s = ViewersSummary::of(&[c], 20.0, 1.0, 1.25, 200.0);
        assert_eq!((s.expected, s.received, s.dropped, s.late), (5.0, 4, 1, 0));
        assert!(s.worst_late_ms < 1e-6 && s.jitter_p99_ms < 1e-6);
        assert_eq!(s.dropped_percent(), 20.0);
        assert_eq!(s.missing_percent(), 20.0);
    }

    #[test]
    fn the_most_punctual_frame_fixes_the_slots_even_just_before_the_window() {
        // Frame 0 came 1 ms before the window, the others 1 ms later on the clock: slots are
        // 0.999 + k * 50 ms, five in [1, 1.25), all received, none late.
        let c = viewer(&[0, 1, 2, 3, 4, 5], &[0.999, 1.05, 1.1, 1.15, 1.2, 1.25]);
        let s = ViewersSummary::of(&[c], 20.0, 1.0, 1.25, 200.0);
        assert_eq!((s.expected, s.received, s.late, s.silent), (5.0, 5, 0, 0));
        assert!((s.worst_late_ms - 1.0).abs() < 1e-6, "{}", s.worst_late_ms);
    }

    #[test]
    fn a_frame_over_the_bar_after_its_slot_is_late() {
        // The fourth frame comes 250 ms after its slot, the fifth 100 ms; the second viewer's
        // only frame came long before the window.
        let c = viewer(&[0, 1, 2, 3, 4], &[1.0, 1.05, 1.1, 1.4, 1.3]);
        let s = ViewersSummary::of(&[c, viewer(&[0], &[-0.5])], 20.0, 1.0, 1.25, 200.0);
        assert_eq!((s.received, s.late, s.silent), (5, 1, 1));
        assert_eq!(s.expected, 10.0);
        assert!((s.worst_late_ms - 250.0).abs() < 1e-6);
        assert!(!s.holds(0.1));
        // Gaps off the clock: 0, 0, 250 and 150 ms; p99 is the nearest rank below.
        assert!(
            (s.jitter_p99_ms - 150.0).abs() < 1e-6,
            "{}",
            s.jitter_p99_ms
        );
    }
}
