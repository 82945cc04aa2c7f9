//! The server's side of authentication: users, a realm, stateless expiring nonces, and the
//! verdict on an `Authorization` header.

use super::{digest_response, md5_hex, Challenge, Credentials};

/// Why credentials were refused; the server answers each with 401 and fresh challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// None given, or not ours: challenge again.
    #[error("no credentials this server accepts")]
    Missing,
    /// An unknown user or a wrong password (or a forged nonce).
    #[error("wrong user name or password")]
    Wrong,
    /// Right password but an expired nonce: challenge with `stale=TRUE` so the client retries.
    #[error("the nonce has expired")]
    Stale,
}

/// The server's side: users, a realm, and a secret that makes nonces unforgeable.
#[derive(Debug, Clone)]
pub struct Authenticator {
    pub realm: String,
    users: Vec<(String, String)>,
    secret: u64,
    /// Seconds a nonce stays valid.
    pub nonce_lifetime: u64,
    /// Whether Basic (the password in clear, base64) is offered and accepted besides Digest.
    pub allow_basic: bool,
}

impl Authenticator {
    /// `users` as (name, password); `secret` from the operating system's random source.
    pub fn new(realm: &str, users: Vec<(String, String)>, secret: u64) -> Self {
        Authenticator {
            realm: realm.to_string(),
            users,
            secret,
            nonce_lifetime: 300,
            allow_basic: true,
        }
    }

    /// A nonce for `now` (Unix seconds): the time, and a keyed hash of it.
    pub fn nonce(&self, now: u64) -> String {
        let mac = md5_hex(format!("{:016x}:{now}", self.secret).as_bytes());
        format!("{now:x}-{}", &mac[..16])
    }

    fn nonce_age(&self, nonce: &str, now: u64) -> Option<u64> {
        let (t, mac) = nonce.split_once('-')?;
        let issued = u64::from_str_radix(t, 16).ok()?;
        let expect = self.nonce(issued);
        (expect.split_once('-')?.1 == mac && issued <= now).then(|| now - issued)
    }

    /// The challenges to send, Digest first (the stronger one is what clients should pick).
    pub fn challenges(&self, now: u64, stale: bool) -> Vec<Challenge> {
        let mut c = vec![Challenge::Digest {
            realm: self.realm.clone(),
            nonce: self.nonce(now),
            stale,
        }];
        if self.allow_basic {
            c.push(Challenge::Basic {
                realm: self.realm.clone(),
            });
        }
        c
    }

    /// Checks an `Authorization` header for `method`.
    pub fn check(
        &self,
        authorization: Option<&str>,
        method: &str,
        now: u64,
    ) -> Result<String, Refusal> {
        let creds = authorization
            .and_then(|v| Credentials::parse(v).ok())
            .ok_or(Refusal::Missing)?;
        match creds {
            Credentials::Basic { .. } if !self.allow_basic => Err(Refusal::Missing),
            Credentials::Basic { username, password } => {
                let ok = self
                    .users
                    .iter()
                    .any(|(u, p)| *u == username && *p == password);
                ok.then_some(username).ok_or(Refusal::Wrong)
            }
            Credentials::Digest {
                username,
                realm,
                nonce,
                uri,
                response,
            } => {
                if realm != self.realm {
                    return Err(Refusal::Missing);
                }
                let (_, password) = self
                    .users
                    .iter()
                    .find(|(u, _)| *u == username)
                    .ok_or(Refusal::Wrong)?;
                if digest_response(&username, &realm, password, &nonce, method, &uri)
                    != response.to_ascii_lowercase()
                {
                    return Err(Refusal::Wrong);
                }
                match self.nonce_age(&nonce, now) {
                    Some(age) if age <= self.nonce_lifetime => Ok(username),
                    Some(_) => Err(Refusal::Stale),
                    None => Err(Refusal::Wrong),
                }
            }
        }
    }
}
