//! Tables RFC 2435 can carry, for frames whose own it cannot: Cb and Cr with different tables
//! (three tables), or quantizers above 255 (16-bit tables). RFC 2435 sends two 8-bit tables,
//! luma and chroma. Any table whose every entry divides the source's entry at the same
//! position says the same picture: a coefficient `c` quantized by `q` is `c * q / t` quantized
//! by `t`, exactly, when `t` divides `q`. So each target entry is the largest divisor of the
//! source's (of the greatest common divisor of Cb's and Cr's, for chroma) that fits in 8 bits,
//! and the decoder's dequantized coefficients, hence the pixels, are the source's.
//!
//! Luma with an 8-bit table is left as it is. The only cost is size: a smaller quantizer
//! gives larger coefficients, which take more bits.
//!
//! When no divisor keeps the coefficients within baseline's range (a 16-bit quantizer with no
//! 8-bit divisor but 1, say 1031), [`requantize_nearest`] gives up exactness per coefficient
//! position only: there it takes the smallest quantizer that keeps every block's value in
//! range and rounds to it, so each dequantized coefficient moves by at most half of that
//! quantizer, where decoding to pixels and encoding again would re-quantize everything.

use crate::decode::Coefficients;
use crate::error::RecodeError;

/// What baseline Huffman coding takes for 8-bit samples (T.81 F.1.2.1): AC values of
/// category 10 at most. (DC differences, category 11 at most, are the encoder's to check: a
/// DC value just past -1024, which rounding in the source's quantization gives, is fine as long
/// as its neighbours are near it.)
const MAX_AC: i32 = 1023;

/// The largest divisor of `q` no larger than 255 (1 divides everything).
fn largest_8bit_divisor(q: u16) -> u16 {
    if q <= 255 {
        return q.max(1);
    }
    (1..=255u16)
        .rev()
        .find(|d| q.is_multiple_of(*d))
        .unwrap_or(1)
}

fn gcd(a: u16, b: u16) -> u16 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Whether RFC 2435's two 8-bit tables can say `c`'s tables as they are.
pub(crate) fn carried_as_is(c: &Coefficients) -> bool {
    let fits = |q: &[u16; 64]| q.iter().all(|&v| (1..=255).contains(&v));
    let chroma_shared = c.components.len() != 3 || c.components[1].quant == c.components[2].quant;
    chroma_shared && c.components.iter().all(|k| fits(&k.quant))
}

/// Rewrites `c` with tables RFC 2435 carries and the same dequantized coefficients (see the
/// module doc). Fails when a scaled coefficient would be too large for baseline coding:
/// the caller then decodes to pixels instead.
pub(crate) fn requantize_exactly(c: &mut Coefficients) -> Result<(), RecodeError> {
    if carried_as_is(c) {
        return Ok(());
    }
    let mut targets: Vec<[u16; 64]> = Vec::with_capacity(c.components.len());
    for (i, k) in c.components.iter().enumerate() {
        let mut t = [0u16; 64];
        for (j, e) in t.iter_mut().enumerate() {
            let q = match (i, c.components.len()) {
                (1 | 2, 3) => gcd(c.components[1].quant[j], c.components[2].quant[j]),
                _ => k.quant[j],
            };
            *e = largest_8bit_divisor(q.max(1));
        }
        targets.push(t);
    }
    for (k, t) in c.components.iter_mut().zip(&targets) {
        if k.quant == *t {
            continue;
        }
        let factor: Vec<i32> = (0..64)
            .map(|j| i32::from(k.quant[j].max(1) / t[j]))
            .collect();
        for block in &mut k.blocks {
            for (j, v) in block.iter_mut().enumerate() {
                let scaled = i32::from(*v) * factor[j];
                let fits = match j {
                    0 => i16::try_from(scaled).is_ok(),
                    _ => scaled.abs() <= MAX_AC,
                };
                if !fits {
                    return Err(RecodeError::TooLargeForBaseline {
                        coefficient: j,
                        value: scaled,
                    });
                }
                *v = scaled as i16;
            }
        }
        k.quant = *t;
    }
    Ok(())
}

/// The target quantizer at one coefficient position of a table shared by `group`'s
/// components (luma alone, or Cb and Cr): the largest 8-bit divisor of every source quantizer
/// there that keeps every scaled value within `MAX_AC` (exact), or else the smallest
/// quantizer that does (nearest).
fn nearest_target(group: &[&crate::decode::ComponentCoefficients], j: usize) -> u16 {
    let largest = group
        .iter()
        .flat_map(|k| {
            let q = i64::from(k.quant[j].max(1));
            k.blocks.iter().map(move |b| (i64::from(b[j]) * q).abs())
        })
        .max()
        .unwrap_or(0);
    let fits = |t: u16| largest <= i64::from(MAX_AC) * i64::from(t);
    let common = group
        .iter()
        .map(|k| k.quant[j].max(1))
        .reduce(gcd)
        .unwrap_or(1);
    if let Some(d) = (1..=255u16)
        .rev()
        .find(|&d| common.is_multiple_of(d) && fits(d))
    {
        return d;
    }
    let smallest = (largest + i64::from(MAX_AC) - 1) / i64::from(MAX_AC);
    smallest.clamp(1, 255) as u16
}

