//! 1000 players that connect, SETUP, PLAY and vanish without TEARDOWN: the server's threads and
//! file descriptors go back to where they started. (Alone in this file, so that no other test's
//! threads or sockets blur the counts read from /proc.)

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::*;

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_thousand_abrupt_disconnects_leak_nothing() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let settle = || {
        assert!(
            wait_until(Duration::from_secs(10), || server
                .shared
                .connections
                .load(Ordering::SeqCst)
                == 0
                && server.shared.sessions.load(Ordering::SeqCst) == 0),
            "connections or sessions left over"
        );
        // A connection thread decrements the count just before it ends.
        std::thread::sleep(Duration::from_millis(50));
    };
    // Warm up once, so lazily created things (the media cache's entry) are in the baseline.
    drop(describe_setup_play(server.addr, &url));
    settle();
    let (threads0, fds0) = (threads(), fds());
    for i in 0..1000 {
        let mut c = RtspConn::connect(server.addr);
        let r = c.request(
            "SETUP",
            &format!("{url}/track1"),
            &[("Transport", "RTP/AVP;unicast;client_port=5000-5001")],
        );
        assert_eq!(r.status.0, 200, "cycle {i}");
        let id = r.headers.get("Session").unwrap().to_string();
        assert_eq!(
            c.request("PLAY", &url, &[("Session", &id)]).status.0,
            200,
            "cycle {i}"
        );
        drop(c); // gone: no TEARDOWN
    }
    settle();
    let (threads1, fds1) = (threads(), fds());
    eprintln!("threads {threads0} -> {threads1}, fds {fds0} -> {fds1}");
    assert_eq!(threads1, threads0, "threads leaked");
    assert_eq!(fds1, fds0, "file descriptors leaked");
}
