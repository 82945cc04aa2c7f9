//! HLS and DASH for browsers and CDNs (DESIGN.md, "HTTP delivery"): each video transcoded
//! once to H.264 renditions (`ladder`), cut into CMAF segments of whole closed GOPs, each
//! segment encoded once by a bounded pool of workers (`pool`) ahead of the players, kept in
//! memory and on disk (`store`, `disk`), and described by an HLS playlist and a DASH MPD
//! (`playlist`). The HTTP side (`http::cmaf`) serves them.
//!
//! A segment is a pure function of the file's bytes and the settings, so it has one key
//! ([`Plan::key`] and [`PartKey`]): a replaced file gets new keys, and nothing encoded from
//! the old one is ever served for it. Each segment gets an encoder of its own, so segments
//! encode in any order, two at once, and a player that seeks waits only for its segment. The
//! init segment comes from encoding the first frame alone (the same settings give the same
//! parameter sets), so playlists, which need the codecs, never wait for a whole segment.

mod disk;
mod ladder;
pub mod playlist;
mod pool;
mod prepare;
mod store;

pub use ladder::{default_bitrate, ladder, Rendition, RenditionList, RenditionSpec};
pub use prepare::RenditionReport;
pub use store::{Entity, Part, PartKey, StoreCounters};

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::media::PreparedMedia;
use pool::{Pool, Urgency};
use store::{Lookup, Store};

/// Default length of a segment (`--segment-seconds`).
pub const DEFAULT_SEGMENT_SECONDS: f64 = 2.0;
/// Default bound of the disk cache (`--cache-mb`).
pub const DEFAULT_CACHE_MB: u64 = 2048;
/// Segments kept in memory at most, in bytes (the rest are read back from disk).
pub const MEMORY_LIMIT: usize = 256 << 20;
/// Encode workers for what players wait for: two, as for conversion, so one long encode does
/// not hold up every other player, and no more, so encoding cannot take every core from the
/// pacers. One more, at a lower priority, works ahead of the players (see `pool`).
pub const DEFAULT_WORKERS: usize = 2;
/// Segments queued ahead of the one a player asks for.
const AHEAD: u32 = 3;
/// How long a request waits for its segment's encode before it is answered 503.
const WAIT: Duration = Duration::from_secs(30);
/// Changes whenever what the encoder makes for the same settings does: part of every key.
const ENCODER_VERSION: &str = "openh264-0.9/cmaf-2";

/// The settings of the HLS/DASH side (command line).
#[derive(Debug, Clone, PartialEq)]
pub struct CmafConfig {
    pub segment_seconds: f64,
    /// Empty: the default ladder.
    pub renditions: RenditionList,
    /// Where finished segments are kept across restarts; `None`: memory only.
    pub cache_dir: Option<PathBuf>,
    pub cache_mb: u64,
    pub workers: usize,
}

impl Default for CmafConfig {
    fn default() -> Self {
        CmafConfig {
            segment_seconds: DEFAULT_SEGMENT_SECONDS,
            renditions: RenditionList::default(),
            cache_dir: None,
            cache_mb: DEFAULT_CACHE_MB,
            workers: DEFAULT_WORKERS,
        }
    }
}

/// The cache directory a user's server uses when `--cache-dir` is not given: the system's
/// per-user cache (`$XDG_CACHE_HOME`, else `~/.cache`), or the temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mjpeg-rtsp").join("segments")
}

/// Why a part cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CmafError {
    #[error("no rendition {0:?}")]
    NoRendition(String),
    #[error("segment {0} is past the end ({1} segments)")]
    NoSegment(u32, u32),
    #[error("no frame of this file decodes to a picture size")]
    NoPicture,
    #[error("encoding failed: {0}")]
    Failed(String),
    #[error("the encode did not finish in {0:?}")]
    Busy(Duration),
}

/// How one version of a video is cut and encoded.
pub struct Plan {
    pub media: Arc<PreparedMedia>,
    pub fps: f64,
    /// Ticks a second of the CMAF track: a frame lasts 1000 of them.
    pub timescale: u32,
    pub frames_per_segment: usize,
    pub renditions: Vec<Rendition>,
    /// The file's content and every setting that changes the bytes, hashed.
    pub key: u64,
}

