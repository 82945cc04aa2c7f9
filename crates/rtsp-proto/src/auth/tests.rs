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
    let c = Credentials::parse(
        r#"Digest username="u", realm="r", nonce="n", uri="rtsp://h:1/v.mjpeg", response="abc""#,
    )
    .unwrap();
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
