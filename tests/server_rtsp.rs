//! Standard RTSP against our server: the happy path a player walks, and every status code the
//! server answers with, each followed by proof that the connection still works.

mod support;

use std::time::Duration;

use rtsp_proto::rtp::RtpPacket;
use rtsp_proto::rtsp::{Public, Response, RtpInfo, Session, Transport};
use support::*;

fn session_of(r: &Response) -> String {
    Session::parse(r.headers.get("Session").expect("Session header"))
        .unwrap()
        .id
}

fn setup(conn: &mut RtspConn, url: &str, rtp_port: u16) -> (Response, String) {
    let transport = format!("RTP/AVP;unicast;client_port={}-{}", rtp_port, rtp_port + 1);
    let r = conn.request(
        "SETUP",
        &format!("{url}/track1"),
        &[("Transport", &transport)],
    );
    assert_eq!(r.status.0, 200, "{r:?}");
    let id = session_of(&r);
    (r, id)
}

/// One whole exchange in the order a client makes it, each answer checked before the next
/// request: split in pieces it would no longer read as the exchange it is (hence its length).
#[test]
fn options_describe_setup_play_pause_teardown() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);

    let r = c.request("OPTIONS", &url, &[]);
    assert_eq!(r.status.0, 200);
    let public = Public::parse(r.headers.get("Public").unwrap());
    assert_eq!(
        public.to_string(),
        "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER"
    );

    let r = c.request("DESCRIBE", &url, &[("Accept", "application/sdp")]);
    assert_eq!(r.status.0, 200);
    assert_eq!(r.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(
        r.headers.get("Content-Base"),
        Some(format!("{url}/").as_str())
    );
    let sdp = String::from_utf8(r.body.clone()).unwrap();
    for line in [
        "m=video 0 RTP/AVP 26",
        "a=rtpmap:26 JPEG/90000",
        "a=framerate:20",
        "a=control:track1",
        "a=control:*",
        "a=range:npt=0-20.000",
        "c=IN IP4 0.0.0.0",
    ] {
        assert!(sdp.contains(line), "{line} missing from\n{sdp}");
    }

    let (rtp, _rtcp) = udp_pair();
    let (r, id) = setup(&mut c, &url, rtp.local_addr().unwrap().port());
    let t = Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
    let server_port = t.server_port.expect("server_port");
    assert_eq!(server_port.rtp % 2, 0);
    assert_eq!(server_port.rtcp, Some(server_port.rtp + 1));
    assert!(t.ssrc.is_some());
    // Header order the lab client relies on holds for everyone.
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..2], &["CSeq", "Session"]);

    let r = c.request("PLAY", &url, &[("Session", &id), ("Range", "npt=0.000-")]);
    assert_eq!(r.status.0, 200);
    assert_eq!(r.headers.get("Range"), Some("npt=0.000-20.000"));
    let info = &RtpInfo::parse_list(r.headers.get("RTP-Info").unwrap()).unwrap()[0];
    assert_eq!(info.url, format!("{url}/track1"));

    // The first packet carries RTP-Info's seq and rtptime, from the SSRC SETUP announced.
    let got = receive_for(&rtp, Duration::from_secs(3), |g| {
        g.iter().filter(|p| p.1[1] & 0x80 != 0).count() >= 10
    });
    let first = RtpPacket::parse(&got[0].1).unwrap();
    assert_eq!(Some(first.header.sequence_number), info.seq);
    assert_eq!(Some(first.header.timestamp), info.rtptime);
    assert_eq!(Some(first.header.ssrc), t.ssrc);
    assert_eq!(first.header.payload_type, 26);

    let r = c.request("PAUSE", &url, &[("Session", &id)]);
    assert_eq!(r.status.0, 200);
    // Drain what was in flight, then nothing more may come while paused.
    receive_for(&rtp, Duration::from_millis(150), |_| false);
    let last_seq = {
        let r = c.request("GET_PARAMETER", &url, &[("Session", &id)]);
        assert_eq!(r.status.0, 200);
        let quiet = receive_for(&rtp, Duration::from_millis(300), |_| false);
        assert!(quiet.is_empty(), "{} packets while paused", quiet.len());
        got.iter()
            .map(|p| RtpPacket::parse(&p.1).unwrap().header.sequence_number)
            .max()
            .unwrap()
    };

    // Resume continues where it paused: sequence numbers go on.
    let r = c.request("PLAY", &url, &[("Session", &id)]);
    assert_eq!(r.status.0, 200);
    let info = &RtpInfo::parse_list(r.headers.get("RTP-Info").unwrap()).unwrap()[0];
    assert!(rtsp_proto::rtp::seq_newer(info.seq.unwrap(), last_seq));
    let resumed = receive_for(&rtp, Duration::from_secs(2), |g| !g.is_empty());
    assert_eq!(
        RtpPacket::parse(&resumed[0].1)
            .unwrap()
            .header
            .sequence_number,
        info.seq.unwrap()
    );

    let r = c.request("TEARDOWN", &url, &[("Session", &id)]);
    assert_eq!(r.status.0, 200);
    assert!(wait_until(Duration::from_secs(2), || server
        .shared
        .sessions
        .load(std::sync::atomic::Ordering::SeqCst)
        == 0));
    c.assert_still_usable();
}

