//! Recording (`--record-dir`, `--record-segment`): what a publisher sends is written as it
//! was received, frame for frame, to `.mjpeg` files rolled every segment, each under a
//! hidden name until it is finished; the recordings then play from the server like any
//! other video.

#[path = "support/live_peer.rs"]
mod live_peer;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use live_peer::*;
use support::http::{http_get, HttpConn};
use support::*;

/// The files in `dir`, sorted by name (the recordings' names sort by time).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A recording played from the server over UDP until its BYE: its frames.
fn play_recording(server: &server::ServerHandle, name: &str, frames: usize) -> Vec<Vec<u8>> {
    let viewer = UdpWatcher::start(server.addr, &url(server, name));
    // 20 fps, and time to spare.
    let limit = Duration::from_secs(10 + frames as u64 / 20);
    assert!(
        wait_until(limit, || viewer.got_bye()),
        "{name} played to its end"
    );
    let (seen, _) = viewer.finish();
    assert_eq!(seen.lost, 0, "loopback lost a packet");
    seen.frames.into_iter().map(|f| f.jpeg).collect()
}

/// `/api/paths` and `/metrics` show the recorder of live/cam.
fn assert_recorder_listed(http: std::net::SocketAddr) {
    let paths: serde_json::Value =
        serde_json::from_str(&http_get(http, "/api/paths").text()).unwrap();
    let kinds = paths["paths"][0]["viewer_list"].to_string();
    assert!(kinds.contains(r#""kind":"record""#), "{kinds}");
    let metrics = http_get(http, "/metrics").text();
    let line = r#"mjpeg_live_subscribers{path="cam",kind="record"} 1"#;
    assert!(metrics.contains(line), "{metrics}");
}

/// The finished files in `dir`, rolled every 1.5 s, together are the published frames byte
/// for byte and in order as the viewer `received` them, bit-exact to `source`, and each plays
/// from the server frame for frame.
fn assert_recorded(
    server: &server::ServerHandle,
    dir: &std::path::Path,
    source: &[Vec<u8>],
    received: &[Vec<u8>],
) {
    let files = names(dir);
    assert!(files.len() >= 2, "rolled every 1.5 s: {files:?}");
    for f in &files {
        assert!(f.starts_with("cam-") && f.ends_with(".mjpeg"), "{f}");
    }
    let recorded: Vec<Vec<Vec<u8>>> = files
        .iter()
        .map(|f| read_plain_mjpeg(&dir.join(f)))
        .collect();
    // The files together are the published frames, byte for byte and in order, as the
    // viewer received them; bit-exact to what the publisher sent.
    let all: Vec<Vec<u8>> = recorded.concat();
    assert_eq!(all.len(), source.len(), "every frame recorded");
    assert!(all == *received, "the recording is the frames as received");
    assert_eq!(match_frames(&all, source), (0..60).collect::<Vec<_>>());
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    assert_eq!(
        bytes,
        received.concat(),
        "plain concatenated JPEG, nothing else"
    );
    // Each recording plays from the server, frame for frame.
    for (f, frames) in files.iter().zip(&recorded) {
        let played = play_recording(server, &format!("recordings/{f}"), frames.len());
        assert_eq!(
            match_frames(&played, frames),
            (0..frames.len()).collect::<Vec<_>>(),
            "{f} plays bit-exact"
        );
    }
}

#[test]
fn a_recording_is_the_published_frames_and_plays_from_the_server() {
    let videos = scratch_dir("record");
    let dir: PathBuf = videos.join("recordings");
    let server = start_server(&videos, |c| {
        c.record_dir = Some(dir.clone());
        // 1.5 s a file: three seconds of publishing make two or three files.
        c.record_segment = Duration::from_millis(1500);
        c.http = server::http::HttpListen::Port(0);
    });
    let http = server.http_addr.unwrap();
    let source: Vec<Vec<u8>> = sample_frames().into_iter().take(60).collect();
    let mut publisher = LivePublisher::start(server.addr, "cam", 0x5151, 77);
    // What a viewer gets is what is recorded: the frames as the server rebuilt them.
    let mut reader = HttpConn::connect(http);
    let r = reader.request("GET", "/live/cam/mjpeg", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let path = server.shared.live.get("cam").unwrap();
    assert!(wait_until(Duration::from_secs(5), || path
        .subscribers()
        .len()
        == 2));
    assert_recorder_listed(http);
    publisher.send_paced(&source[..40], 20.0);
    // While the stream goes on, the finished files are there and the one being written is
    // not served.
    assert!(wait_until(Duration::from_secs(10), || names(&dir)
        .iter()
        .any(|n| n.ends_with(".mjpeg"))));
    let partial = names(&dir).into_iter().find(|n| n.ends_with(".part"));
    let partial = partial.expect("the file being written, under its temporary name");
    let mut conn = RtspConn::connect(server.addr);
    let r = conn.request(
        "DESCRIBE",
        &url(&server, &format!("recordings/{partial}")),
        &[],
    );
    assert_eq!(r.status.0, 404, "a half-written recording is not served");
    publisher.send_paced(&source[40..], 20.0);
    publisher.teardown();
    let mut received = Vec::new();
    while let Some((_, part)) = reader.next_part("mjpegframe") {
        received.push(part);
    }
    // Every file finished once the path ended.
    assert!(wait_until(Duration::from_secs(10), || !names(&dir)
        .iter()
        .any(|n| n.ends_with(".part"))));
    assert_recorded(&server, &dir, &source, &received);
    assert_recordings_listed(http, &dir);
    let _ = std::fs::remove_dir_all(&videos);
}

/// `/api/videos` lists the finished files of `dir`, newest first, each with its size and
/// URLs, and the web page has a card for each that plays it.
fn assert_recordings_listed(http: std::net::SocketAddr, dir: &Path) {
    let api: serde_json::Value =
        serde_json::from_str(&http_get(http, "/api/videos").text()).unwrap();
    let listed: Vec<(String, u64)> = api["recordings"]
        .as_array()
        .expect("a recordings list")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want: Vec<(String, u64)> = names(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::metadata(dir.join(&f)).unwrap().len();
            (format!("recordings/{f}"), bytes)
        })
        .collect();
    // Newest first: the names carry their start time (files within one second of each
    // other share it, and go by name).
    want.reverse();
    assert_eq!(listed, want, "/api/videos recordings");
    let first = &api["recordings"][0];
    assert_eq!(first["mjpeg"], format!("/videos/{}/mjpeg", want[0].0));
    assert_eq!(first["rtsp_path"], format!("/{}", want[0].0));
    let page = http_get(http, "/").text();
    for (name, _) in &want {
        let card = format!(
            r#"<li class="card recording" data-name="{name}" data-mjpeg="/videos/{name}/mjpeg""#
        );
        assert!(page.contains(&card), "no card for {name}:\n{page}");
    }
}

#[test]
fn a_record_dir_outside_the_videos_is_refused_at_start() {
    let base = scratch_dir("record-outside");
    std::fs::create_dir_all(base.join("videos")).unwrap();
    let bound = server::Server::bind(server::Config {
        bind: ([127, 0, 0, 1], 0).into(),
        videos: base.join("videos"),
        record_dir: Some(base.join("elsewhere")),
        ..server::Config::default()
    });
    let e = bound
        .err()
        .expect("a record dir the catalog would not serve");
    assert!(e.to_string().contains("not inside --videos"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}
