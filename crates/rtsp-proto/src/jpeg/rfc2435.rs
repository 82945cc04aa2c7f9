//! Whether RFC 2435 carries a frame as it is: [`JpegInfo::rfc2435`], and the typed reason
//! when it cannot ([`NotRfc2435`], with the offset of the segment that says so).

use super::{marker, tables, JpegInfo};

/// Why RFC 2435 cannot carry a frame as it is. The text is what `server --prepare` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotRfc2435 {
    #[error("arithmetic-coded JPEG")]
    Arithmetic,
    #[error("progressive JPEG")]
    Progressive,
    #[error("not a baseline sequential JPEG")]
    NotBaseline,
    #[error("sample precision is not 8 bits")]
    Precision,
    #[error("more than one scan")]
    SeveralScans,
    #[error("not 3 components (grayscale or CMYK)")]
    NotThreeComponents,
    #[error("luma sampling is neither 2x1 (4:2:2) nor 2x2 (4:2:0)")]
    LumaSampling,
    #[error("chroma sampling is not 1x1")]
    ChromaSampling,
    #[error("Cb and Cr use different quantization tables")]
    ChromaTables,
    #[error("16-bit quantization table")]
    SixteenBitTable,
    #[error("quantization table not defined")]
    QuantTableUndefined,
    #[error("scan does not interleave all 3 components")]
    NotInterleaved,
    #[error("scan does not use Huffman tables 0 (luma) and 1 (chroma)")]
    ScanTables,
    #[error("Huffman table id other than 0 and 1")]
    HuffmanTableId,
    #[error("optimized (non-standard) Huffman tables")]
    OptimizedHuffman,
    #[error("zero width or height")]
    ZeroSize,
    #[error("RGB components (Adobe transform 0), not YCbCr")]
    Rgb,
}

/// [`NotRfc2435`] with where in the frame the offending segment starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (segment at byte {at})")]
pub struct Rfc2435Error {
    pub reason: NotRfc2435,
    /// Offset of the marker of the segment that shows the reason, from the start of the frame.
    pub at: usize,
}

/// The numbers RFC 2435 sends for one frame, computed once when the file is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc2435Params {
    /// 0 (4:2:2) or 1 (4:2:0), plus 64 when restart markers are present.
    pub type_: u8,
    /// Width in 8-pixel blocks, rounded up.
    pub width: u8,
    /// Height in 8-pixel blocks, rounded up.
    pub height: u8,
    pub restart_interval: Option<u16>,
    /// Luma then chroma table, zig-zag order, sent in-band with Q=255.
    pub quant: [u8; 128],
}

impl JpegInfo {
    /// How this frame travels in RFC 2435, or why it cannot: the parameters of the main
    /// header and the two quantization tables (luma, chroma) to send in-band with Q=255.
    pub fn rfc2435(&self) -> Result<Rfc2435Params, Rfc2435Error> {
        let sof = self.offsets.sof;
        let fail = |reason, at| Err(Rfc2435Error { reason, at });
        if self.arithmetic {
            return fail(NotRfc2435::Arithmetic, self.offsets.dac.unwrap_or(sof));
        }
        match self.sof {
            marker::SOF0 | marker::SOF1 => {}
            marker::SOF2 => return fail(NotRfc2435::Progressive, sof),
            _ => return fail(NotRfc2435::NotBaseline, sof),
        }
        if self.precision != 8 {
            return fail(NotRfc2435::Precision, sof);
        }
        if self.scans != 1 {
            return fail(NotRfc2435::SeveralScans, self.offsets.last_sos);
        }
        if self.is_rgb() {
            return fail(NotRfc2435::Rgb, sof);
        }
        let (type_, quant) = self.sampling_and_tables()?;
        self.check_scan_and_huffman()?;
        if self.width == 0 || self.height == 0 {
            return fail(NotRfc2435::ZeroSize, sof);
        }
        // Above 2040 pixels the 8-bit fields cannot say the size: RFC 2435 receivers that
        // read the SDP's a=x-dimensions (GStreamer, VLC, live555) take 0 to mean "see there".
        let blocks = |px: u16| if px > 2040 { 0 } else { px.div_ceil(8) as u8 };
        let restart = if self.restart_interval.is_some() {
            64
        } else {
            0
        };
        Ok(Rfc2435Params {
            type_: type_ + restart,
            width: blocks(self.width),
            height: blocks(self.height),
            restart_interval: self.restart_interval,
            quant,
        })
    }

    /// The RFC 2435 type (0 or 1) the sampling factors give, and the luma and chroma tables.
    fn sampling_and_tables(&self) -> Result<(u8, [u8; 128]), Rfc2435Error> {
        let sof = self.offsets.sof;
        let fail = |reason, at| Err(Rfc2435Error { reason, at });
        let [y, cb, cr] = self.components[..] else {
            return fail(NotRfc2435::NotThreeComponents, sof);
        };
        let type_ = match (y.h, y.v) {
            (2, 1) => 0,
            (2, 2) => 1,
            _ => return fail(NotRfc2435::LumaSampling, sof),
        };
        if (cb.h, cb.v, cr.h, cr.v) != (1, 1, 1, 1) {
            return fail(NotRfc2435::ChromaSampling, sof);
        }
        if cb.tq != cr.tq {
            return fail(NotRfc2435::ChromaTables, sof);
        }
        let table = |id: u8| -> Result<&[u8], Rfc2435Error> {
            match self.quant_tables.get(id as usize) {
                Some(Some(t)) if t.len() == 64 => Ok(t),
                Some(Some(_)) => Err(Rfc2435Error {
                    reason: NotRfc2435::SixteenBitTable,
                    at: self.offsets.dqt[id as usize],
                }),
                _ => Err(Rfc2435Error {
                    reason: NotRfc2435::QuantTableUndefined,
                    at: sof,
                }),
            }
        };
        let mut quant = [0u8; 128];
        quant[..64].copy_from_slice(table(y.tq)?);
        quant[64..].copy_from_slice(table(cb.tq)?);
        Ok((type_, quant))
    }

    /// The scan must interleave Y, Cb, Cr with tables 0 and 1, and every Huffman table must
    /// be Annex K's: those are what a receiver rebuilds.
    fn check_scan_and_huffman(&self) -> Result<(), Rfc2435Error> {
        let sos = self.offsets.first_sos;
        let fail = |reason, at| Err(Rfc2435Error { reason, at });
        if self.scan_components.len() != 3 {
            return fail(NotRfc2435::NotInterleaved, sos);
        }
        for (i, (&(sel, dc, ac), c)) in self
            .scan_components
            .iter()
            .zip(&self.components)
            .enumerate()
        {
            let want = if i == 0 { 0 } else { 1 };
            if sel != c.id || dc != want || ac != want {
                return fail(NotRfc2435::ScanTables, sos);
            }
        }
        for t in &self.huffman_tables {
            let Some(standard) = tables::standard_huffman(t.class, t.id) else {
                return fail(NotRfc2435::HuffmanTableId, t.at);
            };
            if t.bits != standard.bits || t.values != standard.values {
                return fail(NotRfc2435::OptimizedHuffman, t.at);
            }
        }
        Ok(())
    }
}
