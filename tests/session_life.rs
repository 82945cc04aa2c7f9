//! Session life: RTCP alone keeps a session alive, silence ends it, and a TCP client that
//! stops reading slows nobody but itself.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rtsp_proto::rtcp::{self, ReceiverReport, RtcpPacket};
use rtsp_proto::rtp::RtpPacket;
use rtsp_proto::rtsp::Transport;
use support::*;

/// SETUP (UDP) and PLAY on a raw connection; returns the connection, the client's sockets and
/// the server's RTCP address.
fn play_udp(
    server: &server::ServerHandle,
) -> (
    RtspConn,
    std::net::UdpSocket,
    std::net::UdpSocket,
    SocketAddr,
) {
    let url = url(server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = c.request("SETUP", &format!("{url}/track1"), &[("Transport", &t)]);
    let session = r
        .headers
        .get("Session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let reply = Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
    let server_rtcp = SocketAddr::new(server.addr.ip(), reply.server_port.unwrap().rtcp.unwrap());
    assert_eq!(
        c.request("PLAY", &url, &[("Session", &session)]).status.0,
        200
    );
    (c, rtp, rtcp, server_rtcp)
}

#[test]
fn a_session_kept_alive_by_rtcp_alone_outlives_the_timeout_and_one_without_is_reaped() {
    let server = start_server(&videos_dir(), |c| {
        c.session_timeout = Duration::from_secs(2)
    });
    let (kept, kept_rtp, kept_rtcp, server_rtcp) = play_udp(&server);
    let (mut silent, _silent_rtp, _silent_rtcp, _) = play_udp(&server);
    // A SETUP with a non-default timeout says so.
    assert_eq!(server.shared.sessions.load(Ordering::SeqCst), 2);

    let mut rr = Vec::new();
    rtcp::write_compound(
        &[RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 9,
            reports: vec![],
        })],
        &mut rr,
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(4500) {
        kept_rtcp.send_to(&rr, server_rtcp).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    // The silent one was reaped: its connection is closed by the server.
    silent
        .stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match silent.stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    assert!(closed, "the silent session's connection is still open");
    assert_eq!(
        server.shared.sessions.load(Ordering::SeqCst),
        1,
        "exactly the RTCP-kept session remains"
    );
    // The kept one still streams.
    let got = receive_for(&kept_rtp, Duration::from_secs(1), |g| g.len() >= 5);
    assert!(got.len() >= 5, "the RTCP-kept session stopped streaming");
    drop(kept);
}

#[test]
fn the_session_header_names_a_timeout_only_when_it_is_not_the_default() {
    for (secs, expect) in [(60, None), (7, Some(7))] {
        let server = start_server(&videos_dir(), |c| {
            c.session_timeout = Duration::from_secs(secs)
        });
        let mut c = RtspConn::connect(server.addr);
        let r = c.request(
            "SETUP",
            &format!("{}/track1", url(&server, "video.mjpeg")),
            &[("Transport", "RTP/AVP;unicast;client_port=5000-5001")],
        );
        let s = rtsp_proto::rtsp::Session::parse(r.headers.get("Session").unwrap()).unwrap();
        assert_eq!(s.timeout, expect);
    }
}

#[test]
fn a_tcp_client_that_stops_reading_does_not_slow_another_session() {
    let fps = 100.0;
    let server = start_server(&videos_dir(), |c| {
        c.fps = fps;
        c.looping = true;
    });
    let url = url(&server, "video.mjpeg");
    // The stalled one: interleaved, then never reads again.
    let mut stalled = RtspConn::connect(server.addr);
    let r = stalled.request(
        "SETUP",
        &format!("{url}/track1"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    let id = r.headers.get("Session").unwrap().to_string();
    assert_eq!(
        stalled.request("PLAY", &url, &[("Session", &id)]).status.0,
        200
    );
    assert!(
        wait_until(Duration::from_secs(30), || server.shared.counters.dropped()
            > 0),
        "the stalled reader never filled its queue"
    );
    // Now, with the stalled session's queue full, a second session must get every frame on time.
    let (_c, rtp, _rtcp, _) = play_udp(&server);
    let packets = receive_for(&rtp, Duration::from_secs(3), |_| false);
    let mut frames = Vec::new();
    let mut last_seq: Option<u16> = None;
    for (at, p) in &packets {
        let p = RtpPacket::parse(p).unwrap();
        if let Some(l) = last_seq {
            assert_eq!(
                p.header.sequence_number,
                l.wrapping_add(1),
                "a packet was lost"
            );
        }
        last_seq = Some(p.header.sequence_number);
        if p.header.marker {
            frames.push((*at, p.header.timestamp));
        }
    }
    let expected = (3.0 * fps) as usize;
    assert!(
        frames.len() + 3 >= expected,
        "{} of {expected} frames",
        frames.len()
    );
    // On time: each frame within 50 ms of where its RTP timestamp puts it.
    let (t0, ts0) = frames[0];
    let worst = frames
        .iter()
        .map(|&(t, ts)| ((t - t0).as_secs_f64() - ts.wrapping_sub(ts0) as f64 / 90_000.0).abs())
        .fold(0.0, f64::max);
    eprintln!("second session: {} frames, worst lateness {:.1} ms; frames dropped for the stalled one: {}", frames.len(), worst * 1000.0, server.shared.counters.dropped());
    assert!(
        worst < 0.1,
        "a frame was {:.1} ms off its time",
        worst * 1000.0
    );
    drop(stalled);
}
