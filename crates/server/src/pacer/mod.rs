//! Frames leave from a few pacer threads, not from each session's own thread.
//!
//! A session's connection thread handles its RTSP requests and RTCP; its frames are sent by the
//! pacers: one thread per core, sharing one heap of the sessions' next frame deadlines
//! (`schedule`). Measured on two cores (BENCHMARKS.md), waking a thread per session per frame
//! cost three times the kernel's own cost of sending the frames, because a wake-up (a timer, a
//! context switch, a poll set up again) costs more than handing the kernel one segmented
//! datagram. A pacer wakes at a deadline and sends every frame due within the next
//! [`BATCH_WINDOW`], so at a thousand sessions one wake-up sends about ten frames.
//!
//! One pacer, the lead, sends everything while it keeps up; the others stand by, each pinned to
//! its own core (`cpu`), and send what the lead has left overdue: on a virtual machine the
//! host stops one CPU for milliseconds at a time, and with a single sender every frame due
//! meanwhile was late.
//!
//! The pacers only drive each session's [`rtsp_proto::playout::Playout`], which owns every
//! timing rule (absolute deadlines, skipping frames too late to matter): the cost of batching
//! is jitter under the window, never drift. They take a session's lock only to send its due
//! frames, and only frames that are ready: a frame still being converted is skipped, never
//! waited for.

mod cpu;
mod schedule;

pub use cpu::{allowed_cpus, pin_to};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::session::{MediaCounters, SessionHandle};
use schedule::{Entry, Role, Schedule};

/// How far ahead of its deadline a pacer sends a frame that is due soon after the one that
/// woke it: each wake-up serves every session due within this window, frames are at most this
/// early, and the pacer never sleeps less than this. (Sleeping a minimum after the deadline
/// instead made frames late by more than the window: short sleeps overshoot on this VM.)
pub const BATCH_WINDOW: Duration = Duration::from_micros(500);

/// The most entries a pacer takes off the heap at once: while it sends them, another pacer
/// can take the next ones, and a pacer stopped mid-batch holds up no more than these.
const MAX_BATCH: usize = 64;

/// The pacer threads of a server. They end when this is dropped.
pub struct Pacers {
    schedule: Arc<Schedule>,
    /// Frames not sent: too late, not converted in time, or a client too slow for them.
    counters: Arc<MediaCounters>,
}

impl Pacers {
    /// One pacer thread per core (at least two, so that a lead held up by one session's
    /// lock does not hold up the rest): a lead and standbys, each pinned to its own core.
    pub fn spawn(counters: Arc<MediaCounters>) -> std::io::Result<Pacers> {
        let schedule = Arc::new(Schedule::new());
        let cpus = allowed_cpus();
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for me in 0..count {
            let cpu = (!cpus.is_empty()).then(|| cpus[me % cpus.len()]);
            let (schedule, counters) = (schedule.clone(), counters.clone());
            std::thread::Builder::new()
                .name(format!("pacer-{me}"))
                .spawn(move || {
                    // Refused (a container's CPU set, say): the thread runs anywhere, as it
                    // would have.
                    if let Some(Err(e)) = cpu.map(pin_to) {
                        log::debug!("pacer-{me} not pinned: {e}");
                    }
                    pace(&schedule, Role::of(me), &counters)
                })?;
        }
        Ok(Pacers { schedule, counters })
    }

    /// Hands a session to the pacers after a PLAY: they send its frames from its next
    /// deadline on, until a PAUSE, teardown or the end of its file.
    pub fn play(&self, session: &SessionHandle) {
        let (due, generation) = {
            let mut state = session.lock();
            if let Some(p) = state.rtsp.playout_mut() {
                p.start_clock(Instant::now());
            }
            match (state.next_deadline(), state.generation()) {
                (Some(due), Some(generation)) => (due, generation),
                _ => return,
            }
        };
        let entry = Entry {
            due,
            generation,
            session: session.clone(),
        };
        let wake = self.schedule.lock().push([entry]);
        self.schedule.wake(wake);
    }

    /// Frames not sent so far, for every session.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped()
    }
}

impl Drop for Pacers {
    fn drop(&mut self) {
        self.schedule.close();
    }
}

