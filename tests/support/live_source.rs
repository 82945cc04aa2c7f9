//! A live source whose every picture carries its own number, for the live HLS tests: the
//! test draws the pictures (a bar code of the frame number across the top, a moving pattern
//! below) and hands them, raw RGB, to ffmpeg's stdin at 20 frames a second; ffmpeg encodes
//! each as a JPEG as it comes (4:2:0, the standard Huffman tables RFC 2435 assumes) and
//! publishes it over RTSP (TCP). The moment each frame went to ffmpeg is kept, so a viewer
//! that reads a number back from a picture knows how old that picture is.
//!
//! Not declared in `support/mod.rs` (the client crate's tests include that and have no use
//! for it): a test includes it with `#[path = "support/live_source.rs"] mod live_source;`.

// Each test uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub const WIDTH: u32 = 384;
pub const HEIGHT: u32 = 288;
pub const FPS: u32 = 20;
/// Bits of the bar code: frame numbers count modulo 2^BITS (204 s at 20 fps).
pub const BITS: u32 = 12;
/// Each bit is a square this wide, white for 1, black for 0, along the top.
pub const BLOCK: u32 = WIDTH / BITS;

/// Picture `n`: the bar code, then a pattern that moves with `n` (so neighbouring frames
/// differ, and a picture matched to the wrong frame scores low).
pub fn picture(n: u32) -> image::RgbImage {
    image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        if y < BLOCK {
            let bit = (n >> (x / BLOCK)) & 1;
            let inside = x % BLOCK >= 2 && x % BLOCK < BLOCK - 2;
            let v = if bit == 1 && inside { 255 } else { 0 };
            return image::Rgb([v, v, v]);
        }
        let phase = (x + 3 * n) % 128;
        let wave = if phase < 64 {
            phase * 4
        } else {
            (127 - phase) * 4
        } as u8;
        image::Rgb([
            wave,
            (y * 255 / HEIGHT) as u8,
            ((x + y + 2 * n) % 256) as u8,
        ])
    })
}

/// The number a picture (of any size with the source's shape) carries, read from the middle
/// of each square; `None` when a square is neither clearly white nor clearly black.
pub fn read_number(img: &image::RgbImage) -> Option<u32> {
    let (w, h) = img.dimensions();
    let scale = |v: u32, full: u32, of: u32| (v as u64 * of as u64 / full as u64) as u32;
    let mut n = 0;
    for bit in 0..BITS {
        let (cx, cy) = (bit * BLOCK + BLOCK / 2, BLOCK / 2);
        let mut sum = 0u32;
        let mut count = 0u32;
        for dy in 0..8 {
            for dx in 0..8 {
                let x = scale(cx + dx - 4, WIDTH, w);
                let y = scale(cy + dy - 4, HEIGHT, h);
                let p = img.get_pixel(x.min(w - 1), y.min(h - 1));
                sum += (u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3;
                count += 1;
            }
        }
        match sum / count {
            v if v > 170 => n |= 1 << bit,
            v if v < 85 => {}
            _ => return None,
        }
    }
    Some(n)
}

/// The number `img` carries and the picture published with it, at `img`'s size (what
/// `img` is compared with); `None` when it carries no number.
pub fn source_of(img: &image::RgbImage) -> Option<(u32, image::RgbImage)> {
    let n = read_number(img)?;
    let source = image::imageops::resize(
        &picture(n),
        img.width(),
        img.height(),
        image::imageops::FilterType::Triangle,
    );
    Some((n, source))
}

/// ffmpeg publishing the numbered pictures on an RTSP URL; stopped when dropped.
pub struct NumberedPublisher {
    child: Child,
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<()>>,
    /// When each frame (by number) was written to ffmpeg.
    sent: Arc<Mutex<Vec<SystemTime>>>,
}

impl NumberedPublisher {
    /// Starts ffmpeg on `url` and feeds it a frame every 1/FPS s, on a schedule (a late frame
    /// does not push the later ones back).
    pub fn start(url: &str) -> NumberedPublisher {
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-video_size", &format!("{WIDTH}x{HEIGHT}")])
            .args(["-framerate", &FPS.to_string(), "-i", "pipe:0"])
            .args(["-c:v", "mjpeg", "-q:v", "3", "-huffman", "default"])
            .args([
                "-pix_fmt",
                "yuvj420p",
                "-f",
                "rtsp",
                "-rtsp_transport",
                "tcp",
                url,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ffmpeg");
        let mut stdin = child.stdin.take().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (stop2, sent2) = (stop.clone(), sent.clone());
        let feeder = std::thread::spawn(move || {
            let start = Instant::now();
            for n in 0u32.. {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                let due = start + Duration::from_millis(u64::from(n) * 1000 / u64::from(FPS));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                // A couple of milliseconds, well within a frame's time.
                let frame = picture(n % (1 << BITS)).into_raw();
                sent2.lock().unwrap().push(SystemTime::now());
                if stdin.write_all(&frame).and_then(|_| stdin.flush()).is_err() {
                    return;
                }
            }
        });
        NumberedPublisher {
            child,
            stop,
            feeder: Some(feeder),
            sent,
        }
    }

    /// When frame `n` went to ffmpeg: the latest frame written with that number.
    pub fn sent_at(&self, number: u32) -> Option<SystemTime> {
        let sent = self.sent.lock().unwrap();
        let period = 1usize << BITS;
        let last = sent.len().checked_sub(1)?;
        let base = last - last % period;
        let i = match base + number as usize {
            i if i <= last => i,
            i => i.checked_sub(period)?,
        };
        sent.get(i).copied()
    }

    /// Frames written so far.
    pub fn frames_sent(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl Drop for NumberedPublisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}
