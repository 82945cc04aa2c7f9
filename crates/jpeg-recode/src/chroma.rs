//! The lossy conversion that keeps what it can. A YCbCr frame whose chroma RFC 2435 cannot
//! carry as sampled (4:4:4, 4:4:0, 4:1:1 and the like) loses only in chroma: luma's
//! coefficients are kept as they are, and chroma alone goes through pixels: decoded as any
//! decoder shows it, resampled to 4:2:0's half size in both directions, then transformed and
//! quantized again with the source's chroma table. Decoding the whole frame and encoding it
//! again ([`crate::reencode`]) would lose in luma too, where the eye sees most.

use rtsp_proto::jpeg::tables::ZIGZAG;
use rtsp_proto::jpeg::JpegInfo;

use crate::classify::Unrecodable;
use crate::decode::{decode, Coefficients, ComponentCoefficients};
use crate::error::RecodeError;
use crate::requant::requantize_exactly;

/// `COS[x][u]`: cos((2x + 1) u pi / 16), with the DC term's 1/sqrt(2) folded in.
fn cos_table() -> [[f32; 8]; 8] {
    let mut t = [[0f32; 8]; 8];
    for (x, row) in t.iter_mut().enumerate() {
        for (u, v) in row.iter_mut().enumerate() {
            let c = if u == 0 {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            *v = c * (((2 * x + 1) * u) as f32 * std::f32::consts::PI / 16.0).cos();
        }
    }
    t
}

/// One block of samples transformed and quantized by `quant` (zig-zag order, as stored).
fn fdct(samples: &[f32; 64], quant: &[u16; 64], cos: &[[f32; 8]; 8]) -> [i16; 64] {
    // tmp[y][u]: each row of samples turned into frequencies along x.
    let mut tmp = [0f32; 64];
    for y in 0..8 {
        for u in 0..8 {
            tmp[y * 8 + u] = (0..8)
                .map(|x| cos[x][u] * (samples[y * 8 + x] - 128.0))
                .sum();
        }
    }
    let mut f = [0f32; 64];
    for v in 0..8 {
        for u in 0..8 {
            let s: f32 = (0..8).map(|y| cos[y][v] * tmp[y * 8 + u]).sum();
            f[v * 8 + u] = s / 4.0;
        }
    }
    let mut out = [0i16; 64];
    for k in 0..64 {
        out[k] = (f[ZIGZAG[k]] / f32::from(quant[k])).round() as i16;
    }
    out
}

/// A plane of samples.
struct Plane {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

impl Plane {
    /// The plane resampled so that `len` of its samples (the part the picture covers) become
    /// `out` samples, in both directions: area averages going down, linear between
    /// neighbours going up.
    fn resampled(&self, len: (f32, f32), out: (usize, usize)) -> Plane {
        let rows: Vec<Vec<f32>> = (0..self.h)
            .map(|y| resample(&self.px[y * self.w..(y + 1) * self.w], len.0, out.0))
            .collect();
        let mut px = vec![0f32; out.0 * out.1];
        for x in 0..out.0 {
            let column: Vec<f32> = rows.iter().map(|r| r[x]).collect();
            for (y, v) in resample(&column, len.1, out.1).into_iter().enumerate() {
                px[y * out.0 + x] = v;
            }
        }
        Plane {
            w: out.0,
            h: out.1,
            px,
        }
    }

    /// Sample (x, y), the edge repeated beyond the plane.
    fn at(&self, x: usize, y: usize) -> f32 {
        self.px[y.min(self.h - 1) * self.w + x.min(self.w - 1)]
    }
}

/// `src`'s first `len` samples (fractional at a picture's edge) as `out` samples.
fn resample(src: &[f32], len: f32, out: usize) -> Vec<f32> {
    let ratio = len / out as f32;
    let last = src.len() - 1;
    (0..out)
        .map(|i| {
            if ratio >= 1.0 {
                // The source interval [i, i + 1) * ratio, each sample weighted by its overlap.
                let (a, b) = (i as f32 * ratio, (i + 1) as f32 * ratio);
                let (mut sum, mut weight) = (0.0, 0.0);
                let mut j = a.floor() as usize;
                while (j as f32) < b && j <= last {
                    let w = (b.min(j as f32 + 1.0) - a.max(j as f32)).max(0.0);
                    sum += src[j] * w;
                    weight += w;
                    j += 1;
                }
                if weight > 0.0 {
                    sum / weight
                } else {
                    src[last]
                }
            } else {
                let pos = ((i as f32 + 0.5) * ratio - 0.5).max(0.0);
                let j = (pos.floor() as usize).min(last);
                let t = pos - j as f32;
                src[j] * (1.0 - t) + src[(j + 1).min(last)] * t
            }
        })
        .collect()
}

/// The decoded Cb and Cr planes of a YCbCr frame, at the picture's size.
fn decoded_chroma(jpeg: &[u8]) -> Result<(Vec<f32>, Vec<f32>), RecodeError> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), options);
    let pixels = d
        .decode()
        .map_err(|_| RecodeError::from(Unrecodable::NotDctHuffman))?;
    let plane = |i: usize| {
        pixels
            .iter()
            .skip(i)
            .step_by(3)
            .map(|&v| f32::from(v))
            .collect()
    };
    Ok((plane(1), plane(2)))
}

