//! "Past one machine": Debian's nginx as a caching edge in front of the server's HTTP port,
//! configured with `deploy/nginx-edge.conf` as committed (only its listen address, upstream
//! and cache directory changed). Fifty players starting together read every HLS rendition
//! of two videos through it, and the origin encodes and sends each segment once: the edge's
//! cache lock makes one upstream fetch of the concurrent misses, and the rest are hits.
//! Ranges, revalidations and DASH are answered by the edge from its cache.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::http::{http_get, HttpConn, HttpResponse};
use support::nginx::{self, Nginx};
use support::*;

/// Players that start together.
const PLAYERS: usize = 50;
/// How long a player retries a 503 (a segment whose encode the origin is still waiting for).
const BUSY_FOR: Duration = Duration::from_secs(120);
/// A request's read deadline: a cold segment waits for its encode (up to the origin's 30 s).
const READ: Duration = Duration::from_secs(60);

/// Starts nginx with deploy/nginx-edge.conf on a free loopback port in front of `origin`.
fn edge(origin: SocketAddr) -> Nginx {
    let config = nginx::Config {
        name: "nginx-edge",
        site: "deploy/nginx-edge.conf",
        worker_connections: 1024,
        log_format: Some("$upstream_cache_status $status $request_uri"),
    };
    nginx::start(&config, origin, |site, dir| {
        let cache = "/var/cache/nginx/mjpeg-edge";
        assert!(site.contains(cache));
        site.replace(cache, &dir.join("cache").display().to_string())
    })
}

/// The origin (in-process, HTTP on port 0, a scratch segment cache) serving `videos`, and
/// the edge in front of it; `None` when nginx (or ffmpeg, for the clip) is missing.
fn setup(hd: bool) -> Option<(server::ServerHandle, Nginx)> {
    if !peer_available("nginx", &["nginx", "-v"]) || (hd && !have_ffmpeg()) {
        return None;
    }
    let videos = scratch_dir("edge-videos");
    std::fs::copy(videos_dir().join("video.mjpeg"), videos.join("video.mjpeg")).unwrap();
    if hd {
        // 1280x720, 4 s: two renditions (720p and 360p) of two segments each.
        let clip = support::http::make_lab_clip(1280, 720, 4);
        std::fs::copy(clip, videos.join("hd.mjpeg")).unwrap();
    }
    let cache = scratch_dir("edge-segments");
    let server = start_server(&videos, |c| {
        c.http = server::http::HttpListen::Port(0);
        c.cmaf.cache_dir = Some(cache);
    });
    let proxy = edge(server.http_addr.unwrap());
    Some((server, proxy))
}

/// GET `path`, again while the answer is 503 (an encode still running), for `BUSY_FOR`.
fn get_patiently(c: &mut HttpConn, path: &str) -> HttpResponse {
    let end = Instant::now() + BUSY_FOR;
    loop {
        let r = c.request("GET", path, &[]);
        if r.status != 503 || Instant::now() > end {
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            return r;
        }
        // The origin said Retry-After; a player waits before asking again.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `reference` from a playlist at `base`.
fn resolve(base: &str, reference: &str) -> String {
    format!("{}{reference}", &base[..base.rfind('/').unwrap() + 1])
}

/// The URI lines of a playlist, and its `#EXT-X-MAP` URI.
fn uris(text: &str) -> (Option<String>, Vec<String>) {
    let map = text.lines().find_map(|l| {
        let v = l.strip_prefix("#EXT-X-MAP:URI=\"")?;
        Some(v.split('"').next()?.to_string())
    });
    let lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    (map, lines)
}

/// What a player read: each resource's path, its length and a hash of its bytes, in order.
type Got = Vec<(String, usize, u64)>;

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One player: the whole ladder under each multivariant playlist, on one kept-alive
/// connection to `addr`.
fn read_ladders(addr: SocketAddr, multivariants: &[String]) -> Got {
    let mut c = HttpConn::connect(addr);
    c.stream.set_read_timeout(Some(READ)).unwrap();
    let mut got = Got::new();
    let mut take = |c: &mut HttpConn, path: &str| {
        let r = get_patiently(c, path);
        got.push((path.to_string(), r.body.len(), fnv(&r.body)));
        r
    };
    for multi in multivariants {
        let text = take(&mut c, multi).text();
        for v in uris(&text).1 {
            let media = resolve(multi, &v);
            let text = take(&mut c, &media).text();
            let (map, segments) = uris(&text);
            take(&mut c, &resolve(&media, &map.expect("an EXT-X-MAP")));
            assert!(!segments.is_empty(), "{media} lists no segment");
            for s in segments {
                let path = resolve(&media, &s);
                let r = take(&mut c, &path);
                assert!(
                    r.body.len() >= 8 && matches!(&r.body[4..8], b"styp" | b"moof"),
                    "{path} does not start with a styp or moof box"
                );
            }
        }
    }
    got
}

/// A counter of the origin's `/metrics` (`None`: the family is not there).
fn metric(origin: SocketAddr, name: &str) -> Option<u64> {
    let text = http_get(origin, "/metrics").text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|v| v as u64)
}

/// The origin's count of whole segment responses and of segments served a second time, from
/// its `/metrics` (checked against the in-process counters they are made of).
fn origin_counts(server: &server::ServerHandle) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    let origin = server.http_addr.unwrap();
    let read = |name| metric(origin, name).unwrap_or_else(|| panic!("/metrics has no {name}"));
    let counts = (
        read("mjpeg_cmaf_segment_responses_total"),
        read("mjpeg_cmaf_segments_served_again_total"),
    );
    let counters = server.shared.packager.counters();
    let local = (
        counters.segment_responses.load(Ordering::SeqCst),
        counters.served_again.load(Ordering::SeqCst),
    );
    assert_eq!(counts, local, "/metrics against the counters");
    counts
}

