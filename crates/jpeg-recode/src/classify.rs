//! The one decision on how a frame travels ([`classify`]): as it is, re-coded without loss,
//! decoded and encoded again, or skipped. Everything else (the server's preparation, the
//! `--prepare` report, the fuzz target, [`crate::decode`] and [`crate::encode_baseline`])
//! asks the functions here rather than checking the frame itself.

use rtsp_proto::jpeg::{marker, JpegError, JpegInfo, NotRfc2435, Rfc2435Params};

/// How a frame travels in RFC 2435, and why it needs what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameClass {
    /// RFC 2435 carries it as it is: its parameters, and where its scan data starts (from
    /// the start of the frame; the bytes from there through EOI are what is sent).
    AsIs {
        params: Rfc2435Params,
        scan_start: usize,
    },
    /// Re-coded in the coefficient domain, pixel for pixel (why RFC 2435 cannot take it).
    Lossless(NotRfc2435),
    /// Decoded and encoded again as 4:2:0 (why it cannot be re-coded without loss).
    Lossy(Unrecodable),
    /// Cannot be decoded here: skipped (why).
    Skipped(SkipReason),
}

/// The two ways a frame is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// [`crate::transcode`]: the same coefficients, written as RFC 2435 baseline.
    Lossless,
    /// [`crate::reencode`]: decoded to pixels and encoded again as 4:2:0.
    Lossy,
}

impl FrameClass {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            FrameClass::AsIs { .. } => "as-is",
            FrameClass::Lossless(_) => "lossless",
            FrameClass::Lossy(_) => "lossy",
            FrameClass::Skipped(_) => "skipped",
        }
    }

    /// The conversion this frame needs before RFC 2435 can carry it, if any.
    pub fn conversion(&self) -> Option<Conversion> {
        match self {
            FrameClass::Lossless(_) => Some(Conversion::Lossless),
            FrameClass::Lossy(_) => Some(Conversion::Lossy),
            FrameClass::AsIs { .. } | FrameClass::Skipped(_) => None,
        }
    }
}

/// The class and its reason, as the `--prepare` report and the log say it: `as-is`,
/// `lossless: progressive JPEG`, `lossy: 4:4:4`, `skipped: corrupt: ...`.
impl std::fmt::Display for FrameClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.name();
        match self {
            FrameClass::AsIs { .. } => write!(f, "{name}"),
            FrameClass::Lossless(why) => write!(f, "{name}: {why}"),
            FrameClass::Lossy(why) => write!(f, "{name}: {why}"),
            FrameClass::Skipped(why) => write!(f, "{name}: {why}"),
        }
    }
}

/// Why a frame cannot be re-coded without loss. The text is what `server --prepare` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unrecodable {
    #[error("arithmetic coding")]
    Arithmetic,
    #[error("lossless or hierarchical JPEG")]
    NotDctHuffman,
    #[error("sample precision is not 8 bits")]
    Precision,
    #[error("zero width or height")]
    ZeroSize,
    #[error("sampling factors out of range")]
    SamplingFactors,
    #[error("picture too large")]
    TooLarge,
    #[error("quantization table not defined")]
    QuantTableUndefined,
    #[error("Cb and Cr sampled differently")]
    ChromaSampledDifferently,
    /// Only [`crate::encode_baseline`] given coefficients not re-quantized says this (and the
    /// next): [`crate::transcode`] makes every table fit first.
    #[error("quantizers above 255")]
    QuantizerAbove255,
    #[error("Cb and Cr use different quantization tables")]
    ChromaTables,
    #[error("chroma sampled more finely than luma")]
    ChromaFinerThanLuma,
    #[error("4:4:4")]
    Yuv444,
    #[error("4:4:0")]
    Yuv440,
    #[error("4:1:1")]
    Yuv411,
    #[error("unusual chroma ratio")]
    UnusualChromaRatio,
    #[error("4 components (CMYK)")]
    Cmyk,
    #[error("RGB, not YCbCr")]
    Rgb,
    #[error("unusual component count")]
    ComponentCount,
}

impl Unrecodable {
    /// Whether the decoder behind lossy re-encoding can still read such a frame: it needs
    /// Huffman coding, 8-bit samples, a sequential or progressive DCT frame of sane size.
    pub fn decodable(self) -> bool {
        !matches!(
            self,
            Unrecodable::Arithmetic
                | Unrecodable::NotDctHuffman
                | Unrecodable::Precision
                | Unrecodable::ZeroSize
                | Unrecodable::SamplingFactors
                | Unrecodable::TooLarge
        )
    }
}

/// Why a frame is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("corrupt: {0}")]
    Corrupt(JpegError),
    #[error("{0}: cannot be decoded here")]
    Undecodable(Unrecodable),
}

