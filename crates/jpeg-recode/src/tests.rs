use super::*;
use crate::encode::category;
use crate::huffman::extend;
use rtsp_proto::jpeg::NotRfc2435;
use rtsp_proto::mjpeg;

fn sample_frames() -> Vec<Vec<u8>> {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../videos/video.mjpeg"
    ))
    .unwrap();
    let idx = mjpeg::index(&data, mjpeg::LAB_MAX_FRAME).unwrap();
    idx.frames
        .iter()
        .take(40)
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

/// A 72x40 picture with detail in every channel, encoded by jpeg-encoder as asked.
fn encoded(
    color: jpeg_encoder::ColorType,
    sampling: jpeg_encoder::SamplingFactor,
    optimized: bool,
    progressive: bool,
) -> Vec<u8> {
    let (w, h) = (72u16, 40u16);
    let channels = match color {
        jpeg_encoder::ColorType::Luma => 1,
        jpeg_encoder::ColorType::Cmyk => 4,
        _ => 3,
    };
    let pixels: Vec<u8> = (0..w as usize * h as usize * channels)
        .map(|i| ((i * 37) ^ (i / 7 * 13)) as u8)
        .collect();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 80);
    enc.set_sampling_factor(sampling);
    enc.set_optimized_huffman_tables(optimized);
    enc.set_progressive(progressive);
    enc.encode(&pixels, w, h, color).unwrap();
    out
}

fn rgb(jpeg: &[u8]) -> Vec<u8> {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8()
        .into_raw()
}

#[test]
fn each_kind_of_jpeg_is_classified_and_converted() {
    use jpeg_encoder::{ColorType as C, SamplingFactor as S};
    let cases = [
        (encoded(C::Rgb, S::R_4_2_0, false, false), "as-is", None),
        // jpeg-encoder writes optimized tables with one scan per component.
        (encoded(C::Rgb, S::R_4_2_0, true, false), "lossless", None),
        (
            encoded(C::Rgb, S::R_4_2_0, false, true),
            "lossless",
            Some(NotRfc2435::Progressive),
        ),
        (
            encoded(C::Luma, S::R_4_4_4, false, false),
            "lossless",
            Some(NotRfc2435::NotThreeComponents),
        ),
        (encoded(C::Rgb, S::R_4_4_4, false, false), "lossy", None),
        (encoded(C::Cmyk, S::R_4_4_4, false, false), "lossy", None),
    ];
    for (i, (jpeg, name, why)) in cases.iter().enumerate() {
        let class = classify(jpeg);
        assert_eq!(class.name(), *name, "case {i}: {class:?}");
        if let (FrameClass::Lossless(got), Some(want)) = (&class, why) {
            assert_eq!(got, want, "case {i}");
        }
        let Some(how) = class.conversion() else {
            continue;
        };
        let out = convert(jpeg, how).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert!(matches!(classify(&out.jpeg), FrameClass::AsIs { .. }));
        // (Case 1 is left out: the image crate's decoder and ours disagree on jpeg-encoder's
        // non-interleaved sequential scans; ffmpeg's optimized tables are checked pixel for
        // pixel by tests/any_jpeg.rs.)
        if how == Conversion::Lossless && i != 1 {
            assert!(rgb(&out.jpeg) == rgb(jpeg), "case {i}: pixels changed");
        }
    }
    let rgb444 = classify(&cases[4].0);
    assert_eq!(rgb444, FrameClass::Lossy(Unrecodable::Yuv444));
    assert_eq!(rgb444.to_string(), "lossy: 4:4:4");
    assert_eq!(classify(&cases[5].0), FrameClass::Lossy(Unrecodable::Cmyk));
}

#[test]
fn corrupt_and_undecodable_frames_are_skipped_with_a_reason() {
    let class = classify(b"GIF89a");
    assert!(matches!(class, FrameClass::Skipped(SkipReason::Corrupt(_))));
    assert!(class.to_string().starts_with("skipped: corrupt: "));
    // The same frame marked 12-bit: nothing here decodes that.
    let mut f = sample_frames()[0].clone();
    let info = JpegInfo::parse(&f).unwrap();
    f[info.offsets.sof + 4] = 12;
    let class = classify(&f);
    assert_eq!(
        class,
        FrameClass::Skipped(SkipReason::Undecodable(Unrecodable::Precision))
    );
    assert_eq!(
        class.to_string(),
        "skipped: sample precision is not 8 bits: cannot be decoded here"
    );
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
        let class = classify(&f);
        if let Some(how) = class.conversion() {
            if let Ok(out) = convert(&f, how) {
                proptest::prop_assert!(JpegInfo::parse(&out.jpeg).unwrap().rfc2435().is_ok());
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
    assert!(transcode(&bad).is_err());
    assert!(decode(b"\xff\xd8\xff\xd9").is_err());
}

/// A JPEG whose components are R, G and B, as `cjpeg -rgb` writes it: no JFIF, an Adobe
/// segment with transform 0, component ids 'R', 'G', 'B' (here sampled 4:2:0, so only the
/// colour transform tells it from a frame RFC 2435 carries as it is). Also the pixels.
fn rgb_jpeg() -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (64u16, 48u16);
    let pixels: Vec<u8> = (0..w as usize * h as usize)
        .flat_map(|i| {
            let (x, y) = (i % w as usize, i / w as usize);
            [(x * 4) as u8, (y * 5) as u8, 200 - (x + y) as u8]
        })
        .collect();
    let mut plain = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut plain, 95);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    // Taken as they are, not converted: the components hold R, G and B.
    enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Ycbcr)
        .unwrap();
    // Drop the JFIF APP0 jpeg-encoder writes, put Adobe's APP14 in its place.
    let mut pos = 2;
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00");
    while plain[pos + 1] == 0xe0 {
        pos += 2 + u16::from_be_bytes([plain[pos + 2], plain[pos + 3]]) as usize;
    }
    out.extend_from_slice(&plain[pos..]);
    (out, pixels)
}

