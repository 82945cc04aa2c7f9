//! The player thread: decodes each received frame (cropped to the SDP's `a=x-dimensions` when
//! RFC 2435's multiples of 8 padded it), and shows it when its RTP timestamp says (a playout
//! delay after the first frame's arrival), not when it arrived, so network jitter does not
//! become display jitter. When the timestamps are not a 90 kHz media clock (the lab's server
//! stamps Unix seconds) frames are shown as they arrive. Frames still queued when the player
//! stops are counted as discarded at the stop. While a PLAY is out the player holds what
//! arrives; frames from before a seek are dropped at the seek gate ([`crate::playhead`]), and
//! each PLAY re-anchors the clock and starts a new fps segment. The receiver, not the player,
//! records frames ([`Recorder`]), so a recording holds every frame received.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::playhead::{Admit, Playhead};
use crate::receiver::ReceivedFrame;
use crate::RecordFormat;

/// A decoded frame in minifb's 0RGB layout.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u32>,
    pub rtp_timestamp: u32,
    /// Its normal play time, when the PLAY's Range and RTP-Info (or the first frame) say.
    pub position: Option<f64>,
}

/// What the player shares with the session and the window.
#[derive(Debug, Default)]
pub struct Display {
    /// The newest picture due for display.
    pub latest: Option<Arc<Picture>>,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    /// Frames still queued for the player when it stopped: neither decoded nor dropped.
    pub discarded_at_stop: u64,
    pub first_decoded: Option<Instant>,
    pub last_decoded: Option<Instant>,
    /// Frames from before a seek, dropped at the gate (see [`crate::playhead`]).
    pub skipped_at_seek: u64,
    /// The frame rate over the time frames were shown.
    pub fps: crate::stats::FpsMeter,
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

