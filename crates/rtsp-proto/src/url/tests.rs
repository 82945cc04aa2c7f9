use super::*;
use proptest::prelude::*;

fn url(text: &str) -> RtspUrl<'_> {
    RtspUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn splits_what_peers_send() {
    let u = url("rtsp://127.0.0.1:8554/video.mjpeg");
    assert_eq!(
        (u.host, u.port, u.path),
        ("127.0.0.1", Some(8554), "/video.mjpeg")
    );
    assert_eq!(u.userinfo, None);
    let u = url("RTSP://cam.local/a/b?x=1");
    assert_eq!(
        (u.host, u.port_or_default(), u.path),
        ("cam.local", 554, "/a/b?x=1")
    );
    assert_eq!(u.host_port(), "cam.local:554");
    let u = url("rtsp://h");
    assert_eq!((u.host, u.path), ("h", ""));
    let u = url("rtsp://h:/x");
    assert_eq!(u.port, None);
}

#[test]
fn ipv6_literals() {
    let u = url("rtsp://[::1]:8554/v.mjpeg");
    assert_eq!((u.host, u.port), ("::1", Some(8554)));
    assert_eq!(u.host_port(), "[::1]:8554");
    let u = url("rtsp://u:p@[fe80::1]/v");
    assert_eq!((u.host, u.port, u.userinfo), ("fe80::1", None, Some("u:p")));
    assert_eq!(u.without_userinfo(), "rtsp://[fe80::1]/v");
    assert!(matches!(
        RtspUrl::parse("rtsp://[::1/v"),
        Err(UrlError::BadIpv6 { .. })
    ));
    assert!(matches!(
        RtspUrl::parse("rtsp://[::1]x/v"),
        Err(UrlError::BadIpv6 { .. })
    ));
}

#[test]
fn credentials_are_decoded_and_left_out() {
    let u = url("rtsp://alice:p%40ss@127.0.0.1:8554/v.mjpeg");
    assert_eq!(
        u.credentials(),
        Ok(Some(("alice".to_string(), "p@ss".to_string())))
    );
    assert_eq!(u.without_userinfo(), "rtsp://127.0.0.1:8554/v.mjpeg");
    // An @ in the path is not user info.
    assert_eq!(url("rtsp://h/a@b").userinfo, None);
    assert_eq!(
        url("rtsp://bob@h/").credentials(),
        Ok(Some(("bob".to_string(), String::new())))
    );
    assert!(url("rtsp://a:%zz@h/").credentials().is_err());
}

#[test]
fn what_is_not_an_rtsp_url() {
    let err = |s: &str| RtspUrl::parse(s).unwrap_err();
    assert!(matches!(err("http://x/"), UrlError::NotRtsp { .. }));
    assert!(matches!(err("video.mjpeg"), UrlError::NotRtsp { .. }));
    assert!(matches!(err("rtsp:///x"), UrlError::NoHost { .. }));
    assert!(matches!(err("rtsp://u@/x"), UrlError::NoHost { .. }));
    assert_eq!(
        err("rtsp://h:99999/x"),
        UrlError::BadPort {
            url: "rtsp://h:99999/x".into(),
            port: "99999".into()
        }
    );
}

#[test]
fn percent_decoding() {
    assert_eq!(
        percent_decode("my%20video.mjpeg").as_deref(),
        Ok("my video.mjpeg")
    );
    assert_eq!(percent_decode("%c3%A9").as_deref(), Ok("é"));
    assert_eq!(
        percent_decode("a%2"),
        Err(UrlError::BadEscape {
            text: "a%2".into(),
            at: 1
        })
    );
    assert!(matches!(
        percent_decode("%+f"),
        Err(UrlError::BadEscape { at: 0, .. })
    ));
    assert!(matches!(
        percent_decode("%ff"),
        Err(UrlError::NotUtf8 { .. })
    ));
}

#[test]
fn request_paths() {
    assert_eq!(
        request_path("rtsp://h:1/video.mjpeg/track1"),
        "video.mjpeg/track1"
    );
    assert_eq!(request_path("movie.Mjpeg"), "movie.Mjpeg");
    assert_eq!(request_path("/a//b"), "a//b");
    assert_eq!(request_path("rtsp://h:1"), "");
    assert_eq!(request_path("rtsp://h//x"), "x");
}

#[test]
fn controls_real_servers_send() {
    // gst-rtsp-server: base with slash, relative control.
    assert_eq!(
        resolve_control("rtsp://h:1/test/", "stream=0"),
        "rtsp://h:1/test/stream=0"
    );
    // VLC: absolute control.
    assert_eq!(
        resolve_control("rtsp://h/test", "rtsp://h/test/trackID=0"),
        "rtsp://h/test/trackID=0"
    );
    assert_eq!(resolve_control("rtsp://h/test", "RTSP://o/t"), "RTSP://o/t");
    // No slash on the base: below it, not beside it.
    assert_eq!(
        resolve_control("rtsp://h/v.mjpeg", "track1"),
        "rtsp://h/v.mjpeg/track1"
    );
    assert_eq!(
        resolve_control("rtsp://h/v.mjpeg/", "*"),
        "rtsp://h/v.mjpeg/"
    );
    assert_eq!(
        resolve_control("rtsp://h/v.mjpeg/", " "),
        "rtsp://h/v.mjpeg/"
    );
    // An absolute path replaces the base's.
    assert_eq!(
        resolve_control("rtsp://[::1]:9/a/b/", "/c/d"),
        "rtsp://[::1]:9/c/d"
    );
    // A colon in a relative control is not a scheme.
    assert_eq!(
        resolve_control("rtsp://h/v/", "track:1"),
        "rtsp://h/v/track:1"
    );
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,60}") {
        let _ = RtspUrl::parse(&text);
        let _ = percent_decode(&text);
        let _ = request_path(&text);
        let _ = resolve_control(&text, &text);
    }

    #[test]
    fn split_and_rebuild(
        host in "[a-z][a-z0-9.-]{0,20}",
        port in proptest::option::of(any::<u16>()),
        path in "(/[a-zA-Z0-9._=-]{0,10}){0,4}",
        user in proptest::option::of("[a-z]{1,8}"),
    ) {
        let authority = match port { Some(p) => format!("{host}:{p}"), None => host.clone() };
        let plain = format!("rtsp://{authority}{path}");
        let text = match &user { Some(u) => format!("rtsp://{u}:pw@{authority}{path}"), None => plain.clone() };
        let u = RtspUrl::parse(&text).unwrap();
        prop_assert_eq!(u.host, host.as_str());
        prop_assert_eq!(u.port, port);
        prop_assert_eq!(u.path, path.as_str());
        prop_assert_eq!(u.without_userinfo(), plain);
        prop_assert_eq!(u.credentials().unwrap(), user.map(|u| (u, "pw".to_string())));
    }

    #[test]
    fn percent_encoding_round_trips(text in "\\PC{0,40}") {
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        prop_assert_eq!(percent_decode(&encoded).unwrap(), text);
    }
}

#[test]
fn encoded_paths_decode_to_the_same_name() {
    for name in [
        "video.mjpeg",
        "my clip #2?.mjpeg",
        "100%/ünï.mjpg",
        "a+b&c=d",
    ] {
        let encoded = percent_encode_path(name);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"?#+& ".contains(&b)));
        assert_eq!(percent_decode(&encoded).unwrap(), name);
    }
    assert_eq!(percent_encode_path("a b/c.mjpeg"), "a%20b/c.mjpeg");
}
