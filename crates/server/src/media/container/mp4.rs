//! QuickTime `.mov` and ISO `.mp4` (ISO/IEC 14496-12): the boxes down to each track's sample
//! table (`moov/trak/mdia/minf/stbl`) are walked here, bounded by their parents; the tables
//! themselves (`stsd`, `stts`, `stsc`, `stsz`, `stco`/`co64`, and `mdhd` for the timescale)
//! are decoded by `mp4-atom`. The track served is the first whose sample entry is
//! Motion-JPEG (`jpeg`, or QuickTime's `mjpa`); its frames are its samples, placed by chunk
//! offset plus the sizes of the samples before them in the chunk. Its rate is the timescale
//! over the mean sample duration: variable durations play at their average, with a warning.
//! Fragmented files (`moof`) are refused.

use mp4_atom::{Co64, Decode, Mdhd, Stco, Stsc, Stsd, Stsz, StszSamples, Stts};

use super::{fourcc, show_fourcc, slice, ContainerError, ContainerIndex, Format};

/// The sample entries that are Motion-JPEG, one JPEG per sample.
const MJPEG_ENTRIES: [&[u8; 4]; 2] = [b"jpeg", b"mjpa"];

fn err(offset: usize, why: impl Into<String>) -> ContainerError {
    ContainerError::new(Format::Mp4, offset, why)
}

/// One box: its type, where it starts, where its body is and where it ends.
#[derive(Debug, Clone, Copy)]
struct Bx {
    kind: [u8; 4],
    at: usize,
    body: usize,
    end: usize,
}

impl Bx {
    /// The whole box, header included, as mp4-atom decodes it.
    fn bytes<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.at..self.end]
    }
}

/// The box at `at`, which must end by `end`. A size of 0 runs to `end`.
fn header(data: &[u8], at: usize, end: usize) -> Result<Bx, ContainerError> {
    let size32 = u32::from_be_bytes(
        fourcc(data, at)
            .filter(|_| at + 8 <= end)
            .ok_or_else(|| err(at, "box header cut short"))?,
    );
    let kind = fourcc(data, at + 4).expect("8 bytes left");
    let name = show_fourcc(&kind);
    let (size, header) = match size32 {
        0 => (end - at, 8),
        1 => {
            let large = slice(data, at + 8, 8)
                .filter(|_| at + 16 <= end)
                .ok_or_else(|| err(at, format!("box {name} is cut short")))?;
            let large = u64::from_be_bytes(large.try_into().expect("8 bytes"));
            (usize::try_from(large).unwrap_or(usize::MAX), 16)
        }
        n => (n as usize, 8),
    };
    if size < header {
        return Err(err(
            at,
            format!("box {name} has size {size}, less than its header"),
        ));
    }
    if size > end - at {
        let why = format!(
            "box {name} of {size} bytes reaches past the end of its parent ({} bytes left): the file is cut short or corrupt",
            end - at
        );
        return Err(err(at, why));
    }
    Ok(Bx {
        kind,
        at,
        body: at + header,
        end: at + size,
    })
}

/// The boxes of `data[from..end]`; one that does not fit is an error naming it.
fn boxes(data: &[u8], from: usize, end: usize) -> Result<Vec<Bx>, ContainerError> {
    let end = end.min(data.len());
    let mut found = Vec::new();
    let mut at = from;
    while at + 8 <= end {
        let b = header(data, at, end)?;
        // Every box is at least its 8-byte header: the walk always moves on.
        at = b.end;
        found.push(b);
    }
    Ok(found)
}

/// The top-level boxes, up to one cut short (often `mdat`, when `moov` came first).
fn top_level(data: &[u8]) -> Vec<Bx> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Ok(b) = header(data, at, data.len()) {
        at = b.end;
        found.push(b);
    }
    found
}

/// The first child of `parent` of type `kind`.
fn child(data: &[u8], parent: &Bx, kind: &[u8; 4]) -> Result<Option<Bx>, ContainerError> {
    Ok(boxes(data, parent.body, parent.end)?
        .into_iter()
        .find(|b| b.kind == *kind))
}

/// `child`, or an error naming what is missing from where.
fn need(data: &[u8], parent: &Bx, kind: &[u8; 4]) -> Result<Bx, ContainerError> {
    child(data, parent, kind)?.ok_or_else(|| {
        let why = format!(
            "{} has no {} box",
            show_fourcc(&parent.kind),
            show_fourcc(kind)
        );
        err(parent.at, why)
    })
}

