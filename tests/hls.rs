//! HLS and DASH of the H.264 renditions (issue 17): what ffmpeg and GStreamer read from the
//! playlists, what a CDN sees in the responses, hostile requests, one encode per segment
//! however many players ask at once, and the disk cache across restarts and file changes.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::http::{http_get, make_clip, HttpConn, HttpResponse};
use support::*;

fn hls_server(videos: &Path, cache_dir: Option<PathBuf>) -> server::ServerHandle {
    start_server(videos, |c| {
        c.http = server::http::HttpListen::Port(0);
        c.cmaf.cache_dir = cache_dir;
    })
}

fn http_addr(s: &server::ServerHandle) -> std::net::SocketAddr {
    s.http_addr.expect("an HTTP listener")
}

fn base(s: &server::ServerHandle, name: &str) -> String {
    format!("http://{}/videos/{name}", http_addr(s))
}

/// One counter or gauge of `/metrics` (without labels).
fn metric(s: &server::ServerHandle, name: &str) -> f64 {
    let text = http_get(http_addr(s), "/metrics").text();
    let line = text
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Waits until no encode is queued or running: the counters have settled.
fn settle(s: &server::ServerHandle) {
    let mut last = -1.0;
    let settled = wait_until(Duration::from_secs(60), || {
        let now = metric(s, "mjpeg_cmaf_parts_encoded_total");
        let idle = metric(s, "mjpeg_cmaf_encodes_queued") == 0.0
            && metric(s, "mjpeg_cmaf_encodes_running") == 0.0
            && now == last;
        last = now;
        if !idle {
            std::thread::sleep(Duration::from_millis(300));
        }
        idle
    });
    assert!(settled, "the encodes never settled");
}

/// The frames ffmpeg decodes from `url`, as raw full-range 4:2:0 (`w` x `h`).
fn ffmpeg_frames(url: &str, w: usize, h: usize) -> Vec<Vec<u8>> {
    let o = run(
        Command::new("ffmpeg").args([
            "-v", "error", "-i", url, "-f", "rawvideo", "-pix_fmt", "yuvj420p", "-",
        ]),
        Duration::from_secs(120),
    );
    assert!(
        o.status.success(),
        "ffmpeg on {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let size = w * h * 3 / 2;
    assert_eq!(o.stdout.len() % size, 0, "{url}: not whole {w}x{h} frames");
    o.stdout.chunks(size).map(<[u8]>::to_vec).collect()
}

/// PSNR of a decoded frame (raw planes, as ffmpeg writes them) against a source picture.
fn psnr_yuv(frame: &[u8], src: &h264::Yuv420) -> f64 {
    let (y, c) = (src.y.len(), src.u.len());
    let got = h264::Yuv420 {
        width: src.width,
        height: src.height,
        y: frame[..y].to_vec(),
        u: frame[y..y + c].to_vec(),
        v: frame[y + c..].to_vec(),
    };
    h264::check::psnr(&got, src)
}

fn source_pictures(frames: &[Vec<u8>]) -> Vec<h264::Yuv420> {
    frames
        .iter()
        .map(|f| h264::Yuv420::from_jpeg(f).unwrap())
        .collect()
}

/// Every source frame is there in order, each closest to its own source picture and at
/// least `floor` dB from it. Returns the lowest PSNR.
fn assert_frames_match(who: &str, got: &[Vec<u8>], source: &[h264::Yuv420], floor: f64) -> f64 {
    assert_eq!(got.len(), source.len(), "{who}: frames");
    let mut worst = f64::INFINITY;
    for (i, frame) in got.iter().enumerate() {
        let p = psnr_yuv(frame, &source[i]);
        worst = worst.min(p);
        assert!(
            p >= floor,
            "{who}: frame {i} at {p:.2} dB (at least {floor})"
        );
        for j in [i.wrapping_sub(1), i + 1] {
            if let Some(other) = source.get(j) {
                let q = psnr_yuv(frame, other);
                assert!(
                    q < p,
                    "{who}: frame {i} is closer to source frame {j} ({q:.2} >= {p:.2} dB)"
                );
            }
        }
    }
    worst
}

#[test]
fn ffmpeg_reads_every_frame_of_hls_and_dash_in_order_above_38_db() {
    if !have_ffmpeg() {
        return;
    }
    let server = hls_server(&videos_dir(), None);
    let source = source_pictures(&sample_frames());
    for leaf in ["hls/index.m3u8", "dash/manifest.mpd"] {
        let url = format!("{}/{leaf}", base(&server, "video.mjpeg"));
        let frames = ffmpeg_frames(&url, 384, 288);
        let worst = assert_frames_match(leaf, &frames, &source, 38.0);
        eprintln!("{leaf}: 400 frames in order, lowest PSNR {worst:.2} dB");
    }
}

/// The frames GStreamer's playbin hands its video sink, playing `url` to the end.
fn gstreamer_buffers(url: &str) -> usize {
    let o = run(
        Command::new("gst-launch-1.0").args([
            "-v",
            "playbin",
            &format!("uri={url}"),
            "video-sink=fakesink sync=false silent=false",
            "audio-sink=fakesink",
        ]),
        Duration::from_secs(120),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "GStreamer on {url}: {err}");
    assert!(
        out.contains("Got EOS"),
        "GStreamer never reached EOS on {url}:\n{err}"
    );
    assert!(
        !out.contains("ERROR") && !err.contains("ERROR"),
        "{url}: {err}"
    );
    out.lines()
        .filter(|l| l.contains("chain") && l.contains("fakesink"))
        .count()
}

#[test]
fn gstreamer_plays_hls_and_dash_to_eos() {
    if !have_gstreamer() {
        return;
    }
    let server = hls_server(&videos_dir(), None);
    for leaf in ["hls/index.m3u8", "dash/manifest.mpd"] {
        let n = gstreamer_buffers(&format!("{}/{leaf}", base(&server, "video.mjpeg")));
        assert_eq!(n, 400, "{leaf}: frames GStreamer's sink got");
    }
}

fn get(conn: &mut HttpConn, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    conn.request("GET", path, headers)
}

fn assert_media_headers(r: &HttpResponse, content_type: &str, what: &str) {
    assert_eq!(r.status, 200, "{what}");
    assert_eq!(r.header("Content-Type"), Some(content_type), "{what}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"), "{what}");
    let etag = r.header("ETag").unwrap_or_default();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "{what}: strong ETag, got {etag:?}"
    );
}

