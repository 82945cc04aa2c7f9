//! PLAY: where a request starts and stops in the file, in the direction it plays, and what
//! its response says. A refused request changes nothing: every check comes before the first
//! field is set.

use std::time::Instant;

use super::{Clock, Playout, Trick};

/// What a PLAY asks of a playout: where to start and end, and how to move (Scale, Speed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayRequest {
    /// Seconds into the file to start at; `None` goes on from where the stream is.
    pub from: Option<f64>,
    /// Seconds into the file to stop at (backwards: down to); `None` plays to the end of the
    /// file (backwards: its start), or on and on when looping.
    pub to: Option<f64>,
    pub trick: Trick,
}

impl PlayRequest {
    /// Normal play from `from` seconds (or from where the stream is) to the end.
    pub fn normal(from: Option<f64>) -> PlayRequest {
        PlayRequest {
            from,
            to: None,
            trick: Trick::NORMAL,
        }
    }
}

/// What a PLAY started, for its response's `Range` and `RTP-Info`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayStarted {
    /// Where in the file playback starts, in seconds.
    pub npt_start: f64,
    /// Where it stops in seconds: the range's end, else the file's end (backwards: 0);
    /// `None` when looping without a range end.
    pub npt_end: Option<f64>,
    /// The sequence number and RTP timestamp of the first frame sent.
    pub seq: u16,
    pub rtptime: u32,
    /// The Scale and Speed applied.
    pub trick: Trick,
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
    /// Backwards from the very start, there is nothing to play.
    #[error("nothing comes before 0 s to play backwards")]
    NothingBefore,
    /// A range end the stream has already passed, in the direction it plays.
    #[error("end {end:.3} s comes before the start {start:.3} s in the direction of play")]
    EndBeforeStart { start: f64, end: f64 },
}

impl Playout {
    /// PLAY, from `from` seconds into the file, or from where it paused, forwards at the
    /// normal rate. Playing again while playing restarts the clock at the current position (a
    /// seek when `from` is given).
    pub fn play(&mut self, now: Instant, from: Option<f64>) -> Result<PlayStarted, PlayError> {
        self.play_request(now, PlayRequest::normal(from))
    }

    /// PLAY as `request` says: where to start, where to stop, and the trick to play with.
    /// While playing it takes effect at once (RFC 2326 10.5 leaves that open; RTSP 2.0 and
    /// gst-rtsp-server seek at once): nothing after it is from before. A refused request
    /// changes nothing.
    pub fn play_request(
        &mut self,
        now: Instant,
        request: PlayRequest,
    ) -> Result<PlayStarted, PlayError> {
        let (frames, looping) = (self.timeline.frames, self.timeline.looping);
        let trick = request.trick;
        let mut position = self.position;
        if looping && frames > 0 {
            position %= frames;
        }
        if let Some(start) = request.from {
            position = self.start_frame(start, trick.backwards)?;
        }
        let end = self.end_frame(position, request.to, trick.backwards)?;
        self.position = position;
        self.end = end;
        self.trick = trick;
        // After the end, a PLAY with no Range plays nothing more in that direction: the
        // position is still the end, and BYE was said.
        if request.from.is_some() || self.next_index().is_some() {
            self.ended = false;
        }
        self.clock = Clock::Playing {
            start: now,
            stream0: self.stream,
        };
        self.generation += 1;
        Ok(self.started())
    }

    /// The frame boundary a PLAY from `start` seconds starts at.
    fn start_frame(&self, start: f64, backwards: bool) -> Result<u64, PlayError> {
        let frames = self.timeline.frames;
        let frame = self.frame_at(start).ok_or(PlayError::NotATime { start })?;
        let past = PlayError::PastTheEnd {
            start,
            duration: self.timeline.duration(),
        };
        match backwards {
            false if frame >= frames && start != 0.0 => Err(past),
            true if frame > frames => Err(past),
            true if frame == 0 && frames > 0 => Err(PlayError::NothingBefore),
            _ => Ok(frame),
        }
    }

    /// The frame boundary a PLAY from `position` stops at: `to` seconds (at least one frame
    /// on, within the file), or the end of the file in the direction of play.
    fn end_frame(
        &self,
        position: u64,
        to: Option<f64>,
        backwards: bool,
    ) -> Result<Option<u64>, PlayError> {
        let frames = self.timeline.frames;
        let Some(to) = to else {
            return Ok((!self.timeline.looping).then_some(if backwards { 0 } else { frames }));
        };
        let end = self.frame_at(to).ok_or(PlayError::NotATime { start: to })?;
        let fps = self.timeline.fps;
        let before = PlayError::EndBeforeStart {
            start: position as f64 / fps,
            end: to,
        };
        match backwards {
            false if end < position => Err(before),
            true if end > position => Err(before),
            false => Ok(Some(end.max(position + 1).min(frames))),
            true => Ok(Some(end.min(position.saturating_sub(1)))),
        }
    }

    /// The frame boundary nearest `seconds` into the file, if that is a time.
    fn frame_at(&self, seconds: f64) -> Option<u64> {
        (seconds.is_finite() && seconds >= 0.0)
            .then(|| (seconds * self.timeline.fps).round() as u64)
    }

    fn started(&self) -> PlayStarted {
        let fps = self.timeline.fps;
        PlayStarted {
            npt_start: self.position as f64 / fps,
            npt_end: self.end.map(|e| e as f64 / fps),
            seq: self.seq,
            rtptime: self.rtptime(self.stream),
            trick: self.trick,
        }
    }
}
