//! A live path and the registry of them: at most one publisher each, any number of
//! subscribers, and the one shared copy of each frame handed to all of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::ingest::PathCounters;
use super::sdp::Announced;
use super::LiveFrame;

/// Anything that takes a live path's frames: an RTSP viewer, and later a Motion-JPEG HTTP
/// viewer, a recorder or an HLS encoder. `deliver` runs on the publisher's thread for every
/// subscriber in turn, so it must never block: a subscriber that cannot keep up drops the
/// frame (whole) and counts it, or queues the `Arc` in a bounded queue of its own.
pub trait Subscriber: Send + Sync {
    /// A new frame. Whole frames only: a subscriber that joins mid-stream starts at the next.
    fn deliver(&self, frame: &Arc<LiveFrame>);
    /// The publisher left (TEARDOWN, closed, timed out, replaced): no frame follows.
    fn end(&self);
    /// What the subscriber is, for `/api/paths` ("rtsp/udp", "rtsp/tcp", ...).
    fn kind(&self) -> &'static str;
    /// Frames this subscriber had to drop because it was behind.
    fn dropped(&self) -> u64;
}

/// Who publishes on a path, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherInfo {
    pub peer: SocketAddr,
    /// "udp" or "tcp" once set up; "announced" before.
    pub transport: &'static str,
    /// The publisher's RTSP session id.
    pub session: String,
}

/// One live path while it has a publisher.
pub struct Path {
    pub name: String,
    /// What the publisher announced: viewers are described from it.
    pub announced: Announced,
    pub counters: Arc<PathCounters>,
    publisher: Mutex<PublisherInfo>,
    subscribers: Mutex<Vec<(u64, Arc<dyn Subscriber>)>>,
    next_id: AtomicU64,
    ended: AtomicBool,
    /// The publisher paused (RFC 2326 10.6): its frames reach nobody until RECORD.
    paused: AtomicBool,
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

    /// Hands `frame` to every subscriber (none of which blocks), unless the publisher paused.
    pub fn publish(&self, frame: LiveFrame) {
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let frame = Arc::new(frame);
        for (_, s) in lock(&self.subscribers).iter() {
            s.deliver(&frame);
        }
    }

    /// The publisher left: every subscriber is told and let go; the path takes no more.
    pub fn end(&self) {
        let subs = {
            let mut subs = lock(&self.subscribers);
            self.ended.store(true, Ordering::SeqCst);
            std::mem::take(&mut *subs)
        };
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

    pub fn publisher(&self) -> PublisherInfo {
        lock(&self.publisher).clone()
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a path could not be published on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefused {
    #[error("live/{0} already has a publisher")]
    Taken(String),
}

/// Every live path that has a publisher, by name.
#[derive(Default)]
pub struct Paths(Mutex<HashMap<String, Arc<Path>>>);

impl Paths {
    /// Makes `name` a path published by `publisher`. A path that has one is refused, unless
    /// `replace`: then the old one ends (its viewers get BYE) and the new one takes its place.
    pub fn publish(
        &self,
        name: &str,
        announced: Announced,
        publisher: PublisherInfo,
        replace: bool,
    ) -> Result<Arc<Path>, PublishRefused> {
        let path = Arc::new(Path::new(name, announced, publisher));
        let old = {
            let mut all = lock(&self.0);
            if all.get(name).is_some_and(|p| !p.is_ended()) && !replace {
                return Err(PublishRefused::Taken(name.to_string()));
            }
            all.insert(name.to_string(), path.clone())
        };
        if let Some(old) = old {
            log::info!("live/{name}: publisher {} replaced", old.publisher().peer);
            old.end();
        }
        Ok(path)
    }

    /// The path `name` while it has a publisher.
    pub fn get(&self, name: &str) -> Option<Arc<Path>> {
        lock(&self.0).get(name).filter(|p| !p.is_ended()).cloned()
    }

    /// The publisher of `path` left: the path ends and is forgotten (unless another replaced it).
    pub fn unpublish(&self, path: &Arc<Path>) {
        {
            let mut all = lock(&self.0);
            if all.get(&path.name).is_some_and(|p| Arc::ptr_eq(p, path)) {
                all.remove(&path.name);
            }
        }
        path.end();
    }

    /// Every path now, sorted by name.
    pub fn snapshot(&self) -> Vec<Arc<Path>> {
        let mut all: Vec<_> = lock(&self.0).values().cloned().collect();
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
}
