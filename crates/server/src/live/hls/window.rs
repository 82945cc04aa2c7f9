//! The sliding window of a live stream's CMAF segments and parts, as the encoder thread
//! fills it and HTTP requests read it (sans-IO: the caller locks it and passes the time).
//!
//! Segments are numbered from 1 (the HLS media sequence number, DASH's `$Number$`); part `P`
//! of segment `N` is named `N.P`, from 0. A segment's bytes are its parts' bytes end to end
//! (only the first part carries the `styp`), so a player that reads parts and one that reads
//! segments decode the same fragments. The window keeps [`KEPT`] segments; the playlists
//! list the last [`LISTED`] of them, and the parts of the last [`PARTS_LISTED`] only
//! (RFC 8216bis 4.4.4.9: parts older than about three target durations leave the playlist),
//! whose part bytes are the only ones kept.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use crate::cmaf::Rendition;

/// Segments the playlists list: about 5.4 s at 20 frames a second, and at least the three
/// target durations RFC 8216 6.2.2 asks at any steady frame rate (a segment then lasts more
/// than half a part target).
pub const LISTED: usize = 18;
/// Segments kept: about two seconds more than listed, for players whose playlist is a
/// little old (a cached one may be a second old).
pub const KEPT: usize = LISTED + 6;
/// Segments whose parts the playlist lists, besides the one being made: about three
/// target durations of one-part segments.
pub const PARTS_LISTED: usize = 9;

/// Bytes of a part or a segment, one per rendition.
pub type Bytes = Arc<Vec<u8>>;

/// One part: an independent CMAF fragment (`moof` + `mdat`).
#[derive(Debug, Clone)]
pub struct Part {
    /// Ticks (see `cutter::TIMESCALE`).
    pub duration: u32,
    /// It starts with an IDR (the first part of each segment).
    pub independent: bool,
    /// Per rendition; emptied once the segment's parts leave the playlist.
    pub bytes: Vec<Bytes>,
}

/// One segment, closed or being made.
#[derive(Debug, Clone)]
pub struct Segment {
    pub msn: u64,
    /// Decode time of its first sample, in ticks.
    pub start: u64,
    /// When its first frame reached the server: `EXT-X-PROGRAM-DATE-TIME`.
    pub wall: SystemTime,
    pub parts: Vec<Part>,
    /// Per rendition, set when it closed.
    pub bytes: Option<Vec<Bytes>>,
}

impl Segment {
    pub fn duration(&self) -> u32 {
        self.parts.iter().map(|p| p.duration).sum()
    }

    pub fn is_closed(&self) -> bool {
        self.bytes.is_some()
    }
}

/// What the encoder knows of each rendition once the first frame is encoded.
#[derive(Debug, Clone)]
pub struct Track {
    pub rendition: Rendition,
    pub init: Bytes,
    /// RFC 6381.
    pub codecs: String,
}

/// A live stream's segments now.
#[derive(Debug, Default)]
pub struct Window {
    /// Empty until the first frame is encoded.
    pub tracks: Vec<Track>,
    /// Oldest first; the last may be open.
    pub segments: VecDeque<Segment>,
    /// When decode time 0 reached the server: DASH's `availabilityStartTime`.
    pub epoch: Option<SystemTime>,
    /// The publisher left (or the encoder stopped): no part follows.
    pub ended: bool,
    /// Why the encoder stopped, when it failed.
    pub failed: Option<String>,
}

/// Where a request asks to be in the stream: `N.P` (`part` `None`: the whole segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub msn: u64,
    pub part: Option<usize>,
}

/// What a window can answer for a part or segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Ready(Bytes),
    /// Not made yet, but next or soon: worth waiting for.
    Coming,
    /// Fell out of the window, or too far ahead, or no such rendition.
    Gone,
}

