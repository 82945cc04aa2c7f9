//! Live HLS (Low-Latency) and DASH of a live path published by ffmpeg over RTSP (TCP): the
//! media playlist has the LL-HLS tags, parts appear as the publisher sends, a blocking
//! reload returns once the part it names exists (and 400 for one far ahead), the preload
//! hint's part is waited for; ffmpeg reads the live HLS and the dynamic DASH MPD and gets
//! pictures that match the published ones (PSNR, each matched by the number it carries);
//! segments that leave the window are 404; an nginx edge carries the live playlists and
//! parts with one origin request for each part; the end of the publisher ends the playlist.

#[path = "support/live_source.rs"]
mod live_source;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use live_source::NumberedPublisher;
use support::http::{http_get, HttpConn, HttpResponse};
use support::*;

/// The PSNR a picture ffmpeg decodes from the live H.264 must reach against the published one
/// it carries the number of (the file side's renditions score 38 dB and more).
const MIN_PSNR_DB: f64 = 30.0;

fn start() -> (server::ServerHandle, std::net::SocketAddr) {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
    });
    let http = server.http_addr.expect("an HTTP listener");
    (server, http)
}

/// Starts the numbered publisher on `live/NAME` and waits until the path has frames.
fn publish(server: &server::ServerHandle, name: &str) -> NumberedPublisher {
    let url = format!("rtsp://{}/live/{name}", server.addr);
    let publisher = NumberedPublisher::start(&url);
    let ok = wait_until(Duration::from_secs(20), || {
        server.shared.live.get(name).is_some_and(|p| {
            p.counters
                .frames_in
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 5
        })
    });
    assert!(ok, "live/{name} got no frames from ffmpeg in 20 s");
    publisher
}

/// GETs `path` until it answers 200 (the first request starts the encoder), within 20 s.
fn get_ok(http: std::net::SocketAddr, path: &str) -> HttpResponse {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(20), || {
        let r = http_get(http, path);
        let done = r.status == 200;
        last = Some(r);
        done
    });
    let r = last.unwrap();
    assert!(ok, "{path}: {} {}", r.status, r.text());
    r
}

/// The `URI` of the playlist's preload hint: (segment, part).
fn preload_hint(playlist: &str) -> (u64, u64) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .unwrap_or_else(|| panic!("no preload hint in\n{playlist}"));
    let uri = line.split('"').nth(1).unwrap();
    let (m, p) = uri.strip_suffix(".m4s").unwrap().split_once('.').unwrap();
    (m.parse().unwrap(), p.parse().unwrap())
}

/// The playlist's first media sequence number.
fn media_sequence(playlist: &str) -> u64 {
    let line = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .expect("EXT-X-MEDIA-SEQUENCE");
    line.parse().unwrap()
}

/// The media playlist of a live stream: the LL-HLS tags, PART-HOLD-BACK at least three part
/// targets, every part within the target, no end.
fn assert_ll_hls_tags(text: &str) {
    for tag in [
        "#EXT-X-TARGETDURATION:1\n",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=",
        "#EXT-X-PART-INF:PART-TARGET=0.33334\n",
        "#EXT-X-MAP:URI=\"init.mp4\"\n",
        "#EXT-X-PROGRAM-DATE-TIME:20",
        "#EXT-X-PART:DURATION=",
        ",INDEPENDENT=YES\n",
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"",
    ] {
        assert!(text.contains(tag), "no {tag:?} in\n{text}");
    }
    assert!(!text.contains("#EXT-X-ENDLIST"));
    // PART-HOLD-BACK is at least three part targets.
    let hold: f64 = text
        .split("PART-HOLD-BACK=")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(hold >= 3.0 * 0.33334 - 1e-6, "PART-HOLD-BACK={hold}");
    for line in text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:DURATION="))
    {
        let d: f64 = line.split(',').next().unwrap().parse().unwrap();
        assert!(d > 0.0 && d <= 0.33334, "a part of {d} s");
    }
}