#[test]
fn an_rgb_jpeg_is_converted_to_ycbcr_with_its_colours() {
    let (jpeg, pixels) = rgb_jpeg();
    let info = rtsp_proto::jpeg::JpegInfo::parse(&jpeg).unwrap();
    assert!(info.is_rgb() && !info.jfif, "{info:?}");
    assert_eq!(classify(&jpeg), FrameClass::Lossy(Unrecodable::Rgb));
    let out = convert(&jpeg, Conversion::Lossy).unwrap();
    assert!(matches!(classify(&out.jpeg), FrameClass::AsIs { .. }));
    let decoded = rgb(&out.jpeg);
    let mse = decoded
        .iter()
        .zip(&pixels)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>()
        / pixels.len() as f64;
    let psnr = 10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10();
    assert!(psnr > 30.0, "colours lost: {psnr:.1} dB");
}

/// A 96x64 frame from cjpeg with 16-bit tables whose 32 lowest frequencies are primes from
/// 1031 up (`-quality 50 -qtables`, as tests/peers/make_variants.sh makes small_16bit_prime):
/// no 8-bit divisor but 1 fits, so no exact re-coding exists.
const PRIME_TABLES: &[u8] = include_bytes!("../tests/data/prime16_96x64.jpg");

fn squared_error_to(source: &[u8], jpeg: &[u8]) -> u64 {
    squared_error(&rgb(source), &rgb(jpeg))
}

#[test]
fn tables_with_no_exact_8_bit_form_move_each_coefficient_by_at_most_half_a_quantizer() {
    assert!(matches!(
        transcode(PRIME_TABLES),
        Err(RecodeError::TooLargeForBaseline { .. })
    ));
    let source = decode(PRIME_TABLES).unwrap();
    let mut c = source.clone();
    requant::requantize_nearest(&mut c);
    for (k, s) in c.components.iter().zip(&source.components) {
        assert!(k.quant.iter().all(|&t| (1..=255).contains(&t)));
        for (b, sb) in k.blocks.iter().zip(&s.blocks) {
            for j in 0..64 {
                let (now, was) = (
                    i32::from(b[j]) * i32::from(k.quant[j]),
                    i32::from(sb[j]) * i32::from(s.quant[j]),
                );
                assert!(b[j].abs() <= 1023, "coefficient {j}: {}", b[j]);
                assert!(
                    (now - was).abs() <= i32::from(k.quant[j]) / 2,
                    "coefficient {j}: {was} became {now} with quantizer {}",
                    k.quant[j]
                );
            }
        }
    }
}

#[test]
fn the_closer_of_the_inexact_conversions_is_kept() {
    let out = convert(PRIME_TABLES, Conversion::Lossless).unwrap();
    let ours = squared_error_to(PRIME_TABLES, &out.jpeg);
    let mut c = decode(PRIME_TABLES).unwrap();
    requant::requantize_nearest(&mut c);
    let nearest = squared_error_to(PRIME_TABLES, &encode_baseline(&c).unwrap());
    let again = squared_error_to(PRIME_TABLES, &reencode(PRIME_TABLES).unwrap());
    assert_eq!(
        ours,
        nearest.min(again),
        "nearest {nearest}, re-encoded {again}"
    );
    // Re-quantizing only where it must loses far less than re-quantizing every coefficient.
    assert!(
        nearest * 10 < again,
        "nearest {nearest}, re-encoded {again}"
    );
}

/// A progressive frame whose AC refinement pushes a coefficient past i16 (the fuzz target
/// `jpeg` found it): an error or a picture, never a panic.
#[test]
fn a_refinement_past_i16_is_no_panic() {
    let data = include_bytes!("../tests/data/fuzz_ac_refine_overflow.jpg");
    let _ = transcode(data);
}