/// Ticks a frame lasts in the track's timescale.
pub const FRAME_TICKS: u32 = 1000;

impl Plan {
    /// Frames of the first segment: half a segment, so a player starts after half the
    /// encode (a 1280x720 source's first 360-line segment is most of its start-up time).
    pub fn first_segment_frames(&self) -> usize {
        self.frames_per_segment.div_ceil(2)
    }

    /// Media segments: the short first one, then whole ones (the last may be shorter).
    pub fn segments(&self) -> u32 {
        let frames = self.media.frames.len();
        let rest = frames.saturating_sub(self.first_segment_frames());
        (usize::from(frames > 0) + rest.div_ceil(self.frames_per_segment)) as u32
    }

    /// The frames of segment `n` (from 1).
    pub fn frames_of(&self, n: u32) -> Range<usize> {
        let first = self.first_segment_frames();
        let start = match n {
            1 => 0,
            n => first + (n as usize - 2) * self.frames_per_segment,
        };
        let len = if n == 1 {
            first
        } else {
            self.frames_per_segment
        };
        start.min(self.media.frames.len())..(start + len).min(self.media.frames.len())
    }

    /// Segment `n`'s duration in seconds.
    pub fn duration_of(&self, n: u32) -> f64 {
        self.frames_of(n).len() as f64 / self.fps
    }

    /// The whole video's duration in seconds.
    pub fn duration(&self) -> f64 {
        self.media.frames.len() as f64 / self.fps
    }

    pub fn rendition(&self, id: &str) -> Result<&Rendition, CmafError> {
        self.renditions
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| CmafError::NoRendition(id.to_string()))
    }

    fn part(&self, rendition: &Rendition, part: Part) -> PartKey {
        PartKey {
            video: self.key,
            rendition: rendition.id.clone(),
            part,
        }
    }
}

/// [`Packager::usage`]: bytes of segments in memory and on disk, encodes queued and running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub memory: u64,
    pub disk: u64,
    pub queued: usize,
    pub running: usize,
}

/// How long a video's plan is used again without looking at its file: a player asks for a
/// segment every couple of seconds, a CDN edge for many at once, and resolving the name and
/// checking the file each time was a quarter of the cost of serving a segment. A file
/// replaced on disk is seen at most this late.
pub const PLAN_REUSE: Duration = Duration::from_secs(1);
/// Names whose plans are kept for reuse at most (then all are forgotten at once).
const PLANS_KEPT: usize = 1024;

/// The HLS/DASH side of one server.
pub struct Packager {
    config: CmafConfig,
    store: Arc<Store>,
    pool: Pool,
    recent: std::sync::Mutex<std::collections::HashMap<String, (Instant, Arc<Plan>)>>,
}

impl Packager {
    /// The packager `config` asks for; a disk cache that cannot be opened is logged and the
    /// server goes on with memory only.
    pub fn new(config: CmafConfig) -> Packager {
        let disk = config.cache_dir.as_ref().and_then(|dir| {
            match disk::DiskCache::open(dir, config.cache_mb << 20) {
                Ok(d) => Some(d),
                Err(e) => {
                    log::warn!(
                        "segment cache {}: {e}: segments are kept in memory only",
                        dir.display()
                    );
                    None
                }
            }
        });
        Packager {
            store: Arc::new(Store::new(MEMORY_LIMIT, disk)),
            pool: Pool::new(config.workers),
            config,
            recent: Default::default(),
        }
    }

