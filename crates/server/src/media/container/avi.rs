//! AVI (RIFF `AVI `): the header list (`hdrl`: `avih`, a `strl` per stream with `strh` and
//! `strf`) names the Motion-JPEG stream and its rate (`dwRate / dwScale` of its `strh`); its
//! frames are the `NNdc`/`NNdb` chunks of `movi`, found through `idx1` when the file has one
//! that agrees with `movi`, else by walking `movi` (`LIST rec ` nested, odd sizes padded).
//! A zero-length frame chunk is AVI's "repeat the previous frame", so it repeats it and the
//! timing holds. OpenDML files (a second RIFF, `AVIX`: files over 1 GB) are refused.

use std::ops::Range;

use super::{fourcc, show_fourcc, u32_le, ContainerError, ContainerIndex, Format};

/// How deep `LIST`s nest inside `movi` before the file is taken as hostile.
const MAX_DEPTH: usize = 4;

fn err(offset: usize, why: impl Into<String>) -> ContainerError {
    ContainerError::new(Format::Avi, offset, why)
}

/// One RIFF chunk: its id, where its body is, and where the next chunk starts.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    id: [u8; 4],
    at: usize,
    body: usize,
    len: usize,
    /// The declared size reaches past the end of its parent (a cut-short file).
    cut: bool,
}

impl Chunk {
    fn end(&self) -> usize {
        self.body + self.len
    }
    /// Where the next chunk starts: bodies are padded to an even size.
    fn next(&self) -> usize {
        self.end() + (self.len & 1)
    }
    /// A `LIST`'s type, and where its children start.
    fn list(&self, data: &[u8]) -> Option<([u8; 4], usize)> {
        (self.id == *b"LIST" || self.id == *b"RIFF")
            .then(|| fourcc(data, self.body).map(|t| (t, self.body + 4)))
            .flatten()
            .filter(|_| self.len >= 4)
    }
}

/// The chunks in `data[from..end]`, in order; a chunk cut short by `end` is the last.
fn chunks(data: &[u8], from: usize, end: usize) -> impl Iterator<Item = Chunk> + '_ {
    let end = end.min(data.len());
    let mut at = from;
    std::iter::from_fn(move || {
        if at.checked_add(8)? > end {
            return None;
        }
        let id = fourcc(data, at)?;
        let size = u32_le(data, at + 4)? as usize;
        let body = at + 8;
        let len = size.min(end - body);
        let chunk = Chunk {
            id,
            at,
            body,
            len,
            cut: len < size,
        };
        // Every step moves on by at least the 8-byte header.
        at = if chunk.cut { end } else { chunk.next() };
        Some(chunk)
    })
}

/// What `hdrl` says of the Motion-JPEG stream.
struct Stream {
    /// Its number, as frame chunk ids spell it (`00dc` for stream 0).
    number: usize,
    fps: Option<f64>,
}

/// Indexes an AVI file.
pub fn index(data: &[u8]) -> Result<ContainerIndex, ContainerError> {
    let riff = chunks(data, 0, data.len())
        .next()
        .ok_or_else(|| err(0, "no RIFF header"))?;
    let mut warnings = Vec::new();
    if riff.cut {
        warnings.push(format!(
            "the RIFF chunk announces more bytes than the file's {}: the file is cut short",
            data.len()
        ));
    }
    if let Some(extra) = chunks(data, riff.next(), data.len()).find(|c| c.id == *b"RIFF") {
        return Err(err(
            extra.at,
            "a second RIFF chunk (OpenDML AVI, for files over 1 GB) is not supported",
        ));
    }
    let top: Vec<Chunk> = chunks(data, 12, riff.end()).collect();
    let find_list = |kind: &[u8; 4]| {
        top.iter()
            .find(|c| c.list(data).map(|l| l.0) == Some(*kind))
    };
    let hdrl = find_list(b"hdrl").ok_or_else(|| err(12, "no LIST hdrl (the AVI header)"))?;
    let stream = video_stream(data, hdrl)?;
    let movi = find_list(b"movi").ok_or_else(|| err(12, "no LIST movi (the frames)"))?;
    let ids = frame_ids(stream.number);
    let listed = top
        .iter()
        .find(|c| c.id == *b"idx1")
        .and_then(|idx1| from_idx1(data, idx1, movi, &ids));
    let found = match listed {
        Some(Ok(found)) => found,
        other => {
            if let Some(Err(why)) = other {
                warnings.push(format!("{why}: the frames were found by walking movi"));
            }
            let mut found = Vec::new();
            walk_movi(
                data,
                movi.body + 4,
                movi.end(),
                &ids,
                0,
                &mut found,
                &mut warnings,
            )?;
            found
        }
    };
    let frames = repeat_empty(found);
    Ok(ContainerIndex {
        format: Format::Avi,
        frames,
        fps: stream.fps,
        warnings,
    })
}

