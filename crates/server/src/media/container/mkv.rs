//! Matroska (`.mkv`; WebM's subset has no Motion-JPEG but is read the same way): a small EBML
//! reader, just enough for `Segment`, `Info/TimecodeScale`, `Tracks/TrackEntry` (`CodecID`
//! `V_MJPEG`, `DefaultDuration`) and each `Cluster`'s `SimpleBlock`s and `BlockGroup/Block`s.
//! A frame is a block's payload; laced blocks (several frames in one) and compressed tracks
//! (`ContentEncodings`) are refused. The rate is `DefaultDuration`'s, else what the blocks'
//! timecodes show. A `Segment` or `Cluster` of unknown size (a live recording) runs to its
//! parent's end, or to the next top-level element.

use std::ops::Range;

use super::{ContainerError, ContainerIndex, Format};

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const CODEC_ID: u32 = 0x86;
const DEFAULT_DURATION: u32 = 0x23_E383;
const CONTENT_ENCODINGS: u32 = 0x6D80;
const CLUSTER: u32 = 0x1F43_B675;
const TIMECODE: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
/// The Segment's children: where a Cluster of unknown size ends.
const TOP_LEVEL: [u32; 8] = [
    CLUSTER,
    INFO,
    TRACKS,
    0x1C53_BB6B, // Cues
    0x1254_C367, // Tags
    0x1043_A770, // Chapters
    0x1941_A469, // Attachments
    0x114D_9B74, // SeekHead
];
const MJPEG_CODEC: &[u8] = b"V_MJPEG";

fn err(offset: usize, why: impl Into<String>) -> ContainerError {
    ContainerError::new(Format::Matroska, offset, why)
}

/// One element's header: its id, where it starts, where its body starts, its size (`None`
/// for "unknown", all ones).
#[derive(Debug, Clone, Copy)]
struct El {
    id: u32,
    at: usize,
    body: usize,
    size: Option<u64>,
}

impl El {
    /// Where the body ends, if it fits in `end`.
    fn end_within(&self, end: usize) -> Option<usize> {
        let size = usize::try_from(self.size?).ok()?;
        self.body.checked_add(size).filter(|&e| e <= end)
    }
}

/// An EBML variable-length integer at `at` (before `end`): its value (with the length marker
/// kept for ids, removed for sizes), its length, and whether all its value bits are ones.
fn vint(
    data: &[u8],
    at: usize,
    end: usize,
    id: bool,
) -> Result<(u64, usize, bool), ContainerError> {
    let first = *data
        .get(at)
        .filter(|_| at < end)
        .ok_or_else(|| err(at, "element header cut short"))?;
    let len = first.leading_zeros() as usize + 1;
    if len > if id { 4 } else { 8 } {
        return Err(err(
            at,
            format!(
                "invalid EBML {} (first byte {first:#04x})",
                if id { "id" } else { "size" }
            ),
        ));
    }
    let bytes = data
        .get(at..at + len)
        .filter(|_| at + len <= end)
        .ok_or_else(|| err(at, "element header cut short"))?;
    let marker = if id { 0 } else { 0x80u8 >> (len - 1) };
    let mut value = u64::from(first & !marker);
    for &b in &bytes[1..] {
        value = value << 8 | u64::from(b);
    }
    let ones = (1u64 << (7 * len)) - 1;
    Ok((value, len, !id && value == ones))
}

/// The element header at `at`, which must lie before `end`.
fn element(data: &[u8], at: usize, end: usize) -> Result<El, ContainerError> {
    let (id, id_len, _) = vint(data, at, end, true)?;
    let (size, size_len, unknown) = vint(data, at + id_len, end, false)?;
    Ok(El {
        id: id as u32,
        at,
        body: at + id_len + size_len,
        size: (!unknown).then_some(size),
    })
}

/// The children of a known-size element `data[from..end]`, each with its end; every child
/// must have a known size and fit.
fn children(data: &[u8], from: usize, end: usize) -> Result<Vec<(El, usize)>, ContainerError> {
    let mut found = Vec::new();
    let mut at = from;
    while at < end {
        let el = element(data, at, end)?;
        let child_end = el.end_within(end).ok_or_else(|| {
            err(
                at,
                format!("element {:#x} reaches past the end of its parent", el.id),
            )
        })?;
        // Every header is at least 2 bytes: the walk always moves on.
        at = child_end;
        found.push((el, child_end));
    }
    Ok(found)
}

/// An unsigned integer element's value (0 to 8 bytes, big-endian).
fn uint(data: &[u8], el: &El, end: usize) -> Result<u64, ContainerError> {
    let bytes = &data[el.body..end];
    if bytes.len() > 8 {
        return Err(err(
            el.at,
            format!("integer element {:#x} of {} bytes", el.id, bytes.len()),
        ));
    }
    Ok(bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b)))
}