    /// The plan of the video called `name`, made by `make` unless one was made less than
    /// [`PLAN_REUSE`] before `now`.
    pub fn plan_for<E>(
        &self,
        name: &str,
        now: Instant,
        make: impl FnOnce() -> Result<Arc<Plan>, E>,
    ) -> Result<Arc<Plan>, E> {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made, plan)) = recent.get(name) {
            if now.saturating_duration_since(*made) < PLAN_REUSE {
                return Ok(plan.clone());
            }
        }
        drop(recent);
        let plan = make()?;
        recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= PLANS_KEPT {
            recent.clear();
        }
        recent.insert(name.to_string(), (now, plan.clone()));
        Ok(plan)
    }

    pub fn config(&self) -> &CmafConfig {
        &self.config
    }

    /// How `media` is cut and encoded at `fps`.
    pub fn plan(&self, media: Arc<PreparedMedia>, fps: f64) -> Result<Arc<Plan>, CmafError> {
        let (w, h) = media.dimensions.ok_or(CmafError::NoPicture)?;
        let renditions = ladder(
            (usize::from(w), usize::from(h)),
            fps,
            &self.config.renditions,
        );
        let frames_per_segment = ((self.config.segment_seconds * fps).round() as usize).max(1);
        let identity = format!(
            "{ENCODER_VERSION} {:016x} {} fps={fps} seg={frames_per_segment} {:?}",
            media.content_hash(),
            media.frames.len(),
            renditions
        );
        Ok(Arc::new(Plan {
            key: fnv1a(identity.as_bytes()),
            timescale: (fps * f64::from(FRAME_TICKS)).round() as u32,
            media,
            fps,
            frames_per_segment,
            renditions,
        }))
    }

    /// The init segment of `rendition`.
    pub fn init(&self, plan: &Arc<Plan>, rendition: &str) -> Result<Arc<Entity>, CmafError> {
        let r = plan.rendition(rendition)?;
        self.get(plan, r, Part::Init)
    }

    /// Media segment `n` (from 1) of `rendition`, and the next few queued behind it.
    pub fn segment(
        &self,
        plan: &Arc<Plan>,
        rendition: &str,
        n: u32,
    ) -> Result<Arc<Entity>, CmafError> {
        let r = plan.rendition(rendition)?;
        if n == 0 || n > plan.segments() {
            return Err(CmafError::NoSegment(n, plan.segments()));
        }
        let got = self.get(plan, r, Part::Segment(n));
        for ahead in n + 1..=(n + AHEAD).min(plan.segments()) {
            self.start(plan, r, Part::Segment(ahead), Urgency::Ahead);
        }
        got
    }

    /// Starts the init segment of every rendition (the playlists need their codecs) and the
    /// first media segment (a player asks for it next).
    pub fn warm(&self, plan: &Arc<Plan>) {
        for r in &plan.renditions {
            self.start(plan, r, Part::Init, Urgency::Demand);
        }
        // A player asks for a first segment right after the playlists: as good as asked for.
        // The lowest first: players start low, then climb as they measure the link.
        for r in plan.renditions.iter().rev() {
            self.start(plan, r, Part::Segment(1), Urgency::Demand);
        }
    }

    /// The RFC 6381 codecs of `rendition`, read from its init segment's `avcC`.
    pub fn codecs(&self, plan: &Arc<Plan>, rendition: &str) -> Result<String, CmafError> {
        let init = self.init(plan, rendition)?;
        let at = init.bytes.windows(4).position(|w| w == b"avcC");
        let sps_head = at.and_then(|i| init.bytes.get(i + 4..i + 8));
        Ok(match sps_head {
            Some(&[_, profile, compat, level]) => {
                h264::codecs_string(&[0x67, profile, compat, level])
            }
            _ => "avc1".to_string(),
        })
    }

    /// The size of a finished part, without making it.
    pub fn size(&self, plan: &Plan, rendition: &Rendition, part: Part) -> Option<u64> {
        self.store.size(&plan.part(rendition, part))
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.store.counters
    }

    /// What the cache holds and the workers do now.
    pub fn usage(&self) -> Usage {
        let (queued, running) = self.pool.load();
        Usage {
            memory: self.store.memory_bytes() as u64,
            disk: self.store.disk.as_ref().map_or(0, |d| d.bytes()),
            queued,
            running,
        }
    }

    fn get(&self, plan: &Arc<Plan>, r: &Rendition, part: Part) -> Result<Arc<Entity>, CmafError> {
        let key = plan.part(r, part);
        let deadline = Instant::now() + WAIT;
        loop {
            match self.store.lookup(&key) {
                Lookup::Ready(e) => return Ok(e),
                Lookup::Failed(why) => return Err(CmafError::Failed(why)),
                Lookup::Make => self.queue(plan, r, part, key.clone(), Urgency::Demand),
                Lookup::Pending => self.pool.promote(&key),
            }
            match self.store.wait(&key, deadline) {
                Some(Ok(e)) => return Ok(e),
                Some(Err(why)) => return Err(CmafError::Failed(why)),
                None if Instant::now() >= deadline => return Err(CmafError::Busy(WAIT)),
                None => continue,
            }
        }
    }

    /// Queues `part` unless it is held or being made.
    fn start(&self, plan: &Arc<Plan>, r: &Rendition, part: Part, urgency: Urgency) {
        let key = plan.part(r, part);
        if let Lookup::Make = self.store.lookup(&key) {
            self.queue(plan, r, part, key, urgency);
        }
    }

    /// Queues the encode of `part` (whose slot is pending in our name).
    fn queue(&self, plan: &Arc<Plan>, r: &Rendition, part: Part, key: PartKey, urgency: Urgency) {
        let (store, plan, r) = (self.store.clone(), plan.clone(), r.clone());
        let job_key = key.clone();
        let job = move || {
            let made = match part {
                Part::Init => encode_init(&plan, &r),
                Part::Segment(n) => {
                    let init = store.peek(&plan.part(&r, Part::Init));
                    encode_segment(&plan, &r, n, init.as_deref())
                }
            };
            store.finish(&job_key, made);
        };
        if !self.pool.submit(key.clone(), urgency, job) {
            self.store.abandon(&key);
        }
    }
}

