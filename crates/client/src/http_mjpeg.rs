//! Motion-JPEG over HTTP: `client http://HOST:PORT/PATH` plays a `multipart/x-mixed-replace`
//! stream (our server's `/videos/NAME/mjpeg`, an IP camera's, ffmpeg's `-f mpjpeg`) through
//! the same player and statistics as RTSP. Parts are cut by their `Content-Length` where they
//! give one, else at the next boundary; each is shown as it arrives (there is no media clock).
//! A reader thread reads with a deadline and hands whole frames to the player over a bounded
//! queue; a frame the player has no room for is dropped and counted.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::player::{self, Display, Player, Recorder};
use crate::receiver::{ReceivedFrame, RxStats};
use crate::stats::Stats;
use crate::{ClientError, Options};

/// Frames the player may have queued before new ones are dropped.
const QUEUE: usize = 8;
/// Longest response head, and longest part head, read.
const MAX_HEAD: usize = 16 << 10;
/// How long the stream may stay silent before the reader gives up.
const SILENCE: Duration = Duration::from_secs(10);

/// A playing HTTP stream.
pub struct HttpStream {
    pub display: Arc<Mutex<Display>>,
    rx: Arc<Mutex<RxStats>>,
    ended: Arc<AtomicBool>,
    socket: TcpStream,
    reader: Option<JoinHandle<()>>,
    player: Option<Player>,
    requested: Instant,
}

/// `http://host[:port]/path` split: the address to connect to, and the host and path to ask.
pub fn parse_http_url(url: &str) -> Result<(SocketAddr, String, String), ClientError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Http(format!("{url:?} is no http:// URL")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_port = match authority.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => authority.to_string(),
        _ => format!("{authority}:80"),
    };
    let addr = crate::resolve(host_port)?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((addr, authority.to_string(), path.to_string()))
}

impl HttpStream {
    /// Sends the GET, checks the answer is a multipart stream, and starts reading and playing.
    pub fn open(opts: &Options) -> Result<HttpStream, ClientError> {
        let (addr, host, path) = parse_http_url(&opts.url)?;
        let mut socket = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|source| ClientError::Connect { addr, source })?;
        socket
            .set_read_timeout(Some(SILENCE))
            .map_err(ClientError::io("set read timeout"))?;
        let requested = Instant::now();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mjpeg-rtsp-client/{}\r\nAccept: multipart/x-mixed-replace, image/jpeg\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        socket
            .write_all(req.as_bytes())
            .map_err(ClientError::io("send the GET"))?;
        let mut raw = Vec::new();
        let (content_type, chunked) = read_head(&mut socket, &mut raw)?;
        let mut parts = Parts {
            socket: socket
                .try_clone()
                .map_err(ClientError::io("clone socket"))?,
            buf: Vec::new(),
            chunks: chunked.then(Dechunk::default),
            boundary: Vec::new(),
            max_frame: opts.max_frame,
        };
        match &mut parts.chunks {
            Some(c) => c.push(&raw, &mut parts.buf).map_err(ClientError::Http)?,
            None => parts.buf = raw,
        }
        parts.boundary = format!("--{}", boundary(&content_type, &mut parts)?).into_bytes();
        let display = Arc::new(Mutex::new(Display::default()));
        let rx = Arc::new(Mutex::new(RxStats::default()));
        let ended = Arc::new(AtomicBool::new(false));
        let (tx, frames) = sync_channel(QUEUE);
        let recorder = match &opts.record {
            Some(p) => Some(
                Recorder::create(p, opts.record_format)
                    .map_err(ClientError::io("create the recording"))?,
            ),
            None => None,
        };
        let player = player::spawn(
            frames,
            display.clone(),
            std::sync::Arc::default(),
            player::Clock::Arrival,
            Duration::ZERO,
            None,
        )
        .map_err(ClientError::io("start the player"))?;
        let (rx2, ended2) = (rx.clone(), ended.clone());
        let reader = std::thread::Builder::new()
            .name("http-reader".into())
            .spawn(move || read_parts(&mut parts, &tx, recorder, &rx2, &ended2))
            .map_err(ClientError::io("start the reader"))?;
        Ok(HttpStream {
            display,
            rx,
            ended,
            socket,
            reader: Some(reader),
            player: Some(player),
            requested,
        })
    }

    /// Whether the stream is over (the server ended it, or the connection failed).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Stops reading and playing, and gives the statistics.
    pub fn stop(mut self) -> Stats {
        let _ = self.socket.shutdown(Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.player.take();
        let rx = self.rx.lock().unwrap();
        let d = self.display.lock().unwrap();
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) if b > a => Some((b - a).as_secs_f64()),
            _ => None,
        };
        let (width, height) = d
            .latest
            .as_ref()
            .map_or((0, 0), |p| (p.width as u32, p.height as u32));
        Stats {
            frames_received: rx.frames_received,
            frames_decoded: d.frames_decoded,
            frames_dropped: rx.frames_dropped + d.decode_errors,
            frames_incomplete: rx.frames_incomplete,
            frames_discarded_at_stop: d.discarded_at_stop,
            packets_received: 0,
            packets_lost: 0,
            jitter_ms: None,
            kbps: span(rx.first_packet, rx.last_packet)
                .map_or(0.0, |s| rx.bytes() as f64 * 8.0 / 1000.0 / s),
            fps: d.fps.fps(),
            playing_seconds: d.fps.playing_seconds(),
            plays: 1,
            seeks: 0,
            scale: 1.0,
            position: None,
            frames_skipped_at_seek: 0,
            first_frame_ms: d
                .first_decoded
                .map(|f| (f - self.requested).as_secs_f64() * 1000.0),
            foreign_packets: 0,
            transport: "http".into(),
            fallback: None,
            dialect: "multipart".into(),
            width,
            height,
            error: None,
        }
    }
}

