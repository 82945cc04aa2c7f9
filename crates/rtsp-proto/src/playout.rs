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
//! Deadlines are absolute: frame `n` after a PLAY at `start` from frame `origin` is due at
//! `start + (n - origin) / fps`, computed afresh for every frame, so a frame sent early or late
//! never moves the next one and playback cannot drift.

use std::time::{Duration, Instant};

use crate::rtcp::{self, RtcpPacket, SenderReport};
use crate::rtp::JPEG_CLOCK_RATE;

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
    /// Playing (RFC 2326's sense: PLAY in effect): frame `origin` was due at `start`.
    Playing { start: Instant, origin: u64 },
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

/// What a PLAY started, for its response's `Range` and `RTP-Info`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayStarted {
    /// Where in the file playback starts, in seconds.
    pub npt_start: f64,
    /// The file's end in seconds (`None` when looping: there is no end).
    pub npt_end: Option<f64>,
    /// The sequence number and RTP timestamp of the first frame sent.
    pub seq: u16,
    pub rtptime: u32,
}

/// Why a PLAY was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PlayError {
    /// RFC 2326 11.3.7: 457 Invalid Range.
    #[error("start {start:.3} s is past the end ({duration:.3} s)")]
    PastTheEnd { start: f64, duration: f64 },
    /// RFC 2326 11.3.7 again: a start that is no time at all.
    #[error("start {start} s is not a time in the file")]
    NotATime { start: f64 },
}

/// The playout of one session's stream; see the module docs.
#[derive(Debug, Clone)]
pub struct Playout {
    timeline: Timeline,
    ssrc: u32,
    rtptime_base: u32,
    seq: u16,
    /// The next frame to send, counted from the start of the file; it keeps counting across
    /// loops so RTP timestamps only grow.
    position: u64,
    clock: Clock,
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
            clock: Clock::Paused,
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
        self.ended = false;
        self.generation += 1;
    }

    /// PLAY, from `from` seconds into the file, or from where it paused. Playing again while
    /// playing restarts the clock at the current position (a seek when `from` is given).
    pub fn play(&mut self, now: Instant, from: Option<f64>) -> Result<PlayStarted, PlayError> {
        let frames = self.timeline.frames;
        if let Some(start) = from {
            if !start.is_finite() || start < 0.0 {
                return Err(PlayError::NotATime { start });
            }
            let frame = (start * self.timeline.fps).round() as u64;
            if frame >= frames && start != 0.0 {
                return Err(PlayError::PastTheEnd {
                    start,
                    duration: self.timeline.duration(),
                });
            }
            self.position = frame;
            self.ended = false;
        }
        // After the end, a PLAY with no Range plays nothing: the position is still the end.
        self.clock = Clock::Playing {
            start: now,
            origin: self.position,
        };
        self.generation += 1;
        Ok(self.started())
    }

    /// Starts the clock of a PLAY at `now` instead of at the PLAY itself, if no frame has
    /// gone out since: the driver calls it once PLAY's response is sent (over TCP the response
    /// must reach the client before any frame), so the first frame is not born late.
    pub fn start_clock(&mut self, now: Instant) {
        if let Clock::Playing { start, origin } = &mut self.clock {
            if *origin == self.position {
                *start = now;
            }
        }
    }

    fn started(&self) -> PlayStarted {
        let frames = self.timeline.frames.max(1);
        PlayStarted {
            npt_start: (self.position % frames) as f64 / self.timeline.fps,
            npt_end: (!self.timeline.looping).then(|| self.timeline.duration()),
            seq: self.seq,
            rtptime: self.rtptime(self.position),
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
            Clock::Playing { start, origin } if !self.ended => {
                Some(self.deadline(start, origin, self.position))
            }
            _ => None,
        }
    }

    fn deadline(&self, start: Instant, origin: u64, frame: u64) -> Instant {
        let offset = (frame - origin) as f64 / self.timeline.fps;
        start + Duration::from_secs_f64(offset)
    }

    /// The next thing to do at `now`: a frame to send, frames skipped, the end; `None` when
    /// nothing is due before [`Playout::poll_timeout`]. Call until it returns `None`.
    pub fn poll_frame(&mut self, now: Instant) -> Option<Poll> {
        let Clock::Playing { start, origin } = self.clock else {
            return None;
        };
        if self.ended {
            return None;
        }
        let skipped = self.skip_late_frames(now, start, origin);
        if skipped > 0 {
            return Some(Poll::Skipped(skipped));
        }
        if self.deadline(start, origin, self.position) > now {
            return None;
        }
        let frames = self.timeline.frames;
        if frames == 0 || (self.position >= frames && !self.timeline.looping) {
            self.ended = true;
            return Some(Poll::End);
        }
        let due = DueFrame {
            index: (self.position % frames) as usize,
            rtptime: self.rtptime(self.position),
            seq: self.seq,
        };
        self.position += 1;
        Some(Poll::Frame(due))
    }

    /// Moves the position past the frames more than [`MAX_LATE`] behind their deadlines, and
    /// says how many that was: sending them would put seconds of video on the wire at once,
    /// only for the receiver to drop them.
    fn skip_late_frames(&mut self, now: Instant, start: Instant, origin: u64) -> u64 {
        let Some(cutoff) = now.checked_sub(MAX_LATE) else {
            return 0;
        };
        // The first frame due at or after the cutoff.
        let behind = cutoff.saturating_duration_since(start).as_secs_f64() * self.timeline.fps;
        let mut first_in_time = origin + behind.ceil() as u64;
        if !self.timeline.looping {
            first_in_time = first_in_time.min(self.timeline.frames);
        }
        if first_in_time <= self.position {
            return 0;
        }
        let skipped = first_in_time - self.position;
        self.position = first_in_time;
        skipped
    }

    /// Records what went out of the last [`DueFrame`]: its packets and where the sequence
    /// numbers go on. A frame not sent at all needs no call: its sequence numbers are unused.
    pub fn frame_sent(&mut self, sent: Sent) {
        self.seq = sent.next_seq;
        self.packets = self.packets.wrapping_add(sent.packets);
        self.octets = self.octets.wrapping_add(sent.octets);
    }

    /// The RTP timestamp of frame `frame`, counted from the start across loops.
    pub fn rtptime(&self, frame: u64) -> u32 {
        self.rtptime_at(frame as f64)
    }

    fn rtptime_at(&self, frame: f64) -> u32 {
        let ticks = (frame * JPEG_CLOCK_RATE as f64 / self.timeline.fps).round() as u64;
        self.rtptime_base.wrapping_add(ticks as u32)
    }

    /// The media position at `now`, in (fractional) frames: what an SR's RTP time says.
    fn position_at(&self, now: Instant) -> f64 {
        match self.clock {
            Clock::Playing { start, origin } if !self.ended => {
                origin as f64
                    + now.saturating_duration_since(start).as_secs_f64() * self.timeline.fps
            }
            _ => self.position as f64,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The next frame to send, counted from the start of the file across loops.
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
            rtp_timestamp: self.rtptime_at(self.position_at(now)),
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
