//! Motion-JPEG in real containers: AVI (RIFF), QuickTime/MP4 (ISO BMFF) and Matroska. Each
//! parser is a pure function over the file's bytes that finds the video track's frames (byte
//! ranges of whole JPEGs in the file) and the rate the file says they play at, so the server
//! streams them from the bytes it already holds, as it does a `.mjpeg`.
//!
//! Every parser takes hostile bytes: no size field is trusted (nothing is allocated from one
//! beyond what the file's length allows, every walk advances or stops), a malformed structure
//! is a [`ContainerError`] naming the byte offset of the bad box, chunk or element, and a file
//! cut short keeps the frames before the cut, with a warning. Frames are not checked here:
//! a frame that is not a JPEG is classified as such by the caller and skipped.
//!
//! [`index`] picks the parser by the file's first bytes, not by its name.

pub(crate) mod avi;
mod mkv;
mod mp4;

use std::ops::Range;

/// Which container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RIFF `AVI ` (OpenCV's `VideoWriter` with `MJPG`, `ffmpeg -c:v mjpeg x.avi`).
    Avi,
    /// ISO BMFF: QuickTime `.mov` or `.mp4` (`jpeg`/`mjpa` sample entries).
    Mp4,
    /// Matroska (`V_MJPEG`).
    Matroska,
}

impl Format {
    /// The name logs and errors use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Avi => "AVI",
            Format::Mp4 => "MP4/MOV",
            Format::Matroska => "Matroska",
        }
    }
}

/// A container's video track: where its frames are and how fast they play.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerIndex {
    pub format: Format,
    /// Byte ranges of each frame's payload in the file, in presentation order.
    pub frames: Vec<Range<usize>>,
    /// Frames per second the file declares (or its timestamps show), if it says.
    pub fps: Option<f64>,
    /// Things worth a log line that did not stop the file being served (a cut-short file,
    /// variable frame durations served at their average).
    pub warnings: Vec<String>,
}

/// Why a container cannot be served: which structure, at which byte of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} file: at byte {offset}: {why}", format.name())]
pub struct ContainerError {
    pub format: Format,
    pub offset: usize,
    pub why: String,
}

impl ContainerError {
    fn new(format: Format, offset: usize, why: impl Into<String>) -> Self {
        ContainerError {
            format,
            offset,
            why: why.into(),
        }
    }
}

/// The container `data` is in, from its first bytes; `None` for anything else (a `.mjpeg`).
pub fn detect(data: &[u8]) -> Option<Format> {
    let at = |r: Range<usize>| data.get(r).unwrap_or(&[]);
    if at(0..4) == b"RIFF" && at(8..12) == b"AVI " {
        return Some(Format::Avi);
    }
    if at(0..4) == [0x1a, 0x45, 0xdf, 0xa3] {
        return Some(Format::Matroska);
    }
    const BOXES: [&[u8; 4]; 6] = [b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"];
    if BOXES.iter().any(|b| at(4..8) == *b) {
        return Some(Format::Mp4);
    }
    None
}

/// Indexes `data` if it is a container; `None` if it is not one (the caller tries `.mjpeg`).
pub fn index(data: &[u8]) -> Option<Result<ContainerIndex, ContainerError>> {
    let format = detect(data)?;
    let result = match format {
        Format::Avi => avi::index(data),
        Format::Mp4 => mp4::index(data),
        Format::Matroska => mkv::index(data),
    };
    Some(result.map(|mut index| {
        if let Some(fps) = index.fps.filter(|&f| !super::timing::playable(f)) {
            index.warnings.push(format!(
                "the file's frame rate {fps} is not one the server plays (above 0, at most 1000): ignored"
            ));
            index.fps = None;
        }
        index
    }))
}

/// `data[at..at + len]` if it is all inside `data`.
fn slice(data: &[u8], at: usize, len: usize) -> Option<&[u8]> {
    data.get(at..at.checked_add(len)?)
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(slice(data, at, 4)?.try_into().ok()?))
}

fn fourcc(data: &[u8], at: usize) -> Option<[u8; 4]> {
    slice(data, at, 4)?.try_into().ok()
}

/// A four-character code as text for messages (non-printable bytes escaped).
fn show_fourcc(code: &[u8]) -> String {
    code.iter()
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
