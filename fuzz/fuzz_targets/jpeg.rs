//! The JPEG marker walker, the RFC 2435 classification and the coefficient re-coder on
//! arbitrary files: errors, never panics; anything re-coded is a JPEG RFC 2435 carries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use jpeg_recode::FrameClass;
use rtsp_proto::jpeg::JpegInfo;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = JpegInfo::parse(data) else { return };
    assert!(info.len <= data.len() && info.scan_data.end <= data.len());
    let class = jpeg_recode::classify_info(&info);
    if matches!(class, FrameClass::Lossless(_)) && data.len() < 1 << 16 {
        if let Ok(out) = jpeg_recode::transcode(data) {
            let again = JpegInfo::parse(&out).expect("re-coded frames parse");
            again.rfc2435().expect("re-coded frames are RFC 2435 streamable");
        }
    }
});
