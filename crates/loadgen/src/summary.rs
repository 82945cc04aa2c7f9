//! What a step's per-session counts add up to: packet loss, inter-frame jitter percentiles,
//! and the worst session's drift and lateness.

use crate::count::SessionCount;

/// A step's counts summed up over its sessions.
#[derive(Debug, PartialEq)]
pub struct Summary {
    /// Frames received over all sessions.
    pub frames: u64,
    /// Sessions that received no frame at all.
    pub silent: usize,
    /// Packets lost in percent (see [`loss_percent`]).
    pub loss_percent: f64,
    /// Frames missing in percent of the frames the sessions' RTP time spans held (see
    /// [`SessionCount::frames_missing`]); a silent session counts as wholly missing.
    pub frames_missing_percent: f64,
    /// Median |inter-frame gap - frame period|, in ms (NaN without any gap).
    pub jitter_p50_ms: f64,
    /// Its 99th percentile.
    pub jitter_p99_ms: f64,
    /// Largest |arrival span - RTP span| over the sessions, in ms.
    pub drift_ms: f64,
    /// Largest [`SessionCount::lateness_ms`] over the sessions that received a frame.
    pub lateness_ms: f64,
}

impl Summary {
    /// Sums up `counts`, one per session, of a stream sent at `fps`.
    pub fn of(counts: &[SessionCount], fps: f64) -> Summary {
        let jitter = jitter_ms(counts, fps);
        Summary {
            frames: counts.iter().map(|c| c.frames).sum(),
            silent: counts.iter().filter(|c| c.frames == 0).count(),
            loss_percent: loss_percent(counts),
            frames_missing_percent: frames_missing_percent(counts, fps),
            jitter_p50_ms: percentile(&jitter, 0.5),
            jitter_p99_ms: percentile(&jitter, 0.99),
            drift_ms: counts
                .iter()
                .filter_map(|c| c.drift_ms())
                .map(f64::abs)
                .fold(0.0, f64::max),
            lateness_ms: counts
                .iter()
                .filter(|c| c.frames > 0)
                .map(SessionCount::lateness_ms)
                .fold(0.0, f64::max),
        }
    }
}

/// Every inter-frame gap's distance from the frame period, in ms, sorted.
fn jitter_ms(counts: &[SessionCount], fps: f64) -> Vec<f64> {
    let period_us = 1e6 / fps;
    let mut jitter: Vec<f64> = counts
        .iter()
        .flat_map(|c| {
            c.deltas_us
                .iter()
                .map(|&d| (d as f64 - period_us).abs() / 1000.0)
        })
        .collect();
    jitter.sort_by(|a, b| a.total_cmp(b));
    jitter
}

/// The `p`-th quantile of `sorted` (nearest rank below), NaN if it is empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p) as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Frames missing by RTP time in percent; a session that received nothing counts as many
/// frames missing as the others' spans held on average (100% if none received any).
fn frames_missing_percent(counts: &[SessionCount], fps: f64) -> f64 {
    let (missing, span) = counts
        .iter()
        .map(|c| c.frames_missing(fps))
        .fold((0, 0), |(m, s), (cm, cs)| (m + cm, s + cs));
    let silent = counts.iter().filter(|c| c.frames == 0).count();
    let heard = counts.len() - silent;
    if heard == 0 {
        return 100.0;
    }
    let per_session = span as f64 / heard as f64;
    let missing = missing as f64 + silent as f64 * per_session;
    let expected = span as f64 + silent as f64 * per_session;
    missing * 100.0 / expected
}

/// Packets expected and lost over the sessions that received something, from sequence
/// numbers: per session, expected = highest - first + 1 (RFC 3550 A.3).
struct SequenceLoss {
    expected: i64,
    lost: i64,
}

