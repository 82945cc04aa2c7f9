//! The HTTP side: statuses for every kind of bad request (each naming the RFC section it
//! checks), keep-alive, HEAD, the Motion-JPEG stream byte for byte, snapshots with ETags, the
//! JSON API, and `/metrics` read by a Prometheus text-format parser that is not ours.

mod support;

use std::time::{Duration, Instant};

use support::http::{
    bad_requests, ffmpeg_reads_mpjpeg, have_vlc_mpjpeg, http_get, vlc_reads_mpjpeg, HttpConn,
};
use support::*;

fn start() -> server::ServerHandle {
    start_with(|_| {})
}

fn start_with(tweak: impl FnOnce(&mut server::Config)) -> server::ServerHandle {
    start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
        tweak(c);
    })
}

fn http(server: &server::ServerHandle) -> std::net::SocketAddr {
    server.http_addr.expect("an HTTP listener")
}

#[test]
fn the_page_lists_each_video_with_its_facts_a_player_and_its_urls() {
    let server = start();
    let r = http_get(http(&server), "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(r.header("Date").is_some_and(|d| d.ends_with(" GMT")));
    let page = r.text();
    let rtsp = format!("rtsp://test:{}/video.mjpeg", server.addr.port());
    for needle in [
        "<img id=\"player\" src=\"/videos/video.mjpeg/mjpeg?loop=1\"",
        "data-name=\"video.mjpeg\"",
        "384&times;288 &middot; 20 fps &middot; 0:20 &middot; 400 frames",
        &rtsp,
        &format!("ffplay {rtsp}"),
        "name=\"viewport\"",
    ] {
        assert!(page.contains(needle), "{needle:?} not in the page:\n{page}");
    }
}

#[test]
fn one_connection_carries_many_requests_and_head_matches_get() {
    let server = start();
    let mut c = HttpConn::connect(http(&server));
    let get = c.request("GET", "/api/videos", &[]);
    assert_eq!(
        (get.status, get.header("Connection")),
        (200, Some("keep-alive"))
    );
    let head = c.request("HEAD", "/api/videos", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("Content-Length"), get.header("Content-Length"));
    // Pipelined (RFC 7230 6.3.2): answered in order.
    c.send(b"GET /videos/video.mjpeg/frame.jpg?t=0 HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let first = c.response(false).unwrap();
    let second = c.response(false).unwrap();
    assert_eq!((first.status, second.status), (200, 404));
    assert_eq!(first.body, sample_frames()[0]);
    assert_eq!(second.header("Connection"), Some("close"));
    assert!(c.response(false).is_none(), "open after Connection: close");
}

#[test]
fn bad_requests_get_their_status_and_the_server_keeps_serving() {
    let server = start();
    let cases = bad_requests();
    for (what, bytes, status) in &cases {
        let mut c = HttpConn::connect(http(&server));
        c.send(bytes);
        let r = c
            .response(bytes.starts_with(b"HEAD"))
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        let body = r.text();
        assert!(
            !body.contains("[workspace]") && !body.contains("root:"),
            "{what}: a file outside videos/ leaked"
        );
        if *status == 405 {
            assert_eq!(r.header("Allow"), Some("GET, HEAD"), "{what}");
        }
    }
    eprintln!("{} bad requests answered", cases.len());
    assert_eq!(http_get(http(&server), "/api/videos").status, 200);
}

#[test]
fn a_request_that_never_finishes_gets_408_in_time() {
    let server = start_with(|c| c.request_timeout = Duration::from_millis(500));
    let mut c = HttpConn::connect(http(&server));
    let sent = Instant::now();
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let r = c.response(false).expect("an answer");
    assert_eq!(r.status, 408);
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn connections_over_the_bound_get_503() {
    let server = start_with(|c| c.http_max_connections = 2);
    let _a = HttpConn::connect(http(&server));
    let _b = HttpConn::connect(http(&server));
    assert!(wait_until(Duration::from_secs(5), || server
        .shared
        .http_connections
        .load(std::sync::atomic::Ordering::SeqCst)
        == 2));
    let r = http_get(http(&server), "/");
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
}

/// The parts of `/videos/video.mjpeg/mjpeg?QUERY` for `seconds` (or to the stream's end).
fn parts(
    server: &server::ServerHandle,
    query: &str,
    seconds: f64,
) -> (Vec<(Instant, Vec<u8>)>, bool) {
    let mut c = HttpConn::connect(http(server));
    let r = c.request("GET", &format!("/videos/video.mjpeg/mjpeg{query}"), &[]);
    assert_eq!(r.status, 200);
    let ct = r.header("Content-Type").unwrap().to_string();
    let boundary = ct
        .strip_prefix("multipart/x-mixed-replace; boundary=")
        .expect("multipart/x-mixed-replace");
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut got = Vec::new();
    while Instant::now() < end {
        match c.next_part(boundary) {
            Some(p) => got.push(p),
            None => return (got, true),
        }
    }
    (got, false)
}

/// The index in the sample of each part, which must be one of its frames byte for byte.
fn indices(got: &[(Instant, Vec<u8>)]) -> Vec<usize> {
    let frames = sample_frames();
    got.iter()
        .map(|(_, p)| {
            frames
                .iter()
                .position(|f| f == p)
                .expect("a part that is no frame of the file")
        })
        .collect()
}

#[test]
fn the_mjpeg_stream_is_the_files_own_frames_in_order_at_the_frame_rate() {
    let server = start();
    let (got, ended) = parts(&server, "", 5.0);
    assert!(!ended);
    let idx = indices(&got);
    eprintln!("{} parts in 5 s", idx.len());
    assert!(idx.len() >= 98, "{} of 100 frames in 5 s", idx.len());
    assert!(idx.len() <= 102, "{} frames in 5 s: not paced", idx.len());
    assert_eq!(
        idx,
        (0..idx.len()).collect::<Vec<_>>(),
        "not in order from 0"
    );
}

#[test]
fn start_loop_and_the_end_of_the_stream() {
    let server = start();
    let (got, _) = parts(&server, "?start=10", 0.5);
    assert_eq!(
        indices(&got)[0],
        200,
        "?start=10 at 20 fps starts at frame 200"
    );
    // 19.5 s without loop: ten frames, then the close delimiter.
    let (got, ended) = parts(&server, "?start=19.5", 5.0);
    assert!(ended, "the stream did not end");
    assert_eq!(indices(&got), (390..400).collect::<Vec<_>>());
    // With ?loop=1 it goes on from the start.
    let (got, ended) = parts(&server, "?start=19.5&loop=1", 1.2);
    assert!(!ended);
    let idx = indices(&got);
    assert_eq!(
        &idx[..12],
        &[390, 391, 392, 393, 394, 395, 396, 397, 398, 399, 0, 1]
    );
}

#[test]
fn snapshots_are_the_frame_at_t_with_a_strong_etag() {
    let server = start();
    let mut c = HttpConn::connect(http(&server));
    let r = c.request("GET", "/videos/video.mjpeg/frame.jpg?t=1.0", &[]);
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("image/jpeg"))
    );
    assert_eq!(r.body, sample_frames()[20]);
    let etag = r.header("ETag").unwrap().to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "{etag}: not strong"
    );
    assert!(r.header("Cache-Control").unwrap().contains("max-age"));
    // RFC 7232 3.2: the same tag, 304 and no body; another frame has another tag.
    let again = c.request(
        "GET",
        "/videos/video.mjpeg/frame.jpg?t=1.0",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("ETag"), Some(etag.as_str()));
    let other = c.request("GET", "/videos/video.mjpeg/frame.jpg?t=2", &[]);
    assert_ne!(other.header("ETag"), Some(etag.as_str()));
}