/// Reads the response head; gives its Content-Type and whether the body is chunked.
fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(String, bool), ClientError> {
    let end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > MAX_HEAD || !fill_raw(socket, buf) {
            return Err(ClientError::Http("no HTTP answer head".into()));
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(ClientError::Http(format!("the server answered {status:?}")));
    }
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    Ok((get("content-type").unwrap_or_default(), chunked))
}

/// The stream's boundary: from its Content-Type, or (some servers, ffmpeg's -listen among
/// them, say application/octet-stream) from a first line that is a delimiter, as ffmpeg's
/// own reader decides.
fn boundary(content_type: &str, parts: &mut Parts) -> Result<String, ClientError> {
    if let Some(b) = boundary_of(content_type) {
        return Ok(b);
    }
    while !parts.buf.contains(&b'\n') && parts.buf.len() < 256 && parts.fill() {}
    let first = parts.buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first).trim_end().to_string();
    match first.strip_prefix("--") {
        Some(b) if !b.is_empty() && b.len() <= 70 && !b.contains(' ') => Ok(b.to_string()),
        _ => Err(ClientError::Http(format!(
            "not a multipart stream: {content_type:?}"
        ))),
    }
}

/// The `boundary` parameter of a multipart media type (RFC 2046 5.1.1), quoted or not,
/// without the `--` some servers (wrongly) put in front.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| {
            let v = v.trim().trim_matches('"');
            v.strip_prefix("--").unwrap_or(v).to_string()
        })
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// More bytes from the socket; false at its end, an error, or a silence past its deadline.
fn fill_raw(socket: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16384];
    match socket.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// The parts of a multipart body as they arrive.
struct Parts {
    socket: TcpStream,
    /// The body, de-chunked, not yet cut into parts.
    buf: Vec<u8>,
    /// Set for a chunked body (RFC 7230 4.1: ffmpeg's server, nginx to HTTP/1.1 clients).
    chunks: Option<Dechunk>,
    /// `--` and the boundary.
    boundary: Vec<u8>,
    max_frame: usize,
}

impl Parts {
    /// More of the body; false at its end or on a broken chunk.
    fn fill(&mut self) -> bool {
        let Some(chunks) = &mut self.chunks else {
            return fill_raw(&mut self.socket, &mut self.buf);
        };
        let mut raw = Vec::new();
        if !fill_raw(&mut self.socket, &mut raw) {
            return false;
        }
        match chunks.push(&raw, &mut self.buf) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("Motion-JPEG over HTTP: {e}");
                false
            }
        }
    }

    /// The next part's body; `None` at the close delimiter or the end of the connection.
    fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            if let Some(start) = find(&self.buf, &self.boundary) {
                let after = start + self.boundary.len();
                if self.buf.len() >= after + 2 && &self.buf[after..after + 2] == b"--" {
                    return None;
                }
                if let Some(head_end) = find(&self.buf[after..], b"\r\n\r\n") {
                    return Some(self.body(after, after + head_end + 4));
                }
            }
            if self.buf.len() > self.max_frame + MAX_HEAD {
                return Some(Err(format!("no part boundary in {} bytes", self.buf.len())));
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The body of the part whose head is `buf[head..body]`.
    fn body(&mut self, head: usize, body: usize) -> Result<Vec<u8>, String> {
        let text = String::from_utf8_lossy(&self.buf[head..body]).into_owned();
        let length = text
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.trim().parse::<usize>());
        let len = match length {
            Some(Ok(n)) if n <= self.max_frame => n,
            Some(Ok(n)) => return Err(format!("a part of {n} bytes, over --max-frame-bytes")),
            Some(Err(_)) => return Err(format!("a part head with a bad Content-Length: {text:?}")),
            // No length: the part runs to the CRLF before the next delimiter.
            None => loop {
                if let Some(p) = find(&self.buf[body..], &self.boundary) {
                    break p.saturating_sub(2);
                }
                if self.buf.len() > body + self.max_frame || !self.fill() {
                    return Err("a part with no length and no end".into());
                }
            },
        };
        while self.buf.len() < body + len {
            if !self.fill() {
                return Err("the stream ended inside a part".into());
            }
        }
        let part = self.buf[body..body + len].to_vec();
        self.buf.drain(..body + len);
        Ok(part)
    }
}

