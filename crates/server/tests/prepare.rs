//! `server --prepare` on the test variants reports each file's classes, and encodes every
//! file's HLS/DASH renditions (RGB, CMYK, grayscale, progressive, tiny, odd and mixed sizes
//! included), each decoded back and measured against its source.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::process::Command;

use support::*;

#[test]
fn prepare_reports_each_files_classes() {
    if !have_ffmpeg()
        || !peer_available(
            "libjpeg-turbo-progs",
            &["sh", "-c", "command -v cjpeg && command -v jpegtran"],
        )
    {
        return;
    }
    let dir = make_variants().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--prepare")
        .arg("--no-cache-dir")
        .arg("--videos")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    let report = String::from_utf8(o.stdout).unwrap();
    let expect = [
        ("small_420", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("hd_422_ffmpeg", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: chroma sampling is not 1x1)"),
        ("hd_444", "0 as-is, 0 lossless, 20 lossy, 0 skipped (lossy: 4:4:4)"),
        ("small_444", "0 as-is, 0 lossless, 20 lossy, 0 skipped (lossy: 4:4:4)"),
        ("small_gray", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: not 3 components (grayscale or CMYK))"),
        ("hd_opthuff", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: optimized (non-standard) Huffman tables)"),
        ("small_progressive", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: progressive JPEG)"),
        ("qhd_420", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("hd_dri", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("fhd_huge", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_rgb", "0 as-is, 0 lossless, 20 lossy, 0 skipped (lossy: RGB, not YCbCr)"),
        ("small_3tables", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: Cb and Cr use different quantization tables)"),
        ("small_16bit", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: 16-bit quantization table)"),
        ("small_422_dri", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_cmyk", "0 as-is, 0 lossless, 20 lossy, 0 skipped (lossy: 4 components (CMYK))"),
        ("tiny_8x8", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_sizes", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_segments", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_trailing", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("uhd_420", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("odd_641x479", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("odd_17x9", "20 as-is, 0 lossless, 0 lossy, 0 skipped"),
        ("small_arith_mixed", "15 as-is, 0 lossless, 0 lossy, 5 skipped (skipped: arithmetic coding: cannot be decoded here)"),
        ("small_16bit_prime", "0 as-is, 20 lossless, 0 lossy, 0 skipped (lossless: 16-bit quantization table)"),
    ];
    for (name, classes) in expect {
        let line = format!("{name}.mjpeg: 20 frames at 20 fps (the --fps default): {classes}");
        assert!(
            report.lines().any(|l| l == line),
            "missing {line:?} in\n{report}"
        );
    }
    let files: Vec<&str> = report.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(files.len(), 28, "{report}");
    assert!(!report.contains("failed"), "{report}");
    // Every file has its renditions, each near its source (the worst of the set, the
    // arithmetic-coded frames shown as the frame before them, measures above 40 dB).
    let mut lines = report.lines().peekable();
    while let Some(file) = lines.next() {
        let mut renditions = 0;
        while let Some(r) = lines.next_if(|l| l.starts_with("  HLS/DASH ")) {
            let lowest = r
                .split(", ")
                .last()
                .and_then(|p| p.strip_suffix(" dB lowest"));
            let lowest: f64 = lowest
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{r}"));
            assert!(lowest >= 35.0, "{file}\n{r}");
            renditions += 1;
        }
        assert!(
            renditions >= 1,
            "no HLS/DASH rendition for {file}:\n{report}"
        );
    }
}