/// The layout a converted frame is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSampling {
    /// RFC 2435 type 0: Y 2x1, Cb and Cr 1x1.
    Yuv422,
    /// RFC 2435 type 1: Y 2x2, Cb and Cr 1x1.
    Yuv420,
}

/// Decides how a frame travels (see [`FrameClass`]).
pub fn classify(jpeg: &[u8]) -> FrameClass {
    match JpegInfo::parse(jpeg) {
        Ok(info) => classify_info(&info),
        Err(e) => FrameClass::Skipped(SkipReason::Corrupt(e)),
    }
}

/// [`classify`] for a frame already parsed.
pub fn classify_info(info: &JpegInfo) -> FrameClass {
    let not_as_is = match info.rfc2435() {
        Ok(params) => {
            return FrameClass::AsIs {
                params,
                scan_start: info.scan_data.start,
            }
        }
        Err(e) => e.reason,
    };
    match recodable(info) {
        Ok(_) => FrameClass::Lossless(not_as_is),
        Err(r) if r.decodable() => FrameClass::Lossy(r),
        Err(r) => FrameClass::Skipped(SkipReason::Undecodable(r)),
    }
}

/// Whether [`crate::transcode`] can re-code a frame with this header, and in which layout.
pub fn recodable(info: &JpegInfo) -> Result<TargetSampling, Unrecodable> {
    check_decodable(info)?;
    // Coefficients of R, G and B are no YCbCr coefficients: only pixels convert.
    if info.is_rgb() {
        return Err(Unrecodable::Rgb);
    }
    let mut layout = Vec::with_capacity(info.components.len());
    for c in &info.components {
        info.quant_tables
            .get(c.tq as usize)
            .and_then(|t| t.as_deref())
            .ok_or(Unrecodable::QuantTableUndefined)?;
        // Any tables do: those RFC 2435 cannot send are re-quantized exactly (`requant`).
        layout.push((c.h, c.v, ()));
    }
    chroma_layout(&layout)
}

/// What [`crate::decode`] needs of a frame header before it allocates anything.
pub(crate) fn check_decodable(info: &JpegInfo) -> Result<(), Unrecodable> {
    if info.arithmetic {
        return Err(Unrecodable::Arithmetic);
    }
    if !matches!(info.sof, marker::SOF0 | marker::SOF1 | marker::SOF2) {
        return Err(Unrecodable::NotDctHuffman);
    }
    if info.precision != 8 {
        return Err(Unrecodable::Precision);
    }
    let (w, h) = (info.width as usize, info.height as usize);
    if w == 0 || h == 0 {
        return Err(Unrecodable::ZeroSize);
    }
    let hmax = info.components.iter().map(|c| c.h).max().unwrap_or(1) as usize;
    let vmax = info.components.iter().map(|c| c.v).max().unwrap_or(1) as usize;
    if !(1..=4).contains(&hmax) || !(1..=4).contains(&vmax) {
        return Err(Unrecodable::SamplingFactors);
    }
    let blocks = w.div_ceil(8 * hmax) * h.div_ceil(8 * vmax) * hmax * vmax;
    if blocks * info.components.len() > 1 << 22 {
        return Err(Unrecodable::TooLarge);
    }
    Ok(())
}

/// The RFC 2435 layout for components given as (h, v, quantization table): one component
/// becomes 4:2:0 with neutral chroma; three need Cb and Cr alike and a 4:2:0 or 4:2:2 ratio.
pub(crate) fn chroma_layout<T: PartialEq>(
    components: &[(u8, u8, T)],
) -> Result<TargetSampling, Unrecodable> {
    match components {
        [_] => Ok(TargetSampling::Yuv420),
        [(yh, yv, _), (bh, bv, bq), (rh, rv, rq)] => {
            if (bh, bv) != (rh, rv) || *bh == 0 || *bv == 0 {
                return Err(Unrecodable::ChromaSampledDifferently);
            }
            if bq != rq {
                return Err(Unrecodable::ChromaTables);
            }
            if yh % bh != 0 || yv % bv != 0 {
                return Err(Unrecodable::ChromaFinerThanLuma);
            }
            match (yh / bh, yv / bv) {
                (2, 1) => Ok(TargetSampling::Yuv422),
                (2, 2) => Ok(TargetSampling::Yuv420),
                (1, 1) => Err(Unrecodable::Yuv444),
                (1, 2) => Err(Unrecodable::Yuv440),
                (4, 1) => Err(Unrecodable::Yuv411),
                _ => Err(Unrecodable::UnusualChromaRatio),
            }
        }
        [_, _, _, _] => Err(Unrecodable::Cmyk),
        _ => Err(Unrecodable::ComponentCount),
    }
}
