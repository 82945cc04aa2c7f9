//! A small jitter/reorder buffer: RTP packets in any order, out in sequence order. A gap is
//! waited for only as long as its bounds allow (packets held, time held), then skipped, so
//! loss costs a little latency, never a stall. Time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::rtp::SeqExtender;

/// What happened to an offered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Taken (released now or held for a gap).
    Accepted,
    /// Older than what was already released: dropped.
    Late,
    /// Already held: dropped.
    Duplicate,
}

/// Reorders items keyed by 16-bit RTP sequence numbers.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    ext: SeqExtender,
    next: Option<u64>,
    pending: BTreeMap<u64, (Instant, T)>,
    max_packets: usize,
    max_delay: Duration,
}

impl<T> ReorderBuffer<T> {
    /// Holds at most `max_packets` behind a gap, and none longer than `max_delay`.
    pub fn new(max_packets: usize, max_delay: Duration) -> Self {
        ReorderBuffer {
            ext: SeqExtender::default(),
            next: None,
            pending: BTreeMap::new(),
            max_packets: max_packets.max(1),
            max_delay,
        }
    }

    /// Offers a packet; everything now in order is appended to `out`.
    pub fn push(&mut self, seq: u16, item: T, now: Instant, out: &mut Vec<T>) -> Offer {
        let ext = self.ext.extend(seq);
        let next = *self.next.get_or_insert(ext);
        if ext < next {
            return Offer::Late;
        }
        if self.pending.contains_key(&ext) {
            return Offer::Duplicate;
        }
        self.pending.insert(ext, (now, item));
        self.release(out);
        if self.pending.len() > self.max_packets {
            self.skip_gap(out);
        }
        Offer::Accepted
    }

    /// Gives up on a gap that has been waited for `max_delay`; call when [`deadline`] passes.
    ///
    /// [`deadline`]: ReorderBuffer::deadline
    pub fn poll(&mut self, now: Instant, out: &mut Vec<T>) {
        while self.deadline().is_some_and(|d| d <= now) {
            self.skip_gap(out);
        }
    }

    /// When the oldest held packet stops waiting for its gap.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|(t, _)| *t)
            .min()
            .map(|t| t + self.max_delay)
    }

    /// Packets held behind a gap.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    fn skip_gap(&mut self, out: &mut Vec<T>) {
        if let Some((&first, _)) = self.pending.iter().next() {
            self.next = Some(first);
            self.release(out);
        }
    }

    fn release(&mut self, out: &mut Vec<T>) {
        let Some(mut next) = self.next else { return };
        while let Some((_, item)) = self.pending.remove(&next) {
            out.push(item);
            next += 1;
        }
        self.next = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_within_bounds() {
        let t = Instant::now();
        let mut r = ReorderBuffer::new(8, Duration::from_millis(50));
        let mut out = Vec::new();
        for seq in [65534u16, 0, 65535, 1] {
            r.push(seq, seq, t, &mut out);
        }
        assert_eq!(out, vec![65534, 65535, 0, 1]);
        assert_eq!(r.push(65535, 9, t, &mut out), Offer::Late);
    }

    #[test]
    fn a_gap_is_skipped_after_the_delay_or_when_full() {
        let t = Instant::now();
        let mut r = ReorderBuffer::new(3, Duration::from_millis(50));
        let mut out = Vec::new();
        r.push(10, 10, t, &mut out);
        r.push(12, 12, t, &mut out);
        assert_eq!(r.push(12, 12, t, &mut out), Offer::Duplicate);
        assert_eq!(out, vec![10]);
        r.poll(t + Duration::from_millis(49), &mut out);
        assert_eq!(out, vec![10]);
        assert_eq!(r.deadline(), Some(t + Duration::from_millis(50)));
        r.poll(t + Duration::from_millis(50), &mut out);
        assert_eq!(out, vec![10, 12]);
        // Full: holding 3 behind a gap, the 4th forces the skip.
        out.clear();
        for seq in [14u16, 15, 16, 17] {
            r.push(seq, seq, t, &mut out);
        }
        assert_eq!(out, vec![14, 15, 16, 17]);
        assert_eq!(r.held(), 0);
    }
}
