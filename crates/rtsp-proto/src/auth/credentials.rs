//! The `Authorization` header (RFC 2617 3.2.2 for Digest, 2 for Basic), as the client writes
//! it and the server reads it.

use super::{base64_decode, param, params, AuthHeaderError, DigestParam};

/// Credentials as an `Authorization` header carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Digest(DigestAnswer),
    Basic { username: String, password: String },
}

/// A Digest `Authorization`: the answer to one challenge for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAnswer {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The request URI the answer was computed for (RFC 2617 3.2.2.5: it must be the
    /// request's).
    pub uri: String,
    pub response: String,
    /// `algorithm`, when given; only MD5 is spoken.
    pub algorithm: Option<String>,
    /// Present when the client chose `qop=auth`.
    pub qop: Option<QopAuth>,
}

/// What `qop=auth` adds to a Digest answer (RFC 2617 3.2.2: both MUST be given with `qop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// The client's nonce: it keeps a server from choosing the whole hashed text.
    pub cnonce: String,
    /// The nonce count: how many requests the client has sent with this nonce, this one
    /// included. A server refuses a count it has seen, so a captured header is not replayed.
    pub nc: u32,
}

impl Credentials {
    /// Parses an `Authorization` value.
    pub fn parse(value: &str) -> Result<Credentials, AuthHeaderError> {
        let unknown = || AuthHeaderError::UnknownScheme {
            scheme: value.trim().split(' ').next().unwrap_or("").to_string(),
        };
        let (scheme, rest) = value.trim().split_once(' ').ok_or_else(unknown)?;
        match scheme.to_ascii_lowercase().as_str() {
            "digest" => DigestAnswer::parse(rest).map(Credentials::Digest),
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

impl DigestAnswer {
    /// Parses the parameters after `Digest `.
    fn parse(text: &str) -> Result<DigestAnswer, AuthHeaderError> {
        let p = params(text)?;
        let get = |name: &str| p.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let qop = match get("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(QopAuth {
                cnonce: param(&p, DigestParam::Cnonce)?,
                nc: nonce_count(&param(&p, DigestParam::NonceCount)?)?,
            }),
            // Only `auth` is offered; `auth-int` (or anything else) answers no challenge of ours.
            Some(q) => return Err(AuthHeaderError::UnsupportedQop { qop: q }),
        };
        Ok(DigestAnswer {
            username: param(&p, DigestParam::Username)?,
            realm: param(&p, DigestParam::Realm)?,
            nonce: param(&p, DigestParam::Nonce)?,
            uri: param(&p, DigestParam::Uri)?,
            response: param(&p, DigestParam::Response)?,
            algorithm: get("algorithm"),
            qop,
        })
    }
}

/// RFC 2617 3.2.2: `nc-value = 8LHEX`.
fn nonce_count(value: &str) -> Result<u32, AuthHeaderError> {
    let bad = || AuthHeaderError::BadNonceCount {
        value: value.to_string(),
    };
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(value, 16).map_err(|_| bad())
}
