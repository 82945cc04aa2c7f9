//! Files prepared once for every session: the frame index and, per frame, how RFC 2435 carries
//! it.
//!
//! Each frame is classified when the file is opened ([`jpeg_recode::classify`], a marker walk:
//! fast):
//! - streamable as is: sent straight from the file's bytes;
//! - convertible without loss: its coefficients are re-coded as baseline with the Annex K
//!   tables and canonical sampling: pixel for pixel the same;
//! - convertible with loss (4:4:4, 4:4:0, 4:1:1, CMYK...): decoded and encoded again as 4:2:0
//!   baseline with the source's own quantization tables, so quality stays where it was;
//! - undecodable: skipped with a warning; the stream goes on.
//!
//! Conversion never happens on the send path. Two workers shared by the whole server
//! ([`MediaCache`]'s pool) convert the frames just ahead of every position being read, under a
//! byte limit per file (the `convert` module keeps that state); [`PreparedMedia::rtp_frame`] only looks
//! up what is ready and reports a frame that is not as [`Unavailable::NotReady`] (the pacer
//! skips it and counts it). [`MediaCache`] keys each file by path, size and modification time,
//! shares it between sessions as an `Arc`, and starts converting from frame 0 as soon as a file
//! is prepared: the request that prepares it waits for the first frames, so a PLAY right after
//! finds them ready. `server --prepare` ([`prepare_library`]) converts every frame on its own
//! thread instead.
//!
//! A file is a `.mjpeg` (the lab's or concatenated JPEG, [`mjpeg::index`]) or Motion-JPEG in
//! AVI, MP4/MOV or Matroska ([`container`]), told apart by its first bytes. Each has its own
//! frame rate ([`timing`]): the container's, a `.mjpeg`'s sidecar `NAME.mjpeg.json`, or the
//! server's `--fps` for a file that says nothing.

mod cache;
pub mod container;
mod convert;
mod report;
#[cfg(test)]
mod tests;
pub mod timing;

pub(crate) use cache::lower_priority;
pub use cache::MediaCache;
pub use cache::DEFAULT_WORKERS;
pub use convert::{Converter, Recoder, DEFAULT_LOOKAHEAD, READER_TIMEOUT};
pub use jpeg_recode::{Conversion, ConvertError, Converted, FrameClass};
pub use report::{prepare_library, FileReport};
pub use timing::{FpsSource, Timing};

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rtsp_proto::jpeg::{JpegInfo, Rfc2435Params};
use rtsp_proto::mjpeg;

use convert::Conversions;

/// Largest file the server reads (it is held in memory whole).
pub const MAX_FILE: u64 = 1 << 30;
/// Default largest frame accepted from a file (RFC 2435's fragment offset has 24 bits: 16 MiB
/// is the most it can carry).
pub const MAX_FRAME: usize = 8 << 20;
/// Default bound on the bytes of converted frames kept per file.
pub const DEFAULT_CONVERTED_LIMIT: usize = 64 << 20;

/// The file name extensions the server serves (any case).
pub const MEDIA_EXTENSIONS: [&str; 7] = ["mjpeg", "mjpg", "avi", "mov", "mp4", "mkv", "webm"];

/// Whether `path` names a file the server serves: `.mjpeg` or `.mjpg`, or a container that
/// may hold Motion-JPEG (`.avi .mov .mp4 .mkv .webm`), in any case, whatever else the
/// directory holds. The catalog and `--prepare` both ask this.
pub fn is_media_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MEDIA_EXTENSIONS.iter().any(|m| e.eq_ignore_ascii_case(m)))
}

/// One frame of a prepared file.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    /// The whole JPEG in the file, for the lab's one-JPEG-per-datagram transport.
    pub jpeg: Range<usize>,
    /// How RFC 2435 carries it; for frames sent as they are, with their RFC 2435 fields.
    pub class: FrameClass,
}

/// What RTP sends for one frame: a view of the file, or a converted copy.
pub enum RtpFrame<'a> {
    File(&'a Rfc2435Params, &'a [u8]),
    Converted(Arc<Converted>),
}

