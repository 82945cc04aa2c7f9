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

const URI: &str = "rtsp://h/v.mjpeg";

fn alice() -> (Authenticator, NonceScope) {
    let a = Authenticator::new("mjpeg-rtsp", vec![("alice".into(), "s3cret".into())], 42);
    (a, NonceScope::new(7))
}

/// A Digest challenge as the server sends it, without `qop` (how GStreamer and live555 answer).
fn rfc2069(a: &Authenticator, scope: &NonceScope, now: u64) -> Challenge {
    match a.challenges(now, scope, false).remove(0) {
        Challenge::Digest {
            realm,
            nonce,
            stale,
            ..
        } => Challenge::Digest {
            realm,
            nonce,
            stale,
            qop: false,
        },
        c => panic!("{c:?}"),
    }
}

#[test]
fn server_and_client_agree() {
    let (a, mut scope) = alice();
    let [digest, basic] = <[Challenge; 2]>::try_from(a.challenges(1000, &scope, false)).unwrap();
    let parsed = Challenge::parse(&digest.to_header()).unwrap();
    assert_eq!(parsed, digest);
    assert!(matches!(parsed, Challenge::Digest { qop: true, .. }));
    let answer = parsed.answer("alice", "s3cret", "DESCRIBE", URI, ("c0ffee", 1));
    assert!(answer.contains("qop=auth") && answer.contains("nc=00000001"));
    let check =
        |scope: &mut NonceScope, v: &str, m: &str, now| a.check(Some(v), m, URI, scope, now);
    assert_eq!(
        check(&mut scope, &answer, "DESCRIBE", 1010),
        Ok("alice".into())
    );
    let answer2 = parsed.answer("alice", "s3cret", "PLAY", URI, ("c0ffee", 2));
    assert_eq!(
        check(&mut scope, &answer2, "DESCRIBE", 1010),
        Err(Refusal::Wrong),
        "response binds the method"
    );
    let later = parsed.answer("alice", "s3cret", "DESCRIBE", URI, ("c0ffee", 3));
    assert_eq!(
        check(&mut scope, &later, "DESCRIBE", 1400),
        Err(Refusal::Stale)
    );
    let wrong = parsed.answer("alice", "guess", "DESCRIBE", URI, ("c0ffee", 4));
    assert_eq!(
        check(&mut scope, &wrong, "DESCRIBE", 1010),
        Err(Refusal::Wrong)
    );
    let forged = answer.replace(&a.nonce(1000, &scope), "3e8-0000000000000000");
    assert_ne!(
        check(&mut scope, &forged, "DESCRIBE", 1010),
        Ok("alice".into())
    );
    let basic =
        Challenge::parse(&basic.to_header())
            .unwrap()
            .answer("alice", "s3cret", "X", "*", ("", 0));
    assert_eq!(check(&mut scope, &basic, "X", 0), Ok("alice".into()));
    assert_eq!(
        a.check(None, "X", URI, &mut scope, 0),
        Err(Refusal::Missing)
    );
    assert_eq!(check(&mut scope, "Bearer x", "X", 0), Err(Refusal::Missing));
}

#[test]
fn a_counted_answer_is_refused_when_replayed() {
    let (a, mut scope) = alice();
    let c = a.challenges(1000, &scope, false).remove(0);
    let first = c.answer("alice", "s3cret", "PLAY", URI, ("abc", 1));
    let check = |scope: &mut NonceScope, v: &str| a.check(Some(v), "PLAY", URI, scope, 1001);
    assert_eq!(check(&mut scope, &first), Ok("alice".into()));
    assert_eq!(check(&mut scope, &first), Err(Refusal::Replayed { nc: 1 }));
    let third = c.answer("alice", "s3cret", "PLAY", URI, ("abc", 3));
    assert_eq!(
        check(&mut scope, &third),
        Ok("alice".into()),
        "counts may skip"
    );
    let second = c.answer("alice", "s3cret", "PLAY", URI, ("abc", 2));
    assert_eq!(check(&mut scope, &second), Err(Refusal::Replayed { nc: 2 }));
}

#[test]
fn a_nonce_belongs_to_its_connection() {
    let (a, mut scope) = alice();
    let c = rfc2069(&a, &scope, 1000);
    let answer = c.answer("alice", "s3cret", "DESCRIBE", URI, ("", 0));
    assert_eq!(
        a.check(Some(&answer), "DESCRIBE", URI, &mut scope, 1001),
        Ok("alice".into())
    );
    // Without qop there is no count: a client repeats the same header on its connection.
    assert_eq!(
        a.check(Some(&answer), "DESCRIBE", URI, &mut scope, 1002),
        Ok("alice".into())
    );
    let mut other = NonceScope::new(8);
    assert_eq!(
        a.check(Some(&answer), "DESCRIBE", URI, &mut other, 1001),
        Err(Refusal::Stale),
        "captured on one connection, replayed on another"
    );
}

