//! Files prepared once for every session: the frame index and, per frame, how RFC 2435 carries
//! it.
//!
//! Each frame is classified when the file is opened (a marker walk: fast):
//! - streamable as is: sent straight from the file's bytes;
//! - convertible without loss: its coefficients are re-coded as baseline with the Annex K
//!   tables and canonical sampling ([`rtsp_proto::jpeg::coeff`]): pixel for pixel the same;
//! - convertible with loss (4:4:4, 4:4:0, 4:1:1, CMYK...): decoded and encoded again as 4:2:0
//!   baseline with the source's own quantization tables, so quality stays where it was;
//! - undecodable: skipped with a warning; the stream goes on.
//!
//! Conversions run ahead of the playhead on a background thread and are cached under a byte
//! limit; a session that reaches a frame not yet converted converts it itself, so PLAY never
//! waits for a whole file. [`MediaCache`] keys each file by path, size and modification time
//! and shares it between sessions as an `Arc`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use rtsp_proto::jpeg::{coeff, JpegInfo, Rfc2435Params};
use rtsp_proto::mjpeg;

/// Largest file the server reads (it is held in memory whole).
pub const MAX_FILE: u64 = 1 << 30;
/// Default largest frame accepted from a file (RFC 2435's fragment offset has 24 bits: 16 MiB
/// is the most it can carry).
pub const MAX_FRAME: usize = 8 << 20;
/// Default bound on the bytes of converted frames kept per file.
pub const DEFAULT_CONVERTED_LIMIT: usize = 64 << 20;

/// What preparation found a frame to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameClass {
    /// RFC 2435 carries it as it is.
    AsIs,
    /// Re-coded in the coefficient domain, pixel for pixel (why it needed it).
    Lossless(&'static str),
    /// Decoded and encoded again as 4:2:0 (why).
    Lossy(&'static str),
    /// Cannot be decoded: skipped (why).
    Skipped(String),
}

impl FrameClass {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            FrameClass::AsIs => "as-is",
            FrameClass::Lossless(_) => "lossless",
            FrameClass::Lossy(_) => "lossy",
            FrameClass::Skipped(_) => "skipped",
        }
    }
}

/// One frame of a prepared file.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    /// The whole JPEG in the file, for the lab's one-JPEG-per-datagram transport.
    pub jpeg: Range<usize>,
    pub class: FrameClass,
    /// For frames sent as they are: the RFC 2435 fields, and the bytes it carries (from the
    /// end of the SOS header through EOI).
    pub as_is: Option<(Rfc2435Params, Range<usize>)>,
}

/// A frame converted for RFC 2435.
#[derive(Debug)]
pub struct Converted {
    pub jpeg: Vec<u8>,
    pub params: Rfc2435Params,
    pub scan_start: usize,
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
            RtpFrame::Converted(c) => (&c.params, &c.jpeg[c.scan_start..]),
        }
    }
}

/// Why [`PreparedMedia::rtp_frame`] has no frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The frame cannot be sent at all (undecodable, or its conversion failed).
    Skipped,
    /// Its conversion is not done yet.
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

/// A `.mjpeg` file ready to stream.
#[derive(Debug)]
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
    converted: Mutex<HashMap<usize, Arc<Converted>>>,
    converted_bytes: AtomicUsize,
    converted_limit: usize,
}

impl PreparedMedia {
    /// Reads, indexes and classifies `path`. Conversion is left for later (see
    /// [`PreparedMedia::rtp_frame`] and [`MediaCache`]).
    pub fn prepare(path: &Path, converted_limit: usize) -> Result<PreparedMedia, PrepareError> {
        Self::prepare_with(path, converted_limit, MAX_FRAME)
    }

