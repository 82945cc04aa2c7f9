//! A live path and the registry of them: at most one publisher each, any number of
//! subscribers, and the one shared copy of each frame handed to all of them.
//!
//! A path's frames run on one RTP timeline of its own (`Timeline`): a publisher's times are
//! kept as they are, and a publisher that comes back to a path still waiting for one
//! (`--live-linger`) continues where the last left off, by the wall-clock time between, so
//! every viewer's RTP times keep growing across publishers (and its own sequence numbers go
//! on, being the viewer's). A channel (`--channel`) is a path whose publisher is a file
//! played by the server ([`super::channel`]): nobody may publish over it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ingest::PathCounters;
use super::record::{RecordSettings, Recorder};
use super::sdp::Announced;
use super::LiveFrame;

/// Anything that takes a live path's frames: an RTSP viewer, a Motion-JPEG HTTP viewer, a
/// recorder, an HLS encoder. `deliver` runs on the publisher's thread for every subscriber in
/// turn, so it must never block: a subscriber that cannot keep up drops the frame (whole) and
/// counts it, or queues the `Arc` in a bounded queue of its own.
pub trait Subscriber: Send + Sync {
    /// A new frame. Whole frames only: a subscriber that joins mid-stream starts at the next.
    fn deliver(&self, frame: &Arc<LiveFrame>);
    /// The path ended (its publisher left and none came back in time, or it was replaced):
    /// no frame follows.
    fn end(&self);
    /// What the subscriber is, for `/api/paths` ("rtsp/udp", "rtsp/tcp", "http", "hls", "record").
    fn kind(&self) -> &'static str;
    /// Frames this subscriber had to drop because it was behind.
    fn dropped(&self) -> u64;
}

/// What publishes on a path: a peer over RTSP, or one of the server's channels.
pub const PUBLISHER_RTSP: &str = "rtsp";
/// See [`PUBLISHER_RTSP`].
pub const PUBLISHER_CHANNEL: &str = "channel";

/// Who publishes on a path, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherInfo {
    /// [`PUBLISHER_RTSP`] or [`PUBLISHER_CHANNEL`].
    pub kind: &'static str,
    /// The publisher's address (a channel's: unspecified, it is the server).
    pub peer: SocketAddr,
    /// "udp" or "tcp" once set up; "announced" before; "file" for a channel.
    pub transport: &'static str,
    /// The publisher's RTSP session id; a channel's file.
    pub session: String,
}

/// A path's RTP timeline across publishers, and whether one publishes now.
#[derive(Debug, Default)]
struct Timeline {
    /// A publisher is on the path (false while it waits for one to come back).
    publishing: bool,
    /// How many times a publisher came back: a wait for one is over once this moves, even
    /// if that publisher left again since (a wait of its own follows).
    returns: u64,
    /// Added to the current publisher's RTP times; set by its first frame.
    offset: Option<u32>,
    /// The last frame's time on the path's timeline, and when it arrived.
    last: Option<(u32, Instant)>,
}

impl Timeline {
    /// `rtptime` of the current publisher on the path's timeline at `at`.
    fn map(&mut self, rtptime: u32, at: Instant) -> u32 {
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            None => 0,
            Some((last, then)) => {
                // RTP's 90 kHz clock over the time the path had no frame; at least one tick.
                let gap = at.saturating_duration_since(then).as_secs_f64() * 90_000.0;
                let next = last.wrapping_add((gap as u64).max(1) as u32);
                next.wrapping_sub(rtptime)
            }
        });
        let mapped = rtptime.wrapping_add(offset);
        self.last = Some((mapped, at));
        mapped
    }
}

/// One live path while it has (or waits for) a publisher.
pub struct Path {
    pub name: String,
    /// What the first publisher announced: viewers are described from it.
    pub announced: Announced,
    pub counters: Arc<PathCounters>,
    publisher: Mutex<PublisherInfo>,
    subscribers: Mutex<Vec<(u64, Arc<dyn Subscriber>)>>,
    next_id: AtomicU64,
    ended: AtomicBool,
    /// The publisher paused (RFC 2326 10.6): its frames reach nobody until RECORD.
    paused: AtomicBool,
    timeline: Mutex<Timeline>,
    /// Wakes the linger wait when a publisher comes back.
    returned: Condvar,
    /// The last frame published: the path's snapshot (`/live/NAME/frame.jpg`), as a camera's
    /// snapshot URL gives one. One shared frame, so it costs nothing to keep.
    latest: Mutex<Option<Arc<LiveFrame>>>,
}

