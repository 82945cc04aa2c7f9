//! RTSP authentication as RFC 2326 borrows it from HTTP (RFC 2617): Digest (MD5, no qop, which
//! is what ffmpeg, GStreamer and live555 speak) and Basic. Nonces carry their issue time and a
//! keyed hash of it, so the server keeps no state per client and can still expire them.

use std::fmt::Write as _;

/// MD5 (RFC 1321): Digest authentication's hash. Not for anything else.
pub fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let m: Vec<u32> = chunk
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Lower-case hex of MD5, as Digest writes hashes.
pub fn md5_hex(data: &[u8]) -> String {
    md5(data)
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 (RFC 4648) for Basic credentials.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes Base64; `None` for anything malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn md5_test_vectors() {
        // RFC 1321 A.5.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(b"message digest"),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
        assert_eq!(
            md5_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn server_and_client_agree() {
        let a = Authenticator::new("mjpeg-rtsp", vec![("alice".into(), "s3cret".into())], 42);
        let [digest, basic] = <[Challenge; 2]>::try_from(a.challenges(1000, false)).unwrap();
        let parsed = Challenge::parse(&digest.to_header()).unwrap();
        assert_eq!(parsed, digest);
        let answer = parsed.answer("alice", "s3cret", "DESCRIBE", "rtsp://h/v.mjpeg");
        assert_eq!(a.check(Some(&answer), "DESCRIBE", 1010), Ok("alice".into()));
        assert_eq!(
            a.check(Some(&answer), "PLAY", 1010),
            Err(Refusal::Wrong),
            "response binds the method"
        );
        assert_eq!(
            a.check(Some(&answer), "DESCRIBE", 1400),
            Err(Refusal::Stale)
        );
        let wrong = parsed.answer("alice", "guess", "DESCRIBE", "rtsp://h/v.mjpeg");
        assert_eq!(a.check(Some(&wrong), "DESCRIBE", 1010), Err(Refusal::Wrong));
        let forged = answer.replace(&a.nonce(1000), "3e8-0000000000000000");
        assert_ne!(a.check(Some(&forged), "DESCRIBE", 1010), Ok("alice".into()));
        assert_eq!(
            a.check(
                Some(
                    &Challenge::parse(&basic.to_header())
                        .unwrap()
                        .answer("alice", "s3cret", "X", "*")
                ),
                "X",
                0
            ),
            Ok("alice".into())
        );
        assert_eq!(a.check(None, "X", 0), Err(Refusal::Missing));
        assert_eq!(a.check(Some("Bearer x"), "X", 0), Err(Refusal::Missing));
    }

    #[test]
    fn digest_only_refuses_basic() {
        let mut a = Authenticator::new("r", vec![("u".into(), "p".into())], 7);
        a.allow_basic = false;
        assert_eq!(a.challenges(0, false).len(), 1);
        let basic = Challenge::Basic { realm: "r".into() }.answer("u", "p", "PLAY", "*");
        assert_eq!(a.check(Some(&basic), "PLAY", 0), Err(Refusal::Missing));
    }

    #[test]
    fn ffmpeg_style_authorization_parses() {
        let c = Credentials::parse(r#"Digest username="u", realm="r", nonce="n", uri="rtsp://h:1/v.mjpeg", response="abc""#).unwrap();
        assert!(matches!(c, Credentials::Digest { ref uri, .. } if uri == "rtsp://h:1/v.mjpeg"));
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
    }

    #[test]
    fn unreadable_headers_say_what_is_missing() {
        assert_eq!(
            Credentials::parse(r#"Digest username="u", realm="r", nonce="n", uri="*""#),
            Err(AuthHeaderError::MissingParam {
                param: DigestParam::Response
            })
        );
        assert_eq!(
            Challenge::parse("Bearer realm=x"),
            Err(AuthHeaderError::UnknownScheme {
                scheme: "Bearer".into()
            })
        );
        assert_eq!(
            Credentials::parse("Basic !!!"),
            Err(AuthHeaderError::BadBasic)
        );
    }

    proptest! {
        #[test]
        fn base64_round_trip(data in prop::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(base64_decode(&base64_encode(&data)), Some(data));
        }

        #[test]
        fn arbitrary_headers_never_panic(v in "\\PC{0,120}") {
            let _ = Credentials::parse(&v);
            let _ = Challenge::parse(&v);
            let a = Authenticator::new("r", vec![("u".into(), "p".into())], 1);
            let _ = a.check(Some(&v), "PLAY", 5);
        }
    }
}
