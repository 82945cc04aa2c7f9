//! The player thread: records each received frame, decodes it, and shows it when its RTP
//! timestamp says (a playout delay after the first frame's arrival), not when it arrived, so
//! network jitter does not become display jitter. When the timestamps are not a 90 kHz media
//! clock (the lab's server stamps Unix seconds) frames are shown as they arrive.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::receiver::ReceivedFrame;
use crate::RecordFormat;

/// A decoded frame in minifb's 0RGB layout.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u32>,
    pub rtp_timestamp: u32,
}

/// What the player shares with the session and the window.
#[derive(Debug, Default)]
pub struct Display {
    /// The newest picture due for display.
    pub latest: Option<Arc<Picture>>,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    pub first_decoded: Option<Instant>,
    pub last_decoded: Option<Instant>,
    /// Set by the session on PLAY after PAUSE: the timestamp-to-clock mapping starts over.
    pub reanchor: bool,
}

/// How frames are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// RTP timestamps on the 90 kHz clock RFC 2435 mandates.
    Rtp90k,
    /// Timestamps mean nothing usable: show on arrival.
    Arrival,
}

/// Appends received frames to a file.
pub struct Recorder {
    out: BufWriter<File>,
    format: RecordFormat,
}

impl Recorder {
    /// Creates (or truncates) `path` for frames stored in `format`.
    pub fn create(path: &std::path::Path, format: RecordFormat) -> std::io::Result<Recorder> {
        Ok(Recorder {
            out: BufWriter::new(File::create(path)?),
            format,
        })
    }

    fn write(&mut self, jpeg: &[u8]) -> std::io::Result<()> {
        match self.format {
            RecordFormat::Plain => self.out.write_all(jpeg),
            RecordFormat::Lab => {
                let mut v = Vec::with_capacity(jpeg.len() + 5);
                rtsp_proto::mjpeg::write_lab_frame(&mut v, jpeg)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                self.out.write_all(&v)
            }
        }
    }
}

/// The running player thread; stops when dropped.
pub struct Player {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the player on `frames`.
pub fn spawn(
    frames: Receiver<ReceivedFrame>,
    display: Arc<Mutex<Display>>,
    clock: Clock,
    delay: Duration,
    recorder: Option<Recorder>,
) -> std::io::Result<Player> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut player = PlayerLoop {
        display,
        clock,
        delay,
        recorder,
        stop: stop.clone(),
        anchor: None,
    };
    let thread = std::thread::Builder::new()
        .name("player".into())
        .spawn(move || player.run(frames))?;
    Ok(Player {
        stop,
        thread: Some(thread),
    })
}

/// The player thread's state.
struct PlayerLoop {
    display: Arc<Mutex<Display>>,
    clock: Clock,
    delay: Duration,
    recorder: Option<Recorder>,
    stop: Arc<AtomicBool>,
    /// Where RTP time meets the local clock: a frame stamped `.1` is due at `.0`.
    anchor: Option<(Instant, u32)>,
}

impl PlayerLoop {
    fn run(&mut self, frames: Receiver<ReceivedFrame>) {
        while !self.stop.load(Ordering::Relaxed) {
            let frame = match frames.recv_timeout(Duration::from_millis(50)) {
                Ok(f) => f,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.record(&frame);
            let Some(picture) = self.decode(&frame) else {
                continue;
            };
            if self.clock == Clock::Rtp90k {
                self.wait_until_due(&frame);
            }
            self.show(picture);
        }
        if let Some(r) = &mut self.recorder {
            let _ = r.out.flush();
        }
    }

    fn record(&mut self, frame: &ReceivedFrame) {
        if let Some(r) = &mut self.recorder {
            if let Err(e) = r.write(&frame.jpeg) {
                log::warn!("recording: {e}");
            }
        }
    }

    /// The frame's picture, or `None` (counted) when it does not decode.
    fn decode(&self, frame: &ReceivedFrame) -> Option<Picture> {
        match decode(&frame.jpeg) {
            Ok((width, height, pixels)) => {
                // first_frame_ms is PLAY to the first frame decoded; the playout delay that
                // follows (before it is shown) is a choice, not a cost.
                self.display
                    .lock()
                    .unwrap()
                    .first_decoded
                    .get_or_insert_with(Instant::now);
                Some(Picture {
                    width,
                    height,
                    pixels,
                    rtp_timestamp: frame.rtp_timestamp,
                })
            }
            Err(e) => {
                log::warn!(
                    "frame at RTP time {} does not decode: {e}",
                    frame.rtp_timestamp
                );
                self.display.lock().unwrap().decode_errors += 1;
                None
            }
        }
    }

    /// Sleeps until the frame's RTP timestamp says it is due, a playout delay after the
    /// anchor frame arrived.
    fn wait_until_due(&mut self, frame: &ReceivedFrame) {
        if std::mem::take(&mut self.display.lock().unwrap().reanchor) {
            self.anchor = None;
        }
        let (t0, ts0) = *self
            .anchor
            .get_or_insert((frame.arrival + self.delay, frame.rtp_timestamp));
        let offset = frame.rtp_timestamp.wrapping_sub(ts0) as i32 as f64 / 90_000.0;
        let due = if offset >= 0.0 {
            t0 + Duration::from_secs_f64(offset)
        } else {
            t0
        };
        // A jump (seek, loop, new session) re-anchors instead of stalling.
        if offset < 0.0 || due > Instant::now() + Duration::from_secs(2) {
            self.anchor = Some((frame.arrival + self.delay, frame.rtp_timestamp));
            return;
        }
        while Instant::now() < due && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep((due - Instant::now()).min(Duration::from_millis(20)));
        }
    }

    fn show(&self, picture: Picture) {
        let now = Instant::now();
        let mut d = self.display.lock().unwrap();
        d.frames_decoded += 1;
        d.first_decoded.get_or_insert(now);
        d.last_decoded = Some(now);
        d.latest = Some(Arc::new(picture));
    }
}

/// Decodes a JPEG to minifb's 0RGB pixels: BGRA bytes read as little-endian words are
/// exactly that (the alpha byte, always opaque, is cleared), so no per-pixel shuffling.
pub fn decode(jpeg: &[u8]) -> Result<(usize, usize, Vec<u32>), String> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::BGRA);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(std::io::Cursor::new(jpeg), options);
    let bytes = d.decode().map_err(|e| e.to_string())?;
    let info = d.info().ok_or("no picture size")?;
    let pixels = bytes
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
        .collect();
    Ok((info.width as usize, info.height as usize, pixels))
}
