//! `RTP-Info` (RFC 2326 12.33): where a PLAY starts, per stream, in RTP's own numbers.

use std::fmt;

use super::{unquote, HeaderError, HeaderFault};

/// One stream's entry in `RTP-Info` (RFC 2326 12.33): where the PLAY starts in RTP terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpInfo {
    /// The stream's URL (the SETUP URL of that track).
    pub url: String,
    /// The sequence number of the first packet sent after this PLAY.
    pub seq: Option<u16>,
    /// The RTP timestamp that corresponds to the Range's start.
    pub rtptime: Option<u32>,
}

impl RtpInfo {
    /// The header's name.
    pub const NAME: &'static str = "RTP-Info";

    /// Parses every comma-separated entry of an `RTP-Info` value.
    pub fn parse_list(value: &str) -> Result<Vec<RtpInfo>, HeaderError> {
        let err = |fault| HeaderError::new(Self::NAME, value, fault);
        let mut list = Vec::new();
        // URLs may themselves contain commas only in theory; split on ",url=" boundaries by
        // splitting on ',' and gluing pieces that do not start a new entry.
        let mut entries: Vec<String> = Vec::new();
        for piece in value.split(',') {
            match entries.last_mut() {
                Some(last) if !piece.trim_start().starts_with("url=") => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => entries.push(piece.to_string()),
            }
        }
        for entry in entries {
            let mut info = RtpInfo {
                url: String::new(),
                seq: None,
                rtptime: None,
            };
            for param in entry.split(';').map(str::trim) {
                match param.split_once('=') {
                    Some(("url", v)) => info.url = unquote(v.trim()).to_string(),
                    Some(("seq", v)) => {
                        info.seq = Some(v.trim().parse().map_err(|_| err(HeaderFault::BadSeq))?)
                    }
                    Some(("rtptime", v)) => {
                        info.rtptime =
                            Some(v.trim().parse().map_err(|_| err(HeaderFault::BadRtpTime))?)
                    }
                    _ => {}
                }
            }
            if info.url.is_empty() {
                return Err(err(HeaderFault::EntryWithoutUrl));
            }
            list.push(info);
        }
        Ok(list)
    }
}

impl fmt::Display for RtpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "url={}", self.url)?;
        if let Some(seq) = self.seq {
            write!(f, ";seq={seq}")?;
        }
        if let Some(t) = self.rtptime {
            write!(f, ";rtptime={t}")?;
        }
        Ok(())
    }
}
