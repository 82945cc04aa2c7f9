//! Receiver statistics as RFC 3550 defines them: packets expected and lost (Appendix A.3, with
//! sequence wrap-around) and interarrival jitter (A.8). Arrival times are passed in, in the
//! stream's clock units, so the arithmetic is testable without a clock.

use crate::rtp::SeqExtender;

/// Running RFC 3550 receiver statistics for one source.
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    seq: SeqExtender,
    base: Option<u64>,
    max: u64,
    received: u64,
    bytes: u64,
    /// Previous relative transit time, in clock units.
    transit: Option<i64>,
    /// Interarrival jitter estimate in clock units, scaled by 16 as A.8 keeps it.
    jitter16: i64,
    expected_prior: u64,
    received_prior: u64,
}

impl ReceiverStats {
    /// Counts one packet: its sequence number, RTP timestamp, arrival time in clock units
    /// (any fixed origin) and payload size.
    pub fn on_packet(&mut self, seq: u16, rtp_timestamp: u32, arrival: u32, payload_len: usize) {
        let ext = self.seq.extend(seq);
        if self.base.is_none() {
            self.base = Some(ext);
            self.max = ext;
        }
        self.max = self.max.max(ext);
        self.received += 1;
        self.bytes += payload_len as u64;
        // A.8: D(i-1, i) = (Rj - Ri) - (Sj - Si), computed via relative transit times.
        let transit = arrival.wrapping_sub(rtp_timestamp) as i32 as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            self.jitter16 += d - ((self.jitter16 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Packets the sequence numbers say were sent: highest - first + 1.
    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |b| self.max - b + 1)
    }

    /// Packets received, duplicates included (as RFC 3550 counts them).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost: expected - received (negative with duplicates, as in A.3).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Payload bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The highest extended sequence number seen (for a receiver report).
    pub fn extended_max(&self) -> u32 {
        self.max as u32
    }

    /// Interarrival jitter in clock units.
    pub fn jitter(&self) -> u32 {
        (self.jitter16 >> 4) as u32
    }

    /// Fraction lost since the last call, as the 8-bit fixed point of an RR (A.3).
    pub fn fraction_lost_interval(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost = expected_interval as i64 - received_interval as i64;
        if expected_interval == 0 || lost <= 0 {
            0
        } else {
            ((lost << 8) / expected_interval as i64).min(255) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_counted_across_the_wrap() {
        let mut s = ReceiverStats::default();
        for seq in [65533u16, 65534, 0, 1, 3] {
            s.on_packet(seq, 0, 0, 100);
        }
        // 65533..=3 is 7 packets; 65535 and 2 are missing.
        assert_eq!((s.expected(), s.received(), s.lost()), (7, 5, 2));
        assert_eq!(s.fraction_lost_interval(), ((2u32 << 8) / 7) as u8);
        assert_eq!(s.fraction_lost_interval(), 0);
        assert_eq!(s.bytes(), 500);
    }

    #[test]
    fn reordering_is_not_loss_and_duplicates_count_negative() {
        let mut s = ReceiverStats::default();
        for seq in [10u16, 12, 11, 13, 13] {
            s.on_packet(seq, 0, 0, 1);
        }
        assert_eq!(s.expected(), 4);
        assert_eq!(s.lost(), -1);
    }

    #[test]
    fn jitter_follows_a_8() {
        // Perfectly paced packets: no jitter.
        let mut s = ReceiverStats::default();
        for i in 0..100u32 {
            s.on_packet(i as u16, i * 4500, 1000 + i * 4500, 1);
        }
        assert_eq!(s.jitter(), 0);
        // Every other packet 900 units (10 ms at 90 kHz) late: J converges toward 900.
        let mut s = ReceiverStats::default();
        for i in 0..2000u32 {
            let late = if i % 2 == 1 { 900 } else { 0 };
            s.on_packet(i as u16, i * 4500, i * 4500 + late, 1);
        }
        assert!((850..=900).contains(&s.jitter()), "{}", s.jitter());
    }
}
