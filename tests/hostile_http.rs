//! Hostile HTTP input, and the proof that none of it leaves anything behind: every bad
//! request of `support::http::bad_requests` (each naming its RFC section), slow and cut-off
//! requests, a stalled Motion-JPEG viewer that then leaves, and tunnels abused every way the
//! tunnel tests know, after which the process's threads and descriptors (the server runs in
//! it) come back to what they were. Alone in its binary, as `tests/hostile_stateful.rs` is:
//! other tests in the same process would move the counts.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use support::http::{bad_requests, http_get, HttpConn};
use support::*;

#[test]
fn hostile_http_leaves_no_thread_or_descriptor_behind() {
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0);
        c.request_timeout = Duration::from_millis(500);
    });
    let addr = server.http_addr.unwrap();
    // One request first, so the file is prepared and the counts start warm.
    assert_eq!(http_get(addr, "/api/videos").status, 200);
    let before = proc_counts();
    let mut failures = Vec::new();
    for (what, bytes, status) in bad_requests() {
        let mut c = HttpConn::connect(addr);
        c.send(&bytes);
        match c.response(false) {
            Some(r) if r.status == status => {}
            Some(r) => failures.push(format!("{what}: {} (want {status})", r.status)),
            None => failures.push(format!("{what}: no answer")),
        }
    }
    // RFC 7230 6.5: a request that stops half-way gets 408; one cut off by the peer, nothing.
    let mut slow = HttpConn::connect(addr);
    slow.send(b"GET /api/videos HTTP/1.1\r\nHost: x\r\nX-Half: ");
    if slow.response(false).map(|r| r.status) != Some(408) {
        failures.push("a half request: no 408".into());
    }
    let mut cut = TcpStream::connect(addr).unwrap();
    cut.write_all(b"GET /videos/video.mjpeg/mj").unwrap();
    drop(cut);
    // A viewer that reads the head and a part, then stops reading, then leaves.
    let mut viewer = HttpConn::connect(addr);
    let r = viewer.request("GET", "/videos/video.mjpeg/mjpeg?loop=1", &[]);
    if r.status != 200 || viewer.next_part("mjpegframe").is_none() {
        failures.push("the viewer got no stream".into());
    }
    drop(viewer);
    // Tunnels: a GET whose POST never comes, a POST with a cookie nobody registered, a body
    // that is not base64.
    let mut lonely = HttpConn::connect(addr);
    let r = lonely.request("GET", "/video.mjpeg", &[("x-sessioncookie", "lonely")]);
    if r.status != 200 {
        failures.push(format!("a tunnel GET: {}", r.status));
    }
    let mut unknown = HttpConn::connect(addr);
    unknown.send(
        b"POST /video.mjpeg HTTP/1.0\r\nx-sessioncookie: nobody\r\nContent-Length: 32767\r\n\r\n",
    );
    if unknown.response(false).map(|r| r.status) != Some(404) {
        failures.push("a POST with an unknown cookie: not 404".into());
    }
    let _get = {
        let mut g = HttpConn::connect(addr);
        g.request("GET", "/video.mjpeg", &[("x-sessioncookie", "b64")]);
        g
    };
    let mut post = HttpConn::connect(addr);
    post.send(
        b"POST /video.mjpeg HTTP/1.0\r\nx-sessioncookie: b64\r\nContent-Length: 32767\r\n\r\n!!!!",
    );
    if post.response(false).map(|r| r.status) != Some(400) {
        failures.push("a POST body that is not base64: not 400".into());
    }
    drop((lonely, unknown, post, _get, slow));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        http_get(addr, "/api/videos").status,
        200,
        "the server stopped serving"
    );
    // Everything above has ended: the lonely GET's wait (the request timeout), the viewer's
    // session, the tunnel. Its threads and descriptors go with it.
    let settled = wait_until(Duration::from_secs(20), || {
        let now = proc_counts();
        now.threads <= before.threads && now.fds <= before.fds
    });
    let after = proc_counts();
    assert!(settled, "before {before:?}, after {after:?}");
    eprintln!(
        "{} bad requests and the stateful cases answered; threads {} -> {}, descriptors {} -> {}",
        bad_requests().len(),
        before.threads,
        after.threads,
        before.fds,
        after.fds
    );
}
