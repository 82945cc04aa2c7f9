//! A plain HTTP/1.1 client for tests: requests as raw bytes (so a test can send anything),
//! responses read with deadlines, and the parts of a multipart Motion-JPEG stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection to an HTTP server, reads bounded by a deadline.
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn connect(addr: SocketAddr) -> HttpConn {
        HttpConn::over(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap())
    }

    /// A connection over `stream`, already connected.
    pub fn over(stream: TcpStream) -> HttpConn {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        HttpConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// `METHOD path` with a Host header and `extra` header lines.
    pub fn request(&mut self, method: &str, path: &str, extra: &[(&str, &str)]) -> HttpResponse {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.send(req.as_bytes());
        self.response(method == "HEAD").expect("no response")
    }

    /// More bytes, or false at the end of the connection.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Reads one response: the head, then a body of `Content-Length` bytes (none for HEAD,
    /// 1xx, 204 and 304; to the end of the connection when no length is given). `None`
    /// when the connection ends before a whole head.
    pub fn response(&mut self, head_only: bool) -> Option<HttpResponse> {
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || matches!(status, 100..=199 | 204 | 304) {
            return Some(r);
        }
        match r
            .header("Content-Length")
            .map(|v| v.parse::<usize>().unwrap())
        {
            Some(len) => {
                while self.buf.len() < len {
                    assert!(self.fill(), "connection ended inside a body");
                }
                r.body = self.buf.drain(..len).collect();
            }
            // Streams that last as long as the connection: the caller reads them.
            None if r.header("Content-Type").is_some_and(|t| {
                t.starts_with("multipart/") || t == "application/x-rtsp-tunnelled"
            }) => {}
            None => {
                while self.fill() {}
                r.body = std::mem::take(&mut self.buf);
            }
        }
        Some(r)
    }

    /// The next part of a multipart body: its arrival time and content; `None` at the close
    /// delimiter or the end of the connection.
    pub fn next_part(&mut self, boundary: &str) -> Option<(Instant, Vec<u8>)> {
        let delimiter = format!("--{boundary}");
        loop {
            if let Some(start) = find(&self.buf, delimiter.as_bytes()) {
                let after = start + delimiter.len();
                if self.buf.len() >= after + 2 && &self.buf[after..after + 2] == b"--" {
                    return None;
                }
                if let Some(end) = find(&self.buf[after..], b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&self.buf[after..after + end]).into_owned();
                    let len: usize = head
                        .split("\r\n")
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("Content-Length")
                                .then(|| v.trim().parse().unwrap())
                        })
                        .expect("a part without Content-Length");
                    let body = after + end + 4;
                    while self.buf.len() < body + len {
                        if !self.fill() {
                            return None;
                        }
                    }
                    let part = self.buf[body..body + len].to_vec();
                    self.buf.drain(..body + len);
                    return Some((Instant::now(), part));
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One GET on a fresh connection.
pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    HttpConn::connect(addr).request("GET", path, &[])
}

/// Every frame must be one of the sample video's, bit-exact (its scan data), and at least 95%
/// of the frames due in `seconds` at 20 fps must be there.
pub fn assert_sample_frames(who: &str, frames: &[Vec<u8>], seconds: u32) {
    let sample: Vec<Vec<u8>> = super::sample_frames()
        .iter()
        .map(|f| super::scan_data(f).unwrap())
        .collect();
    let due = seconds as usize * 20;
    eprintln!("{who}: {} frames of {due}", frames.len());
    assert!(
        frames.len() * 100 >= due * 95,
        "{who}: {} of {due} frames",
        frames.len()
    );
    for (i, f) in frames.iter().enumerate() {
        let scan = super::scan_data(f).expect("a JPEG");
        assert!(
            sample.contains(&scan),
            "{who}: frame {i} is none of the file's"
        );
    }
}

/// ffmpeg reading a Motion-JPEG HTTP stream (`-f mpjpeg`) for `seconds` of its timestamps;
/// the frames it read, as it copied them out.
pub fn ffmpeg_reads_mpjpeg(url: &str, seconds: u32) -> Vec<Vec<u8>> {
    let out = super::scratch_dir("ffmpeg-mpjpeg").join("out.mjpeg");
    let o = super::run(
        std::process::Command::new("ffmpeg").args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "mpjpeg",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-c",
            "copy",
            "-f",
            "mjpeg",
            "-y",
            out.to_str().unwrap(),
        ]),
        Duration::from_secs(30 + u64::from(seconds)),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    super::read_plain_mjpeg(&out)
}

/// Whether VLC can read Motion-JPEG over HTTP and write it out again (its mpjpeg mux).
pub fn have_vlc_mpjpeg() -> bool {
    super::peer_available(
        "VLC (cvlc with the mpjpeg mux)",
        &[
            "sh",
            "-c",
            "command -v cvlc && ls /usr/lib/*/vlc/plugins/mux/libmux_mpjpeg_plugin.so",
        ],
    )
}

