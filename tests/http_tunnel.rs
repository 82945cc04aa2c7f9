//! RTSP tunnelled over HTTP (QuickTime's GET/POST pair with `x-sessioncookie`), on the HTTP
//! port and on the RTSP port: ffmpeg (`-rtsp_transport http`) and GStreamer (`rtsph://`)
//! receive the file's frames bit-exact through it, and the tunnel's own hostile cases get
//! their status: a cookie from another address, an unknown cookie, a bad cookie, a POST body
//! that is not base64.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::http::{assert_sample_frames, HttpConn};
use support::*;

fn start() -> server::ServerHandle {
    start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    })
}

#[test]
fn ffmpeg_plays_through_the_tunnel_on_both_ports() {
    if !have_ffmpeg() {
        return;
    }
    let server = start();
    for addr in [server.http_addr.unwrap(), server.addr] {
        let url = format!("rtsp://{addr}/video.mjpeg");
        let frames = ffmpeg_plays_url(&url, "http", 5);
        assert_sample_frames(&format!("ffmpeg via {addr}"), &frames, 5);
    }
}

#[test]
fn gstreamer_plays_rtsph_urls_on_both_ports() {
    if !have_gstreamer() {
        return;
    }
    let server = start();
    for addr in [server.http_addr.unwrap(), server.addr] {
        let url = format!("rtsph://{addr}/video.mjpeg");
        // gstreamer_plays stops the pipeline after 6 s, of which about one goes to setting up.
        let frames = gstreamer_plays(&url, "tcp", 6);
        assert_sample_frames(&format!("GStreamer via {addr}"), &frames, 5);
    }
}

#[test]
fn our_client_plays_through_the_tunnel_with_rtsph_urls_and_the_flag() {
    let server = start();
    for (url, flag) in [
        (
            format!("rtsph://{}/video.mjpeg", server.http_addr.unwrap()),
            false,
        ),
        (format!("rtsp://{}/video.mjpeg", server.addr), true),
    ] {
        let rec = scratch_dir("tunnel-client").join("rec.mjpeg");
        let mut opts = client::Options::for_url(&url).unwrap();
        opts.http_tunnel |= flag;
        assert!(opts.http_tunnel, "{url}");
        opts.record = Some(rec.clone());
        opts.duration = Some(5.0);
        let stats = client::headless::run(&opts).unwrap();
        assert_eq!(stats.transport, "tcp", "{url}");
        assert_sample_frames(&format!("our client via {url}"), &read_plain_mjpeg(&rec), 5);
    }
}

/// Opens the GET half with `cookie`; returns the connection after its 200.
fn tunnel_get(addr: SocketAddr, cookie: &str) -> HttpConn {
    let mut get = HttpConn::connect(addr);
    let r = get.request(
        "GET",
        "/video.mjpeg",
        &[
            ("x-sessioncookie", cookie),
            ("Accept", "application/x-rtsp-tunnelled"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-rtsp-tunnelled")
    );
    get
}

fn post_head(cookie: &str) -> String {
    format!("POST /video.mjpeg HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nContent-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n")
}

#[test]
fn requests_split_across_writes_are_answered_on_the_get_half() {
    let server = start();
    let addr = server.http_addr.unwrap();
    let get = tunnel_get(addr, "c00kie-split");
    let mut post = TcpStream::connect(addr).unwrap();
    post.write_all(post_head("c00kie-split").as_bytes())
        .unwrap();
    let options = "OPTIONS rtsp://h/video.mjpeg RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    let encoded = rtsp_proto::auth::base64_encode(options.as_bytes());
    // One byte at a time, as nothing guarantees a client writes a request whole.
    for b in encoded.as_bytes() {
        post.write_all(&[*b]).unwrap();
    }
    let mut rtsp = RtspConn::over(get.stream.try_clone().unwrap());
    let r = rtsp.read_response();
    assert_eq!(r.status.0, 200);
    assert_eq!(r.headers.cseq(), Some(1));
    drop(get);
}

#[test]
fn a_cookie_from_another_address_or_unknown_or_bad_is_refused() {
    let server = start();
    let addr = server.http_addr.unwrap();
    let _get = tunnel_get(addr, "mine");
    // RFC 7231 6.5.3: the cookie of a GET from 127.0.0.1, presented from 127.0.0.2.
    let other = {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
            .unwrap();
        s.connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap();
        TcpStream::from(s)
    };
    let mut other = HttpConn::over(other);
    other.send(post_head("mine").as_bytes());
    let refused = other.response(false).unwrap();
    assert_eq!(refused.status, 403, "{}", refused.text());
    // The real client's POST still works afterwards: the cookie was not used up.
    let mut post = HttpConn::connect(addr);
    post.send(post_head("mine").as_bytes());
    post.send(rtsp_proto::auth::base64_encode(b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n").as_bytes());
    // RFC 7231 6.5.4: a cookie no GET registered.
    let mut unknown = HttpConn::connect(addr);
    unknown.send(post_head("nobody").as_bytes());
    assert_eq!(unknown.response(false).unwrap().status, 404);
    // RFC 7231 6.5.1: a cookie with a space in it.
    let mut bad = HttpConn::connect(addr);
    let r = bad.request("GET", "/video.mjpeg", &[("x-sessioncookie", "a b")]);
    assert_eq!(r.status, 400);
}

#[test]
fn a_post_body_that_is_not_base64_gets_400_and_the_server_goes_on() {
    let server = start();
    let addr = server.http_addr.unwrap();
    let _get = tunnel_get(addr, "b64");
    let mut post = HttpConn::connect(addr);
    post.send(post_head("b64").as_bytes());
    post.send(b"OPTIONS * RTSP/1.0\r\n\r\n");
    assert_eq!(post.response(false).unwrap().status, 400);
    assert_eq!(support::http::http_get(addr, "/api/videos").status, 200);
}