impl RtpFrame<'_> {
    /// The RFC 2435 fields and the bytes to fragment.
    pub fn parts(&self) -> (&Rfc2435Params, &[u8]) {
        match self {
            RtpFrame::File(p, scan) => (p, scan),
            RtpFrame::Converted(c) => (&c.params, c.scan()),
        }
    }
}

/// Why [`PreparedMedia::rtp_frame`] has nothing to send for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The frame cannot be decoded, or its conversion failed: it is never sent.
    #[error("frame is skipped: it cannot be converted")]
    Skipped,
    /// The frame is still to be converted: the caller skips it this time and counts it.
    #[error("frame is not converted yet")]
    NotReady,
}

/// Counts of frame classes in a file, for the log and `--prepare`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCounts {
    pub as_is: usize,
    pub lossless: usize,
    pub lossy: usize,
    pub skipped: usize,
    /// The first reason given for each converting class, as an example.
    pub reasons: Vec<String>,
}

impl ClassCounts {
    fn count(&mut self, class: &FrameClass) {
        let n = match class {
            FrameClass::AsIs { .. } => {
                self.as_is += 1;
                return;
            }
            FrameClass::Lossless(_) => &mut self.lossless,
            FrameClass::Lossy(_) => &mut self.lossy,
            FrameClass::Skipped(_) => &mut self.skipped,
        };
        *n += 1;
        if *n == 1 {
            self.reasons.push(class.to_string());
        }
    }
}

impl std::fmt::Display for ClassCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} as-is, {} lossless, {} lossy, {} skipped",
            self.as_is, self.lossless, self.lossy, self.skipped
        )?;
        if !self.reasons.is_empty() {
            write!(f, " ({})", self.reasons.join("; "))?;
        }
        Ok(())
    }
}

/// Why a file could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("file of {0} bytes is larger than the server holds in memory")]
    TooLarge(u64),
    /// Neither a container the server reads nor a `.mjpeg`.
    #[error("not an AVI, MP4/MOV or Matroska file, nor a .mjpeg: {0}")]
    Format(#[from] mjpeg::MjpegError),
    /// A container the server reads, but broken or holding no Motion-JPEG it can serve.
    #[error("{0}")]
    Container(#[from] container::ContainerError),
}

/// A video file (a `.mjpeg` or a container's Motion-JPEG track) ready to stream.
pub struct PreparedMedia {
    pub path: PathBuf,
    pub data: Vec<u8>,
    pub frames: Vec<PreparedFrame>,
    /// Why RFC 2435 cannot carry this file at all (no frame it can send), if so.
    pub unsupported: Option<String>,
    /// Picture size of the first good frame.
    pub dimensions: Option<(u16, u16)>,
    /// The file's modification time as seconds, used as the SDP session id.
    pub version: u64,
    pub counts: ClassCounts,
    /// The file's own frame rate (its container's, or its sidecar's), if it has one; see
    /// [`PreparedMedia::fps`].
    pub timing: Option<Timing>,
    conversions: Conversions,
    /// [`PreparedMedia::content_hash`], computed once.
    content_hash: std::sync::OnceLock<u64>,
}

impl std::fmt::Debug for PreparedMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMedia")
            .field("path", &self.path)
            .field("frames", &self.frames.len())
            .field("counts", &self.counts)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Why no frame of a file can be sent although some are meant to be converted: none is sent
/// as it is, and the first frame of each kind of conversion failed (an RGB or CMYK file the
/// decoder cannot read, say). Those first conversions run here, once, so DESCRIBE can answer
/// 415 with the reason instead of a stream that never sends a frame; their results are kept.
fn first_conversions_fail(
    frames: &[PreparedFrame],
    data: &[u8],
    conversions: &Conversions,
    path: &Path,
    as_is: usize,
) -> Option<String> {
    if as_is > 0 {
        return None;
    }
    let mut failures = Vec::new();
    for how in [Conversion::Lossless, Conversion::Lossy] {
        let Some(i) = frames
            .iter()
            .position(|f| f.class.conversion() == Some(how))
        else {
            continue;
        };
        let jpeg = &data[frames[i].jpeg.clone()];
        // As in the workers, a converter that panics costs its frame, not the thread.
        let converter = &conversions.converter;
        let tried = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            converter.convert(i, jpeg, how)
        }));
        let why = match tried {
            Ok(result) => {
                let why = result.as_ref().err().map(|e| e.to_string());
                conversions.finish(i, result, path);
                why
            }
            Err(_) => {
                conversions.panicked(i, path);
                Some("the converter panicked".to_string())
            }
        };
        match why {
            None => return None,
            Some(e) => failures.push(format!("frame {i} ({}): {e}", frames[i].class)),
        }
    }
    let why = format!(
        "no frame of this file can be converted: {}",
        failures.join("; ")
    );
    log::warn!("{}: {why}", path.display());
    (!failures.is_empty()).then_some(why)
}

