//! When each frame of a session's stream is due, what RTP stamps it with, and what a sender
//! report says about it: the playout rules as a sans-IO state machine.
//!
//! A [`Playout`] knows a file only by its frame count and rate ([`Timeline`]); it never sees
//! bytes or sockets, and time is always an argument. Whoever drives it (the server's pacers)
//! asks [`Playout::poll_timeout`] when to come back, calls [`Playout::poll_frame`] then until it
//! says nothing is due, sends what it is told, and reports what went out with
//! [`Playout::frame_sent`], in the style of str0m's and quinn-proto's poll loops. So every
//! timing rule (pause and resume, seek, loop, end, skipping frames that are too late, the
//! sender report's RTP time) is a unit test that runs faster than real time.
//!
//! Deadlines are absolute: the frame `n` periods of stream time after a PLAY at `start` is due
//! at `start + n / (fps * speed)`, computed afresh for every frame, so a frame sent early or
//! late never moves the next one and playback cannot drift.
//!
//! A PLAY may name an end (`Range: npt=a-b`: the frames in `[a, b)`, at least one) and a
//! [`Trick`] (Scale, Speed; see [`trick`]). The end of a range is the end of the stream as the
//! end of the file is: one [`Poll::End`] (the server's BYE), and the session stays playing. RTP
//! time counts stream time, not the file's: it only grows, across pause, seek, loop and trick
//! play, and each PLAY's response says the RTP time its first frame carries.

use std::time::{Duration, Instant};

use crate::rtcp::{self, RtcpPacket, SenderReport};
use crate::rtp::JPEG_CLOCK_RATE;

mod play;
pub mod trick;
pub use play::{PlayError, PlayRequest, PlayStarted};
pub use trick::Trick;

/// How late a frame may be sent: GStreamer's default jitter buffer (200 ms) drops a frame
/// later than this, so a driver that fell behind skips ahead instead of catching up in a burst.
pub const MAX_LATE: Duration = Duration::from_millis(200);

/// How often a playing stream sends a sender report: RFC 3550 6.2 suggests 5 s as the minimum
/// RTCP interval, and one source needs no more.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// What a playout plays: a file of `frames` frames at `fps`, once or on a loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub frames: u64,
    pub fps: f64,
    pub looping: bool,
}

impl Timeline {
    /// The file's length in seconds.
    pub fn duration(&self) -> f64 {
        self.frames as f64 / self.fps
    }
}

/// A stream's random starting points (RFC 3550 5.1: SSRC, first sequence number and first RTP
/// timestamp are random so streams cannot be confused or guessed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpOrigin {
    pub ssrc: u32,
    pub seq: u16,
    pub rtptime: u32,
}

/// Where a playout is between PLAY and PAUSE.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Clock {
    /// Not sending (before the first PLAY, or after PAUSE or teardown).
    Paused,
    /// Playing (RFC 2326's sense: PLAY in effect): the frame at stream time `stream0` (in
    /// frame periods) was due at `start`.
    Playing { start: Instant, stream0: u64 },
}

/// One frame to send now, as [`Playout::poll_frame`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueFrame {
    /// The frame's index in the file.
    pub index: usize,
    /// Its RTP timestamp.
    pub rtptime: u32,
    /// The sequence number of its first packet.
    pub seq: u16,
}

/// What [`Playout::poll_frame`] asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Send this frame, then call [`Playout::frame_sent`] (or not, if it was not sent).
    Frame(DueFrame),
    /// This many frames were more than [`MAX_LATE`] behind and were skipped.
    Skipped(u64),
    /// The file has ended: send a BYE. Nothing more is due until a PLAY with a new start.
    End,
}

/// What the driver sent of a [`DueFrame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// The sequence number after the frame's last packet.
    pub next_seq: u16,
    pub packets: u32,
    /// RTP payload octets, as a sender report counts them.
    pub octets: u32,
}

/// The playout of one session's stream; see the module docs.
#[derive(Debug, Clone)]
pub struct Playout {
    timeline: Timeline,
    ssrc: u32,
    rtptime_base: u32,
    seq: u16,
    /// Where the presentation is, as a frame boundary from the start of the file: forwards
    /// the next frame to send is `position`, backwards `position - 1`. Forwards it keeps
    /// counting across loops until the next PLAY.
    position: u64,
    /// The stream time of the next frame sent, in frame periods: what its RTP time says.
    stream: u64,
    clock: Clock,
    trick: Trick,
    /// Where this PLAY stops, as a frame boundary; `None` for a loop without end.
    end: Option<u64>,
    /// Played to the end of a file that does not loop; BYE is said. Only a PLAY with a start
    /// leaves it.
    ended: bool,
    packets: u32,
    octets: u32,
    next_report: Option<Instant>,
    generation: u64,
}