/// A blocking reload for the hinted part returns once it exists and lists it; the next hinted
/// part, asked for before it exists, comes when made; bad and far-ahead requests are refused.
/// The segment number of that part.
fn blocking_requests(conn: &mut HttpConn, base: &str, text: &str) -> u64 {
    // A blocking reload for the hinted part returns once it exists, and lists it.
    let (msn, part) = preload_hint(text);
    let asked = Instant::now();
    let blocked = conn.request(
        "GET",
        &format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        &[],
    );
    let waited = asked.elapsed();
    assert_eq!(blocked.status, 200, "{}", blocked.text());
    assert_eq!(blocked.header("Cache-Control"), Some("public, max-age=6"));
    let listed = format!("URI=\"{msn}.{part}.m4s\"");
    let after = blocked.text();
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&listed)),
        "the reload for {msn}.{part} does not list it:\n{after}"
    );
    eprintln!("blocking reload for {msn}.{part} returned after {waited:?}");
    assert!(waited < Duration::from_secs(3), "it waited {waited:?}");

    // The next hinted part, asked for before it exists, comes when made: a CMAF fragment.
    let (msn, part) = preload_hint(&after);
    let early = conn.request("GET", &format!("{base}/{msn}.{part}.m4s"), &[]);
    assert_eq!(early.status, 200, "{}", early.text());
    assert!(find(&early.body, b"moof").is_some() && find(&early.body, b"mdat").is_some());
    assert_eq!(
        early.header("Cache-Control"),
        Some("public, max-age=31536000, immutable")
    );

    // Bad and far-ahead blocking requests.
    let far = conn.request(
        "GET",
        &format!("{base}/index.m3u8?_HLS_msn={}", msn + 3),
        &[],
    );
    assert_eq!(far.status, 400, "{}", far.text());
    let lone = conn.request("GET", &format!("{base}/index.m3u8?_HLS_part=1"), &[]);
    assert_eq!(lone.status, 400);
    assert_eq!(
        conn.request("GET", "/live/cam/hls/nope/index.m3u8", &[])
            .status,
        404
    );
    assert_eq!(
        conn.request("GET", &format!("{base}/{}.m4s", msn + 5), &[])
            .status,
        404
    );

    msn
}