#[test]
fn playlists_say_what_rfc_8216_asks() {
    let server = hls_server(&videos_dir(), None);
    let mut c = HttpConn::connect(http_addr(&server));
    let master = get(&mut c, "/videos/video.mjpeg/hls/index.m3u8", &[]);
    assert_media_headers(&master, "application/vnd.apple.mpegurl", "multivariant");
    let text = master.text();
    let inf = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .expect(&text);
    for attr in [
        "BANDWIDTH=",
        "AVERAGE-BANDWIDTH=",
        "CODECS=\"avc1.",
        "RESOLUTION=384x288",
        "FRAME-RATE=20.000",
    ] {
        assert!(inf.contains(attr), "{attr} in {inf}");
    }
    assert!(text.contains("\n288p/index.m3u8\n"), "{text}");
    let media = get(&mut c, "/videos/video.mjpeg/hls/288p/index.m3u8", &[]);
    assert_media_headers(&media, "application/vnd.apple.mpegurl", "media playlist");
    let text = media.text();
    for tag in [
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-TARGETDURATION:2\n",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-MAP:URI=\"init.mp4\"",
        "#EXT-X-ENDLIST",
    ] {
        assert!(text.contains(tag), "{tag} in\n{text}");
    }
    // A short first segment (half of one: a player starts sooner), then whole ones; 400
    // frames end with half of one too.
    let segments: Vec<&str> = text.lines().filter(|l| l.ends_with(".m4s")).collect();
    assert_eq!(
        segments,
        (1..=11).map(|n| format!("{n}.m4s")).collect::<Vec<_>>()
    );
    let durations: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .collect();
    let mut want = vec!["2.00000,"; 11];
    (want[0], want[10]) = ("1.00000,", "1.00000,");
    assert_eq!(durations, want, "{text}");
    let mpd = get(&mut c, "/videos/video.mjpeg/dash/manifest.mpd", &[]);
    assert_media_headers(&mpd, "application/dash+xml", "MPD");
    let text = mpd.text();
    for part in [
        "type=\"static\"",
        "mediaPresentationDuration=\"PT20.000S\"",
        "$Number$",
        "<S t=\"0\" d=\"20000\"/><S t=\"20000\" d=\"40000\" r=\"8\"/><S t=\"380000\" d=\"20000\"/>",
        "id=\"288p\"",
    ] {
        assert!(text.contains(part), "{part} in\n{text}");
    }
}

