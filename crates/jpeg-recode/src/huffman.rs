//! Reading entropy-coded data: Huffman tables ready to decode and the bit reader that
//! unstuffs FF 00 and stops at markers (T.81 F.2.2).

use rtsp_proto::jpeg::marker;

use crate::error::{EntropyFault, RecodeError};

/// A Huffman table ready to decode (T.81 F.2.2.3's MAXCODE/VALPTR/MINCODE).
#[derive(Clone)]
pub(crate) struct HuffmanDecoder {
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl HuffmanDecoder {
    pub(crate) fn new(bits: &[u8; 16], values: &[u8]) -> HuffmanDecoder {
        let mut d = HuffmanDecoder {
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
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Offset of `data` in the frame, for error messages.
    base: usize,
    pos: usize,
    acc: u32,
    bits: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        BitReader {
            data,
            base,
            pos: 0,
            acc: 0,
            bits: 0,
        }
    }

    /// A corruption found at the current position.
    pub(crate) fn corrupt(&self, fault: EntropyFault) -> RecodeError {
        RecodeError::Corrupt {
            at: self.base + self.pos,
            fault,
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

    pub(crate) fn bit(&mut self) -> u32 {
        if self.bits == 0 {
            self.acc = self.byte();
            self.bits = 8;
        }
        self.bits -= 1;
        (self.acc >> self.bits) & 1
    }

    pub(crate) fn bits(&mut self, n: u32) -> u32 {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit();
        }
        v
    }

    pub(crate) fn decode(&mut self, d: &HuffmanDecoder) -> Result<u8, RecodeError> {
        let mut code = self.bit() as i32;
        let mut l = 1;
        while code > d.maxcode[l] {
            code = (code << 1) | self.bit() as i32;
            l += 1;
            if l > 16 {
                return Err(self.corrupt(EntropyFault::NoHuffmanCode));
            }
        }
        let i = d.valptr[l] + code - d.mincode[l];
        d.values
            .get(i as usize)
            .copied()
            .ok_or(self.corrupt(EntropyFault::HuffmanValueOutOfRange))
    }

    /// At a restart interval boundary: drop the partial byte and expect an RSTn marker.
    pub(crate) fn restart(&mut self) -> Result<(), RecodeError> {
        self.bits = 0;
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xff), Some(&m)) if marker::is_rst(m) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(self.corrupt(EntropyFault::RestartMissing)),
        }
    }
}

/// T.81 F.2.2.1 EXTEND: the signed value of `s` magnitude bits.
pub(crate) fn extend(v: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v as i32 - (1 << s) + 1
    } else {
        v as i32
    }
}
