use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jpeg_recode::RecodeError;

/// The sample video's first `n` frames, each with an extra (unused) Huffman table of id 2:
/// RFC 2435 cannot say such a table, so every frame needs lossless re-coding.
fn file_needing_conversion(n: usize) -> (tempdir::Dir, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos/video.mjpeg");
    let data = std::fs::read(path).unwrap();
    let index = mjpeg::index(&data, mjpeg::LAB_MAX_FRAME).unwrap();
    let mut out = Vec::new();
    for r in index.frames.iter().take(n) {
        let f = &data[r.clone()];
        out.extend_from_slice(&f[..2]);
        // DHT, length 20: class 0 id 2, one code of length 1 for symbol 0.
        out.extend_from_slice(&[0xff, 0xc4, 0, 20, 0x02, 1]);
        out.extend_from_slice(&[0; 15]);
        out.push(0);
        out.extend_from_slice(&f[2..]);
    }
    let dir = tempdir::Dir::new();
    let file = dir.0.join("recoded.mjpeg");
    std::fs::write(&file, out).unwrap();
    (dir, file)
}

/// A scratch directory removed on drop.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("media-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Polls `done` until it holds or 10 s pass.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done()
}

#[test]
fn every_frame_of_the_test_file_needs_lossless_recoding() {
    let (_dir, file) = file_needing_conversion(5);
    let media = PreparedMedia::prepare(&file, usize::MAX).unwrap();
    assert_eq!(media.counts.lossless, 5, "{}", media.counts);
    for i in 0..5 {
        assert!(media.convert_now(i).is_some());
    }
}

#[test]
fn a_frame_not_ready_is_reported_at_once() {
    let (_dir, file) = file_needing_conversion(10);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let converter = move |i: usize, jpeg: &[u8], how| {
        // Every conversion but the first frame's (tried when the file is prepared, to know
        // that it can be sent at all) waits for the test to let it go.
        if i > 0 {
            let _ = release_rx.lock().unwrap().recv();
        }
        Recoder.convert(i, jpeg, how)
    };
    let cache = MediaCache::new(usize::MAX, MAX_FRAME).with_converter(Arc::new(converter));
    let media = cache.get(&file).unwrap();
    // Asked from another thread, so a call that waited would fail the test, not hang it.
    let (tx, rx) = mpsc::channel();
    let asking = media.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let got = asking.rtp_frame(1).map(|_| ());
        tx.send((got, started.elapsed())).unwrap();
    });
    let (got, took) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("rtp_frame waited for a held conversion");
    assert_eq!(got, Err(Unavailable::NotReady));
    assert!(took < Duration::from_secs(1), "{took:?}");
    for _ in 1..10 {
        release_tx.send(()).unwrap();
    }
    assert!(eventually(|| media.rtp_frame(1).is_ok()));
}

#[test]
fn a_held_conversion_does_not_hold_up_other_frames() {
    let (_dir, file) = file_needing_conversion(10);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let converter = move |i: usize, jpeg: &[u8], how| {
        if i == 1 {
            let _ = release_rx.lock().unwrap().recv();
        }
        Recoder.convert(i, jpeg, how)
    };
    let cache = MediaCache::new(usize::MAX, MAX_FRAME).with_converter(Arc::new(converter));
    let media = cache.get(&file).unwrap();
    assert!(eventually(|| (2..10).all(|i| media.is_ready(i))));
    assert_eq!(media.rtp_frame(1).err(), Some(Unavailable::NotReady));
    release_tx.send(()).unwrap();
    assert!(eventually(|| media.is_ready(1)));
}

#[test]
fn the_workers_convert_ahead_of_a_reader() {
    let (_dir, file) = file_needing_conversion(40);
    let converted = Arc::new(Mutex::new(Vec::new()));
    let log = converted.clone();
    let converter = move |i: usize, jpeg: &[u8], how| {
        log.lock().unwrap().push(i);
        Recoder.convert(i, jpeg, how)
    };
    let cache = MediaCache::new(usize::MAX, MAX_FRAME)
        .with_converter(Arc::new(converter))
        .with_lookahead(5);
    let media = cache.get(&file).unwrap();
    // Prepared: the start is converted before anyone asks.
    assert!(eventually(|| (0..5).all(|i| media.is_ready(i))));
    assert_eq!(media.rtp_frame(20).err(), Some(Unavailable::NotReady));
    assert!(eventually(|| (20..25).all(|i| media.is_ready(i))));
    assert!(media.rtp_frame(20).is_ok());
    let done = converted.lock().unwrap().clone();
    assert!(
        done.iter().all(|&i| i < 5 || (20..25).contains(&i)),
        "converted outside the readers' windows: {done:?}"
    );
    assert!(!media.is_ready(30));
}

