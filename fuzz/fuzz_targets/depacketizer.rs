//! The RFC 2435 depacketizer on arbitrary packet sequences (each: 1 length byte, 1 flag byte,
//! payload): it never panics, and every frame it hands out is a bounded SOI..EOI JPEG.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtp::RtpHeader;

fuzz_target!(|data: &[u8]| {
    let mut d = Depacketizer::new(1 << 16);
    if data.first().is_some_and(|b| b & 1 == 1) {
        d.set_dimensions(2560, 1440);
    }
    let mut rest = data;
    while rest.len() >= 2 {
        let (len, flags) = (rest[0] as usize * 8, rest[1]);
        let end = (2 + len).min(rest.len());
        let rtp = RtpHeader {
            marker: flags & 1 == 1,
            payload_type: 26,
            sequence_number: rest.len() as u16,
            timestamp: (flags >> 1) as u32 % 4,
            ssrc: 0,
        };
        let ev = d.push(&rtp, &rest[2..end]);
        if let Some(f) = ev.frame {
            assert!(f.starts_with(&[0xff, 0xd8]) && f.ends_with(&[0xff, 0xd9]));
            assert!(f.len() <= (1 << 16) + 2048);
        }
        rest = &rest[end..];
    }
});