/// Decodes a table box with mp4-atom, naming the box on failure.
fn decode<T: Decode>(data: &[u8], b: &Bx) -> Result<T, ContainerError> {
    let mut bytes = b.bytes(data);
    T::decode(&mut bytes).map_err(|e| err(b.at, format!("bad {} box: {e}", show_fourcc(&b.kind))))
}

/// Indexes a QuickTime or MP4 file.
pub fn index(data: &[u8]) -> Result<ContainerIndex, ContainerError> {
    // At the top level a box cut short ends the walk: the file's moov may well come before.
    let top = top_level(data);
    if let Some(moof) = top.iter().find(|b| b.kind == *b"moof") {
        return Err(err(moof.at, "fragmented MP4 (moof) is not supported"));
    }
    let moov = top.iter().find(|b| b.kind == *b"moov").ok_or_else(|| {
        err(
            0,
            "no moov box (the file is unfinished, or its index was never written)",
        )
    })?;
    let mut seen = Vec::new();
    for trak in boxes(data, moov.body, moov.end)?
        .iter()
        .filter(|b| b.kind == *b"trak")
    {
        let mdia = need(data, trak, b"mdia")?;
        let stbl = need(data, &need(data, &mdia, b"minf")?, b"stbl")?;
        let stsd_box = need(data, &stbl, b"stsd")?;
        let stsd: Stsd = decode(data, &stsd_box)?;
        let entry = match stsd.codecs.first() {
            Some(mp4_atom::Codec::Unknown(kind)) => <[u8; 4]>::from(*kind),
            // A codec mp4-atom knows (H.264, AAC...): its type is the entry's, after the
            // full box header, the entry count and the entry's size.
            Some(_) => fourcc(data, stsd_box.body + 12).unwrap_or(*b"????"),
            None => continue,
        };
        if !(MJPEG_ENTRIES.contains(&&entry)
            || (entry == *b"mp4v" && mp4v_is_jpeg(data, &stsd_box)))
        {
            seen.push(show_fourcc(&entry));
            continue;
        }
        let mdhd: Mdhd = decode(data, &need(data, &mdia, b"mdhd")?)?;
        return track(data, &stbl, mdhd.timescale);
    }
    let why = match seen.is_empty() {
        true => "no track has samples (no sample entry)".to_string(),
        false => format!(
            "no Motion-JPEG track (jpeg or mjpa); found {}",
            seen.join(", ")
        ),
    };
    Err(err(moov.at, why))
}

/// Whether an `mp4v` sample entry (what ffmpeg writes for Motion-JPEG in `.mp4`) says JPEG:
/// its `esds` decoder configuration has object type 0x6C (ISO/IEC 10918-1, ISO/IEC 14496-1
/// 7.2.6.6.2). The entry is 8 bytes of header and 78 of VisualSampleEntry, then its boxes.
fn mp4v_is_jpeg(data: &[u8], stsd: &Bx) -> bool {
    let entry = stsd.body + 8;
    let Ok(entry) = header(data, entry, stsd.end) else {
        return false;
    };
    let Ok(children) = boxes(data, entry.body + 78, entry.end) else {
        return false;
    };
    let Some(esds) = children.iter().find(|b| b.kind == *b"esds") else {
        return false;
    };
    // After the full box's version and flags: ES_Descriptor (tag 3), then within it
    // DecoderConfigDescriptor (tag 4), whose first byte is the object type.
    let d = data.get(esds.body + 4..esds.end).unwrap_or(&[]);
    let Some(es) = descriptor(d, 0x03) else {
        return false;
    };
    let flags = es.get(2).copied().unwrap_or(0);
    let mut skip = 3;
    if flags & 0x80 != 0 {
        skip += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        skip += 1 + usize::from(es.get(skip).copied().unwrap_or(0)); // URL
    }
    if flags & 0x20 != 0 {
        skip += 2; // OCR_ES_Id
    }
    let config = es.get(skip..).and_then(|rest| descriptor(rest, 0x04));
    config.and_then(|c| c.first()) == Some(&0x6C)
}

/// The body of the descriptor with `tag` at the start of `d` (ISO/IEC 14496-1 8.3.3: a tag
/// byte, then a length in up to four 7-bit groups).
fn descriptor(d: &[u8], tag: u8) -> Option<&[u8]> {
    if *d.first()? != tag {
        return None;
    }
    let mut len = 0usize;
    for i in 1..=4 {
        let b = *d.get(i)?;
        len = len << 7 | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return d.get(i + 1..(i + 1).checked_add(len)?);
        }
    }
    None
}

