//! "Only HTTP gets through": Debian's nginx as a plain reverse proxy in front of the HTTP
//! port, configured with `deploy/nginx-mjpeg.conf` as committed (only its listen address and
//! upstream changed), carries RTSP tunnelled over HTTP to ffmpeg and GStreamer and the
//! Motion-JPEG stream, bit-exact.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::http::{assert_sample_frames, ffmpeg_reads_mpjpeg, HttpConn};
use support::nginx::{self, Nginx};
use support::*;

/// Starts nginx with deploy/nginx-mjpeg.conf on a free loopback port in front of `origin`.
fn nginx(origin: SocketAddr) -> Nginx {
    let config = nginx::Config {
        name: "nginx",
        site: "deploy/nginx-mjpeg.conf",
        worker_connections: 512,
        log_format: None,
    };
    nginx::start(&config, origin, |site, _| site)
}

fn setup() -> Option<(server::ServerHandle, Nginx)> {
    if !peer_available("nginx", &["nginx", "-v"]) {
        return None;
    }
    let server = start_server(&videos_dir(), |c| {
        c.http = server::http::HttpListen::Port(0)
    });
    let proxy = nginx(server.http_addr.unwrap());
    Some((server, proxy))
}

#[test]
fn ffmpeg_and_gstreamer_play_the_tunnel_through_nginx() {
    let Some((_server, proxy)) = setup() else {
        return;
    };
    if have_ffmpeg() {
        let url = format!("rtsp://{}/video.mjpeg", proxy.addr);
        assert_sample_frames(
            "ffmpeg through nginx",
            &ffmpeg_plays_url(&url, "http", 5),
            5,
        );
    }
    if have_gstreamer() {
        let url = format!("rtsph://{}/video.mjpeg", proxy.addr);
        let frames = gstreamer_plays(&url, "tcp", 6);
        assert_sample_frames("GStreamer through nginx", &frames, 5);
    }
}

#[test]
fn the_mjpeg_stream_and_the_page_come_through_nginx() {
    let Some((_server, proxy)) = setup() else {
        return;
    };
    let mut c = HttpConn::connect(proxy.addr);
    assert_eq!(c.request("GET", "/", &[]).status, 200);
    // HTTP/1.0, so that nginx passes the stream as it is (to HTTP/1.1 clients it chunks a
    // response of no stated length, which browsers and ffmpeg read and this reader does not).
    c.send(b"GET /videos/video.mjpeg/mjpeg HTTP/1.0\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.headers);
    let mut frames = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < end {
        frames.push(c.next_part("mjpegframe").expect("a part").1);
    }
    assert_sample_frames("the multipart stream through nginx", &frames, 5);
}

#[test]
fn ffmpeg_reads_the_mjpeg_stream_through_nginx() {
    let Some((_server, proxy)) = setup() else {
        return;
    };
    if !have_ffmpeg() {
        return;
    }
    let url = format!("http://{}/videos/video.mjpeg/mjpeg", proxy.addr);
    let got = ffmpeg_reads_mpjpeg(&url, 5);
    assert_sample_frames("ffmpeg -f mpjpeg through nginx", &got, 5);
}