#[test]
fn converted_frames_stay_under_the_limit() {
    let (_dir, file) = file_needing_conversion(30);
    let sizes: Vec<usize> = {
        let m = PreparedMedia::prepare(&file, usize::MAX).unwrap();
        (0..30)
            .map(|i| match m.convert_now(i).unwrap() {
                RtpFrame::Converted(c) => c.jpeg.len(),
                RtpFrame::File(..) => unreachable!("every frame is converted"),
            })
            .collect()
    };
    let limit = 3 * sizes.iter().max().unwrap();
    let cache = MediaCache::new(limit, MAX_FRAME).with_lookahead(10);
    let media = cache.get(&file).unwrap();
    for i in 0..30 {
        // A reader that waits for each frame: the one ahead of it must always find room.
        assert!(
            eventually(|| {
                assert!(media.converted_bytes() <= limit);
                media.rtp_frame(i).is_ok()
            }),
            "frame {i} never converted"
        );
    }
    assert!(media.converted_bytes() <= limit);
    // Frame 10 is behind the reader at 29 and outside its window (29, 0..8 as it wraps).
    assert!(
        !media.is_ready(10),
        "frames behind the reader were not evicted"
    );
}

#[test]
fn a_failed_conversion_is_remembered_and_skipped() {
    let (_dir, file) = file_needing_conversion(10);
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    let converter = move |i: usize, jpeg: &[u8], how| {
        if i == 3 {
            counted.fetch_add(1, Ordering::SeqCst);
            return Err(ConvertError::Recode(RecodeError::ZeroQuantizer));
        }
        Recoder.convert(i, jpeg, how)
    };
    let cache = MediaCache::new(usize::MAX, MAX_FRAME).with_converter(Arc::new(converter));
    let media = cache.get(&file).unwrap();
    assert!(eventually(
        || media.rtp_frame(3).err() == Some(Unavailable::Skipped)
    ));
    for _ in 0..20 {
        assert_eq!(media.rtp_frame(3).err(), Some(Unavailable::Skipped));
    }
    assert!(eventually(|| (4..10).all(|i| media.is_ready(i))));
    assert!(media.convert_now(3).is_none());
    assert_eq!(tries.load(Ordering::SeqCst), 1);
}

#[test]
fn media_names_are_mjpeg_mjpg_or_a_container_in_any_case() {
    for (name, ok) in [
        ("a.mjpeg", true),
        ("a.MJPG", true),
        ("a.Avi", true),
        ("a.MOV", true),
        ("a.mp4", true),
        ("a.mkv", true),
        ("a.WebM", true),
        ("a.jpg", false),
        ("a.mjpeg.json", false),
        ("mjpeg", false),
        ("avi", false),
    ] {
        assert_eq!(is_media_name(Path::new(name)), ok, "{name}");
    }
}

#[test]
fn a_converter_that_panics_costs_its_frame_not_the_workers() {
    let (_dir, file) = file_needing_conversion(10);
    let converter = |i: usize, jpeg: &[u8], how| {
        assert!(i % 4 != 2, "a decoder bug on frame {i}");
        Recoder.convert(i, jpeg, how)
    };
    let cache = MediaCache::new(usize::MAX, MAX_FRAME).with_converter(Arc::new(converter));
    let media = cache.get(&file).unwrap();
    // Frames 2 and 6 panic, one on each worker or both on one: the rest still converts.
    assert!(eventually(|| [0, 1, 3, 4, 5, 7, 8, 9]
        .iter()
        .all(|&i| media.is_ready(i))));
    assert!(eventually(|| [2, 6]
        .iter()
        .all(
            |&i| media.rtp_frame(i).err() == Some(Unavailable::Skipped)
        )));
}

#[test]
fn a_file_whose_first_conversions_fail_is_unsupported_with_the_reason() {
    let (_dir, file) = file_needing_conversion(5);
    let converter = |_: usize, _: &[u8], _| Err(ConvertError::Recode(RecodeError::ZeroQuantizer));
    let cache = MediaCache::new(usize::MAX, MAX_FRAME).with_converter(Arc::new(converter));
    let media = cache.get(&file).unwrap();
    let why = media.unsupported.as_deref().expect("unsupported");
    assert!(
        why.contains("frame 0") && why.contains("can be converted"),
        "{why}"
    );
    // The outcome is kept: the frame is skipped, not converted again.
    assert_eq!(media.rtp_frame(0).err(), Some(Unavailable::Skipped));
}

/// The sample video's first `n` frames.
fn sample_jpegs(n: usize) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos/video.mjpeg");
    let data = std::fs::read(path).unwrap();
    let index = mjpeg::index(&data, mjpeg::LAB_MAX_FRAME).unwrap();
    (index.frames.iter().take(n))
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

