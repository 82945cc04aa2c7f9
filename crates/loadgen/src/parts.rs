//! Reading a Motion-JPEG HTTP stream (`multipart/x-mixed-replace`, RFC 2046 5.1) cheaply, and
//! telling which frame of the file each part is.
//!
//! A part's body is skipped by its Content-Length without being copied (the receiving loop
//! discards those bytes in the kernel, `MSG_TRUNC`): only the response head, each part's
//! head and the last [`TAIL`] bytes of each JPEG are read. A frame is known by its length and
//! those last bytes ([`FrameBook`]), so a viewer's frames can be placed on its frame clock: a
//! frame the server dropped shows as a gap in the file's order, not as lateness.

use std::collections::HashMap;
use std::path::Path;

/// How many bytes at the end of each JPEG are read to know the frame (with its length).
pub const TAIL: usize = 16;

/// A response or part head longer than this is not a Motion-JPEG stream.
const MAX_HEAD: usize = 4096;

/// The last [`TAIL`] bytes of `jpeg`, zero-padded at the end when it is shorter.
pub fn tail_of(jpeg: &[u8]) -> [u8; TAIL] {
    let mut t = [0u8; TAIL];
    let start = jpeg.len().saturating_sub(TAIL);
    t[..jpeg.len() - start].copy_from_slice(&jpeg[start..]);
    t
}

/// The frames of a file, by length and last bytes.
pub struct FrameBook {
    keys: HashMap<(usize, [u8; TAIL]), Vec<u32>>,
    /// Each frame's JPEG, in the file's order: what the server puts in each part.
    pub jpegs: Vec<Vec<u8>>,
}

impl FrameBook {
    /// The frames of `path` as the server serves them over HTTP: the file's own JPEGs, as its
    /// media preparation indexes them.
    pub fn load(path: &Path) -> anyhow::Result<FrameBook> {
        let media = server::media::PreparedMedia::prepare(path, 64 << 20)?;
        let jpegs = media
            .frames
            .iter()
            .map(|f| media.data[f.jpeg.clone()].to_vec())
            .collect();
        Ok(FrameBook::new(jpegs))
    }

    /// A book of these frames.
    pub fn new(jpegs: Vec<Vec<u8>>) -> FrameBook {
        let mut keys: HashMap<(usize, [u8; TAIL]), Vec<u32>> = HashMap::new();
        for (i, j) in jpegs.iter().enumerate() {
            keys.entry((j.len(), tail_of(j)))
                .or_default()
                .push(i as u32);
        }
        FrameBook { keys, jpegs }
    }

    /// Frames in the file.
    pub fn len(&self) -> usize {
        self.jpegs.len()
    }

    /// Which frame a part of `len` bytes ending in `tail` is: of the frames that look so, the
    /// first at or after `next` in the file's (looping) order; `None` for a part that is no
    /// frame of the file.
    pub fn identify(&self, len: usize, tail: &[u8; TAIL], next: Option<u32>) -> Option<u32> {
        let candidates = self.keys.get(&(len, *tail))?;
        let n = self.jpegs.len() as u32;
        match next {
            None => candidates.first().copied(),
            Some(x) => candidates
                .iter()
                .copied()
                .min_by_key(|&i| (i + n - x % n) % n),
        }
    }
}

/// What the reader needs next from the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// This many body bytes that nobody looks at: discard them.
    Discard(usize),
    /// Bytes to look at (a head, or a JPEG's last bytes and what follows).
    Read,
}

/// Why a stream could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    #[error("answered {0:?}")]
    Status(String),
    #[error("a part without Content-Length")]
    NoLength,
    #[error("a head over {MAX_HEAD} bytes")]
    HeadTooLong,
}

#[derive(Debug, Default)]
enum State {
    /// Reading the response head, or a part's delimiter and headers.
    #[default]
    Head,
    /// `pos` of `len` body bytes consumed.
    Body { len: usize, pos: usize },
}

/// One viewer's stream, parsed as its bytes arrive.
#[derive(Debug, Default)]
pub struct PartReader {
    state: State,
    head: Vec<u8>,
    tail: [u8; TAIL],
    responded: bool,
}

impl PartReader {
    /// What to do with the next bytes of the socket.
    pub fn want(&self) -> Want {
        match self.state {
            State::Body { len, pos } if pos + TAIL < len => Want::Discard(len - TAIL - pos),
            _ => Want::Read,
        }
    }

    /// `n` bytes of a [`Want::Discard`] were discarded.
    pub fn skipped(&mut self, n: usize) {
        if let State::Body { pos, .. } = &mut self.state {
            *pos += n;
        }
    }

