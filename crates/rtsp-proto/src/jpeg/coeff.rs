//! Lossless re-coding of JPEG frames in the DCT-coefficient domain, so frames RFC 2435 cannot
//! carry as they are become frames it can, pixel for pixel.
//!
//! A JPEG's pixels are determined by its quantized DCT coefficients and quantization tables;
//! Huffman tables, scan structure (progressive or sequential) and the grouping of blocks into
//! MCUs only decide how those coefficients are written. So decoding the entropy-coded data to
//! coefficients ([`decode`]) and writing them again as one baseline interleaved scan with the
//! Annex K Huffman tables and canonical sampling factors ([`encode_baseline`]) changes the bytes
//! and never the picture. What cannot be expressed that way (a chroma ratio other than 4:2:0 or
//! 4:2:2, Cb and Cr with different tables, quantizers above 255) needs real re-encoding, which
//! is not this module's business.

use super::tables::{HuffmanSpec, STANDARD_HUFFMAN};
use super::{marker, JpegInfo};

/// Why a frame's coefficients could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoeffError {
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("corrupt entropy-coded data: {0}")]
    Corrupt(&'static str),
    #[error("frame structure: {0}")]
    Structure(String),
}

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
    fn block(&self, bx: usize, by: usize) -> Option<&[i16; 64]> {
        (bx < self.blocks_w && by < self.blocks_h).then(|| &self.blocks[by * self.blocks_w + bx])
    }
}

/// A whole frame as coefficients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coefficients {
    pub width: u16,
    pub height: u16,
    pub components: Vec<ComponentCoefficients>,
    pub restart_interval: Option<u16>,
}

/// A Huffman table ready to decode (T.81 F.2.2.3's MAXCODE/VALPTR/MINCODE).
#[derive(Clone)]
struct Decoder {
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Decoder {
    fn new(bits: &[u8; 16], values: &[u8]) -> Decoder {
        let mut d = Decoder {
            maxcode: [-1; 18],
            valptr: [0; 17],
            mincode: [0; 17],
            values: values.to_vec(),
        };
        let (mut code, mut k) = (0i32, 0i32);
        for l in 1..=16 {
            let n = bits[l - 1] as i32;
            if n > 0 {
                d.valptr[l] = k;
                d.mincode[l] = code;
                code += n;
                k += n;
                d.maxcode[l] = code - 1;
            }
            code <<= 1;
        }
        d.maxcode[17] = i32::MAX;
        d
    }
}

/// Reads bits from entropy-coded data, unstuffing FF 00 and stopping at markers.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    bits: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            bits: 0,
        }
    }

    fn byte(&mut self) -> u32 {
        match self.data.get(self.pos) {
            Some(0xff) => match self.data.get(self.pos + 1) {
                Some(0x00) => {
                    self.pos += 2;
                    0xff
                }
                // A marker: feed zeros without consuming it (T.81 F.2.2.5's behaviour).
                _ => 0,
            },
            Some(&b) => {
                self.pos += 1;
                b as u32
            }
            None => 0,
        }
    }

    fn bit(&mut self) -> u32 {
        if self.bits == 0 {
            self.acc = self.byte();
            self.bits = 8;
        }
        self.bits -= 1;
        (self.acc >> self.bits) & 1
    }

    fn bits(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit();
        }
        v
    }

    fn decode(&mut self, d: &Decoder) -> Result<u8, CoeffError> {
        let mut code = self.bit() as i32;
        let mut l = 1;
        while code > d.maxcode[l] {
            code = (code << 1) | self.bit() as i32;
            l += 1;
            if l > 16 {
                return Err(CoeffError::Corrupt("no Huffman code matches"));
            }
        }
        let i = d.valptr[l] + code - d.mincode[l];
        d.values
            .get(i as usize)
            .copied()
            .ok_or(CoeffError::Corrupt("Huffman value out of range"))
    }

    /// At a restart interval boundary: drop the partial byte and expect an RSTn marker.
    fn restart(&mut self) -> Result<(), CoeffError> {
        self.bits = 0;
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xff), Some(&m)) if marker::is_rst(m) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(CoeffError::Corrupt("restart marker missing")),
        }
    }
}

