//! Where playback is: which received frames belong to the current PLAY (the seek gate), and
//! which point of the presentation a frame shows (its normal play time).
//!
//! Every PLAY (a start, a resume, a seek, a speed change, a frame step) closes the gate while
//! the request is out: frames that arrive then are held, not shown. The PLAY response's
//! RTP-Info names the first packet of the new delivery (`seq`) and its RTP time (`rtptime`)
//! (RFC 2326 12.33): the gate then opens from that packet, and frames from before it (sent
//! before the seek, still in flight or queued) are dropped, so no frame from before a seek is
//! shown after it. A frame's position is the PLAY's Range start plus its RTP time since
//! `rtptime`, times the Scale the server applies: the RTP clock runs at the delivery rate.

/// Which frames the receiver and the player let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Every frame: no PLAY has said where its delivery starts.
    Open,
    /// A PLAY is out: frames wait until its response says which of them are new.
    Pending,
    /// Frames whose last packet is at or after this sequence number (RTP-Info's `seq`).
    From(u16),
    /// None: a frame step has shown its frame; what follows is not shown until the next PLAY.
    Shut,
}

/// What the gate says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// It belongs to the current PLAY: show it.
    Take,
    /// A PLAY is out: keep it until the answer says.
    Hold,
    /// From before the current PLAY (or after a step's frame): count it and let it go.
    Drop,
}

/// How RTP time maps to the presentation's normal play time after one PLAY.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBase {
    /// Where the PLAY starts (its Range start, RFC 2326 12.29), in seconds.
    pub npt: f64,
    /// The RTP time of that point (RTP-Info's `rtptime`); `None` until known, then the first
    /// frame through the gate sets it.
    pub rtptime: Option<u32>,
    /// The Scale the server applies (RFC 2326 12.34): media seconds per RTP-clock second.
    pub scale: f64,
}

/// The seek gate and the time base, shared by the session, the receiver and the player.
#[derive(Debug, Clone)]
pub struct Playhead {
    pub gate: Gate,
    pub base: Option<TimeBase>,
    /// Set for a frame step: once one frame is shown the gate shuts.
    pub step: bool,
    /// Set by the player when a step's frame is shown (the session then sends PAUSE).
    pub step_shown: bool,
    /// Counts the PLAYs: the player re-anchors its clock and starts a new fps segment when it
    /// changes.
    pub play_id: u64,
    /// The RTP clock rate (90 kHz for RFC 2435).
    pub clock_rate: f64,
}

impl Default for Playhead {
    fn default() -> Playhead {
        Playhead {
            gate: Gate::Open,
            base: None,
            step: false,
            step_shown: false,
            play_id: 0,
            clock_rate: 90_000.0,
        }
    }
}

/// Whether sequence number `a` comes before `b`, across the 16-bit wrap (RFC 3550 A.1).
pub fn seq_before(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

impl Playhead {
    /// What to do with a frame whose last packet has sequence number `seq`.
    pub fn admit(&self, seq: u16) -> Admit {
        match self.gate {
            Gate::Open => Admit::Take,
            Gate::Pending => Admit::Hold,
            Gate::From(first) if seq_before(seq, first) => Admit::Drop,
            Gate::From(_) => Admit::Take,
            Gate::Shut => Admit::Drop,
        }
    }

    /// A PLAY is about to go out: hold what arrives until [`Playhead::played`].
    pub fn playing_soon(&mut self, step: bool) {
        self.gate = Gate::Pending;
        self.step = step;
        self.step_shown = false;
        self.play_id += 1;
    }

    /// The PLAY's response: its Range start `npt`, RTP-Info `seq` and `rtptime`, and the
    /// Scale applied.
    pub fn played(&mut self, npt: f64, seq: Option<u16>, rtptime: Option<u32>, scale: f64) {
        self.gate = seq.map_or(Gate::Open, Gate::From);
        self.base = Some(TimeBase {
            npt,
            rtptime,
            scale,
        });
    }

    /// The PLAY failed: nothing new comes, nothing is held.
    pub fn play_failed(&mut self) {
        self.gate = Gate::Open;
        self.step = false;
    }

    /// The normal play time of a frame stamped `ts`; the first frame after a PLAY whose
    /// response had no `rtptime` becomes the base.
    pub fn position(&mut self, ts: u32) -> Option<f64> {
        let clock = self.clock_rate;
        let base = self.base.as_mut()?;
        let at = *base.rtptime.get_or_insert(ts);
        let elapsed = ts.wrapping_sub(at) as i32 as f64 / clock;
        Some((base.npt + elapsed * base.scale).max(0.0))
    }

    /// After a frame is shown: a step's frame shuts the gate; returns whether it did.
    pub fn shown(&mut self) -> bool {
        if !self.step {
            return false;
        }
        self.step = false;
        self.step_shown = true;
        self.gate = Gate::Shut;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_before_the_seek_are_dropped_across_the_wrap() {
        let mut p = Playhead::default();
        assert_eq!(p.admit(7), Admit::Take);
        p.playing_soon(false);
        assert_eq!(p.admit(7), Admit::Hold);
        p.played(10.0, Some(65530), Some(1000), 1.0);
        assert_eq!(p.admit(65529), Admit::Drop);
        assert_eq!(p.admit(40000), Admit::Drop);
        assert_eq!(p.admit(65530), Admit::Take);
        assert_eq!(p.admit(3), Admit::Take);
        p.playing_soon(false);
        p.played(0.0, None, None, 1.0);
        assert_eq!(p.admit(1), Admit::Take);
    }

    #[test]
    fn positions_count_from_the_range_start_times_the_scale() {
        let mut p = Playhead::default();
        assert_eq!(p.position(5), None);
        p.played(10.0, Some(1), Some(90_000), 1.0);
        assert_eq!(p.position(90_000 + 45_000), Some(10.5));
        p.played(4.0, Some(1), Some(u32::MAX - 8999), 2.0);
        assert_eq!(p.position(81_000), Some(4.0 + 1.0 * 2.0));
        p.played(6.0, Some(1), Some(0), -1.0);
        assert_eq!(p.position(90_000), Some(5.0));
        // No rtptime: the first frame is the Range start.
        p.played(3.0, None, None, 1.0);
        assert_eq!(p.position(777), Some(3.0));
        assert_eq!(p.position(777 + 9000), Some(3.1));
    }

    #[test]
    fn a_step_shuts_the_gate_after_one_frame() {
        let mut p = Playhead::default();
        p.playing_soon(true);
        p.played(2.0, Some(50), Some(0), 1.0);
        assert_eq!(p.admit(50), Admit::Take);
        assert!(p.shown());
        assert!(p.step_shown);
        assert_eq!(p.admit(51), Admit::Drop);
        assert!(!p.shown());
        p.playing_soon(false);
        assert!(!p.step_shown);
        p.play_failed();
        assert_eq!(p.admit(52), Admit::Take);
    }
}
