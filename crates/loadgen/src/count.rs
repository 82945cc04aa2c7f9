//! What one session received: packets and frames counted from the first bytes of each
//! datagram, with the kernel's arrival time of each frame.

use crate::receive::HEADER_READ;

/// When a frame arrived (seconds, realtime clock) and the RTP timestamp it carried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTime {
    /// Kernel receive time of the frame's first packet, in seconds.
    pub arrival: f64,
    /// Its RTP timestamp (90 kHz, RFC 2435 3).
    pub rtp: u32,
}

/// The least and greatest (arrival - RTP time) over a session's frames, in seconds, both from
/// its first frame: their spread is how much later than its best frame the worst one came.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Offsets {
    /// The most punctual frame's offset.
    pub least: f64,
    /// The latest frame's offset.
    pub greatest: f64,
}

/// One session's counts over a measured window.
#[derive(Default, Clone)]
pub struct SessionCount {
    /// RTP packets received.
    pub packets: u64,
    /// Extended sequence number of the first packet measured.
    pub first: Option<u64>,
    /// Highest extended sequence number received.
    pub highest: u64,
    ext: rtsp_proto::rtp::SeqExtender,
    /// Frames received (counted at their first packet).
    pub frames: u64,
    last_frame: Option<f64>,
    /// Microseconds between consecutive frames' arrivals.
    pub deltas_us: Vec<u32>,
    /// Arrival and RTP time of the first and last frame: their difference is the drift.
    first_frame: Option<FrameTime>,
    last_frame_ts: Option<FrameTime>,
    offsets: Offsets,
}

impl SessionCount {
    /// Counts one datagram that arrived at `now` (kernel receive time, seconds): `packets`
    /// RTP packets in a row (more than one where GRO kept a segmented send whole), `header`
    /// being the first one's fixed RTP header and the start of its RFC 2435 header.
    pub fn count(&mut self, header: &[u8; HEADER_READ], packets: u64, now: f64) {
        let seq = u16::from_be_bytes([header[2], header[3]]);
        let ext = self.ext.extend(seq);
        if self.first.is_none() {
            self.first = Some(ext);
            self.highest = ext;
        }
        self.highest = self.highest.max(ext + packets.max(1) - 1);
        self.packets += packets;
        // A frame is counted at its first packet, the one at fragment offset 0 (RFC 2435
        // 3.1). The marker is on its last packet, which a read of only the first header does
        // not see when GRO kept the frame whole.
        let rtp = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if header[13..16] == [0, 0, 0] {
            self.count_frame(FrameTime { arrival: now, rtp });
        }
    }

    /// Counts a frame whose first packet arrived as `frame` says.
    fn count_frame(&mut self, frame: FrameTime) {
        let now = frame.arrival;
        self.frames += 1;
        if let Some(last) = self.last_frame {
            self.deltas_us.push(((now - last) * 1e6).max(0.0) as u32);
        }
        self.last_frame = Some(now);
        let first = *self.first_frame.get_or_insert(frame);
        self.last_frame_ts = Some(frame);
        // Arrival against RTP time, both from the first frame: its spread is how much
        // later than its best one a session's worst frame came.
        let offset = (now - first.arrival) - frame.rtp.wrapping_sub(first.rtp) as f64 / 90_000.0;
        self.offsets.least = self.offsets.least.min(offset);
        self.offsets.greatest = self.offsets.greatest.max(offset);
    }

    /// How much later than the session's most punctual frame its latest one came, in ms.
    pub fn lateness_ms(&self) -> f64 {
        (self.offsets.greatest - self.offsets.least).max(0.0) * 1000.0
    }

