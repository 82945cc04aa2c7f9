//! RTSP authentication as RFC 2326 borrows it from HTTP (RFC 2617): Digest (MD5, with
//! `qop=auth` or without it, as ffmpeg, GStreamer and live555 speak it) and Basic.
//!
//! A Digest answer is bound to everything a replay could change: the method and URI of its
//! request (the hash covers the method; the `uri` directive must name the request's URI), and
//! a nonce that carries its issue time and a keyed hash binding it to one connection, so a
//! header captured on one connection is refused on any other. With `qop=auth`, the nonce count
//! must also grow from one request to the next on the connection.
//!
//! - this module: the `WWW-Authenticate` challenge, the Digest computation and the parameter
//!   lists both headers share;
//! - `credentials`: the `Authorization` header;
//! - `server`: [`Authenticator`], which issues challenges and checks credentials, and the
//!   per-connection [`NonceScope`];
//! - `limiter`: [`FailureLimiter`], which refuses an address for a while after repeated
//!   failures;
//! - `codec`: MD5 and Base64.

mod codec;
mod credentials;
mod limiter;
mod server;

pub use codec::{base64_decode, base64_encode, md5, md5_hex};
pub use credentials::{Credentials, DigestAnswer, QopAuth};
pub use limiter::FailureLimiter;
pub use server::{Authenticator, NonceScope, Refusal};

/// Splits `k=v, k="v, with comma"` parameter lists; a name given twice is an error (which of
/// two `username`s would count is exactly what an attacker wants to choose).
fn params(text: &str) -> Result<Vec<(String, String)>, AuthHeaderError> {
    let mut out: Vec<(String, String)> = Vec::new();
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
        if out.iter().any(|(k, _)| *k == key) {
            return Err(AuthHeaderError::RepeatedParam { name: key });
        }
        out.push((key, value));
    }
    Ok(out)
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
    /// A parameter given twice (RFC 2617 3.2.2 lists each once).
    #[error("the {name:?} parameter appears twice")]
    RepeatedParam { name: String },
    /// A `nc` that is not eight hex digits (RFC 2617 3.2.2: `nc-value = 8LHEX`).
    #[error("nonce count {value:?} is not 8 hex digits")]
    BadNonceCount { value: String },
    /// A `qop` other than `auth`, the only one offered.
    #[error("qop {qop:?} is not offered (only auth)")]
    UnsupportedQop { qop: String },
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
    /// `cnonce`: the client's nonce, required with `qop`.
    Cnonce,
    /// `nc`: how many requests the client has sent with this nonce, required with `qop`.
    NonceCount,
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
            DigestParam::Cnonce => "cnonce",
            DigestParam::NonceCount => "nc",
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
        /// Whether `qop="auth"` is offered: the client then counts its requests (`nc`).
        qop: bool,
    },
    Basic {
        realm: String,
    },
}

impl Challenge {
    /// Parses one `WWW-Authenticate` value.
    pub fn parse(value: &str) -> Result<Challenge, AuthHeaderError> {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let p = params(rest)?;
        match scheme.to_ascii_lowercase().as_str() {
            "digest" => Ok(Challenge::Digest {
                realm: param(&p, DigestParam::Realm)?,
                nonce: param(&p, DigestParam::Nonce)?,
                stale: p
                    .iter()
                    .any(|(n, v)| n == "stale" && v.eq_ignore_ascii_case("true")),
                // RFC 2617 3.2.1: `qop="auth,auth-int"` is a list of what the server takes.
                qop: p
                    .iter()
                    .any(|(n, v)| n == "qop" && v.split(',').any(|q| q.trim() == "auth")),
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
                qop,
            } => {
                let qop = if *qop { ", qop=\"auth\"" } else { "" };
                let stale = if *stale { ", stale=TRUE" } else { "" };
                format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5{qop}{stale}")
            }
            Challenge::Basic { realm } => format!("Basic realm=\"{realm}\""),
        }
    }

    /// The `Authorization` value answering this challenge for `method` on `uri`. `count` is
    /// the client's `(cnonce, nc)` for this request, used when the challenge offers `qop`:
    /// `nc` must grow by one with every request the client sends with this nonce.
    pub fn answer(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        count: (&str, u32),
    ) -> String {
        match self {
            Challenge::Digest {
                realm, nonce, qop, ..
            } => {
                let qop = qop.then(|| QopAuth {
                    cnonce: count.0.to_string(),
                    nc: count.1,
                });
                let response =
                    digest_response(user, realm, password, nonce, method, uri, qop.as_ref());
                let mut v = format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"");
                if let Some(q) = qop {
                    v.push_str(&format!(
                        ", qop=auth, cnonce=\"{}\", nc={:08x}",
                        q.cnonce, q.nc
                    ));
                }
                v
            }
            Challenge::Basic { .. } => format!(
                "Basic {}",
                base64_encode(format!("{user}:{password}").as_bytes())
            ),
        }
    }
}

/// RFC 2617 3.2.2.1: MD5(HA1:nonce:HA2) without `qop` (RFC 2069's form), and
/// MD5(HA1:nonce:nc:cnonce:auth:HA2) with `qop=auth`.
pub fn digest_response(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<&QopAuth>,
) -> String {
    let ha1 = md5_hex(format!("{user}:{realm}:{password}").as_bytes());
    let ha2 = md5_hex(format!("{method}:{uri}").as_bytes());
    match qop {
        None => md5_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes()),
        Some(q) => {
            md5_hex(format!("{ha1}:{nonce}:{:08x}:{}:auth:{ha2}", q.nc, q.cnonce).as_bytes())
        }
    }
}

#[cfg(test)]
mod tests;
