//! The RFC 2435 depacketizer on arbitrary packet sequences (each: 1 length byte, 1 flag byte,
//! payload): it never panics, and every frame it hands out is a bounded SOI..EOI JPEG.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::jpeg::Depacketizer;

fuzz_target!(|data: &[u8]| {
    let mut d = Depacketizer::new(1 << 16);
    if data.first().is_some_and(|b| b & 1 == 1) {
        d.set_dimensions(2560, 1440);
    }
    let mut rest = data;
    while rest.len() >= 2 {
        let (len, flags) = (rest[0] as usize * 8, rest[1]);
        let end = (2 + len).min(rest.len());
        let ev = d.push((flags >> 1) as u32 % 4, flags & 1 == 1, &rest[2..end]);
        if let Some(f) = ev.frame {
            assert!(f.starts_with(&[0xff, 0xd8]) && f.ends_with(&[0xff, 0xd9]));
            assert!(f.len() <= (1 << 16) + 2048);
        }
        rest = &rest[end..];
    }
});