#[test]
fn a_sidecar_gives_a_mjpeg_its_rate_and_a_changed_one_is_seen() {
    let dir = tempdir::Dir::new();
    let file = dir.0.join("a.mjpeg");
    std::fs::write(&file, sample_jpegs(10).concat()).unwrap();
    let cache = MediaCache::new(usize::MAX, MAX_FRAME);
    let media = cache.get(&file).unwrap();
    assert_eq!(media.timing, None);
    assert_eq!(
        media.timing_or(20.0).to_string(),
        "20 fps (the --fps default)"
    );
    assert_eq!(media.duration(20.0), 0.5);
    std::fs::write(dir.0.join("a.mjpeg.json"), br#"{"fps": 25}"#).unwrap();
    let media = cache.get(&file).unwrap();
    assert_eq!(media.fps(20.0), 25.0);
    assert_eq!(
        media.timing_or(20.0).to_string(),
        "25 fps (from a.mjpeg.json)"
    );
    assert_eq!(media.duration(20.0), 0.4);
    // A bad sidecar (a warning in the log) leaves the default.
    std::fs::write(dir.0.join("a.mjpeg.json"), br#"{"fps": -1, "x": 1}"#).unwrap();
    assert_eq!(cache.get(&file).unwrap().timing, None);
}

#[test]
fn an_avi_plays_at_its_own_rate_and_its_non_jpeg_frames_are_skipped() {
    use container::avi::build::{avi, video_strl};
    let dir = tempdir::Dir::new();
    let jpegs = sample_jpegs(4);
    let mut frames: Vec<&[u8]> = jpegs.iter().map(Vec::as_slice).collect();
    frames.insert(2, b"not a JPEG");
    let file = dir.0.join("a.avi");
    std::fs::write(&file, avi(&[video_strl(25, 1)], &frames, true)).unwrap();
    // A sidecar is for .mjpeg only: the container's rate wins.
    std::fs::write(dir.0.join("a.avi.json"), br#"{"fps": 5}"#).unwrap();
    let media = PreparedMedia::prepare(&file, usize::MAX).unwrap();
    assert_eq!(media.frames.len(), 5);
    assert_eq!(media.counts.skipped, 1, "{}", media.counts);
    assert_eq!(media.fps(20.0), 25.0);
    assert_eq!(
        media.timing_or(20.0).to_string(),
        "25 fps (the AVI file's own)"
    );
    assert_eq!(media.dimensions, Some((384, 288)));
    for (f, want) in media.frames.iter().zip(&frames) {
        assert_eq!(&media.data[f.jpeg.clone()], *want);
    }
    // The same file cut inside its header: a clear error naming the byte.
    std::fs::write(&file, &avi(&[video_strl(25, 1)], &frames, true)[..40]).unwrap();
    let e = PreparedMedia::prepare(&file, usize::MAX).unwrap_err();
    assert!(e.to_string().starts_with("AVI file: at byte "), "{e}");
}

#[test]
fn prepare_reports_each_files_rate_and_where_it_came_from() {
    use container::avi::build::{avi, video_strl};
    let dir = tempdir::Dir::new();
    let jpegs = sample_jpegs(3);
    let frames: Vec<&[u8]> = jpegs.iter().map(Vec::as_slice).collect();
    std::fs::write(
        dir.0.join("a.avi"),
        avi(&[video_strl(30000, 1001)], &frames, true),
    )
    .unwrap();
    std::fs::write(dir.0.join("b.mjpeg"), jpegs.concat()).unwrap();
    std::fs::write(dir.0.join("b.mjpeg.json"), br#"{"fps": 12.5}"#).unwrap();
    std::fs::write(dir.0.join("c.mjpg"), jpegs.concat()).unwrap();
    std::fs::write(dir.0.join("d.mkv"), b"\x1a\x45\xdf\xa3\x00").unwrap();
    let reports = prepare_library(&dir.0, 20.0, |_, _, _| {}).unwrap();
    let lines: Vec<String> = reports.iter().map(|r| r.to_string()).collect();
    let classes = "3 as-is, 0 lossless, 0 lossy, 0 skipped";
    assert_eq!(
        lines,
        [
            format!("a.avi: 3 frames at 29.97 fps (the AVI file's own): {classes}"),
            format!("b.mjpeg: 3 frames at 12.5 fps (from b.mjpeg.json): {classes}"),
            format!("c.mjpg: 3 frames at 20 fps (the --fps default): {classes}"),
            "d.mkv: not served: Matroska file: at byte 4: invalid EBML size (first byte 0x00)"
                .to_string(),
        ]
    );
}