    /// [`PreparedMedia::prepare`] with a bound on frame size (frames beyond it end the index,
    /// with a warning).
    pub fn prepare_with(
        path: &Path,
        converted_limit: usize,
        max_frame: usize,
    ) -> Result<PreparedMedia, PrepareError> {
        let meta = std::fs::metadata(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        if meta.len() > MAX_FILE {
            return Err(PrepareError::TooLarge(meta.len()));
        }
        let data = std::fs::read(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        let index = mjpeg::index(&data, max_frame.min(16 << 20))
            .map_err(|e| PrepareError::Format(e.to_string()))?;
        if let Some(w) = &index.warning {
            log::warn!("{}: {w}", path.display());
        }
        let mut dimensions = None;
        let mut counts = ClassCounts::default();
        let frames: Vec<PreparedFrame> = index
            .frames
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (class, as_is) = classify(&data[r.clone()], r.start);
                if let Some((w, h)) = class_dimensions(&data[r.clone()]) {
                    if !matches!(class, FrameClass::Skipped(_)) {
                        dimensions.get_or_insert((w, h));
                    }
                }
                match &class {
                    FrameClass::AsIs => counts.as_is += 1,
                    FrameClass::Lossless(why) => {
                        counts.lossless += 1;
                        if counts.lossless == 1 {
                            counts.reasons.push(format!("lossless: {why}"));
                        }
                    }
                    FrameClass::Lossy(why) => {
                        counts.lossy += 1;
                        if counts.lossy == 1 {
                            counts.reasons.push(format!("lossy: {why}"));
                        }
                    }
                    FrameClass::Skipped(why) => {
                        counts.skipped += 1;
                        if counts.skipped == 1 {
                            counts.reasons.push(format!("skipped: {why}"));
                        }
                        log::warn!("{}: frame {i} skipped: {why}", path.display());
                    }
                }
                PreparedFrame {
                    jpeg: r.clone(),
                    class,
                    as_is,
                }
            })
            .collect();
        let unsupported = (counts.skipped == frames.len())
            .then(|| format!("no frame of this file can be decoded or converted ({counts})"));
        log::info!("{}: {} frames: {counts}", path.display(), frames.len());
        let version = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(PreparedMedia {
            path: path.to_path_buf(),
            data,
            frames,
            unsupported,
            dimensions,
            version,
            counts,
            converted: Mutex::new(HashMap::new()),
            converted_bytes: AtomicUsize::new(0),
            converted_limit,
        })
    }

    /// Duration at `fps` frames per second.
    pub fn duration(&self, fps: f64) -> f64 {
        self.frames.len() as f64 / fps
    }

    /// Bytes of converted frames held now.
    pub fn converted_bytes(&self) -> usize {
        self.converted_bytes.load(Ordering::Relaxed)
    }

    /// What RTP sends for frame `i`, converting it now if no one has yet.
    pub fn rtp_frame(&self, i: usize) -> Result<RtpFrame<'_>, Unavailable> {
        let frame = self.frames.get(i).ok_or(Unavailable::Skipped)?;
        if let Some((params, scan)) = &frame.as_is {
            return Ok(RtpFrame::File(params, &self.data[scan.clone()]));
        }
        if let Some(c) = self.converted.lock().unwrap().get(&i) {
            return Ok(RtpFrame::Converted(c.clone()));
        }
        self.convert(i)
            .map(RtpFrame::Converted)
            .ok_or(Unavailable::Skipped)
    }

    /// Converts frame `i` and keeps it if the limit allows.
    fn convert(&self, i: usize) -> Option<Arc<Converted>> {
        let frame = &self.frames[i];
        let jpeg = &self.data[frame.jpeg.clone()];
        let result = match &frame.class {
            FrameClass::Lossless(_) => coeff::transcode(jpeg).map_err(|e| e.to_string()),
            FrameClass::Lossy(_) => reencode(jpeg),
            _ => return None,
        };
        let converted = result.and_then(|out| {
            let info = JpegInfo::parse(&out).map_err(|e| e.to_string())?;
            let params = info.rfc2435().map_err(str::to_string)?;
            Ok(Converted {
                params,
                scan_start: info.scan_data.start,
                jpeg: out,
            })
        });
        match converted {
            Ok(c) => {
                let c = Arc::new(c);
                if self.converted_bytes.load(Ordering::Relaxed) + c.jpeg.len()
                    <= self.converted_limit
                {
                    let mut map = self.converted.lock().unwrap();
                    if map.insert(i, c.clone()).is_none() {
                        self.converted_bytes
                            .fetch_add(c.jpeg.len(), Ordering::Relaxed);
                    }
                }
                Some(c)
            }
            Err(e) => {
                log::warn!(
                    "{}: frame {i} could not be converted ({e}): skipped",
                    self.path.display()
                );
                None
            }
        }
    }

    /// Converts frames ahead of time, in order, until the limit is reached.
    fn convert_ahead(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let n = self.frames.len();
        let _ = std::thread::Builder::new()
            .name("prepare".into())
            .spawn(move || {
                for i in 0..n {
                    // Stop when the file is no longer served, or the cache is full.
                    let Some(media) = weak.upgrade() else { return };
                    if media.converted_bytes() >= media.converted_limit {
                        return;
                    }
                    let needs = matches!(
                        media.frames[i].class,
                        FrameClass::Lossless(_) | FrameClass::Lossy(_)
                    );
                    if needs && !media.converted.lock().unwrap().contains_key(&i) {
                        media.convert(i);
                    }
                }
            });
    }
}

