//! `loadgen hls`: N players each reading a whole HLS ladder over HTTP/1.1: the multivariant
//! playlist, every media playlist, and each rendition's init segment and media segments, in
//! order, on one kept-alive connection per player (a new one only when the server closes it).
//! Every read is bounded: a deadline per request, a cap on head and body sizes; a 503 (a
//! segment still being encoded) is asked again after a pause, within the deadline. Reports
//! bytes, segments, errors, 503s waited out, requests a second and request latency (p50,
//! p99), from the request's first byte written to its body's last byte read.
//!
//! Players start together (a barrier), so an edge in front of the origin sees the
//! concurrent misses a cold start makes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// Largest response head accepted.
const MAX_HEAD: usize = 16 << 10;
/// Largest body accepted (a 1080p segment of a few seconds is some MB).
const MAX_BODY: usize = 64 << 20;
/// How long a player waits before asking again after a 503 (the origin's Retry-After is 2 s,
/// but the encode it waits for usually ends sooner).
const BUSY_PAUSE: Duration = Duration::from_millis(250);

/// What `loadgen hls` runs.
pub struct HlsPlan<'a> {
    /// http://HOST:PORT/videos/NAME/hls/index.m3u8
    pub url: &'a str,
    pub players: usize,
    /// Times each player reads the whole ladder.
    pub rounds: usize,
    /// Deadline of one request.
    pub timeout: Duration,
    /// Check that every media segment starts with a `styp` or `moof` box.
    pub check: bool,
}

/// One player's tally.
#[derive(Default)]
struct Tally {
    requests: u64,
    bytes: u64,
    segments: u64,
    errors: u64,
    /// 503 answers waited out.
    busy: u64,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

/// The summary [`run`] prints (and returns, for tests of the report).
#[derive(Debug, Clone, PartialEq)]
pub struct HlsReport {
    pub players: usize,
    pub requests: u64,
    pub bytes: u64,
    pub segments: u64,
    pub errors: u64,
    pub busy: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl HlsReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
}

/// Runs the players and prints one line of `key=value` figures.
pub fn hls(plan: &HlsPlan<'_>) -> anyhow::Result<()> {
    let r = run(plan)?;
    println!(
        "hls players={} requests={} segments={} bytes={} errors={} busy={} seconds={:.3} req_per_s={:.1} p50_ms={:.2} p99_ms={:.2}",
        r.players,
        r.requests,
        r.segments,
        r.bytes,
        r.errors,
        r.busy,
        r.seconds,
        r.requests_per_second(),
        r.p50_ms,
        r.p99_ms
    );
    anyhow::ensure!(r.errors == 0, "{} requests failed", r.errors);
    Ok(())
}

/// Runs the players; the report sums them.
pub fn run(plan: &HlsPlan<'_>) -> anyhow::Result<HlsReport> {
    let (addr, host, path) = split_url(plan.url)?;
    let barrier = Arc::new(Barrier::new(plan.players + 1));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for _ in 0..plan.players {
        let (barrier, host, path) = (barrier.clone(), host.clone(), path.clone());
        let (timeout, rounds, check) = (plan.timeout, plan.rounds, plan.check);
        let errors = errors.clone();
        threads.push(
            std::thread::Builder::new()
                .name("hls-player".into())
                .stack_size(256 << 10)
                .spawn(move || {
                    let mut player = Player::new(addr, host, timeout);
                    barrier.wait();
                    for _ in 0..rounds {
                        player.ladder(&path, check);
                    }
                    if let Some(e) = player.tally.first_error.take() {
                        errors.lock().unwrap().push(e);
                    }
                    player.tally
                })?,
        );
    }
    barrier.wait();
    let started = Instant::now();
    let tallies: Vec<Tally> = threads
        .into_iter()
        .map(|t| t.join().map_err(|_| anyhow!("a player panicked")))
        .collect::<anyhow::Result<_>>()?;
    let seconds = started.elapsed().as_secs_f64();
    for e in errors.lock().unwrap().iter().take(5) {
        eprintln!("loadgen hls: {e}");
    }
    let mut latencies: Vec<Duration> = tallies.iter().flat_map(|t| t.latencies.clone()).collect();
    latencies.sort();
    let quantile = |q: f64| -> f64 {
        match latencies.len() {
            0 => 0.0,
            n => latencies[((n as f64 * q).ceil() as usize).clamp(1, n) - 1].as_secs_f64() * 1e3,
        }
    };
    Ok(HlsReport {
        players: plan.players,
        requests: tallies.iter().map(|t| t.requests).sum(),
        bytes: tallies.iter().map(|t| t.bytes).sum(),
        segments: tallies.iter().map(|t| t.segments).sum(),
        errors: tallies.iter().map(|t| t.errors).sum(),
        busy: tallies.iter().map(|t| t.busy).sum(),
        seconds,
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
    })
}

/// `http://HOST[:PORT]/PATH` as an address, the Host header and the path.
fn split_url(url: &str) -> anyhow::Result<(SocketAddr, String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url}: not an http:// URL"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = match host.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => host.to_string(),
        _ => format!("{host}:80"),
    };
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host}: no address"))?;
    Ok((addr, host.to_string(), path.to_string()))
}

