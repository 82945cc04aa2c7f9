//! RTP and RTCP packet parsers on arbitrary datagrams; a parsed RTP packet writes back to the
//! same bytes' meaning.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rtsp_proto::rtp::RtpPacket;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::parse(data) {
        let mut out = Vec::new();
        p.write(&mut out);
        assert_eq!(RtpPacket::parse(&out).map(|q| q.header), Ok(p.header));
    }
    if let Ok(packets) = rtsp_proto::rtcp::parse_compound(data) {
        let mut out = Vec::new();
        rtsp_proto::rtcp::write_compound(&packets, &mut out);
        let _ = rtsp_proto::rtcp::parse_compound(&out);
    }
});