/// VLC playing a Motion-JPEG HTTP stream until it ends (within `limit`), copying what it demuxed into a multipart file (its `mpjpeg` mux): the frames it read. VLC's
/// demuxer keeps the CRLF that ends each part (RFC 2046 5.1.1: it belongs to the boundary) as
/// the picture's last bytes; it is taken off again here.
pub fn vlc_reads_mpjpeg(url: &str, limit: Duration) -> Vec<Vec<u8>> {
    let dir = super::scratch_dir("vlc-mpjpeg");
    let out = dir.join("out.mpjpeg");
    let mut cmd = super::vlc_command(&dir.join("home"));
    cmd.arg("--play-and-exit");
    // VLC (nobody) writes the file into the scratch directory, which must let it.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    cmd.arg(url).arg(format!(
        "--sout=#std{{access=file,mux=mpjpeg,dst={}}}",
        out.display()
    ));
    let o = super::run(&mut cmd, limit);
    assert!(
        o.status.success(),
        "VLC: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let data = std::fs::read(&out).unwrap_or_default();
    multipart_bodies(&data)
        .into_iter()
        .map(|b| b.strip_suffix(b"\r\n").unwrap_or(b).to_vec())
        .collect()
}

/// The bodies of a multipart stream whose parts each say their `Content-Length`.
fn multipart_bodies(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let needle = b"Content-Length: ";
    while let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
        let after = &rest[i + needle.len()..];
        let Some(eol) = after.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let Some(n) = std::str::from_utf8(&after[..eol])
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
        else {
            break;
        };
        let body = &after[eol + 4..];
        if body.len() < n {
            break;
        }
        out.push(&body[..n]);
        rest = &body[n..];
    }
    out
}

/// Each case: what it checks, the bytes sent on a fresh connection, the status expected.
pub fn bad_requests() -> Vec<(&'static str, Vec<u8>, u16)> {
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
    vec![
        (
            "RFC 7230 5.4: HTTP/1.1 without Host",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "RFC 7230 5.4: two Host fields",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "RFC 7230 3.1.1: not a request line",
            b"\x16\x03\x01\x02\x00 hello\r\n\r\n".to_vec(),
            400,
        ),
        (
            "RFC 7230 3.3.3: two Content-Lengths",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n".to_vec(),
            400,
        ),
        (
            "RFC 7230 3.3.2: Content-Length not digits",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n".to_vec(),
            400,
        ),
        (
            "RFC 7230 3.3.1: a transfer coding we do not take",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            501,
        ),
        (
            "RFC 7231 6.5.11: a body over the bound",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            "RFC 7231 6.5.12: a request target over the bound",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)).into_bytes(),
            414,
        ),
        (
            "RFC 6585 5: too many header fields",
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes(),
            431,
        ),
        (
            "RFC 7231 6.5.5: POST on the page",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(),
            405,
        ),
        (
            "RFC 7231 6.5.5: DELETE on a stream",
            b"DELETE /videos/video.mjpeg/mjpeg HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            405,
        ),
        (
            "RFC 7231 6.6.2: a method nobody defined",
            b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            501,
        ),
        (
            "RFC 7231 6.5.4: no such resource",
            get("/nothing/here"),
            404,
        ),
        (
            "RFC 7231 6.5.4: no such video",
            get("/videos/missing.mjpeg/mjpeg"),
            404,
        ),
        (
            "RFC 7231 6.5.4: no such view of a video",
            get("/videos/video.mjpeg/other"),
            404,
        ),
        (
            "RFC 3986 5.2.4: dot segments, encoded",
            get("/videos/..%2F..%2FCargo.toml/frame.jpg"),
            403,
        ),
        (
            "RFC 3986 2.1: dot segments, encoded dots",
            get("/videos/%2e%2e/Cargo.toml/frame.jpg"),
            403,
        ),
        (
            "RFC 3986 2.1: encoded twice is a name, not a path",
            get("/videos/%252e%252e%252fCargo.toml/frame.jpg"),
            404,
        ),
        (
            "RFC 3986 3.3: an absolute path as the name",
            get("/videos//etc/passwd/frame.jpg"),
            403,
        ),
        (
            "RFC 3986 3.3: dot segments after the name",
            get("/videos/video.mjpeg/../../Cargo.toml"),
            404,
        ),
        (
            "RFC 3986 2.1: a backslash",
            get("/videos/..%5cCargo.toml/frame.jpg"),
            400,
        ),
        (
            "RFC 3986 2.1: a NUL",
            get("/videos/video.mjpeg%00.txt/frame.jpg"),
            400,
        ),
        (
            "RFC 3986 2.1: a bad escape",
            get("/videos/%zz/frame.jpg"),
            400,
        ),
        (
            "RFC 3986 2.5: not UTF-8",
            get("/videos/%ff%fe/frame.jpg"),
            400,
        ),
        (
            "RFC 7231 6.5.1: a time that is no number",
            get("/videos/video.mjpeg/frame.jpg?t=abc"),
            400,
        ),
        (
            "RFC 7231 6.5.1: a negative time",
            get("/videos/video.mjpeg/frame.jpg?t=-1"),
            400,
        ),
        (
            "RFC 7231 6.5.4: a time past the end",
            get("/videos/video.mjpeg/frame.jpg?t=1e9"),
            404,
        ),
        (
            "RFC 7231 6.5.1: a start past the end",
            get("/videos/video.mjpeg/mjpeg?start=999"),
            400,
        ),
        (
            "RFC 7231 6.5.1: loop that is no flag",
            get("/videos/video.mjpeg/mjpeg?loop=maybe"),
            400,
        ),
    ]
}

