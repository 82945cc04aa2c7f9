//! What the client counts and records when playback stops mid-stream, and the picture size it
//! shows when RFC 2435's 8-pixel blocks pad a source: every frame received is decoded, dropped
//! or discarded at the stop, the recording holds every one of them, and a 641x479 source is
//! shown at 641x479 (not the 648x480 the RTP/JPEG header says), using the SDP's
//! `a=x-dimensions`.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use client::session::ClientSession;
use client::{Options, RecordFormat};
use support::*;

/// The frames of a lab-format file: a 5-digit ASCII length, then that many bytes of JPEG.
fn lab_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "{} stray bytes at the end", rest.len());
        let len: usize = std::str::from_utf8(&rest[..5])
            .unwrap()
            .trim()
            .parse()
            .expect("a 5-digit length");
        let jpeg = &rest[5..5 + len];
        assert!(jpeg.starts_with(&[0xff, 0xd8]) && jpeg.ends_with(&[0xff, 0xd9]));
        frames.push(jpeg);
        rest = &rest[5 + len..];
    }
    frames
}

/// A stop with a long playout delay leaves frames queued for the player (more than its queue
/// holds, so some are dropped as the player falls behind): they are counted as discarded at
/// the stop, and recorded like every other frame received, in order.
#[test]
fn a_stop_mid_stream_counts_and_records_every_received_frame() {
    let server = start_server(&videos_dir(), |_| {});
    let rec = scratch_dir("stop-counts").join("rec.mjpeg");
    let mut opts = Options::for_url(&url(&server, "video.mjpeg")).unwrap();
    opts.duration = Some(1.5);
    opts.playout_delay = Duration::from_millis(600);
    opts.record = Some(rec.clone());
    opts.record_format = RecordFormat::Lab;
    let st = client::headless::run(&opts).unwrap();
    eprintln!("{}", st.to_json());
    assert_eq!((st.packets_lost, st.frames_incomplete), (0, 0));
    assert_eq!(
        st.frames_received,
        st.frames_decoded + st.frames_dropped + st.frames_discarded_at_stop,
        "{}",
        st.to_json()
    );
    assert!(st.frames_add_up());
    assert!(st.frames_decoded >= 5, "{}", st.to_json());
    // 600 ms of frames at 20 fps were still waiting for their time when playback stopped.
    assert!(st.frames_discarded_at_stop >= 3, "{}", st.to_json());
    let data = std::fs::read(&rec).unwrap();
    let recorded = lab_frames(&data);
    assert_eq!(recorded.len() as u64, st.frames_received);
    let source = sample_frames();
    for (n, jpeg) in recorded.iter().enumerate() {
        assert_eq!(scan_data(jpeg), scan_data(&source[n]), "recorded frame {n}");
    }
}

/// A `.mjpeg` of `frames` JPEGs of `w`x`h` (4:4:4 from the image crate, which the server
/// converts to 4:2:0 keeping the size), in smooth gradients (4:2:0 keeps them).
fn odd_size_video(w: u32, h: u32, frames: usize) -> (Vec<u8>, Vec<u8>) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / (w - 1)) as u8,
            (y * 255 / (h - 1)) as u8,
            ((x + y) * 255 / (w + h - 2)) as u8,
        ])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    // Plain concatenated JPEG: a big frame does not fit the lab's 5-digit length.
    (jpeg.repeat(frames), jpeg)
}

fn plays_at_its_true_size(w: u32, h: u32) {
    let dir = scratch_dir("odd-size");
    let (file, jpeg) = odd_size_video(w, h, 60);
    std::fs::write(dir.join("odd.mjpeg"), file).unwrap();
    let server = start_server(&dir, |_| {});
    let opts = Options::for_url(&url(&server, "odd.mjpeg")).unwrap();
    let mut s = ClientSession::connect(&opts).unwrap();
    s.setup().unwrap();
    assert_eq!(
        s.info.as_ref().unwrap().dimensions,
        Some((w, h)),
        "the server's SDP gives the true size: {:?}",
        s.sdp
    );
    s.play().unwrap();
    let mut latest = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            latest = s.display.lock().unwrap().latest.clone();
            latest.is_some()
        }),
        "no frame shown"
    );
    let p = latest.unwrap();
    assert_eq!((p.width, p.height), (w as usize, h as usize));
    assert_eq!(p.pixels.len(), (w * h) as usize);
    let shown = image::RgbImage::from_fn(w, h, |x, y| {
        let [b, g, r, _] = p.pixels[(y * w + x) as usize].to_le_bytes();
        image::Rgb([r, g, b])
    });
    let source = decode_rgb(&jpeg);
    let q = psnr(&shown, &source);

    assert!(q > 30.0, "{w}x{h}: {q:.1} dB from the source");
    // The rightmost column and bottom row are the picture's, not the encoder's padding.
    let edge = |img: &image::RgbImage| {
        let mut v: Vec<u8> = (0..h).flat_map(|y| img.get_pixel(w - 1, y).0).collect();
        v.extend((0..w).flat_map(|x| img.get_pixel(x, h - 1).0));
        v
    };
    let (a, b) = (edge(&shown), edge(&source));
    let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst < 48, "{w}x{h}: the edges differ by up to {worst}");
    s.teardown().unwrap();
    let st = s.stats();
    assert_eq!((st.width, st.height), (w, h), "{}", st.to_json());
}

#[test]
fn a_641x479_source_is_shown_at_641x479() {
    plays_at_its_true_size(641, 479);
}

#[test]
fn a_17x9_source_is_shown_at_17x9() {
    plays_at_its_true_size(17, 9);
}
