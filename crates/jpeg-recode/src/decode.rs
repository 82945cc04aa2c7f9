//! Decoding a JPEG (baseline, extended sequential or progressive; Huffman-coded, 8-bit) to
//! its quantized DCT coefficients: the frame header sets up the block grids, then every scan
//! is decoded with the tables defined before it.

use rtsp_proto::jpeg::{entropy_end, marker, JpegInfo};

use crate::classify::check_decodable;
use crate::error::{EntropyFault, RecodeError, StructureFault};
use crate::huffman::HuffmanDecoder;
use crate::scan::{decode_scan, ScanComponent, ScanParams, Tables};

/// One component's quantized coefficients, blocks in raster order over the MCU-padded grid,
/// each block in zig-zag order (as the entropy coder sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCoefficients {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    /// Quantization table, zig-zag order.
    pub quant: [u16; 64],
    /// Blocks per row and rows of blocks in the padded grid.
    pub blocks_w: usize,
    pub blocks_h: usize,
    pub blocks: Vec<[i16; 64]>,
}

impl ComponentCoefficients {
    pub(crate) fn block(&self, bx: usize, by: usize) -> Option<&[i16; 64]> {
        (bx < self.blocks_w && by < self.blocks_h).then(|| &self.blocks[by * self.blocks_w + bx])
    }
}

/// A whole frame as coefficients: what [`crate::encode_baseline`] writes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coefficients {
    pub width: u16,
    pub height: u16,
    pub components: Vec<ComponentCoefficients>,
    pub restart_interval: Option<u16>,
}

/// The MCU grid of the frame, which every scan shares.
struct Grid {
    mcux: usize,
    mcuy: usize,
    hmax: usize,
    vmax: usize,
}

