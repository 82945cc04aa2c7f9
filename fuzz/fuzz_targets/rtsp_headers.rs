//! Typed headers and authentication headers on arbitrary text; what parses must write back
//! to text that parses to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::auth::{Challenge, Credentials};
use rtsp_proto::rtsp::{Public, Range, RtpInfo, Session, Transport};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(s) = Session::parse(text) {
        assert_eq!(Session::parse(&s.to_string()), Ok(s));
    }
    if let Ok(list) = Transport::parse_list(text) {
        for t in list {
            let again = Transport::parse(&t.to_string());
            assert!(again.is_ok(), "{t} does not parse back");
        }
    }
    let _ = Range::parse(text).map(|r| Range::parse(&r.to_string()));
    let _ = RtpInfo::parse_list(text);
    let _ = Public::parse(text);
    let _ = Challenge::parse(text);
    let _ = Credentials::parse(text);
});