#[test]
fn fifty_players_through_the_edge_get_every_segment_and_the_origin_serves_each_once() {
    let Some((server, proxy)) = setup(true) else {
        return;
    };
    let multivariants: Vec<String> = ["video.mjpeg", "hd.mjpeg"]
        .iter()
        .map(|v| format!("/videos/{v}/hls/index.m3u8"))
        .collect();
    let start = Arc::new(Barrier::new(PLAYERS));
    let players: Vec<_> = (0..PLAYERS)
        .map(|_| {
            let (start, multivariants, addr) = (start.clone(), multivariants.clone(), proxy.addr);
            std::thread::spawn(move || {
                start.wait();
                read_ladders(addr, &multivariants)
            })
        })
        .collect();
    let reads: Vec<Got> = players.into_iter().map(|p| p.join().unwrap()).collect();

    // Every player read the same resources, and both videos' renditions were there.
    let paths: Vec<&String> = reads[0].iter().map(|(p, ..)| p).collect();
    for (i, r) in reads.iter().enumerate() {
        let theirs: Vec<&String> = r.iter().map(|(p, ..)| p).collect();
        assert_eq!(theirs, paths, "player {i} read another ladder");
    }
    let segments: Vec<&String> = paths
        .iter()
        .copied()
        .filter(|p| p.ends_with(".m4s"))
        .collect();
    let renditions: BTreeMap<String, usize> = segments.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p[..p.rfind('/').unwrap()].to_string()).or_default() += 1;
        m
    });
    eprintln!("renditions through the edge (segments each): {renditions:?}");
    assert!(renditions.keys().any(|r| r.ends_with("hd.mjpeg/hls/720p")));
    assert!(renditions.keys().any(|r| r.ends_with("hd.mjpeg/hls/360p")));
    assert_eq!(
        renditions.len(),
        3,
        "the sample's one rendition and the clip's two"
    );

    // The origin sent each segment whole once, and never one a second time.
    let (responses, again) = origin_counts(&server);
    assert_eq!(again, 0, "segments the origin served a second time");
    assert_eq!(
        responses,
        segments.len() as u64,
        "whole segment responses from the origin, for {} distinct segments",
        segments.len()
    );

    // Every player got every resource complete: the bytes the origin serves directly.
    let mut direct = HttpConn::connect(server.http_addr.unwrap());
    direct.stream.set_read_timeout(Some(READ)).unwrap();
    let from_origin: BTreeMap<String, (usize, u64)> = paths
        .iter()
        .map(|p| {
            let r = get_patiently(&mut direct, p);
            (p.to_string(), (r.body.len(), fnv(&r.body)))
        })
        .collect();
    for (i, read) in reads.iter().enumerate() {
        for (path, len, hash) in read {
            // A multivariant playlist's bandwidths change while segments are still being
            // encoded; the rest is fixed.
            if !path.ends_with("hls/index.m3u8") {
                assert_eq!((*len, *hash), from_origin[path], "player {i}: {path}");
            }
        }
    }
    let log = std::fs::read_to_string(proxy.dir.join("access.log")).unwrap();
    let misses = log
        .lines()
        .filter(|l| l.contains(".m4s") && !l.starts_with("HIT"))
        .count();
    eprintln!(
        "{} player requests through the edge, {} segment requests not answered from the cache, {responses} segment responses from the origin",
        log.lines().count(),
        misses
    );
}

