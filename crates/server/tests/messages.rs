//! What the server says at its default log level, read from its stderr as an operator would:
//! one line per session start and end.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use support::*;

/// The server binary at its default level on an ephemeral port, its stderr as lines.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    port: u16,
}

impl Running {
    fn start(videos: &std::path::Path) -> Running {
        Running::start_with(videos, &[])
    }

    /// The server on `videos` with more flags.
    fn start_with(videos: &std::path::Path, extra: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["0", "--bind", "127.0.0.1", "--http", "0", "--videos"])
            .arg(videos)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            lines,
            seen: Vec::new(),
            port: 0,
        };
        let first = running.wait_for(|l| l.starts_with("serving "));
        running.port = first
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        running
    }

    /// The first line (seen before or arriving within 10 s) that `want` accepts.
    fn wait_for(&mut self, want: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| want(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
        panic!("no such line within 10 s; stderr so far: {:#?}", self.seen)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn each_session_start_and_end_is_one_line_at_the_default_level() {
    let mut server = Running::start(&videos_dir());
    let addr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let url = format!("rtsp://127.0.0.1:{}/video.mjpeg", server.port);
    let mut p = describe_setup_play(addr, &url);
    let started = server.wait_for(|l| l.contains("started"));
    assert!(
        started.contains(&format!(
            "session {} started: video.mjpeg over udp",
            p.session
        )),
        "{started}"
    );
    assert!(
        started.contains("127.0.0.1:"),
        "the peer is named: {started}"
    );
    let r = p
        .conn
        .request("TEARDOWN", &p.url, &[("Session", &p.session)]);
    assert_eq!(r.status.0, 200);
    let ended = server.wait_for(|l| l.contains("ended"));
    assert!(
        ended.contains(&format!("session {} ended (TEARDOWN)", p.session))
            && ended.ends_with("): video.mjpeg over udp"),
        "{ended}"
    );
    // Nothing else at the default level: the requests themselves are -v.
    let sessions: Vec<_> = server
        .seen
        .iter()
        .filter(|l| l.contains("DESCRIBE"))
        .collect();
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[test]
fn startup_lists_each_video_with_its_facts_and_a_command_for_the_first() {
    let mut server = Running::start(&videos_dir());
    let port = server.port;
    let listed = server.wait_for(|l| l.contains("/video.mjpeg  "));
    assert_eq!(
        listed.trim(),
        format!("rtsp://127.0.0.1:{port}/video.mjpeg  384x288, 20 fps (the --fps default), 00:20, 4.7 MB")
    );
    let watch = server.wait_for(|l| l.starts_with("watch: "));
    assert_eq!(
        watch,
        format!("watch: ffplay rtsp://127.0.0.1:{port}/video.mjpeg")
    );
    let publish = server.wait_for(|l| l.starts_with("publish: "));
    assert_eq!(
        publish,
        format!("publish: ffmpeg -re -i FILE -c:v mjpeg -huffman default -f rtsp rtsp://127.0.0.1:{port}/live/NAME")
    );
}

#[test]
fn startup_names_where_published_streams_are_recorded() {
    let dir = scratch_dir("messages-record");
    std::fs::copy(videos_dir().join("video.mjpeg"), dir.join("video.mjpeg")).unwrap();
    let rec = dir.join("rec");
    let mut server = Running::start_with(&dir, &["--record-dir", rec.to_str().unwrap()]);
    let port = server.port;
    let publish = server.wait_for(|l| l.starts_with("publish: "));
    assert_eq!(
        publish,
        format!(
            "publish: ffmpeg -re -i FILE -c:v mjpeg -huffman default -f rtsp rtsp://127.0.0.1:{port}/live/NAME (recorded to {})",
            rec.display()
        )
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_that_cannot_be_served_and_an_empty_directory_are_warned_about() {
    let dir = scratch_dir("messages-refused");
    std::fs::write(dir.join("broken.mjpeg"), b"not a video at all").unwrap();
    let mut server = Running::start(&dir);
    let empty = server.wait_for(|l| l.contains("has no video to serve"));
    assert!(empty.contains("WARN"), "{empty}");
    let refused = server.wait_for(|l| l.contains("broken.mjpeg: not served: "));
    assert!(
        refused.contains("neither a lab .mjpeg"),
        "the reason: {refused}"
    );
    assert!(
        server.seen.iter().all(|l| !l.starts_with("watch: ")),
        "{:?}",
        server.seen
    );
    std::fs::copy(videos_dir().join("video.mjpeg"), dir.join("good.mjpeg")).unwrap();
    std::fs::write(dir.join("good.mjpeg.json"), br#"{"fps": 25}"#).unwrap();
    drop(server);
    let mut server = Running::start(&dir);
    let watch = server.wait_for(|l| l.starts_with("watch: "));
    assert!(watch.ends_with("/good.mjpeg"), "{watch}");
    // 400 frames at the sidecar's 25 fps: 16 s.
    let listed = server.wait_for(|l| l.contains("/good.mjpeg  "));
    assert!(
        listed.ends_with("/good.mjpeg  384x288, 25 fps (from good.mjpeg.json), 00:16, 4.7 MB"),
        "{listed}"
    );
    let serving = server.wait_for(|l| l.starts_with("serving "));
    assert!(serving.contains("(1 video)"), "{serving}");
    server.wait_for(|l| l.contains("broken.mjpeg: not served"));
    assert!(
        server.seen.iter().all(|l| !l.contains("has no video")),
        "{:?}",
        server.seen
    );
}