fn class_dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    JpegInfo::parse(jpeg).ok().map(|i| (i.width, i.height))
}

/// Whether the decoder behind lossy conversion can read the frame.
fn decodable(info: &JpegInfo) -> bool {
    use rtsp_proto::jpeg::marker;
    !info.arithmetic
        && info.precision == 8
        && matches!(info.sof, marker::SOF0 | marker::SOF1 | marker::SOF2)
}

/// Decides how a frame travels; for frames sent as they are, where their RFC 2435 bytes are
/// (offsets into the file, given the frame's own offset `at`).
pub fn classify(jpeg: &[u8], at: usize) -> (FrameClass, Option<(Rfc2435Params, Range<usize>)>) {
    let info = match JpegInfo::parse(jpeg) {
        Ok(i) => i,
        Err(e) => return (FrameClass::Skipped(format!("corrupt: {e}")), None),
    };
    match info.rfc2435() {
        Ok(params) => {
            let scan = at + info.scan_data.start..at + jpeg.len();
            (FrameClass::AsIs, Some((params, scan)))
        }
        Err(why) => match coeff::is_transcodable(&info) {
            Ok(()) => (FrameClass::Lossless(why), None),
            // Re-encoding needs a decoder: Huffman-coded, 8-bit, sequential or progressive.
            Err(lossy) if decodable(&info) => (FrameClass::Lossy(lossy), None),
            Err(not) => (
                FrameClass::Skipped(format!("{not}: cannot be decoded here")),
                None,
            ),
        },
    }
}

/// Decodes a frame and encodes it again as baseline 4:2:0 with standard Huffman tables and the
/// source's own quantization tables (luma for luma, the first chroma table for chroma).
pub fn reencode(jpeg: &[u8]) -> Result<Vec<u8>, String> {
    let info = JpegInfo::parse(jpeg).map_err(|e| e.to_string())?;
    let table = |component: usize| -> Box<[u16; 64]> {
        let q = info
            .components
            .get(component)
            .and_then(|c| info.quant_tables.get(c.tq as usize))
            .and_then(|t| t.clone())
            .or_else(|| info.quant_tables.iter().flatten().next().cloned())
            .unwrap_or_else(|| rtsp_proto::jpeg::tables::q_tables(75).0.to_vec());
        // DQT is zig-zag order, jpeg-encoder takes natural order; 16-bit values are clamped
        // to what an 8-bit table (RFC 2435's only kind) can hold.
        let mut natural = [0u16; 64];
        for k in 0..64 {
            let v = if q.len() == 128 {
                u16::from_be_bytes([q[2 * k], q[2 * k + 1]])
            } else {
                q[k] as u16
            };
            natural[rtsp_proto::jpeg::tables::ZIGZAG[k]] = v.clamp(1, 255);
        }
        Box::new(natural)
    };
    let (luma, chroma) = (table(0), table(1));
    // Three components are YCbCr: keep them so, and only the chroma is resampled. Anything
    // else (CMYK, YCCK) goes through RGB.
    let (pixels, width, height, color) = if info.components.len() == 3 {
        use zune_core::colorspace::ColorSpace;
        use zune_core::options::DecoderOptions;
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
        let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), options);
        let pixels = d.decode().map_err(|e| e.to_string())?;
        let i = d.info().ok_or("no picture size")?;
        (pixels, i.width, i.height, jpeg_encoder::ColorType::Ycbcr)
    } else {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?
            .to_rgb8();
        let (w, h) = (img.width() as u16, img.height() as u16);
        (img.into_raw(), w, h, jpeg_encoder::ColorType::Rgb)
    };
    let mut out = Vec::with_capacity(jpeg.len());
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 100);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    // Its default takes one chroma sample of four; averaging them is what libjpeg does and
    // keeps about 1.5 dB more of the picture.
    enc.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    enc.set_quantization_tables(
        jpeg_encoder::QuantizationTableType::Custom(luma),
        jpeg_encoder::QuantizationTableType::Custom(chroma),
    );
    enc.set_optimized_huffman_tables(false);
    if let Some(ri) = info.restart_interval {
        enc.set_restart_interval(ri);
    }
    enc.encode(&pixels, width, height, color)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Why a file could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("file of {0} bytes is larger than the server holds in memory")]
    TooLarge(u64),
    #[error("not a .mjpeg file: {0}")]
    Format(String),
}

