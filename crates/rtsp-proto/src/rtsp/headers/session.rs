//! `Session` (RFC 2326 12.37): the id that ties requests to one server session, and its timeout.

use std::fmt;

use super::{HeaderError, HeaderFault};

/// `Session: id[;timeout=S]` (RFC 2326 12.37). Real servers append `;timeout=60` (VLC) and
/// some clients echo it back, so the id is everything before the first `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Seconds of inactivity after which the server may drop the session.
    pub timeout: Option<u32>,
}

impl Session {
    /// The header's name.
    pub const NAME: &'static str = "Session";

    /// Parses a Session header value.
    pub fn parse(value: &str) -> Result<Session, HeaderError> {
        let mut parts = value.split(';');
        let id = parts.next().unwrap_or("").trim();
        if id.is_empty() || !id.bytes().all(is_session_id_char) {
            return Err(HeaderError::new(
                Self::NAME,
                value,
                HeaderFault::BadSessionId,
            ));
        }
        let mut timeout = None;
        for param in parts {
            let param = param.trim();
            if let Some((name, v)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("timeout") {
                    timeout = Some(v.trim().parse().map_err(|_| {
                        HeaderError::new(Self::NAME, value, HeaderFault::BadTimeout)
                    })?);
                }
            }
        }
        Ok(Session {
            id: id.to_string(),
            timeout,
        })
    }
}

/// RFC 2326 section 3.4: session ids are alphanumerics plus a few safe characters.
fn is_session_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$-_.+".contains(&b)
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if let Some(t) = self.timeout {
            write!(f, ";timeout={t}")?;
        }
        Ok(())
    }
}
