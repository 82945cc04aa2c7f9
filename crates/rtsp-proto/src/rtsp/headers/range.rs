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

    /// Parses a Range value; `;time=` suffixes are ignored.
    pub fn parse(value: &str) -> Result<Range, HeaderError> {
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
            if b < a {
                return Err(err(HeaderFault::EndBeforeStart));
            }
        }
        Ok(Range { start, end })
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