impl Window {
    /// Adds a finished part to the open segment, opening one (at `start`, `wall`) if none is.
    pub fn add_part(&mut self, part: Part, start: u64, wall: SystemTime) {
        let open = self.segments.back().is_some_and(|s| !s.is_closed());
        if !open {
            let msn = self.segments.back().map_or(1, |s| s.msn + 1);
            self.segments.push_back(Segment {
                msn,
                start,
                wall,
                parts: Vec::new(),
                bytes: None,
            });
            self.epoch.get_or_insert(wall);
        }
        if let Some(s) = self.segments.back_mut() {
            s.parts.push(part);
        }
    }

    /// Closes the open segment: its bytes are its parts' end to end. Old segments and old
    /// parts' bytes leave the window.
    pub fn close_segment(&mut self) {
        let renditions = self.tracks.len();
        let Some(s) = self.segments.back_mut().filter(|s| !s.is_closed()) else {
            return;
        };
        let joined = (0..renditions)
            .map(|r| {
                Arc::new(
                    s.parts
                        .iter()
                        .flat_map(|p| p.bytes[r].iter().copied())
                        .collect(),
                )
            })
            .collect();
        s.bytes = Some(joined);
        while self.segments.len() > KEPT {
            self.segments.pop_front();
        }
        let n = self.segments.len();
        for s in self
            .segments
            .iter_mut()
            .take(n.saturating_sub(PARTS_LISTED + 1))
        {
            for p in &mut s.parts {
                p.bytes.clear();
            }
        }
    }

    /// The segments the playlists list.
    pub fn listed(&self) -> impl Iterator<Item = &Segment> {
        let skip = self.segments.len().saturating_sub(LISTED);
        self.segments.iter().skip(skip)
    }

    /// The segment the newest part belongs to, and the parts it has.
    pub fn newest(&self) -> Option<(u64, usize)> {
        self.segments.back().map(|s| (s.msn, s.parts.len()))
    }

    /// The part a player asks for after the newest: `EXT-X-PRELOAD-HINT`.
    pub fn next_part(&self) -> Option<(u64, usize)> {
        let s = self.segments.back()?;
        Some(match s.is_closed() {
            true => (s.msn + 1, 0),
            false => (s.msn, s.parts.len()),
        })
    }

    /// Whether the window holds `at` or something later (RFC 8216bis 6.2.5.2: a blocking
    /// reload returns once the playlist holds the segment or part asked for, or a later one).
    pub fn holds(&self, at: Position) -> bool {
        let Some(s) = self.segments.back() else {
            return false;
        };
        match at.part {
            // A whole segment: that one closed, or a later one begun.
            None => s.msn > at.msn || (s.msn == at.msn && s.is_closed()),
            Some(p) => {
                let (msn, parts) = (s.msn, s.parts.len());
                msn > at.msn || (msn == at.msn && parts > p)
            }
        }
    }

    /// Whether `msn` is so far past the newest segment that a blocking reload for it must
    /// be refused (RFC 8216bis 6.2.5.2: more than two past the last in the playlist).
    pub fn too_far(&self, msn: u64) -> bool {
        msn > self.newest().map_or(0, |(m, _)| m) + 2
    }

    /// The bytes of segment `msn` (or of part `at.part` of it) for rendition `r`.
    pub fn lookup(&self, r: usize, at: Position) -> Lookup {
        if r >= self.tracks.len() && !self.tracks.is_empty() {
            return Lookup::Gone;
        }
        let first = self.segments.front().map_or(1, |s| s.msn);
        let next = self.next_part().unwrap_or((1, 0));
        let Some(s) = self.segments.iter().find(|s| s.msn == at.msn) else {
            // Only the next segment is worth waiting for, and only while more may come.
            let coming = at.msn >= first && at.msn <= next.0 && !self.ended;
            return if coming { Lookup::Coming } else { Lookup::Gone };
        };
        let bytes = match at.part {
            None => s.bytes.as_ref().map(|b| b[r].clone()),
            Some(p) => s.parts.get(p).and_then(|p| p.bytes.get(r).cloned()),
        };
        match bytes {
            Some(b) => Lookup::Ready(b),
            None if s.is_closed() || self.ended => Lookup::Gone,
            // An open segment's own parts: only the next one is coming.
            None => match at.part {
                Some(p) if p > s.parts.len() => Lookup::Gone,
                _ => Lookup::Coming,
            },
        }
    }
}

