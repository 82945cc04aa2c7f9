//! The markdown `loadgen run` prints: a header, one row per step, and the verdict line.
//! benches/capacity.sh and benches/alternate.sh take these rows as they are (alternate.sh
//! greps the rows that start with `| ` and a digit), so their format is the interface.

use crate::step::Step;

/// The table's header and separator lines.
pub fn header() -> String {
    "| sessions | frames expected | frames received | fps per session | loss | inter-frame jitter p50 / p99 | worst drift | worst lateness | server CPU | server RSS | generator CPU | frames missing |\n\
     |---|---|---|---|---|---|---|---|---|---|---|---|"
        .to_string()
}

/// A step's row.
pub fn row(s: &Step) -> String {
    format!(
        "| {} | {:.0} | {} | {:.2} | {:.3}% | {:.2} / {:.2} ms | {:.2} ms | {:.1} ms | {} | {} | {:.1}% | {:.3}% |",
        s.sessions,
        s.frames_expected,
        s.frames,
        s.delivered_fps,
        s.loss_percent,
        s.jitter_p50_ms,
        s.jitter_p99_ms,
        s.drift_ms,
        s.lateness_ms,
        s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
        s.rss_kib.map_or("-".into(), |r| format!("{} MiB", r / 1024)),
        s.generator_cpu_percent,
        s.frames_missing_percent,
    )
}

/// The row of a step of `sessions` that could not be run, with why.
pub fn failed_row(sessions: usize, error: &anyhow::Error) -> String {
    format!("| {sessions} | failed: {error:#} | | | | | | | | | | |")
}

/// The last line: the largest step that held, and the bar it held.
pub fn verdict(max_loss: f64, fps: f64, max_late_ms: f64, held: Option<usize>) -> String {
    format!(
        "largest session count held (packet loss and frames missing each under {max_loss}%, at least 98% of {fps} fps, no frame {max_late_ms} ms late): {}",
        held.map_or("none".into(), |n| n.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cpu_percent: Option<f64>, rss_kib: Option<u64>) -> Step {
        Step {
            sessions: 500,
            frames_expected: 100_093.6,
            frames: 100_010,
            loss_percent: 0.0,
            frames_missing_percent: 0.02,
            jitter_p50_ms: 0.114,
            jitter_p99_ms: 0.5049,
            drift_ms: 0.544,
            lateness_ms: 3.21,
            delivered_fps: 19.984,
            cpu_percent,
            generator_cpu_percent: 5.66,
            rss_kib,
        }
    }

    #[test]
    fn rows_keep_the_format_the_bench_scripts_read() {
        assert_eq!(header().lines().count(), 2);
        assert!(header().starts_with("| sessions | frames expected |"));
        assert_eq!(
            row(&step(Some(19.23), Some(28 * 1024 + 1000))),
            "| 500 | 100094 | 100010 | 19.98 | 0.000% | 0.11 / 0.50 ms | 0.54 ms | 3.2 ms | 19.2% | 28 MiB | 5.7% | 0.020% |"
        );
        assert_eq!(
            row(&step(None, None)),
            "| 500 | 100094 | 100010 | 19.98 | 0.000% | 0.11 / 0.50 ms | 0.54 ms | 3.2 ms | - | - | 5.7% | 0.020% |"
        );
        let e = anyhow::anyhow!("refused").context("session 3: connect");
        assert_eq!(
            failed_row(1000, &e),
            "| 1000 | failed: session 3: connect: refused | | | | | | | | | | |"
        );
        assert_eq!(
            verdict(0.1, 20.0, 200.0, Some(5000)),
            "largest session count held (packet loss and frames missing each under 0.1%, at least 98% of 20 fps, no frame 200 ms late): 5000"
        );
        assert!(verdict(0.1, 20.0, 200.0, None).ends_with("late): none"));
    }
}