/// Packet loss in percent. A session that received nothing at all counts as wholly lost (it
/// leaves no gap to see), as many packets as the others expected on average; with no
/// session receiving anything the loss is 100%.
fn loss_percent(counts: &[SessionCount]) -> f64 {
    let mut seq = SequenceLoss {
        expected: 0,
        lost: 0,
    };
    for c in counts {
        if let Some(first) = c.first {
            let span = c.highest as i64 - first as i64 + 1;
            seq.expected += span;
            seq.lost += span - c.packets as i64;
        }
    }
    let n = counts.len();
    let silent = counts.iter().filter(|c| c.frames == 0).count();
    let per_session = if n > silent {
        seq.expected as f64 / (n - silent) as f64
    } else {
        1.0
    };
    let expected = seq.expected as f64 + silent as f64 * per_session;
    let lost = seq.lost.max(0) as f64 + silent as f64 * per_session;
    if expected > 0.0 {
        lost * 100.0 / expected
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::HEADER_READ;

    /// A session that received `frames` one-packet frames 50 ms apart, `skip` packets lost
    /// after the first (sequence numbers skipped), `late_us` added to every second gap.
    fn session(frames: u16, skip: u16, late_us: u32) -> SessionCount {
        let mut c = SessionCount::default();
        let mut at = 100.0;
        for i in 0..frames {
            let seq = if i == 0 { 0 } else { i + skip };
            let mut h = [0u8; HEADER_READ];
            h[2..4].copy_from_slice(&seq.to_be_bytes());
            h[4..8].copy_from_slice(&(u32::from(i) * 4500).to_be_bytes());
            c.count(&h, 1, at);
            at += 0.05
                + if i % 2 == 0 {
                    f64::from(late_us) * 1e-6
                } else {
                    0.0
                };
        }
        c
    }

    #[test]
    fn loss_counts_sequence_gaps_and_a_silent_session_as_wholly_lost() {
        // 10 packets received of 10 expected, and 10 of 20 (10 skipped).
        let counts = [session(10, 0, 0), session(10, 10, 0)];
        assert_eq!(loss_percent(&counts), 10.0 * 100.0 / 30.0);
        // A third session with nothing counts as 15 packets, the mean of the others, lost.
        let counts = [session(10, 0, 0), session(10, 10, 0), session(0, 0, 0)];
        assert_eq!(loss_percent(&counts), 25.0 * 100.0 / 45.0);
        assert_eq!(loss_percent(&[session(0, 0, 0)]), 100.0);
    }

    #[test]
    fn frames_missing_come_from_rtp_time_and_a_silent_session_is_wholly_missing() {
        let whole = session(10, 0, 0);
        let mut holed = SessionCount::default();
        // 10 frames spanning 20 by RTP time, sequence numbers without a gap.
        for i in 0..10u16 {
            let mut h = [0u8; HEADER_READ];
            h[2..4].copy_from_slice(&i.to_be_bytes());
            let n = if i == 9 { 19 } else { u32::from(i) };
            h[4..8].copy_from_slice(&(n * 4500).to_be_bytes());
            holed.count(&h, 1, 100.0 + f64::from(n) * 0.05);
        }
        assert_eq!(loss_percent(&[holed.clone()]), 0.0);
        let counts = [whole.clone(), holed.clone()];
        assert_eq!(frames_missing_percent(&counts, 20.0), 10.0 * 100.0 / 30.0);
        let counts = [whole, holed, session(0, 0, 0)];
        assert_eq!(frames_missing_percent(&counts, 20.0), 25.0 * 100.0 / 45.0);
        assert_eq!(frames_missing_percent(&[session(0, 0, 0)], 20.0), 100.0);
    }

    #[test]
    fn jitter_is_each_gap_off_the_period_and_its_percentiles_pick_a_gap() {
        // Gaps alternate 51 ms and 50 ms: half are 1 ms off the 20 fps period, half on it.
        let s = Summary::of(&[session(101, 0, 1000)], 20.0);
        assert_eq!(s.frames, 101);
        assert_eq!(s.silent, 0);
        assert!(s.jitter_p50_ms.abs() < 0.01, "{}", s.jitter_p50_ms);
        assert!((s.jitter_p99_ms - 1.0).abs() < 0.01, "{}", s.jitter_p99_ms);
        // 50 gaps of 1 ms late: the last frame is 50 ms later than the first.
        assert!((s.lateness_ms - 50.0).abs() < 0.1, "{}", s.lateness_ms);
        assert!((s.drift_ms - 50.0).abs() < 0.1, "{}", s.drift_ms);
        assert!(Summary::of(&[], 20.0).jitter_p99_ms.is_nan());
    }
}
