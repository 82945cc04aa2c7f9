//! CMAF as a player reads it: an init segment and two media segments of one GOP each, read
//! back by ffprobe (with ffmpeg's own MP4 demuxer) as 80 frames of H.264 over 4 s at
//! 384x288, full-range BT.601, key frames where the segments start; and the boxes read back by
//! mp4-atom with the right `tfdt`, durations and sync flags.

use std::process::Command;

use h264::cmaf::{init_segment, media_segment, Sample};
use h264::{H264Encoder, Settings, Yuv420};

const TIMESCALE: u32 = 90_000;
const DURATION: u32 = TIMESCALE / 20;

fn segments() -> (Vec<u8>, Vec<Vec<u8>>) {
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
    let mut init = None;
    let mut segments = Vec::new();
    let mut samples = Vec::new();
    for (i, r) in idx.frames.iter().take(80).enumerate() {
        let au = enc
            .encode(&Yuv420::from_jpeg(&data[r.clone()]).unwrap())
            .unwrap();
        if init.is_none() {
            init = Some(init_segment(384, 288, TIMESCALE, &au.annex_b).unwrap());
        }
        samples.push(Sample::from_annex_b(&au.annex_b, DURATION, au.idr));
        if (i + 1) % 40 == 0 {
            let first = (i + 1 - 40) as u64;
            let seq = segments.len() as u32 + 1;
            segments.push(media_segment(seq, first * u64::from(DURATION), &samples).unwrap());
            samples.clear();
        }
    }
    (init.unwrap(), segments)
}

#[test]
fn boxes_read_back_with_their_decode_times_durations_and_sync_flags() {
    use mp4_atom::{Any, Decode};
    let (_init, segs) = segments();
    for (k, seg) in segs.iter().enumerate() {
        let mut buf = std::io::Cursor::new(seg.as_slice());
        let mut moof = None;
        while (buf.position() as usize) < seg.len() {
            if let Any::Moof(m) = Any::decode(&mut buf).unwrap() {
                moof = Some(m);
            }
        }
        let traf = &moof.expect("a moof").traf[0];
        assert_eq!(
            traf.tfdt.as_ref().unwrap().base_media_decode_time,
            k as u64 * 40 * 4500
        );
        let entries = &traf.trun[0].entries;
        assert_eq!(entries.len(), 40);
        assert!(entries.iter().all(|e| e.duration == Some(DURATION)));
        assert_eq!(
            entries[0].flags,
            Some(0x0200_0000),
            "the first sample is a sync sample"
        );
        assert!(entries[1..].iter().all(|e| e.flags == Some(0x0101_0000)));
    }
}

#[test]
fn ffprobe_reads_the_init_and_segments_as_one_stream() {
    if Command::new("ffprobe").arg("-version").output().is_err() {
        assert!(
            std::env::var("REQUIRE_PEERS").as_deref() != Ok("1"),
            "REQUIRE_PEERS=1 but ffprobe is not installed"
        );
        eprintln!("\n!!!!! SKIPPED: ffprobe is not installed !!!!!\n");
        return;
    }
    let (init, segs) = segments();
    let path = std::env::temp_dir().join(format!("cmaf-{}.mp4", std::process::id()));
    std::fs::write(&path, [init, segs.concat()].concat()).unwrap();
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg(
            "stream=codec_name,width,height,color_range,color_space,nb_read_frames:format=duration",
        )
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "codec_name=h264",
        "width=384",
        "height=288",
        "color_range=pc",
        "color_space=smpte170m",
        "nb_read_frames=80",
        "duration=4.000000",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
    let keys = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let keys: Vec<usize> = String::from_utf8_lossy(&keys.stdout)
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('1'))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, [0, 40]);
    let _ = std::fs::remove_file(&path);
}
