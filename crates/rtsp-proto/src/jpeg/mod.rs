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

pub mod coeff;
mod depay;
mod pay;
pub mod tables;

pub use depay::{DepacketizeError, Depacketizer, DepacketizerEvent};
pub use pay::{fragments, Fragment, MainHeader, MAX_PACKET};

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
    #[error("{name} segment at byte {at} is malformed: {why}")]
    BadSegment {
        name: &'static str,
        at: usize,
        why: &'static str,
    },
    #[error("no SOF segment before the first SOS")]
    NoFrameHeader,
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
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// The offset of the marker that ends entropy-coded data starting at `from`: the first FF
/// followed by neither 00 (a stuffed byte) nor RSTn, skipping fill FFs.
fn entropy_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < data.len() {
        if data[i] != 0xff {
            i += 1;
            continue;
        }
        let next = data[i + 1];
        if next == 0x00 || marker::is_rst(next) {
            i += 2;
        } else if next == 0xff {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

impl JpegInfo {
    /// Walks the marker segments of the JPEG at the start of `data` (which may continue with
    /// more frames). Never panics; every length is checked.
    pub fn parse(data: &[u8]) -> Result<JpegInfo, JpegError> {
        if data.len() < 2 || data[0] != 0xff || data[1] != marker::SOI {
            return Err(JpegError::NoSoi);
        }
        let mut info = JpegInfo {
            sof: 0,
            precision: 0,
            width: 0,
            height: 0,
            components: Vec::new(),
            quant_tables: [None, None, None, None],
            huffman_tables: Vec::new(),
            restart_interval: None,
            scan_components: Vec::new(),
            scans: 0,
            scan_data: 0..0,
            len: 0,
            arithmetic: false,
        };
        let mut pos = 2;
        loop {
            let at = pos;
            let &first = data.get(pos).ok_or(JpegError::Truncated { at })?;
            if first != 0xff {
                return Err(JpegError::NotAMarker { at, found: first });
            }
            // Any number of fill bytes may precede a marker (T.81 B.1.1.2).
            while data.get(pos + 1) == Some(&0xff) {
                pos += 1;
            }
            let m = *data.get(pos + 1).ok_or(JpegError::Truncated { at })?;
            pos += 2;
            match m {
                marker::EOI => {
                    info.len = pos;
                    if info.scans == 0 {
                        return Err(JpegError::Truncated { at });
                    }
                    return Ok(info);
                }
                marker::SOI | marker::TEM => continue,
                m if marker::is_rst(m) => continue,
                0x00 => return Err(JpegError::NotAMarker { at, found: 0 }),
                _ => {}
            }
            let len = be16(data, pos).ok_or(JpegError::Truncated { at })? as usize;
            if len < 2 {
                return Err(JpegError::BadSegment {
                    name: "marker",
                    at,
                    why: "length below 2",
                });
            }
            let body = data
                .get(pos + 2..pos + len)
                .ok_or(JpegError::Truncated { at })?;
            pos += len;
            match m {
                marker::DQT => parse_dqt(body, at, &mut info)?,
                marker::DHT => parse_dht(body, at, &mut info)?,
                marker::DRI => {
                    let ri = be16(body, 0).ok_or(bad("DRI", at, "short"))?;
                    info.restart_interval = (ri != 0).then_some(ri);
                }
                marker::DAC => info.arithmetic = true,
                m if marker::is_sof(m) => parse_sof(m, body, at, &mut info)?,
                marker::SOS => {
                    if info.sof == 0 {
                        return Err(JpegError::NoFrameHeader);
                    }
                    let n = *body.first().ok_or(bad("SOS", at, "empty"))? as usize;
                    if body.len() != 1 + 2 * n + 3 {
                        return Err(bad("SOS", at, "length does not match components"));
                    }
                    if info.scans == 0 {
                        info.scan_components = (0..n)
                            .map(|i| {
                                let sel = body[1 + 2 * i];
                                let tables = body[2 + 2 * i];
                                (sel, tables >> 4, tables & 0x0f)
                            })
                            .collect();
                    }
                    let end = entropy_end(data, pos).ok_or(JpegError::Truncated { at: pos })?;
                    if info.scans == 0 {
                        info.scan_data = pos..end;
                    }
                    info.scans += 1;
                    pos = end;
                }
                _ => {} // APPn, COM and others: skipped by length.
            }
        }
    }

    /// How this frame travels in RFC 2435, or why it cannot: the parameters of the main
    /// header and the two quantization tables (luma, chroma) to send in-band with Q=255.
    pub fn rfc2435(&self) -> Result<Rfc2435Params, &'static str> {
        if self.arithmetic {
            return Err("arithmetic-coded JPEG");
        }
        match self.sof {
            marker::SOF0 | marker::SOF1 => {}
            marker::SOF2 => return Err("progressive JPEG"),
            _ => return Err("not a baseline sequential JPEG"),
        }
        if self.precision != 8 {
            return Err("sample precision is not 8 bits");
        }
        if self.scans != 1 {
            return Err("more than one scan");
        }
        if self.components.len() != 3 {
            return Err("not 3 components (grayscale or CMYK)");
        }
        let (y, cb, cr) = (self.components[0], self.components[1], self.components[2]);
        let type_ = match (y.h, y.v) {
            (2, 1) => 0,
            (2, 2) => 1,
            _ => return Err("luma sampling is neither 2x1 (4:2:2) nor 2x2 (4:2:0)"),
        };
        if (cb.h, cb.v, cr.h, cr.v) != (1, 1, 1, 1) {
            return Err("chroma sampling is not 1x1");
        }
        if cb.tq != cr.tq {
            return Err("Cb and Cr use different quantization tables");
        }
        let table = |id: u8| -> Result<&[u8], &'static str> {
            match self.quant_tables.get(id as usize) {
                Some(Some(t)) if t.len() == 64 => Ok(t),
                Some(Some(_)) => Err("16-bit quantization table"),
                _ => Err("quantization table not defined"),
            }
        };
        let mut quant = [0u8; 128];
        quant[..64].copy_from_slice(table(y.tq)?);
        quant[64..].copy_from_slice(table(cb.tq)?);
        if self.scan_components.len() != 3 {
            return Err("scan does not interleave all 3 components");
        }
        let ids: Vec<u8> = self.components.iter().map(|c| c.id).collect();
        for (i, &(sel, dc, ac)) in self.scan_components.iter().enumerate() {
            let want = if i == 0 { 0 } else { 1 };
            if sel != ids[i] || dc != want || ac != want {
                return Err("scan does not use Huffman tables 0 (luma) and 1 (chroma)");
            }
        }
        for t in &self.huffman_tables {
            let standard = tables::standard_huffman(t.class, t.id)
                .ok_or("Huffman table id other than 0 and 1")?;
            if t.bits != standard.bits || t.values != standard.values {
                return Err("optimized (non-standard) Huffman tables");
            }
        }
        if self.width == 0 || self.height == 0 {
            return Err("zero width or height");
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
}

fn bad(name: &'static str, at: usize, why: &'static str) -> JpegError {
    JpegError::BadSegment { name, at, why }
}

fn parse_dqt(mut body: &[u8], at: usize, info: &mut JpegInfo) -> Result<(), JpegError> {
    while let Some(&pq_tq) = body.first() {
        let (pq, tq) = (pq_tq >> 4, (pq_tq & 0x0f) as usize);
        let size = match pq {
            0 => 64,
            1 => 128,
            _ => return Err(bad("DQT", at, "precision other than 8 or 16 bits")),
        };
        if tq > 3 {
            return Err(bad("DQT", at, "table id above 3"));
        }
        let table = body
            .get(1..1 + size)
            .ok_or(bad("DQT", at, "table runs past the segment"))?;
        info.quant_tables[tq] = Some(table.to_vec());
        body = &body[1 + size..];
    }
    Ok(())
}

fn parse_dht(mut body: &[u8], at: usize, info: &mut JpegInfo) -> Result<(), JpegError> {
    while let Some(&tc_th) = body.first() {
        let mut bits = [0u8; 16];
        bits.copy_from_slice(body.get(1..17).ok_or(bad(
            "DHT",
            at,
            "code counts run past the segment",
        ))?);
        let n: usize = bits.iter().map(|&b| b as usize).sum();
        let values = body
            .get(17..17 + n)
            .ok_or(bad("DHT", at, "symbols run past the segment"))?;
        let table = HuffmanTable {
            class: tc_th >> 4,
            id: tc_th & 0x0f,
            bits,
            values: values.to_vec(),
        };
        // A later definition of the same table replaces the earlier one.
        info.huffman_tables
            .retain(|t| (t.class, t.id) != (table.class, table.id));
        info.huffman_tables.push(table);
        body = &body[17 + n..];
    }
    Ok(())
}

fn parse_sof(m: u8, body: &[u8], at: usize, info: &mut JpegInfo) -> Result<(), JpegError> {
    if info.sof != 0 {
        return Err(bad("SOF", at, "second frame header"));
    }
    if body.len() < 6 {
        return Err(bad("SOF", at, "short"));
    }
    let n = body[5] as usize;
    if body.len() != 6 + 3 * n || n == 0 {
        return Err(bad("SOF", at, "length does not match components"));
    }
    info.sof = m;
    info.precision = body[0];
    info.height = u16::from_be_bytes([body[1], body[2]]);
    info.width = u16::from_be_bytes([body[3], body[4]]);
    info.components = (0..n)
        .map(|i| {
            let c = &body[6 + 3 * i..9 + 3 * i];
            Component {
                id: c[0],
                h: c[1] >> 4,
                v: c[1] & 0x0f,
                tq: c[2],
            }
        })
        .collect();
    Ok(())
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

/// Builds the JPEG headers an RFC 2435 receiver reconstructs (RFC 2435 Appendix B): SOI, DQT,
/// [DRI], SOF0, the Annex K DHTs, SOS. Scan data and EOI follow it.
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