#[cfg(test)]
impl Window {
    /// An empty window of one 384x288 rendition, for unit tests.
    pub(crate) fn for_tests() -> Window {
        Window {
            tracks: vec![Track {
                rendition: crate::cmaf::Rendition {
                    id: "288p".into(),
                    width: 384,
                    height: 288,
                    bitrate: 800_000,
                },
                init: Arc::new(vec![0]),
                codecs: "avc1.42C01E".into(),
            }],
            ..Window::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(tag: u8, independent: bool) -> Part {
        Part {
            duration: 27_000,
            independent,
            bytes: vec![Arc::new(vec![tag])],
        }
    }

    fn window() -> Window {
        Window::for_tests()
    }

    fn at(msn: u64, part: Option<usize>) -> Position {
        Position { msn, part }
    }

    #[test]
    fn segments_are_their_parts_end_to_end_and_blocking_positions_are_held_in_order() {
        let mut w = window();
        let now = SystemTime::UNIX_EPOCH;
        assert!(!w.holds(at(1, Some(0))));
        w.add_part(part(1, true), 0, now);
        w.add_part(part(2, false), 0, now);
        assert_eq!(w.newest(), Some((1, 2)));
        assert_eq!(w.next_part(), Some((1, 2)));
        assert!(w.holds(at(1, Some(1))) && !w.holds(at(1, Some(2))));
        assert!(!w.holds(at(1, None)), "segment 1 is still open");
        assert_eq!(w.lookup(0, at(1, Some(2))), Lookup::Coming);
        assert_eq!(w.lookup(0, at(1, Some(3))), Lookup::Gone);
        assert_eq!(w.lookup(0, at(1, None)), Lookup::Coming);
        w.close_segment();
        assert_eq!(
            w.lookup(0, at(1, None)),
            Lookup::Ready(Arc::new(vec![1, 2]))
        );
        assert!(w.holds(at(1, None)) && !w.holds(at(1, Some(5))));
        assert_eq!(w.next_part(), Some((2, 0)));
        assert_eq!(w.lookup(0, at(2, Some(0))), Lookup::Coming);
        assert_eq!(w.lookup(0, at(3, None)), Lookup::Gone);
        assert!(!w.too_far(3) && w.too_far(4));
        w.add_part(part(3, true), 54_000, now);
        assert!(
            w.holds(at(1, Some(5))),
            "a later part holds any part of segment 1"
        );
    }

    #[test]
    fn old_segments_and_old_parts_leave_the_window() {
        let mut w = window();
        for n in 0..40u8 {
            w.add_part(part(n, true), u64::from(n) * 27_000, SystemTime::UNIX_EPOCH);
            w.close_segment();
        }
        assert_eq!(w.segments.len(), KEPT);
        assert_eq!(w.listed().count(), LISTED);
        assert_eq!(w.segments.front().unwrap().msn, 40 - KEPT as u64 + 1);
        assert_eq!(w.lookup(0, at(2, None)), Lookup::Gone, "fell out");
        let with_parts = w.segments.iter().filter(|s| !s.parts[0].bytes.is_empty());
        assert_eq!(with_parts.count(), PARTS_LISTED + 1);
        let partless = 40 - PARTS_LISTED as u64 - 1;
        assert_eq!(
            w.lookup(0, at(partless, Some(0))),
            Lookup::Gone,
            "its parts went"
        );
        assert!(matches!(w.lookup(0, at(partless, None)), Lookup::Ready(_)));
        w.ended = true;
        assert_eq!(w.lookup(0, at(41, Some(0))), Lookup::Gone, "nothing comes");
    }
}
