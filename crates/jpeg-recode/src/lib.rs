//! Turns any JPEG into one RFC 2435 carries, and decides which way each frame goes.
//!
//! RFC 2435 carries only baseline 4:2:0 or 4:2:2 with the Annex K Huffman tables and 8-bit
//! quantization tables. [`classify`] decides, once per frame, whether a frame is carried as
//! it is, re-coded without loss, decoded and encoded again, or skipped; [`convert`] does the
//! conversion it asked for.
//!
//! Lossless re-coding works in the DCT-coefficient domain. A JPEG's pixels are determined by
//! its quantized DCT coefficients and quantization tables; Huffman tables, scan structure
//! (progressive or sequential) and the grouping of blocks into MCUs only decide how those
//! coefficients are written. So decoding the entropy-coded data to coefficients ([`decode`])
//! and writing them again as one baseline interleaved scan with the Annex K Huffman tables
//! and canonical sampling factors ([`encode_baseline`]) changes the bytes and never the
//! picture. Tables RFC 2435 cannot send (Cb and Cr with different tables, quantizers above
//! 255) are replaced by 8-bit tables whose entries divide the originals, with the coefficients
//! scaled to match: the same picture again. Where the scaled coefficients would not fit
//! baseline coding, [`convert`] keeps, frame by frame, the closer to the source's pixels of
//! re-quantizing just those positions to the nearest 8-bit quantizer and decoding and encoding
//! again. What cannot be expressed that way (a chroma ratio
//! other than 4:2:0 or 4:2:2, RGB, CMYK) is decoded to pixels and encoded again ([`reencode`]):
//! keeping luma's coefficients and resampling chroma alone measured no closer to the source and
//! three times slower (BENCHMARKS.md, 2026-12-01 19:00).
//!
//! This is CPU work (tens of milliseconds for an HD frame), not wire: it lives apart from
//! `rtsp-proto`, and the server runs it off its send path.

mod classify;
mod decode;
mod encode;
mod error;
mod huffman;
mod reencode;
mod requant;
mod scan;

pub use classify::{
    classify, classify_info, recodable, Conversion, FrameClass, SkipReason, TargetSampling,
    Unrecodable,
};
pub use decode::{decode, Coefficients, ComponentCoefficients};
pub use encode::{encode_baseline, target_sampling};
pub use error::{EntropyFault, RecodeError, StructureFault};
pub use reencode::{reencode, ReencodeError};

use rtsp_proto::jpeg::{JpegError, JpegInfo, Rfc2435Error, Rfc2435Params};

/// Decodes and re-encodes in one step: the lossless conversion of one frame (or, when exact
/// tables would overflow baseline, an error [`convert`] answers with the closest inexact one). Tables RFC 2435
/// cannot say (Cb's and Cr's differ, quantizers above 255) are replaced by ones that say the
/// same coefficients exactly (see `requant`).
pub fn transcode(data: &[u8]) -> Result<Vec<u8>, RecodeError> {
    let mut c = decode(data)?;
    requant::requantize_exactly(&mut c)?;
    encode_baseline(&c)
}

/// A frame converted for RFC 2435.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The whole converted JPEG.
    pub jpeg: Vec<u8>,
    pub params: Rfc2435Params,
    /// Where the bytes RFC 2435 carries start in `jpeg` (just after the SOS header).
    pub scan_start: usize,
}

impl Converted {
    /// The bytes RFC 2435 carries: from the end of the SOS header through EOI.
    pub fn scan(&self) -> &[u8] {
        &self.jpeg[self.scan_start..]
    }
}

/// Why a frame could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("lossless re-coding: {0}")]
    Recode(#[from] RecodeError),
    #[error("re-encoding: {0}")]
    Reencode(#[from] ReencodeError),
    /// The converter wrote something it cannot read back: a bug, reported rather than sent.
    #[error("the converted frame does not parse: {0}")]
    Unreadable(JpegError),
    /// The converter wrote a JPEG RFC 2435 does not carry: a bug, reported rather than sent.
    #[error("the converted frame is still not one RFC 2435 carries: {0}")]
    NotCarried(Rfc2435Error),
}

/// For a frame exact re-quantization cannot write in baseline: the closer to the source's
/// pixels of its two inexact conversions, re-quantizing to the nearest tables RFC 2435
/// carries (`requant`) or decoding and encoding again. Measured per frame, as the frame is
/// converted once and sent to every viewer.
fn closest_inexact(jpeg: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let mut c = decode(jpeg)?;
    requant::requantize_nearest(&mut c);
    let nearest = encode_baseline(&c)?;
    let again = reencode(jpeg)?;
    let pixels = |j: &[u8]| {
        image::load_from_memory_with_format(j, image::ImageFormat::Jpeg)
            .ok()
            .map(|i| i.to_rgb8())
    };
    let distance = |source: &image::RgbImage, candidate: &[u8]| {
        pixels(candidate)
            .filter(|p| p.dimensions() == source.dimensions())
            .map(|p| squared_error(source.as_raw(), p.as_raw()))
            .unwrap_or(u64::MAX)
    };
    // A source the decoder cannot show cannot be compared with: the coefficients are then the
    // closer by construction (at most half a quantizer off, at the positions that moved).
    let Some(source) = pixels(jpeg) else {
        return Ok(nearest);
    };
    Ok(if distance(&source, &again) < distance(&source, &nearest) {
        again
    } else {
        nearest
    })
}

/// The sum of squared differences of two pictures' samples.
fn squared_error(a: &[u8], b: &[u8]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2))
        .sum()
}

/// Converts one frame the way its class asked for, and checks RFC 2435 carries the result.
pub fn convert(jpeg: &[u8], how: Conversion) -> Result<Converted, ConvertError> {
    let out = match how {
        // Exact re-quantization can, rarely, need coefficients baseline cannot code: then
        // pixels are the way, as for any frame that cannot be re-coded.
        Conversion::Lossless => match transcode(jpeg) {
            Err(RecodeError::TooLargeForBaseline { .. }) => closest_inexact(jpeg)?,
            other => other?,
        },
        Conversion::Lossy => reencode(jpeg)?,
    };
    let info = JpegInfo::parse(&out).map_err(ConvertError::Unreadable)?;
    let params = info.rfc2435().map_err(ConvertError::NotCarried)?;
    Ok(Converted {
        params,
        scan_start: info.scan_data.start,
        jpeg: out,
    })
}

#[cfg(test)]
mod tests;