#[test]
fn segments_are_immutable_ranged_and_conditional_and_bandwidth_bounds_them_all() {
    let server = hls_server(&videos_dir(), None);
    let mut c = HttpConn::connect(http_addr(&server));
    let init = get(&mut c, "/videos/video.mjpeg/hls/288p/init.mp4", &[]);
    assert_media_headers(&init, "video/mp4", "init");
    assert_eq!(&init.body[4..8], b"ftyp");
    let immutable = Some("public, max-age=31536000, immutable");
    assert_eq!(init.header("Cache-Control"), immutable);
    let mut sizes = Vec::new();
    for n in 1..=11 {
        let path = format!("/videos/video.mjpeg/hls/288p/{n}.m4s");
        let seg = get(&mut c, &path, &[]);
        assert_media_headers(&seg, "video/iso.segment", &path);
        assert_eq!(seg.header("Cache-Control"), immutable);
        assert_eq!(&seg.body[4..8], b"styp", "{path}");
        let dash = get(
            &mut c,
            &format!("/videos/video.mjpeg/dash/288p/{n}.m4s"),
            &[],
        );
        assert_eq!(dash.body, seg.body, "DASH and HLS share segment {n}");
        sizes.push(seg.body.len());
    }
    let path = "/videos/video.mjpeg/hls/288p/4.m4s";
    let seg = get(&mut c, path, &[]);
    let etag = seg.header("ETag").unwrap().to_string();
    let len = seg.body.len();
    let not_modified = get(&mut c, path, &[("If-None-Match", &etag)]);
    assert_eq!((not_modified.status, not_modified.body.len()), (304, 0));
    let part = get(&mut c, path, &[("Range", "bytes=100-199")]);
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("Content-Range"),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert_eq!(part.body, seg.body[100..200]);
    let tail = get(&mut c, path, &[("Range", "bytes=-10")]);
    assert_eq!((tail.status, &tail.body[..]), (206, &seg.body[len - 10..]));
    let stale = get(
        &mut c,
        path,
        &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
    );
    assert_eq!(
        (stale.status, stale.body.len()),
        (200, len),
        "If-Range with another tag: all"
    );
    let past = get(&mut c, path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("Content-Range"),
        Some(format!("bytes */{len}").as_str())
    );
    c.send(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let head = c.response(true).expect("a HEAD answer");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(len.to_string().as_str())
    );
    assert_eq!(head.header("ETag"), Some(etag.as_str()));
    // Every segment is known now: the figures are measured, and bound every segment.
    let text = get(&mut c, "/videos/video.mjpeg/hls/index.m3u8", &[]);
    assert_eq!(text.header("Cache-Control"), Some("public, max-age=60"));
    let number = |key: &str| -> f64 {
        let t = text.text();
        let at = t
            .find(&format!(",{key}="))
            .or_else(|| t.find(&format!(":{key}=")))
            .unwrap();
        let v = &t[at + key.len() + 2..];
        v[..v.find(',').unwrap()].parse().unwrap()
    };
    let peak = number("BANDWIDTH");
    for (i, s) in sizes.iter().enumerate() {
        let seconds = if i == 0 || i == 10 { 1.0 } else { 2.0 };
        let rate = *s as f64 * 8.0 / seconds;
        assert!(
            rate <= peak,
            "segment {} at {rate} bit/s over BANDWIDTH {peak}",
            i + 1
        );
    }
    let average = sizes.iter().sum::<usize>() as f64 * 8.0 / 20.0;
    assert!((number("AVERAGE-BANDWIDTH") - average).abs() <= 1.0 + average * 0.001);
}