/// A chunked body (RFC 7230 4.1) undone as it arrives: sizes in hex, extensions and
/// trailers skipped.
#[derive(Debug, Default)]
struct Dechunk {
    /// Bytes of the current chunk still to copy; `None` while reading a size line.
    left: Option<usize>,
    /// CRLF bytes still to skip after a chunk's data.
    crlf: u8,
    line: Vec<u8>,
    done: bool,
}

impl Dechunk {
    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() && !self.done {
            if self.crlf > 0 {
                self.crlf -= 1;
                input = &input[1..];
                continue;
            }
            match self.left {
                Some(n) => {
                    let take = n.min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    self.left = (n > take).then_some(n - take);
                    if self.left.is_none() {
                        self.crlf = 2;
                    }
                }
                None => {
                    let b = input[0];
                    input = &input[1..];
                    if b != b'\n' {
                        if self.line.len() > 64 {
                            return Err("a chunk size line over 64 bytes".into());
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = String::from_utf8_lossy(&self.line).into_owned();
                    self.line.clear();
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| format!("a bad chunk size {line:?}"))?;
                    match size {
                        0 => self.done = true,
                        n => self.left = Some(n),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The reader thread: parts to the recorder and the player, counted.
fn read_parts(
    parts: &mut Parts,
    tx: &SyncSender<ReceivedFrame>,
    mut recorder: Option<Recorder>,
    rx: &Mutex<RxStats>,
    ended: &AtomicBool,
) {
    while let Some(part) = parts.next() {
        let jpeg = match part {
            Ok(j) => j,
            Err(why) => {
                log::warn!("Motion-JPEG over HTTP: {why}");
                rx.lock().unwrap().frames_incomplete += 1;
                rx.lock().unwrap().frames_dropped += 1;
                break;
            }
        };
        let now = Instant::now();
        {
            let mut s = rx.lock().unwrap();
            s.frames_received += 1;
            // No RTP here: every byte counts as from an earlier source.
            s.earlier_bytes += jpeg.len() as u64;
            s.first_packet.get_or_insert(now);
            s.last_packet = Some(now);
        }
        if let Some(r) = &mut recorder {
            if let Err(e) = r.write(&jpeg) {
                log::warn!("recording: {e}");
            }
        }
        let frame = ReceivedFrame {
            jpeg,
            rtp_timestamp: 0,
            seq: 0,
            arrival: now,
        };
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let mut s = rx.lock().unwrap();
                s.frames_dropped += 1;
                s.frames_dropped_by_player += 1;
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
    if let Some(r) = &mut recorder {
        let _ = r.flush();
    }
    ended.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_as_servers_write_them() {
        let b = |t: &str| boundary_of(t);
        assert_eq!(
            b("multipart/x-mixed-replace; boundary=mjpegframe").as_deref(),
            Some("mjpegframe")
        );
        assert_eq!(
            b("multipart/x-mixed-replace;boundary=\"--myboundary\"").as_deref(),
            Some("myboundary")
        );
        assert_eq!(b("image/jpeg"), None);
        assert_eq!(b("multipart/x-mixed-replace"), None);
    }

    #[test]
    fn chunked_bodies_come_apart_in_pieces_of_any_size() {
        let body = b"a\r\n--ffmpeg\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n";
        for size in [1, 2, 3, 7, body.len()] {
            let (mut d, mut out) = (Dechunk::default(), Vec::new());
            for piece in body.chunks(size) {
                d.push(piece, &mut out).unwrap();
            }
            assert_eq!(out, b"--ffmpeg\r\nhello", "pieces of {size}");
            assert!(d.done);
        }
        assert!(Dechunk::default().push(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn http_urls() {
        let (a, host, path) = parse_http_url("http://127.0.0.1:8080/videos/v.mjpeg/mjpeg").unwrap();
        assert_eq!(
            (a.port(), host.as_str(), path.as_str()),
            (8080, "127.0.0.1:8080", "/videos/v.mjpeg/mjpeg")
        );
        let (a, _, path) = parse_http_url("http://127.0.0.1").unwrap();
        assert_eq!((a.port(), path.as_str()), (80, "/"));
        assert!(parse_http_url("rtsp://x/y").is_err());
    }
}