#[test]
fn status_400_for_malformed_requests() {
    let server = start_server(&videos_dir(), |_| {});
    // A first line that starts no request: 400, and the connection is closed (tests/hostile.rs
    // has the cases).
    let mut hello = RtspConn::connect(server.addr);
    hello.send_raw(b"HELLO\r\n\r\n");
    assert_eq!(hello.read_response().status.0, 400);
    let mut c = RtspConn::connect(server.addr);
    for bad in [
        &b"OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n"[..],
        b"OPTIONS * RTSP/1.0\r\n\r\n",
    ] {
        c.send_raw(bad);
        assert_eq!(
            c.read_response().status.0,
            400,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        c.assert_still_usable();
    }
    // SETUP without Transport.
    let r = c.request("SETUP", &url(&server, "video.mjpeg"), &[]);
    assert_eq!(r.status.0, 400);
    c.assert_still_usable();
}

#[test]
fn status_404_for_missing_files_and_paths_outside_the_directory() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = RtspConn::connect(server.addr);
    for file in [
        "nope.mjpeg",
        "../Cargo.toml",
        "%2e%2e/Cargo.toml",
        "",
        "make_sample.sh/x",
    ] {
        let r = c.request("DESCRIBE", &url(&server, file), &[]);
        assert_eq!(r.status.0, 404, "{file}");
        c.assert_still_usable();
    }
}

#[test]
fn status_415_for_files_with_no_frame_that_can_be_decoded() {
    // Arithmetic-coded frames (SOF9): neither RFC 2435 nor any conversion here can carry them.
    let dir = scratch_dir("415");
    let mut frame = sample_frames()[0].clone();
    let sof = frame.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    frame[sof + 1] = 0xc9;
    let mut file = Vec::new();
    rtsp_proto::mjpeg::write_lab_frame(&mut file, &frame).unwrap();
    std::fs::write(dir.join("arithmetic.mjpeg"), &file).unwrap();

    let server = start_server(&dir, |_| {});
    let mut c = RtspConn::connect(server.addr);
    let r = c.request("DESCRIBE", &url(&server, "arithmetic.mjpeg"), &[]);
    assert_eq!(r.status.0, 415);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("decoded"), "{body}");
    c.assert_still_usable();
    // The lab's transport carries any JPEG as it is, so SETUP in the lab dialect works.
    let r = c.request(
        "SETUP",
        "arithmetic.mjpeg",
        &[("Transport", "RTP/UDP; client_port= 5008")],
    );
    assert_eq!(r.status.0, 200);
}

#[test]
fn status_454_for_unknown_sessions() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let r = c.request("PLAY", &url, &[("Session", "12345")]);
    assert_eq!(r.status.0, 454);
    c.assert_still_usable();
    let r = c.request("PLAY", &url, &[]);
    assert_eq!(r.status.0, 454);
    let (rtp, _) = udp_pair();
    let (_, id) = setup(&mut c, &url, rtp.local_addr().unwrap().port());
    let r = c.request("TEARDOWN", &url, &[("Session", &format!("{id}9"))]);
    assert_eq!(r.status.0, 454);
    c.assert_still_usable();
    assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status.0, 200);
}

#[test]
fn status_455_for_methods_not_valid_in_the_state() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, _) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let (_, id) = setup(&mut c, &url, port);
    // PAUSE in Ready.
    let r = c.request("PAUSE", &url, &[("Session", &id)]);
    assert_eq!(r.status.0, 455);
    assert_eq!(session_of(&r), id);
    c.assert_still_usable();
    assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status.0, 200);
    // SETUP while playing.
    let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = c.request(
        "SETUP",
        &format!("{url}/track1"),
        &[("Session", &id), ("Transport", &t)],
    );
    assert_eq!(r.status.0, 455);
    c.assert_still_usable();
}

