//! JPEG marker segments and the RTP payload format for JPEG (RFC 2435).
//!
//! RFC 2435 does not carry a JPEG file: it carries the entropy-coded scan data plus a few numbers
//! (type, Q, width, height, restart interval, quantization tables), and every receiver rebuilds
//! the headers from them with the standard Huffman tables of Annex K. So a frame can be sent only
//! when the headers a receiver will rebuild decode its scan data exactly; [`JpegInfo::rfc2435`]
//! decides that, once per frame, and says why not when it cannot.
//!
//! The parser walks marker segments by their length fields and scans bytes for markers only
//! inside entropy-coded data, where that is the only way to find the end.

mod depay;
mod parse;
mod pay;
mod rfc2435;
pub mod tables;

pub use depay::{DepacketizeError, Depacketizer, DepacketizerEvent, PacketId, QuantTableFault};
pub use parse::entropy_end;
pub use pay::{fragments, Fragment, MainHeader, MAX_PACKET};
pub use rfc2435::{NotRfc2435, Rfc2435Error, Rfc2435Params};

use std::ops::Range;

/// Marker codes this module acts on (ITU T.81 table B.1).
pub mod marker {
    pub const SOI: u8 = 0xd8;
    pub const EOI: u8 = 0xd9;
    pub const SOS: u8 = 0xda;
    pub const DQT: u8 = 0xdb;
    pub const DHT: u8 = 0xc4;
    pub const DRI: u8 = 0xdd;
    pub const SOF0: u8 = 0xc0;
    pub const SOF1: u8 = 0xc1;
    pub const SOF2: u8 = 0xc2;
    pub const DAC: u8 = 0xcc;
    pub const TEM: u8 = 0x01;
    /// RST0..=RST7 are 0xd0..=0xd7.
    pub fn is_rst(m: u8) -> bool {
        (0xd0..=0xd7).contains(&m)
    }
    /// SOF0..=SOF15 minus DHT (C4), JPG (C8) and DAC (CC).
    pub fn is_sof(m: u8) -> bool {
        (0xc0..=0xcf).contains(&m) && m != 0xc4 && m != 0xc8 && m != 0xcc
    }
}

/// Why bytes are not a JPEG this module can read. Offsets are from the start of the frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("frame does not start with SOI (FF D8)")]
    NoSoi,
    #[error("frame ends at byte {at} inside a marker segment or before EOI")]
    Truncated { at: usize },
    #[error("expected a marker at byte {at}, found {found:#04x}")]
    NotAMarker { at: usize, found: u8 },
    #[error("segment at byte {at} is malformed: {fault}")]
    BadSegment { at: usize, fault: SegmentFault },
    #[error("SOS at byte {at} comes before any SOF segment")]
    NoFrameHeader { at: usize },
}

/// What is wrong inside one marker segment ([`JpegError::BadSegment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SegmentFault {
    #[error("marker segment length below 2")]
    LengthBelow2,
    #[error("DQT precision other than 8 or 16 bits")]
    DqtPrecision,
    #[error("DQT table id above 3")]
    DqtTableId,
    #[error("DQT table runs past the segment")]
    DqtOverrun,
    #[error("DHT code counts run past the segment")]
    DhtCountsOverrun,
    #[error("DHT symbols run past the segment")]
    DhtSymbolsOverrun,
    #[error("DRI segment too short")]
    DriShort,
    #[error("second SOF segment")]
    SecondSof,
    #[error("SOF segment too short")]
    SofShort,
    #[error("SOF length does not match its component count")]
    SofLength,
    #[error("empty SOS segment")]
    SosEmpty,
    #[error("SOS length does not match its component count")]
    SosLength,
}

/// One image component from the SOF segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    /// Quantization table selector.
    pub tq: u8,
}

/// A DHT table as found in the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuffmanTable {
    pub class: u8,
    pub id: u8,
    pub bits: [u8; 16],
    pub values: Vec<u8>,
    /// Offset of the DHT marker that defined it, for error messages.
    pub at: usize,
}

