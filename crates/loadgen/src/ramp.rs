//! `loadgen run`: steps of more and more sessions, each measured and judged, until one does
//! not hold.

use std::time::Duration;

use crate::report;
use crate::step::{run_step, Step, StepPlan};

/// When a step holds.
pub struct Bar {
    /// Packet loss, or frames missing by RTP time, above this percentage fails.
    pub max_loss: f64,
    /// The frame rate sessions must keep (within 2%).
    pub fps: f64,
    /// A frame this much later than its session's most punctual one fails, in ms.
    pub max_late_ms: f64,
}

impl Bar {
    /// Held: packet loss and frames missing under the bar, the frame rate kept (a server that falls behind
    /// delivers fewer frames per second without any sequence gap; 2% of slack covers a frame
    /// at either end of a 10 s window), and no frame so late that a receiver's jitter buffer
    /// would have given up on it.
    pub fn holds(&self, s: &Step) -> bool {
        !(s.loss_percent > self.max_loss
            || s.frames_missing_percent > self.max_loss
            || s.delivered_fps < self.fps * 0.98
            || s.lateness_ms > self.max_late_ms)
    }
}

/// A whole `run`: the steps to try and what each must meet.
pub struct Ramp<'a> {
    /// rtsp://HOST:PORT/PATH
    pub url: &'a str,
    /// Session counts, in the order tried.
    pub sessions: &'a [usize],
    /// Seconds measured per step.
    pub seconds: u64,
    /// The server's process, for its CPU and memory.
    pub pid: Option<u32>,
    /// Read with UDP GRO.
    pub gro: bool,
    /// What a step must meet; its frame rate is also the rate expected.
    pub bar: Bar,
}

/// Runs the steps in order, printing a row each, until one fails or cannot be run, then the
/// largest that held.
pub fn ramp(r: &Ramp) {
    println!("{}", report::header());
    let mut held = None;
    for &n in r.sessions {
        let plan = StepPlan {
            url: r.url,
            n,
            seconds: r.seconds,
            fps: r.bar.fps,
            pid: r.pid,
            gro: r.gro,
        };
        let s = match run_step(&plan) {
            Ok(s) => s,
            Err(e) => {
                println!("{}", report::failed_row(n, &e));
                break;
            }
        };
        println!("{}", report::row(&s));
        if !r.bar.holds(&s) {
            break;
        }
        held = Some(s.sessions);
        // Give the server a moment to free the last step's sessions.
        std::thread::sleep(Duration::from_secs(2));
    }
    let Bar {
        max_loss,
        fps,
        max_late_ms,
    } = r.bar;
    println!("{}", report::verdict(max_loss, fps, max_late_ms, held));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(loss_percent: f64, delivered_fps: f64, lateness_ms: f64) -> Step {
        with_missing(loss_percent, 0.0, delivered_fps, lateness_ms)
    }

    fn with_missing(loss: f64, missing: f64, delivered_fps: f64, lateness_ms: f64) -> Step {
        Step {
            sessions: 1000,
            frames_expected: 200_000.0,
            frames: 200_000,
            loss_percent: loss,
            frames_missing_percent: missing,
            jitter_p50_ms: 0.1,
            jitter_p99_ms: 0.5,
            drift_ms: 1.0,
            lateness_ms,
            delivered_fps,
            cpu_percent: None,
            generator_cpu_percent: 10.0,
            rss_kib: None,
        }
    }

    #[test]
    fn a_step_holds_only_under_the_loss_at_the_rate_and_without_a_late_frame() {
        let bar = Bar {
            max_loss: 0.1,
            fps: 20.0,
            max_late_ms: 200.0,
        };
        assert!(bar.holds(&step(0.0, 19.99, 4.0)));
        assert!(
            bar.holds(&step(0.1, 19.61, 200.0)),
            "loss and lateness at the bar hold"
        );
        assert!(!bar.holds(&step(0.11, 20.0, 4.0)));
        assert!(
            !bar.holds(&with_missing(0.0, 0.11, 20.0, 4.0)),
            "frames missing without a sequence gap fail too"
        );
        assert!(!bar.holds(&step(0.0, 19.59, 4.0)));
        assert!(!bar.holds(&step(0.0, 20.0, 200.1)));
    }
}
