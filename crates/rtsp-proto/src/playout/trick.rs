//! Trick play as a playout applies it: RFC 2326 12.34 `Scale` and 12.35 `Speed`.
//!
//! Every Motion-JPEG frame is a key frame, so any scale costs nothing but choosing frames: at
//! Scale 2 the stream sends every other frame of the file at the normal frame rate, at 4 every
//! fourth, at 0.5 every frame for two frame periods, at -1 the frames backwards at the normal
//! rate. RTP time advances one frame period per period sent, as in normal play (the stream is
//! delivered at the normal rate; 12.34): a receiver maps RTP time to NPT with the PLAY
//! response's Range and Scale, `npt = range start + scale * (rtptime - rtptime0) / 90000`.
//! Speed instead delivers the same stream, RTP times included, faster or slower than real time.
//!
//! A scale is applied as a whole number of frames per frame sent (`step`) or of periods per
//! frame (`hold`), so frame choice and RTP time stay exact integers over any length of play;
//! another value is applied as the nearest such one, and the PLAY response says which (12.34:
//! the server may apply a different scale and must say so).

/// The most frames one sent frame moves on (Scale 16) and the most periods one frame is held
/// (Scale 1/16): beyond these a stream is a slide show either way, and the bounds keep every
/// product of them far from overflow.
pub const MAX_TRICK: u32 = 16;

/// The slowest and fastest delivery (Speed) applied; a request beyond is applied at the bound.
pub const SPEED_BOUNDS: (f64, f64) = (1.0 / MAX_TRICK as f64, MAX_TRICK as f64);

/// How a PLAY moves through the file: which frames it sends and how fast it delivers them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trick {
    /// Frames of the file each sent frame moves the position on: 1, or the scale above 1.
    pub step: u32,
    /// Frame periods each sent frame lasts: 1, or one over the scale below 1.
    pub hold: u32,
    /// Backwards through the file: a negative scale.
    pub backwards: bool,
    /// How much faster than real time the stream is delivered (Speed; 1 for real time).
    pub speed: f64,
}

impl Trick {
    /// Normal play: every frame, forwards, in real time.
    pub const NORMAL: Trick = Trick {
        step: 1,
        hold: 1,
        backwards: false,
        speed: 1.0,
    };

    /// The trick nearest to `scale` and `speed` that a playout applies: a scale rounded to a
    /// whole number of frames per frame sent (above 1) or of periods per frame (below 1),
    /// within [`MAX_TRICK`]; a speed within [`SPEED_BOUNDS`]. Values that are no rate at all
    /// (zero, not a number) apply as 1: the Scale and Speed parsers refuse them first.
    pub fn nearest(scale: f64, speed: f64) -> Trick {
        let magnitude = scale.abs();
        let most = MAX_TRICK as f64;
        let (step, hold) = if magnitude.is_nan() || magnitude == 0.0 {
            (1, 1)
        } else if magnitude >= 1.0 {
            (magnitude.round().min(most) as u32, 1)
        } else {
            (1, (1.0 / magnitude).round().min(most) as u32)
        };
        let speed = if speed > 0.0 {
            speed.clamp(SPEED_BOUNDS.0, SPEED_BOUNDS.1)
        } else {
            1.0
        };
        Trick {
            step,
            hold,
            backwards: scale < 0.0,
            speed,
        }
    }

    /// The scale applied, as the PLAY response's `Scale` says it.
    pub fn scale(&self) -> f64 {
        let magnitude = f64::from(self.step) / f64::from(self.hold);
        if self.backwards {
            -magnitude
        } else {
            magnitude
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_applies_as_the_nearest_whole_step_or_hold_and_says_so() {
        for (asked, step, hold, applied) in [
            (1.0, 1, 1, 1.0),
            (2.0, 2, 1, 2.0),
            (4.0, 4, 1, 4.0),
            (0.5, 1, 2, 0.5),
            (-1.0, 1, 1, -1.0),
            (-2.0, 2, 1, -2.0),
            (1.4, 1, 1, 1.0),
            (2.6, 3, 1, 3.0),
            (0.3, 1, 3, 1.0 / 3.0),
            (100.0, 16, 1, 16.0),
            (-0.001, 1, 16, -1.0 / 16.0),
            (f64::INFINITY, 16, 1, 16.0),
        ] {
            let t = Trick::nearest(asked, 1.0);
            assert_eq!((t.step, t.hold), (step, hold), "{asked}");
            assert_eq!(t.scale(), applied, "{asked}");
        }
        assert_eq!(Trick::nearest(f64::NAN, f64::NAN), Trick::NORMAL);
        assert_eq!(Trick::nearest(1.0, 2.5).speed, 2.5);
        assert_eq!(Trick::nearest(1.0, 1000.0).speed, 16.0);
        assert_eq!(Trick::nearest(1.0, 0.001).speed, 1.0 / 16.0);
        assert_eq!(Trick::nearest(1.0, -2.0).speed, 1.0);
    }
}