#[test]
fn hostile_rendition_requests_get_the_right_status_and_spoil_nothing() {
    let server = hls_server(&videos_dir(), None);
    let mut c = HttpConn::connect(http_addr(&server));
    let v = "/videos/video.mjpeg";
    let cases: &[(&str, &str, u16)] = &[
        ("GET", "/hls/288p/12.m4s", 404),
        ("GET", "/hls/288p/4294967295.m4s", 404),
        ("GET", "/hls/288p/0.m4s", 404),
        ("GET", "/hls/999p/1.m4s", 404),
        ("GET", "/hls/999p/init.mp4", 404),
        ("GET", "/hls/999p/index.m3u8", 404),
        ("GET", "/hls/288p/1.m4s/x", 404),
        ("GET", "/dash/288p/index.m3u8", 404),
        ("GET", "/hls/../../etc/passwd", 404),
        ("POST", "/hls/288p/1.m4s", 405),
        ("DELETE", "/hls/index.m3u8", 405),
    ];
    for (method, leaf, want) in cases {
        let r = c.request(method, &format!("{v}{leaf}"), &[]);
        assert_eq!(r.status, *want, "{method} {leaf}: {}", r.text());
    }
    let missing = c.request("GET", "/videos/nothing.mjpeg/hls/index.m3u8", &[]);
    assert_eq!(missing.status, 404);
    let outside = c.request("GET", "/videos/..%2f..%2fetc/hls/index.m3u8", &[]);
    assert!(matches!(outside.status, 403 | 404), "{}", outside.status);
    let huge = c.request(
        "GET",
        &format!("{v}/hls/288p/2.m4s"),
        &[("Range", "bytes=99999999-")],
    );
    assert_eq!(huge.status, 416);
    // Nothing of that was cached as an error: the segments are still served whole.
    let good = c.request("GET", &format!("{v}/hls/288p/2.m4s"), &[]);
    assert_eq!((good.status, &good.body[4..8]), (200, &b"styp"[..]));
    assert_eq!(metric(&server, "mjpeg_cmaf_encodes_failed_total"), 0.0);
}

#[test]
fn concurrent_requests_for_a_segment_wait_for_one_encode() {
    let server = hls_server(&videos_dir(), None);
    let addr = http_addr(&server);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                let mut c = HttpConn::connect(addr);
                b.wait();
                let r = c.request("GET", "/videos/video.mjpeg/hls/288p/6.m4s", &[]);
                assert_eq!(r.status, 200);
                r.body
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "all got the same bytes"
    );
    settle(&server);
    // Segment 6 once, and the three after it queued ahead: nothing twice.
    assert_eq!(metric(&server, "mjpeg_cmaf_parts_encoded_total"), 4.0);
    assert_eq!(metric(&server, "mjpeg_cmaf_segment_responses_total"), 8.0);
    assert_eq!(
        metric(&server, "mjpeg_cmaf_segments_served_again_total"),
        1.0
    );
}

/// Every part of the sample's only rendition, by HLS URL.
fn all_parts(server: &server::ServerHandle) -> Vec<Vec<u8>> {
    let mut c = HttpConn::connect(http_addr(server));
    std::iter::once("init.mp4".to_string())
        .chain((1..=11).map(|n| format!("{n}.m4s")))
        .map(|leaf| {
            let r = get(&mut c, &format!("/videos/video.mjpeg/hls/288p/{leaf}"), &[]);
            assert_eq!(r.status, 200, "{leaf}");
            r.body
        })
        .collect()
}

#[test]
fn the_disk_cache_serves_a_restarted_server_without_encoding_again() {
    let dir = scratch_dir("segment-cache");
    let first = hls_server(&videos_dir(), Some(dir.clone()));
    let made = all_parts(&first);
    settle(&first);
    assert_eq!(metric(&first, "mjpeg_cmaf_parts_encoded_total"), 12.0);
    drop(first);
    let second = hls_server(&videos_dir(), Some(dir));
    let again = all_parts(&second);
    assert_eq!(again, made, "the same bytes from the disk");
    assert_eq!(metric(&second, "mjpeg_cmaf_parts_encoded_total"), 0.0);
    assert_eq!(metric(&second, "mjpeg_cmaf_parts_from_disk_total"), 12.0);
}

