//! Twenty sessions at once, half in the lab's dialect and half standard, each on its own
//! connection: every one must stream at the full frame rate with complete frames.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtp::RtpPacket;
use support::*;

const WINDOW: Duration = Duration::from_secs(3);

/// Plays one session for WINDOW; returns (frames completed, measured fps).
fn standard_session(server: &server::ServerHandle) -> (usize, f64) {
    let url = url(server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = c.request("SETUP", &format!("{url}/track1"), &[("Transport", &t)]);
    assert_eq!(r.status.0, 200);
    let id = r.headers.get("Session").unwrap().to_string();
    assert_eq!(c.request("PLAY", &url, &[("Session", &id)]).status.0, 200);
    let packets = receive_for(&rtp, WINDOW, |_| false);
    c.request("TEARDOWN", &url, &[("Session", &id)]);
    let mut depay = Depacketizer::new(1 << 20);
    let mut times = Vec::new();
    for (at, p) in &packets {
        let p = RtpPacket::parse(p).unwrap();
        let ev = depay.push(&p.header, p.payload);
        assert!(
            ev.dropped.is_empty(),
            "a frame was dropped: {:?}",
            ev.dropped
        );
        if ev.frame.is_some() {
            times.push(*at);
        }
    }
    (times.len(), rate(&times))
}

fn lab_session(server: &server::ServerHandle) -> (usize, f64) {
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let mut ask = |req: String| -> String {
        c.write_all(req.as_bytes()).unwrap();
        let n = c.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let reply = ask(format!(
        "SETUP video.mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= {port}"
    ));
    let session = reply.split('\n').nth(2).unwrap().trim().to_string();
    assert!(
        ask(format!("PLAY video.mjpeg RTSP/1.0\nCSeq: 2\n{session}")).starts_with("RTSP/1.0 200")
    );
    let datagrams = receive_for(&rtp, WINDOW, |_| false);
    ask(format!("TEARDOWN video.mjpeg RTSP/1.0\nCSeq: 3\n{session}"));
    for (i, (_, d)) in datagrams.iter().enumerate() {
        assert_eq!(
            u16::from_be_bytes([d[2], d[3]]) as usize,
            i + 1,
            "lab datagrams numbered in order"
        );
        assert!(d[12..].starts_with(&[0xff, 0xd8]) && d.ends_with(&[0xff, 0xd9]));
    }
    let times: Vec<_> = datagrams.iter().map(|(t, _)| *t).collect();
    (times.len(), rate(&times))
}

fn rate(times: &[std::time::Instant]) -> f64 {
    if times.len() < 2 {
        return 0.0;
    }
    (times.len() - 1) as f64 / (*times.last().unwrap() - times[0]).as_secs_f64()
}

#[test]
fn twenty_concurrent_sessions_mixed_lab_and_standard_stream_at_full_rate() {
    let server = start_server(&videos_dir(), |_| {});
    let results: Vec<(bool, usize, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let server = &server;
                s.spawn(move || {
                    let lab = i % 2 == 0;
                    let (frames, fps) = if lab {
                        lab_session(server)
                    } else {
                        standard_session(server)
                    };
                    (lab, frames, fps)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let expected = WINDOW.as_secs_f64() * 20.0;
    for (i, (lab, frames, fps)) in results.iter().enumerate() {
        eprintln!(
            "session {i} ({}): {frames} frames, {fps:.2} fps",
            if *lab { "lab" } else { "standard" }
        );
        assert!(
            *frames as f64 >= expected * 0.95,
            "session {i}: {frames} of {expected} frames"
        );
    }
}
