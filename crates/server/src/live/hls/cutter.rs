//! Where a live stream's parts and segments begin and end, from the publisher's RTP times
//! alone (sans-IO): each frame lasts from the frame before it to itself (90 kHz), a part
//! closes before it would outlast [`PART_TARGET`], and a segment closes at a part boundary
//! before it could outlast [`SEGMENT_MAX`], so every `EXTINF` rounds to at most the
//! one-second `EXT-X-TARGETDURATION` and every part keeps within `EXT-X-PART-INF:PART-TARGET`,
//! as RFC 8216bis 4.4.3.7 and 4.4.4.9 require.
//!
//! A segment is one part: Chromium's own HLS (156) reads no parts and starts a live stream
//! at the third segment from the playlist's end whatever the playlist asks (`EXT-X-START`,
//! `HOLD-BACK`: `SegmentStream::SkipEarlySegmentsForLiveStream` in Chromium's
//! media/formats/hls/segment_stream.cc keeps the last three), so only segments of a third
//! of a second bring it within the 2 s latency target (about 1.2 s, against 3.8 s with
//! segments of four parts); hls.js plays the parts as before.

/// Ticks a second of the live tracks: the publisher's RTP clock, so frame times are exact.
pub const TIMESCALE: u32 = 90_000;
/// The longest a part may last, in ticks (a third of a second: Apple's LL-HLS guidance is
/// 200 ms to 1 s, and issue 19 asks for 200-333 ms).
pub const PART_TARGET: u32 = TIMESCALE / 3;
/// The longest a segment may last, in ticks: one part (see the module docs).
pub const SEGMENT_MAX: u32 = PART_TARGET;
/// A frame's duration when the stream gives none (the first frame; a timestamp that goes
/// backwards or jumps): 20 frames a second, the sample's rate.
pub const DEFAULT_FRAME: u32 = TIMESCALE / 20;

/// What closes around one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Close {
    pub part: bool,
    pub segment: bool,
}

/// What [`Cutter::frame`] says of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// What closes before the frame is added (its own time would overrun the part).
    pub before: Close,
    /// The frame's duration in ticks.
    pub duration: u32,
    /// What closes after it (the next frame, as long as this one, would overrun).
    pub after: Close,
}

/// The cutting state of one live stream.
#[derive(Debug, Default)]
pub struct Cutter {
    last_rtptime: Option<u32>,
    last_duration: Option<u32>,
    /// Ticks of the open part and of the open segment's closed parts.
    part: u32,
    segment: u32,
}

impl Cutter {
    /// The cuts around the next frame, at RTP time `rtptime`.
    pub fn frame(&mut self, rtptime: u32) -> Cut {
        let delta = self.last_rtptime.map(|t| rtptime.wrapping_sub(t));
        self.last_rtptime = Some(rtptime);
        // A frame lasts at most a part: a stall or a jump in the publisher's clock is shown
        // as the frame before it, not as a part too long for the playlist.
        let duration = match delta {
            Some(d) if (1..=PART_TARGET).contains(&d) => d,
            _ => self.last_duration.unwrap_or(DEFAULT_FRAME),
        };
        let before = match self.part > 0 && self.part + duration > PART_TARGET {
            true => self.close_part(),
            false => Close::default(),
        };
        self.part += duration;
        self.last_duration = Some(duration);
        let after = match self.part + duration > PART_TARGET {
            true => self.close_part(),
            false => Close::default(),
        };
        Cut {
            before,
            duration,
            after,
        }
    }

    /// The open part closes; so does its segment when another part could overrun it.
    fn close_part(&mut self) -> Close {
        self.segment += self.part;
        self.part = 0;
        let segment = self.segment + PART_TARGET > SEGMENT_MAX;
        if segment {
            self.segment = 0;
        }
        Close {
            part: true,
            segment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts and segments (in ticks each) of frames at `times`.
    fn cut(times: impl IntoIterator<Item = u32>) -> (Vec<u32>, Vec<u32>) {
        let mut c = Cutter::default();
        let (mut parts, mut segments) = (Vec::new(), Vec::new());
        let (mut part, mut segment) = (0, 0);
        let mut close = |c: Close, part: &mut u32, segment: &mut u32| {
            if c.part {
                parts.push(*part);
                *segment += *part;
                *part = 0;
            }
            if c.segment {
                segments.push(*segment);
                *segment = 0;
            }
        };
        for t in times {
            let cut = c.frame(t);
            close(cut.before, &mut part, &mut segment);
            part += cut.duration;
            close(cut.after, &mut part, &mut segment);
        }
        (parts, segments)
    }

    #[test]
    fn twenty_frames_a_second_make_parts_of_six_each_its_own_segment() {
        let (parts, segments) = cut((0..48).map(|i| i * 4500));
        assert!(parts.iter().all(|&p| p == 6 * 4500), "{parts:?}");
        assert_eq!(segments, [27_000; 8]);
    }

    #[test]
    fn no_part_nor_segment_outlasts_its_target_whatever_the_rate() {
        for step in [
            1500, 3000, 3600, 3750, 9000, 18_000, 45_000, 90_000, 200_000,
        ] {
            let (parts, segments) = cut((0..200u32).map(|i| i.wrapping_mul(step)));
            assert!(parts.iter().all(|&p| p <= PART_TARGET), "{step}: {parts:?}");
            assert!(segments.iter().all(|&s| s <= SEGMENT_MAX), "{step}");
            assert!(segments.len() >= 2, "{step}: segments close");
        }
    }

    #[test]
    fn jitter_and_a_clock_that_jumps_keep_within_the_targets() {
        let mut t = 0u32;
        let times: Vec<u32> = (0..500u32)
            .map(|i| {
                t = t.wrapping_add(match i % 37 {
                    0 => 3_000_000,             // a jump
                    5 => 0u32.wrapping_sub(90), // backwards
                    k => 3000 + (k * 97) % 2500,
                });
                t
            })
            .collect();
        let (parts, segments) = cut(times);
        assert!(
            parts.iter().all(|&p| p > 0 && p <= PART_TARGET),
            "{parts:?}"
        );
        assert!(segments.iter().all(|&s| s <= SEGMENT_MAX));
    }
}
