use super::*;
use proptest::prelude::*;

fn limits() -> Limits {
    Limits::default()
}

fn complete_request(buf: &[u8]) -> (Request, usize) {
    match parse_request(buf, &limits()).expect("parses") {
        Parsed::Complete(r, n) => (r, n),
        Parsed::Incomplete => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn parses_ffmpeg_style_options() {
    let buf = b"OPTIONS rtsp://127.0.0.1:8554/video.mjpeg RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n";
    let (req, used) = complete_request(buf);
    assert_eq!(used, buf.len());
    assert_eq!(req.method, Method::Options);
    assert_eq!(req.uri, "rtsp://127.0.0.1:8554/video.mjpeg");
    assert_eq!(req.headers.cseq(), Some(1));
    assert_eq!(req.headers.get("user-agent"), Some("Lavf59.27.100"));
}

#[test]
fn bare_lf_and_lower_case_names_and_trailing_spaces() {
    let buf = b"PLAY movie.Mjpeg RTSP/1.0\ncseq: 2  \nsession: 342216; timeout=60\n\n";
    let (req, _) = complete_request(buf);
    assert_eq!(req.headers.cseq(), Some(2));
    let s = Session::parse(req.headers.get("Session").unwrap()).unwrap();
    assert_eq!(s.id, "342216");
    assert_eq!(s.timeout, Some(60));
}

#[test]
fn lab_request_without_blank_line_is_incomplete_until_taken_unterminated() {
    let buf = b"SETUP movie.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 5008";
    assert_eq!(parse_request(buf, &limits()), Ok(Parsed::Incomplete));
    let req = parse_unterminated_request(buf, &limits()).unwrap();
    assert_eq!(req.method, Method::Setup);
    assert_eq!(req.uri, "movie.Mjpeg");
    let t = Transport::parse_list(req.headers.get("Transport").unwrap()).unwrap();
    assert_eq!(t[0].lower, LowerTransport::LabRtpUdp);
    assert_eq!(
        t[0].client_port,
        Some(PortRange {
            rtp: 5008,
            rtcp: None
        })
    );
}

#[test]
fn body_waits_for_content_length() {
    let buf = b"SET_PARAMETER rtsp://h/ RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nabc";
    assert_eq!(parse_request(buf, &limits()), Ok(Parsed::Incomplete));
    let mut full = buf.to_vec();
    full.extend_from_slice(b"deOPTIONS");
    let (req, used) = complete_request(&full);
    assert_eq!(req.body, b"abcde");
    assert_eq!(&full[used..], b"OPTIONS");
}

#[test]
fn pipelined_requests_come_out_one_by_one() {
    let buf = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n";
    let (a, n) = complete_request(buf);
    let (b, m) = complete_request(&buf[n..]);
    assert_eq!((a.headers.cseq(), b.headers.cseq()), (Some(1), Some(2)));
    assert_eq!(n + m, buf.len());
}

#[test]
fn limits_are_enforced() {
    let long = format!("OPTIONS {} RTSP/1.0\r\n\r\n", "a".repeat(5000));
    // A method and a space, then too much: the URI is too long (RFC 7230 3.1.1: 414).
    assert!(matches!(
        parse_request(long.as_bytes(), &limits()),
        Err(ParseError::UriTooLong { .. })
    ));
    assert!(matches!(
        parse_request(&long.as_bytes()[..4500], &limits()),
        Err(ParseError::UriTooLong { .. })
    ));
    // An endless line with no newline is refused before it ends, and names no URI.
    let endless = vec![b'a'; 5000];
    assert!(matches!(
        parse_request(&endless, &limits()),
        Err(ParseError::LineTooLong { line: 1, .. })
    ));
    let header = format!("OPTIONS * RTSP/1.0\r\nX: {}\r\n\r\n", "v".repeat(5000));
    assert!(matches!(
        parse_request(header.as_bytes(), &limits()),
        Err(ParseError::LineTooLong { line: 2, .. })
    ));
    let mut many = String::from("OPTIONS * RTSP/1.0\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert!(matches!(
        parse_request(many.as_bytes(), &limits()),
        Err(ParseError::TooManyHeaders { .. })
    ));
    let big = b"ANNOUNCE * RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n";
    assert!(matches!(
        parse_request(big, &limits()),
        Err(ParseError::BodyTooLarge { .. })
    ));
    let mut huge = String::from("OPTIONS * RTSP/1.0\r\n");
    for i in 0..40 {
        huge.push_str(&format!("X-{i}: {}\r\n", "v".repeat(300)));
    }
    assert!(matches!(
        parse_request(huge.as_bytes(), &limits()),
        Err(ParseError::HeadTooLarge { .. })
    ));
}

#[test]
fn malformed_start_lines_and_headers_are_errors() {
    for bad in [
        &b"OPTIONS\r\n\r\n"[..],
        b"OPTIONS * RTSP/1.0 extra\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nno colon here\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\n: empty name\r\n\r\n",
        b"\xff\xfe * RTSP/1.0\r\n\r\n",
        // RFC 7230 3.2.4: no white space between a field name and its colon.
        b"OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n",
        // RFC 7230 3: no white space before the first header line.
        b"OPTIONS * RTSP/1.0\r\n CSeq: 1\r\n\r\n",
        // RFC 7230 3.2: a field name is a token.
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX(Y): z\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX\x01Y: z\r\n\r\n",
        // RFC 2326 4.3: no transfer codings; the body's end would be unknown.
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert!(parse_request(bad, &limits()).is_err(), "{bad:?}");
    }
    // A fold after a header still continues it (RFC 7230 3.2.4: replaced by SP).
    let (req, _) = complete_request(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-A: a\r\n\tb\r\n\r\n");
    assert_eq!(req.headers.get("X-A"), Some("a b"));
}

#[test]
fn a_header_that_may_appear_once_is_refused_twice_naming_both_lines() {
    let twice = |head: &str| parse_request(head.as_bytes(), &limits());
    assert_eq!(
        twice("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: y\r\ncseq: 2\r\n\r\n"),
        Err(ParseError::RepeatedHeader {
            name: "CSeq",
            first: 2,
            again: 4
        })
    );
    for name in SINGLE_HEADERS {
        let head = format!("OPTIONS * RTSP/1.0\r\n{name}: 0\r\n{name}: 0\r\n\r\n");
        assert!(
            matches!(twice(&head), Err(ParseError::RepeatedHeader { .. })),
            "{name}"
        );
    }
    // Smuggling: two lengths are refused, whichever comes first.
    let smuggle = "SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello";
    assert!(matches!(
        twice(smuggle),
        Err(ParseError::RepeatedHeader {
            name: "Content-Length",
            ..
        })
    ));
    // Headers that are lists may repeat.
    let r = twice("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nRequire: a\r\nRequire: b\r\n\r\n");
    assert!(matches!(r, Ok(Parsed::Complete(..))));
    let resp = parse_response(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nCSeq: 1\r\n\r\n", &limits());
    assert!(matches!(resp, Err(ParseError::RepeatedHeader { .. })));
}

#[test]
fn content_length_is_decimal_digits_only() {
    let with = |v: &str| {
        let head = format!("SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {v}\r\n\r\n");
        parse_request(head.as_bytes(), &limits())
    };
    for bad in ["+0", "-0", "0x10", "1 0", "", "1.0"] {
        assert!(
            matches!(with(bad), Err(ParseError::BadContentLength { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(with(" 0 "), Ok(Parsed::Complete(..))));
    // More digits than any bound: too large, not malformed (413, not 400).
    assert!(matches!(
        with("99999999999999999999999"),
        Err(ParseError::BodyTooLarge { .. })
    ));
}

#[test]
fn a_bad_start_line_is_an_error_as_soon_as_it_ends() {
    let l = limits();
    assert!(matches!(
        parse_request(b"GARBAGE\r\n", &l),
        Err(ParseError::BadStartLine { .. })
    ));
    assert!(matches!(
        parse_request(b"\r\nOPTIONS\r\nCSeq: 1\r\n", &l),
        Err(ParseError::BadStartLine { .. })
    ));
    // A good start line waits for the rest, and so does a line not yet ended.
    assert_eq!(
        parse_request(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", &l),
        Ok(Parsed::Incomplete)
    );
    assert_eq!(parse_request(b"GARBAGE", &l), Ok(Parsed::Incomplete));
    assert!(matches!(
        parse_response(b"HELLO\r\n", &l),
        Err(ParseError::BadStartLine { .. })
    ));
}

#[test]
fn parses_vlc_style_response() {
    let buf =
        b"RTSP/1.0 200 OK\r\nCseq: 4\r\nSession: 9a8b7c;timeout=60\r\nContent-Length: 0\r\n\r\n";
    let Parsed::Complete(resp, used) = parse_response(buf, &limits()).unwrap() else {
        panic!()
    };
    assert_eq!(used, buf.len());
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers.cseq(), Some(4));
}

#[test]
fn lab_server_reply_parses_unterminated() {
    let resp = parse_unterminated_response(b"RTSP/1.0 200 OK\nCSeq: 1\nSession: 123456", &limits())
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers.get("Session"), Some("123456"));
}

#[test]
fn an_unterminated_message_with_a_short_body_says_how_short() {
    // A blank line ends the head, then 2 of the 5 announced bytes: the peer has gone quiet,
    // so this is a short body, not a bad Content-Length.
    let buf = b"SET_PARAMETER * RTSP/1.0\nCSeq: 3\nContent-Length: 9\n\nab";
    assert_eq!(
        parse_unterminated_request(buf, &limits()),
        Err(ParseError::BodyShort {
            announced: 9,
            arrived: 2
        })
    );
    assert_eq!(
        parse_request(
            b"OPTIONS * RTSP/1.0\r\nContent-Length: x\r\n\r\n",
            &limits()
        ),
        Err(ParseError::BadContentLength { value: "x".into() })
    );
    assert_eq!(
        parse_request(b"OPTIONS\r\n\r\n", &limits()),
        Err(ParseError::BadStartLine {
            text: "OPTIONS".into()
        })
    );
    assert_eq!(
        parse_request(b"OPTIONS * RTSP/1.0\r\nA: \xff\r\n\r\n", &limits()),
        Err(ParseError::NotText { line: 2 })
    );
}

#[test]
fn header_errors_name_the_header_and_the_rule() {
    assert_eq!(CSeq::parse(" 42 "), Ok(CSeq(42)));
    assert_eq!(CSeq(42).to_string(), "42");
    for bad in ["", "-1", "+42", "4 2", "4.2", "99999999999"] {
        assert_eq!(CSeq::parse(bad).unwrap_err().fault, HeaderFault::BadCSeq);
    }
    let e = Transport::parse("RTP/AVP;client_port=x").unwrap_err();
    assert_eq!(
        (e.header, e.fault, e.value.as_str()),
        (
            "Transport",
            HeaderFault::BadClientPort,
            "RTP/AVP;client_port=x"
        )
    );
    assert_eq!(
        Range::parse("npt=20-10").unwrap_err().fault,
        HeaderFault::EndBeforeStart
    );
    assert_eq!(
        Session::parse("a b").unwrap_err().fault,
        HeaderFault::BadSessionId
    );
    assert_eq!(
        RtpInfo::parse_list("seq=1").unwrap_err().fault,
        HeaderFault::EntryWithoutUrl
    );
    assert_eq!(
        e.to_string(),
        "malformed Transport header \"RTP/AVP;client_port=x\": bad client_port"
    );
}

#[test]
fn content_base_is_an_absolute_url() {
    let base = ContentBase::parse("rtsp://127.0.0.1:8554/test/").unwrap();
    assert_eq!(base.to_string(), "rtsp://127.0.0.1:8554/test/");
    for bad in ["", "test/", "://x", "rtsp://", "rtsp://h/a b"] {
        assert_eq!(
            ContentBase::parse(bad).unwrap_err().fault,
            HeaderFault::NotAbsoluteUrl,
            "{bad:?}"
        );
    }
}

#[test]
fn transport_forms_we_meet() {
    let ffmpeg = Transport::parse_list("RTP/AVP/UDP;unicast;client_port=5000-5001").unwrap();
    assert_eq!(ffmpeg[0].lower, LowerTransport::RtpAvpUdp);
    assert_eq!(
        ffmpeg[0].client_port,
        Some(PortRange {
            rtp: 5000,
            rtcp: Some(5001)
        })
    );
    let gst = Transport::parse_list(
        "RTP/AVP;unicast;client_port=40000-40001;mode=\"PLAY\",RTP/AVP/TCP;unicast;interleaved=0-1",
    )
    .unwrap();
    assert_eq!(gst.len(), 2);
    assert_eq!(gst[0].mode.as_deref(), Some("PLAY"));
    assert_eq!(gst[1].interleaved, Some((0, 1)));
    let reply = Transport::parse(
        "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001;ssrc=DEADBEEF",
    )
    .unwrap();
    assert_eq!(reply.ssrc, Some(0xDEAD_BEEF));
    assert_eq!(reply.server_port.unwrap().rtcp, Some(6001));
    assert!(Transport::parse_list("RAW/RAW/UDP;unicast").is_err());
    assert!(Transport::parse("RTP/AVP;client_port=x").is_err());
}

#[test]
fn range_forms() {
    assert_eq!(
        Range::parse("npt=0.000-").unwrap(),
        Range {
            start: NptTime::Seconds(0.0),
            end: None
        }
    );
    assert_eq!(
        Range::parse("npt=1:02:03.5-").unwrap().start,
        NptTime::Seconds(3723.5)
    );
    assert_eq!(Range::parse("npt=now-").unwrap().start, NptTime::Now);
    assert!(Range::parse("smpte=0:10:00-").is_err());
    assert!(Range::parse("npt=20-10").is_err());
    assert!(Range::parse("npt=abc-").is_err());
}

#[test]
fn rtp_info_and_public() {
    let list =
        RtpInfo::parse_list("url=rtsp://h/v.mjpeg/track1;seq=17;rtptime=900,url=rtsp://h/x;seq=1")
            .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].seq, Some(17));
    assert_eq!(list[0].rtptime, Some(900));
    let public = Public::parse("OPTIONS, DESCRIBE,SETUP , PLAY");
    assert!(public.contains(&Method::Setup));
    assert_eq!(public.to_string(), "OPTIONS, DESCRIBE, SETUP, PLAY");
}

fn token() -> impl Strategy<Value = String> {
    "[A-Z_]{1,12}"
}

fn header_value() -> impl Strategy<Value = String> {
    "[ -~]{0,40}".prop_map(|s| s.trim().to_string())
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", header_value()), 0..8).prop_map(|v| {
        let mut h = Headers::new();
        for (n, val) in v {
            if !n.eq_ignore_ascii_case("Content-Length") {
                h.append(n, val);
            }
        }
        h
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn with_length(mut headers: Headers, body: &[u8]) -> Headers {
    if !body.is_empty() {
        headers.append("Content-Length", body.len().to_string());
    }
    headers
}

proptest! {
    #[test]
    fn request_round_trip(method in token(), uri in "[!-~]{1,40}", headers in headers(), body in body()) {
        let req = Request {
            method: Method::from_token(&method),
            uri,
            version: RTSP_1_0.into(),
            headers: with_length(headers, &body),
            body,
        };
        let bytes = req.to_bytes();
        prop_assert_eq!(parse_request(&bytes, &limits()), Ok(Parsed::Complete(req, bytes.len())));
    }

    #[test]
    fn response_round_trip(code in 100u16..=999, reason in "[A-Za-z][A-Za-z ]{0,20}[A-Za-z]", headers in headers(), body in body()) {
        let resp = Response {
            version: RTSP_1_0.into(),
            status: StatusCode(code),
            reason,
            headers: with_length(headers, &body),
            body,
        };
        let bytes = resp.to_bytes();
        prop_assert_eq!(parse_response(&bytes, &limits()), Ok(Parsed::Complete(resp, bytes.len())));
    }

    #[test]
    fn every_split_point_is_incomplete_or_the_same(headers in headers(), body in body(), cut in 0usize..400) {
        let req = Request { method: Method::Setup, uri: "rtsp://h/v".into(), version: RTSP_1_0.into(),
            headers: with_length(headers, &body), body };
        let bytes = req.to_bytes();
        let cut = cut.min(bytes.len());
        match parse_request(&bytes[..cut], &limits()) {
            Ok(Parsed::Incomplete) => prop_assert!(cut < bytes.len()),
            Ok(Parsed::Complete(r, n)) => { prop_assert_eq!(n, bytes.len()); prop_assert_eq!(r, req); }
            Err(e) => prop_assert!(false, "error at cut {}: {}", cut, e),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request(&bytes, &limits());
        let _ = parse_response(&bytes, &limits());
        let _ = parse_unterminated_request(&bytes, &limits());
        let _ = parse_unterminated_response(&bytes, &limits());
    }

    #[test]
    fn arbitrary_header_values_never_panic(v in "\\PC{0,80}") {
        let _ = Session::parse(&v);
        let _ = Transport::parse_list(&v);
        let _ = Range::parse(&v);
        let _ = RtpInfo::parse_list(&v);
        let _ = Public::parse(&v);
    }

    #[test]
    fn session_round_trip(id in "[A-Za-z0-9$_.+-]{1,20}", timeout in prop::option::of(any::<u32>())) {
        let s = Session { id, timeout };
        prop_assert_eq!(Session::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn transport_round_trip(
        lower in prop_oneof![Just(LowerTransport::RtpAvpUdp), Just(LowerTransport::RtpAvpTcp), Just(LowerTransport::LabRtpUdp)],
        unicast in prop::option::of(any::<bool>()),
        client in prop::option::of((any::<u16>(), prop::option::of(any::<u16>()))),
        server in prop::option::of((any::<u16>(), prop::option::of(any::<u16>()))),
        interleaved in prop::option::of((any::<u8>(), any::<u8>())),
        ssrc in prop::option::of(any::<u32>()),
        ttl in prop::option::of(any::<u8>()),
        destination in prop::option::of("[0-9.]{1,15}"),
        mode in prop::option::of("[A-Z]{1,6}"),
    ) {
        let mut t = Transport::new(lower);
        t.unicast = unicast;
        t.client_port = client.map(|(rtp, rtcp)| PortRange { rtp, rtcp });
        t.server_port = server.map(|(rtp, rtcp)| PortRange { rtp, rtcp });
        t.interleaved = interleaved;
        t.ssrc = ssrc;
        t.ttl = ttl;
        t.destination = destination;
        t.mode = mode;
        prop_assert_eq!(Transport::parse(&t.to_string()), Ok(t));
    }

    #[test]
    fn range_round_trip(start_ms in 0u64..100_000_000, len_ms in prop::option::of(0u64..100_000_000)) {
        let start = start_ms as f64 / 1000.0;
        let r = Range { start: NptTime::Seconds(start), end: len_ms.map(|l| NptTime::Seconds(start + l as f64 / 1000.0)) };
        let parsed = Range::parse(&r.to_string()).unwrap();
        prop_assert_eq!(parsed.to_string(), r.to_string());
    }

    #[test]
    fn rtp_info_round_trip(path in "[a-z0-9/._]{1,30}", seq in prop::option::of(any::<u16>()), rtptime in prop::option::of(any::<u32>())) {
        let info = RtpInfo { url: format!("rtsp://127.0.0.1:8554/{path}"), seq, rtptime };
        prop_assert_eq!(RtpInfo::parse_list(&info.to_string()), Ok(vec![info]));
    }

    #[test]
    fn public_round_trip(methods in prop::collection::vec(token(), 1..8)) {
        let p = Public(methods.iter().map(|m| Method::from_token(m)).collect());
        prop_assert_eq!(Public::parse(&p.to_string()), p);
    }
}