/// A pacer's loop: sleep as its [`Role`] says, then take what is due within
/// [`BATCH_WINDOW`] of now (up to [`MAX_BATCH`] sessions) off the heap, send it without the
/// heap's lock, and put each session back with its next deadline.
fn pace(schedule: &Schedule, role: Role, counters: &MediaCounters) {
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
        match role.rest(queue.earliest(), now) {
            None => queue = signal.wait(queue).unwrap_or_else(|e| e.into_inner()),
            Some(wait) if !wait.is_zero() => {
                queue = signal
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            Some(_) => {
                let horizon = now + BATCH_WINDOW;
                queue.take_due(horizon, MAX_BATCH, &mut batch);
                drop(queue);
                send_batch(&mut batch, horizon, counters, &mut scratch);
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
    counters: &MediaCounters,
    scratch: &mut Vec<u8>,
) {
    // By a session's next frame its state has long left the cache. Asking for all of this
    // batch's at once lets the misses overlap instead of each stalling a send in turn
    // (measured, about a microsecond a frame at a thousand sessions).
    for entry in batch.iter() {
        cpu::prefetch(entry.session.as_ptr());
    }
    batch.retain_mut(|entry| {
        let mut state = entry.session.lock();
        if state.generation() != Some(entry.generation) {
            return false;
        }
        // A bug in one session's send must not stop the others: that session stops, the
        // pacer goes on.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.send_due_frames(horizon, counters, scratch);
            state.next_deadline()
        }))
        .unwrap_or_else(|_| {
            log::error!("{}: sending a frame panicked: its stream stops", state.peer);
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

#[cfg(test)]
mod tests {
    use super::schedule::{Queue, Wake, STANDBY_GRACE};
    use super::*;
    use crate::media::PreparedMedia;
    use crate::net::transport::MediaTransport;
    use crate::session::SessionState;
    use rtsp_proto::playout::{RtpOrigin, Timeline};
    use rtsp_proto::rtp::RtpPacket;
    use rtsp_proto::session::ServerSession;
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

    /// A set-up, paused session of the sample video (looping) whose RTP goes to a new socket,
    /// and that socket.
    fn session() -> (SessionHandle, UdpSocket) {
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
        let now = Instant::now();
        let mut rtsp = ServerSession::new(1, now);
        let timeline = Timeline {
            frames: media.frames.len() as u64,
            fps: FPS,
            looping: true,
        };
        let origin = RtpOrigin {
            ssrc: 7,
            seq: 100,
            rtptime: 0,
        };
        rtsp.setup(timeline, origin, now).unwrap();
        let state = SessionState {
            rtsp,
            media,
            transport,
            peer: sink.local_addr().unwrap(),
        };
        (SessionHandle::new(state), sink)
    }

    fn play(pacers: &Pacers, session: &SessionHandle) {
        session.lock().rtsp.play(Instant::now(), None).unwrap();
        pacers.play(session);
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
        assert_eq!(Role::of(2), standby);
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
        let (session, _sink) = session();
        let now = Instant::now();
        let entry = |ms: u64| Entry {
            due: now + Duration::from_millis(ms),
            generation: 0,
            session: session.clone(),
        };
        let mut queue = Queue::new();
        let wake = |lead, standbys| Wake { lead, standbys };
        // Everyone sleeps without an alarm on an empty heap.
        assert_eq!(queue.push([entry(10)]), wake(true, true));
        assert_eq!(queue.push([entry(20), entry(10)]), wake(false, false));
        assert_eq!(queue.push([entry(30), entry(5)]), wake(true, false));
        assert_eq!(queue.push([]), wake(false, false));
        assert_eq!(queue.heap.len(), 5);
        let mut batch = Vec::new();
        queue.take_due(now + Duration::from_millis(10), 2, &mut batch);
        assert_eq!(batch.len(), 2, "at most the batch's bound, earliest first");
        assert_eq!(batch[0].due, now + Duration::from_millis(5));
    }

    #[test]
    fn a_lead_held_up_by_one_session_does_not_hold_up_the_others() {
        let pacers = Pacers::spawn(Default::default()).unwrap();
        let (stuck, _stuck_sink) = session();
        let (other, sink) = session();
        play(&pacers, &stuck);
        // Half a period later, so the two are never due in the same batch.
        std::thread::sleep(Duration::from_secs_f64(0.5 / FPS));
        play(&pacers, &other);
        frames(&sink, 2);

        // Whoever takes the stuck session next waits for this lock; the other session's
        // frames go on coming, one per period.
        let held = stuck.lock();
        let period = (90_000.0 / FPS) as u32;
        let meanwhile = frames(&sink, 20);
        assert!(meanwhile
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == period));
        drop(held);
    }

    #[test]
    fn frames_flow_stop_on_pause_resume_where_they_stopped_and_a_teardown_frees_the_sockets() {
        let pacers = Pacers::spawn(Default::default()).unwrap();
        let (session, sink) = session();
        let period = (90_000.0 / FPS) as u32;

        play(&pacers, &session);
        let first = frames(&sink, 5);
        assert!(first.windows(2).all(|w| w[1].wrapping_sub(w[0]) == period));

        // PAUSE: once what was already sent is read, nothing more comes.
        session.lock().rtsp.pause(Instant::now()).unwrap();
        let position = |s: &SessionHandle| s.lock().rtsp.playout().unwrap().position();
        let sent = position(&session);
        sink.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 65536];
        while sink.recv(&mut buf).is_ok() {}
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            sink.recv(&mut buf).is_err(),
            "a frame was sent while paused"
        );
        assert_eq!(position(&session), sent);
        sink.set_nonblocking(false).unwrap();

        // PLAY again (twice, as a client repeating itself might): one stream, on from where
        // it paused, one frame per period.
        play(&pacers, &session);
        play(&pacers, &session);
        let resumed = frames(&sink, 10);
        let rtptime = session.lock().rtsp.playout().unwrap().rtptime(sent);
        assert_eq!(resumed[0], rtptime);
        assert!(resumed
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) == period));

        // Teardown: the pacer lets go of the session (and its sockets) at its next deadline.
        session.lock().rtsp.teardown();
        assert!(
            wait_until(Duration::from_secs(2), || session.handles() == 1),
            "the pacer still holds a torn-down session"
        );
    }
}