/// The byte range of every frame of `data` (a container's or a `.mjpeg`'s), frames over
/// `max_frame` ending it, and the file's own rate if it has one. Warnings are logged.
fn frame_index(
    path: &Path,
    data: &[u8],
    max_frame: usize,
) -> Result<(Vec<Range<usize>>, Option<Timing>), PrepareError> {
    let Some(found) = container::index(data) else {
        let index = mjpeg::index(data, max_frame)?;
        if let Some(w) = &index.warning {
            log::warn!("{}: {w}", path.display());
        }
        return Ok((index.frames, timing::from_sidecar(path)));
    };
    let mut index = found?;
    for w in &index.warnings {
        log::warn!("{}: {w}", path.display());
    }
    if let Some(n) = index.frames.iter().position(|f| f.len() > max_frame) {
        let f = &index.frames[n];
        log::warn!(
            "{}: frame {n} at byte {} is {} bytes, over the {max_frame}-byte limit: it and the frames after it are not played",
            path.display(),
            f.start,
            f.len()
        );
        index.frames.truncate(n);
    }
    if index.frames.is_empty() {
        let why = "no frame in the video track".to_string();
        return Err(container::ContainerError {
            format: index.format,
            offset: 0,
            why,
        }
        .into());
    }
    let timing = index.fps.map(|fps| Timing {
        fps,
        source: FpsSource::Container(index.format),
    });
    if timing.is_none() {
        log::warn!(
            "{}: the {} file gives no frame rate: the --fps default is used",
            path.display(),
            index.format.name()
        );
    }
    Ok((index.frames, timing))
}

impl PreparedMedia {
    /// Reads, indexes and classifies `path`, with the real converter. Nothing is converted
    /// until a [`MediaCache`] serves it or [`PreparedMedia::convert_now`] is called.
    pub fn prepare(path: &Path, converted_limit: usize) -> Result<PreparedMedia, PrepareError> {
        Self::prepare_with(path, converted_limit, MAX_FRAME, Arc::new(Recoder))
    }

    /// [`PreparedMedia::prepare`] with a bound on frame size (frames beyond it end the index,
    /// with a warning) and the converter to use (tests slow it down or make it fail).
    pub fn prepare_with(
        path: &Path,
        converted_limit: usize,
        max_frame: usize,
        converter: Arc<dyn Converter>,
    ) -> Result<PreparedMedia, PrepareError> {
        let io = |source| PrepareError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_FILE {
            return Err(PrepareError::TooLarge(meta.len()));
        }
        let data = std::fs::read(path).map_err(io)?;
        let (index, timing) = frame_index(path, &data, max_frame.min(16 << 20))?;
        let mut dimensions = None;
        let mut counts = ClassCounts::default();
        let mut frames = Vec::with_capacity(index.len());
        for (i, r) in index.iter().enumerate() {
            let jpeg = &data[r.clone()];
            let class = jpeg_recode::classify(jpeg);
            if let FrameClass::Skipped(why) = &class {
                log::warn!("{}: frame {i} skipped: {why}", path.display());
            } else if dimensions.is_none() {
                dimensions = JpegInfo::parse(jpeg).ok().map(|i| (i.width, i.height));
            }
            counts.count(&class);
            frames.push(PreparedFrame {
                jpeg: r.clone(),
                class,
            });
        }
        let unsupported = (counts.skipped == frames.len())
            .then(|| format!("no frame of this file can be decoded or converted ({counts})"));
        if let Some(why) = &unsupported {
            log::warn!("{}: {why}", path.display());
        }
        let rate = timing
            .as_ref()
            .map_or("no frame rate of its own".into(), |t| t.to_string());
        log::info!(
            "{}: {} frames, {rate}: {counts}",
            path.display(),
            frames.len()
        );
        let version = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let conversions = Conversions::new(&frames, converted_limit, converter);
        let unsupported = unsupported.or_else(|| {
            let data = &data[..];
            first_conversions_fail(&frames, data, &conversions, path, counts.as_is)
        });
        Ok(PreparedMedia {
            path: path.to_path_buf(),
            data,
            frames,
            unsupported,
            dimensions,
            version,
            counts,
            timing,
            conversions,
            content_hash: std::sync::OnceLock::new(),
        })
    }

