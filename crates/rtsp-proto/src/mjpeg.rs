//! The `.mjpeg` containers: the lab's (each JPEG behind its length as 5 ASCII digits) and plain
//! concatenated JPEG (what `ffmpeg -f mjpeg` writes). [`index`] tells them apart by their first
//! bytes and finds every frame once, so a server seeks and streams by frame number.

use std::ops::Range;

use crate::jpeg::{JpegError, JpegInfo};

/// The lab's length prefix is 5 decimal digits, so no lab frame can exceed this.
pub const LAB_MAX_FRAME: usize = 99_999;

/// Which container a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `NNNNN` + JPEG, repeated (the lab's `VideoStream.py`).
    Lab,
    /// JPEG after JPEG, frames found by walking their markers.
    Plain,
}

/// A problem that ended the index early, or a corrupt stretch it stepped over; the frames
/// before it are still served. Each says which frame and at which byte of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegWarning {
    /// A lab frame's length prefix announces more bytes than the file has left.
    #[error("frame {frame} at byte {offset} is truncated ({announced} bytes announced, {available} left): skipped")]
    TruncatedFrame {
        frame: usize,
        offset: usize,
        announced: usize,
        available: usize,
    },
    /// A plain file ends inside a JPEG, before its EOI (nothing says how long it would be).
    #[error(
        "frame {frame} at byte {offset} ends before its EOI ({available} bytes left): skipped"
    )]
    UnfinishedFrame {
        frame: usize,
        offset: usize,
        available: usize,
    },
    /// Where a lab frame's 5-digit length should be, there is none: indexing stops there
    /// (often trailing bytes after the last frame; every frame before plays).
    #[error(
        "no 5-digit frame length at byte {offset}, after {frame} frames: the last {remaining} bytes are not played"
    )]
    NoLength {
        frame: usize,
        offset: usize,
        remaining: usize,
    },
    /// A plain file's bytes at `offset` are not a JPEG.
    #[error("frame {frame} at byte {offset} is not a JPEG ({cause})")]
    NotJpeg {
        frame: usize,
        offset: usize,
        #[source]
        cause: JpegError,
    },
    /// A frame over the caller's size limit.
    #[error("frame {frame} at byte {offset} is {len} bytes, over the {limit}-byte limit: it and the frames after it are not played")]
    TooLarge {
        frame: usize,
        offset: usize,
        len: usize,
        limit: usize,
    },
    /// Every entry of a lab file was empty (length 0).
    #[error("the {len}-byte file's entries are all empty")]
    OnlyEmptyEntries { len: usize },
}

/// Why a file cannot be served at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    /// The first bytes are neither container's.
    #[error("neither a lab .mjpeg (5-digit length + JPEG) nor concatenated JPEG")]
    UnknownFormat,
    /// Not one frame could be indexed; `why` is the problem that stopped the index.
    #[error("no complete frame: {why}")]
    NoFrames {
        #[source]
        why: MjpegWarning,
    },
}

/// A frame the lab container's five digits cannot count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len}-byte frame exceeds the lab format's {LAB_MAX_FRAME}")]
pub struct LabFrameTooLarge {
    /// The frame's size in bytes.
    pub len: usize,
}

/// Where each frame of a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MjpegIndex {
    pub container: Container,
    /// Byte ranges of each JPEG (SOI..EOI for plain files; the lab's frame as its length says).
    pub frames: Vec<Range<usize>>,
    /// Why indexing stopped before the end of the file, or the first corrupt stretch it
    /// skipped, if any.
    pub warning: Option<MjpegWarning>,
}

/// Detects the container from the first bytes.
pub fn detect(data: &[u8]) -> Option<Container> {
    if data.starts_with(&[0xff, 0xd8]) {
        Some(Container::Plain)
    } else if data.len() >= 7 && lab_length(&data[..5]).is_some() && data[5..7] == [0xff, 0xd8] {
        Some(Container::Lab)
    } else {
        None
    }
}