#[test]
fn the_api_and_metrics_show_rtsp_and_http_sessions() {
    let server = start();
    let videos: serde_json::Value =
        serde_json::from_slice(&http_get(http(&server), "/api/videos").body).unwrap();
    let v = &videos["videos"][0];
    assert_eq!(v["name"], "video.mjpeg");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(384), Some(288))
    );
    assert_eq!(
        (v["frames"].as_u64(), v["duration"].as_f64()),
        (Some(400), Some(20.0))
    );
    // An RTSP session over UDP and an HTTP viewer, both playing.
    let playing = describe_setup_play(server.addr, &url(&server, "video.mjpeg"));
    let id = playing.session.clone();
    let mut viewer = HttpConn::connect(http(&server));
    assert_eq!(
        viewer
            .request("GET", "/videos/video.mjpeg/mjpeg", &[])
            .status,
        200
    );
    assert!(viewer.next_part("mjpegframe").is_some());
    let sessions: serde_json::Value =
        serde_json::from_slice(&http_get(http(&server), "/api/sessions").body).unwrap();
    let list = sessions["sessions"].as_array().unwrap();
    let mut transports: Vec<&str> = list
        .iter()
        .map(|s| s["transport"].as_str().unwrap())
        .collect();
    transports.sort();
    assert_eq!(transports, ["http", "udp"], "{sessions}");
    assert!(list
        .iter()
        .all(|s| s["file"] == "video.mjpeg" && s["playing"] == true));
    assert!(list.iter().any(|s| s["id"] == id.as_str()));
    // /metrics in the text format, as Prometheus reads it.
    let text = http_get(http(&server), "/metrics").text();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    let value = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name}{label:?} in\n{text}"))
    };
    assert_eq!(value("mjpeg_sessions", ("transport", "http")), 1.0);
    assert_eq!(value("mjpeg_sessions", ("transport", "udp")), 1.0);
    assert!(value("mjpeg_frames_sent_total", ("transport", "http")) >= 1.0);
    assert!(value("mjpeg_bytes_sent_total", ("transport", "http")) > 1000.0);
    assert_eq!(value("mjpeg_connections", ("protocol", "rtsp")), 1.0);
    assert!(value("mjpeg_connections", ("protocol", "http")) >= 2.0);
}