/// Decodes a JPEG (baseline, extended sequential or progressive, Huffman-coded, 8-bit) to
/// its quantized coefficients.
pub fn decode(data: &[u8]) -> Result<Coefficients, RecodeError> {
    let info = JpegInfo::parse(data)?;
    check_decodable(&info)?;
    let (mut out, grid) = empty_coefficients(&info)?;
    let mut tables = Tables {
        dc: Default::default(),
        ac: Default::default(),
    };
    // Walk the segments again, decoding each scan with the tables defined before it.
    let mut pos = 2;
    while pos + 4 <= data.len() {
        let structure = |fault| RecodeError::Structure { at: pos, fault };
        if data[pos] != 0xff {
            return Err(structure(StructureFault::NoMarker));
        }
        let m = data[pos + 1];
        if m == 0xff {
            pos += 1;
            continue;
        }
        if m == marker::EOI {
            break;
        }
        if marker::is_rst(m) || m == marker::SOI {
            pos += 2;
            continue;
        }
        let at = pos;
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        let body = data
            .get(pos + 4..pos + 2 + len)
            .ok_or(structure(StructureFault::SegmentPastEnd))?;
        pos += 2 + len;
        match m {
            marker::DHT => read_dht(body, at, &mut tables)?,
            marker::DRI => out.restart_interval = be16(body).filter(|&r| r > 0),
            marker::SOS => {
                let (scan, params) = read_sos(body, at, &info, &grid, out.restart_interval)?;
                let end = entropy_end(data, pos).ok_or(RecodeError::Corrupt {
                    at: pos,
                    fault: EntropyFault::Unterminated,
                })?;
                decode_scan(
                    &data[pos..end],
                    pos,
                    &scan,
                    &params,
                    &tables,
                    &mut out.components,
                )?;
                pos = end;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// All-zero coefficients for the frame's components over its MCU-padded grid.
fn empty_coefficients(info: &JpegInfo) -> Result<(Coefficients, Grid), RecodeError> {
    let hmax = info.components.iter().map(|c| c.h).max().unwrap_or(1) as usize;
    let vmax = info.components.iter().map(|c| c.v).max().unwrap_or(1) as usize;
    let mcux = (info.width as usize).div_ceil(8 * hmax);
    let mcuy = (info.height as usize).div_ceil(8 * vmax);
    let mut components = Vec::new();
    for c in &info.components {
        let q = info
            .quant_tables
            .get(c.tq as usize)
            .and_then(|t| t.as_ref())
            .ok_or(RecodeError::Structure {
                at: info.offsets.sof,
                fault: StructureFault::NoQuantTable(c.id),
            })?;
        let mut quant = [0u16; 64];
        for (k, v) in quant.iter_mut().enumerate() {
            *v = match q.len() {
                128 => u16::from_be_bytes([q[2 * k], q[2 * k + 1]]),
                _ => q[k] as u16,
            };
        }
        let (bw, bh) = (mcux * c.h as usize, mcuy * c.v as usize);
        components.push(ComponentCoefficients {
            id: c.id,
            h: c.h,
            v: c.v,
            quant,
            blocks_w: bw,
            blocks_h: bh,
            blocks: vec![[0i16; 64]; bw * bh],
        });
    }
    let coefficients = Coefficients {
        width: info.width,
        height: info.height,
        components,
        restart_interval: None,
    };
    let grid = Grid {
        mcux,
        mcuy,
        hmax,
        vmax,
    };
    Ok((coefficients, grid))
}

/// A DHT segment at `at`: its tables replace any of the same class and id.
fn read_dht(mut b: &[u8], at: usize, tables: &mut Tables) -> Result<(), RecodeError> {
    let structure = |fault| RecodeError::Structure { at, fault };
    while b.len() >= 17 {
        let mut bits = [0u8; 16];
        bits.copy_from_slice(&b[1..17]);
        let n: usize = bits.iter().map(|&x| x as usize).sum();
        let values = b
            .get(17..17 + n)
            .ok_or(structure(StructureFault::DhtOverrun))?;
        let (class, id) = (b[0] >> 4, (b[0] & 0x0f) as usize);
        if id > 3 {
            return Err(structure(StructureFault::HuffmanTableId));
        }
        let table = Some(HuffmanDecoder::new(&bits, values));
        if class == 0 {
            tables.dc[id] = table
        } else {
            tables.ac[id] = table
        }
        b = &b[17 + n..];
    }
    Ok(())
}

/// An SOS header at `at`: the scan's components and parameters.
fn read_sos(
    body: &[u8],
    at: usize,
    info: &JpegInfo,
    grid: &Grid,
    restart_interval: Option<u16>,
) -> Result<(Vec<ScanComponent>, ScanParams), RecodeError> {
    let structure = |fault| RecodeError::Structure { at, fault };
    let n = *body.first().unwrap_or(&0) as usize;
    if n == 0 || body.len() < 1 + 2 * n + 3 {
        return Err(structure(StructureFault::BadSos));
    }
    let mut scan = Vec::new();
    for i in 0..n {
        let sel = body[1 + 2 * i];
        let index = info
            .components
            .iter()
            .position(|c| c.id == sel)
            .ok_or(structure(StructureFault::UnknownComponent(sel)))?;
        let t = body[2 + 2 * i];
        scan.push(ScanComponent {
            index,
            dc: (t >> 4) as usize & 3,
            ac: (t & 0x0f) as usize & 3,
        });
    }
    let (ss, se) = (body[1 + 2 * n], body[2 + 2 * n]);
    let (ah, al) = (body[3 + 2 * n] >> 4, body[3 + 2 * n] & 0x0f);
    let progressive = info.sof == marker::SOF2;
    if se > 63 || ss > se || al > 13 || (!progressive && (ss != 0 || se != 63)) {
        return Err(structure(StructureFault::SpectralSelection));
    }
    let params = ScanParams {
        at,
        ss: ss as usize,
        se: se as usize,
        ah,
        al,
        progressive,
        mcux: grid.mcux,
        mcuy: grid.mcuy,
        width: info.width as usize,
        height: info.height as usize,
        hmax: grid.hmax,
        vmax: grid.vmax,
        restart_interval,
    };
    Ok((scan, params))
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}
