//! How close a conversion is to its source: mean PSNR (RGB, as the `image` crate decodes) and
//! bytes per frame, for BENCHMARKS.md's conversion table.
//!
//! `cargo run --release -p jpeg-recode --example psnr -- SOURCE.mjpeg [CONVERTED.mjpeg]`
//! compares SOURCE with CONVERTED (say ffmpeg's conversion of it), or, without CONVERTED,
//! with our conversion of each frame (`PIXELS=1`: every converted frame decoded and encoded
//! again whole, even those re-coded exactly otherwise).

fn frames(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let idx = rtsp_proto::mjpeg::index(&data, 16 << 20).unwrap();
    idx.frames
        .iter()
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

fn rgb(jpeg: &[u8]) -> Vec<u8> {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8()
        .into_raw()
}

/// 99 dB stands for identical.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64.powi(2) / mse).log10()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let source = frames(&args[1]);
    let whole_frame = std::env::var("PIXELS").is_ok();
    let started = std::time::Instant::now();
    let converted: Vec<Vec<u8>> = match args.get(2) {
        Some(p) => frames(p),
        None => source
            .iter()
            .map(|f| match jpeg_recode::classify(f).conversion() {
                None => f.clone(),
                Some(_) if whole_frame => jpeg_recode::reencode(f).unwrap(),
                Some(how) => jpeg_recode::convert(f, how).unwrap().jpeg,
            })
            .collect(),
    };
    let per_frame = started.elapsed() / source.len() as u32;
    let mut total = 0.0;
    for (s, c) in source.iter().zip(&converted) {
        total += psnr(&rgb(s), &rgb(c));
    }
    let bytes: usize = converted.iter().map(Vec::len).sum();
    println!(
        "{}: mean PSNR {:.2} dB over {} frames, {} bytes a frame, {per_frame:?} a frame to convert",
        args.get(2).map_or("ours", |s| s.as_str()),
        total / converted.len() as f64,
        converted.len(),
        bytes / converted.len()
    );
}