impl Playout {
    /// A stream at the start of the file, paused.
    pub fn new(timeline: Timeline, origin: RtpOrigin) -> Playout {
        Playout {
            timeline,
            ssrc: origin.ssrc,
            rtptime_base: origin.rtptime,
            seq: origin.seq,
            position: 0,
            stream: 0,
            clock: Clock::Paused,
            trick: Trick::NORMAL,
            end: None,
            ended: false,
            packets: 0,
            octets: 0,
            next_report: None,
            generation: 0,
        }
    }

    /// A new file or transport for the same stream (a SETUP again, before PLAY): the RTP
    /// origin, counters and position go on; it waits for a PLAY.
    pub fn set_timeline(&mut self, timeline: Timeline) {
        self.timeline = timeline;
        self.clock = Clock::Paused;
        self.trick = Trick::NORMAL;
        self.end = None;
        self.ended = false;
        self.generation += 1;
    }

    /// Starts the clock of a PLAY at `now` instead of at the PLAY itself, if no frame has
    /// gone out since: the driver calls it once PLAY's response is sent (over TCP the response
    /// must reach the client before any frame), so the first frame is not born late.
    pub fn start_clock(&mut self, now: Instant) {
        if let Clock::Playing { start, stream0 } = &mut self.clock {
            if *stream0 == self.stream {
                *start = now;
            }
        }
    }

    /// PAUSE: nothing more is sent; a later PLAY resumes at the next frame.
    pub fn pause(&mut self) {
        self.stop();
    }

    /// Stops sending until played again (PAUSE, teardown). A stream at its end stays there:
    /// only a PLAY with a start moves it.
    pub fn stop(&mut self) {
        self.clock = Clock::Paused;
        self.generation += 1;
    }

    /// Whether PLAY is in effect (RFC 2326's Playing state), even when the file has ended.
    pub fn is_playing(&self) -> bool {
        matches!(self.clock, Clock::Playing { .. })
    }

    /// Whether frames are going out: playing and not at the end.
    pub fn is_sending(&self) -> bool {
        self.is_playing() && !self.ended
    }

    /// Whether the file played to its end (and BYE was due).
    pub fn has_ended(&self) -> bool {
        self.ended
    }

    /// Whether the stream ever went out (a BYE at teardown means something only then).
    pub fn has_started(&self) -> bool {
        self.is_playing() || self.ended || self.packets > 0
    }

