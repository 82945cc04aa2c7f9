//! What the player reports: RFC 3550 receiver statistics plus frame counts, live in the window
//! title, as a summary line at exit, and as the `--stats-json` object.

use std::fmt::Write as _;

/// A snapshot of one session's statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Complete frames out of the depacketizer (or whole lab JPEGs).
    pub frames_received: u64,
    /// Frames decoded successfully.
    pub frames_decoded: u64,
    /// Frames incomplete (a fragment lost), corrupt (decode failed), or complete but dropped
    /// because the player was behind.
    pub frames_dropped: u64,
    /// The part of `frames_dropped` that never arrived whole (a fragment lost, an oversized or
    /// malformed frame): those are not in `frames_received`.
    pub frames_incomplete: u64,
    /// Complete frames received but neither decoded nor dropped when playback stopped
    /// (`--frames`, `--duration`, a signal, TEARDOWN): still in the playout queue or released
    /// from the reorder buffer at the stop. They are recorded like every received frame.
    pub frames_discarded_at_stop: u64,
    pub packets_received: u64,
    /// RFC 3550 A.3 cumulative loss (expected - received).
    pub packets_lost: i64,
    /// RFC 3550 A.8 interarrival jitter; `None` when timestamps are not a media clock.
    pub jitter_ms: Option<f64>,
    pub kbps: f64,
    /// Frames per second over the time frames were being shown ([`FpsMeter`]): paused, idle
    /// and between-plays time left out.
    pub fps: f64,
    /// The seconds that `fps` is counted over.
    pub playing_seconds: f64,
    /// PLAYs that started or resumed playback (seeks, speed changes and steps not counted).
    pub plays: u64,
    /// Seeks and frame steps.
    pub seeks: u64,
    /// The Scale in force at the end (1 normal play): what the server applied, not what was
    /// asked for.
    pub scale: f64,
    /// The normal play time of the last frame shown, in seconds.
    pub position: Option<f64>,
    /// Complete frames from before a seek, dropped at its RTP-Info seq (not in `frames_dropped`).
    pub frames_skipped_at_seek: u64,
    /// PLAY sent to first frame decoded.
    pub first_frame_ms: Option<f64>,
    /// Packets from addresses other than the server's (ignored).
    pub foreign_packets: u64,
    pub transport: String,
    /// Why the client left UDP for TCP, if it did.
    pub fallback: Option<String>,
    pub dialect: String,
    pub width: u32,
    pub height: u32,
    /// The last error a request met, as the window showed it (e.g. `PLAY failed: 404 Not Found`).
    pub error: Option<String>,
}

impl Stats {
    /// Loss as a percentage of the packets expected.
    pub fn loss_percent(&self) -> f64 {
        let expected = self.packets_received as i64 + self.packets_lost;
        if expected <= 0 {
            0.0
        } else {
            100.0 * self.packets_lost.max(0) as f64 / expected as f64
        }
    }

    /// Whether the frame counts add up: every frame that arrived, whole or not, was decoded,
    /// dropped or discarded at the stop. Without loss (`frames_incomplete` 0) that is
    /// `frames_received = frames_decoded + frames_dropped + frames_discarded_at_stop` (plus the
    /// frames skipped at a seek).
    pub fn frames_add_up(&self) -> bool {
        self.frames_received + self.frames_incomplete
            == self.frames_decoded
                + self.frames_dropped
                + self.frames_discarded_at_stop
                + self.frames_skipped_at_seek
    }

    /// One JSON object with every field; hand-written, as it is one flat object.
    pub fn to_json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        let mut s = String::from("{");
        let _ = write!(
            s,
            "\"frames_received\":{},\"frames_decoded\":{},\"frames_dropped\":{},\"frames_incomplete\":{},\"frames_discarded_at_stop\":{},\"packets_received\":{},\"packets_lost\":{},\"jitter_ms\":{},\"kbps\":{:.3},\"fps\":{:.3},\"playing_seconds\":{:.3},\"plays\":{},\"seeks\":{},\"scale\":{:.3},\"position\":{},\"frames_skipped_at_seek\":{},\"first_frame_ms\":{},\"foreign_packets\":{},\"transport\":\"{}\",\"fallback\":{},\"dialect\":\"{}\",\"width\":{},\"height\":{},\"error\":{}",
            self.frames_received,
            self.frames_decoded,
            self.frames_dropped,
            self.frames_incomplete,
            self.frames_discarded_at_stop,
            self.packets_received,
            self.packets_lost,
            opt(self.jitter_ms),
            self.kbps,
            self.fps,
            self.playing_seconds,
            self.plays,
            self.seeks,
            self.scale,
            opt(self.position),
            self.frames_skipped_at_seek,
            opt(self.first_frame_ms),
            self.foreign_packets,
            json_escape(&self.transport),
            self.fallback.as_ref().map_or("null".to_string(), |f| format!("\"{}\"", json_escape(f))),
            json_escape(&self.dialect),
            self.width,
            self.height,
            self.error.as_ref().map_or("null".to_string(), |e| format!("\"{}\"", json_escape(e)))
        );
        s.push('}');
        s
    }

    /// The live part of the window title and the exit summary.
    pub fn summary(&self) -> String {
        let discarded = match self.frames_discarded_at_stop {
            0 => String::new(),
            n => format!(", {n} discarded at stop"),
        };
        format!(
            "{:.1} fps over {:.1} s of {} ({}), {:.0} kbps, loss {:.1}%, jitter {}, {} frames ({} dropped{discarded})",
            self.fps,
            self.playing_seconds,
            plural(self.plays, "play"),
            plural(self.seeks, "seek"),
            self.kbps,
            self.loss_percent(),
            self.jitter_ms
                .map_or("n/a".into(), |j| format!("{j:.1} ms")),
            self.frames_decoded,
            self.frames_dropped
        )
    }
}