#[test]
fn ffmpeg_reads_the_mjpeg_stream() {
    if !have_ffmpeg() {
        return;
    }
    let server = start();
    let url = format!("http://{}/videos/video.mjpeg/mjpeg", http(&server));
    let got = ffmpeg_reads_mpjpeg(&url, 2);
    let frames = sample_frames();
    assert!(got.len() >= 30, "ffmpeg read {} frames in 2 s", got.len());
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f, &frames[i], "ffmpeg's frame {i}");
    }
}

/// VLC, pointed at a video's Motion-JPEG URL, plays the file's frames to its end, each
/// bit-exact, in order (it leaves out at most the last: its demuxer waits for a boundary after it).
#[test]
fn vlc_reads_the_mjpeg_stream() {
    if !have_vlc_mpjpeg() {
        return;
    }
    let server = start();
    let url = format!("http://{}/videos/video.mjpeg/mjpeg", http(&server));
    let got = vlc_reads_mpjpeg(&url, Duration::from_secs(60));
    let frames = sample_frames();
    assert!(
        got.len() + 1 >= frames.len(),
        "VLC read {} of {} frames",
        got.len(),
        frames.len()
    );
    for (i, f) in got.iter().enumerate() {
        assert!(
            f == &frames[i],
            "VLC's frame {i} is not the file's frame {i}"
        );
    }
}

