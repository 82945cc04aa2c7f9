//! The RTSP parser on arbitrary bytes, and on every prefix (a message arriving in pieces): it
//! must never panic, and a complete message parsed from a prefix must be the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::rtsp::{self, Limits, Parsed};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let whole = rtsp::parse_request(data, &limits);
    let _ = rtsp::parse_response(data, &limits);
    let _ = rtsp::parse_unterminated_request(data, &limits);
    let _ = rtsp::parse_unterminated_response(data, &limits);
    if let Ok(Parsed::Complete(req, used)) = &whole {
        for cut in 0..*used {
            match rtsp::parse_request(&data[..cut], &limits) {
                Ok(Parsed::Complete(r, n)) => assert!(n <= cut && (n < *used || r == *req)),
                _ => {}
            }
        }
        // What we parse, we can write and parse back to the same thing.
        let bytes = req.to_bytes();
        if let Ok(Parsed::Complete(again, _)) = rtsp::parse_request(&bytes, &limits) {
            assert_eq!(again.method, req.method);
            assert_eq!(again.uri, req.uri);
        }
    }
});
