//! RTSP URLs (RFC 2326 3.2): `rtsp://[user:pass@]host[:port][/path]`, percent-decoding, and
//! a media's control URL resolved against the Content-Base (RFC 2326 C.1.1).
//!
//! Only what RTSP peers send is handled, not all of RFC 3986: the `rtsp` scheme (any case),
//! user info, a host name, IPv4 address or bracketed IPv6 literal, an optional port, and the
//! rest as the path. Parsing borrows from the text; nothing is resolved to an address here
//! (that needs `std::net`, which is the caller's).

/// The port an RTSP URL without one means (RFC 2326 3.2).
pub const DEFAULT_PORT: u16 = 554;

/// Why text is not an RTSP URL or does not percent-decode; each variant carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The scheme is not `rtsp://`.
    #[error("{url:?} is not an rtsp:// URL")]
    NotRtsp { url: String },
    /// Nothing between `rtsp://` (and any user info) and the path.
    #[error("{url:?} has no host")]
    NoHost { url: String },
    /// A `[` with no `]`, or something other than `:port` after the `]`.
    #[error("{url:?} has a malformed IPv6 literal")]
    BadIpv6 { url: String },
    /// The port is not a number from 0 to 65535.
    #[error("port {port:?} of {url:?} is not a number from 0 to 65535")]
    BadPort { url: String, port: String },
    /// A `%` not followed by two hex digits.
    #[error("{text:?}: no two hex digits after the % at byte {at}")]
    BadEscape { text: String, at: usize },
    /// The decoded bytes are not UTF-8 text.
    #[error("{text:?} percent-decodes to bytes that are not UTF-8")]
    NotUtf8 { text: String },
}

/// An `rtsp://` URL taken apart, borrowing from the text. Fields are as written (still
/// percent-encoded); [`RtspUrl::credentials`] decodes the user info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtspUrl<'a> {
    /// `user[:password]` before the `@`, if any.
    pub userinfo: Option<&'a str>,
    /// The host; an IPv6 literal without its brackets.
    pub host: &'a str,
    /// The port if one is written (an empty one counts as none, as RFC 3986 3.2.3 says).
    pub port: Option<u16>,
    /// Everything after the authority: empty, or starting with `/`, `?` or `#`.
    pub path: &'a str,
}

impl<'a> RtspUrl<'a> {
    /// Splits an absolute `rtsp://` URL.
    pub fn parse(url: &'a str) -> Result<RtspUrl<'a>, UrlError> {
        let rest = strip_scheme(url).ok_or_else(|| UrlError::NotRtsp {
            url: url.to_string(),
        })?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(url, hostport)?;
        if host.is_empty() {
            return Err(UrlError::NoHost {
                url: url.to_string(),
            });
        }
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| UrlError::BadPort {
                url: url.to_string(),
                port: p.to_string(),
            })?),
        };
        Ok(RtspUrl {
            userinfo,
            host,
            port,
            path,
        })
    }

    /// The port to connect to: the written one, else 554.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// `host:port` as socket address resolvers take it, IPv6 literals in brackets.
    pub fn host_port(&self) -> String {
        let port = self.port_or_default();
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }

    /// The user and password, percent-decoded; `None` without user info. A user with no `:`
    /// has an empty password.
    pub fn credentials(&self) -> Result<Option<(String, String)>, UrlError> {
        let Some(info) = self.userinfo else {
            return Ok(None);
        };
        let (user, pass) = info.split_once(':').unwrap_or((info, ""));
        Ok(Some((percent_decode(user)?, percent_decode(pass)?)))
    }

    /// The URL with no user info, as requests must carry it (servers answer 400 to user info
    /// or write it to their logs).
    pub fn without_userinfo(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.to_string()
        };
        match self.port {
            Some(p) => format!("rtsp://{host}:{p}{}", self.path),
            None => format!("rtsp://{host}{}", self.path),
        }
    }
}

/// What follows `rtsp://` (any case), or `None` for another scheme.
fn strip_scheme(url: &str) -> Option<&str> {
    let scheme = url.get(..7)?;
    scheme.eq_ignore_ascii_case("rtsp://").then(|| &url[7..])
}

/// `host[:port]` or `[v6]`/`[v6]:port` into host and the port text.
fn split_host_port<'a>(
    url: &str,
    hostport: &'a str,
) -> Result<(&'a str, Option<&'a str>), UrlError> {
    if let Some(v6) = hostport.strip_prefix('[') {
        let bad = || UrlError::BadIpv6 {
            url: url.to_string(),
        };
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        return match after {
            "" => Ok((host, None)),
            _ => Ok((host, Some(after.strip_prefix(':').ok_or_else(bad)?))),
        };
    }
    Ok(match hostport.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

/// Decodes `%XX` escapes (RFC 3986 2.1). Fails on a `%` without two hex digits after it and
/// on a result that is not UTF-8, so a caller never works on a half-decoded name.
pub fn percent_decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => {
                return Err(UrlError::BadEscape {
                    text: text.to_string(),
                    at: i,
                })
            }
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| UrlError::NotUtf8 {
        text: text.to_string(),
    })
}

/// Escapes a file name for a URL path (RFC 3986 2.1): everything but unreserved characters
/// and `/` becomes `%XX`, so names with spaces, `?`, `#` or `%` survive the round trip through
/// [`percent_decode`].
pub fn percent_encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The path a request URI names, without leading slashes: after the authority of an absolute
/// `rtsp://` URL (so `""` when it has none), or a bare name as the lab's client sends it.
pub fn request_path(uri: &str) -> &str {
    let path = match strip_scheme(uri) {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => uri,
    };
    path.trim_start_matches('/')
}

/// Resolves a media's `a=control` against the base URL (Content-Base, else Content-Location,
/// else the DESCRIBE URL) as RTSP peers do it (RFC 2326 C.1.1): an absolute control stands
/// alone, `*` (or none) means the base itself, `/path` replaces the base's path, and any other
/// relative control is appended below the base. Appending, not RFC 3986 5.2's merge, because
/// servers send bases without the trailing slash (VLC: `rtsp://h/test` + `trackID=0` means
/// `rtsp://h/test/trackID=0`) and every client reads them so.
pub fn resolve_control(base: &str, control: &str) -> String {
    let control = control.trim();
    if has_scheme(control) {
        control.to_string()
    } else if control.is_empty() || control == "*" {
        base.to_string()
    } else if let (Some(path), Ok(url)) = (control.strip_prefix('/'), RtspUrl::parse(base)) {
        // The path is the tail of the base: what is before it is the origin, as written.
        let origin = &base[..base.len() - url.path.len()];
        format!("{origin}/{path}")
    } else if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

/// Whether `text` starts with `scheme://` (RFC 3986 3.1: a letter, then letters, digits, `+`,
/// `-` or `.`), which makes it an absolute URL.
fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests;
