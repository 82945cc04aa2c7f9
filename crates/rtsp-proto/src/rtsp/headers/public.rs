//! `Public` (RFC 2326 12.28): the methods a server implements, as it answers OPTIONS.

use std::fmt;

use crate::rtsp::Method;

/// `Public: OPTIONS, DESCRIBE, ...`: the methods a server implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public(pub Vec<Method>);

impl Public {
    /// The header's name.
    pub const NAME: &'static str = "Public";

    /// Parses a comma-separated method list.
    pub fn parse(value: &str) -> Public {
        Public(
            value
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(Method::from_token)
                .collect(),
        )
    }

    /// Whether `method` is listed.
    pub fn contains(&self, method: &Method) -> bool {
        self.0.contains(method)
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}
