//! Files prepared once for every session: the frame index and, per frame, what RFC 2435 sends.
//!
//! Preparing is the expensive part (reading the file and walking every JPEG's markers), so
//! [`MediaCache`] keys each result by path, size and modification time and shares it between
//! sessions as an `Arc`; a file replaced on disk is prepared again on its next DESCRIBE/SETUP.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rtsp_proto::jpeg::{JpegInfo, Rfc2435Params};
use rtsp_proto::mjpeg;

/// Largest file the server reads (it is held in memory whole).
pub const MAX_FILE: u64 = 1 << 30;
/// Largest frame accepted from a plain `.mjpeg` (RFC 2435's fragment offset has 24 bits).
pub const MAX_FRAME: usize = 8 << 20;

/// One frame of a prepared file.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    /// The whole JPEG, for the lab's one-JPEG-per-datagram transport.
    pub jpeg: Range<usize>,
    /// What RFC 2435 carries: from the end of the SOS header through EOI. `None` with
    /// [`PreparedFrame::params`] when the frame is corrupt and is skipped.
    pub scan: Range<usize>,
    /// The RFC 2435 header fields; `None` for a corrupt frame (skipped).
    pub params: Option<Rfc2435Params>,
}

/// A `.mjpeg` file ready to stream.
#[derive(Debug)]
pub struct PreparedMedia {
    pub path: PathBuf,
    pub data: Vec<u8>,
    pub frames: Vec<PreparedFrame>,
    /// Why RFC 2435 cannot carry this file (the first frame it cannot), if so.
    pub unsupported: Option<String>,
    /// Picture size of the first good frame.
    pub dimensions: Option<(u16, u16)>,
    /// The file's modification time as seconds, used as the SDP session id.
    pub version: u64,
}

impl PreparedMedia {
    /// Reads and indexes `path`. Corrupt frames are kept as skipped entries (so frame numbers
    /// and timing stay those of the file) and logged once.
    pub fn prepare(path: &Path) -> Result<PreparedMedia, PrepareError> {
        let meta = std::fs::metadata(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        if meta.len() > MAX_FILE {
            return Err(PrepareError::TooLarge(meta.len()));
        }
        let data = std::fs::read(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        let index =
            mjpeg::index(&data, MAX_FRAME).map_err(|e| PrepareError::Format(e.to_string()))?;
        if let Some(w) = &index.warning {
            log::warn!("{}: {w}", path.display());
        }
        let mut unsupported = None;
        let mut dimensions = None;
        let frames = index
            .frames
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let jpeg = &data[r.clone()];
                match JpegInfo::parse(jpeg) {
                    Ok(info) => {
                        dimensions.get_or_insert((info.width, info.height));
                        let params = match info.rfc2435() {
                            Ok(p) => Some(p),
                            Err(why) => {
                                unsupported.get_or_insert_with(|| {
                                    format!("frame {i}: {why}; RFC 2435 carries only baseline 4:2:0/4:2:2 JPEG with standard Huffman tables")
                                });
                                None
                            }
                        };
                        PreparedFrame {
                            jpeg: r.clone(),
                            scan: r.start + info.scan_data.start..r.end,
                            params,
                        }
                    }
                    Err(e) => {
                        log::warn!("{}: frame {i} is corrupt ({e}): it will be skipped", path.display());
                        PreparedFrame {
                            jpeg: r.clone(),
                            scan: r.end..r.end,
                            params: None,
                        }
                    }
                }
            })
            .collect();
        if let Some(why) = &unsupported {
            log::warn!("{}: {why}", path.display());
        }
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
        })
    }

    /// Duration at `fps` frames per second.
    pub fn duration(&self, fps: f64) -> f64 {
        self.frames.len() as f64 / fps
    }
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
#[derive(Default)]
pub struct MediaCache {
    entries: Mutex<HashMap<PathBuf, (CacheKey, Arc<PreparedMedia>)>>,
}

impl MediaCache {
    /// The prepared file at `path`, prepared now if it is new or changed on disk.
    pub fn get(&self, path: &Path) -> Result<Arc<PreparedMedia>, PrepareError> {
        let meta = std::fs::metadata(path).map_err(|e| PrepareError::Io(e.to_string()))?;
        let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
        if let Some((k, media)) = self.entries.lock().unwrap().get(path) {
            if *k == key {
                return Ok(media.clone());
            }
        }
        // Prepared outside the lock so one slow file does not stall other sessions.
        let media = Arc::new(PreparedMedia::prepare(path)?);
        self.entries
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), (key, media.clone()));
        Ok(media)
    }
}
