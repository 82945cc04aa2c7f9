//! The server's side of authentication: users, a realm, nonces that expire and belong to one
//! connection, and the verdict on an `Authorization` header for one request.

use std::collections::VecDeque;

use super::{digest_response, md5_hex, AuthHeaderError, Challenge, Credentials, DigestAnswer};

/// Why credentials were refused. Each is answered 401 with fresh challenges, but
/// [`Refusal::Malformed`], which is 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// None given, or not ours (another scheme, realm or algorithm): challenge again.
    #[error("no credentials this server accepts")]
    Missing,
    /// An `Authorization` header that breaks RFC 2617's grammar.
    #[error("unreadable credentials: {0}")]
    Malformed(AuthHeaderError),
    /// An unknown user or a wrong password, or an answer computed for another method.
    #[error("wrong user name or password")]
    Wrong,
    /// A Digest answer computed for another URI than the request's (RFC 2617 3.2.2.5).
    #[error("the answer is for {answered:?}, not for the request's URI")]
    OtherUri { answered: String },
    /// A `qop=auth` answer whose nonce count is not above the last one seen with its nonce:
    /// a replay.
    #[error("nonce count {nc:08x} already used")]
    Replayed { nc: u32 },
    /// The right password with a nonce that has expired or was not issued on this connection:
    /// challenge with `stale=TRUE` so the client answers the new nonce without asking anyone.
    #[error("the nonce has expired or belongs to another connection")]
    Stale,
}

impl Refusal {
    /// Whether this refusal says someone tried a password, a replay or another request's
    /// answer: what a [`super::FailureLimiter`] counts. A first request without credentials
    /// and a stale nonce are what honest clients send.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Refusal::Missing | Refusal::Stale)
    }
}

/// How many nonces' counts a connection remembers: a client answers the latest challenge, so
/// a few cover every honest sequence.
const KEPT_NONCES: usize = 8;

/// One connection's side of Digest: the token its nonces are bound to, and the highest nonce
/// count seen with each of them.
#[derive(Debug, Clone)]
pub struct NonceScope {
    token: u64,
    counts: VecDeque<(String, u32)>,
}

impl NonceScope {
    /// `token`: random per connection, from the operating system's random source.
    pub fn new(token: u64) -> NonceScope {
        NonceScope {
            token,
            counts: VecDeque::new(),
        }
    }

    /// Records `nc` for `nonce`, or refuses it when it is not above the last one.
    fn count(&mut self, nonce: &str, nc: u32) -> Result<(), Refusal> {
        match self.counts.iter_mut().find(|(n, _)| n == nonce) {
            Some((_, last)) if nc <= *last => return Err(Refusal::Replayed { nc }),
            Some((_, last)) => *last = nc,
            None => {
                if self.counts.len() == KEPT_NONCES {
                    self.counts.pop_front();
                }
                self.counts.push_back((nonce.to_string(), nc));
            }
        }
        Ok(())
    }
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

    /// A nonce for `now` (Unix seconds) on the connection of `scope`: the time, and a keyed
    /// hash of it and the connection's token.
    pub fn nonce(&self, now: u64, scope: &NonceScope) -> String {
        format!("{now:x}-{}", self.mac(now, scope.token))
    }

    fn mac(&self, issued: u64, token: u64) -> String {
        let mac = md5_hex(format!("{:016x}:{token:016x}:{issued}", self.secret).as_bytes());
        mac[..16].to_string()
    }

    /// How old `nonce` is, if this server issued it on this connection.
    fn nonce_age(&self, nonce: &str, scope: &NonceScope, now: u64) -> Option<u64> {
        let (t, mac) = nonce.split_once('-')?;
        let issued = u64::from_str_radix(t, 16).ok()?;
        (self.mac(issued, scope.token) == mac && issued <= now).then(|| now - issued)
    }

    /// The challenges to send, Digest first (the stronger one is what clients should pick).
    pub fn challenges(&self, now: u64, scope: &NonceScope, stale: bool) -> Vec<Challenge> {
        let mut c = vec![Challenge::Digest {
            realm: self.realm.clone(),
            nonce: self.nonce(now, scope),
            stale,
            qop: true,
        }];
        if self.allow_basic {
            c.push(Challenge::Basic {
                realm: self.realm.clone(),
            });
        }
        c
    }

    /// Checks an `Authorization` header for a request of `method` on `uri`, on the
    /// connection of `scope`, at `now` (Unix seconds). Gives the user's name.
    pub fn check(
        &self,
        authorization: Option<&str>,
        method: &str,
        uri: &str,
        scope: &mut NonceScope,
        now: u64,
    ) -> Result<String, Refusal> {
        let creds = match authorization.map(Credentials::parse) {
            None | Some(Err(AuthHeaderError::UnknownScheme { .. })) => {
                return Err(Refusal::Missing)
            }
            Some(Err(e)) => return Err(Refusal::Malformed(e)),
            Some(Ok(c)) => c,
        };
        match creds {
            Credentials::Basic { .. } if !self.allow_basic => Err(Refusal::Missing),
            Credentials::Basic { username, password } => {
                let ok = self
                    .users
                    .iter()
                    .any(|(u, p)| *u == username && *p == password);
                ok.then_some(username).ok_or(Refusal::Wrong)
            }
            Credentials::Digest(answer) => self.check_digest(answer, method, uri, scope, now),
        }
    }

    fn check_digest(
        &self,
        a: DigestAnswer,
        method: &str,
        uri: &str,
        scope: &mut NonceScope,
        now: u64,
    ) -> Result<String, Refusal> {
        let md5 = a
            .algorithm
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case("MD5"));
        if a.realm != self.realm || !md5 {
            return Err(Refusal::Missing);
        }
        if !same_request_uri(&a.uri, uri) {
            return Err(Refusal::OtherUri { answered: a.uri });
        }
        let (_, password) = self
            .users
            .iter()
            .find(|(u, _)| *u == a.username)
            .ok_or(Refusal::Wrong)?;
        let expect = digest_response(
            &a.username,
            &a.realm,
            password,
            &a.nonce,
            method,
            &a.uri,
            a.qop.as_ref(),
        );
        if expect != a.response.to_ascii_lowercase() {
            return Err(Refusal::Wrong);
        }
        match self.nonce_age(&a.nonce, scope, now) {
            Some(age) if age <= self.nonce_lifetime => {}
            _ => return Err(Refusal::Stale),
        }
        if let Some(q) = &a.qop {
            scope.count(&a.nonce, q.nc)?;
        }
        Ok(a.username)
    }
}

/// RFC 2617 3.2.2.5: the `uri` directive names the request's URI. A client may write one as an
/// absolute URI and the other as its path (RFC 2326 allows both forms on the request line);
/// two absolute URIs must be equal.
fn same_request_uri(answered: &str, requested: &str) -> bool {
    fn path(uri: &str) -> Option<&str> {
        let rest = uri
            .strip_prefix("rtsp://")
            .or_else(|| uri.strip_prefix("rtsps://"))?;
        Some(rest.find('/').map_or("/", |i| &rest[i..]))
    }
    match (path(answered), path(requested)) {
        (None, Some(p)) => answered == p,
        (Some(p), None) => requested == p,
        _ => answered == requested,
    }
}
