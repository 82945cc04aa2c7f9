//! A run of JPEG frames as one closed GOP: the unit a CMAF media segment carries, and the
//! unit of work of a transcoder. Each run gets an encoder of its own, so runs encode in any
//! order and in parallel, and a player that jumps ahead waits only for its segment.

use crate::cmaf::{nal_units, Sample};
use crate::{H264Encoder, H264Error, Settings, Yuv420};

/// What [`encode_run`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRun {
    /// One sample a frame, in order; the first is the IDR.
    pub samples: Vec<Sample>,
    /// The first access unit as Annex B, parameter sets included (for the init segment).
    pub first: Vec<u8>,
    /// Frames that did not decode and were shown as the picture before them (constant frame
    /// rate: a broken frame of the file costs its picture, not its time).
    pub substituted: Vec<(usize, String)>,
}

/// Encodes `jpegs` at `size` (even; each picture is scaled to it), each sample `duration`
/// ticks long, as one GOP. A frame that does not decode repeats the one before it (the
/// first repeats the next good one); a run with no good frame at all is an error.
pub fn encode_run<'a>(
    jpegs: impl IntoIterator<Item = &'a [u8]>,
    size: (usize, usize),
    settings: Settings,
    duration: u32,
) -> Result<EncodedRun, H264Error> {
    let mut pictures: Vec<Option<Yuv420>> = Vec::new();
    let mut substituted = Vec::new();
    let mut first_error = None;
    for (i, jpeg) in jpegs.into_iter().enumerate() {
        match Yuv420::from_jpeg(jpeg) {
            Ok(p) => pictures.push(Some(p.scaled(size.0, size.1))),
            Err(e) => {
                substituted.push((i, e.to_string()));
                first_error.get_or_insert(e);
                pictures.push(None);
            }
        }
    }
    let Some(first_good) = pictures.iter().flatten().next().cloned() else {
        return Err(first_error.unwrap_or(H264Error::NoSize));
    };
    let mut encoder = H264Encoder::new(Settings {
        gop: pictures.len().max(1) as u32,
        ..settings
    })?;
    let mut samples = Vec::with_capacity(pictures.len());
    let mut first = Vec::new();
    let mut last = first_good;
    for picture in &pictures {
        if let Some(p) = picture {
            last = p.clone();
        }
        let au = encoder.encode(&last)?;
        if samples.is_empty() {
            first = au.annex_b.clone();
        }
        samples.push(Sample::from_annex_b(&au.annex_b, duration, au.idr));
    }
    Ok(EncodedRun {
        samples,
        first,
        substituted,
    })
}

/// The first access unit (an IDR, with its parameter sets) a run of `jpegs` would start
/// with, from its first frame that decodes, encoding that one frame only: what an init
/// segment needs, long before the whole first run is encoded. An encoder with the same
/// settings and size writes the same parameter sets for every run.
pub fn first_access_unit<'a>(
    jpegs: impl IntoIterator<Item = &'a [u8]>,
    size: (usize, usize),
    settings: Settings,
) -> Result<Vec<u8>, H264Error> {
    let mut first_error = None;
    for jpeg in jpegs {
        match Yuv420::from_jpeg(jpeg) {
            Ok(p) => {
                let mut encoder = H264Encoder::new(settings)?;
                return Ok(encoder.encode(&p.scaled(size.0, size.1))?.annex_b);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(H264Error::NoSize))
}

/// The SPS and PPS of an access unit, if it carries them.
pub fn parameter_sets(annex_b: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let units = nal_units(annex_b);
    let find = |t: u8| {
        units
            .iter()
            .find(|n| n.first().map(|b| b & 0x1f) == Some(t))
            .map(|n| n.to_vec())
    };
    Some((find(7)?, find(8)?))
}

/// The RFC 6381 codecs string of a stream with this SPS (`avc1.` profile, constraint flags,
/// level, in hex), as HLS's `CODECS` and DASH's `codecs` want it.
pub fn codecs_string(sps: &[u8]) -> String {
    match sps {
        [_, profile, constraints, level, ..] => {
            format!("avc1.{profile:02X}{constraints:02X}{level:02X}")
        }
        _ => "avc1".to_string(),
    }
}