/// Rewrites `c` with tables RFC 2435 carries, exactly where some 8-bit divisor keeps the
/// coefficients within baseline's range and to the nearest value elsewhere (see the module
/// doc). Never fails: a value beyond even a quantizer of 255 (which no 8-bit picture has) is
/// clamped to baseline's range.
pub(crate) fn requantize_nearest(c: &mut Coefficients) {
    let groups: Vec<Vec<usize>> = match c.components.len() {
        3 => vec![vec![0], vec![1, 2]],
        n => (0..n).map(|i| vec![i]).collect(),
    };
    for group in groups {
        let members: Vec<_> = group.iter().map(|&i| &c.components[i]).collect();
        let targets: Vec<u16> = (0..64).map(|j| nearest_target(&members, j)).collect();
        for &i in &group {
            let k = &mut c.components[i];
            for block in &mut k.blocks {
                for (j, v) in block.iter_mut().enumerate() {
                    let dequantized = i64::from(*v) * i64::from(k.quant[j].max(1));
                    let t = i64::from(targets[j]);
                    // Rounded half away from zero, as an encoder quantizes.
                    let q = (dequantized.abs() + t / 2) / t * dequantized.signum();
                    *v = q.clamp(-i64::from(MAX_AC), i64::from(MAX_AC)) as i16;
                }
            }
            k.quant.copy_from_slice(&targets);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_are_the_largest_that_fit() {
        assert_eq!(largest_8bit_divisor(6050), 242);
        assert_eq!(largest_8bit_divisor(255), 255);
        assert_eq!(largest_8bit_divisor(257), 1); // a prime
        assert_eq!(largest_8bit_divisor(512), 128);
        assert_eq!(gcd(12, 18), 6);
    }

    /// The dequantized coefficients of every block of every component.
    fn dequantized(c: &Coefficients) -> Vec<Vec<i32>> {
        c.components
            .iter()
            .map(|k| {
                k.blocks
                    .iter()
                    .flat_map(|b| (0..64).map(move |j| i32::from(b[j]) * i32::from(k.quant[j])))
                    .collect()
            })
            .collect()
    }

    /// A frame with three tables, one of them 16-bit: the sample video's first frame with
    /// Cr's table made three times Cb's and luma's high frequencies at 16 bits, the
    /// coefficients divided to match (a picture of its own, as a cjpeg -qtables file is).
    fn three_tables_one_16bit() -> Coefficients {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../videos/video.mjpeg"
        ))
        .unwrap();
        let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
        let mut c = crate::decode(&data[idx.frames[0].clone()]).unwrap();
        let scale = |k: &mut crate::ComponentCoefficients, j: usize, by: u16| {
            k.quant[j] *= by;
            for b in &mut k.blocks {
                b[j] = (f64::from(b[j]) / f64::from(by)).round() as i16;
            }
        };
        for j in 0..64 {
            scale(&mut c.components[2], j, 3);
            if j >= 32 {
                scale(&mut c.components[0], j, 40);
            }
        }
        assert!(c.components[0].quant.iter().any(|&q| q > 255));
        c
    }

    #[test]
    fn three_tables_and_16_bit_tables_become_two_8_bit_tables_with_the_same_coefficients() {
        let source = three_tables_one_16bit();
        assert!(!carried_as_is(&source));
        let mut c = source.clone();
        requantize_exactly(&mut c).unwrap();
        assert!(carried_as_is(&c));
        assert_eq!(c.components[1].quant, c.components[2].quant);
        assert_eq!(
            dequantized(&c),
            dequantized(&source),
            "not the same picture"
        );
        // Cb's table divided Cr's: Cb's coefficients are untouched, and so is luma's
        // 8-bit half.
        assert_eq!(c.components[1].blocks, source.components[1].blocks);
        // Written as RFC 2435 baseline and read back: still the same coefficients.
        let jpeg = crate::encode_baseline(&c).unwrap();
        assert!(rtsp_proto::jpeg::JpegInfo::parse(&jpeg)
            .unwrap()
            .rfc2435()
            .is_ok());
        assert_eq!(
            dequantized(&crate::decode(&jpeg).unwrap()),
            dequantized(&source)
        );
    }
}