    /// Appends one frame.
    pub fn write(&mut self, jpeg: &[u8]) -> std::io::Result<()> {
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

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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

/// Starts the player on `frames`. `true_size` is the picture size the SDP gave
/// (`a=x-dimensions`): decoded frames padded past it to RFC 2435's multiples of 8 are cropped
/// to it.
pub fn spawn(
    frames: Receiver<ReceivedFrame>,
    display: Arc<Mutex<Display>>,
    playhead: Arc<Mutex<Playhead>>,
    clock: Clock,
    delay: Duration,
    true_size: Option<(usize, usize)>,
) -> std::io::Result<Player> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut player = PlayerLoop {
        display,
        clock,
        delay,
        true_size,
        stop: stop.clone(),
        anchor: None,
        playhead,
        play_id: None,
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
    true_size: Option<(usize, usize)>,
    stop: Arc<AtomicBool>,
    /// Where RTP time meets the local clock: a frame stamped `.1` is due at `.0`.
    anchor: Option<(Instant, u32)>,
    playhead: Arc<Mutex<Playhead>>,
    /// The PLAY the last frame belonged to: a new one re-anchors the clock.
    play_id: Option<u64>,
}

impl PlayerLoop {
    fn run(&mut self, frames: Receiver<ReceivedFrame>) {
        while !self.stop.load(Ordering::Relaxed) {
            let frame = match frames.recv_timeout(Duration::from_millis(50)) {
                Ok(f) => f,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if !self.admitted(&frame) {
                continue;
            }
            let Some(picture) = self.decode(&frame) else {
                continue;
            };
            if self.clock == Clock::Rtp90k {
                self.wait_until_due(&frame);
            }
            self.show(picture);
        }
        // The session stops the receiver first, so nothing more comes: what is queued now was
        // received but will never be decoded.
        let left = frames.try_iter().count() as u64;
        if left > 0 {
            log::info!("{left} received frames not played at the stop");
            self.display.lock().unwrap().discarded_at_stop += left;
        }
    }

    /// Waits while a PLAY is out, then whether the frame belongs to the current PLAY (a frame
    /// from before a seek is counted and dropped).
    fn admitted(&mut self, frame: &ReceivedFrame) -> bool {
        loop {
            let p = self.playhead.lock().unwrap();
            match p.admit(frame.seq) {
                Admit::Take => {
                    if self.play_id != Some(p.play_id) {
                        self.play_id = Some(p.play_id);
                        self.anchor = None;
                    }
                    return true;
                }
                Admit::Drop => {
                    drop(p);
                    self.display.lock().unwrap().skipped_at_seek += 1;
                    return false;
                }
                Admit::Hold => {}
            }
            drop(p);
            if self.stop.load(Ordering::Relaxed) {
                // Neither shown nor dropped: counted with what is queued at the stop.
                self.display.lock().unwrap().discarded_at_stop += 1;
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The frame's picture, or `None` (counted) when it does not decode.
    fn decode(&self, frame: &ReceivedFrame) -> Option<Picture> {
        match decode(&frame.jpeg) {
            Ok((width, height, pixels)) => {
                let (width, height, pixels) = crop_padding(width, height, pixels, self.true_size);
                // first_frame_ms is PLAY to the first frame decoded; the playout delay that
                // follows (before it is shown) is a choice, not a cost.
                self.display
                    .lock()
                    .unwrap()
                    .first_decoded
                    .get_or_insert_with(Instant::now);
                let position = match self.clock {
                    Clock::Rtp90k => self.playhead.lock().unwrap().position(frame.rtp_timestamp),
                    Clock::Arrival => None,
                };
                Some(Picture {
                    width,
                    height,
                    pixels,
                    rtp_timestamp: frame.rtp_timestamp,
                    position,
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
        let (t0, ts0) = *self
            .anchor
            .get_or_insert((frame.arrival + self.delay, frame.rtp_timestamp));
        let offset = frame.rtp_timestamp.wrapping_sub(ts0) as i32 as f64 / 90_000.0;
        let due = if offset >= 0.0 {
            t0 + Duration::from_secs_f64(offset)
        } else {
            t0
        };
        // A jump the server made on its own (a loop, a new stream) re-anchors instead of
        // stalling; a PLAY of ours re-anchors in `admitted`.
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
        d.fps.shown(self.play_id.unwrap_or(0), now);
        d.latest = Some(Arc::new(picture));
        drop(d);
        self.playhead.lock().unwrap().shown();
    }
}

/// Crops a decoded picture to `true_size` when RFC 2435 padded it: the RTP/JPEG header carries
/// the size in 8-pixel blocks (RFC 2435 3.1.5, 3.1.6), so a 641x479 source arrives as 648x480
/// with the encoder's padding visible, and the SDP's `a=x-dimensions` says the real size. Only
/// that padding is cropped (each side within 8 pixels of the true size, never larger): a
/// picture of some other size is shown whole, as a stale or wrong SDP must not cut it.
pub fn crop_padding(
    width: usize,
    height: usize,
    pixels: Vec<u32>,
    true_size: Option<(usize, usize)>,
) -> (usize, usize, Vec<u32>) {
    let Some((w, h)) = true_size else {
        return (width, height, pixels);
    };
    let padded = |got: usize, want: usize| want > 0 && want <= got && got - want < 8;
    if (w, h) == (width, height)
        || !padded(width, w)
        || !padded(height, h)
        || pixels.len() != width * height
    {
        return (width, height, pixels);
    }
    let mut out = Vec::with_capacity(w * h);
    for row in pixels.chunks_exact(width).take(h) {
        out.extend_from_slice(&row[..w]);
    }
    (w, h, out)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: usize, h: usize) -> Vec<u32> {
        (0..w * h)
            .map(|i| ((i / w) << 16 | (i % w)) as u32)
            .collect()
    }

    #[test]
    fn rfc2435_padding_is_cropped_to_the_sdp_size() {
        let (w, h, p) = crop_padding(648, 480, picture(648, 480), Some((641, 479)));
        assert_eq!((w, h, p.len()), (641, 479, 641 * 479));
        // Row y, column x of the result is row y, column x of the padded picture.
        assert_eq!(p[0], 0);
        assert_eq!(p[640], 640);
        assert_eq!(p[641], 1 << 16);
        assert_eq!(p[478 * 641 + 640], (478 << 16) | 640);
        let (w, h, _) = crop_padding(24, 16, picture(24, 16), Some((17, 9)));
        assert_eq!((w, h), (17, 9));
    }

    #[test]
    fn other_sizes_are_shown_whole() {
        for true_size in [
            None,
            Some((648, 480)),
            Some((320, 240)), // not padding: a stale or wrong SDP
            Some((700, 480)), // larger than the picture
            Some((0, 480)),
            Some((641, 472)),
        ] {
            let (w, h, p) = crop_padding(648, 480, picture(648, 480), true_size);
            assert_eq!((w, h, p), (648, 480, picture(648, 480)), "{true_size:?}");
        }
    }
}
