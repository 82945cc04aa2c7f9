//! `server --prepare`: every file of a directory prepared as the server would, every frame
//! that needs it converted on the calling thread, and a line per file saying what was found.

use std::path::{Path, PathBuf};

use super::{is_media_name, ClassCounts, PreparedMedia, Timing};

/// One file's line in the `--prepare` report.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub name: String,
    pub frames: usize,
    /// The rate the file plays at, and where it came from (none when it cannot be read).
    pub timing: Option<Timing>,
    /// The classes found, or why the file could not be read.
    pub counts: Result<ClassCounts, String>,
    /// Frames whose conversion failed when tried (they are skipped when streaming).
    pub failed: usize,
}

impl std::fmt::Display for FileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.counts {
            Ok(c) => {
                write!(f, "{}: {} frames", self.name, self.frames)?;
                if let Some(t) = &self.timing {
                    write!(f, " at {t}")?;
                }
                write!(f, ": {c}")?;
                if self.failed > 0 {
                    write!(f, "; {} conversions failed", self.failed)?;
                }
                Ok(())
            }
            Err(e) => write!(f, "{}: not served: {e}", self.name),
        }
    }
}

/// Prepares every video in `dir` as the server would, converting every frame that needs
/// it, and reports the classes found and the rate each plays at (`default_fps`, the server's
/// `--fps`, for those with none of their own). `progress(file, done, total)` is called per
/// frame.
pub fn prepare_library(
    dir: &Path,
    default_fps: f64,
    mut progress: impl FnMut(&str, usize, usize),
) -> std::io::Result<Vec<FileReport>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_media_name(p))
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
                timing: None,
                counts: Err(e.to_string()),
                failed: 0,
            },
            Ok(media) => {
                let total = media.frames.len();
                let mut failed = 0;
                for i in 0..total {
                    let converting = media.frames[i].class.conversion().is_some();
                    if converting && media.convert_now(i).is_none() {
                        failed += 1;
                    }
                    progress(&name, i + 1, total);
                }
                FileReport {
                    name,
                    frames: total,
                    timing: Some(media.timing_or(default_fps)),
                    counts: Ok(media.counts.clone()),
                    failed,
                }
            }
        };
        reports.push(report);
    }
    Ok(reports)
}