/// The frames and rate of the sample table `stbl`, at `timescale` ticks per second.
fn track(data: &[u8], stbl: &Bx, timescale: u32) -> Result<ContainerIndex, ContainerError> {
    let mut warnings = Vec::new();
    let stsz_box = need(data, stbl, b"stsz")?;
    let sizes = sample_sizes(data, &stsz_box)?;
    let stsc: Stsc = decode(data, &need(data, stbl, b"stsc")?)?;
    let chunks: Vec<u64> = match child(data, stbl, b"stco")? {
        Some(b) => decode::<Stco>(data, &b)?
            .entries
            .into_iter()
            .map(u64::from)
            .collect(),
        None => match child(data, stbl, b"co64")? {
            Some(b) => decode::<Co64>(data, &b)?.entries,
            None => return Err(err(stbl.at, "stbl has no stco or co64 box")),
        },
    };
    let mut frames = Vec::with_capacity(sizes.len());
    let runs = &stsc.entries;
    let mut run = 0;
    'chunks: for (c, &offset) in chunks.iter().enumerate() {
        // stsc's first_chunk counts from 1; a run lasts until the next run's first chunk.
        while runs
            .get(run + 1)
            .is_some_and(|r| r.first_chunk as usize <= c + 1)
        {
            run += 1;
        }
        let per_chunk = runs.get(run).map_or(0, |r| r.samples_per_chunk as usize);
        let mut at = offset;
        for _ in 0..per_chunk {
            let Some(&size) = sizes.get(frames.len()) else {
                break 'chunks;
            };
            let end = at
                .checked_add(u64::from(size))
                .filter(|&e| e <= data.len() as u64);
            let Some(end) = end else {
                warnings.push(format!(
                    "sample {} at byte {at} ({size} bytes) reaches past the end of the file: it and the rest are not played",
                    frames.len()
                ));
                break 'chunks;
            };
            frames.push(at as usize..end as usize);
            at = end;
        }
    }
    if frames.len() < sizes.len() && warnings.is_empty() {
        warnings.push(format!(
            "stsc and stco place {} of stsz's {} samples: the rest are not played",
            frames.len(),
            sizes.len()
        ));
    }
    let stts: Stts = decode(data, &need(data, stbl, b"stts")?)?;
    let fps = rate(&stts, timescale, &mut warnings);
    Ok(ContainerIndex {
        format: Format::Mp4,
        frames,
        fps,
        warnings,
    })
}

/// Each sample's size. A count of equal sizes is bounded by the file: a sample is a JPEG,
/// never empty, so no file holds more samples than bytes.
fn sample_sizes(data: &[u8], stsz: &Bx) -> Result<Vec<u32>, ContainerError> {
    let stsz_table: Stsz = decode(data, stsz)?;
    match stsz_table.samples {
        StszSamples::Different { sizes } => Ok(sizes),
        StszSamples::Identical { count, size } => {
            let total = u64::from(count) * u64::from(size);
            if total > data.len() as u64 {
                let why =
                    format!("stsz says {count} samples of {size} bytes: more than the file holds");
                return Err(err(stsz.at, why));
            }
            Ok(vec![size; count as usize])
        }
    }
}

/// Frames per second from `stts`: samples over total duration, in `timescale` ticks.
fn rate(stts: &Stts, timescale: u32, warnings: &mut Vec<String>) -> Option<f64> {
    let samples: u64 = stts.entries.iter().map(|e| u64::from(e.sample_count)).sum();
    // In 128 bits: a hostile table's products would overflow a u64 sum.
    let ticks: u128 = (stts.entries.iter())
        .map(|e| u128::from(e.sample_count) * u128::from(e.sample_delta))
        .sum();
    if samples == 0 || ticks == 0 || timescale == 0 {
        return None;
    }
    let fps = samples as f64 * f64::from(timescale) / ticks as f64;
    let deltas = || {
        stts.entries
            .iter()
            .filter(|e| e.sample_count > 0)
            .map(|e| e.sample_delta)
    };
    let (low, high) = (deltas().min()?, deltas().max()?);
    if low != high {
        warnings.push(format!(
            "frame durations vary ({low} to {high} of {timescale} per second): served at their average, {fps:.3} fps"
        ));
    }
    Some(fps)
}
