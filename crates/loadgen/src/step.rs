//! One step of `loadgen run`: N sessions set up and played, warmed up until they keep the
//! frame rate, then received and measured for a fixed time alongside the server's CPU and
//! memory.

use std::time::{Duration, Instant};

use crate::count::SessionCount;
use crate::procfs::{cpu_seconds, rss_kib};
use crate::receive::{bind_receivers, receive_all};
use crate::setup;
use crate::summary::Summary;

/// What one `run` step measures: `n` sessions for `seconds`, received with or without GRO.
pub struct StepPlan<'a> {
    /// rtsp://HOST:PORT/PATH
    pub url: &'a str,
    /// Sessions to open.
    pub n: usize,
    /// Seconds measured once the sessions keep their pace.
    pub seconds: u64,
    /// Frames per second the server sends.
    pub fps: f64,
    /// The server's process, for its CPU and memory.
    pub pid: Option<u32>,
    /// Let the kernel coalesce a frame's packets into one read (UDP GRO).
    pub gro: bool,
}

/// What one step measured: a row of the `run` table.
pub struct Step {
    /// Sessions played.
    pub sessions: usize,
    /// Frames the sessions would have received at the nominal rate over the window.
    pub frames_expected: f64,
    /// Frames they received.
    pub frames: u64,
    /// Packets lost, from sequence gaps, in percent.
    pub loss_percent: f64,
    /// Frames missing by RTP time, in percent (a live path's viewer drops whole frames
    /// without a sequence gap).
    pub frames_missing_percent: f64,
    /// Median |inter-frame gap - frame period| over every session's frames, in ms.
    pub jitter_p50_ms: f64,
    /// Its 99th percentile.
    pub jitter_p99_ms: f64,
    /// Largest |arrival span - RTP span| over the sessions.
    pub drift_ms: f64,
    /// Largest [`SessionCount::lateness_ms`] over the sessions.
    pub lateness_ms: f64,
    /// Mean frames per second each session received.
    pub delivered_fps: f64,
    /// The server's CPU over the window, in percent of one core (with a PID).
    pub cpu_percent: Option<f64>,
    /// The generator's own CPU over the same window: what it left the server of the machine.
    pub generator_cpu_percent: f64,
    /// The server's peak RSS over the window (with a PID).
    pub rss_kib: Option<u64>,
}

/// What the measured window gave, before it is summed up.
struct Window {
    counts: Vec<SessionCount>,
    /// Seconds the window lasted.
    elapsed: f64,
    cpu_percent: Option<f64>,
    generator_cpu_percent: f64,
    peak_rss_kib: u64,
}

/// Runs one step: sets up and plays `plan.n` sessions, warms up, measures, tears down.
pub fn run_step(plan: &StepPlan) -> anyhow::Result<Step> {
    let addr = setup::server_address(plan.url)?;
    let sockets = bind_receivers(plan.n, plan.gro)?;
    let described = setup::describe(addr, plan.url)?;
    let mut sessions = setup::setup_all(addr, &described.track, &sockets)?;
    setup::play_all(&mut sessions, &described.base)?;
    warm_up(&sockets, plan.fps);
    let window = measure(&sockets, plan.seconds, plan.pid);
    setup::teardown_all(&mut sessions, &described.base);
    let summary = Summary::of(&window.counts, plan.fps);
    if summary.silent > 0 {
        eprintln!("{} of {} sessions received nothing", summary.silent, plan.n);
    }
    Ok(Step {
        sessions: plan.n,
        frames_expected: plan.n as f64 * plan.fps * window.elapsed,
        frames: summary.frames,
        loss_percent: summary.loss_percent,
        frames_missing_percent: summary.frames_missing_percent,
        jitter_p50_ms: summary.jitter_p50_ms,
        jitter_p99_ms: summary.jitter_p99_ms,
        drift_ms: summary.drift_ms,
        lateness_ms: summary.lateness_ms,
        delivered_fps: summary.frames as f64 / plan.n as f64 / window.elapsed,
        cpu_percent: window.cpu_percent,
        generator_cpu_percent: window.generator_cpu_percent,
        rss_kib: plan.pid.map(|_| window.peak_rss_kib),
    })
}

/// Lets every session reach its pace before measuring: a server busy with thousands of
/// PLAYs may have fallen behind and then catches up faster than real time. Receives one
/// second at a time until a second delivers `fps`, within 2%, for at most 10 s.
fn warm_up(sockets: &[std::net::UdpSocket], fps: f64) {
    let n = sockets.len();
    for _ in 0..10 {
        let start = Instant::now();
        let counts = receive_all(sockets, start + Duration::from_secs(1));
        let rate = counts.iter().map(|c| c.frames).sum::<u64>() as f64
            / n as f64
            / start.elapsed().as_secs_f64();
        if (rate - fps).abs() <= fps * 0.02 {
            break;
        }
    }
}

/// Receives for `seconds`, with the server's CPU over the window and its RSS sampled every
/// 250 ms (with a PID), and the generator's own CPU.
fn measure(sockets: &[std::net::UdpSocket], seconds: u64, pid: Option<u32>) -> Window {
    let server_stat = pid.map(|p| format!("/proc/{p}/stat"));
    let cpu0 = server_stat.as_deref().map(cpu_seconds);
    let own0 = cpu_seconds("/proc/self/stat");
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(seconds);
    let sampler = pid.map(|p| std::thread::spawn(move || peak_rss_until(p, end)));
    let counts = receive_all(sockets, end);
    let peak_rss_kib = sampler.map(|s| s.join().unwrap()).unwrap_or(0);
    let elapsed = t0.elapsed().as_secs_f64();
    let generator_cpu_percent = (cpu_seconds("/proc/self/stat") - own0) / elapsed * 100.0;
    let cpu_percent = match (server_stat, cpu0) {
        (Some(stat), Some(c0)) => Some((cpu_seconds(&stat) - c0) / elapsed * 100.0),
        _ => None,
    };
    Window {
        counts,
        elapsed,
        cpu_percent,
        generator_cpu_percent,
        peak_rss_kib,
    }
}

/// The largest RSS of process `pid` seen every 250 ms until `end`, in KiB.
fn peak_rss_until(pid: u32, end: Instant) -> u64 {
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    peak
}
