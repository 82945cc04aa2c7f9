//! The client's SDP reader on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtsp_proto::sdp::parse_video(data);
});
