//! Recording a live path (`--record-dir`): a subscriber that queues each shared frame for a
//! writer thread of its own, which writes the frames as received (plain concatenated JPEG,
//! the `.mjpeg` form ffmpeg's `-f mjpeg` writes and the server plays) to
//! `DIR/NAME-TIMESTAMP.mjpeg`, a new file every `--record-segment`.
//!
//! The queue is bounded and never waited on: a disk slower than the stream costs whole
//! frames, counted, never the publisher's time. A file is written under a hidden temporary
//! name (`.NAME-TIMESTAMP.mjpeg.part`, which the catalog does not serve) and renamed when it
//! is finished, so a half-written recording is never played. The record directory lies
//! inside `--videos` ([`check_dir`]), so the recordings are served like any other video.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::path::Subscriber;
use super::LiveFrame;

/// Frames a recorder queues for its writer: a second or two of video at camera rates.
pub const QUEUE_FRAMES: usize = 64;

/// Most recordings [`finished`] lists: the newest. A directory may hold months of them, and
/// a list is read at every page view.
pub const LISTED: usize = 100;

/// A finished recording, as the web page and `/api/videos` list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Its path under the videos directory (`rec/cam-20261202T132556Z.mjpeg`): its URLs' name.
    pub name: String,
    pub bytes: u64,
}

/// The finished recordings of `dir` (inside `videos`), newest first, at most [`LISTED`]; the
/// ones being written (hidden `.part` files) are not listed. Read from the directory, not
/// prepared: listing a recording costs no memory.
pub fn finished(videos: &Path, dir: &Path) -> Vec<Recording> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(SystemTime, Recording)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let meta = e.metadata().ok()?;
            let path = e.path();
            let file_name = path.file_name()?.to_str()?;
            let listed = meta.is_file() && !file_name.starts_with('.');
            (listed && crate::catalog::is_media_name(&path)).then(|| {
                let when = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let name = crate::catalog::name_in(videos, &path);
                (
                    when,
                    Recording {
                        name,
                        bytes: meta.len(),
                    },
                )
            })
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.name.cmp(&a.1.name)));
    found.truncate(LISTED);
    found.into_iter().map(|(_, r)| r).collect()
}

/// Where and how paths are recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSettings {
    /// The directory the recordings go to (inside the videos directory).
    pub dir: PathBuf,
    /// A recording is closed and a new one started after this long.
    pub segment: Duration,
}

/// The record directory `dir`, created if missing, as it lies inside `videos` (so the
/// catalog serves what is recorded); an error saying so when it does not.
pub fn check_dir(videos: &Path, dir: &Path) -> io::Result<PathBuf> {
    let existed = dir.exists();
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("--record-dir {}: {e}", dir.display())))?;
    let (videos_full, dir_full) = (videos.canonicalize()?, dir.canonicalize()?);
    if !dir_full.starts_with(&videos_full) {
        if !existed {
            // Refused: no empty directory left behind.
            let _ = std::fs::remove_dir(dir);
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--record-dir {} is not inside --videos {}: recordings would not be served",
                dir.display(),
                videos.display()
            ),
        ));
    }
    Ok(dir_full)
}

/// One path's recorder, as its subscriber.
pub struct Recorder {
    /// `None` once the path ended: the writer finishes its file when the queue is drained.
    queue: Mutex<Option<SyncSender<Arc<LiveFrame>>>>,
    /// Frames not recorded: the queue was full, or the writer could not write them.
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// A recorder of path `name` writing under `settings`, its writer thread started.
    pub fn start(settings: &RecordSettings, name: &str) -> io::Result<Arc<Recorder>> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_FRAMES);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            settings: settings.clone(),
            name: name.to_string(),
            current: None,
            failed: None,
            dropped: dropped.clone(),
        };
        std::thread::Builder::new()
            .name("live-record".into())
            .spawn(move || writer.run(rx))?;
        Ok(Arc::new(Recorder {
            queue: Mutex::new(Some(tx)),
            dropped,
        }))
    }
}