#[test]
fn the_edge_answers_ranges_revalidations_and_dash_from_its_cache() {
    let Some((server, proxy)) = setup(false) else {
        return;
    };
    let mut c = HttpConn::connect(proxy.addr);
    c.stream.set_read_timeout(Some(READ)).unwrap();
    let multi = "/videos/video.mjpeg/hls/index.m3u8";
    let playlist = get_patiently(&mut c, multi).text();
    let media = resolve(multi, &uris(&playlist).1[0]);
    let r = get_patiently(&mut c, &media);
    assert_eq!(r.header("Cache-Control"), Some("public, max-age=60"));
    let first = resolve(&media, &uris(&r.text()).1[0]);

    // A first request that is a range: the edge fetches the whole segment once (the origin
    // counts one whole response) and answers the range itself.
    let before = origin_counts(&server).0;
    let r = c.request("GET", &first, &[("Range", "bytes=100-199")]);
    assert_eq!(r.status, 206, "{:?}", r.headers);
    assert_eq!(r.header("X-Cache-Status"), Some("MISS"));
    let whole = get_patiently(&mut c, &first);
    assert_eq!(whole.header("X-Cache-Status"), Some("HIT"));
    assert_eq!(
        whole.header("Cache-Control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.body, whole.body[100..200]);
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes 100-199/{}", whole.body.len()).as_str())
    );
    assert_eq!(origin_counts(&server).0, before + 1, "one whole fetch");

    // A later range and a revalidation are hits; the strong ETag is the origin's.
    let etag = whole.header("ETag").expect("an ETag").to_string();
    let direct = http_get(server.http_addr.unwrap(), &first);
    assert_eq!(direct.header("ETag"), Some(etag.as_str()));
    let r = c.request("GET", &first, &[("Range", "bytes=-8")]);
    assert_eq!((r.status, r.header("X-Cache-Status")), (206, Some("HIT")));
    assert_eq!(r.body, whole.body[whole.body.len() - 8..]);
    let r = c.request("GET", &first, &[("If-None-Match", &etag)]);
    assert_eq!((r.status, r.header("X-Cache-Status")), (304, Some("HIT")));
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    let (responses, again) = origin_counts(&server);
    assert_eq!(
        (responses, again),
        (before + 2, 1),
        "the edge's fetch, and the direct GET (a second whole response)"
    );

    // DASH is cached the same way: the MPD once fetched is answered from the cache (fresh, or
    // stale while one background request refreshes it), and its segment URL, another key for
    // the same bytes, is fetched once and then a hit.
    let mpd = "/videos/video.mjpeg/dash/manifest.mpd";
    let fetched = get_patiently(&mut c, mpd);
    let again = get_patiently(&mut c, mpd);
    assert!(
        matches!(
            again.header("X-Cache-Status"),
            Some("HIT" | "STALE" | "UPDATING")
        ),
        "second MPD: {:?}",
        again.headers
    );
    assert_eq!(again.body, fetched.body);
    let dash_first = first.replace("/hls/", "/dash/");
    let miss = get_patiently(&mut c, &dash_first);
    let hit = get_patiently(&mut c, &dash_first);
    assert_eq!(
        (miss.header("X-Cache-Status"), hit.header("X-Cache-Status")),
        (Some("MISS"), Some("HIT"))
    );
    assert_eq!((&miss.body, &hit.body), (&whole.body, &whole.body));
    // A third whole response of the same segment: `served_again` counts segments served more
    // than once, so it stays 1.
    assert_eq!(origin_counts(&server), (before + 3, 1));
}
