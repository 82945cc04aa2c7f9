//! `CSeq` (RFC 2326 12.17): the number that pairs a response with its request.

use std::fmt;

use super::{HeaderError, HeaderFault};

/// `CSeq: N`. Every request carries one and the response echoes it; the lab's client reads it
/// from the reply's second line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CSeq(pub u32);

impl CSeq {
    /// The header's name as RFC 2326 spells it (VLC writes `Cseq`; lookups ignore case).
    pub const NAME: &'static str = "CSeq";

    /// Parses a CSeq value: `1*DIGIT` (RFC 2326 12.17), no sign, within 32 bits; surrounding
    /// white space allowed (RFC 7230 3.2.4's OWS).
    pub fn parse(value: &str) -> Result<CSeq, HeaderError> {
        let digits = value.trim();
        let bad = || HeaderError::new(Self::NAME, value, HeaderFault::BadCSeq);
        // `u32::from_str` takes a leading `+`, which 1*DIGIT does not.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map(CSeq).map_err(|_| bad())
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