#[test]
fn an_answer_is_bound_to_the_request_uri() {
    let (a, mut scope) = alice();
    let c = rfc2069(&a, &scope, 1000);
    let answer = c.answer("alice", "s3cret", "DESCRIBE", URI, ("", 0));
    assert_eq!(
        a.check(
            Some(&answer),
            "DESCRIBE",
            "rtsp://h/other.mjpeg",
            &mut scope,
            1001
        ),
        Err(Refusal::OtherUri {
            answered: URI.into()
        })
    );
    let by_path = c.answer("alice", "s3cret", "DESCRIBE", "/v.mjpeg", ("", 0));
    assert_eq!(
        a.check(Some(&by_path), "DESCRIBE", URI, &mut scope, 1001),
        Ok("alice".into()),
        "RFC 2326 allows a path where the request line has the absolute URI"
    );
}

#[test]
fn qop_needs_its_cnonce_and_count_and_directives_appear_once() {
    let (a, mut scope) = alice();
    let nonce = a.nonce(1000, &scope);
    let base = format!(
        r#"Digest username="alice", realm="mjpeg-rtsp", nonce="{nonce}", uri="{URI}", response="00""#
    );
    for (extra, error) in [
        (
            ", qop=auth, nc=00000001",
            AuthHeaderError::MissingParam {
                param: DigestParam::Cnonce,
            },
        ),
        (
            ", qop=auth, cnonce=\"x\"",
            AuthHeaderError::MissingParam {
                param: DigestParam::NonceCount,
            },
        ),
        (
            ", qop=auth, cnonce=\"x\", nc=1",
            AuthHeaderError::BadNonceCount { value: "1".into() },
        ),
        (
            ", qop=auth-int, cnonce=\"x\", nc=00000001",
            AuthHeaderError::UnsupportedQop {
                qop: "auth-int".into(),
            },
        ),
        (
            r#", username="mallory""#,
            AuthHeaderError::RepeatedParam {
                name: "username".into(),
            },
        ),
        (
            r#", uri="rtsp://h/other""#,
            AuthHeaderError::RepeatedParam { name: "uri".into() },
        ),
    ] {
        let v = format!("{base}{extra}");
        assert_eq!(
            a.check(Some(&v), "DESCRIBE", URI, &mut scope, 1001),
            Err(Refusal::Malformed(error.clone())),
            "{v}"
        );
        assert_eq!(Credentials::parse(&v), Err(error));
    }
}

#[test]
fn the_limiter_blocks_an_address_for_a_while_and_only_that_one() {
    let t0 = std::time::Instant::now();
    let s = std::time::Duration::from_secs;
    let mut l = FailureLimiter::new();
    for i in 0..19 {
        assert_eq!(l.failed(&"mallory", t0 + s(i)), None);
        assert_eq!(l.blocked(&"mallory", t0 + s(i)), None);
    }
    assert_eq!(l.failed(&"mallory", t0 + s(19)), Some(s(60)));
    assert_eq!(l.blocked(&"mallory", t0 + s(20)), Some(s(59)));
    assert_eq!(l.blocked(&"alice", t0 + s(20)), None);
    assert_eq!(
        l.failed(&"mallory", t0 + s(30)),
        None,
        "a block starts once"
    );
    assert_eq!(
        l.blocked(&"mallory", t0 + s(79)),
        None,
        "and ends by itself"
    );
    assert_eq!(l.failed(&"mallory", t0 + s(80)), None, "a fresh count");
    // Failures spread wider than the window never block.
    let mut l = FailureLimiter::new();
    for i in 0..100 {
        assert_eq!(l.failed(&"slow", t0 + s(4 * i)), None);
    }
    l.succeeded(&"slow");
    assert!(l.is_empty());
}

#[test]
fn the_limiter_remembers_a_bounded_number_of_addresses() {
    let t0 = std::time::Instant::now();
    let mut l = FailureLimiter::new().with_capacity(100);
    for i in 0..20 {
        l.failed(&0u32, t0 + std::time::Duration::from_millis(i));
    }
    for key in 1..10_000u32 {
        l.failed(&key, t0 + std::time::Duration::from_millis(20));
        assert!(l.len() <= 100);
    }
}

#[test]
fn digest_only_refuses_basic() {
    let (mut a, mut scope) = alice();
    a.allow_basic = false;
    assert_eq!(a.challenges(0, &scope, false).len(), 1);
    let basic =
        Challenge::Basic { realm: "r".into() }.answer("alice", "s3cret", "PLAY", "*", ("", 0));
    assert_eq!(
        a.check(Some(&basic), "PLAY", "*", &mut scope, 0),
        Err(Refusal::Missing)
    );
}

#[test]
fn ffmpeg_style_authorization_parses() {
    let c = Credentials::parse(
        r#"Digest username="u", realm="r", nonce="n", uri="rtsp://h:1/v.mjpeg", response="abc""#,
    )
    .unwrap();
    assert!(matches!(c, Credentials::Digest(ref d) if d.uri == "rtsp://h:1/v.mjpeg"));
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
        let _ = a.check(Some(&v), "PLAY", "*", &mut NonceScope::new(1), 5);
    }
}