fn settings(plan: &Plan, r: &Rendition) -> h264::Settings {
    h264::Settings {
        fps: plan.fps,
        gop: plan.frames_per_segment as u32,
        bitrate: r.bitrate,
    }
}

/// The init segment of `r`: the parameter sets of the first frame, encoded alone (a few
/// milliseconds, so the playlists, which need the codecs, answer at once).
fn encode_init(plan: &Plan, r: &Rendition) -> Result<Vec<u8>, String> {
    let media = &plan.media;
    let jpegs = plan
        .frames_of(1)
        .map(|i| &media.data[media.frames[i].jpeg.clone()]);
    let first = h264::first_access_unit(jpegs, (r.width, r.height), settings(plan, r))
        .map_err(|e| format!("{}: the {} init segment: {e}", media.path.display(), r.id))?;
    h264::cmaf::init_segment(r.width as u16, r.height as u16, plan.timescale, &first)
        .map_err(|e| e.to_string())
}

/// Encodes media segment `n` of rendition `r`. Its parameter sets must be the ones `init`
/// (the init segment, when it is at hand) carries: a segment that disagrees would not
/// decode, so it is an error, never served.
fn encode_segment(
    plan: &Plan,
    r: &Rendition,
    n: u32,
    init: Option<&Entity>,
) -> Result<Vec<u8>, String> {
    let started = Instant::now();
    let media = &plan.media;
    let frames = plan.frames_of(n);
    let jpegs = frames
        .clone()
        .map(|i| &media.data[media.frames[i].jpeg.clone()]);
    let run = h264::encode_run(jpegs, (r.width, r.height), settings(plan, r), FRAME_TICKS)
        .map_err(|e| format!("{}: segment {n} of {}: {e}", media.path.display(), r.id))?;
    for (i, why) in &run.substituted {
        log::warn!(
            "{}: frame {} does not decode ({why}): the {} rendition shows the frame before it",
            media.path.display(),
            frames.start + i,
            r.id
        );
    }
    let decode_time = (frames.start as u64) * u64::from(FRAME_TICKS);
    let segment =
        h264::cmaf::media_segment(n, decode_time, &run.samples).map_err(|e| e.to_string())?;
    if let (Some(init), Some((sps, pps))) = (init, h264::parameter_sets(&run.first)) {
        let holds = |unit: &[u8]| init.bytes.windows(unit.len()).any(|w| w == unit);
        if !holds(&sps) || !holds(&pps) {
            return Err(format!(
                "{}: segment {n} of {} has parameter sets its init segment lacks",
                media.path.display(),
                r.id
            ));
        }
    }
    log::debug!(
        "{}: {} segment {n}: {} frames in {:?}, {} bytes",
        media.path.display(),
        r.id,
        frames.len(),
        started.elapsed(),
        segment.len()
    );
    Ok(segment)
}

/// FNV-1a, 64 bits: the keys of versions and the entity tags of what the HTTP side serves.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