/// What the Segment's header elements say of the video track.
#[derive(Debug, Default)]
struct Track {
    number: u64,
    default_duration: Option<u64>,
}

/// What the Segment's top-level elements give: the timecode scale, the video track, and
/// each Cluster with where it ends.
struct SegmentParts {
    scale: u64,
    track: Option<Track>,
    clusters: Vec<(El, usize)>,
}

/// Indexes a Matroska file.
pub fn index(data: &[u8]) -> Result<ContainerIndex, ContainerError> {
    let mut warnings = Vec::new();
    let (segment, seg_end) = segment(data, &mut warnings)?;
    let parts = top_level(data, segment.body, seg_end, &mut warnings)?;
    let track = parts.track.ok_or_else(|| {
        err(
            segment.at,
            "no Tracks element before the end of the Segment",
        )
    })?;
    let mut frames = Vec::new();
    let mut times = Vec::new();
    for (cluster, end) in &parts.clusters {
        blocks(
            data,
            cluster,
            *end,
            track.number,
            &mut frames,
            &mut times,
            &mut warnings,
        )?;
    }
    let fps = match track.default_duration.filter(|&d| d > 0) {
        Some(ns) => Some(1e9 / ns as f64),
        None => rate_from_times(&times, parts.scale),
    };
    Ok(ContainerIndex {
        format: Format::Matroska,
        frames,
        fps,
        warnings,
    })
}

/// The EBML header, then the Segment and where it ends (the file's end when its size is
/// unknown or, with a warning, when the file is cut short).
fn segment(data: &[u8], warnings: &mut Vec<String>) -> Result<(El, usize), ContainerError> {
    let ebml = element(data, 0, data.len())?;
    if ebml.id != EBML {
        return Err(err(0, "no EBML header"));
    }
    let ebml_end = ebml
        .end_within(data.len())
        .ok_or_else(|| err(0, "EBML header cut short"))?;
    let segment = element(data, ebml_end, data.len())?;
    if segment.id != SEGMENT {
        return Err(err(
            ebml_end,
            format!("element {:#x} where the Segment should be", segment.id),
        ));
    }
    let seg_end = match (segment.size, segment.end_within(data.len())) {
        (Some(_), Some(end)) => end,
        (None, _) => data.len(),
        (Some(size), None) => {
            warnings.push(format!(
                "the Segment announces {size} bytes, the file has {} after its header: the file is cut short",
                data.len() - segment.body
            ));
            data.len()
        }
    };
    Ok((segment, seg_end))
}

/// Walks the Segment's top-level elements from `at` to `seg_end`. A file cut short inside
/// an element header or a Cluster keeps what came before it, with a warning.
fn top_level(
    data: &[u8],
    mut at: usize,
    seg_end: usize,
    warnings: &mut Vec<String>,
) -> Result<SegmentParts, ContainerError> {
    let mut parts = SegmentParts {
        scale: 1_000_000,
        track: None,
        clusters: Vec::new(),
    };
    while at < seg_end {
        let el = match element(data, at, seg_end) {
            Ok(el) => el,
            Err(e) if parts.clusters.is_empty() => return Err(e),
            Err(_) => {
                warnings.push(format!(
                    "the file ends inside an element header at byte {at}"
                ));
                break;
            }
        };
        let end = match (el.size, el.end_within(seg_end)) {
            (_, Some(end)) => end,
            (None, _) if el.id == CLUSTER => cluster_end(data, el.body, seg_end)?,
            (None, _) => return Err(err(at, format!("element {:#x} of unknown size", el.id))),
            (Some(_), None) if el.id == CLUSTER => {
                warnings.push(format!(
                    "the Cluster at byte {at} is cut short: the file ends inside it"
                ));
                seg_end
            }
            (Some(_), None) => {
                return Err(err(
                    at,
                    format!("element {:#x} reaches past the end of the file", el.id),
                ))
            }
        };
        match el.id {
            INFO => parts.scale = timecode_scale(data, el.body, end)?.unwrap_or(parts.scale),
            TRACKS if parts.track.is_none() => parts.track = Some(video_track(data, &el, end)?),
            CLUSTER => parts.clusters.push((el, end)),
            _ => {}
        }
        at = end;
    }
    Ok(parts)
}

/// Where a Cluster of unknown size ends: at the next top-level element, or `end`.
fn cluster_end(data: &[u8], from: usize, end: usize) -> Result<usize, ContainerError> {
    let mut at = from;
    while at < end {
        let el = element(data, at, end)?;
        if TOP_LEVEL.contains(&el.id) {
            return Ok(at);
        }
        at = el.end_within(end).unwrap_or(end);
    }
    Ok(end)
}

