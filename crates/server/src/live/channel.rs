//! Channels (`--channel NAME=FILE`): a file the server plays on a loop as the live path
//! `/live/NAME`, on one timeline for every viewer, like a TV channel: a viewer that joins
//! sees what every other viewer sees at that moment, not the file from its start.
//!
//! One thread per channel hands each frame to the path at its deadline on an absolute
//! schedule (frame `n` at `start + n / fps`, so it never drifts), with RTP times that go on
//! growing across loops ([`Schedule`], sans-IO). A thread that falls behind skips to the
//! frame due now rather than playing late, so the channel stays on its timeline. Frames the
//! file's converter has not ready in time are skipped and counted as lost, as a publisher's
//! broken frames are. The file is prepared once, through the server's media cache, so any
//! container the server plays makes a channel.

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::path::Path;
use super::sdp::Announced;
use super::LiveFrame;
use crate::media::{PreparedMedia, RtpFrame};
use crate::Shared;

/// Longest the channel thread sleeps at once, so it notices the server stopping.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A `--channel NAME=FILE`, as the command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    pub name: String,
    /// Relative to the videos directory, or absolute.
    pub file: PathBuf,
}

impl std::str::FromStr for ChannelSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, file) = s
            .split_once('=')
            .ok_or_else(|| format!("--channel takes NAME=FILE, got {s:?}"))?;
        let named = super::target(&format!("/live/{name}"));
        if !matches!(named, Some((n, t)) if n == name && t.is_empty()) {
            return Err(format!(
                "--channel {s:?}: a name is letters, digits, '-', '_' and '.', at most {} bytes",
                super::MAX_NAME
            ));
        }
        if file.is_empty() {
            return Err(format!("--channel {s:?} names no file"));
        }
        Ok(ChannelSpec {
            name: name.to_string(),
            file: PathBuf::from(file),
        })
    }
}

/// When each frame of a looping file is due, and its RTP time: frame `n` of the whole
/// channel (loops counted) is file frame `n % frames`, due `n / fps` after the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub start: Instant,
    pub fps: f64,
    pub frames: usize,
}

impl Schedule {
    /// When channel frame `n` is due.
    pub fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.fps)
    }

    /// Channel frame `n`'s RTP time (90 kHz from 0, wrapping as RTP's does).
    pub fn rtptime(&self, n: u64) -> u32 {
        (n as f64 * 90_000.0 / self.fps).round() as u64 as u32
    }

    /// Which frame of the file channel frame `n` is.
    pub fn file_frame(&self, n: u64) -> usize {
        (n % self.frames as u64) as usize
    }

    /// The frame to send at `now`, from `next` on: `next` itself if it is not late by a
    /// whole period, else the last one due (the ones between are skipped).
    pub fn catch_up(&self, next: u64, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let current = (elapsed * self.fps).floor() as u64;
        next.max(current)
    }
}

/// The file of `spec`, as the server resolves it: under `videos` unless absolute.
pub fn file_of(videos: &FsPath, spec: &ChannelSpec) -> PathBuf {
    match spec.file.is_absolute() {
        true => spec.file.clone(),
        false => videos.join(&spec.file),
    }
}

/// How a channel's path is described to viewers: the file's rate, and its size when RFC
/// 2435's header cannot carry it.
pub fn announced(media: &PreparedMedia, fps: f64) -> Announced {
    let dimensions = media
        .dimensions
        .filter(|(w, h)| *w > 2040 || *h > 2040)
        .map(|(w, h)| (u32::from(w), u32::from(h)));
    Announced {
        payload_type: 26,
        control: None,
        framerate: Some(fps),
        dimensions,
    }
}

/// Makes every `--channel` of `config` a path of `shared` and starts its thread: an error
/// names the channel whose file cannot be played.
pub fn start_all(shared: &Arc<Shared>) -> std::io::Result<()> {
    let config = &shared.config;
    for spec in &config.channels {
        let file = file_of(&config.videos, spec);
        let fail = |why: String| {
            let why = format!("--channel {}={}: {why}", spec.name, file.display());
            std::io::Error::new(std::io::ErrorKind::InvalidInput, why)
        };
        let media = shared.cache.get(&file).map_err(|e| fail(e.to_string()))?;
        if let Some(why) = &media.unsupported {
            return Err(fail(why.clone()));
        }
        if media.frames.is_empty() {
            return Err(fail("the file has no frame".into()));
        }
        let fps = media.fps(config.fps);
        let name = crate::catalog::name_in(&config.videos, &file);
        let path = shared
            .live
            .add_channel(&spec.name, announced(&media, fps), &name)
            .map_err(|e| fail(e.to_string()))?;
        spawn(path, media, fps, Arc::downgrade(shared))?;
    }
    Ok(())
}

