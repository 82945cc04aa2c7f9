//! The tables of JPEG Annex K that RFC 2435 receivers rebuild, and RFC 2435 Appendix A's
//! scaling of the example quantization tables by a Q factor.
//!
//! DQT segments and RFC 2435 both carry quantization tables in zig-zag order, while Annex K
//! prints them in natural (row-major) order: [`ZIGZAG`] maps between the two, and getting that
//! wrong produces pictures that decode without error but look smeared.

/// `ZIGZAG[k]` is the natural-order index of the k-th coefficient in zig-zag order.
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Annex K table K.1, luminance quantization, natural order.
const LUMA_QUANT_NATURAL: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// Annex K table K.2, chrominance quantization, natural order.
const CHROMA_QUANT_NATURAL: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// The luma and chroma tables for `q` in 1..=99 (RFC 2435 Appendix A `MakeTables`), in
/// zig-zag order, as a DQT segment would carry them.
pub fn q_tables(q: u8) -> ([u8; 64], [u8; 64]) {
    let factor = q.clamp(1, 99) as u32;
    let scale = if factor < 50 {
        5000 / factor
    } else {
        200 - factor * 2
    };
    let mut luma = [0u8; 64];
    let mut chroma = [0u8; 64];
    for k in 0..64 {
        let scaled = |v: u8| ((v as u32 * scale + 50) / 100).clamp(1, 255) as u8;
        luma[k] = scaled(LUMA_QUANT_NATURAL[ZIGZAG[k]]);
        chroma[k] = scaled(CHROMA_QUANT_NATURAL[ZIGZAG[k]]);
    }
    (luma, chroma)
}

/// A Huffman table as a DHT segment carries it: code counts per length, then symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HuffmanSpec {
    /// 0 = DC, 1 = AC.
    pub class: u8,
    /// Destination id: 0 for luma, 1 for chroma in the RFC 2435 reconstruction.
    pub id: u8,
    pub bits: [u8; 16],
    pub values: &'static [u8],
}

const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// The four Annex K.3 tables, in the order RFC 2435 Appendix B writes them.
pub const STANDARD_HUFFMAN: [HuffmanSpec; 4] = [
    HuffmanSpec {
        class: 0,
        id: 0,
        bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        values: &DC_VALUES,
    },
    HuffmanSpec {
        class: 1,
        id: 0,
        bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        values: &AC_LUMA_VALUES,
    },
    HuffmanSpec {
        class: 0,
        id: 1,
        bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        values: &DC_VALUES,
    },
    HuffmanSpec {
        class: 1,
        id: 1,
        bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        values: &AC_CHROMA_VALUES,
    },
];

/// The standard table a DHT entry of `class`/`id` should equal in an RFC 2435-streamable JPEG.
pub fn standard_huffman(class: u8, id: u8) -> Option<&'static HuffmanSpec> {
    STANDARD_HUFFMAN
        .iter()
        .find(|t| t.class == class && t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_is_a_permutation() {
        let mut seen = [false; 64];
        for &i in &ZIGZAG {
            assert!(!seen[i]);
            seen[i] = true;
        }
    }

    #[test]
    fn q50_gives_annex_k_in_zigzag_order() {
        let (luma, chroma) = q_tables(50);
        // The RFC's own zig-zag listing of the luma table starts 16, 11, 12, 14, 12, 10.
        assert_eq!(&luma[..6], &[16, 11, 12, 14, 12, 10]);
        assert_eq!(&chroma[..6], &[17, 18, 18, 24, 21, 24]);
        assert_eq!(luma[63], 99);
    }

    #[test]
    fn q_scaling_follows_appendix_a() {
        let (luma, _) = q_tables(100); // clamped to 99: scale 2
        assert_eq!(luma[0], 1); // (16 * 2 + 50) / 100 = 0 -> clamped to 1
        let (luma, chroma) = q_tables(1); // scale 5000
        assert!(luma.iter().chain(chroma.iter()).all(|&v| v == 255));
        let (luma, _) = q_tables(75); // scale 50
        assert_eq!(luma[0], 8);
    }

    #[test]
    fn huffman_tables_have_as_many_values_as_codes() {
        for t in STANDARD_HUFFMAN {
            let codes: usize = t.bits.iter().map(|&b| b as usize).sum();
            assert_eq!(codes, t.values.len());
        }
    }
}