type CacheKey = (PathBuf, u64, Option<SystemTime>);

/// Prepared files shared by all sessions.
pub struct MediaCache {
    entries: Mutex<HashMap<PathBuf, (CacheKey, Arc<PreparedMedia>)>>,
    converted_limit: usize,
    max_frame: usize,
}

impl Default for MediaCache {
    fn default() -> Self {
        MediaCache::new(DEFAULT_CONVERTED_LIMIT, MAX_FRAME)
    }
}

impl MediaCache {
    /// A cache whose files each keep at most `converted_limit` bytes of converted frames and
    /// accept frames up to `max_frame` bytes.
    pub fn new(converted_limit: usize, max_frame: usize) -> Self {
        MediaCache {
            entries: Mutex::new(HashMap::new()),
            converted_limit,
            max_frame,
        }
    }

    /// The prepared file at `path`, prepared now if it is new or changed on disk; frames that
    /// need converting start converting in the background.
    pub fn get(&self, path: &Path) -> Result<Arc<PreparedMedia>, PrepareError> {
        let meta = std::fs::metadata(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
        if let Some((k, media)) = self.entries.lock().unwrap().get(path) {
            if *k == key {
                return Ok(media.clone());
            }
        }
        // Prepared outside the lock so one slow file does not stall other sessions.
        let media = Arc::new(PreparedMedia::prepare_with(
            path,
            self.converted_limit,
            self.max_frame,
        )?);
        if media.counts.lossless + media.counts.lossy > 0 {
            media.convert_ahead();
        }
        self.entries
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), (key, media.clone()));
        Ok(media)
    }
}

/// One file's line in the `--prepare` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub name: String,
    pub frames: usize,
    /// The classes found, or why the file could not be read.
    pub counts: Result<ClassCounts, String>,
    /// Frames whose conversion failed when tried (they are skipped when streaming).
    pub failed: usize,
}

impl std::fmt::Display for FileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.counts {
            Ok(c) => {
                write!(f, "{}: {} frames: {c}", self.name, self.frames)?;
                if self.failed > 0 {
                    write!(f, "; {} conversions failed", self.failed)?;
                }
                Ok(())
            }
            Err(e) => write!(f, "{}: not served: {e}", self.name),
        }
    }
}

/// Prepares every `.mjpeg` in `dir` as the server would, converting every frame that needs
/// it, and reports the classes found. `progress(file, done, total)` is called per frame.
pub fn prepare_library(
    dir: &Path,
    mut progress: impl FnMut(&str, usize, usize),
) -> std::io::Result<Vec<FileReport>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("mjpeg") || e.eq_ignore_ascii_case("mjpg")
                })
        })
        .collect();
    names.sort();
    let mut reports = Vec::new();
    for path in names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = match PreparedMedia::prepare(&path, usize::MAX) {
            Err(e) => FileReport {
                name,
                frames: 0,
                counts: Err(e.to_string()),
                failed: 0,
            },
            Ok(media) => {
                let total = media.frames.len();
                let mut failed = 0;
                for i in 0..total {
                    let converting = matches!(
                        media.frames[i].class,
                        FrameClass::Lossless(_) | FrameClass::Lossy(_)
                    );
                    if converting && media.rtp_frame(i).is_err() {
                        failed += 1;
                    }
                    progress(&name, i + 1, total);
                }
                FileReport {
                    name,
                    frames: total,
                    counts: Ok(media.counts.clone()),
                    failed,
                }
            }
        };
        reports.push(report);
    }
    Ok(reports)
}