#[test]
fn the_live_playlist_has_parts_and_blocking_reload_returns_when_the_part_exists() {
    if !have_ffmpeg() {
        return;
    }
    let (server, http) = start();
    assert_eq!(http_get(http, "/live/cam/hls/index.m3u8").status, 404);
    let publisher = publish(&server, "cam");
    let multi = get_ok(http, "/live/cam/hls/index.m3u8");
    let text = multi.text();
    assert!(
        text.contains("#EXT-X-STREAM-INF:") && text.contains("CODECS=\"avc1."),
        "{text}"
    );
    let rid = text.lines().find(|l| l.ends_with("/index.m3u8")).unwrap();
    let rid = rid.trim_end_matches("/index.m3u8").to_string();
    let base = format!("/live/cam/hls/{rid}");
    let media = get_ok(http, &format!("{base}/index.m3u8"));
    assert_eq!(media.header("Cache-Control"), Some("public, max-age=1"));
    let text = media.text();
    assert_ll_hls_tags(&text);

    let mut conn = HttpConn::connect(http);
    let msn = blocking_requests(&mut conn, &base, &text);

    // A segment is its parts end to end.
    let segment = conn.request("GET", &format!("{base}/{msn}.m4s"), &[]);
    assert_eq!(segment.status, 200);
    let parts: Vec<u8> = (0..)
        .map(|p| conn.request("GET", &format!("{base}/{msn}.{p}.m4s"), &[]))
        .take_while(|r| r.status == 200)
        .flat_map(|r| r.body)
        .collect();
    assert_eq!(
        parts, segment.body,
        "segment {msn} is not its parts end to end"
    );
    // It leaves the playlist, then (six segments later: for players with an older
    // playlist) the window.
    let left = wait_until(Duration::from_secs(30), || {
        media_sequence(&http_get(http, &format!("{base}/index.m3u8")).text()) > msn + 7
    });
    assert!(left, "the window does not slide");
    assert_eq!(
        conn.request("GET", &format!("{base}/{msn}.m4s"), &[])
            .status,
        404
    );

    // The publisher leaves: the playlist ends.
    drop(publisher);
    let ended = wait_until(Duration::from_secs(15), || {
        let r = http_get(http, &format!("{base}/index.m3u8"));
        r.status == 404 || r.text().contains("#EXT-X-ENDLIST")
    });
    assert!(ended, "the playlist does not end with its publisher");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// ffmpeg reads `url` for 2 s of pictures into PNGs under `dir`; each carries a number,
/// and matches the picture published with it.
fn ffmpeg_gets_the_published_pictures(who: &str, url: &str, dir: &Path) {
    let out = run(
        Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i", url])
            .args(["-frames:v", "40", "-y"])
            .arg(dir.join("%03d.png")),
        Duration::from_secs(40),
    );
    assert!(
        out.status.success(),
        "{who}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut scores = Vec::new();
    for i in 1..=40 {
        let png = dir.join(format!("{i:03}.png"));
        let img = image::open(&png).unwrap_or_else(|e| panic!("{who}: {png:?}: {e}"));
        let img = img.to_rgb8();
        let (n, source) = live_source::source_of(&img)
            .unwrap_or_else(|| panic!("{who}: picture {i} carries no number"));
        scores.push((n, psnr(&img, &source)));
    }
    let worst = scores.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    eprintln!(
        "{who}: 40 pictures, frames {}..{}, worst PSNR {worst:.1} dB",
        scores[0].0, scores[39].0
    );
    assert!(worst >= MIN_PSNR_DB, "{who}: {scores:?}");
    let rising = scores.windows(2).filter(|w| w[1].0 == w[0].0 + 1).count();
    assert!(rising >= 35, "{who}: frames out of order: {scores:?}");
}

#[test]
fn ffmpeg_reads_live_hls_and_dynamic_dash_with_the_published_pictures() {
    if !have_ffmpeg() {
        return;
    }
    let (server, http) = start();
    let _publisher = publish(&server, "numbers");
    let mpd = get_ok(http, "/live/numbers/dash/manifest.mpd").text();
    for want in [
        "type=\"dynamic\"",
        "availabilityStartTime=\"20",
        "timeShiftBufferDepth=\"PT",
        "minimumUpdatePeriod=\"PT",
        "media=\"$RepresentationID$/$Number$.m4s\"",
        "<SegmentTimeline><S t=",
    ] {
        assert!(mpd.contains(want), "no {want} in\n{mpd}");
    }
    let base = format!("http://{http}/live/numbers");
    let dir = scratch_dir("live-hls-ffmpeg");
    let hls = dir.join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    ffmpeg_gets_the_published_pictures("ffmpeg HLS", &format!("{base}/hls/index.m3u8"), &hls);
    let dash = dir.join("dash");
    std::fs::create_dir_all(&dash).unwrap();
    ffmpeg_gets_the_published_pictures("ffmpeg DASH", &format!("{base}/dash/manifest.mpd"), &dash);
}

/// Through deploy/nginx-edge.conf, as committed (its cached location takes `/live/` too):
/// two players' requests for the same part reach the origin once, and the playlists pass
/// (cacheable for a second).
#[test]
fn an_nginx_edge_carries_live_parts_with_one_origin_request_each() {
    if !have_ffmpeg() || !peer_available("nginx", &["nginx", "-v"]) {
        return;
    }
    let (server, http) = start();
    let _publisher = publish(&server, "edge");
    let config = support::nginx::Config {
        name: "nginx-live",
        site: "deploy/nginx-edge.conf",
        worker_connections: 256,
        log_format: None,
    };
    let edge = support::nginx::start(&config, http, |site, dir| {
        site.replace(
            "/var/cache/nginx/mjpeg-edge",
            dir.join("cache").to_str().unwrap(),
        )
    });
    let multi = get_ok(edge.addr, "/live/edge/hls/index.m3u8").text();
    let rid = multi.lines().find(|l| l.ends_with("/index.m3u8")).unwrap();
    let base = format!("/live/edge/hls/{}", rid.trim_end_matches("/index.m3u8"));
    let text = get_ok(edge.addr, &format!("{base}/index.m3u8")).text();
    let (msn, part) = preload_hint(&text);
    let path = format!("{base}/{msn}.{part}.m4s");
    // Two players ask for the hinted part at once, before it exists.
    let asks: Vec<_> = (0..2)
        .map(|_| {
            let (addr, path) = (edge.addr, path.clone());
            std::thread::spawn(move || http_get(addr, &path))
        })
        .collect();
    let got: Vec<HttpResponse> = asks.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(
        got.iter().all(|r| r.status == 200),
        "{:?}",
        got.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(got[0].body, got[1].body);
    let third = http_get(edge.addr, &path);
    assert_eq!(third.body, got[0].body);
    // MISS is the one request that went to the origin; the others waited on its lock.
    let statuses: Vec<_> = got
        .iter()
        .chain([&third])
        .map(|r| r.header("X-Cache-Status").unwrap_or("-").to_string())
        .collect();
    eprintln!("edge: the part's cache statuses {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| *s == "MISS").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses[2], "HIT");
    // A blocking reload passes the edge too.
    let (msn, part) = preload_hint(&third_playlist(edge.addr, &base));
    let r = http_get(
        edge.addr,
        &format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(&format!("URI=\"{msn}.{part}.m4s\"")) || preload_hint(&r.text()).0 > msn
    );
}

fn third_playlist(addr: std::net::SocketAddr, base: &str) -> String {
    http_get(addr, &format!("{base}/index.m3u8")).text()
}