/// Starts the channel thread feeding `path` from `media` at `fps`; it stops when the server
/// does (or is gone).
pub fn spawn(
    path: Arc<Path>,
    media: Arc<PreparedMedia>,
    fps: f64,
    shared: Weak<Shared>,
) -> std::io::Result<()> {
    let schedule = Schedule {
        start: Instant::now(),
        fps,
        frames: media.frames.len(),
    };
    std::thread::Builder::new()
        .name(format!("channel-{}", path.name))
        .spawn(move || run(&path, &media, schedule, &shared))?;
    Ok(())
}

/// Whether the server that owns the channel still runs.
fn running(shared: &Weak<Shared>) -> bool {
    shared
        .upgrade()
        .is_some_and(|s| !s.stopping.load(std::sync::atomic::Ordering::SeqCst))
}

fn run(path: &Path, media: &PreparedMedia, schedule: Schedule, shared: &Weak<Shared>) {
    let mut next = 0u64;
    while running(shared) {
        let due = schedule.due(next);
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).min(STOP_CHECK));
            continue;
        }
        let n = schedule.catch_up(next, now);
        // Frames skipped to stay on the timeline are lost to every viewer alike.
        path.counters.frames_lost.fetch_add(n - next, relaxed());
        match frame(media, schedule.file_frame(n), schedule.rtptime(n)) {
            Some(f) => {
                path.counters.frames_in.fetch_add(1, relaxed());
                path.publish(f);
            }
            None => drop(path.counters.frames_lost.fetch_add(1, relaxed())),
        }
        next = n + 1;
    }
    log::info!("live/{}: channel stopped", path.name);
    path.end();
}

fn relaxed() -> std::sync::atomic::Ordering {
    std::sync::atomic::Ordering::Relaxed
}

/// File frame `i` as a live frame at `rtptime`; `None` when it cannot be sent now (skipped,
/// or its conversion not ready).
fn frame(media: &PreparedMedia, i: usize, rtptime: u32) -> Option<LiveFrame> {
    let received = Instant::now();
    let (jpeg, params, scan_start) = match media.rtp_frame(i).ok()? {
        RtpFrame::File(params, scan) => {
            let whole = &media.data[media.frames[i].jpeg.clone()];
            (whole.to_vec(), params.clone(), whole.len() - scan.len())
        }
        RtpFrame::Converted(c) => (c.jpeg.clone(), c.params.clone(), c.scan_start),
    };
    Some(LiveFrame {
        scan: scan_start..jpeg.len(),
        jpeg,
        params,
        rtptime,
        received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_due_on_an_absolute_schedule_and_rtp_times_go_on_across_loops() {
        let start = Instant::now();
        let s = Schedule {
            start,
            fps: 25.0,
            frames: 10,
        };
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(250), start + Duration::from_secs(10));
        assert_eq!(s.rtptime(1), 3600);
        // Frame 12 is the file's frame 2 of the second loop, 12 frames of time later.
        assert_eq!((s.file_frame(12), s.rtptime(12)), (2, 12 * 3600));
        // Late by less than a period: the frame itself; by more: the one due now.
        assert_eq!(s.catch_up(5, s.due(5) + Duration::from_millis(30)), 5);
        assert_eq!(s.catch_up(5, s.due(9) + Duration::from_millis(1)), 9);
        // A rate that does not divide 90 kHz stays on the exact timeline, never drifting.
        let odd = Schedule { fps: 29.97, ..s };
        assert_eq!(odd.rtptime(29_970), 90_000 * 1000);
    }

    #[test]
    fn a_channel_is_named_as_a_live_path_and_needs_a_file() {
        let spec: ChannelSpec = "news=clips/a.mp4".parse().unwrap();
        assert_eq!(spec.name, "news");
        assert_eq!(
            file_of(FsPath::new("/v"), &spec),
            PathBuf::from("/v/clips/a.mp4")
        );
        let abs: ChannelSpec = "x=/tmp/b.mjpeg".parse().unwrap();
        assert_eq!(
            file_of(FsPath::new("/v"), &abs),
            PathBuf::from("/tmp/b.mjpeg")
        );
        for bad in ["news", "=a.mjpeg", "a/b=c.mjpeg", "news=", ".x=a.mjpeg"] {
            assert!(bad.parse::<ChannelSpec>().is_err(), "{bad}");
        }
    }
}