/// Converts a YCbCr frame to 4:2:0 keeping luma's coefficients (see the module doc). Fails
/// for frames this does not fit: other than three components, or luma not at full
/// resolution; the caller then decodes the whole frame instead.
pub fn reencode_chroma(jpeg: &[u8]) -> Result<Vec<u8>, RecodeError> {
    if JpegInfo::parse(jpeg)?.is_rgb() {
        return Err(Unrecodable::Rgb.into());
    }
    let mut c = decode(jpeg)?;
    let [y, cb, cr] = &c.components[..] else {
        return Err(Unrecodable::ComponentCount.into());
    };
    let hmax = y.h.max(cb.h).max(cr.h);
    let vmax = y.v.max(cb.v).max(cr.v);
    if (y.h, y.v) != (hmax, vmax) {
        return Err(Unrecodable::ChromaFinerThanLuma.into());
    }
    let (w, h) = (c.width as f32, c.height as f32);
    let (tw, th) = (
        (c.width as usize).div_ceil(16),
        (c.height as usize).div_ceil(16),
    );
    // RFC 2435 has one chroma table: Cb's, or the finer of the two at each position.
    let mut table = [0u16; 64];
    for (k, t) in table.iter_mut().enumerate() {
        *t = cb.quant[k].min(cr.quant[k]).clamp(1, 255);
    }
    let cos = cos_table();
    // Chroma as a decoder shows it, at full resolution (zune-jpeg upsamples whatever the
    // sampling was), then halved both ways.
    let (cb_plane, cr_plane) = decoded_chroma(jpeg)?;
    let (pw, ph) = (c.width as usize, c.height as usize);
    let target = (pw.div_ceil(2), ph.div_ceil(2));
    let mut chroma = Vec::with_capacity(2);
    for (k, px) in [(cb, cb_plane), (cr, cr_plane)] {
        let plane = Plane { w: pw, h: ph, px }.resampled((w, h), target);
        let mut blocks = Vec::with_capacity(tw * th);
        for by in 0..th {
            for bx in 0..tw {
                let mut s = [0f32; 64];
                for yy in 0..8 {
                    for xx in 0..8 {
                        s[yy * 8 + xx] = plane.at(bx * 8 + xx, by * 8 + yy);
                    }
                }
                blocks.push(fdct(&s, &table, &cos));
            }
        }
        chroma.push(ComponentCoefficients {
            id: k.id,
            h: 1,
            v: 1,
            quant: table,
            blocks_w: tw,
            blocks_h: th,
            blocks,
        });
    }
    let mut luma = c.components.swap_remove(0);
    (luma.h, luma.v) = (2, 2);
    let mut out = Coefficients {
        width: c.width,
        height: c.height,
        components: [vec![luma], chroma].concat(),
        restart_interval: c.restart_interval,
    };
    requantize_exactly(&mut out)?;
    crate::encode_baseline(&out)
}