/// The lab writes the length with Python's `%05d`; be lenient about leading spaces.
fn lab_length(digits: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(digits).ok()?.trim_start();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Indexes every frame of `data`, refusing frames over `max_frame` bytes.
pub fn index(data: &[u8], max_frame: usize) -> Result<MjpegIndex, MjpegError> {
    let container = detect(data).ok_or(MjpegError::UnknownFormat)?;
    let walk = match container {
        Container::Lab => walk_lab(data, max_frame),
        Container::Plain => walk_plain(data, max_frame),
    };
    if walk.frames.is_empty() {
        let why = walk
            .warning
            .unwrap_or(MjpegWarning::OnlyEmptyEntries { len: data.len() });
        return Err(MjpegError::NoFrames { why });
    }
    Ok(MjpegIndex {
        container,
        frames: walk.frames,
        warning: walk.warning,
    })
}

/// The frames one container walk found, and what stopped it or was stepped over.
struct Walk {
    frames: Vec<Range<usize>>,
    warning: Option<MjpegWarning>,
}

/// Follows the lab's length prefixes from frame to frame.
fn walk_lab(data: &[u8], max_frame: usize) -> Walk {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (frame, offset) = (frames.len(), pos);
        let Some(len) = data.get(pos..pos + 5).and_then(lab_length) else {
            let remaining = data.len() - offset;
            let warning = Some(MjpegWarning::NoLength {
                frame,
                offset,
                remaining,
            });
            return Walk { frames, warning };
        };
        let start = pos + 5;
        let available = data.len() - start;
        let warning = if len > available {
            MjpegWarning::TruncatedFrame {
                frame,
                offset,
                announced: len,
                available,
            }
        } else if len > max_frame {
            MjpegWarning::TooLarge {
                frame,
                offset,
                len,
                limit: max_frame,
            }
        } else {
            // The length says where the next frame is, so even a frame that is not a JPEG
            // keeps its place: whoever decodes it skips it, the rest plays. An empty entry
            // holds no frame; the next length follows at once.
            if len > 0 {
                frames.push(start..start + len);
            }
            pos = start + len;
            continue;
        };
        return Walk {
            frames,
            warning: Some(warning),
        };
    }
    Walk {
        frames,
        warning: None,
    }
}

/// Walks concatenated JPEGs by their markers, stepping over a corrupt one to the next SOI.
fn walk_plain(data: &[u8], max_frame: usize) -> Walk {
    let mut frames = Vec::new();
    // The first corrupt stretch skipped (indexing went on after it).
    let mut skipped = None;
    let mut pos = 0;
    while pos < data.len() {
        let (frame, offset) = (frames.len(), pos);
        let stop = match JpegInfo::parse(&data[pos..]) {
            Ok(info) if info.len > max_frame => MjpegWarning::TooLarge {
                frame,
                offset,
                len: info.len,
                limit: max_frame,
            },
            Ok(info) => {
                frames.push(pos..pos + info.len);
                pos = skip_between_frames(data, pos + info.len);
                continue;
            }
            Err(JpegError::Truncated { .. }) => MjpegWarning::UnfinishedFrame {
                frame,
                offset,
                available: data.len() - pos,
            },
            Err(cause) => {
                let corrupt = MjpegWarning::NotJpeg {
                    frame,
                    offset,
                    cause,
                };
                // Nothing says where a broken frame ends: carry on from the next SOI that
                // starts a marker segment, if there is one. An SOI among the markers that
                // carry nothing (SOI, TEM, RST, fill) right after this one would walk the
                // same markers to the same fault, so the search starts past them: a run of
                // FF D8 cost one walk per SOI, quadratic (found by fuzzing).
                let mut from = pos + 2;
                while data.len() >= from + 2
                    && data[from] == 0xff
                    && matches!(data[from + 1], 0xff | 0xd8 | 0x01 | 0xd0..=0xd7)
                {
                    from += if data[from + 1] == 0xff { 1 } else { 2 };
                }
                match (from..data.len().saturating_sub(2))
                    .find(|&i| data[i..].starts_with(&[0xff, 0xd8, 0xff]))
                {
                    Some(next) => {
                        skipped.get_or_insert(corrupt);
                        pos = next;
                        continue;
                    }
                    None => corrupt,
                }
            }
        };
        return Walk {
            frames,
            warning: Some(stop),
        };
    }
    Walk {
        frames,
        warning: skipped,
    }
}

/// Where the next frame starts after one ending at `pos`. Some writers pad between frames, and
/// RFC 2435 depayloaders that append an EOI after one already received leave a stray FF D9.
fn skip_between_frames(data: &[u8], mut pos: usize) -> usize {
    while pos < data.len() && !data[pos..].starts_with(&[0xff, 0xd8]) {
        if data[pos..].starts_with(&[0xff, 0xd9]) {
            pos += 2;
        } else if matches!(data[pos], 0 | b'\n' | b'\r') {
            pos += 1;
        } else {
            break;
        }
    }
    pos
}

