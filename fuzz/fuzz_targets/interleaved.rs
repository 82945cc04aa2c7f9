//! `$`-framing on arbitrary streams: frames found must lie inside the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Some(Some(f)) = rtsp_proto::interleaved::parse(rest) {
        assert!(f.payload.end <= rest.len() && f.len <= rest.len());
        rest = &rest[f.len..];
    }
});