#[test]
fn status_457_for_a_range_past_the_end_or_malformed() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, _) = udp_pair();
    let (_, id) = setup(&mut c, &url, rtp.local_addr().unwrap().port());
    for range in ["npt=25-", "npt=abc-", "smpte=0:00:01-"] {
        let r = c.request("PLAY", &url, &[("Session", &id), ("Range", range)]);
        assert_eq!(r.status.0, 457, "{range}");
        c.assert_still_usable();
    }
    // A seek inside the file works and is reported.
    let r = c.request("PLAY", &url, &[("Session", &id), ("Range", "npt=10-")]);
    assert_eq!(r.status.0, 200);
    assert_eq!(r.headers.get("Range"), Some("npt=10.000-20.000"));
}

#[test]
fn status_461_for_transports_the_server_does_not_offer() {
    let server = start_server(&videos_dir(), |c| c.tcp = false);
    let url = format!("{}/track1", url(&server, "video.mjpeg"));
    let mut c = RtspConn::connect(server.addr);
    for t in [
        "RTP/AVP/TCP;unicast;interleaved=0-1",
        "RTP/AVP;multicast;client_port=5000-5001",
        "RTP/AVP;unicast",
        "RTP/AVP;unicast;destination=192.0.2.1;client_port=5000-5001",
        "RAW/RAW/UDP;unicast;client_port=5000-5001",
    ] {
        let r = c.request("SETUP", &url, &[("Transport", t)]);
        assert_eq!(r.status.0, 461, "{t}");
        c.assert_still_usable();
    }
    // Among several offers, the first one the server can serve wins.
    let r = c.request(
        "SETUP",
        &url,
        &[(
            "Transport",
            "RTP/AVP/TCP;interleaved=0-1,RTP/AVP;unicast;client_port=5000-5001",
        )],
    );
    assert_eq!(r.status.0, 200);
}

#[test]
fn status_501_with_public_for_unknown_methods() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = RtspConn::connect(server.addr);
    for m in ["RECORD", "ANNOUNCE", "FROB"] {
        let r = c.request(m, &url(&server, "video.mjpeg"), &[]);
        assert_eq!(r.status.0, 501, "{m}");
        assert!(r.headers.get("Public").unwrap().contains("DESCRIBE"));
        c.assert_still_usable();
    }
}

#[test]
fn status_505_for_other_rtsp_versions() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = RtspConn::connect(server.addr);
    c.send_raw(b"OPTIONS * RTSP/2.0\r\nCSeq: 7\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status.0, 505);
    assert_eq!(r.headers.cseq(), Some(7));
    c.assert_still_usable();
}

#[test]
fn a_slow_standard_client_is_not_taken_for_the_lab() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = RtspConn::connect(server.addr);
    // The head arrives in pieces with pauses longer than the lab's quiet period.
    for piece in [
        "OPTIONS * RTSP/1.0\r\n",
        "CSeq: 1\r\n",
        "User-Agent: slow\r\n",
    ] {
        c.send_raw(piece.as_bytes());
        std::thread::sleep(Duration::from_millis(300));
    }
    c.send_raw(b"\r\n");
    let r = c.read_response();
    assert_eq!((r.status.0, r.headers.cseq()), (200, Some(1)));
}

#[test]
fn a_second_setup_moves_the_stream_to_new_ports_under_the_same_ssrc() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (first_rtp, _first_rtcp) = udp_pair();
    let (r, id) = setup(&mut c, &url, first_rtp.local_addr().unwrap().port());
    let ssrc = Transport::parse(r.headers.get("Transport").unwrap())
        .unwrap()
        .ssrc
        .expect("ssrc");

    // SETUP again in the session, to other ports: the stream keeps its SSRC (RFC 3550 8.2:
    // a source does not change its SSRC for a new transport), and says so.
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = c.request(
        "SETUP",
        &format!("{url}/track1"),
        &[("Transport", &transport), ("Session", &id)],
    );
    assert_eq!(r.status.0, 200, "{r:?}");
    let t = Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
    assert_eq!(t.ssrc, Some(ssrc));

    let r = c.request("PLAY", &url, &[("Session", &id)]);
    assert_eq!(r.status.0, 200, "{r:?}");
    let got = receive_for(&rtp, Duration::from_secs(3), |g| !g.is_empty());
    let packet = RtpPacket::parse(&got.first().expect("RTP on the new port").1).unwrap();
    assert_eq!(packet.header.ssrc, ssrc);
    first_rtp.set_nonblocking(true).unwrap();
    assert!(
        first_rtp.recv(&mut [0u8; 2048]).is_err(),
        "RTP still went to the first port"
    );
}