    /// A 64-bit hash of the file's bytes, computed on first use: what the H.264 renditions'
    /// disk cache knows a file by, so a file replaced under the same name (or the same size
    /// and time) never gets the old file's segments, and a renamed one keeps its own.
    pub fn content_hash(&self) -> u64 {
        *self.content_hash.get_or_init(|| {
            // FNV-1a over 8-byte words: a few milliseconds for the sample, fast enough for
            // the largest file the server reads, and once per prepared file.
            let mut words = self.data.chunks_exact(8);
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ self.data.len() as u64;
            for w in &mut words {
                let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
            }
            for &b in words.remainder() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            h
        })
    }

    /// The rate this file plays at: its own ([`PreparedMedia::timing`]), else
    /// `default_fps` (the server's `--fps`).
    pub fn fps(&self, default_fps: f64) -> f64 {
        self.timing.as_ref().map_or(default_fps, |t| t.fps)
    }

    /// [`PreparedMedia::fps`] with where it came from.
    pub fn timing_or(&self, default_fps: f64) -> Timing {
        self.timing.clone().unwrap_or(Timing {
            fps: default_fps,
            source: FpsSource::Default,
        })
    }

    /// How long the file plays, at its own rate or else `default_fps` (the server's `--fps`).
    pub fn duration(&self, default_fps: f64) -> f64 {
        self.frames.len() as f64 / self.fps(default_fps)
    }

    /// Bytes of converted frames held now.
    pub fn converted_bytes(&self) -> usize {
        self.conversions.bytes()
    }

    /// What RTP sends for frame `i`, if it is ready. Never converts and never waits: a frame
    /// still to be converted is [`Unavailable::NotReady`]. Asking also tells the conversion
    /// workers a reader is at `i`, so they convert the frames after it next.
    pub fn rtp_frame(&self, i: usize) -> Result<RtpFrame<'_>, Unavailable> {
        let frame = self.frames.get(i).ok_or(Unavailable::Skipped)?;
        match &frame.class {
            FrameClass::AsIs { params, scan_start } => {
                self.conversions.reader_at(i);
                let scan = frame.jpeg.start + scan_start..frame.jpeg.end;
                Ok(RtpFrame::File(params, &self.data[scan]))
            }
            FrameClass::Skipped(_) => Err(Unavailable::Skipped),
            FrameClass::Lossless(_) | FrameClass::Lossy(_) => {
                self.conversions.get(i).map(RtpFrame::Converted)
            }
        }
    }

    /// What RTP sends for frame `i`, converting it on this thread if it is not ready (for
    /// `server --prepare`, which has no one to wait for); `None` when the frame is skipped.
    pub fn convert_now(&self, i: usize) -> Option<RtpFrame<'_>> {
        let frame = self.frames.get(i)?;
        let Some(how) = frame.class.conversion() else {
            return self.rtp_frame(i).ok();
        };
        self.conversions
            .convert_now(i, &self.data[frame.jpeg.clone()], how, &self.path)
            .map(RtpFrame::Converted)
    }

    /// Whether frame `i` is converted and held now (for tests; asks nothing of the workers).
    #[cfg(test)]
    pub(crate) fn is_ready(&self, i: usize) -> bool {
        self.conversions.is_ready(i)
    }
}