/// Where the segments that decide how a frame travels start (offsets of their markers from
/// the start of the frame), so a reason for refusing the frame can point at its segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentOffsets {
    pub sof: usize,
    pub first_sos: usize,
    pub last_sos: usize,
    /// The first DAC (arithmetic conditioning) segment, if any.
    pub dac: Option<usize>,
    /// The DQT segment that last defined each table id.
    pub dqt: [usize; 4],
}

/// What a marker walk learns about one JPEG frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegInfo {
    /// The SOF marker (C0 baseline, C1 extended, C2 progressive, ...).
    pub sof: u8,
    pub precision: u8,
    pub width: u16,
    pub height: u16,
    pub components: Vec<Component>,
    /// Quantization tables by id, in zig-zag order; `None` if never defined. A 16-bit table
    /// is kept as its 128 bytes.
    pub quant_tables: [Option<Vec<u8>>; 4],
    pub huffman_tables: Vec<HuffmanTable>,
    pub restart_interval: Option<u16>,
    /// Component selectors and table ids of the first scan: (component id, DC id, AC id).
    pub scan_components: Vec<(u8, u8, u8)>,
    pub scans: usize,
    /// The entropy-coded data of the first scan: from just after its SOS header to the
    /// marker that ends it (EOI for a single-scan frame).
    pub scan_data: Range<usize>,
    /// Bytes from SOI through EOI: the frame's length inside a larger buffer.
    pub len: usize,
    /// An arithmetic-coding conditioning segment (DAC) was present.
    pub arithmetic: bool,
    /// A JFIF APP0 segment was present: its components are YCbCr (or grey).
    pub jfif: bool,
    /// The colour transform of an Adobe APP14 segment (0: none, so three components are RGB
    /// and four CMYK; 1: YCbCr; 2: YCCK), if the frame has one.
    pub adobe_transform: Option<u8>,
    pub offsets: SegmentOffsets,
}

impl JpegInfo {
    /// Whether three components hold R, G and B rather than YCbCr, by libjpeg's rules: an
    /// Adobe segment that says no transform, or, with neither JFIF nor Adobe, the component
    /// ids 'R', 'G', 'B'. RFC 2435 carries only YCbCr, so such frames must be converted.
    pub fn is_rgb(&self) -> bool {
        if self.components.len() != 3 {
            return false;
        }
        match self.adobe_transform {
            Some(t) => t == 0,
            None => {
                let ids: Vec<u8> = self.components.iter().map(|c| c.id).collect();
                !self.jfif && ids == b"RGB"
            }
        }
    }
}

/// Builds the JPEG headers an RFC 2435 receiver reconstructs (RFC 2435 Appendix B): SOI, DQT,
/// (DRI), SOF0, the Annex K DHTs, SOS. Scan data and EOI follow it.
pub fn write_headers(
    out: &mut Vec<u8>,
    type_: u8,
    width: u16,
    height: u16,
    luma: &[u8; 64],
    chroma: &[u8; 64],
    restart_interval: Option<u16>,
) {
    out.extend_from_slice(&[0xff, marker::SOI]);
    out.extend_from_slice(&[0xff, marker::DQT, 0, 2 + 2 * 65, 0x00]);
    out.extend_from_slice(luma);
    out.push(0x01);
    out.extend_from_slice(chroma);
    if let Some(ri) = restart_interval {
        out.extend_from_slice(&[0xff, marker::DRI, 0, 4]);
        out.extend_from_slice(&ri.to_be_bytes());
    }
    let luma_sampling = if type_ & 0x3f == 0 { 0x21 } else { 0x22 };
    out.extend_from_slice(&[0xff, marker::SOF0, 0, 17, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, luma_sampling, 0, 2, 0x11, 1, 3, 0x11, 1]);
    for t in &tables::STANDARD_HUFFMAN {
        let len = 2 + 1 + 16 + t.values.len();
        out.extend_from_slice(&[0xff, marker::DHT]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push((t.class << 4) | t.id);
        out.extend_from_slice(&t.bits);
        out.extend_from_slice(t.values);
    }
    out.extend_from_slice(&[
        0xff,
        marker::SOS,
        0,
        12,
        3,
        1,
        0x00,
        2,
        0x11,
        3,
        0x11,
        0,
        63,
        0,
    ]);
}

#[cfg(test)]
mod tests;