    /// Bumped by every PLAY, PAUSE, stop and new timeline: a driver that holds a deadline
    /// from before drops it instead of acting on it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When [`Playout::poll_frame`] next has something to do, while playing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.clock {
            Clock::Playing { start, stream0 } if !self.ended => {
                Some(self.deadline(start, stream0, self.stream))
            }
            _ => None,
        }
    }

    /// When the frame at stream time `stream` is due, for a PLAY whose first frame, at
    /// `stream0`, was due at `start`.
    fn deadline(&self, start: Instant, stream0: u64, stream: u64) -> Instant {
        let offset = (stream - stream0) as f64 / (self.timeline.fps * self.trick.speed);
        start + Duration::from_secs_f64(offset)
    }

    /// The next thing to do at `now`: a frame to send, frames skipped, the end; `None` when
    /// nothing is due before [`Playout::poll_timeout`]. Call until it returns `None`.
    pub fn poll_frame(&mut self, now: Instant) -> Option<Poll> {
        let Clock::Playing { start, stream0 } = self.clock else {
            return None;
        };
        if self.ended {
            return None;
        }
        let skipped = self.skip_late_frames(now, start, stream0);
        if skipped > 0 {
            return Some(Poll::Skipped(skipped));
        }
        if self.deadline(start, stream0, self.stream) > now {
            return None;
        }
        let Some(index) = self.next_index() else {
            self.ended = true;
            return Some(Poll::End);
        };
        let due = DueFrame {
            index,
            rtptime: self.rtptime(self.stream),
            seq: self.seq,
        };
        self.advance(1);
        Some(Poll::Frame(due))
    }

    /// The index in the file of the next frame to send, unless the stream is at its end.
    fn next_index(&self) -> Option<usize> {
        let frames = self.timeline.frames;
        if frames == 0 || self.end.is_some_and(|e| self.slots_to(e) == 0) {
            return None;
        }
        let index = match self.trick.backwards {
            false => self.position % frames,
            true => (self.position + frames - 1) % frames,
        };
        Some(index as usize)
    }

    /// How many more frames are sent before the position reaches the boundary `end`.
    fn slots_to(&self, end: u64) -> u64 {
        let left = match self.trick.backwards {
            false => end.saturating_sub(self.position),
            true => self.position.saturating_sub(end),
        };
        left.div_ceil(u64::from(self.trick.step))
    }

    /// Moves on by `slots` frames sent (or skipped), no further than the end; says how many.
    fn advance(&mut self, slots: u64) -> u64 {
        let frames = self.timeline.frames;
        let slots = self.end.map_or(slots, |e| slots.min(self.slots_to(e)));
        if frames == 0 || slots == 0 {
            return 0;
        }
        let moved = slots.saturating_mul(u64::from(self.trick.step));
        self.position = match (self.trick.backwards, self.end) {
            (false, end) => self
                .position
                .saturating_add(moved)
                .min(end.unwrap_or(u64::MAX)),
            (true, Some(end)) => self.position.saturating_sub(moved).max(end),
            // Backwards on a loop without end: round the file again and again.
            (true, None) => (self.position % frames + frames - moved % frames) % frames,
        };
        self.stream += slots * u64::from(self.trick.hold);
        slots
    }

    /// Moves the position past the frames more than [`MAX_LATE`] behind their deadlines, and
    /// says how many that was: sending them would put seconds of video on the wire at once,
    /// only for the receiver to drop them.
    fn skip_late_frames(&mut self, now: Instant, start: Instant, stream0: u64) -> u64 {
        let Some(cutoff) = now.checked_sub(MAX_LATE) else {
            return 0;
        };
        // The first frame due at or after the cutoff, counted in frames sent since the PLAY.
        let hold = u64::from(self.trick.hold);
        let periods = cutoff.saturating_duration_since(start).as_secs_f64()
            * self.timeline.fps
            * self.trick.speed;
        let first_in_time = (periods / hold as f64).ceil() as u64;
        let sent = (self.stream - stream0) / hold;
        if first_in_time <= sent {
            return 0;
        }
        self.advance(first_in_time - sent)
    }

    /// Records what went out of the last [`DueFrame`]: its packets and where the sequence
    /// numbers go on. A frame not sent at all needs no call: its sequence numbers are unused.
    pub fn frame_sent(&mut self, sent: Sent) {
        self.seq = sent.next_seq;
        self.packets = self.packets.wrapping_add(sent.packets);
        self.octets = self.octets.wrapping_add(sent.octets);
    }

    /// The RTP timestamp `periods` frame periods of stream time after the stream's first
    /// frame (in normal play from the start, frame `periods`'s).
    pub fn rtptime(&self, periods: u64) -> u32 {
        self.rtptime_at(periods as f64)
    }

    fn rtptime_at(&self, periods: f64) -> u32 {
        let ticks = (periods * JPEG_CLOCK_RATE as f64 / self.timeline.fps).round() as u64;
        self.rtptime_base.wrapping_add(ticks as u32)
    }

    /// The stream time at `now`, in (fractional) frame periods: what an SR's RTP time says.
    fn stream_at(&self, now: Instant) -> f64 {
        match self.clock {
            Clock::Playing { start, stream0 } if !self.ended => {
                let elapsed = now.saturating_duration_since(start).as_secs_f64();
                stream0 as f64 + elapsed * self.timeline.fps * self.trick.speed
            }
            _ => self.stream as f64,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Where the presentation is, as a frame boundary (forwards: the next frame to send),
    /// counted from the start of the file (across loops until the next PLAY).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// What the playout plays.
    pub fn timeline(&self) -> Timeline {
        self.timeline
    }

    /// Whether a sender report is due at `now`; if so, the next one is scheduled
    /// [`REPORT_INTERVAL`] later. The first is due as soon as the stream plays.
    pub fn poll_report(&mut self, now: Instant) -> bool {
        if !self.is_sending() || self.next_report.is_some_and(|t| now < t) {
            return false;
        }
        self.next_report = Some(now + REPORT_INTERVAL);
        true
    }

    /// When [`Playout::poll_report`] next says yes, while playing.
    pub fn report_timeout(&self, now: Instant) -> Option<Instant> {
        self.is_sending()
            .then(|| self.next_report.unwrap_or(now).max(now))
    }

    /// The sender report at `now` (RFC 3550 6.4.1): `ntp` is the wallclock at `now`, which the
    /// caller reads, since this module reads no clock.
    pub fn sender_report(&self, now: Instant, ntp: u64) -> SenderReport {
        SenderReport {
            ssrc: self.ssrc,
            ntp,
            rtp_timestamp: self.rtptime_at(self.stream_at(now)),
            packet_count: self.packets,
            octet_count: self.octets,
            reports: vec![],
        }
    }

    /// SR + SDES naming `cname` (+ BYE when leaving), as one compound packet (RFC 3550 6.1).
    pub fn rtcp_report(&self, now: Instant, ntp: u64, cname: &str, bye: bool) -> Vec<u8> {
        let mut packets = vec![
            RtcpPacket::SenderReport(self.sender_report(now, ntp)),
            RtcpPacket::SourceDescription(vec![(self.ssrc, cname.to_string())]),
        ];
        if bye {
            packets.push(RtcpPacket::Goodbye {
                ssrcs: vec![self.ssrc],
                reason: None,
            });
        }
        let mut out = Vec::with_capacity(128);
        rtcp::write_compound(&packets, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod trick_tests;