    /// Takes the next bytes of the stream; `frame` is called with each part's length and last
    /// bytes as the part completes.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut frame: impl FnMut(usize, &[u8; TAIL]),
    ) -> Result<(), StreamError> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Head => {
                    if self.head.is_empty() {
                        // The CRLF that ends a body belongs to the next delimiter (5.1.1).
                        let crlf = bytes
                            .iter()
                            .take_while(|&&b| b == b'\r' || b == b'\n')
                            .count();
                        bytes = &bytes[crlf..];
                        if bytes.is_empty() {
                            break;
                        }
                    }
                    let old = self.head.len();
                    self.head.extend_from_slice(bytes);
                    let from = old.saturating_sub(3);
                    match find(&self.head[from..], b"\r\n\r\n") {
                        None => {
                            if self.head.len() > MAX_HEAD {
                                return Err(StreamError::HeadTooLong);
                            }
                            bytes = &[];
                        }
                        Some(at) => {
                            let end = from + at;
                            bytes = &bytes[end + 4 - old..];
                            let head = std::mem::take(&mut self.head);
                            self.head_done(&head[..end])?;
                            if let State::Body { len: 0, .. } = self.state {
                                frame(0, &[0; TAIL]);
                                self.state = State::Head;
                            }
                        }
                    }
                }
                State::Body { len, pos } => {
                    let take = (*len - *pos).min(bytes.len());
                    let tail_start = len.saturating_sub(TAIL);
                    for p in (*pos).max(tail_start)..*pos + take {
                        self.tail[p - tail_start] = bytes[p - *pos];
                    }
                    *pos += take;
                    bytes = &bytes[take..];
                    if *pos == *len {
                        frame(*len, &self.tail);
                        self.tail = [0; TAIL];
                        self.state = State::Head;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole head (without its blank line): the response's, then each part's.
    fn head_done(&mut self, head: &[u8]) -> Result<(), StreamError> {
        let text = String::from_utf8_lossy(head);
        if !self.responded {
            let status = text.lines().next().unwrap_or("");
            let mut words = status.split_whitespace();
            let ok = words.next().is_some_and(|v| v.starts_with("HTTP/1."))
                && words.next() == Some("200");
            if !ok {
                return Err(StreamError::Status(status.to_string()));
            }
            self.responded = true;
            return Ok(());
        }
        let len = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or(StreamError::NoLength)?;
        self.state = State::Body { len, pos: 0 };
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(jpeg: &[u8]) -> Vec<u8> {
        let head = format!(
            "--mjpegframe\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        );
        [head.as_bytes(), jpeg, b"\r\n"].concat()
    }

    /// Reads `stream` the way the receiving loop does, `chunk` bytes per read at most,
    /// discarding what the reader does not want to see.
    fn read_all(stream: &[u8], chunk: usize) -> Result<Vec<(usize, [u8; TAIL])>, StreamError> {
        let mut r = PartReader::default();
        let mut frames = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            match r.want() {
                Want::Discard(n) => {
                    let n = n.min(stream.len() - at);
                    r.skipped(n);
                    at += n;
                }
                Want::Read => {
                    let end = (at + chunk).min(stream.len());
                    r.feed(&stream[at..end], |len, tail| frames.push((len, *tail)))?;
                    at = end;
                }
            }
        }
        Ok(frames)
    }

    #[test]
    fn parts_are_found_by_length_whatever_the_reads_and_their_tails_kept() {
        let jpegs: Vec<Vec<u8>> = (0..5u8)
            .map(|i| (0..1000 + 37 * i as usize).map(|b| (b as u8) ^ i).collect())
            .collect();
        let mut stream =
            b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=mjpegframe\r\n\r\n"
                .to_vec();
        for j in &jpegs {
            stream.extend(part(j));
        }
        stream.extend(part(b"tiny"));
        for chunk in [1, 7, 64, 512, 1 << 16] {
            let frames = read_all(&stream, chunk).unwrap();
            assert_eq!(frames.len(), 6, "chunk {chunk}");
            for (f, j) in frames.iter().zip(&jpegs) {
                assert_eq!(*f, (j.len(), tail_of(j)), "chunk {chunk}");
            }
            assert_eq!(frames[5], (4, tail_of(b"tiny")));
        }
    }

    #[test]
    fn an_error_status_or_a_part_without_length_is_an_error() {
        let busy = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n";
        assert_eq!(
            read_all(busy, 512),
            Err(StreamError::Status(
                "HTTP/1.1 503 Service Unavailable".into()
            ))
        );
        let no_length =
            b"HTTP/1.1 200 OK\r\n\r\n--mjpegframe\r\nContent-Type: image/jpeg\r\n\r\nxx";
        assert_eq!(read_all(no_length, 512), Err(StreamError::NoLength));
    }

    #[test]
    fn a_frame_is_known_by_length_and_tail_and_twins_by_the_order() {
        let a = vec![1u8; 100];
        let b = vec![2u8; 100];
        let book = FrameBook::new(vec![a.clone(), b.clone(), a.clone(), b.clone()]);
        assert_eq!(book.identify(100, &tail_of(&b), None), Some(1));
        // Frame 2 looks like frame 0: after frame 1, it is frame 2.
        assert_eq!(book.identify(100, &tail_of(&a), Some(2)), Some(2));
        assert_eq!(book.identify(100, &tail_of(&a), Some(3)), Some(0));
        assert_eq!(book.identify(99, &tail_of(&a), Some(3)), None);
    }
}
