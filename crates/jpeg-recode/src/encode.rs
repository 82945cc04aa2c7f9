//! Writing coefficients as the baseline JPEG RFC 2435 carries as it is: one interleaved scan,
//! canonical sampling factors, two 8-bit quantization tables, the Annex K Huffman tables.

use rtsp_proto::jpeg::tables::{HuffmanSpec, STANDARD_HUFFMAN};
use rtsp_proto::jpeg::{marker, write_headers};

use crate::classify::{chroma_layout, TargetSampling, Unrecodable};
use crate::decode::Coefficients;
use crate::error::RecodeError;

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
struct HuffmanEncoder {
    code: [u16; 256],
    len: [u8; 256],
}

impl HuffmanEncoder {
    fn new(spec: &HuffmanSpec) -> HuffmanEncoder {
        let mut e = HuffmanEncoder {
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
pub(crate) fn category(v: i32) -> (u32, u32) {
    let a = v.unsigned_abs();
    let s = 32 - a.leading_zeros();
    let bits = if v < 0 {
        (v - 1) as u32 & ((1 << s) - 1)
    } else {
        v as u32
    };
    (s, bits)
}

/// How a frame's coefficients map onto an RFC 2435 layout, or why they cannot (the same
/// rule [`crate::classify`] applies to the frame's header).
pub fn target_sampling(c: &Coefficients) -> Result<TargetSampling, Unrecodable> {
    let layout: Vec<(u8, u8, &[u16; 64])> =
        c.components.iter().map(|k| (k.h, k.v, &k.quant)).collect();
    chroma_layout(&layout)
}

/// A quantization table as the 8-bit DQT RFC 2435 sends.
fn table_8bit(q: &[u16; 64]) -> Result<[u8; 64], RecodeError> {
    let mut t = [0u8; 64];
    for (d, &s) in t.iter_mut().zip(q) {
        *d = u8::try_from(s).map_err(|_| Unrecodable::QuantizerAbove255)?;
        if *d == 0 {
            return Err(RecodeError::ZeroQuantizer);
        }
    }
    Ok(t)
}

/// Writes coefficients as a baseline JPEG RFC 2435 carries as is: one interleaved scan,
/// canonical sampling factors, two 8-bit quantization tables, the Annex K Huffman tables, and
/// the restart interval kept. A grayscale frame gets neutral chroma (all-zero blocks).
pub fn encode_baseline(c: &Coefficients) -> Result<Vec<u8>, RecodeError> {
    let target = target_sampling(c)?;
    let (yh, yv, type_) = match target {
        TargetSampling::Yuv422 => (2usize, 1usize, 0),
        TargetSampling::Yuv420 => (2, 2, 1),
    };
    let luma = &c.components[0];
    let chroma_quant = c.components.get(1).map_or(luma.quant, |cb| cb.quant);
    let (lq, cq) = (table_8bit(&luma.quant)?, table_8bit(&chroma_quant)?);
    let mut out =
        Vec::with_capacity(c.components.iter().map(|k| k.blocks.len()).sum::<usize>() * 16 + 1024);
    write_headers(
        &mut out,
        type_,
        c.width,
        c.height,
        &lq,
        &cq,
        c.restart_interval,
    );
    let mut w = BitWriter {
        out,
        acc: 0,
        bits: 0,
    };
    write_scan(&mut w, c, yh, yv)?;
    w.flush();
    let mut out = w.out;
    out.extend_from_slice(&[0xff, marker::EOI]);
    Ok(out)
}

/// The one interleaved scan: MCUs of `yh` x `yv` luma blocks and one block of each chroma.
fn write_scan(
    w: &mut BitWriter,
    c: &Coefficients,
    yh: usize,
    yv: usize,
) -> Result<(), RecodeError> {
    let enc: Vec<HuffmanEncoder> = STANDARD_HUFFMAN.iter().map(HuffmanEncoder::new).collect();
    let mcux = (c.width as usize).div_ceil(8 * yh);
    let mcuy = (c.height as usize).div_ceil(8 * yv);
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
            // STANDARD_HUFFMAN is DC luma, AC luma, DC chroma, AC chroma.
            let (dc, ac) = if comp == 0 {
                (&enc[0], &enc[1])
            } else {
                (&enc[2], &enc[3])
            };
            for by in 0..v {
                for bx in 0..h {
                    let block = c
                        .components
                        .get(comp)
                        .and_then(|k| k.block(mx * h + bx, my * v + by))
                        .unwrap_or(&zero);
                    encode_block(w, block, pred, dc, ac)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes one block. Baseline codes DC differences of category 11 at most and AC values of
/// category 10 at most (T.81 F.1.2.1); anything larger cannot be written.
fn encode_block(
    w: &mut BitWriter,
    block: &[i16; 64],
    pred: &mut i32,
    dc: &HuffmanEncoder,
    ac: &HuffmanEncoder,
) -> Result<(), RecodeError> {
    let too_large = |coefficient, value| RecodeError::TooLargeForBaseline { coefficient, value };
    let diff = block[0] as i32 - *pred;
    *pred = block[0] as i32;
    let (s, bits) = category(diff);
    if s > 11 {
        return Err(too_large(0, block[0] as i32));
    }
    dc.put(w, s as u8);
    w.put(bits, s);
    let mut run = 0;
    for (k, &coef) in block.iter().enumerate().skip(1) {
        if coef == 0 {
            run += 1;
            continue;
        }
        while run > 15 {
            ac.put(w, 0xf0);
            run -= 16;
        }
        let (s, bits) = category(coef as i32);
        if s > 10 {
            return Err(too_large(k, coef as i32));
        }
        ac.put(w, ((run << 4) | s) as u8);
        w.put(bits, s);
        run = 0;
    }
    if run > 0 {
        ac.put(w, 0x00);
    }
    Ok(())
}
