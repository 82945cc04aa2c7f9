//! What the server tells its operator at startup about the videos it serves: a line per file
//! (its URL, picture size, frame rate, length and size on disk), a warning for each file it
//! cannot serve and why, and one for a directory with nothing to serve. Each file is read and
//! indexed once for this, as a first DESCRIBE would.

use std::path::Path;

use crate::media::{PreparedMedia, Timing};

/// Files described one by one; past this many the rest are counted, so a large library does
/// not hold up the start reading every file.
pub const MAX_LISTED: usize = 50;

/// One servable file, as the startup lines show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The name in the URL (relative to the videos directory).
    pub name: String,
    pub dimensions: Option<(u16, u16)>,
    /// Its frame rate and where that came from.
    pub timing: Timing,
    pub frames: usize,
    pub bytes: u64,
}

impl Entry {
    /// `384x288, 20 fps (the --fps default), 00:20, 2.1 MB`.
    pub fn facts(&self) -> String {
        let size = match self.dimensions {
            Some((w, h)) => format!("{w}x{h}"),
            None => "size unknown".to_string(),
        };
        let secs = (self.frames as f64 / self.timing.fps).round() as u64;
        format!(
            "{size}, {}, {:02}:{:02}, {:.1} MB",
            self.timing,
            secs / 60,
            secs % 60,
            self.bytes as f64 / 1e6
        )
    }
}

/// What the startup lines say about a videos directory.
#[derive(Debug, Default)]
pub struct Library {
    /// The servable files, in name order, at most [`MAX_LISTED`].
    pub entries: Vec<Entry>,
    /// Files named like videos that cannot be served, each with why.
    pub refused: Vec<(String, String)>,
    /// Files past [`MAX_LISTED`], not read.
    pub unlisted: usize,
}

impl Library {
    /// Reads the files of `root` that the catalog serves; `fps` is the rate of files that do
    /// not give their own.
    pub fn read(root: &Path, fps: f64) -> std::io::Result<Library> {
        let names = crate::catalog::list(root)?;
        let mut library = Library {
            unlisted: names.len().saturating_sub(MAX_LISTED),
            ..Library::default()
        };
        for name in names.into_iter().take(MAX_LISTED) {
            let path = root.join(&name);
            match PreparedMedia::prepare(&path, 0) {
                Err(e) => library.refused.push((name, e.to_string())),
                Ok(m) => match m.unsupported {
                    Some(why) => library.refused.push((name, why)),
                    None => library.entries.push(Entry {
                        bytes: m.data.len() as u64,
                        dimensions: m.dimensions,
                        timing: m.timing_or(fps),
                        frames: m.frames.len(),
                        name,
                    }),
                },
            }
        }
        Ok(library)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FpsSource;

    #[test]
    fn facts_read_as_a_person_writes_them() {
        let e = Entry {
            name: "a.mjpeg".into(),
            dimensions: Some((384, 288)),
            timing: Timing {
                fps: 20.0,
                source: FpsSource::Default,
            },
            frames: 400,
            bytes: 2_104_000,
        };
        assert_eq!(
            e.facts(),
            "384x288, 20 fps (the --fps default), 00:20, 2.1 MB"
        );
        let e = Entry {
            timing: Timing {
                fps: 29.97,
                source: FpsSource::Sidecar("a.mjpeg.json".into()),
            },
            frames: 29_970 * 2,
            dimensions: None,
            ..e
        };
        assert_eq!(
            e.facts(),
            "size unknown, 29.97 fps (from a.mjpeg.json), 33:20, 2.1 MB"
        );
    }

    #[test]
    fn the_sample_directory_lists_the_sample() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos");
        let lib = Library::read(&root, 20.0).unwrap();
        let sample = lib
            .entries
            .iter()
            .find(|e| e.name == "video.mjpeg")
            .unwrap();
        assert_eq!((sample.frames, sample.dimensions), (400, Some((384, 288))));
        assert!(lib.refused.is_empty(), "{:?}", lib.refused);
    }
}
