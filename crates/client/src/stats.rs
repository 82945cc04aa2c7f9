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
    /// Decoded frames per second of playing time.
    pub fps: f64,
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
    /// `frames_received = frames_decoded + frames_dropped + frames_discarded_at_stop`.
    pub fn frames_add_up(&self) -> bool {
        self.frames_received + self.frames_incomplete
            == self.frames_decoded + self.frames_dropped + self.frames_discarded_at_stop
    }

    /// One JSON object with every field; hand-written, as it is one flat object.
    pub fn to_json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        let mut s = String::from("{");
        let _ = write!(
            s,
            "\"frames_received\":{},\"frames_decoded\":{},\"frames_dropped\":{},\"frames_incomplete\":{},\"frames_discarded_at_stop\":{},\"packets_received\":{},\"packets_lost\":{},\"jitter_ms\":{},\"kbps\":{:.3},\"fps\":{:.3},\"first_frame_ms\":{},\"foreign_packets\":{},\"transport\":\"{}\",\"fallback\":{},\"dialect\":\"{}\",\"width\":{},\"height\":{}",
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
            opt(self.first_frame_ms),
            self.foreign_packets,
            json_escape(&self.transport),
            self.fallback.as_ref().map_or("null".to_string(), |f| format!("\"{}\"", json_escape(f))),
            json_escape(&self.dialect),
            self.width,
            self.height
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
            "{:.1} fps, {:.0} kbps, loss {:.1}%, jitter {}, {} frames ({} dropped{discarded})",
            self.fps,
            self.kbps,
            self.loss_percent(),
            self.jitter_ms
                .map_or("n/a".into(), |j| format!("{j:.1} ms")),
            self.frames_decoded,
            self.frames_dropped
        )
    }
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
    fn loss_percent_of_expected() {
        let s = Stats {
            packets_received: 95,
            packets_lost: 5,
            ..Default::default()
        };
        assert_eq!(s.loss_percent(), 5.0);
    }
}
