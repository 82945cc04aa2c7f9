//! The `.mjpeg` indexer on arbitrary files: frames it finds lie inside the file, in order.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = rtsp_proto::mjpeg::index(data, 1 << 20) {
        let mut end = 0;
        for r in idx.frames {
            assert!(r.start >= end && r.end <= data.len() && r.start < r.end);
            end = r.end;
        }
    }
});
