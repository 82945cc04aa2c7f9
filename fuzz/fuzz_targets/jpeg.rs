//! The JPEG marker walker, the RFC 2435 classification and the coefficient re-coder on
//! arbitrary files: errors, never panics; anything re-coded is a JPEG RFC 2435 carries.
//!
//! The re-coder runs on pictures of at most [`MAX_BLOCKS`] 8x8 blocks (a 64x64 picture's
//! three components, or 128x64 in 4:2:0). Its work grows with the declared size, not with
//! the file's (past the scan data it decodes zeros), so a few header bytes made every run
//! cost as much as a whole camera frame; every code path of the re-coder (several MCUs,
//! subsampling, restart intervals, progressive scans) shows in pictures that small.
#![no_main]
use jpeg_recode::FrameClass;
use libfuzzer_sys::fuzz_target;
use rtsp_proto::jpeg::JpegInfo;

/// The most 8x8 blocks, over all components, of a picture the fuzzer re-codes.
const MAX_BLOCKS: usize = 3 * 8 * 8;

/// The blocks the decoder allocates for `info`'s picture: whole MCUs of every component.
fn blocks(info: &JpegInfo) -> usize {
    let hmax = info
        .components
        .iter()
        .map(|c| c.h)
        .max()
        .unwrap_or(1)
        .max(1) as usize;
    let vmax = info
        .components
        .iter()
        .map(|c| c.v)
        .max()
        .unwrap_or(1)
        .max(1) as usize;
    let mcus = (info.width as usize).div_ceil(8 * hmax) * (info.height as usize).div_ceil(8 * vmax);
    let per_mcu: usize = info
        .components
        .iter()
        .map(|c| c.h as usize * c.v as usize)
        .sum();
    mcus * per_mcu
}

fuzz_target!(|data: &[u8]| {
    let Ok(info) = JpegInfo::parse(data) else {
        return;
    };
    assert!(info.len <= data.len() && info.scan_data.end <= data.len());
    let class = jpeg_recode::classify_info(&info);
    if matches!(class, FrameClass::Lossless(_))
        && data.len() < 1 << 16
        && blocks(&info) <= MAX_BLOCKS
    {
        if let Ok(out) = jpeg_recode::transcode(data) {
            let again = JpegInfo::parse(&out).expect("re-coded frames parse");
            again
                .rfc2435()
                .expect("re-coded frames are RFC 2435 streamable");
        }
    }
});
