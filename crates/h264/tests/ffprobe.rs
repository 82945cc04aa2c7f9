//! ffprobe reads our H.264 as a browser will: full-range BT.601 (the JPEG's own colours), the
//! source's size, a constant frame rate, and an IDR every GOP.

use std::process::Command;

use h264::{H264Encoder, Settings, Yuv420};

#[test]
fn ffprobe_reads_full_range_bt601_and_an_idr_every_gop() {
    if Command::new("ffprobe").arg("-version").output().is_err() {
        assert!(
            std::env::var("REQUIRE_PEERS").as_deref() != Ok("1"),
            "REQUIRE_PEERS=1 but ffprobe is not installed"
        );
        eprintln!("\n!!!!! SKIPPED: ffprobe is not installed !!!!!\n");
        return;
    }
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../videos/video.mjpeg"
    ))
    .unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
    let mut enc = H264Encoder::new(Settings {
        fps: 20.0,
        gop: 40,
        bitrate: 1_500_000,
    })
    .unwrap();
    let mut stream = Vec::new();
    for r in idx.frames.iter().take(80) {
        let au = enc
            .encode(&Yuv420::from_jpeg(&data[r.clone()]).unwrap())
            .unwrap();
        stream.extend_from_slice(&au.annex_b);
    }
    let path = std::env::temp_dir().join(format!("h264-{}.h264", std::process::id()));
    std::fs::write(&path, &stream).unwrap();
    let probe = |args: &[&str]| {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-f", "h264"])
            .args(args)
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let stream_info = probe(&[
        "-show_entries",
        "stream=width,height,pix_fmt,color_range,color_space,color_primaries,color_transfer",
        "-of",
        "default=noprint_wrappers=1",
    ]);
    for want in [
        "width=384",
        "height=288",
        "color_range=pc",
        "color_space=smpte170m",
        "color_primaries=smpte170m",
    ] {
        assert!(stream_info.contains(want), "{want} not in\n{stream_info}");
    }
    let frames = probe(&[
        "-show_entries",
        "frame=key_frame,pict_type",
        "-of",
        "csv=p=0",
    ]);
    let keys: Vec<usize> = frames
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('1'))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(frames.lines().count(), 80, "{frames}");
    assert_eq!(keys, [0, 40], "key frames");
    let _ = std::fs::remove_file(&path);
}
