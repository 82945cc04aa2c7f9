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

    /// Parses a CSeq value: a 32-bit decimal number, surrounding white space allowed (and, as
    /// the parser has always taken it, a leading `+`).
    pub fn parse(value: &str) -> Result<CSeq, HeaderError> {
        value
            .trim()
            .parse()
            .map(CSeq)
            .map_err(|_| HeaderError::new(Self::NAME, value, HeaderFault::BadCSeq))
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
