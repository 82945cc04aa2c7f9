//! Helpers shared by the end-to-end tests: an in-process server on an ephemeral port, a raw
//! RTSP connection that shows exactly what goes over the wire, UDP receivers, and the rule for
//! real peers (skip loudly when missing, fail under `REQUIRE_PEERS=1`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use rtsp_proto::jpeg::JpegInfo;
use rtsp_proto::rtsp::{self, Limits, Parsed, Response};

pub mod transcript;

/// The repository's top directory (these helpers are shared by the root package's tests and
/// the client crate's, whose manifest directories differ).
pub fn repo_root() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    while !dir.join("videos/video.mjpeg").is_file() {
        assert!(
            dir.pop(),
            "no videos/video.mjpeg above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// The repository's `videos/` directory.
pub fn videos_dir() -> PathBuf {
    repo_root().join("videos")
}

/// The sample video's frames, as the server will send them.
pub fn sample_frames() -> Vec<Vec<u8>> {
    let data = std::fs::read(videos_dir().join("video.mjpeg")).unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
    idx.frames
        .iter()
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

/// The entropy-coded data of a JPEG: exactly what RFC 2435 carries, so equal scan data
/// means a bit-exact frame.
pub fn scan_data(jpeg: &[u8]) -> Option<Vec<u8>> {
    let info = rtsp_proto::jpeg::JpegInfo::parse(jpeg).ok()?;
    Some(jpeg[info.scan_data].to_vec())
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mjpeg-rtsp-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts a server on 127.0.0.1 with an ephemeral port.
pub fn start_server(
    videos: &Path,
    tweak: impl FnOnce(&mut server::Config),
) -> server::ServerHandle {
    let mut config = server::Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        videos: videos.to_path_buf(),
        ..server::Config::default()
    };
    tweak(&mut config);
    server::Server::bind(config).unwrap().spawn().unwrap()
}

/// The URL of a file on a running server.
pub fn url(server: &server::ServerHandle, file: &str) -> String {
    format!("rtsp://{}/{}", server.addr, file)
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// A CRLF request with `cseq` and the given headers.
pub fn request_bytes(method: &str, uri: &str, cseq: u32, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("{method} {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n");
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A raw RTSP connection: requests are written as given, responses parsed as they come.
pub struct RtspConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub cseq: u32,
}

impl RtspConn {
    pub fn connect(addr: SocketAddr) -> RtspConn {
        RtspConn::over(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap())
    }

    /// A connection over `stream`, already connected.
    pub fn over(stream: TcpStream) -> RtspConn {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RtspConn {
            stream,
            buf: Vec::new(),
            cseq: 0,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a CRLF request with the next CSeq and the given headers, returns the response.
    pub fn request(&mut self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        self.cseq += 1;
        self.send_raw(&request_bytes(method, uri, self.cseq, headers));
        let r = self.read_response();
        assert_eq!(r.headers.cseq(), Some(self.cseq), "CSeq echoed");
        r
    }

    /// Reads one response, failing the test after 5 s.
    pub fn read_response(&mut self) -> Response {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Parsed::Complete(r, n) =
                rtsp::parse_response(&self.buf, &Limits::default()).unwrap()
            {
                self.buf.drain(..n);
                return r;
            }
            assert!(Instant::now() < deadline, "no response within 5 s");
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("read response");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// OPTIONS must still be answered: the connection survived whatever came before.
    pub fn assert_still_usable(&mut self) {
        let r = self.request("OPTIONS", "*", &[]);
        assert_eq!(r.status.0, 200, "connection unusable after an error");
    }
}

/// A UDP socket pair on consecutive ports (even RTP port, RTCP beside it) on 127.0.0.1.
pub fn udp_pair() -> (UdpSocket, UdpSocket) {
    let bind = |port| {
        let socket = UdpSocket::bind(("127.0.0.1", port))?;
        let port = socket.local_addr()?.port();
        Ok::<_, std::io::Error>((socket, port))
    };
    rtsp_proto::rtp::bind_even_pair(bind, rtsp_proto::rtp::PORT_PAIR_ATTEMPTS)
        .expect("a UDP port pair")
}

/// Receives datagrams until `timeout` passes (or `stop` says enough), with arrival times.
pub fn receive_for(
    sock: &UdpSocket,
    timeout: Duration,
    mut stop: impl FnMut(&[(Instant, Vec<u8>)]) -> bool,
) -> Vec<(Instant, Vec<u8>)> {
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        if now >= end || stop(&got) {
            return got;
        }
        sock.set_read_timeout(Some((end - now).max(Duration::from_millis(1))))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((Instant::now(), buf[..n].to_vec()));
        }
    }
}

/// Whether a real peer can run here. Missing: a loud skip, or a failure under REQUIRE_PEERS=1.
pub fn peer_available(name: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return true;
    }
    if std::env::var("REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("REQUIRE_PEERS=1 but {name} is not available ({probe:?} failed): run .ci/run or install it");
    }
    eprintln!("\n!!!!! SKIPPED: {name} is not installed ({probe:?} failed); set REQUIRE_PEERS=1 to make this a failure !!!!!\n");
    false
}

pub fn have_ffmpeg() -> bool {
    peer_available("ffmpeg", &["ffmpeg", "-hide_banner", "-version"])
}

pub fn have_gstreamer() -> bool {
    peer_available("GStreamer rtspsrc", &["gst-inspect-1.0", "rtspsrc"])
        && peer_available(
            "GStreamer rtpjpegdepay",
            &["gst-inspect-1.0", "rtpjpegdepay"],
        )
}

/// A standard session that has been described, set up and started, as a player does it.
pub struct Playing {
    pub conn: RtspConn,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub session: String,
    /// The URL PLAY/TEARDOWN go to (the aggregate one).
    pub url: String,
}

/// DESCRIBE, SETUP (UDP) on the SDP's control URL, PLAY: against any RTSP server.
pub fn describe_setup_play(addr: SocketAddr, url: &str) -> Playing {
    let mut conn = RtspConn::connect(addr);
    let r = conn.request("DESCRIBE", url, &[("Accept", "application/sdp")]);
    assert_eq!(r.status.0, 200, "DESCRIBE {url}: {r:?}");
    let info = rtsp_proto::sdp::parse_video(&r.body).unwrap();
    let base = r.headers.get("Content-Base").unwrap_or(url).to_string();
    let track = rtsp_proto::url::resolve_control(&base, info.control.as_deref().unwrap_or(""));
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = conn.request("SETUP", &track, &[("Transport", &t)]);
    assert_eq!(r.status.0, 200, "SETUP {track}: {r:?}");
    let session = rtsp_proto::rtsp::Session::parse(r.headers.get("Session").unwrap())
        .unwrap()
        .id;
    let r = conn.request(
        "PLAY",
        &base,
        &[("Session", &session), ("Range", "npt=0.000-")],
    );
    assert_eq!(r.status.0, 200, "PLAY: {r:?}");
    Playing {
        conn,
        rtp,
        rtcp,
        session,
        url: base,
    }
}

/// Starts the project's gst-rtsp-server script on an ephemeral port; returns the child and
/// the base URL (`rtsp://127.0.0.1:PORT`). The child is killed when the guard drops.
pub struct GstServer {
    child: std::process::Child,
    pub base: String,
}

impl GstServer {
    /// The server process's id (for reading its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GstServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_gst_server(file: &Path, extra: &[&str]) -> GstServer {
    use std::io::BufRead;
    let script = repo_root().join("tests/peers/gst_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg("0")
        .arg(file)
        .args(["--quiet"])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start gst_server.py");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening url=rtsp://127.0.0.1:").nth(1) {
                let port: u16 = rest.split('/').next().unwrap().parse().unwrap();
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("gst_server.py did not start");
    GstServer {
        child,
        base: format!("rtsp://127.0.0.1:{port}"),
    }
}

pub fn have_gst_rtsp_server() -> bool {
    peer_available(
        "gst-rtsp-server (python3-gi)",
        &["/usr/bin/python3", "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
    )
}

/// Matches every received frame to a source frame; returns the matched source indices in
/// arrival order. Panics on any frame that is not bit-exact.
pub fn match_frames(received: &[Vec<u8>], source: &[Vec<u8>]) -> Vec<usize> {
    let by_scan: HashMap<Vec<u8>, usize> = source
        .iter()
        .enumerate()
        .map(|(i, f)| (scan_data(f).unwrap(), i))
        .collect();
    received
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let got =
                JpegInfo::parse(f).unwrap_or_else(|e| panic!("received frame {n} unparsable: {e}"));
            let i = *by_scan
                .get(&f[got.scan_data.clone()])
                .unwrap_or_else(|| panic!("received frame {n} matches no source frame"));
            let want = JpegInfo::parse(&source[i]).unwrap();
            assert_eq!(
                (got.width, got.height),
                (want.width, want.height),
                "frame {n}"
            );
            assert_eq!(
                (got.components[0].h, got.components[0].v),
                (want.components[0].h, want.components[0].v)
            );
            let q = |info: &JpegInfo, c: usize| {
                info.quant_tables[info.components[c].tq as usize].clone()
            };
            assert_eq!(q(&got, 0), q(&want, 0), "luma table of frame {n}");
            assert_eq!(q(&got, 1), q(&want, 1), "chroma table of frame {n}");
            i
        })
        .collect()
}

/// The frames of a plain `.mjpeg` file (as ffmpeg's `-f mjpeg` and our client's recorder write).
pub fn read_plain_mjpeg(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    if data.is_empty() {
        return Vec::new();
    }
    let idx = rtsp_proto::mjpeg::index(&data, 16 << 20).unwrap();
    // Bytes after the last frame that are no JPEG (a test variant has them) are left out;
    // anything else the indexer had to step over is a broken recording.
    let trailing = matches!(
        idx.warning,
        Some(rtsp_proto::mjpeg::MjpegWarning::NotJpeg { frame, .. }) if frame == idx.frames.len()
    );
    assert!(
        idx.warning.is_none() || trailing,
        "{}: {:?}",
        path.display(),
        idx.warning
    );
    idx.frames
        .iter()
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

/// Decodes a JPEG to RGB pixels with the same decoder the client uses.
pub fn decode_rgb(jpeg: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8()
}

/// Peak signal-to-noise ratio between two same-size pictures (infinite when equal).
pub fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let se: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum();
    let mse = se / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

pub mod browser;
pub mod doubles;
pub mod http;
pub mod live;
pub mod nginx;

/// Runs a command, killing it if it outlives `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes drained as the child writes: a child with more to say than a pipe holds
    // (raw video on stdout, say) would otherwise block until it is killed.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::Output {
        status: child.wait().unwrap(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The files of a directory, sorted by name, read whole.
pub fn read_frames(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Runs gst-launch with rtspsrc for `seconds`, writing depayloaded frames into a directory.
pub fn gstreamer_plays(url: &str, transport: &str, seconds: u32) -> Vec<Vec<u8>> {
    let dir = scratch_dir(&format!("gst-{transport}"));
    let pipeline = format!(
        "rtspsrc location={url} protocols={transport} ! rtpjpegdepay ! tee name=t ! queue ! jpegdec ! fakesink t. ! queue ! multifilesink location={}/f%05d.jpg",
        dir.display()
    );
    // SIGINT with -e makes gst-launch send EOS, so every depayloaded frame reaches the sink.
    let o = run(
        Command::new("timeout")
            // -k: a pipeline that does not finish its EOS is killed 10 s later, or it would
            // hold the output pipes open and `run` would wait for ever.
            .args([
                "-k",
                "10",
                "-s",
                "INT",
                &seconds.to_string(),
                "gst-launch-1.0",
                "-e",
            ])
            .args(pipeline.split(' ')),
        Duration::from_secs(30 + seconds as u64),
    );
    let log = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    // Errors while playing fail the test. Once the stream has ended (our BYE becomes EOS),
    // rtspsrc's own PAUSE/TEARDOWN on the way to NULL sometimes finds the connection gone
    // ("Received end-of-file"); every frame was already checked by then.
    let playing = log.split("Got EOS from element").next().unwrap_or(&log);
    assert!(
        !playing.contains("ERROR"),
        "gst-launch reported an error:\n{log}"
    );
    read_frames(&dir)
}

/// Runs ffmpeg as an RTSP client on `url` for at most `seconds` of media, with `output` as
/// its output arguments (e.g. `-f null -`); returns what it printed and how it ended.
pub fn ffmpeg_client(
    url: &str,
    transport: &str,
    seconds: u32,
    output: &[&str],
) -> std::process::Output {
    run(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-rtsp_transport",
                transport,
                "-i",
                url,
            ])
            .args(["-t", &seconds.to_string()])
            .args(output),
        Duration::from_secs(30 + seconds as u64),
    )
}

/// Runs ffmpeg as an RTSP client until the stream ends (or `seconds`), copying the depayloaded
/// JPEG frames out; returns them.
pub fn ffmpeg_plays_url(url: &str, transport: &str, seconds: u32) -> Vec<Vec<u8>> {
    let out = scratch_dir(&format!("ffmpeg-{transport}")).join("out.mjpeg");
    let out_str = out.to_str().unwrap().to_string();
    let o = ffmpeg_client(
        url,
        transport,
        seconds,
        &["-c", "copy", "-f", "mjpeg", "-y", &out_str],
    );
    assert!(
        o.status.success(),
        "ffmpeg failed on {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    read_plain_mjpeg(&out)
}

/// Makes (or finds cached) the JPEG variants of tests/peers/make_variants.sh under
/// target/test-videos; an error says what failed (ffmpeg, cjpeg or jpegtran missing).
pub fn make_variants() -> Result<PathBuf, String> {
    let dir = repo_root().join("target/test-videos");
    let o = Command::new("bash")
        .arg(repo_root().join("tests/peers/make_variants.sh"))
        .arg(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "make_variants.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(dir)
}

impl RtspConn {
    /// Reads one response, or says why none came within `timeout` (the server closed the
    /// connection, answered something unparsable, or stayed silent): for batteries that collect
    /// every failure instead of stopping at the first.
    pub fn try_read_response(&mut self, timeout: Duration) -> Result<Response, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match rtsp::parse_response(&self.buf, &Limits::default()) {
                Ok(Parsed::Complete(r, n)) => {
                    self.buf.drain(..n);
                    return Ok(r);
                }
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err(format!("unparsable answer ({e}): {:?}", self.buf)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no answer within {timeout:?}"));
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    /// Whether the server closes the connection before `deadline` (bytes it still sends are
    /// read and dropped; a reset counts as closed).
    pub fn closed_by(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
    }
}

/// An RTSP connection read through the project's framer, for sessions whose RTP and RTCP come
/// interleaved on it (RFC 2326 10.12): responses are returned, `$` frames kept aside.
pub struct FramedConn {
    pub stream: TcpStream,
    framer: rtsp::framer::Framer,
    /// Interleaved frames received so far: (channel, payload).
    pub frames: Vec<(u8, Vec<u8>)>,
    pub cseq: u32,
}

impl FramedConn {
    pub fn connect(addr: SocketAddr) -> FramedConn {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        let framer = rtsp::framer::Framer::new(rtsp::framer::Role::Client, Limits::default(), None);
        FramedConn {
            stream,
            framer,
            frames: Vec::new(),
            cseq: 0,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a request with the next CSeq and returns its response.
    pub fn request(&mut self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Response {
        self.cseq += 1;
        self.send_raw(&request_bytes(method, uri, self.cseq, headers));
        let r = self
            .read_response(Duration::from_secs(5))
            .expect("a response");
        assert_eq!(r.headers.cseq(), Some(self.cseq), "CSeq echoed");
        r
    }

    /// The next response, keeping interleaved frames that come before it.
    pub fn read_response(&mut self, timeout: Duration) -> Result<Response, String> {
        use rtsp::framer::Frame;
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(framed) = self.framer.poll(Instant::now()) {
                match framed {
                    Ok(Frame::Response(r)) => return Ok(r),
                    Ok(Frame::Interleaved { channel, payload }) => {
                        self.frames.push((channel, payload))
                    }
                    Ok(Frame::Request(r)) => {
                        return Err(format!("a request from the server: {r:?}"))
                    }
                    Err(e) => return Err(format!("bad bytes from the server: {e}")),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no response within {timeout:?}"));
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.framer.push(&chunk[..n], Instant::now()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }
}

/// What this process holds, from /proc/self: threads, open descriptors, resident memory.
/// The server runs in-process, so these are its numbers plus the test's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcCounts {
    pub threads: usize,
    pub fds: usize,
    pub rss_kib: u64,
}

/// Reads [`ProcCounts`] now (Linux only).
pub fn proc_counts() -> ProcCounts {
    let entries = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    ProcCounts {
        threads: entries("/proc/self/task"),
        // The directory handle read_dir holds is counted too, in every reading alike.
        fds: entries("/proc/self/fd"),
        rss_kib,
    }
}

/// `cvlc` with `home` as its HOME, as `nobody` when the tests run as root: VLC refuses to run
/// as root ("VLC is not supposed to be run as root"), and CI runs as root.
pub fn vlc_command(home: &Path) -> Command {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "cvlc"]);
        c
    } else {
        Command::new("cvlc")
    };
    cmd.env("HOME", home).args(["-I", "dummy", "--no-audio"]);
    cmd
}