/// T.81 F.2.2.1 EXTEND: the signed value of `s` magnitude bits.
fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}

struct ScanComponent {
    index: usize,
    dc: usize,
    ac: usize,
}

/// Decodes a JPEG (baseline, extended sequential or progressive, Huffman-coded, 8-bit) to
/// its quantized coefficients.
pub fn decode(data: &[u8]) -> Result<Coefficients, CoeffError> {
    let info = JpegInfo::parse(data).map_err(|e| CoeffError::Structure(e.to_string()))?;
    if info.arithmetic {
        return Err(CoeffError::Unsupported("arithmetic coding"));
    }
    if !matches!(info.sof, marker::SOF0 | marker::SOF1 | marker::SOF2) {
        return Err(CoeffError::Unsupported("lossless or hierarchical JPEG"));
    }
    if info.precision != 8 {
        return Err(CoeffError::Unsupported("sample precision is not 8 bits"));
    }
    let progressive = info.sof == marker::SOF2;
    let hmax = info.components.iter().map(|c| c.h).max().unwrap_or(1) as usize;
    let vmax = info.components.iter().map(|c| c.v).max().unwrap_or(1) as usize;
    if hmax == 0 || vmax == 0 || hmax > 4 || vmax > 4 {
        return Err(CoeffError::Structure(
            "sampling factors out of range".into(),
        ));
    }
    let (w, h) = (info.width as usize, info.height as usize);
    if w == 0 || h == 0 {
        return Err(CoeffError::Unsupported("zero width or height"));
    }
    let mcux = w.div_ceil(8 * hmax);
    let mcuy = h.div_ceil(8 * vmax);
    if mcux * mcuy * info.components.len() * hmax * vmax > 1 << 22 {
        return Err(CoeffError::Unsupported("picture too large"));
    }
    let mut components = Vec::new();
    for c in &info.components {
        let q = info
            .quant_tables
            .get(c.tq as usize)
            .and_then(|t| t.as_ref())
            .ok_or(CoeffError::Structure(format!(
                "component {} has no quantization table",
                c.id
            )))?;
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
    let mut out = Coefficients {
        width: info.width,
        height: info.height,
        components,
        restart_interval: None,
    };

    // Walk the segments again, decoding each scan with the tables defined before it.
    let mut dc: Vec<Option<Decoder>> = vec![None; 4];
    let mut ac: Vec<Option<Decoder>> = vec![None; 4];
    let mut pos = 2;
    while pos + 4 <= data.len() {
        if data[pos] != 0xff {
            return Err(CoeffError::Structure(format!("no marker at byte {pos}")));
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
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        let body = data
            .get(pos + 4..pos + 2 + len)
            .ok_or(CoeffError::Structure("segment past the end".into()))?;
        pos += 2 + len;
        match m {
            marker::DHT => {
                let mut b = body;
                while b.len() >= 17 {
                    let mut bits = [0u8; 16];
                    bits.copy_from_slice(&b[1..17]);
                    let n: usize = bits.iter().map(|&x| x as usize).sum();
                    let values = b
                        .get(17..17 + n)
                        .ok_or(CoeffError::Structure("DHT past its segment".into()))?;
                    let (class, id) = (b[0] >> 4, (b[0] & 0x0f) as usize);
                    if id > 3 {
                        return Err(CoeffError::Structure("Huffman table id above 3".into()));
                    }
                    let table = Some(Decoder::new(&bits, values));
                    if class == 0 {
                        dc[id] = table
                    } else {
                        ac[id] = table
                    }
                    b = &b[17 + n..];
                }
            }
            marker::DRI => out.restart_interval = be16(body).filter(|&r| r > 0),
            marker::SOS => {
                let n = *body.first().unwrap_or(&0) as usize;
                if n == 0 || body.len() < 1 + 2 * n + 3 {
                    return Err(CoeffError::Structure("bad SOS".into()));
                }
                let mut scan = Vec::new();
                for i in 0..n {
                    let sel = body[1 + 2 * i];
                    let index = info.components.iter().position(|c| c.id == sel).ok_or(
                        CoeffError::Structure("scan names an unknown component".into()),
                    )?;
                    let t = body[2 + 2 * i];
                    scan.push(ScanComponent {
                        index,
                        dc: (t >> 4) as usize & 3,
                        ac: (t & 0x0f) as usize & 3,
                    });
                }
                let (ss, se, ah, al) = (
                    body[1 + 2 * n],
                    body[2 + 2 * n],
                    body[3 + 2 * n] >> 4,
                    body[3 + 2 * n] & 0x0f,
                );
                if se > 63 || ss > se || al > 13 || (!progressive && (ss != 0 || se != 63)) {
                    return Err(CoeffError::Structure("bad spectral selection".into()));
                }
                let end = super::entropy_end(data, pos)
                    .ok_or(CoeffError::Corrupt("scan runs to the end of the data"))?;
                let params = ScanParams {
                    ss: ss as usize,
                    se: se as usize,
                    ah,
                    al,
                    progressive,
                    mcux,
                    mcuy,
                    width: w,
                    height: h,
                    hmax,
                    vmax,
                };
                decode_scan(
                    &data[pos..end],
                    &scan,
                    &params,
                    &dc,
                    &ac,
                    out.restart_interval,
                    &mut out.components,
                )?;
                pos = end;
            }
            _ => {}
        }
    }
    Ok(out)
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

struct ScanParams {
    ss: usize,
    se: usize,
    ah: u8,
    al: u8,
    progressive: bool,
    mcux: usize,
    mcuy: usize,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
}

fn decode_scan(
    data: &[u8],
    scan: &[ScanComponent],
    p: &ScanParams,
    dc: &[Option<Decoder>],
    ac: &[Option<Decoder>],
    restart_interval: Option<u16>,
    comps: &mut [ComponentCoefficients],
) -> Result<(), CoeffError> {
    let mut r = BitReader::new(data);
    let mut pred = vec![0i32; scan.len()];
    let mut eobrun = 0u32;
    // A non-interleaved scan's MCU is one block, over the component's own (unpadded) grid.
    let units: Vec<(usize, usize, usize)> = if scan.len() == 1 {
        let c = &comps[scan[0].index];
        let cw = (p.width * c.h as usize).div_ceil(p.hmax).div_ceil(8);
        let ch = (p.height * c.v as usize).div_ceil(p.vmax).div_ceil(8);
        (0..ch)
            .flat_map(|by| (0..cw).map(move |bx| (0, bx, by)))
            .collect()
    } else {
        Vec::new()
    };
    let total_mcus = if scan.len() == 1 {
        units.len()
    } else {
        p.mcux * p.mcuy
    };
    let mut blocks_of_mcu = Vec::with_capacity(10);
    for mcu in 0..total_mcus {
        if let Some(ri) = restart_interval {
            if mcu > 0 && mcu % ri as usize == 0 {
                r.restart()?;
                pred.iter_mut().for_each(|p| *p = 0);
                eobrun = 0;
            }
        }
        blocks_of_mcu.clear();
        if let Some(&unit) = units.get(mcu) {
            blocks_of_mcu.push(unit);
        } else {
            let (mx, my) = (mcu % p.mcux, mcu / p.mcux);
            for (si, sc) in scan.iter().enumerate() {
                let c = &comps[sc.index];
                for v in 0..c.v as usize {
                    for h in 0..c.h as usize {
                        blocks_of_mcu.push((si, mx * c.h as usize + h, my * c.v as usize + v));
                    }
                }
            }
        }
        for &(si, bx, by) in &blocks_of_mcu {
            let sc = &scan[si];
            let c = &mut comps[sc.index];
            let bw = c.blocks_w;
            let block = c
                .blocks
                .get_mut(by * bw + bx)
                .ok_or(CoeffError::Structure("block outside the grid".into()))?;
            let dct = || {
                dc[sc.dc].as_ref().ok_or(CoeffError::Structure(
                    "scan uses an undefined DC table".into(),
                ))
            };
            let act = || {
                ac[sc.ac].as_ref().ok_or(CoeffError::Structure(
                    "scan uses an undefined AC table".into(),
                ))
            };
            if !p.progressive {
                let s = r.decode(dct()?)? as u32;
                if s > 11 {
                    return Err(CoeffError::Corrupt("DC magnitude category above 11"));
                }
                pred[si] += extend(r.bits(s), s);
                block[0] = pred[si] as i16;
                let t = act()?;
                let mut k = 1;
                while k < 64 {
                    let rs = r.decode(t)?;
                    let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
                    if size == 0 {
                        if run == 15 {
                            k += 16;
                            continue;
                        }
                        break;
                    }
                    k += run;
                    if k > 63 {
                        return Err(CoeffError::Corrupt("AC run past the block"));
                    }
                    block[k] = extend(r.bits(size), size) as i16;
                    k += 1;
                }
            } else if p.ss == 0 {
                if p.ah == 0 {
                    let s = r.decode(dct()?)? as u32;
                    if s > 11 {
                        return Err(CoeffError::Corrupt("DC magnitude category above 11"));
                    }
                    pred[si] += extend(r.bits(s), s);
                    block[0] = (pred[si] << p.al) as i16;
                } else if r.bit() == 1 {
                    block[0] |= 1 << p.al;
                }
            } else if p.ah == 0 {
                ac_first(&mut r, act()?, block, p, &mut eobrun)?;
            } else {
                ac_refine(&mut r, act()?, block, p, &mut eobrun)?;
            }
        }
    }
    Ok(())
}

/// Progressive AC first pass (T.81 G.1.2.2), with end-of-band runs.
fn ac_first(
    r: &mut BitReader,
    t: &Decoder,
    block: &mut [i16; 64],
    p: &ScanParams,
    eobrun: &mut u32,
) -> Result<(), CoeffError> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(());
    }
    let mut k = p.ss;
    while k <= p.se {
        let rs = r.decode(t)?;
        let (run, size) = ((rs >> 4) as u32, (rs & 15) as u32);
        if size == 0 {
            if run < 15 {
                *eobrun = (1 << run) - 1 + r.bits(run);
                break;
            }
            k += 16;
            continue;
        }
        k += run as usize;
        if k > 63 {
            return Err(CoeffError::Corrupt("AC run past the block"));
        }
        block[k] = (extend(r.bits(size), size) << p.al) as i16;
        k += 1;
    }
    Ok(())
}

/// Progressive AC refinement (T.81 G.1.2.3), as libjpeg's decode_mcu_AC_refine does it.
fn ac_refine(
    r: &mut BitReader,
    t: &Decoder,
    block: &mut [i16; 64],
    p: &ScanParams,
    eobrun: &mut u32,
) -> Result<(), CoeffError> {
    let p1: i16 = 1 << p.al;
    let m1: i16 = -1 << p.al;
    let mut k = p.ss;
    let refine = |r: &mut BitReader, coef: &mut i16| {
        if r.bit() == 1 && (*coef & p1) == 0 {
            *coef += if *coef >= 0 { p1 } else { m1 };
        }
    };
    if *eobrun == 0 {
        while k <= p.se {
            let rs = r.decode(t)?;
            let (mut run, size) = ((rs >> 4) as i32, rs & 15);
            let mut value = 0i16;
            if size != 0 {
                if size != 1 {
                    return Err(CoeffError::Corrupt("refinement magnitude is not 1"));
                }
                value = if r.bit() == 1 { p1 } else { m1 };
            } else if run != 15 {
                *eobrun = (1 << run) + r.bits(run as u32);
                break;
            }
            while k <= p.se {
                if block[k] != 0 {
                    refine(r, &mut block[k]);
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if value != 0 {
                if k > 63 {
                    return Err(CoeffError::Corrupt("refinement past the block"));
                }
                block[k] = value;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= p.se {
            if block[k] != 0 {
                refine(r, &mut block[k]);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}

/// Writes bits MSB first, stuffing a zero byte after every FF.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, code: u32, len: u32) {
        if len == 0 {
            return;
        }
        self.acc = (self.acc << len) | (code as u64 & ((1u64 << len) - 1));
        self.bits += len;
        while self.bits >= 8 {
            self.bits -= 8;
            let b = (self.acc >> self.bits) as u8;
            self.out.push(b);
            if b == 0xff {
                self.out.push(0);
            }
        }
    }

    /// Pads the last byte with 1 bits (T.81 F.1.2.3).
    fn flush(&mut self) {
        if self.bits > 0 {
            let pad = 8 - self.bits;
            self.put((1 << pad) - 1, pad);
        }
    }
}

/// A Huffman table ready to encode: code and length per symbol.
struct Encoder {
    code: [u16; 256],
    len: [u8; 256],
}

impl Encoder {
    fn new(spec: &HuffmanSpec) -> Encoder {
        let mut e = Encoder {
            code: [0; 256],
            len: [0; 256],
        };
        let (mut code, mut k) = (0u16, 0usize);
        for l in 1..=16u8 {
            for _ in 0..spec.bits[l as usize - 1] {
                let sym = spec.values[k] as usize;
                e.code[sym] = code;
                e.len[sym] = l;
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        e
    }

    fn put(&self, w: &mut BitWriter, symbol: u8) {
        w.put(
            self.code[symbol as usize] as u32,
            self.len[symbol as usize] as u32,
        );
    }
}

/// Magnitude category and the bits that follow it (T.81 F.1.2.1).
fn category(v: i32) -> (u32, u32) {
    let a = v.unsigned_abs();
    let s = 32 - a.leading_zeros();
    let bits = if v < 0 {
        (v - 1) as u32 & ((1 << s) - 1)
    } else {
        v as u32
    };
    (s, bits)
}

/// The layout a converted frame is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSampling {
    /// RFC 2435 type 0: Y 2x1, Cb and Cr 1x1.
    Yuv422,
    /// RFC 2435 type 1: Y 2x2, Cb and Cr 1x1.
    Yuv420,
}

/// How a frame's coefficients map onto an RFC 2435 layout, or why they cannot.
pub fn target_sampling(c: &Coefficients) -> Result<TargetSampling, CoeffError> {
    match c.components.as_slice() {
        [_] => Ok(TargetSampling::Yuv420),
        [y, cb, cr] => {
            if (cb.h, cb.v) != (cr.h, cr.v) {
                return Err(CoeffError::Unsupported("Cb and Cr are sampled differently"));
            }
            if cb.quant != cr.quant {
                return Err(CoeffError::Unsupported(
                    "Cb and Cr use different quantization tables",
                ));
            }
            if y.h % cb.h != 0 || y.v % cb.v != 0 {
                return Err(CoeffError::Unsupported(
                    "chroma sampled more finely than luma",
                ));
            }
            match (y.h / cb.h, y.v / cb.v) {
                (2, 1) => Ok(TargetSampling::Yuv422),
                (2, 2) => Ok(TargetSampling::Yuv420),
                _ => Err(CoeffError::Unsupported(
                    "chroma ratio is not 4:2:0 or 4:2:2",
                )),
            }
        }
        _ => Err(CoeffError::Unsupported("not 1 or 3 components (CMYK?)")),
    }
}

/// Writes coefficients as a baseline JPEG RFC 2435 carries as is: one interleaved scan,
/// canonical sampling factors, two 8-bit quantization tables, the Annex K Huffman tables, and
/// the restart interval kept. A grayscale frame gets neutral chroma (all-zero blocks).
pub fn encode_baseline(c: &Coefficients) -> Result<Vec<u8>, CoeffError> {
    let target = target_sampling(c)?;
    let (yh, yv) = match target {
        TargetSampling::Yuv422 => (2usize, 1usize),
        TargetSampling::Yuv420 => (2, 2),
    };
    let luma = &c.components[0];
    let chroma_quant = c.components.get(1).map_or(luma.quant, |cb| cb.quant);
    let to8 = |q: &[u16; 64]| -> Result<[u8; 64], CoeffError> {
        let mut t = [0u8; 64];
        for (d, &s) in t.iter_mut().zip(q) {
            *d = u8::try_from(s).map_err(|_| {
                CoeffError::Unsupported("a quantizer above 255 needs 16-bit tables")
            })?;
            if *d == 0 {
                return Err(CoeffError::Structure("quantizer of 0".into()));
            }
        }
        Ok(t)
    };
    let (lq, cq) = (to8(&luma.quant)?, to8(&chroma_quant)?);
    let mcux = (c.width as usize).div_ceil(8 * yh);
    let mcuy = (c.height as usize).div_ceil(8 * yv);

    let mut out =
        Vec::with_capacity(c.components.iter().map(|k| k.blocks.len()).sum::<usize>() * 16 + 1024);
    super::write_headers(
        &mut out,
        if target == TargetSampling::Yuv422 {
            0
        } else {
            1
        },
        c.width,
        c.height,
        &lq,
        &cq,
        c.restart_interval,
    );
    let enc: Vec<Encoder> = STANDARD_HUFFMAN.iter().map(Encoder::new).collect();
    let (dc_l, ac_l, dc_c, ac_c) = (&enc[0], &enc[1], &enc[2], &enc[3]);
    let mut w = BitWriter {
        out,
        acc: 0,
        bits: 0,
    };
    let zero = [0i16; 64];
    let mut pred = [0i32; 3];
    let mut rst = 0u8;
    for mcu in 0..mcux * mcuy {
        if let Some(ri) = c.restart_interval {
            if mcu > 0 && mcu % ri as usize == 0 {
                w.flush();
                w.out.extend_from_slice(&[0xff, 0xd0 + rst]);
                rst = (rst + 1) % 8;
                pred = [0; 3];
            }
        }
        let (mx, my) = (mcu % mcux, mcu / mcux);
        for (comp, pred) in pred.iter_mut().enumerate() {
            let (h, v) = if comp == 0 { (yh, yv) } else { (1, 1) };
            let (dc, ac) = if comp == 0 {
                (dc_l, ac_l)
            } else {
                (dc_c, ac_c)
            };
            for by in 0..v {
                for bx in 0..h {
                    let block = c
                        .components
                        .get(comp)
                        .and_then(|k| k.block(mx * h + bx, my * v + by))
                        .unwrap_or(&zero);
                    encode_block(&mut w, block, pred, dc, ac);
                }
            }
        }
    }
    w.flush();
    let mut out = w.out;
    out.extend_from_slice(&[0xff, marker::EOI]);
    Ok(out)
}

fn encode_block(w: &mut BitWriter, block: &[i16; 64], pred: &mut i32, dc: &Encoder, ac: &Encoder) {
    let diff = block[0] as i32 - *pred;
    *pred = block[0] as i32;
    let (s, bits) = category(diff);
    dc.put(w, s as u8);
    w.put(bits, s);
    let mut run = 0;
    for &coef in &block[1..] {
        if coef == 0 {
            run += 1;
            continue;
        }
        while run > 15 {
            ac.put(w, 0xf0);
            run -= 16;
        }
        let (s, bits) = category(coef as i32);
        ac.put(w, ((run << 4) | s) as u8);
        w.put(bits, s);
        run = 0;
    }
    if run > 0 {
        ac.put(w, 0x00);
    }
}

/// Decodes and re-encodes in one step: the lossless conversion of one frame.
pub fn transcode(data: &[u8]) -> Result<Vec<u8>, CoeffError> {
    encode_baseline(&decode(data)?)
}

/// Whether [`transcode`] can convert a frame with this structure, without trying it.
pub fn is_transcodable(info: &JpegInfo) -> Result<(), &'static str> {
    if info.arithmetic {
        return Err("arithmetic coding");
    }
    if !matches!(info.sof, marker::SOF0 | marker::SOF1 | marker::SOF2) {
        return Err("lossless or hierarchical JPEG");
    }
    if info.precision != 8 {
        return Err("sample precision is not 8 bits");
    }
    let tables: Vec<&[u8]> = info
        .components
        .iter()
        .map(|c| {
            info.quant_tables
                .get(c.tq as usize)
                .and_then(|t| t.as_deref())
                .unwrap_or(&[])
        })
        .collect();
    for t in &tables {
        if t.is_empty() {
            return Err("quantization table not defined");
        }
        if t.len() == 128 && t.chunks(2).any(|p| p[0] != 0) {
            return Err("16-bit quantizers above 255");
        }
    }
    match info.components.as_slice() {
        [_] => Ok(()),
        [y, cb, cr] => {
            if (cb.h, cb.v) != (cr.h, cr.v) || cb.h == 0 || cb.v == 0 {
                return Err("Cb and Cr sampled differently");
            }
            if tables[1] != tables[2] {
                return Err("Cb and Cr use different quantization tables");
            }
            if y.h % cb.h != 0 || y.v % cb.v != 0 {
                return Err("chroma sampled more finely than luma");
            }
            match (y.h / cb.h, y.v / cb.v) {
                (2, 1) | (2, 2) => Ok(()),
                (1, 1) => Err("4:4:4"),
                (1, 2) => Err("4:4:0"),
                (4, 1) => Err("4:1:1"),
                _ => Err("unusual chroma ratio"),
            }
        }
        [_, _, _, _] => Err("4 components (CMYK)"),
        _ => Err("unusual component count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_frames() -> Vec<Vec<u8>> {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../videos/video.mjpeg"
        ))
        .unwrap();
        let idx = crate::mjpeg::index(&data, crate::mjpeg::LAB_MAX_FRAME).unwrap();
        idx.frames
            .iter()
            .take(40)
            .map(|r| data[r.clone()].to_vec())
            .collect()
    }

    #[test]
    fn re_encoding_a_baseline_frame_gives_back_its_exact_scan_data() {
        // ffmpeg wrote these with the Annex K tables: the same coefficients coded with the same
        // tables must come out bit for bit, which checks decoder and encoder together.
        for (i, f) in sample_frames().iter().enumerate() {
            let out = transcode(f).unwrap();
            let (a, b) = (JpegInfo::parse(f).unwrap(), JpegInfo::parse(&out).unwrap());
            assert_eq!(
                &out[b.scan_data.clone()],
                &f[a.scan_data.clone()],
                "frame {i}"
            );
            assert_eq!(b.rfc2435().unwrap().quant, a.rfc2435().unwrap().quant);
        }
    }

    #[test]
    fn restart_intervals_survive() {
        let f = &sample_frames()[0];
        let mut c = decode(f).unwrap();
        c.restart_interval = Some(7);
        let with_rst = encode_baseline(&c).unwrap();
        let info = JpegInfo::parse(&with_rst).unwrap();
        assert_eq!(info.restart_interval, Some(7));
        let back = decode(&with_rst).unwrap();
        assert_eq!(back.components, c.components);
    }

    #[test]
    fn category_and_extend_agree() {
        for v in -2047..=2047 {
            let (s, bits) = category(v);
            assert_eq!(extend(bits, s), v, "{v}");
        }
    }

    proptest::proptest! {
        #[test]
        fn corrupted_frames_never_panic(pos in proptest::prelude::any::<proptest::sample::Index>(), bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..8)) {
            let mut f = sample_frames()[1].clone();
            let at = pos.index(f.len());
            for (i, b) in bytes.iter().enumerate() {
                if at + i < f.len() {
                    f[at + i] = *b;
                }
            }
            if let Ok(out) = transcode(&f) {
                let info = JpegInfo::parse(&out).unwrap();
                proptest::prop_assert!(info.rfc2435().is_ok());
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let f = &sample_frames()[0];
        let info = JpegInfo::parse(f).unwrap();
        let mut bad = f.clone();
        for b in &mut bad[info.scan_data.start + 10..info.scan_data.start + 400] {
            *b = 0xfe;
        }
        let _ = transcode(&bad);
        assert!(decode(b"\xff\xd8\xff\xd9").is_err());
    }
}
