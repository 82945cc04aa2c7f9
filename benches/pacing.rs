//! Pacing: over 10 s, how far each frame's send time strays from `start + n * period`, for our
//! server and for gst-rtsp-server measured in the same run (the machine is noisy, so the ratio
//! is the figure that travels). Run with `cargo bench --bench pacing`.
//!
//! A frame's send time is the arrival of its first RTP packet on loopback; its ideal time comes
//! from its RTP timestamp, so a dropped frame does not shift the others.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use rtsp_proto::jpeg::MainHeader;
use rtsp_proto::rtp::RtpPacket;
use support::*;

/// Seconds measured; `PACING_SECONDS=600 cargo bench --bench pacing` for the long run.
fn seconds() -> u64 {
    std::env::var("PACING_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}
const FPS: f64 = 20.0;

struct Stats {
    frames: usize,
    max_abs_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    drift_ms: f64,
}

fn measure(addr: std::net::SocketAddr, url: &str) -> Vec<(Instant, u32)> {
    let p = describe_setup_play(addr, url);
    let packets = receive_for(&p.rtp, Duration::from_secs(seconds()), |_| false);
    packets
        .iter()
        .filter_map(|(at, d)| {
            let pkt = RtpPacket::parse(d).ok()?;
            let h = MainHeader::parse(pkt.payload)?;
            (h.fragment_offset == 0).then_some((*at, pkt.header.timestamp))
        })
        .collect()
}

fn stats(frames: &[(Instant, u32)]) -> Stats {
    let (t0, ts0) = frames[0];
    let errors: Vec<(f64, f64)> = frames
        .iter()
        .map(|&(t, ts)| {
            let ideal = ts.wrapping_sub(ts0) as f64 / 90_000.0;
            let actual = (t - t0).as_secs_f64();
            (ideal, (actual - ideal) * 1000.0)
        })
        .collect();
    let mut abs: Vec<f64> = errors.iter().map(|e| e.1.abs()).collect();
    abs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| abs[((abs.len() - 1) as f64 * p) as usize];
    // Least-squares slope of error over time, times the run: how far the clock wandered.
    let n = errors.len() as f64;
    let mx = errors.iter().map(|e| e.0).sum::<f64>() / n;
    let my = errors.iter().map(|e| e.1).sum::<f64>() / n;
    let sxy: f64 = errors.iter().map(|e| (e.0 - mx) * (e.1 - my)).sum();
    let sxx: f64 = errors.iter().map(|e| (e.0 - mx).powi(2)).sum();
    Stats {
        frames: frames.len(),
        max_abs_ms: *abs.last().unwrap(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        drift_ms: sxy / sxx * seconds() as f64,
    }
}

fn main() {
    let server = start_server(&videos_dir(), |c| {
        c.fps = FPS;
        c.looping = true;
    });
    let ours_url = url(&server, "video.mjpeg");
    let gst = have_gst_rtsp_server().then(|| {
        start_gst_server(
            &videos_dir().join("video.mjpeg"),
            &["--fps", "20", "--loop"],
        )
    });
    // Both measured at once, so both see the same machine load.
    let (ours, theirs) = std::thread::scope(|s| {
        let a = s.spawn(|| measure(server.addr, &ours_url));
        let b = gst.as_ref().map(|g| {
            let url = format!("{}/video.mjpeg", g.base);
            let addr = g.base.trim_start_matches("rtsp://").parse().unwrap();
            s.spawn(move || measure(addr, &url))
        });
        (a.join().unwrap(), b.map(|b| b.join().unwrap()))
    });
    println!(
        "pacing over {} s at {FPS} fps: |send time - (start + n*period)|",
        seconds()
    );
    println!("| server | frames | max | p50 | p99 | drift over the run |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, s: &Stats| {
        println!(
            "| {name} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:+.3} ms |",
            s.frames, s.max_abs_ms, s.p50_ms, s.p99_ms, s.drift_ms
        )
    };
    let o = stats(&ours);
    row("ours", &o);
    if let Some(t) = theirs {
        let t = stats(&t);
        row("gst-rtsp-server", &t);
        println!(
            "ratio (ours / gst): max {:.2}, p99 {:.2}",
            o.max_abs_ms / t.max_abs_ms,
            o.p99_ms / t.p99_ms
        );
    }
}