/// A `frames`-frame clip of ffmpeg's moving `testsrc2` at `width` x `height` and 20 fps, as
/// plain concatenated JPEG (4:2:0 baseline), made once and kept under target/test-videos; an
/// error says why ffmpeg could not make it.
pub fn make_clip(width: u32, height: u32, frames: u32) -> Result<std::path::PathBuf, String> {
    let dir = super::repo_root().join("target/test-videos/clips");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("clip_{width}x{height}_{frames}.mjpeg"));
    if path.exists() {
        return Ok(path);
    }
    let tmp = path.with_extension("tmp.mjpeg");
    let o = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={width}x{height}:rate=20"))
        .args([
            "-frames:v",
            &frames.to_string(),
            "-c:v",
            "mjpeg",
            "-pix_fmt",
            "yuvj420p",
        ])
        .args(["-q:v", "5", "-threads", "1", "-f", "mjpeg"])
        .arg(&tmp)
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !o.status.success() {
        return Err(format!("ffmpeg: {}", String::from_utf8_lossy(&o.stderr)));
    }
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    Ok(path)
}

/// A `width`x`height` clip of `seconds` of ffmpeg's moving `testsrc2` at 20 fps in the lab's
/// container (each JPEG behind its length as 5 ASCII digits), made as videos/make_sample.sh
/// makes the sample (baseline 4:2:0 JPEGs, `-huffman default -force_duplicated_matrix 1
/// -q:v 8`), once, and kept under target/test-videos; panics if ffmpeg cannot make it.
pub fn make_lab_clip(width: u32, height: u32, seconds: u32) -> std::path::PathBuf {
    let dir = super::repo_root().join("target/test-videos/clips");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("lab_{width}x{height}_{seconds}s.mjpeg"));
    if path.exists() {
        return path;
    }
    let frames = super::scratch_dir("lab-clip-frames");
    let o = super::run(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size={width}x{height}:rate=20:duration={seconds}"
            ))
            .args([
                "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-huffman", "default",
            ])
            .args([
                "-force_duplicated_matrix",
                "1",
                "-q:v",
                "8",
                "-threads",
                "1",
            ])
            .arg(frames.join("f%04d.jpg")),
        Duration::from_secs(120),
    );
    assert!(
        o.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let jpegs = super::read_frames(&frames);
    assert_eq!(jpegs.len() as u32, seconds * 20, "frames made");
    let mut lab = Vec::new();
    for j in &jpegs {
        assert!(j.len() <= 99_999, "a {}-byte frame", j.len());
        lab.extend_from_slice(format!("{:05}", j.len()).as_bytes());
        lab.extend_from_slice(j);
    }
    // Written aside and renamed: a test running at the same time sees the whole file or none.
    let tmp = dir.join(frames.file_name().unwrap()).with_extension("tmp");
    std::fs::write(&tmp, lab).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A reader of a Motion-JPEG stream on its own thread: `GET path`, then each part with the
/// time its last byte arrived, until `until` passes or the response ends. Live paths use it
/// beside RTSP viewers (tests/live_publish.rs) and for their latency (tests/live_latency.rs).
pub fn read_mjpeg_until(
    http: SocketAddr,
    path: &str,
    until: Instant,
) -> std::thread::JoinHandle<Vec<(Instant, Vec<u8>)>> {
    let mut conn = HttpConn::connect(http);
    let r = conn.request("GET", path, &[]);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    let kind = r.header("Content-Type").unwrap_or_default();
    let boundary = kind
        .split_once("boundary=")
        .unwrap_or_else(|| panic!("GET {path}: no multipart boundary in {kind:?}"))
        .1
        .to_string();
    std::thread::spawn(move || {
        let mut parts = Vec::new();
        while Instant::now() < until {
            match conn.next_part(&boundary) {
                Some(part) => parts.push(part),
                None => break,
            }
        }
        parts
    })
}