impl Path {
    fn new(name: &str, announced: Announced, publisher: PublisherInfo) -> Path {
        Path {
            name: name.to_string(),
            announced,
            counters: Arc::default(),
            publisher: Mutex::new(publisher),
            subscribers: Mutex::default(),
            next_id: AtomicU64::new(1),
            ended: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            timeline: Mutex::new(Timeline {
                publishing: true,
                ..Timeline::default()
            }),
            returned: Condvar::new(),
            latest: Mutex::default(),
        }
    }

    /// Adds a subscriber; it gets every frame from the next on. `None` once the path ended.
    pub fn subscribe(&self, s: Arc<dyn Subscriber>) -> Option<u64> {
        let mut subs = lock(&self.subscribers);
        // Checked under the lock `end` takes: no subscriber slips in after the last BYE.
        if self.is_ended() {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        subs.push((id, s));
        Some(id)
    }

    pub fn unsubscribe(&self, id: u64) {
        lock(&self.subscribers).retain(|(i, _)| *i != id);
    }

    /// Hands `frame` to every subscriber (none of which blocks), unless the publisher paused;
    /// its RTP time is put on the path's timeline first.
    pub fn publish(&self, mut frame: LiveFrame) {
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        frame.rtptime = lock(&self.timeline).map(frame.rtptime, frame.received);
        let frame = Arc::new(frame);
        for (_, s) in lock(&self.subscribers).iter() {
            s.deliver(&frame);
        }
        *lock(&self.latest) = Some(frame);
    }

    /// The last frame published (the one before the publisher paused or left, while it is
    /// away); `None` before the first.
    pub fn latest(&self) -> Option<Arc<LiveFrame>> {
        lock(&self.latest).clone()
    }

    /// The path is over: every subscriber is told and let go; the path takes no more.
    pub fn end(&self) {
        let subs = {
            let mut subs = lock(&self.subscribers);
            self.ended.store(true, Ordering::SeqCst);
            std::mem::take(&mut *subs)
        };
        // Under the lock the linger wait checks `ended` under, so the wake is not lost.
        drop(lock(&self.timeline));
        self.returned.notify_all();
        for (_, s) in subs {
            s.end();
        }
    }

    /// The publisher paused (`true`) or recorded again.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Whether the path waits for its publisher to come back (`--live-linger`).
    pub fn is_waiting(&self) -> bool {
        !lock(&self.timeline).publishing && !self.is_ended()
    }

    /// The current publisher, or the last one while the path waits.
    pub fn publisher(&self) -> PublisherInfo {
        lock(&self.publisher).clone()
    }

    /// Whether one of the server's channels feeds the path.
    pub fn is_channel(&self) -> bool {
        lock(&self.publisher).kind == PUBLISHER_CHANNEL
    }

    /// The publisher's transport, once its SETUP chose it.
    pub fn set_transport(&self, transport: &'static str) {
        lock(&self.publisher).transport = transport;
    }

    /// The subscribers now: (kind, frames dropped) of each.
    pub fn subscribers(&self) -> Vec<(&'static str, u64)> {
        lock(&self.subscribers)
            .iter()
            .map(|(_, s)| (s.kind(), s.dropped()))
            .collect()
    }

    /// A publisher came back while the path waited: its frames continue the timeline.
    fn resume(&self, publisher: PublisherInfo) {
        *lock(&self.publisher) = publisher;
        self.paused.store(false, Ordering::Relaxed);
        let mut t = lock(&self.timeline);
        t.publishing = true;
        t.returns += 1;
        t.offset = None;
        self.returned.notify_all();
    }

    /// The publisher left: the path waits for another (see [`Path::wait_for_return`]); the
    /// count of returns the wait is over at.
    fn leave(&self) -> u64 {
        let mut t = lock(&self.timeline);
        t.publishing = false;
        t.returns
    }

    /// Whether the path still waits for the return that `leave` counted `returns` at.
    fn still_waiting(&self, returns: u64) -> bool {
        let t = lock(&self.timeline);
        !t.publishing && t.returns == returns && !self.is_ended()
    }

    /// Waits up to `linger` for a publisher to come back after the leave that returned
    /// `returns`; whether one did (or the path ended meanwhile, which is the same for the
    /// caller: nothing left to end).
    fn wait_for_return(&self, linger: Duration, returns: u64) -> bool {
        let until = Instant::now() + linger;
        let mut t = lock(&self.timeline);
        while !t.publishing && t.returns == returns && !self.is_ended() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            t = self
                .returned
                .wait_timeout(t, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// The end of a wait for a publisher that did not come back: the path is forgotten and its
/// subscribers ended, unless a publisher resumed it at the last moment (both are decided
/// under the registry's lock, which `Paths::publish` takes too).
fn end_waiting(path: &Arc<Path>, all: &Mutex<HashMap<String, Arc<Path>>>, returns: u64) {
    {
        let mut all = lock(all);
        if !path.still_waiting(returns) {
            return;
        }
        if all.get(&path.name).is_some_and(|p| Arc::ptr_eq(p, path)) {
            all.remove(&path.name);
        }
    }
    log::info!("live/{}: no publisher came back", path.name);
    path.end();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a path could not be published on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefused {
    #[error("live/{0} already has a publisher")]
    Taken(String),
    #[error("live/{0} is one of the server's channels (--channel): nobody publishes on it")]
    Channel(String),
}

/// Every live path that has (or waits for) a publisher, by name, and what the server does
/// with each: how long one waits for its publisher to come back, and where it is recorded.
#[derive(Default)]
pub struct Paths {
    all: Arc<Mutex<HashMap<String, Arc<Path>>>>,
    /// `--live-linger`: how long a path whose publisher left waits for another.
    linger: Duration,
    /// `--record-dir`: every path an RTSP publisher starts is recorded.
    record: Option<RecordSettings>,
}

impl Paths {
    /// Paths that wait `linger` for a publisher that left, and are recorded by `record`.
    pub fn new(linger: Duration, record: Option<RecordSettings>) -> Paths {
        Paths {
            all: Arc::default(),
            linger,
            record,
        }
    }

    /// Where paths are recorded (`--record-dir`), if they are.
    pub fn record_dir(&self) -> Option<&std::path::Path> {
        self.record.as_ref().map(|r| r.dir.as_path())
    }

    /// Makes `name` a path published by `publisher`. A path that has one is refused, unless
    /// `replace`: then the old one ends (its viewers get BYE) and the new one takes its place.
    /// A path waiting for its publisher to come back is taken over, its viewers kept. A
    /// channel is never published on.
    pub fn publish(
        &self,
        name: &str,
        announced: Announced,
        publisher: PublisherInfo,
        replace: bool,
    ) -> Result<Arc<Path>, PublishRefused> {
        let old = {
            let mut all = lock(&self.all);
            match all.get(name).filter(|p| !p.is_ended()) {
                Some(p) if p.is_channel() => return Err(PublishRefused::Channel(name.into())),
                Some(p) if p.is_waiting() => {
                    log::info!("live/{name}: publisher {} is back", publisher.peer);
                    p.resume(publisher);
                    return Ok(p.clone());
                }
                Some(_) if !replace => return Err(PublishRefused::Taken(name.to_string())),
                _ => {}
            }
            let path = Arc::new(Path::new(name, announced, publisher));
            self.start_recording(&path);
            (path.clone(), all.insert(name.to_string(), path))
        };
        let (path, old) = old;
        if let Some(old) = old {
            log::info!("live/{name}: publisher {} replaced", old.publisher().peer);
            old.end();
        }
        Ok(path)
    }

    /// A recorder on a new path, if the server records; a recording that cannot start costs
    /// the recording, not the publisher.
    fn start_recording(&self, path: &Arc<Path>) {
        let Some(settings) = &self.record else {
            return;
        };
        match Recorder::start(settings, &path.name) {
            Ok(r) => drop(path.subscribe(r)),
            Err(e) => log::warn!("live/{}: not recorded: {e}", path.name),
        }
    }

    /// Makes `name` a channel's path: `file` feeds it, nobody may publish on it.
    pub fn add_channel(
        &self,
        name: &str,
        announced: Announced,
        file: &str,
    ) -> Result<Arc<Path>, PublishRefused> {
        let publisher = PublisherInfo {
            kind: PUBLISHER_CHANNEL,
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: "file",
            session: file.to_string(),
        };
        let mut all = lock(&self.all);
        if all.get(name).is_some_and(|p| !p.is_ended()) {
            return Err(PublishRefused::Taken(name.to_string()));
        }
        let path = Arc::new(Path::new(name, announced, publisher));
        all.insert(name.to_string(), path.clone());
        Ok(path)
    }

    /// The path `name` while it has a publisher, or waits for one.
    pub fn get(&self, name: &str) -> Option<Arc<Path>> {
        lock(&self.all).get(name).filter(|p| !p.is_ended()).cloned()
    }

    /// The publisher of `path` left. With a linger time the path waits that long for another
    /// (its viewers kept, on a thread of its own); then, or at once without one, it ends and
    /// is forgotten (unless another publisher replaced it).
    pub fn unpublish(&self, path: &Arc<Path>) {
        let mut all = lock(&self.all);
        let registered = all.get(&path.name).is_some_and(|p| Arc::ptr_eq(p, path));
        if self.linger.is_zero() || !registered || path.is_ended() {
            if registered {
                all.remove(&path.name);
            }
            drop(all);
            return path.end();
        }
        // Under the registry's lock, as `publish` looks: a publisher either finds the path
        // waiting or still taken.
        let returns = path.leave();
        drop(all);
        log::info!(
            "live/{}: the publisher left; waiting {:?} for one to come back",
            path.name,
            self.linger
        );
        let (all, waiting, linger) = (self.all.clone(), path.clone(), self.linger);
        let spawned = std::thread::Builder::new()
            .name("live-linger".into())
            .spawn(move || {
                if !waiting.wait_for_return(linger, returns) {
                    end_waiting(&waiting, &all, returns);
                }
            });
        if let Err(e) = spawned {
            log::warn!("live/{}: cannot wait for a publisher: {e}", path.name);
            end_waiting(path, &self.all, returns);
        }
    }

    /// Every path now, sorted by name.
    pub fn snapshot(&self) -> Vec<Arc<Path>> {
        let mut all: Vec<_> = lock(&self.all).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber that keeps what it got, or drops everything when `full`.
    #[derive(Default)]
    struct Probe {
        got: Mutex<Vec<Arc<LiveFrame>>>,
        ended: AtomicBool,
        full: bool,
        dropped: AtomicU64,
    }

    impl Subscriber for Probe {
        fn deliver(&self, frame: &Arc<LiveFrame>) {
            match self.full {
                true => drop(self.dropped.fetch_add(1, Ordering::Relaxed)),
                false => lock(&self.got).push(frame.clone()),
            }
        }
        fn end(&self) {
            self.ended.store(true, Ordering::SeqCst);
        }
        fn kind(&self) -> &'static str {
            "probe"
        }
        fn dropped(&self) -> u64 {
            self.dropped.load(Ordering::Relaxed)
        }
    }

    fn frame(ts: u32) -> LiveFrame {
        LiveFrame::for_tests(&[1, 2, 3], ts)
    }

    fn publisher() -> PublisherInfo {
        PublisherInfo {
            kind: PUBLISHER_RTSP,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: "announced",
            session: "1".into(),
        }
    }

    fn announced() -> Announced {
        Announced {
            payload_type: 26,
            control: None,
            framerate: None,
            dimensions: None,
        }
    }

    #[test]
    fn every_subscriber_shares_one_copy_and_a_full_one_slows_nobody() {
        let paths = Paths::default();
        let path = paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        let (a, b) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
        let slow = Arc::new(Probe {
            full: true,
            ..Probe::default()
        });
        path.subscribe(a.clone()).unwrap();
        path.publish(frame(0));
        // A late joiner starts at the next whole frame.
        let b_id = path.subscribe(b.clone()).unwrap();
        path.subscribe(slow.clone()).unwrap();
        path.publish(frame(4500));
        path.unsubscribe(b_id);
        // A paused publisher's frames reach nobody.
        path.set_paused(true);
        path.publish(frame(6750));
        path.set_paused(false);
        path.publish(frame(9000));
        let (ga, gb) = (lock(&a.got), lock(&b.got));
        assert_eq!(
            ga.iter().map(|f| f.rtptime).collect::<Vec<_>>(),
            [0, 4500, 9000]
        );
        assert_eq!(gb.len(), 1);
        assert!(
            Arc::ptr_eq(&ga[1], &gb[0]),
            "one shared frame, not a copy each"
        );
        assert_eq!(slow.dropped(), 2);
        assert_eq!(path.subscribers(), [("probe", 0), ("probe", 2)]);
    }

    #[test]
    fn one_publisher_per_path_unless_replacing_and_leaving_ends_every_viewer() {
        let paths = Paths::default();
        let first = paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        let viewer = Arc::new(Probe::default());
        first.subscribe(viewer.clone()).unwrap();
        assert_eq!(
            paths.publish("cam", announced(), publisher(), false).err(),
            Some(PublishRefused::Taken("cam".into()))
        );
        let second = paths
            .publish("cam", announced(), publisher(), true)
            .unwrap();
        assert!(viewer.ended.load(Ordering::SeqCst) && first.is_ended());
        assert!(
            first.subscribe(viewer.clone()).is_none(),
            "an ended path takes nobody"
        );
        // The replaced publisher leaving later does not end its successor.
        paths.unpublish(&first);
        assert!(Arc::ptr_eq(&paths.get("cam").unwrap(), &second));
        paths.unpublish(&second);
        assert!(paths.get("cam").is_none() && paths.snapshot().is_empty());
    }

    /// `cam` published on `paths`, with a probe watching it.
    fn watched(paths: &Paths) -> (Arc<Path>, Arc<Probe>) {
        let path = paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        let viewer = Arc::new(Probe::default());
        path.subscribe(viewer.clone()).unwrap();
        (path, viewer)
    }

    /// Whether `viewer` is ended within 10 s.
    fn ends(viewer: &Probe) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while !viewer.ended.load(Ordering::SeqCst) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        viewer.ended.load(Ordering::SeqCst)
    }

    fn stamped(ts: u32, at: Instant) -> LiveFrame {
        let mut f = frame(ts);
        f.received = at;
        f
    }

    #[test]
    fn a_publisher_that_comes_back_in_time_keeps_the_viewers_on_one_timeline() {
        let paths = Paths::new(Duration::from_secs(30), None);
        let (first, viewer) = watched(&paths);
        let t0 = Instant::now();
        first.publish(stamped(1000, t0));
        first.publish(stamped(4600, t0 + Duration::from_millis(40)));
        paths.unpublish(&first);
        assert!(first.is_waiting() && !viewer.ended.load(Ordering::SeqCst));
        assert!(paths.get("cam").is_some(), "a waiting path takes viewers");
        // The next publisher's clock starts anywhere; on the path it goes on from the last
        // frame by the time between (2 s: 180000 ticks).
        let second = paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        assert!(Arc::ptr_eq(&first, &second) && !second.is_waiting());
        second.publish(stamped(7, t0 + Duration::from_millis(2040)));
        second.publish(stamped(3607, t0 + Duration::from_millis(2080)));
        let times: Vec<u32> = lock(&viewer.got).iter().map(|f| f.rtptime).collect();
        assert_eq!(times, [1000, 4600, 4600 + 180_000, 4600 + 183_600]);
        assert!(
            paths
                .publish("cam", announced(), publisher(), false)
                .is_err(),
            "taken again"
        );
    }

    #[test]
    fn a_waiting_path_ends_when_nobody_comes_back() {
        let paths = Paths::new(Duration::from_millis(50), None);
        let (path, viewer) = watched(&paths);
        paths.unpublish(&path);
        assert!(ends(&viewer) && path.is_ended());
        assert!(paths.get("cam").is_none());
        // A publisher then starts a new path.
        let next = paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        assert!(!Arc::ptr_eq(&path, &next));
    }

    #[test]
    fn nobody_publishes_over_a_channel() {
        let paths = Paths::default();
        let channel = paths.add_channel("tv", announced(), "a.mjpeg").unwrap();
        for replace in [false, true] {
            assert_eq!(
                paths.publish("tv", announced(), publisher(), replace).err(),
                Some(PublishRefused::Channel("tv".into()))
            );
        }
        assert!(channel.is_channel() && !channel.is_ended());
        assert_eq!(channel.publisher().transport, "file");
    }

    #[test]
    fn a_publisher_that_comes_back_and_leaves_again_gets_a_whole_linger() {
        let linger = Duration::from_millis(300);
        let paths = Paths::new(linger, None);
        let (path, viewer) = watched(&paths);
        paths.unpublish(&path);
        std::thread::sleep(linger / 2);
        // Back and gone again at once: the first wait is over, the second runs its own time.
        paths
            .publish("cam", announced(), publisher(), false)
            .unwrap();
        paths.unpublish(&path);
        let second_leave = Instant::now();
        assert!(ends(&viewer), "ended after the linger");
        assert!(
            second_leave.elapsed() >= linger,
            "not at the end of the first wait"
        );
    }
}