#[test]
fn a_file_replaced_while_it_is_encoded_never_gets_the_old_segments() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch_dir("replaced");
    let file = dir.join("v.mjpeg");
    std::fs::copy(videos_dir().join("video.mjpeg"), &file).unwrap();
    let server = hls_server(&dir, Some(scratch_dir("replaced-cache")));
    let addr = http_addr(&server);
    let mut c = HttpConn::connect(addr);
    assert_eq!(
        get(&mut c, "/videos/v.mjpeg/hls/index.m3u8", &[]).status,
        200
    );
    // Encodes of the old file are queued and running while it is replaced.
    let reader = std::thread::spawn(move || {
        let mut c = HttpConn::connect(addr);
        (2..=10)
            .map(|n| get(&mut c, &format!("/videos/v.mjpeg/hls/288p/{n}.m4s"), &[]).status)
            .collect::<Vec<_>>()
    });
    let other = make_clip(384, 288, 80).unwrap();
    let tmp = dir.join("v.tmp");
    std::fs::copy(&other, &tmp).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let statuses = reader.join().unwrap();
    // Each old request got the old file's segment or, once the file was gone, a 404.
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 404)),
        "{statuses:?}"
    );
    // Seen within the plan's reuse time (a second).
    let seen = wait_until(Duration::from_secs(5), || {
        let media = get(&mut c, "/videos/v.mjpeg/hls/288p/index.m3u8", &[]).text();
        media.matches(".m4s").count() == 3
    });
    assert!(
        seen,
        "the new file (4 s, 3 segments) never replaced the old one"
    );
    assert_eq!(
        get(&mut c, "/videos/v.mjpeg/hls/288p/4.m4s", &[]).status,
        404
    );
    let frames = ffmpeg_frames(
        &format!("http://{addr}/videos/v.mjpeg/hls/index.m3u8"),
        384,
        288,
    );
    let source = source_pictures(&read_plain_mjpeg(&other));
    assert_frames_match("the replaced file", &frames, &source, 35.0);
}

#[test]
fn a_tall_source_gets_a_360_line_rendition_too() {
    if !have_ffmpeg() {
        return;
    }
    let clip = make_clip(1280, 720, 40).unwrap();
    let dir = scratch_dir("ladder");
    std::fs::copy(&clip, dir.join("hd.mjpeg")).unwrap();
    let server = hls_server(&dir, None);
    let master = http_get(http_addr(&server), "/videos/hd.mjpeg/hls/index.m3u8").text();
    let variants: Vec<&str> = master.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(variants, ["720p/index.m3u8", "360p/index.m3u8"], "{master}");
    assert!(master.contains("RESOLUTION=1280x720") && master.contains("RESOLUTION=640x360"));
    let source = source_pictures(&read_plain_mjpeg(&clip));
    let top = ffmpeg_frames(
        &format!("{}/hls/720p/index.m3u8", base(&server, "hd.mjpeg")),
        1280,
        720,
    );
    assert_frames_match("720p", &top, &source, 35.0);
    let low = ffmpeg_frames(
        &format!("{}/hls/360p/index.m3u8", base(&server, "hd.mjpeg")),
        640,
        360,
    );
    assert_eq!(low.len(), 40);
}

/// The renditions' pictures of RGB, CMYK and grayscale JPEGs are those of the same frames
/// coded as YCbCr (tests/peers/make_variants.sh makes them all from one source): colours
/// converted right, not just consistently with themselves.
#[test]
fn rgb_cmyk_and_gray_sources_become_the_same_pictures_as_ycbcr_ones() {
    let Ok(dir) = make_variants() else {
        assert!(
            std::env::var("REQUIRE_PEERS").as_deref() != Ok("1"),
            "make_variants failed"
        );
        eprintln!("\n!!!!! SKIPPED: the test variants cannot be made here !!!!!\n");
        return;
    };
    let frames = |name: &str| read_plain_mjpeg(&dir.join(format!("{name}.mjpeg")));
    let reference = source_pictures(&frames("small_420"));
    for name in ["small_rgb", "small_cmyk"] {
        for (i, f) in frames(name).iter().enumerate().take(5) {
            let p = h264::check::psnr(&h264::Yuv420::from_jpeg(f).unwrap(), &reference[i]);
            assert!(
                p >= 30.0,
                "{name} frame {i}: {p:.2} dB from the YCbCr frame"
            );
        }
    }
    for (i, f) in frames("small_gray").iter().enumerate().take(5) {
        let gray = h264::Yuv420::from_jpeg(f).unwrap();
        assert_eq!(
            gray.y, reference[i].y,
            "small_gray frame {i}: the same luma"
        );
        assert!(
            gray.u.iter().chain(&gray.v).all(|&c| c == 128),
            "neutral chroma"
        );
    }
}
