//! Micro-benchmarks of the hot paths: `cargo bench --bench micro`.
//! RTSP request parsing, RFC 2435 packetizing and depacketizing (bytes of JPEG per second),
//! `.mjpeg` indexing, and the client's JPEG decode at 384x288, 1280x720 and 1920x1080 (the
//! last two from tests/peers/make_variants.sh, made on first run; needs ffmpeg).

#[path = "../tests/support/mod.rs"]
mod support;

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use rtsp_proto::jpeg::{fragments, Depacketizer, JpegInfo, MAX_PACKET};
use rtsp_proto::rtp::RtpHeader;
use rtsp_proto::rtsp::{parse_request, Limits};

fn main() {
    divan::main();
}

const SETUP: &[u8] = b"SETUP rtsp://127.0.0.1:8554/video.mjpeg/track1 RTSP/1.0\r\nCSeq: 3\r\nUser-Agent: Lavf59.27.100\r\nTransport: RTP/AVP/UDP;unicast;client_port=18422-18423\r\n\r\n";

#[divan::bench]
fn rtsp_parse_setup(b: Bencher) {
    b.counter(BytesCount::new(SETUP.len()))
        .bench(|| parse_request(black_box(SETUP), &Limits::default()).unwrap());
}

fn sample_frame() -> Vec<u8> {
    support::sample_frames().swap_remove(10)
}

#[divan::bench]
fn packetize_384x288(b: Bencher) {
    let frame = sample_frame();
    let info = JpegInfo::parse(&frame).unwrap();
    let params = info.rfc2435().unwrap();
    let scan = &frame[info.scan_data.start..];
    let mut buf = Vec::with_capacity(1500);
    b.counter(BytesCount::new(scan.len())).bench_local(|| {
        for f in fragments(&params, black_box(scan), MAX_PACKET) {
            buf.clear();
            buf.extend_from_slice(f.header());
            buf.extend_from_slice(f.data);
            black_box(&buf);
        }
    });
}

#[divan::bench]
fn depacketize_384x288(b: Bencher) {
    let frame = sample_frame();
    let info = JpegInfo::parse(&frame).unwrap();
    let params = info.rfc2435().unwrap();
    let payloads: Vec<(Vec<u8>, bool)> =
        fragments(&params, &frame[info.scan_data.start..], MAX_PACKET)
            .map(|f| (f.to_payload(), f.last))
            .collect();
    let mut d = Depacketizer::new(1 << 20);
    b.counter(BytesCount::new(frame.len())).bench_local(|| {
        let mut out = None;
        for (seq, (p, last)) in payloads.iter().enumerate() {
            let rtp = RtpHeader {
                marker: *last,
                payload_type: 26,
                sequence_number: seq as u16,
                timestamp: 0,
                ssrc: 0,
            };
            out = d.push(&rtp, p).frame.or(out);
        }
        out.unwrap()
    });
}

#[divan::bench]
fn mjpeg_index_sample(b: Bencher) {
    let data = std::fs::read(support::videos_dir().join("video.mjpeg")).unwrap();
    b.counter(BytesCount::new(data.len()))
        .bench(|| rtsp_proto::mjpeg::index(black_box(&data), 1 << 20).unwrap());
}

fn variant_frame(name: &str) -> Option<Vec<u8>> {
    let dir = match support::make_variants() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}: no {name} decode figure");
            return None;
        }
    };
    support::read_plain_mjpeg(&dir.join(format!("{name}.mjpeg")))
        .into_iter()
        .nth(5)
}

#[divan::bench(args = ["384x288", "1280x720", "1920x1080"])]
fn decode(b: Bencher, size: &str) {
    let frame = match size {
        "384x288" => Some(sample_frame()),
        "1280x720" => variant_frame("hd_420"),
        _ => variant_frame("fhd_huge"),
    };
    let Some(frame) = frame else { return };
    b.counter(divan::counter::ItemsCount::new(1usize))
        .bench(|| client::player::decode(black_box(&frame)).unwrap());
}
