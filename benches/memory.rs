//! Memory while serving the largest variant that needs converting (hd_444: 1280x720 4:4:4,
//! re-encoded frame by frame) in a loop: converted frames must stay under the configured
//! bound. gst-rtsp-server serving the 4:2:0 version of the same picture (it cannot serve
//! 4:4:4 at all) is measured in the same run. Run with `cargo bench --bench memory`
//! (needs ffmpeg, cjpeg and jpegtran to make the variants, and gst-rtsp-server for the peer).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

const BOUND: usize = 1 << 20;
const SECONDS: u64 = 10;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

fn main() {
    let dir = make_variants().unwrap();
    let rss_before = rss_kib(std::process::id());
    let server = start_server(&dir, |c| {
        c.converted_limit = BOUND;
        c.looping = true;
    });
    let gst = have_gst_rtsp_server()
        .then(|| start_gst_server(&dir.join("hd_420.mjpeg"), &["--fps", "20", "--loop"]));
    let ours = describe_setup_play(server.addr, &url(&server, "hd_444.mjpeg"));
    let theirs = gst.as_ref().map(|g| {
        describe_setup_play(
            g.base.trim_start_matches("rtsp://").parse().unwrap(),
            &format!("{}/hd_420.mjpeg", g.base),
        )
    });
    let media = server.shared.cache.get(&dir.join("hd_444.mjpeg")).unwrap();
    let (mut peak_converted, mut peak_rss, mut peak_gst) = (0, 0, 0);
    let mut packets = 0usize;
    let end = Instant::now() + Duration::from_secs(SECONDS);
    let mut buf = vec![0u8; 65536];
    ours.rtp
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    if let Some(t) = &theirs {
        t.rtp.set_nonblocking(true).unwrap();
    }
    while Instant::now() < end {
        while ours.rtp.recv(&mut buf).is_ok() {
            packets += 1;
        }
        if let Some(t) = &theirs {
            while t.rtp.recv(&mut buf).is_ok() {}
        }
        peak_converted = peak_converted.max(media.converted_bytes());
        peak_rss = peak_rss.max(rss_kib(std::process::id()));
        if let Some(g) = &gst {
            peak_gst = peak_gst.max(rss_kib(g.pid()));
        }
    }
    let frames = media.frames.len();
    println!("memory serving hd_444 ({frames} frames, every one re-encoded) in a loop for {SECONDS} s, bound {} KiB:", BOUND >> 10);
    println!("| what | peak |");
    println!("|---|---|");
    println!(
        "| converted frames held (ours) | {} KiB |",
        peak_converted >> 10
    );
    println!(
        "| RSS of the bench process (server + receiver) | {} KiB (at start {} KiB) |",
        peak_rss, rss_before
    );
    if gst.is_some() {
        println!(
            "| RSS of gst-rtsp-server serving hd_420 | {} KiB |",
            peak_gst
        );
    }
    println!("RTP packets received from ours: {packets}");
    assert!(
        peak_converted <= BOUND,
        "converted frames exceeded the bound"
    );
}