/// Appends one frame in the lab's container. Fails for frames the 5 digits cannot count.
pub fn write_lab_frame(out: &mut Vec<u8>, jpeg: &[u8]) -> Result<(), LabFrameTooLarge> {
    if jpeg.len() > LAB_MAX_FRAME {
        return Err(LabFrameTooLarge { len: jpeg.len() });
    }
    out.extend_from_slice(format!("{:05}", jpeg.len()).as_bytes());
    out.extend_from_slice(jpeg);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The smallest JPEG our marker walk accepts: SOI, SOF0, SOS, one byte of scan, EOI.
    fn tiny_jpeg(scan: &[u8]) -> Vec<u8> {
        let mut j = vec![0xff, 0xd8];
        j.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        j.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0]);
        j.extend_from_slice(scan);
        j.extend_from_slice(&[0xff, 0xd9]);
        j
    }

    /// A run of SOIs ending in a fault, then a frame (the fuzz target found the run: it cost
    /// one walk per SOI). The frame after it is found, the run is the one warning.
    #[test]
    fn a_run_of_sois_before_a_fault_is_stepped_over_once() {
        let mut data = [0xff, 0xd8].repeat(20_000);
        data.extend_from_slice(&[0xff, 0x00]);
        let frame = tiny_jpeg(&[0x12]);
        data.extend_from_slice(&frame);
        let walk = walk_plain(&data, 1 << 20);
        assert_eq!(walk.frames, vec![data.len() - frame.len()..data.len()]);
        assert!(matches!(
            walk.warning,
            Some(MjpegWarning::NotJpeg {
                frame: 0,
                offset: 0,
                ..
            })
        ));
        // SOIs, fill bytes and RST markers between a good frame's SOI and its segments are
        // still walked from that SOI: a frame behind them is not lost.
        let mut padded = vec![0xff, 0xd8, 0xff, 0xff, 0xd0, 0xff, 0xd8];
        padded.extend_from_slice(&frame[2..]);
        assert_eq!(walk_plain(&padded, 1 << 20).frames.len(), 1);
    }

    #[test]
    fn sample_video_is_lab_with_400_frames() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../videos/video.mjpeg"
        ))
        .unwrap();
        let idx = index(&data, LAB_MAX_FRAME).unwrap();
        assert_eq!(idx.container, Container::Lab);
        assert_eq!(idx.frames.len(), 400);
        assert_eq!(idx.warning, None);
    }

    #[test]
    fn plain_frames_are_found_even_with_ff_d9_lookalikes_in_scan_data() {
        // FF 00 D9 is a stuffed FF followed by D9: not an EOI.
        let a = tiny_jpeg(&[1, 0xff, 0x00, 0xd9, 0xff, 0xd0, 2]);
        let b = tiny_jpeg(&[3]);
        let data = [a.clone(), b.clone()].concat();
        let idx = index(&data, 1000).unwrap();
        // A doubled EOI between frames (ffmpeg's depayloader output) is skipped.
        let doubled = [a.clone(), vec![0xff, 0xd9], b.clone()].concat();
        assert_eq!(index(&doubled, 1000).unwrap().frames.len(), 2);
        assert_eq!(idx.container, Container::Plain);
        assert_eq!(idx.frames, vec![0..a.len(), a.len()..a.len() + b.len()]);
    }

    #[test]
    fn truncated_last_frame_is_reported_and_skipped() {
        let a = tiny_jpeg(&[1]);
        let mut lab = Vec::new();
        write_lab_frame(&mut lab, &a).unwrap();
        write_lab_frame(&mut lab, &a).unwrap();
        lab.truncate(lab.len() - 3);
        let idx = index(&lab, 1000).unwrap();
        assert_eq!(idx.frames.len(), 1);
        assert!(matches!(
            idx.warning,
            Some(MjpegWarning::TruncatedFrame { frame: 1, .. })
        ));

        assert_eq!(
            idx.warning,
            Some(MjpegWarning::TruncatedFrame {
                frame: 1,
                offset: 5 + a.len(),
                announced: a.len(),
                available: a.len() - 3
            })
        );

        let mut plain = [a.clone(), a.clone()].concat();
        plain.truncate(plain.len() - 1);
        let idx = index(&plain, 1000).unwrap();
        assert_eq!(idx.frames.len(), 1);
        assert_eq!(
            idx.warning,
            Some(MjpegWarning::UnfinishedFrame {
                frame: 1,
                offset: a.len(),
                available: a.len() - 1
            })
        );
        // No made-up byte counts in the message.
        let text = idx.warning.unwrap().to_string();
        assert!(!text.contains("0 bytes announced"), "{text}");

        // Garbage after the last lab frame: every frame plays, and the message says only
        // the garbage is left out.
        let mut lab = Vec::new();
        write_lab_frame(&mut lab, &a).unwrap();
        write_lab_frame(&mut lab, &a).unwrap();
        lab.extend_from_slice(b"\xff\xff garbage");
        let idx = index(&lab, 1000).unwrap();
        assert_eq!(idx.frames.len(), 2);
        let offset = 2 * (5 + a.len());
        let warning = idx.warning.unwrap();
        assert_eq!(
            warning,
            MjpegWarning::NoLength {
                frame: 2,
                offset,
                remaining: 10
            }
        );
        assert_eq!(
            warning.to_string(),
            format!("no 5-digit frame length at byte {offset}, after 2 frames: the last 10 bytes are not played")
        );
    }

    #[test]
    fn a_corrupt_frame_in_the_middle_is_stepped_over() {
        let (a, b) = (tiny_jpeg(&[1]), tiny_jpeg(&[2]));
        let mut bad = tiny_jpeg(&[3]);
        bad[3] = 0x00; // not a marker after SOI
        let plain = [a.clone(), bad.clone(), b.clone()].concat();
        let idx = index(&plain, 1000).unwrap();
        assert_eq!(idx.frames.len(), 2);
        assert!(matches!(
            idx.warning,
            Some(MjpegWarning::NotJpeg { frame: 1, .. })
        ));
        let mut lab = Vec::new();
        for f in [&a, &bad, &b] {
            write_lab_frame(&mut lab, f).unwrap();
        }
        // The lab's lengths keep every frame in place; the bad one is found when decoded.
        assert_eq!(index(&lab, 1000).unwrap().frames.len(), 3);
    }

    #[test]
    fn zero_length_lab_entries_hold_no_frame() {
        // Found by the mjpeg fuzz target: "    0" then a JPEG's first bytes.
        assert!(matches!(
            index(b"    0\xff\xd8", 1000),
            Err(MjpegError::NoFrames { .. })
        ));
        let a = tiny_jpeg(&[1]);
        let mut lab = b"00000".to_vec();
        write_lab_frame(&mut lab, &a).unwrap();
        // The detector needs SOI right after the first length, so put the real frame first.
        let mut lab2 = Vec::new();
        write_lab_frame(&mut lab2, &a).unwrap();
        lab2.extend_from_slice(b"00000");
        write_lab_frame(&mut lab2, &a).unwrap();
        let idx = index(&lab2, 1000).unwrap();
        assert_eq!(idx.frames.len(), 2);
        assert!(idx.frames.iter().all(|r| !r.is_empty()));
    }

    #[test]
    fn unknown_and_empty_files_are_errors() {
        assert_eq!(index(b"hello world", 1000), Err(MjpegError::UnknownFormat));
        assert_eq!(index(b"", 1000), Err(MjpegError::UnknownFormat));
        assert!(matches!(
            index(b"00010\xff\xd8", 1000),
            Err(MjpegError::NoFrames { .. })
        ));
    }

    #[test]
    fn oversized_frames_are_refused() {
        let a = tiny_jpeg(&[1; 100]);
        let mut lab = Vec::new();
        write_lab_frame(&mut lab, &a).unwrap();
        assert!(matches!(
            index(&lab, 50),
            Err(MjpegError::NoFrames {
                why: MjpegWarning::TooLarge { .. }
            })
        ));
        assert!(matches!(
            index(&a, 50),
            Err(MjpegError::NoFrames {
                why: MjpegWarning::TooLarge { .. }
            })
        ));
    }

    proptest! {
        #[test]
        fn lab_round_trip(scans in prop::collection::vec(prop::collection::vec(0u8..0xff, 1..300), 1..10)) {
            let frames: Vec<Vec<u8>> = scans.iter().map(|s| tiny_jpeg(s)).collect();
            let mut lab = Vec::new();
            let mut plain = Vec::new();
            for f in &frames {
                write_lab_frame(&mut lab, f).unwrap();
                plain.extend_from_slice(f);
            }
            for (data, container) in [(&lab, Container::Lab), (&plain, Container::Plain)] {
                let idx = index(data, LAB_MAX_FRAME).unwrap();
                prop_assert_eq!(idx.container, container);
                let got: Vec<&[u8]> = idx.frames.iter().map(|r| &data[r.clone()]).collect();
                let want: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
                prop_assert_eq!(got, want);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..500), lab in any::<bool>()) {
            if lab && bytes.len() > 7 {
                bytes[..7].copy_from_slice(b"00400\xff\xd8");
            }
            let _ = index(&bytes, LAB_MAX_FRAME);
        }
    }
}
