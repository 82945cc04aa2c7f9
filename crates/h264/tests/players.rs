//! The encoder's output as players read it. The raw H.264: ffprobe finds full-range BT.601
//! (the JPEG's own colours), the source's size and an IDR every GOP. CMAF: an init segment
//! and two media segments of one GOP each, read back by ffprobe (ffmpeg's own MP4 demuxer) as
//! 80 frames over 4 s, key frames where the segments start, and by mp4-atom with the right
//! `tfdt`, durations and sync flags.

use std::process::Command;

use h264::cmaf::{init_segment, media_segment, Sample};
use h264::{H264Encoder, Settings, Yuv420};

const TIMESCALE: u32 = 90_000;
const DURATION: u32 = TIMESCALE / 20;

/// The sample's first `n` frames encoded at 20 fps with a GOP of 40.
fn encoded(n: usize) -> Vec<h264::AccessUnit> {
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
    idx.frames
        .iter()
        .take(n)
        .map(|r| {
            enc.encode(&Yuv420::from_jpeg(&data[r.clone()]).unwrap())
                .unwrap()
        })
        .collect()
}

fn segments() -> (Vec<u8>, Vec<Vec<u8>>) {
    let units = encoded(80);
    let init = init_segment(384, 288, TIMESCALE, &units[0].annex_b).unwrap();
    let segments = units
        .chunks(40)
        .enumerate()
        .map(|(k, gop)| {
            let samples: Vec<Sample> = gop
                .iter()
                .map(|au| Sample::from_annex_b(&au.annex_b, DURATION, au.idr))
                .collect();
            let first = (k * 40) as u64 * u64::from(DURATION);
            media_segment(k as u32 + 1, first, &samples).unwrap()
        })
        .collect();
    (init, segments)
}

/// Whether ffprobe runs here (a loud skip without it, a failure under REQUIRE_PEERS=1).
fn have_ffprobe() -> bool {
    if Command::new("ffprobe").arg("-version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("REQUIRE_PEERS").as_deref() != Ok("1"),
        "REQUIRE_PEERS=1 but ffprobe is not installed"
    );
    eprintln!("\n!!!!! SKIPPED: ffprobe is not installed !!!!!\n");
    false
}

/// ffprobe's `key=value` lines for `entries` of `path` (read as `format`, if given).
fn probe(path: &std::path::Path, format: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error"]);
    if let Some(f) = format {
        cmd.args(["-f", f]);
    }
    let o = cmd.args(args).arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The frame numbers ffprobe says are key frames.
fn key_frames(path: &std::path::Path, format: Option<&str>) -> Vec<usize> {
    let csv = probe(
        path,
        format,
        &["-show_entries", "frame=key_frame", "-of", "csv=p=0"],
    );
    csv.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('1'))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn ffprobe_reads_the_raw_stream_as_full_range_bt601_with_an_idr_every_gop() {
    if !have_ffprobe() {
        return;
    }
    let stream: Vec<u8> = encoded(80)
        .iter()
        .flat_map(|au| au.annex_b.clone())
        .collect();
    let path = std::env::temp_dir().join(format!("h264-{}.h264", std::process::id()));
    std::fs::write(&path, &stream).unwrap();
    let entries = "stream=width,height,color_range,color_space,color_primaries";
    let text = probe(
        &path,
        Some("h264"),
        &[
            "-show_entries",
            entries,
            "-of",
            "default=noprint_wrappers=1",
        ],
    );
    for want in [
        "width=384",
        "height=288",
        "color_range=pc",
        "color_space=smpte170m",
        "color_primaries=smpte170m",
    ] {
        assert!(text.contains(want), "{want} not in\n{text}");
    }
    assert_eq!(key_frames(&path, Some("h264")), [0, 40]);
    let _ = std::fs::remove_file(&path);
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
    if !have_ffprobe() {
        return;
    }
    let (init, segs) = segments();
    let path = std::env::temp_dir().join(format!("cmaf-{}.mp4", std::process::id()));
    std::fs::write(&path, [init, segs.concat()].concat()).unwrap();
    let entries =
        "stream=codec_name,width,height,color_range,color_space,nb_read_frames:format=duration";
    let args = [
        "-count_frames",
        "-show_entries",
        entries,
        "-of",
        "default=noprint_wrappers=1",
    ];
    let text = probe(&path, None, &args);
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
    assert_eq!(key_frames(&path, None), [0, 40]);
    let _ = std::fs::remove_file(&path);
}
