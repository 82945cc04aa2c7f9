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

/// A problem that ended the index early; the frames before it are still served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegWarning {
    #[error("frame {frame} at byte {offset} is truncated ({needed} bytes announced, {available} left): skipped")]
    TruncatedFrame {
        frame: usize,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error(
        "frame {frame} at byte {offset} is not a JPEG ({reason}): the rest of the file is skipped"
    )]
    Corrupt {
        frame: usize,
        offset: usize,
        reason: String,
    },
    #[error("frame {frame} at byte {offset} is {len} bytes, over the {limit}-byte limit: the rest of the file is skipped")]
    TooLarge {
        frame: usize,
        offset: usize,
        len: usize,
        limit: usize,
    },
}

/// Why a file cannot be served at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MjpegError {
    #[error("neither a lab .mjpeg (5-digit length + JPEG) nor concatenated JPEG")]
    UnknownFormat,
    #[error("no complete frame: {0}")]
    NoFrames(MjpegWarning),
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
    let mut frames = Vec::new();
    let mut warning = None;
    // The first corrupt stretch skipped in a plain file (indexing went on after it).
    let mut skipped = None;
    let mut pos = 0;
    while pos < data.len() && warning.is_none() {
        let frame = frames.len();
        match container {
            Container::Lab => {
                let Some(len) = data.get(pos..pos + 5).and_then(lab_length) else {
                    warning = Some(MjpegWarning::Corrupt {
                        frame,
                        offset: pos,
                        reason: "no 5-digit length".into(),
                    });
                    break;
                };
                let start = pos + 5;
                let available = data.len() - start;
                if len > available {
                    warning = Some(MjpegWarning::TruncatedFrame {
                        frame,
                        offset: pos,
                        needed: len,
                        available,
                    });
                } else if len > max_frame {
                    warning = Some(MjpegWarning::TooLarge {
                        frame,
                        offset: pos,
                        len,
                        limit: max_frame,
                    });
                } else if len == 0 {
                    // An empty entry holds no frame; the next length follows at once.
                    pos = start;
                } else {
                    // The length says where the next frame is, so even a frame that is not a
                    // JPEG keeps its place: whoever decodes it skips it, the rest plays.
                    frames.push(start..start + len);
                    pos = start + len;
                }
            }
            Container::Plain => match JpegInfo::parse(&data[pos..]) {
                Ok(info) if info.len > max_frame => {
                    warning = Some(MjpegWarning::TooLarge {
                        frame,
                        offset: pos,
                        len: info.len,
                        limit: max_frame,
                    })
                }
                Ok(info) => {
                    frames.push(pos..pos + info.len);
                    pos += info.len;
                    // Some writers pad between frames, and RFC 2435 depayloaders that
                    // append an EOI after one already received leave a stray FF D9.
                    while pos < data.len() && !data[pos..].starts_with(&[0xff, 0xd8]) {
                        if data[pos..].starts_with(&[0xff, 0xd9]) {
                            pos += 2;
                        } else if matches!(data[pos], 0 | b'\n' | b'\r') {
                            pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                Err(JpegError::Truncated { .. }) => {
                    warning = Some(MjpegWarning::TruncatedFrame {
                        frame,
                        offset: pos,
                        needed: 0,
                        available: data.len() - pos,
                    })
                }
                Err(e) => {
                    // Nothing says where a broken frame ends: carry on from the next SOI that
                    // starts a marker segment, if there is one.
                    let next = (pos + 2..data.len().saturating_sub(2))
                        .find(|&i| data[i..].starts_with(&[0xff, 0xd8, 0xff]));
                    let corrupt = MjpegWarning::Corrupt {
                        frame,
                        offset: pos,
                        reason: e.to_string(),
                    };
                    match next {
                        Some(n) => {
                            skipped.get_or_insert(corrupt);
                            pos = n;
                        }
                        None => warning = Some(corrupt),
                    }
                }
            },
        }
    }
    if frames.is_empty() {
        return Err(MjpegError::NoFrames(warning.unwrap_or(
            MjpegWarning::Corrupt {
                frame: 0,
                offset: 0,
                reason: "empty".into(),
            },
        )));
    }
    Ok(MjpegIndex {
        container,
        frames,
        warning: warning.or(skipped),
    })
}

/// Appends one frame in the lab's container. Fails for frames the 5 digits cannot count.
pub fn write_lab_frame(out: &mut Vec<u8>, jpeg: &[u8]) -> Result<(), usize> {
    if jpeg.len() > LAB_MAX_FRAME {
        return Err(jpeg.len());
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

        let mut plain = [a.clone(), a.clone()].concat();
        plain.truncate(plain.len() - 1);
        let idx = index(&plain, 1000).unwrap();
        assert_eq!(idx.frames.len(), 1);
        assert!(matches!(
            idx.warning,
            Some(MjpegWarning::TruncatedFrame { frame: 1, .. })
        ));
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
            Some(MjpegWarning::Corrupt { frame: 1, .. })
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
            Err(MjpegError::NoFrames(_))
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
            Err(MjpegError::NoFrames(_))
        ));
    }

    #[test]
    fn oversized_frames_are_refused() {
        let a = tiny_jpeg(&[1; 100]);
        let mut lab = Vec::new();
        write_lab_frame(&mut lab, &a).unwrap();
        assert!(matches!(
            index(&lab, 50),
            Err(MjpegError::NoFrames(MjpegWarning::TooLarge { .. }))
        ));
        assert!(matches!(
            index(&a, 50),
            Err(MjpegError::NoFrames(MjpegWarning::TooLarge { .. }))
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