    /// Frames whose RTP timestamps fall between this session's first and last frame but that
    /// never came (none of their first packets), for a stream of `fps` frames a second.
    /// A live path's viewer carries the publisher's timestamps from its own base, and a
    /// frame dropped anywhere (at the publisher's ingest, for a viewer behind, or on the
    /// wire) leaves a gap in them that sequence numbers, renumbered per viewer, do not show.
    /// Gives the frames missing and the frames the span held.
    pub fn frames_missing(&self, fps: f64) -> (u64, u64) {
        let (Some(first), Some(last)) = (self.first_frame, self.last_frame_ts) else {
            return (0, 0);
        };
        let ticks = f64::from(last.rtp.wrapping_sub(first.rtp));
        let span = (ticks * fps / 90_000.0).round() as u64 + 1;
        (span.saturating_sub(self.frames), span)
    }

    /// How far the server's clock wandered from its RTP clock over the run, in ms.
    pub fn drift_ms(&self) -> Option<f64> {
        let (first, last) = (self.first_frame?, self.last_frame_ts?);
        let media = last.rtp.wrapping_sub(first.rtp) as f64 / 90_000.0;
        Some(((last.arrival - first.arrival) - media) * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of a packet at `offset` into its frame.
    fn header(seq: u16, timestamp: u32, offset: u32) -> [u8; HEADER_READ] {
        let mut h = [0u8; HEADER_READ];
        h[..2].copy_from_slice(&[0x80, 26]);
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&timestamp.to_be_bytes());
        h[12..16].copy_from_slice(&offset.to_be_bytes());
        h
    }

    #[test]
    fn frames_start_at_fragment_offset_0_and_coalesced_datagrams_count_every_packet() {
        let mut c = SessionCount::default();
        // A frame of 9 packets kept whole by GRO (sequence numbers wrapping inside it), one
        // read packet by packet, a frame whose 9 packets (12-20) never came, and one more.
        // Times in binary fractions of a second, so that the sums below are exact.
        c.count(&header(65530, 0, 0), 9, 8.0);
        for (i, seq) in (3u16..12).enumerate() {
            let offset = i as u32 * 1400;
            c.count(&header(seq, 5625, offset), 1, 8.0625 + i as f64 * 1e-5);
        }
        c.count(&header(21, 11_250, 0), 9, 8.1875);
        // A frame's tail, its head not received: packets, but no frame.
        c.count(&header(30, 15_000, 2800), 1, 8.25);
        assert_eq!(c.frames, 3);
        assert_eq!(c.packets, 28);
        assert_eq!(c.highest - c.first.unwrap() + 1, 37, "9 packets lost");
        assert_eq!(c.deltas_us, vec![62_500, 125_000]);
        // The last frame is 125 ms into the media but came 187.5 ms after the first.
        assert!((c.lateness_ms() - 62.5).abs() < 0.001);
    }

    #[test]
    fn frames_missing_are_the_gaps_in_rtp_time_between_the_first_and_last_frame() {
        let mut c = SessionCount::default();
        assert_eq!(c.frames_missing(20.0), (0, 0), "no frame, none missing");
        // Frames 0, 1, 3 and 7 of a 20 fps stream (4500 ticks apart), sequence numbers
        // without a gap, as a live viewer renumbers them; RTP time wrapping on the way.
        let base = u32::MAX - 4000;
        for (seq, n) in [0u32, 1, 3, 7].into_iter().enumerate() {
            let at = 8.0 + f64::from(n) * 0.05;
            c.count(&header(seq as u16, base.wrapping_add(n * 4500), 0), 1, at);
        }
        assert_eq!(c.frames_missing(20.0), (4, 8));
        assert_eq!(
            c.highest - c.first.unwrap() + 1,
            c.packets,
            "no sequence gap"
        );
    }

    #[test]
    fn drift_is_the_arrival_span_less_the_rtp_span_from_first_to_last_frame() {
        let mut c = SessionCount::default();
        assert_eq!(c.drift_ms(), None, "no frame, no drift");
        c.count(&header(1, 0, 0), 1, 8.0);
        // 250 ms of media (22 500 ticks) that took 312.5 ms to arrive.
        c.count(&header(2, 22_500, 0), 1, 8.3125);
        assert_eq!(c.drift_ms(), Some(62.5));
        assert_eq!(c.lateness_ms(), 62.5);
    }
}
