//! What was made, decoded back: a CMAF media segment through OpenH264's decoder to pictures,
//! and their PSNR against the source. For `server --prepare`'s quality figures and for
//! tests; never on a serving path.

use mp4_atom::{Any, Codec, DecodeMaybe};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::cmaf::CmafError;
use crate::{H264Error, Yuv420};

/// Why a segment could not be decoded back.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("reading the boxes: {0}")]
    Boxes(#[from] mp4_atom::Error),
    #[error("the init segment has no avc1 sample entry with parameter sets")]
    NoAvc1,
    #[error("the media segment has no {0}")]
    Missing(&'static str),
    #[error("a sample runs past the mdat")]
    Truncated,
    #[error("decoding: {0}")]
    Decode(#[from] openh264::Error),
    #[error(transparent)]
    Cmaf(#[from] CmafError),
    #[error(transparent)]
    H264(#[from] H264Error),
}

fn atoms(mut bytes: &[u8]) -> Result<Vec<Any>, CheckError> {
    let mut out = Vec::new();
    while let Some(atom) = Any::decode_maybe(&mut bytes)? {
        out.push(atom);
    }
    Ok(out)
}

/// The SPS and PPS of an init segment's first track.
fn parameter_sets(init: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CheckError> {
    for atom in atoms(init)? {
        let Any::Moov(moov) = atom else { continue };
        let codec = moov
            .trak
            .first()
            .and_then(|t| t.mdia.minf.stbl.stsd.codecs.first());
        if let Some(Codec::Avc1(avc1)) = codec {
            let sps = avc1.avcc.sequence_parameter_sets.first();
            let pps = avc1.avcc.picture_parameter_sets.first();
            if let (Some(s), Some(p)) = (sps, pps) {
                return Ok((s.clone(), p.clone()));
            }
        }
    }
    Err(CheckError::NoAvc1)
}

/// Decodes `segment` (a media segment of the track `init` describes) to its pictures.
pub fn decode_segment(init: &[u8], segment: &[u8]) -> Result<Vec<Yuv420>, CheckError> {
    let (sps, pps) = parameter_sets(init)?;
    let (mut sizes, mut data) = (None, None);
    for atom in atoms(segment)? {
        match atom {
            Any::Moof(moof) => {
                let trun = moof.traf.first().and_then(|t| t.trun.first());
                sizes = trun.map(|t| {
                    t.entries
                        .iter()
                        .map(|e| e.size.unwrap_or(0))
                        .collect::<Vec<_>>()
                });
            }
            Any::Mdat(mdat) => data = Some(mdat.data),
            _ => {}
        }
    }
    let sizes = sizes.ok_or(CheckError::Missing("moof with a trun"))?;
    let data = data.ok_or(CheckError::Missing("mdat"))?;
    let mut decoder = Decoder::new()?;
    let mut pictures = Vec::with_capacity(sizes.len());
    let mut at = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        let sample = data
            .get(at..at + *size as usize)
            .ok_or(CheckError::Truncated)?;
        at += *size as usize;
        let mut annex_b = Vec::with_capacity(sample.len() + 64);
        if i == 0 {
            for ps in [&sps, &pps] {
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(ps);
            }
        }
        let mut rest = sample;
        while rest.len() >= 4 {
            let n = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let nal = rest.get(4..4 + n).ok_or(CheckError::Truncated)?;
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(nal);
            rest = &rest[4 + n..];
        }
        if let Some(picture) = decoder.decode(&annex_b)? {
            pictures.push(planes(&picture));
        }
    }
    Ok(pictures)
}

fn planes(p: &impl YUVSource) -> Yuv420 {
    let (w, h) = p.dimensions();
    let (sy, su, sv) = p.strides();
    let rows = |plane: &[u8], stride: usize, w: usize, h: usize| -> Vec<u8> {
        (0..h)
            .flat_map(|r| plane[r * stride..r * stride + w].iter().copied())
            .collect()
    };
    Yuv420 {
        width: w,
        height: h,
        y: rows(p.y(), sy, w, h),
        u: rows(p.u(), su, w / 2, h / 2),
        v: rows(p.v(), sv, w / 2, h / 2),
    }
}

/// PSNR of `got` against `source`, ffmpeg's way: the mean squared error of luma weighted
/// four times each chroma plane's. Infinite for identical pictures.
pub fn psnr(got: &Yuv420, source: &Yuv420) -> f64 {
    let mse = |a: &[u8], b: &[u8]| {
        let se: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum();
        se / a.len().max(1) as f64
    };
    let m = (4.0 * mse(&got.y, &source.y) + mse(&got.u, &source.u) + mse(&got.v, &source.v)) / 6.0;
    match m {
        0.0 => f64::INFINITY,
        m => 10.0 * (255.0f64 * 255.0 / m).log10(),
    }
}
