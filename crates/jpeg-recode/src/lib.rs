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
//! scaled to match: the same picture again. What cannot be expressed that way (a chroma ratio
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

/// Decodes and re-encodes in one step: the lossless conversion of one frame. Tables RFC 2435
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

/// Converts one frame the way its class asked for, and checks RFC 2435 carries the result.
pub fn convert(jpeg: &[u8], how: Conversion) -> Result<Converted, ConvertError> {
    let out = match how {
        // Exact re-quantization can, rarely, need coefficients baseline cannot code: then
        // pixels are the way, as for any frame that cannot be re-coded.
        Conversion::Lossless => match transcode(jpeg) {
            Err(RecodeError::TooLargeForBaseline { .. }) => reencode(jpeg)?,
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