/// The chunk ids of stream `n`'s frames: compressed (`dc`) and, from some writers, `db`.
fn frame_ids(n: usize) -> [[u8; 4]; 2] {
    let d = [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    [[d[0], d[1], b'd', b'c'], [d[0], d[1], b'd', b'b']]
}

/// Finds the Motion-JPEG video stream in `hdrl`, and its rate.
fn video_stream(data: &[u8], hdrl: &Chunk) -> Result<Stream, ContainerError> {
    let (_, first) = hdrl.list(data).expect("found as a LIST");
    let children: Vec<Chunk> = chunks(data, first, hdrl.end()).collect();
    let avih_rate = children
        .iter()
        .find(|c| c.id == *b"avih")
        .and_then(|c| u32_le(data, c.body).filter(|_| c.len >= 4))
        .filter(|&us| us > 0)
        .map(|us| 1e6 / f64::from(us));
    let strls = children
        .iter()
        .filter(|c| c.list(data).map(|l| l.0) == Some(*b"strl"));
    let mut seen = Vec::new();
    for (number, strl) in strls.enumerate() {
        let (_, first) = strl.list(data).expect("filtered as a LIST");
        let parts: Vec<Chunk> = chunks(data, first, strl.end()).collect();
        let strh = parts
            .iter()
            .find(|c| c.id == *b"strh" && c.len >= 36)
            .ok_or_else(|| err(strl.at, "a stream list (strl) with no whole strh"))?;
        let kind = fourcc(data, strh.body).expect("strh is 36 bytes");
        if kind != *b"vids" {
            continue;
        }
        let handler = fourcc(data, strh.body + 4).expect("strh is 36 bytes");
        // BITMAPINFOHEADER's biCompression, 16 bytes into strf.
        let compression = (parts.iter().find(|c| c.id == *b"strf"))
            .filter(|c| c.len >= 20)
            .and_then(|c| fourcc(data, c.body + 16));
        let mjpeg =
            |c: &[u8; 4]| c.eq_ignore_ascii_case(b"MJPG") || c.eq_ignore_ascii_case(b"JPEG");
        if !(mjpeg(&handler) || compression.as_ref().is_some_and(mjpeg)) {
            seen.push(show_fourcc(&compression.unwrap_or(handler)));
            continue;
        }
        let scale = u32_le(data, strh.body + 20).expect("strh is 36 bytes");
        let rate = u32_le(data, strh.body + 24).expect("strh is 36 bytes");
        let fps = (scale > 0 && rate > 0)
            .then(|| f64::from(rate) / f64::from(scale))
            .or(avih_rate);
        return Ok(Stream { number, fps });
    }
    let why = match seen.is_empty() {
        true => "no video stream (strh vids)".to_string(),
        false => format!("no Motion-JPEG video stream (found {})", seen.join(", ")),
    };
    Err(err(hdrl.at, why))
}

/// Collects the frame chunks of `data[from..end]`, descending into `LIST rec `; `None` for a
/// zero-length chunk (repeat the previous frame).
fn walk_movi(
    data: &[u8],
    from: usize,
    end: usize,
    ids: &[[u8; 4]; 2],
    depth: usize,
    found: &mut Vec<Option<Range<usize>>>,
    warnings: &mut Vec<String>,
) -> Result<(), ContainerError> {
    for c in chunks(data, from, end) {
        if let Some((_, first)) = c.list(data) {
            if depth >= MAX_DEPTH {
                return Err(err(
                    c.at,
                    format!("LISTs nested over {MAX_DEPTH} deep in movi"),
                ));
            }
            walk_movi(data, first, c.end(), ids, depth + 1, found, warnings)?;
        } else if ids.contains(&c.id) {
            if c.cut {
                warnings.push(format!(
                    "frame chunk at byte {} is cut short (the file ends inside it): it and the rest are not played",
                    c.at
                ));
                break;
            }
            found.push((c.len > 0).then(|| c.body..c.end()));
        }
    }
    Ok(())
}

/// The frames `idx1` lists, if it agrees with the file: each entry must point at a chunk of
/// the id it names, inside `movi`. Offsets count from `movi`'s type field, or (some writers)
/// from the file's start: the first entry tells which.
fn from_idx1(
    data: &[u8],
    idx1: &Chunk,
    movi: &Chunk,
    ids: &[[u8; 4]; 2],
) -> Option<Result<Vec<Option<Range<usize>>>, String>> {
    let entries: Vec<&[u8]> = data[idx1.body..idx1.end()].chunks_exact(16).collect();
    let first = entries
        .iter()
        .find(|e| ids.iter().any(|id| e[..4] == *id))?;
    let offset = |e: &[u8]| u32_le(e, 8).expect("16-byte entry") as usize;
    let len = |e: &[u8]| u32_le(e, 12).expect("16-byte entry") as usize;
    let points_at = |base: usize, e: &[u8]| {
        base.checked_add(offset(e))
            .and_then(|at| fourcc(data, at))
            .is_some_and(|id| id == e[..4])
    };
    let base = [movi.body, 0].into_iter().find(|&b| points_at(b, first));
    let Some(base) = base else {
        return Some(Err(format!(
            "idx1 at byte {} does not point at the frame chunks",
            idx1.at
        )));
    };
    let mut found = Vec::new();
    for e in entries
        .iter()
        .filter(|e| ids.iter().any(|id| e[..4] == *id))
    {
        let at = base + offset(e);
        let body = at + 8;
        let inside = at >= movi.body
            && body
                .checked_add(len(e))
                .is_some_and(|end| end <= movi.end());
        let size = u32_le(data, at + 4).map(|s| s as usize);
        if !inside || !points_at(base, e) || size != Some(len(e)) {
            return Some(Err(format!(
                "idx1 entry {} (chunk at byte {at}) does not match movi",
                found.len()
            )));
        }
        found.push((len(e) > 0).then(|| body..body + len(e)));
    }
    Some(Ok(found))
}

/// Frames with a zero-length chunk repeat the frame before them (none before: dropped).
fn repeat_empty(found: Vec<Option<Range<usize>>>) -> Vec<Range<usize>> {
    let mut last = None;
    let mut frames = Vec::with_capacity(found.len());
    for f in found {
        if let Some(r) = f {
            last = Some(r);
        }
        if let Some(r) = &last {
            frames.push(r.clone());
        }
    }
    frames
}

#[cfg(test)]
pub(crate) mod build {
    //! Small AVI files written by hand, for the tests.

    /// A chunk: id, size, body, pad byte.
    pub fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = id.to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        if body.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    /// A LIST of `kind` holding `children`.
    pub fn list(kind: &[u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
        let mut body = kind.to_vec();
        children.iter().for_each(|c| body.extend_from_slice(c));
        chunk(b"LIST", &body)
    }

    /// The `strl` of an MJPG video stream at `rate / scale` frames per second.
    pub fn video_strl(rate: u32, scale: u32) -> Vec<u8> {
        let mut strh = vec![0u8; 56];
        strh[..4].copy_from_slice(b"vids");
        strh[4..8].copy_from_slice(b"MJPG");
        strh[20..24].copy_from_slice(&scale.to_le_bytes());
        strh[24..28].copy_from_slice(&rate.to_le_bytes());
        let mut strf = vec![0u8; 40];
        strf[16..20].copy_from_slice(b"MJPG");
        list(b"strl", &[chunk(b"strh", &strh), chunk(b"strf", &strf)])
    }

    /// A whole file: `hdrl` of `strls`, `movi` of `frames` (as `00dc`), and `idx1` if asked.
    pub fn avi(strls: &[Vec<u8>], frames: &[&[u8]], idx1: bool) -> Vec<u8> {
        let mut hdrl = vec![chunk(b"avih", &[0u8; 56])];
        hdrl.extend(strls.iter().cloned());
        let hdrl = list(b"hdrl", &hdrl);
        let movi_chunks: Vec<Vec<u8>> = frames.iter().map(|f| chunk(b"00dc", f)).collect();
        let movi = list(b"movi", &movi_chunks);
        let mut body = b"AVI ".to_vec();
        body.extend_from_slice(&hdrl);
        body.extend_from_slice(&chunk(b"JUNK", &[0u8; 7]));
        body.extend_from_slice(&movi);
        if idx1 {
            let mut entries = Vec::new();
            // Offsets count from movi's type field: its first chunk is at 4.
            let mut at = 4;
            for (f, c) in frames.iter().zip(&movi_chunks) {
                entries.extend_from_slice(b"00dc");
                entries.extend_from_slice(&0x10u32.to_le_bytes());
                entries.extend_from_slice(&(at as u32).to_le_bytes());
                entries.extend_from_slice(&(f.len() as u32).to_le_bytes());
                at += c.len();
            }
            body.extend_from_slice(&chunk(b"idx1", &entries));
        }
        chunk(b"RIFF", &body)
    }
}
