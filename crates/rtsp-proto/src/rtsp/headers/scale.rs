//! `Scale` and `Speed` (RFC 2326 12.34 and 12.35): trick play. Scale changes the rate at which
//! the presentation advances against the wall clock (2 is fast forward, -1 plays backwards)
//! while the stream itself is sent at the normal rate; Speed asks for the data to be delivered
//! faster or slower than real time. A server answers with the value it applies.

use std::fmt;

use super::{HeaderError, HeaderFault};

/// `Scale: [-]1*DIGIT[.*DIGIT]`: how fast, and in which direction, the presentation advances
/// against the wall clock. 1 is normal play.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale(pub f64);

/// `Speed: 1*DIGIT[.*DIGIT]`: how much faster than real time the data is delivered; positive,
/// 1 being real time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub f64);

impl Scale {
    /// The header's name.
    pub const NAME: &'static str = "Scale";

    /// Parses a Scale value: a signed decimal, not zero (a presentation that does not advance
    /// is PAUSE's job).
    pub fn parse(value: &str) -> Result<Scale, HeaderError> {
        let bad = || HeaderError::new(Self::NAME, value, HeaderFault::BadRate);
        let v = value.trim();
        let (negative, digits) = match v.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let magnitude = rate(digits).ok_or_else(bad)?;
        Ok(Scale(if negative { -magnitude } else { magnitude }))
    }
}

impl Speed {
    /// The header's name.
    pub const NAME: &'static str = "Speed";

    /// Parses a Speed value: an unsigned decimal, not zero.
    pub fn parse(value: &str) -> Result<Speed, HeaderError> {
        let bad = || HeaderError::new(Self::NAME, value, HeaderFault::BadRate);
        rate(value.trim()).map(Speed).ok_or_else(bad)
    }
}

/// `1*DIGIT [ "." *DIGIT ]`, finite and above zero.
fn rate(digits: &str) -> Option<f64> {
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let v: f64 = digits.parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

/// Three decimals, as gst-rtsp-server writes it (`Scale: 2.000`): enough for any rate a
/// player asks for.
fn write_rate(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    write!(f, "{v:.3}")
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rate(f, self.0)
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rate(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_values_parse_and_write_back() {
        for (text, v, written) in [
            ("2", 2.0, "2.000"),
            ("-1", -1.0, "-1.000"),
            (" 0.5 ", 0.5, "0.500"),
            ("4.", 4.0, "4.000"),
            ("-2.000", -2.0, "-2.000"),
        ] {
            let s = Scale::parse(text).unwrap();
            assert_eq!(s, Scale(v), "{text}");
            assert_eq!(s.to_string(), written);
            assert_eq!(Scale::parse(written).unwrap(), s);
        }
    }

    #[test]
    fn bad_scales_and_speeds_are_refused() {
        for bad in [
            "", "0", "-0", "+2", "two", "1e3", ".5", "2.5.1", "--1", "inf", "NaN",
        ] {
            let e = Scale::parse(bad).unwrap_err();
            assert_eq!(e.fault, HeaderFault::BadRate, "{bad:?}");
        }
        for bad in ["-1", "0", "", "x"] {
            assert!(Speed::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Speed::parse("2.5").unwrap(), Speed(2.5));
    }
}