/// `Info`'s `TimecodeScale` (nanoseconds per block timecode tick), if given.
fn timecode_scale(data: &[u8], from: usize, end: usize) -> Result<Option<u64>, ContainerError> {
    for (el, el_end) in children(data, from, end)? {
        if el.id == TIMECODE_SCALE {
            return Ok(Some(uint(data, &el, el_end)?).filter(|&s| s > 0));
        }
    }
    Ok(None)
}

/// The first `V_MJPEG` track in `Tracks`.
fn video_track(data: &[u8], tracks: &El, end: usize) -> Result<Track, ContainerError> {
    let mut seen = Vec::new();
    for (entry, entry_end) in children(data, tracks.body, end)? {
        if entry.id != TRACK_ENTRY {
            continue;
        }
        let mut track = Track::default();
        let mut codec = &[][..];
        let mut encoded = None;
        for (el, el_end) in children(data, entry.body, entry_end)? {
            match el.id {
                TRACK_NUMBER => track.number = uint(data, &el, el_end)?,
                DEFAULT_DURATION => track.default_duration = Some(uint(data, &el, el_end)?),
                CODEC_ID => codec = &data[el.body..el_end],
                CONTENT_ENCODINGS => encoded = Some(el.at),
                _ => {}
            }
        }
        let codec = codec.strip_suffix(b"\0").unwrap_or(codec);
        if codec != MJPEG_CODEC {
            seen.push(String::from_utf8_lossy(codec).into_owned());
            continue;
        }
        if let Some(at) = encoded {
            let why = "the V_MJPEG track's frames are compressed or encrypted (ContentEncodings): not supported";
            return Err(err(at, why));
        }
        return Ok(track);
    }
    let why = match seen.is_empty() {
        true => "no track".to_string(),
        false => format!("no V_MJPEG track; found {}", seen.join(", ")),
    };
    Err(err(tracks.at, why))
}

/// Appends the frames of `track` in one Cluster, and their times in timecode ticks.
fn blocks(
    data: &[u8],
    cluster: &El,
    end: usize,
    track: u64,
    frames: &mut Vec<Range<usize>>,
    times: &mut Vec<i64>,
    warnings: &mut Vec<String>,
) -> Result<(), ContainerError> {
    let mut base = 0i64;
    let mut at = cluster.body;
    while at < end {
        let Ok(el) = element(data, at, end) else {
            warnings.push(format!(
                "the file ends inside an element header at byte {at}"
            ));
            return Ok(());
        };
        let Some(el_end) = el.end_within(end) else {
            warnings.push(format!(
                "the block at byte {at} is cut short (the file ends inside it): it and the rest are not played"
            ));
            return Ok(());
        };
        match el.id {
            TIMECODE => base = uint(data, &el, el_end)? as i64,
            SIMPLE_BLOCK => block(data, &el, el_end, track, base, frames, times)?,
            BLOCK_GROUP => {
                for (b, b_end) in children(data, el.body, el_end)? {
                    if b.id == BLOCK {
                        block(data, &b, b_end, track, base, frames, times)?;
                    }
                }
            }
            _ => {}
        }
        at = el_end;
    }
    Ok(())
}

/// One block: track number, 16-bit relative timecode, flags, then the frame (no lacing).
fn block(
    data: &[u8],
    el: &El,
    end: usize,
    track: u64,
    base: i64,
    frames: &mut Vec<Range<usize>>,
    times: &mut Vec<i64>,
) -> Result<(), ContainerError> {
    let (number, len, _) = vint(data, el.body, end, false)?;
    if number != track {
        return Ok(());
    }
    let head = el.body + len;
    let Some(fields) = data.get(head..head + 3).filter(|_| head + 3 <= end) else {
        return Err(err(el.at, "block shorter than its header"));
    };
    if fields[2] & 0x06 != 0 {
        return Err(err(
            el.at,
            "laced block (several frames in one): not supported",
        ));
    }
    let relative = i16::from_be_bytes([fields[0], fields[1]]);
    frames.push(head + 3..end);
    times.push(base.saturating_add(i64::from(relative)));
    Ok(())
}

/// Frames per second from block times in ticks of `scale` nanoseconds: the frames after the
/// first over the time they span.
fn rate_from_times(times: &[i64], scale: u64) -> Option<f64> {
    let (first, last) = (times.iter().min()?, times.iter().max()?);
    let span = last.checked_sub(*first).filter(|&s| s > 0)?;
    let seconds = span as f64 * scale as f64 / 1e9;
    Some((times.len() - 1) as f64 / seconds)
}