/// Frames per second counted only while frames are being shown: each PLAY (start, resume,
/// seek) opens a segment that runs from its first shown frame to its last, and the rate is
/// the frames over the sum of the segments. Paused, idle and between-plays time is in none
/// of them, so a pause does not lower the figure and two plays do not average with the gap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FpsMeter {
    /// Intervals between shown frames, and their seconds, in the segments already closed.
    intervals: u64,
    seconds: f64,
    /// The open segment: its id (the PLAY's), first and last shown frame, and intervals.
    segment: Option<(u64, std::time::Instant, std::time::Instant, u64)>,
}

impl FpsMeter {
    /// A frame of the PLAY numbered `play_id` was shown at `now`.
    pub fn shown(&mut self, play_id: u64, now: std::time::Instant) {
        match &mut self.segment {
            Some((id, _, last, n)) if *id == play_id => {
                *last = now;
                *n += 1;
            }
            _ => {
                self.close();
                self.segment = Some((play_id, now, now, 0));
            }
        }
    }

    fn close(&mut self) {
        if let Some((_, first, last, n)) = self.segment.take() {
            self.intervals += n;
            self.seconds += (last - first).as_secs_f64();
        }
    }

    /// Seconds spent showing frames.
    pub fn playing_seconds(&self) -> f64 {
        self.seconds
            + self
                .segment
                .map_or(0.0, |(_, first, last, _)| (last - first).as_secs_f64())
    }

    /// Frames per second of showing time (0 before two frames of one PLAY).
    pub fn fps(&self) -> f64 {
        let n = self.intervals + self.segment.map_or(0, |s| s.3);
        let secs = self.playing_seconds();
        if secs > 0.0 {
            n as f64 / secs
        } else {
            0.0
        }
    }
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field() {
        let s = Stats {
            frames_received: 3,
            jitter_ms: Some(1.5),
            transport: "udp".into(),
            dialect: "st\"d".into(),
            ..Default::default()
        };
        let j = s.to_json();
        for key in [
            "frames_received\":3",
            "frames_decoded",
            "frames_dropped",
            "frames_incomplete",
            "frames_discarded_at_stop",
            "packets_received",
            "packets_lost",
            "jitter_ms\":1.500",
            "kbps",
            "fps",
            "first_frame_ms\":null",
            "transport\":\"udp\"",
            "dialect\":\"st\\\"d\"",
            "width",
            "height",
        ] {
            assert!(j.contains(key), "{key} in {j}");
        }
    }

    #[test]
    fn fps_leaves_out_pauses_and_the_time_between_plays() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut m = FpsMeter::default();
        // 21 frames at 20 fps, a 5 s pause, 11 more at 20 fps under the next PLAY.
        for i in 0..21 {
            m.shown(1, ms(i * 50));
        }
        for i in 0..11 {
            m.shown(2, ms(6000 + i * 50));
        }
        assert!((m.fps() - 20.0).abs() < 1e-9, "{}", m.fps());
        assert!((m.playing_seconds() - 1.5).abs() < 1e-9);
        // One frame alone (a step) adds nothing.
        m.shown(3, ms(9000));
        assert!((m.fps() - 20.0).abs() < 1e-9);
        assert_eq!(FpsMeter::default().fps(), 0.0);
    }

    #[test]
    fn loss_percent_of_expected() {
        let s = Stats {
            packets_received: 95,
            packets_lost: 5,
            ..Default::default()
        };
        assert_eq!(s.loss_percent(), 5.0);
    }
}
