use super::*;

fn sample() -> Vec<Vec<u8>> {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../videos/video.mjpeg"
    ))
    .unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
    idx.frames
        .iter()
        .take(60)
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// The H.264 stream decodes (OpenH264's own decoder) to pictures close to the JPEGs' planes,
/// with an IDR exactly every GOP.
#[test]
fn frames_encode_to_closed_gops_that_decode_close_to_the_source() {
    let settings = Settings {
        fps: 20.0,
        gop: 40,
        bitrate: 1_500_000,
    };
    let mut enc = H264Encoder::new(settings).unwrap();
    let mut decoder = openh264::decoder::Decoder::new().unwrap();
    let mut worst = f64::INFINITY;
    for (i, jpeg) in sample().iter().enumerate() {
        let picture = Yuv420::from_jpeg(jpeg).unwrap();
        assert_eq!((picture.width, picture.height), (384, 288));
        let au = enc.encode(&picture).unwrap();
        assert_eq!(au.idr, i % 40 == 0, "frame {i}");
        let decoded = decoder
            .decode(&au.annex_b)
            .unwrap()
            .expect("a picture per frame");
        use openh264::formats::YUVSource;
        let (w, h) = decoded.dimensions();
        assert_eq!((w, h), (384, 288));
        let stride = decoded.strides().0;
        let y: Vec<u8> = (0..h)
            .flat_map(|r| decoded.y()[r * stride..r * stride + w].to_vec())
            .collect();
        worst = worst.min(psnr(&y, &picture.y));
    }
    assert!(worst > 30.0, "worst luma PSNR {worst:.2} dB");
}

#[test]
fn the_stream_says_full_range_bt601_in_its_sps() {
    let mut enc = H264Encoder::new(Settings {
        fps: 20.0,
        gop: 40,
        bitrate: 1_000_000,
    })
    .unwrap();
    let au = enc
        .encode(&Yuv420::from_jpeg(&sample()[0]).unwrap())
        .unwrap();
    // An IDR access unit carries SPS (7), PPS (8) and the IDR slice (5); ffprobe reads the
    // SPS's VUI in tests/ffprobe.rs.
    let types: Vec<u8> = au
        .annex_b
        .windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3] & 0x1f)
        .collect();
    assert!(
        types.contains(&7) && types.contains(&8) && types.contains(&5),
        "{types:?}"
    );
}

#[test]
fn odd_and_tiny_pictures() {
    let tiny = Yuv420::from_jpeg(&sample()[0]).unwrap();
    assert_eq!(tiny.u.len(), tiny.width * tiny.height / 4);
    let mut enc = H264Encoder::new(Settings {
        fps: 20.0,
        gop: 2,
        bitrate: 500_000,
    })
    .unwrap();
    let other = Yuv420 {
        width: 16,
        height: 16,
        y: vec![0; 256],
        u: vec![128; 64],
        v: vec![128; 64],
    };
    enc.encode(&tiny).unwrap();
    assert!(matches!(
        enc.encode(&other),
        Err(H264Error::SizeChanged { .. })
    ));
}