/// `reference` (a playlist's URI line) against the playlist at `base` (a path).
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with('/') {
        return reference.to_string();
    }
    let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    let mut parts: Vec<&str> = dir.split('/').collect();
    parts.pop(); // the empty piece after the last '/'
    for piece in reference.split('/') {
        match piece {
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            "." => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The URI lines of a playlist (every line that is not a tag or blank), and the `URI` of its
/// `#EXT-X-MAP`, if any.
pub fn playlist_uris(text: &str) -> (Option<String>, Vec<String>) {
    let mut map = None;
    let mut uris = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
            map = attrs
                .split(',')
                .find_map(|a| a.trim().strip_prefix("URI="))
                .map(|v| v.trim_matches('"').to_string());
        } else if !line.is_empty() && !line.starts_with('#') {
            uris.push(line.to_string());
        }
    }
    (map, uris)
}

/// One player: a kept-alive connection and its tally.
struct Player {
    addr: SocketAddr,
    host: String,
    timeout: Duration,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
    tally: Tally,
}

impl Player {
    fn new(addr: SocketAddr, host: String, timeout: Duration) -> Player {
        Player {
            addr,
            host,
            timeout,
            conn: None,
            buf: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Reads the whole ladder under the multivariant playlist at `path`; failures are counted,
    /// and a failed playlist skips what it lists.
    fn ladder(&mut self, path: &str, check: bool) {
        let Some(multi) = self.fetch_counted(path) else {
            return;
        };
        let (_, variants) = playlist_uris(&String::from_utf8_lossy(&multi));
        for v in variants {
            let media_path = resolve(path, &v);
            let Some(media) = self.fetch_counted(&media_path) else {
                continue;
            };
            let (map, segments) = playlist_uris(&String::from_utf8_lossy(&media));
            if let Some(init) = map {
                self.fetch_counted(&resolve(&media_path, &init));
            }
            for s in segments {
                let Some(body) = self.fetch_counted(&resolve(&media_path, &s)) else {
                    continue;
                };
                if check && !starts_with_box(&body) {
                    self.fail(format!("{s}: no styp/moof box at the start"));
                    continue;
                }
                self.tally.segments += 1;
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.tally.errors += 1;
        self.tally.first_error.get_or_insert(why);
    }

    /// GET `path`, counted: the body of a 200, or `None` (an error counted).
    fn fetch_counted(&mut self, path: &str) -> Option<Vec<u8>> {
        let started = Instant::now();
        self.tally.requests += 1;
        match self.get(path) {
            Ok(body) => {
                self.tally.latencies.push(started.elapsed());
                self.tally.bytes += body.len() as u64;
                Some(body)
            }
            Err(e) => {
                self.conn = None;
                self.fail(format!("GET {path}: {e:#}"));
                None
            }
        }
    }

    /// One GET on the kept-alive connection (a fresh one if the kept one turns out closed
    /// before any byte of the answer came), asked again after a pause while the answer is
    /// 503 (a segment still being encoded), as players do, until the request's deadline.
    fn get(&mut self, path: &str) -> anyhow::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut reconnected = false;
        loop {
            let fresh = self.conn.is_none();
            if fresh {
                let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
                s.set_nodelay(true)?;
                self.conn = Some(s);
                self.buf.clear();
            }
            let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
            let sent = self.conn.as_mut().unwrap().write_all(req.as_bytes());
            let answer = match sent {
                Ok(()) => self.response(deadline),
                Err(e) => Err(Answer::Closed(e.to_string())),
            };
            match answer {
                Ok(body) => return Ok(body),
                // A kept-alive connection the server closed in between: once more, fresh.
                Err(Answer::Closed(_)) if !fresh && !reconnected => {
                    reconnected = true;
                    self.conn = None;
                }
                Err(Answer::Closed(e)) => bail!("connection closed: {e}"),
                Err(Answer::Busy) if Instant::now() + BUSY_PAUSE < deadline => {
                    self.tally.busy += 1;
                    std::thread::sleep(BUSY_PAUSE);
                }
                Err(Answer::Busy) => bail!("503 until the deadline ({:?})", self.timeout),
                Err(Answer::Bad(e)) => return Err(e),
            }
        }
    }

    /// Reads one response: the body of a 200 with Content-Length.
    fn response(&mut self, deadline: Instant) -> Result<Vec<u8>, Answer> {
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Answer::Bad(anyhow!("a head over {MAX_HEAD} bytes")));
            }
            let empty = self.buf.is_empty();
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) if empty => return Err(Answer::Closed("before the answer".into())),
                Ok(false) => return Err(Answer::Bad(anyhow!("closed inside the head"))),
                Err(e) => return Err(Answer::Bad(e)),
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Answer::Bad(anyhow!("no status line")))?;
        let mut length = None;
        let mut close = false;
        for l in lines {
            if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                } else if n.eq_ignore_ascii_case("connection") {
                    close = v.trim().eq_ignore_ascii_case("close");
                } else if n.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(Answer::Bad(anyhow!("chunked answers are not read")));
                }
            }
        }
        let len = length.ok_or_else(|| Answer::Bad(anyhow!("{status} without Content-Length")))?;
        if len > MAX_BODY {
            return Err(Answer::Bad(anyhow!("a body of {len} bytes")));
        }
        while self.buf.len() < len {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(Answer::Bad(anyhow!("closed inside the body"))),
                Err(e) => return Err(Answer::Bad(e)),
            }
        }
        let body: Vec<u8> = self.buf.drain(..len).collect();
        if close {
            self.conn = None;
        }
        match status {
            200 => Ok(body),
            503 => Err(Answer::Busy),
            s => Err(Answer::Bad(anyhow!(
                "status {s}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))),
        }
    }

    /// More bytes before `deadline`; false at the end of the connection.
    fn fill(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(!left.is_zero(), "no answer within {:?}", self.timeout);
        let conn = self.conn.as_mut().expect("connected");
        conn.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 64 << 10];
        match conn.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("no answer within {:?}", self.timeout)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Why a response was not read.
enum Answer {
    /// The connection ended before any byte of it (a kept-alive connection the server
    /// closed: worth one retry on a fresh one).
    Closed(String),
    /// 503: the server is still making it.
    Busy,
    Bad(anyhow::Error),
}

/// Whether `body` starts with an ISO BMFF `styp` or `moof` box.
pub fn starts_with_box(body: &[u8]) -> bool {
    body.len() >= 8 && matches!(&body[4..8], b"styp" | b"moof")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_references_resolve_against_the_playlist() {
        assert_eq!(
            resolve("/videos/v.mjpeg/hls/index.m3u8", "288p/index.m3u8"),
            "/videos/v.mjpeg/hls/288p/index.m3u8"
        );
        assert_eq!(
            resolve("/videos/v.mjpeg/hls/288p/index.m3u8", "3.m4s"),
            "/videos/v.mjpeg/hls/288p/3.m4s"
        );
        assert_eq!(resolve("/a/b/c.m3u8", "../d/e.m4s"), "/a/d/e.m4s");
        assert_eq!(resolve("/a/b/c.m3u8", "/x.m4s"), "/x.m4s");
    }

    #[test]
    fn playlists_give_their_map_and_uris() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\n1.m4s\n#EXTINF:2.0,\n2.m4s\n#EXT-X-ENDLIST\n";
        let (map, uris) = playlist_uris(text);
        assert_eq!(map.as_deref(), Some("init.mp4"));
        assert_eq!(uris, ["1.m4s", "2.m4s"]);
        let multi =
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.42c01e\"\n288p/index.m3u8\n";
        assert_eq!(playlist_uris(multi).1, ["288p/index.m3u8"]);
    }

    #[test]
    fn urls_split_into_address_host_and_path() {
        let (addr, host, path) =
            split_url("http://127.0.0.1:8080/videos/v/hls/index.m3u8").unwrap();
        assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(host, "127.0.0.1:8080");
        assert_eq!(path, "/videos/v/hls/index.m3u8");
        assert!(split_url("https://x/").is_err());
    }
}
