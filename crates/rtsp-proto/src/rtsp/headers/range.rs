//! `Range` (RFC 2326 12.29) and normal play time (RFC 2326 3.6). This is the crate's one NPT
//! parser: SDP's `a=range:` attribute has the same grammar and [`crate::sdp`] reads it here.

use std::fmt;

use super::{HeaderError, HeaderFault};

/// A normal play time (RFC 2326 3.6): seconds, or `now` for live positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NptTime {
    /// `now`: the live position (a server with no timeline).
    Now,
    /// Seconds from the start of the presentation.
    Seconds(f64),
}

impl NptTime {
    fn parse(s: &str) -> Option<NptTime> {
        let s = s.trim();
        if s == "now" {
            return Some(NptTime::Now);
        }
        // npt-hhmmss: H+:MM:SS[.frac]
        let mut secs = 0.0;
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 {
            return None;
        }
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (last && b == b'.'))
            {
                return None;
            }
            let v: f64 = part.parse().ok()?;
            secs = secs * 60.0 + v;
        }
        secs.is_finite().then_some(NptTime::Seconds(secs))
    }
}

impl fmt::Display for NptTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NptTime::Now => f.write_str("now"),
            NptTime::Seconds(s) => write!(f, "{s:.3}"),
        }
    }
}

/// `Range: npt=start-[end]` (RFC 2326 12.29). Only NPT is modelled: the server answers 457
/// to SMPTE or clock ranges it cannot honour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Where playback starts; an open start (`npt=-20`) parses as 0.
    pub start: NptTime,
    /// Where it ends; `None` for an open range (`npt=10-`), which plays to the end.
    pub end: Option<NptTime>,
}

impl Range {
    /// The header's name.
    pub const NAME: &'static str = "Range";

    /// Parses a Range value for forward play; `;time=` suffixes are ignored.
    pub fn parse(value: &str) -> Result<Range, HeaderError> {
        Range::parse_for(value, false)
    }

    /// Parses a Range value for play in one direction: backwards (a negative Scale, RFC 2326
    /// 12.34) a range runs from a later time to an earlier one (`npt=15-10`), so the end may
    /// not come after the start; forwards it may not come before. Either is
    /// [`HeaderFault::EndBeforeStart`]: before in the direction of play.
    pub fn parse_for(value: &str, backwards: bool) -> Result<Range, HeaderError> {
        let err = |fault| HeaderError::new(Self::NAME, value, fault);
        let spec = value.split(';').next().unwrap_or("").trim();
        let npt = spec
            .strip_prefix("npt")
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix('='))
            .ok_or_else(|| err(HeaderFault::NotNpt))?;
        let (start, end) = npt
            .split_once('-')
            .ok_or_else(|| err(HeaderFault::NoDash))?;
        let start = if start.trim().is_empty() {
            // "npt=-20" means from the beginning (RFC 2326 allows an open start).
            NptTime::Seconds(0.0)
        } else {
            NptTime::parse(start).ok_or_else(|| err(HeaderFault::BadStart))?
        };
        let end = if end.trim().is_empty() {
            None
        } else {
            Some(NptTime::parse(end).ok_or_else(|| err(HeaderFault::BadEnd))?)
        };
        if let (NptTime::Seconds(a), Some(NptTime::Seconds(b))) = (start, end) {
            if (b < a && !backwards) || (b > a && backwards) {
                return Err(err(HeaderFault::EndBeforeStart));
            }
        }
        Ok(Range { start, end })
    }
}

impl Range {
    /// Whether the range runs from a later time to an earlier one, as a range for backward
    /// play does.
    pub fn is_backwards(&self) -> bool {
        matches!((self.start, self.end), (NptTime::Seconds(a), Some(NptTime::Seconds(b))) if b < a)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "npt={}-", self.start)?;
        if let Some(end) = self.end {
            write!(f, "{end}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backward_range_runs_from_the_later_time_and_a_forward_one_from_the_earlier() {
        let back = Range::parse_for("npt=15-10", true).unwrap();
        assert_eq!(back.start, NptTime::Seconds(15.0));
        assert_eq!(back.end, Some(NptTime::Seconds(10.0)));
        assert!(back.is_backwards());
        assert_eq!(back.to_string(), "npt=15.000-10.000");
        assert_eq!(
            Range::parse(&back.to_string()).unwrap_err().fault,
            HeaderFault::EndBeforeStart
        );
        // An open end backwards is "to the beginning"; equal ends are an empty range either way.
        assert_eq!(Range::parse_for("npt=15-", true).unwrap().end, None);
        assert!(Range::parse_for("npt=3-3", true).is_ok());
        let e = Range::parse_for("npt=10-15", true).unwrap_err();
        assert_eq!(e.fault, HeaderFault::EndBeforeStart);
        let forward = Range::parse("npt=10-15").unwrap();
        assert!(!forward.is_backwards());
        assert_eq!(Range::parse_for("npt=10-15", false), Ok(forward));
    }
}