impl Subscriber for Recorder {
    fn deliver(&self, frame: &Arc<LiveFrame>) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = queue.as_ref() else {
            return;
        };
        match tx.try_send(frame.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => drop(self.dropped.fetch_add(1, Ordering::Relaxed)),
            // The writer gave up (it logged why): every frame from now on is lost.
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn end(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn kind(&self) -> &'static str {
        "record"
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A recording being written.
struct Segment {
    file: BufWriter<File>,
    partial: PathBuf,
    done: PathBuf,
    started: Instant,
    frames: u64,
    /// Bytes of the whole frames written: where a failed write is cut back to.
    bytes: u64,
}

/// The writer thread's state: the file being written, rolled every segment.
struct Writer {
    settings: RecordSettings,
    name: String,
    current: Option<Segment>,
    /// When a file last could not be made: the next try waits a segment, so a full disk
    /// or a missing directory costs a log line a segment, not one a frame.
    failed: Option<Instant>,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    /// Writes every queued frame until the recorder ends, closing a file when its segment
    /// time is up (even when no frame comes: a paused or waiting path's file is finished).
    fn run(&mut self, rx: Receiver<Arc<LiveFrame>>) {
        loop {
            let wait = match &self.current {
                Some(s) => {
                    (s.started + self.settings.segment).saturating_duration_since(Instant::now())
                }
                None => Duration::from_secs(3600),
            };
            match rx.recv_timeout(wait) {
                Ok(frame) => self.write(&frame),
                Err(RecvTimeoutError::Timeout) => {
                    if self
                        .current
                        .as_ref()
                        .is_some_and(|s| s.started.elapsed() >= self.settings.segment)
                    {
                        self.finish();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.finish();
    }

    fn write(&mut self, frame: &LiveFrame) {
        if self.current.as_ref().is_some_and(|s| {
            frame.received.saturating_duration_since(s.started) >= self.settings.segment
        }) {
            self.finish();
        }
        let segment = self.settings.segment;
        if self.failed.is_some_and(|at| frame.received < at + segment) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.current.is_none() {
            match self.open(frame.received) {
                Ok(s) => self.current = Some(s),
                Err(e) => {
                    self.failed = Some(frame.received);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return log::warn!("live/{}: cannot record: {e}", self.name);
                }
            }
        }
        let s = self.current.as_mut().expect("opened above");
        match s.file.write_all(&frame.jpeg) {
            Ok(()) => {
                s.frames += 1;
                s.bytes += frame.jpeg.len() as u64;
            }
            Err(e) => {
                log::warn!("live/{}: recording {}: {e}", self.name, s.partial.display());
                self.failed = Some(frame.received);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                self.cut_back();
            }
        }
    }

    /// A new file, named for the wall-clock time now, under its temporary name.
    fn open(&self, started: Instant) -> io::Result<Segment> {
        let stamp = utc_stamp(SystemTime::now());
        let dir = &self.settings.dir;
        let mut n = 1;
        let done = loop {
            let name = match n {
                1 => format!("{}-{stamp}.mjpeg", self.name),
                // `_` sorts after `.`: the names of one second sort as they were made.
                n => format!("{}-{stamp}_{n}.mjpeg", self.name),
            };
            let partial = dir.join(format!(".{name}.part"));
            if !dir.join(&name).exists() && !partial.exists() {
                break name;
            }
            n += 1;
        };
        let partial = dir.join(format!(".{done}.part"));
        let file = File::create(&partial)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", partial.display())))?;
        log::info!(
            "live/{}: recording to {}",
            self.name,
            dir.join(&done).display()
        );
        Ok(Segment {
            file: BufWriter::with_capacity(1 << 20, file),
            partial,
            done: dir.join(done),
            started,
            frames: 0,
            bytes: 0,
        })
    }

    /// After a failed write: the file being written loses what there is of the frame that
    /// failed (none of it is flushed later) and is finished with the whole frames before it,
    /// a recording that ends early rather than a broken one.
    fn cut_back(&mut self) {
        let Some(s) = self.current.take() else {
            return;
        };
        let (file, _unwritten) = s.file.into_parts();
        match file.set_len(s.bytes) {
            Ok(()) => {
                self.current = Some(Segment {
                    file: BufWriter::new(file),
                    ..s
                });
                self.finish();
            }
            Err(e) => {
                log::warn!("live/{}: {}: {e}", self.name, s.partial.display());
                let _ = std::fs::remove_file(&s.partial);
            }
        }
    }

    /// Flushes and renames the file being written, if any: from now on it is served.
    fn finish(&mut self) {
        let Some(mut s) = self.current.take() else {
            return;
        };
        let flushed = s.file.flush().and_then(|()| s.file.get_ref().sync_data());
        drop(s.file);
        let result = flushed.and_then(|()| std::fs::rename(&s.partial, &s.done));
        match result {
            Ok(()) => log::info!(
                "live/{}: recorded {} frames to {}",
                self.name,
                s.frames,
                s.done.display()
            ),
            Err(e) => {
                log::warn!("live/{}: finishing {}: {e}", self.name, s.done.display());
                let _ = std::fs::remove_file(&s.partial);
            }
        }
    }
}

/// `YYYYMMDDTHHMMSSZ`: the UTC time `t`, as file names sort.
pub fn utc_stamp(t: SystemTime) -> String {
    let u = super::UtcTime::of(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        u.year, u.month, u.day, u.hour, u.minute, u.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn finished_lists_recordings_newest_first_without_the_one_being_written() {
        let videos = std::env::temp_dir().join(format!("record-list-{}", std::process::id()));
        let dir = videos.join("rec");
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8], age: u64| {
            std::fs::write(dir.join(name), bytes).unwrap();
            let when = SystemTime::now() - Duration::from_secs(age);
            File::options()
                .write(true)
                .open(dir.join(name))
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        write("cam-20261202T100000Z.mjpeg", b"old", 60);
        write("cam-20261202T100100Z.mjpeg", b"newer", 0);
        write(".cam-20261202T100200Z.mjpeg.part", b"being written", 0);
        write("notes.txt", b"not a video", 0);
        let videos = videos.canonicalize().unwrap();
        let got = finished(&videos, &videos.join("rec"));
        let want = [
            ("rec/cam-20261202T100100Z.mjpeg", 5),
            ("rec/cam-20261202T100000Z.mjpeg", 3),
        ];
        let want: Vec<Recording> = want
            .iter()
            .map(|(n, b)| Recording {
                name: n.to_string(),
                bytes: *b,
            })
            .collect();
        assert_eq!(got, want);
        assert!(finished(&videos, &videos.join("missing")).is_empty());
        let _ = std::fs::remove_dir_all(&videos);
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        let at = |s: u64| utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101T000000Z");
        assert_eq!(at(951_782_400), "20000229T000000Z");
        assert_eq!(at(1_700_000_000), "20231114T221320Z");
        assert_eq!(at(4_102_444_799), "20991231T235959Z");
    }

    /// The finished recordings in `dir` (sorted), and how many are being written.
    fn recordings(dir: &Path) -> (Vec<String>, usize) {
        let entries = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name());
        let (partial, mut done): (Vec<String>, Vec<String>) = entries
            .map(|n| n.to_string_lossy().into_owned())
            .partition(|n| n.starts_with('.') && n.ends_with(".part"));
        done.sort();
        (done, partial.len())
    }

    #[test]
    fn frames_are_written_as_received_and_files_roll_and_are_renamed_when_done() {
        let dir = std::env::temp_dir().join(format!("record-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let settings = RecordSettings {
            dir: dir.clone(),
            segment: Duration::from_secs(60),
        };
        let recorder = Recorder::start(&settings, "cam").unwrap();
        let start = Instant::now();
        let frame = |bytes: &[u8], at: u64| {
            let mut f = LiveFrame::for_tests(bytes, 0);
            f.received = start + Duration::from_secs(at);
            Arc::new(f)
        };
        recorder.deliver(&frame(b"one", 0));
        recorder.deliver(&frame(b"two", 30));
        // A minute after the first frame: a new file.
        recorder.deliver(&frame(b"three", 61));
        // While the writer works, the finished file is there and the open one is hidden.
        assert!(wait(
            || recordings(&dir).0.len() == 1 && recordings(&dir).1 == 1
        ));
        recorder.end();
        recorder.deliver(&frame(b"late", 62));
        assert!(wait(|| recordings(&dir).1 == 0));
        let names = recordings(&dir).0;
        assert_eq!(names.len(), 2, "{names:?}");
        let stamp = |n: &str| n.starts_with("cam-") && n.ends_with(".mjpeg");
        assert!(names.iter().all(|n| stamp(n)), "{names:?}");
        let contents: Vec<Vec<u8>> = names
            .iter()
            .map(|n| std::fs::read(dir.join(n)).unwrap())
            .collect();
        assert_eq!(contents, [b"onetwo".to_vec(), b"three".to_vec()]);
        assert_eq!(recorder.dropped(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn wait(mut cond: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        cond()
    }

    #[test]
    fn a_record_dir_outside_the_videos_is_refused() {
        let base = std::env::temp_dir().join(format!("record-dir-{}", std::process::id()));
        let videos = base.join("videos");
        std::fs::create_dir_all(&videos).unwrap();
        assert!(check_dir(&videos, &videos.join("rec")).is_ok());
        let e = check_dir(&videos, &base.join("elsewhere")).unwrap_err();
        assert!(e.to_string().contains("not inside --videos"), "{e}");
        assert!(
            !base.join("elsewhere").exists(),
            "nothing made where it was refused"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
