//! RTSP authentication as RFC 2326 borrows it from HTTP (RFC 2617): Digest (MD5, no qop, which
//! is what ffmpeg, GStreamer and live555 speak) and Basic. Nonces carry their issue time and a
//! keyed hash of it, so the server keeps no state per client and can still expire them.
//!
//! - this module: the `WWW-Authenticate` challenge and `Authorization` credentials, as parsed
//!   and written by both sides, and the Digest response computation;
//! - `server`: [`Authenticator`], which issues challenges and checks credentials;
//! - `codec`: MD5 and Base64.

mod codec;
mod server;

pub use codec::{base64_decode, base64_encode, md5, md5_hex};
pub use server::{Authenticator, Refusal};

/// Splits `k=v, k="v, with comma"` parameter lists.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            value = q[..end].to_string();
            rest = q.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

/// Why a `WWW-Authenticate` or `Authorization` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthHeaderError {
    /// A scheme other than Digest and Basic (or no scheme at all).
    #[error("unknown authentication scheme {scheme:?}")]
    UnknownScheme { scheme: String },
    /// A Digest value without one of the parameters RFC 2617 requires.
    #[error("Digest value without its {param} parameter")]
    MissingParam { param: DigestParam },
    /// Basic credentials that are not base64 of UTF-8 `user:password`.
    #[error("Basic credentials are not base64 of user:password")]
    BadBasic,
}

/// A Digest parameter (RFC 2617 3.2), for [`AuthHeaderError::MissingParam`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestParam {
    /// `realm`: the protection space (in a challenge and its answer).
    Realm,
    /// `nonce`: the server's one-time value.
    Nonce,
    /// `username`: who answers.
    Username,
    /// `uri`: the request URI the answer is bound to.
    Uri,
    /// `response`: the MD5 proof of the password.
    Response,
}

impl DigestParam {
    /// The parameter's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestParam::Realm => "realm",
            DigestParam::Nonce => "nonce",
            DigestParam::Username => "username",
            DigestParam::Uri => "uri",
            DigestParam::Response => "response",
        }
    }
}

impl std::fmt::Display for DigestParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Looks up a Digest parameter in a parsed list, or says which is missing.
fn param(p: &[(String, String)], name: DigestParam) -> Result<String, AuthHeaderError> {
    p.iter()
        .find(|(n, _)| n == name.as_str())
        .map(|(_, v)| v.clone())
        .ok_or(AuthHeaderError::MissingParam { param: name })
}

/// A challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Digest {
        realm: String,
        nonce: String,
        stale: bool,
    },
    Basic {
        realm: String,
    },
}

impl Challenge {
    /// Parses one `WWW-Authenticate` value.
    pub fn parse(value: &str) -> Result<Challenge, AuthHeaderError> {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let p = params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "digest" => Ok(Challenge::Digest {
                realm: param(&p, DigestParam::Realm)?,
                nonce: param(&p, DigestParam::Nonce)?,
                stale: p
                    .iter()
                    .any(|(n, v)| n == "stale" && v.eq_ignore_ascii_case("true")),
            }),
            "basic" => Ok(Challenge::Basic {
                realm: param(&p, DigestParam::Realm).unwrap_or_default(),
            }),
            _ => Err(AuthHeaderError::UnknownScheme {
                scheme: scheme.to_string(),
            }),
        }
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        match self {
            Challenge::Digest {
                realm,
                nonce,
                stale,
            } => {
                let stale = if *stale { ", stale=TRUE" } else { "" };
                format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5{stale}")
            }
            Challenge::Basic { realm } => format!("Basic realm=\"{realm}\""),
        }
    }

    /// The `Authorization` value answering this challenge for `method` on `uri`.
    pub fn answer(&self, user: &str, password: &str, method: &str, uri: &str) -> String {
        match self {
            Challenge::Digest { realm, nonce, .. } => {
                let response = digest_response(user, realm, password, nonce, method, uri);
                format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"")
            }
            Challenge::Basic { .. } => format!(
                "Basic {}",
                base64_encode(format!("{user}:{password}").as_bytes())
            ),
        }
    }
}

/// RFC 2617 3.2.2.1 without qop: MD5(HA1:nonce:HA2).
pub fn digest_response(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha1 = md5_hex(format!("{user}:{realm}:{password}").as_bytes());
    let ha2 = md5_hex(format!("{method}:{uri}").as_bytes());
    md5_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes())
}

/// Credentials as an `Authorization` header carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Digest {
        username: String,
        realm: String,
        nonce: String,
        uri: String,
        response: String,
    },
    Basic {
        username: String,
        password: String,
    },
}

impl Credentials {
    /// Parses an `Authorization` value.
    pub fn parse(value: &str) -> Result<Credentials, AuthHeaderError> {
        let unknown = || AuthHeaderError::UnknownScheme {
            scheme: value.trim().split(' ').next().unwrap_or("").to_string(),
        };
        let (scheme, rest) = value.trim().split_once(' ').ok_or_else(unknown)?;
        match scheme.to_ascii_lowercase().as_str() {
            "digest" => {
                let p = params(rest);
                Ok(Credentials::Digest {
                    username: param(&p, DigestParam::Username)?,
                    realm: param(&p, DigestParam::Realm)?,
                    nonce: param(&p, DigestParam::Nonce)?,
                    uri: param(&p, DigestParam::Uri)?,
                    response: param(&p, DigestParam::Response)?,
                })
            }
            "basic" => {
                let decoded = base64_decode(rest).and_then(|b| String::from_utf8(b).ok());
                let (u, p) = decoded
                    .as_deref()
                    .and_then(|d| d.split_once(':'))
                    .ok_or(AuthHeaderError::BadBasic)?;
                Ok(Credentials::Basic {
                    username: u.into(),
                    password: p.into(),
                })
            }
            _ => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests;