#[test]
fn with_auth_every_page_needs_the_same_users_digest_or_basic() {
    let server = start_with(|c| c.users = vec![("alice".into(), "s3cret".into())]);
    let mut c = HttpConn::connect(http(&server));
    for path in ["/", "/api/videos", "/metrics", "/videos/video.mjpeg/mjpeg"] {
        let r = c.request("GET", path, &[]);
        assert_eq!(r.status, 401, "{path}");
    }
    let r = c.request("GET", "/api/videos", &[]);
    let challenges: Vec<rtsp_proto::auth::Challenge> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, v)| rtsp_proto::auth::Challenge::parse(v).unwrap())
        .collect();
    assert_eq!(challenges.len(), 2, "Digest and Basic offered");
    let digest = challenges
        .iter()
        .find(|c| matches!(c, rtsp_proto::auth::Challenge::Digest { .. }))
        .unwrap();
    // RFC 7616 3.4: Digest with the request's own method and URI.
    let answer = digest.answer("alice", "s3cret", "GET", "/api/videos", ("0a4f113b", 1));
    let ok = c.request("GET", "/api/videos", &[("Authorization", &answer)]);
    assert_eq!(ok.status, 200);
    // The same answer again (a replay), and one made for another URI: refused.
    let again = c.request("GET", "/api/videos", &[("Authorization", &answer)]);
    assert_eq!(again.status, 401);
    let other = digest.answer("alice", "s3cret", "GET", "/api/sessions", ("0a4f113b", 2));
    assert_eq!(
        c.request("GET", "/metrics", &[("Authorization", &other)])
            .status,
        401
    );
    // RFC 7617: Basic, right and wrong.
    let basic = |pass: &str| {
        format!(
            "Basic {}",
            rtsp_proto::auth::base64_encode(format!("alice:{pass}").as_bytes())
        )
    };
    assert_eq!(
        c.request("GET", "/", &[("Authorization", &basic("s3cret"))])
            .status,
        200
    );
    assert_eq!(
        c.request("GET", "/", &[("Authorization", &basic("wrong"))])
            .status,
        401
    );
}

#[test]
fn our_client_plays_motion_jpeg_over_http() {
    let server = start();
    let rec = scratch_dir("http-client").join("rec.mjpeg");
    let url = format!("http://{}/videos/video.mjpeg/mjpeg", http(&server));
    let mut opts = client::Options::for_url(&url).unwrap();
    opts.record = Some(rec.clone());
    opts.duration = Some(3.0);
    let stats = client::headless::run(&opts).unwrap();
    eprintln!("{}", stats.to_json());
    assert_eq!(
        (stats.transport.as_str(), stats.width, stats.height),
        ("http", 384, 288)
    );
    assert!(
        stats.frames_received >= 55,
        "{} frames in 3 s",
        stats.frames_received
    );
    assert!(stats.frames_add_up(), "{}", stats.to_json());
    let recorded = read_plain_mjpeg(&rec);
    assert_eq!(recorded.len() as u64, stats.frames_received);
    assert_eq!(
        recorded,
        sample_frames()[..recorded.len()],
        "not the file's frames in order"
    );
}

#[test]
fn our_client_plays_ffmpegs_mpjpeg_output() {
    if !have_ffmpeg() {
        return;
    }
    // ffmpeg as the HTTP server (-listen 1: one client), as a camera would serve.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/feed");
    // A fresh encode: copied from the lab's file, ffmpeg's parser keeps its 5-digit
    // lengths inside the frames, which no JPEG decoder takes.
    let mut ffmpeg = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
        ])
        .args([
            "-i",
            "testsrc2=size=320x240:rate=20",
            "-t",
            "4",
            "-c:v",
            "mjpeg",
        ])
        .args(["-f", "mpjpeg", "-listen", "1", &url])
        .spawn()
        .unwrap();
    let mut opts = client::Options::for_url(&url).unwrap();
    opts.duration = Some(2.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        match client::headless::run(&opts) {
            Ok(s) => break s,
            Err(client::ClientError::Connect { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    eprintln!("{}", stats.to_json());
    assert!(stats.frames_decoded >= 20, "{}", stats.to_json());
    assert_eq!(stats.frames_dropped, 0);
    assert_eq!((stats.width, stats.height), (320, 240));
}

#[test]
fn a_taken_http_port_is_an_error_when_named_and_avoided_when_only_preferred() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = |http| server::Config {
        bind: ([127, 0, 0, 1], 0).into(),
        videos: videos_dir(),
        http,
        ..server::Config::default()
    };
    let named = server::Server::bind(config(server::http::HttpListen::Port(port)));
    let e = named.err().expect("a named port that is taken is an error");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains("HTTP"), "{e}");
    let preferred =
        server::Server::bind(config(server::http::HttpListen::Preferred(port))).unwrap();
    let got = preferred.http_addr().unwrap().port();
    assert_ne!(got, port, "took a free port instead");
    let off = server::Server::bind(config(server::http::HttpListen::Off)).unwrap();
    assert_eq!(off.http_addr(), None);
}
