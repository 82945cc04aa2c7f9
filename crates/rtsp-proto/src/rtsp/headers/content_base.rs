//! `Content-Base` (RFC 2326 12.11): the URL relative `a=control` attributes resolve against.

use std::fmt;

use super::{HeaderError, HeaderFault};

/// `Content-Base: rtsp://host/path/`. gst-rtsp-server's ends in `/`, VLC's and ours may not;
/// [`crate::url::resolve_control`] handles both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentBase(pub String);

impl ContentBase {
    /// The header's name.
    pub const NAME: &'static str = "Content-Base";

    /// Parses a Content-Base value: an absolute URL (`scheme://...`) with no white space or
    /// control characters in it.
    pub fn parse(value: &str) -> Result<ContentBase, HeaderError> {
        let url = value.trim();
        let absolute = url.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !rest.is_empty()
        });
        if !absolute || !url.bytes().all(|b| b > 0x20 && b != 0x7f) {
            return Err(HeaderError::new(
                Self::NAME,
                value,
                HeaderFault::NotAbsoluteUrl,
            ));
        }
        Ok(ContentBase(url.to_string()))
    }
}

impl fmt::Display for ContentBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
