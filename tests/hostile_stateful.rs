//! Hostile input that needs state (sessions, interleaved framing, RTCP, the server's limits),
//! and the proof that none of it leaves anything behind: the process's threads and descriptors
//! (the server runs in it) come back to what they were before.
//!
//! One test, alone in its binary: tests in one binary run as threads of one process, and any
//! other test opening sockets or starting servers meanwhile would move the counts read from
//! /proc/self.

mod support;

#[path = "support/hostile_cases.rs"]
mod hostile_cases;

use std::fmt::Display;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hostile_cases::still_plays;
use rtsp_proto::rtcp::{self, ReceiverReport, ReportBlock, RtcpPacket};
use rtsp_proto::rtsp::{Response, Session, Transport};
use support::*;

/// The checks made so far, and those that failed: every case runs, and the test lists all
/// failures at the end rather than stopping at the first.
#[derive(Default)]
struct Checks {
    count: usize,
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, got: impl Display) {
        self.count += 1;
        if !ok {
            self.failures.push(format!("{name}: got {got}"));
        }
    }

    /// A check of a response's status.
    fn status(&mut self, name: &str, r: &Response, want: u16) {
        self.check(
            name,
            r.status.0 == want,
            format!("{} {}", r.status.0, r.reason),
        );
    }
}

/// The session id of a SETUP answer, without `;timeout=`.
fn session_id(r: &Response) -> String {
    Session::parse(r.headers.get("Session").unwrap_or(""))
        .map(|s| s.id)
        .unwrap_or_default()
}

/// A receiver report whose block carries `jitter` as a mark, so the test can tell which of
/// the datagrams it sent the server took.
fn marked_rr(jitter: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let block = ReportBlock {
        ssrc: 1,
        jitter,
        ..ReportBlock::default()
    };
    rtcp::write_compound(
        &[RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 0x5eed,
            reports: vec![block],
        })],
        &mut out,
    );
    out
}

fn has_report(server: &server::ServerHandle, jitter: u32) -> bool {
    server
        .shared
        .receiver_reports()
        .iter()
        .any(|r| r.block.jitter == jitter)
}

/// An interleaved frame (RFC 2326 10.12).
fn dollar(channel: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
    [&[b'$', channel][..], &len, payload].concat()
}

/// The thread count once it has held still for 200 ms: threads of connections that just
/// closed end a moment after the counters say so.
fn settled(deadline: Duration) -> ProcCounts {
    let mut last = proc_counts();
    let mut since = Instant::now();
    wait_until(deadline, || {
        let now = proc_counts();
        if (now.threads, now.fds) != (last.threads, last.fds) {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= Duration::from_millis(200)
    });
    last
}

/// Session-bound requests in each state (RFC 2326 A.2, 10.4, 11.3.5).
fn sessions(server: &server::ServerHandle, k: &mut Checks) {
    let base = url(server, "video.mjpeg");
    let track = format!("{base}/track1");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, _rtcp) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let udp = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);

    let r = c.request("SETUP", &track, &[("Transport", &udp)]);
    k.status("RFC 2326 10.4: SETUP over UDP", &r, 200);
    let id = session_id(&r);
    let ssrc = Transport::parse(r.headers.get("Transport").unwrap_or(""))
        .ok()
        .and_then(|t| t.ssrc);
    let r = c.request("PLAY", &base, &[("Session", &format!("{id}9"))]);
    k.status(
        "RFC 2326 11.3.5: PLAY with a wrong session id (454)",
        &r,
        454,
    );
    let r = c.request("PAUSE", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: PAUSE in Ready (455)", &r, 455);
    let r = c.request("SETUP", &track, &[("Session", &id), ("Transport", &udp)]);
    k.status(
        "RFC 2326 10.4: a second SETUP naming the session in Ready",
        &r,
        200,
    );
    k.check(
        "RFC 2326 10.4: the second SETUP is bundled into the same session",
        session_id(&r) == id,
        session_id(&r),
    );
    let again = Transport::parse(r.headers.get("Transport").unwrap_or(""))
        .ok()
        .and_then(|t| t.ssrc);
    k.check(
        "RFC 3550 8 / RFC 2326 12.39: the stream keeps its SSRC across SETUPs",
        again == ssrc && ssrc.is_some(),
        format!("{again:?} after {ssrc:?}"),
    );
    let r = c.request("PLAY", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: PLAY in Ready", &r, 200);
    let got = receive_for(&rtp, Duration::from_secs(3), |g| !g.is_empty());
    k.check("RFC 2326 10.5: PLAY sends RTP", !got.is_empty(), "no RTP");
    let r = c.request("PAUSE", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: PAUSE in Playing", &r, 200);
    let r = c.request("PAUSE", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: PAUSE again, now in Ready (455)", &r, 455);

    // Another connection's SETUP is another session, and cannot steer this one.
    let mut other = RtspConn::connect(server.addr);
    let r = other.request(
        "SETUP",
        &track,
        &[("Transport", "RTP/AVP;unicast;client_port=5010-5011")],
    );
    k.status("RFC 2326 10.4: SETUP on a second connection", &r, 200);
    k.check(
        "RFC 2326 12.37: the second connection's session has an id of its own",
        session_id(&r) != id && !session_id(&r).is_empty(),
        session_id(&r),
    );
    let r = other.request("TEARDOWN", &base, &[("Session", &id)]);
    k.status(
        "RFC 2326 11.3.5: TEARDOWN of another connection's session (454)",
        &r,
        454,
    );
    let r = c.request("GET_PARAMETER", &base, &[("Session", &id)]);
    k.status(
        "RFC 2326 10.8: the session survives the other's TEARDOWN",
        &r,
        200,
    );

    let r = c.request("TEARDOWN", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: TEARDOWN in Ready", &r, 200);
    let r = c.request("PLAY", &base, &[("Session", &id)]);
    k.status("RFC 2326 11.3.5: PLAY after TEARDOWN (454)", &r, 454);
    let r = c.request("TEARDOWN", &base, &[("Session", &id)]);
    k.status("RFC 2326 11.3.5: a second TEARDOWN (454)", &r, 454);
    let r = c.request("SETUP", &track, &[("Transport", &udp)]);
    k.status("RFC 2326 A.2: SETUP again from Init", &r, 200);
    k.check(
        "RFC 2326 12.37: a new session after TEARDOWN, not the old one back",
        session_id(&r) != id,
        session_id(&r),
    );

    // RFC 2326 4.3 / 12.14: no Content-Length, no body: the bytes after the head are the next
    // request, and both are answered, in order.
    c.send_raw(
        b"GET_PARAMETER * RTSP/1.0\r\nCSeq: 50\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 51\r\n\r\n",
    );
    let first = c.try_read_response(Duration::from_secs(3));
    let second = c.try_read_response(Duration::from_secs(3));
    let cseqs = (
        first.as_ref().ok().and_then(|r| r.headers.cseq()),
        second.as_ref().ok().and_then(|r| r.headers.cseq()),
    );
    k.check(
        "RFC 2326 12.14: without Content-Length the next bytes are the next request",
        cseqs == (Some(50), Some(51)),
        format!("{cseqs:?}"),
    );
}

/// RTCP that does not come from the client's RTCP port is not the client's (RFC 3550 8.2:
/// a report from elsewhere could be anyone's): it must not be taken, nor break anything.
fn foreign_rtcp(server: &server::ServerHandle, k: &mut Checks) {
    let base = url(server, "video.mjpeg");
    let mut c = RtspConn::connect(server.addr);
    let (rtp, rtcp_sock) = udp_pair();
    let port = rtp.local_addr().unwrap().port();
    let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
    let r = c.request("SETUP", &format!("{base}/track1"), &[("Transport", &t)]);
    let id = session_id(&r);
    let reply = Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
    let server_rtcp = SocketAddr::new(server.addr.ip(), reply.server_port.unwrap().rtcp.unwrap());
    assert_eq!(c.request("PLAY", &base, &[("Session", &id)]).status.0, 200);

    // From another port of the client's host, and from another loopback address on the
    // client's very port.
    let other_port = UdpSocket::bind("127.0.0.1:0").unwrap();
    other_port.send_to(&marked_rr(0xbad1), server_rtcp).unwrap();
    if let Ok(other_host) = UdpSocket::bind(("127.0.0.2", port + 1)) {
        other_host.send_to(&marked_rr(0xbad2), server_rtcp).unwrap();
    }
    // From the client's port: a datagram that is no RTCP, and one larger than any RTCP read.
    rtcp_sock.send_to(b"not rtcp at all", server_rtcp).unwrap();
    rtcp_sock.send_to(&vec![0x80; 9000], server_rtcp).unwrap();
    // Then the client's own report, which must be taken: once it is, the others (sent
    // before it, to the same socket) would have been too.
    rtcp_sock.send_to(&marked_rr(0x600d), server_rtcp).unwrap();
    let taken = wait_until(Duration::from_secs(3), || has_report(server, 0x600d));
    k.check(
        "RFC 3550 6.4.2: the client's own receiver report is read",
        taken,
        "not recorded",
    );
    k.check(
        "RFC 3550 8.2: RTCP from another port of the client's host is ignored",
        !has_report(server, 0xbad1),
        "recorded",
    );
    k.check(
        "RFC 3550 8.2: RTCP from another address on the client's port is ignored",
        !has_report(server, 0xbad2),
        "recorded",
    );
    let r = c.request("GET_PARAMETER", &base, &[("Session", &id)]);
    k.status(
        "RFC 3550 6.1: a datagram that is no RTCP leaves the session alive",
        &r,
        200,
    );
}

/// Interleaved framing abuse on a TCP session (RFC 2326 10.12: `$`, channel, 16-bit length,
/// data; only between messages).
fn interleaved(server: &server::ServerHandle, k: &mut Checks) {
    let base = url(server, "video.mjpeg");
    let mut c = FramedConn::connect(server.addr);
    let r = c.request(
        "SETUP",
        &format!("{base}/track1"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    k.status("RFC 2326 10.12: SETUP interleaved=0-1", &r, 200);
    let id = session_id(&r);
    let r = c.request("PLAY", &base, &[("Session", &id)]);
    k.status("RFC 2326 10.12: PLAY over TCP", &r, 200);

    // Each abuse, then a request that must get its own answer (and no other).
    fn after(c: &mut FramedConn, k: &mut Checks, name: &str, bytes: Vec<Vec<u8>>) {
        for b in bytes {
            c.send_raw(&b);
        }
        c.cseq += 1;
        let cseq = c.cseq;
        c.send_raw(format!("OPTIONS * RTSP/1.0\r\nCSeq: {cseq}\r\n\r\n").as_bytes());
        let got = c.read_response(Duration::from_secs(3));
        let ok = got
            .as_ref()
            .is_ok_and(|r| r.status.0 == 200 && r.headers.cseq() == Some(cseq));
        let what = match &got {
            Ok(r) => format!("{} CSeq {:?}", r.status.0, r.headers.cseq()),
            Err(e) => e.clone(),
        };
        k.check(name, ok, what);
    }
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a frame on a channel no session uses is skipped",
        vec![dollar(9, &[0xab; 100])],
    );
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a zero-length frame on the RTCP channel is skipped",
        vec![dollar(1, &[])],
    );
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a zero-length frame on an unknown channel is skipped",
        vec![dollar(200, &[])],
    );
    after(
        &mut c,
        k,
        "RFC 2326 10.12: RTP from the client on the RTP channel is skipped",
        vec![dollar(0, &[0x80, 26, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2])],
    );
    // The largest frame there is, in three writes with the header itself cut in two.
    let big = dollar(7, &vec![0x5a; 65535]);
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a 65535-byte frame arriving in pieces is skipped whole",
        vec![
            big[..2].to_vec(),
            big[2..30000].to_vec(),
            big[30000..].to_vec(),
        ],
    );
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a frame holding an RTSP request is data, not a request",
        vec![dollar(3, b"TEARDOWN * RTSP/1.0\r\nCSeq: 999\r\n\r\n")],
    );

    // RFC 2326 10.12 / 12.14: a `$` where a body is is the body, not a frame.
    let body = dollar(1, b"abcd");
    c.cseq += 1;
    let cseq = c.cseq;
    c.send_raw(
        &[
            format!(
                "SET_PARAMETER * RTSP/1.0\r\nCSeq: {cseq}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body,
        ]
        .concat(),
    );
    let got = c.read_response(Duration::from_secs(3));
    k.check(
        "RFC 2326 12.14: a body that starts with `$` is read as the body",
        got.as_ref()
            .is_ok_and(|r| r.status.0 == 501 && r.headers.cseq() == Some(cseq)),
        format!("{:?}", got.map(|r| (r.status.0, r.headers.cseq()))),
    );
    after(
        &mut c,
        k,
        "RFC 2326 12.14: nothing of that body is answered as a frame or request",
        vec![],
    );

    // A `$` inside a request's head is no frame (frames come between messages): the head is
    // malformed, 400, and the connection goes on.
    c.cseq += 1;
    let cseq = c.cseq;
    c.send_raw(
        &[
            &b"OPTIONS * RTSP/1.0\r\n"[..],
            &dollar(9, b"ab"),
            format!("CSeq: {cseq}\r\n\r\n").as_bytes(),
        ]
        .concat(),
    );
    let got = c.read_response(Duration::from_secs(3));
    k.check(
        "RFC 2326 10.12 / RFC 7230 3.2: `$` inside a request head (400)",
        got.as_ref().is_ok_and(|r| r.status.0 == 400),
        format!("{:?}", got.map(|r| r.status.0)),
    );
    after(
        &mut c,
        k,
        "RFC 2326 10.12: the connection goes on after that 400",
        vec![],
    );

    // RFC 2326 10.12: the client's RTCP on the session's RTCP channel is read.
    after(
        &mut c,
        k,
        "RFC 2326 10.12: a receiver report on the RTCP channel",
        vec![dollar(1, &marked_rr(0x7cb))],
    );
    k.check(
        "RFC 2326 10.12 / RFC 3550 6.4.2: the interleaved receiver report is read",
        wait_until(Duration::from_secs(3), || has_report(server, 0x7cb)),
        "not recorded",
    );
    k.check(
        "RFC 2326 10.12: RTP kept coming on channel 0 through it all",
        c.frames.iter().any(|(ch, _)| *ch == 0),
        format!("{} frames", c.frames.len()),
    );
    let r = c.request("TEARDOWN", &base, &[("Session", &id)]);
    k.status("RFC 2326 A.2: TEARDOWN over TCP while playing", &r, 200);
}

/// The server's limits (server::Config): each answered as RFC 2326 says, and freed again.
fn limits(k: &mut Checks) {
    // --max-sessions: RFC 2326 7.1.1 / RFC 7231 6.6.4, 503 for a temporary overload.
    {
        let server = start_server(&videos_dir(), |c| c.max_sessions = 2);
        let base = url(&server, "video.mjpeg");
        let track = format!("{base}/track1");
        let udp = [("Transport", "RTP/AVP;unicast;client_port=5020-5021")];
        let mut conns: Vec<RtspConn> = (0..3).map(|_| RtspConn::connect(server.addr)).collect();
        let a = conns[0].request("SETUP", &track, &udp);
        let b = conns[1].request("SETUP", &track, &udp);
        k.check(
            "RFC 2326 10.4: two SETUPs within --max-sessions 2",
            a.status.0 == 200 && b.status.0 == 200,
            format!("{} {}", a.status.0, b.status.0),
        );
        let r = conns[2].request("SETUP", &track, &udp);
        k.status(
            "RFC 2326 7.1.1 (503): a third SETUP past --max-sessions",
            &r,
            503,
        );
        let b_id = session_id(&b);
        let named = [("Session", b_id.as_str()), udp[0]];
        let r = conns[1].request("SETUP", &track, &named);
        k.status(
            "RFC 2326 10.4: at the limit, a SETUP naming an existing session is no new one",
            &r,
            200,
        );
        let r = conns[2].request("OPTIONS", "*", &[]);
        k.status(
            "RFC 2326 10.1: the refused client's connection goes on",
            &r,
            200,
        );
        let r = conns[0].request("TEARDOWN", &base, &[("Session", &session_id(&a))]);
        k.status("RFC 2326 10.7: TEARDOWN frees a session", &r, 200);
        wait_until(Duration::from_secs(3), || {
            server.shared.sessions.load(Ordering::SeqCst) == 1
        });
        let r = conns[2].request("SETUP", &track, &udp);
        k.status(
            "RFC 2326 10.4: the freed place is taken by the next SETUP",
            &r,
            200,
        );
    }
    // --max-connections: the one over is answered 503 and closed, unread.
    {
        let server = start_server(&videos_dir(), |c| c.max_connections = 2);
        let mut a = RtspConn::connect(server.addr);
        let mut b = RtspConn::connect(server.addr);
        let both = (
            a.request("OPTIONS", "*", &[]).status.0,
            b.request("OPTIONS", "*", &[]).status.0,
        );
        k.check(
            "RFC 2326 10.1: two connections within --max-connections 2",
            both == (200, 200),
            format!("{both:?}"),
        );
        let mut extra = RtspConn::connect(server.addr);
        let r = extra.try_read_response(Duration::from_secs(3));
        k.check(
            "RFC 2326 7.1.1 (503): a connection past --max-connections",
            r.as_ref().is_ok_and(|r| r.status.0 == 503),
            format!("{:?}", r.map(|r| r.status.0)),
        );
        k.check(
            "RFC 7231 6.6.4: and the connection is closed",
            extra.closed_by(Instant::now() + Duration::from_secs(3)),
            "left open",
        );
        drop(a);
        wait_until(Duration::from_secs(3), || {
            server.shared.connections.load(Ordering::SeqCst) == 1
        });
        let mut next = RtspConn::connect(server.addr);
        let r = next.try_read_response(Duration::ZERO);
        k.check(
            "RFC 2326 10.1: no 503 once a place is free",
            r.is_err(),
            "a 503",
        );
        let r = next.request("OPTIONS", "*", &[]);
        k.status(
            "RFC 2326 10.1: the freed place serves the next connection",
            &r,
            200,
        );
        let r = b.request("OPTIONS", "*", &[]);
        k.status(
            "RFC 2326 10.1: the connection at the limit is still served",
            &r,
            200,
        );
    }
    // Limits on requests: body and header count.
    {
        let server = start_server(&videos_dir(), |c| {
            c.limits.max_body = 16;
            c.limits.max_headers = 8;
        });
        let mut c = RtspConn::connect(server.addr);
        let body = |n: usize| {
            format!(
                "GET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {n}\r\n\r\n{}",
                "b".repeat(n)
            )
        };
        c.send_raw(body(16).as_bytes());
        let r = c
            .try_read_response(Duration::from_secs(3))
            .map(|r| r.status.0);
        k.check(
            "RFC 2326 12.14: a body at the --limits size is read",
            r == Ok(200),
            format!("{r:?}"),
        );
        c.send_raw(body(17).as_bytes());
        let r = c
            .try_read_response(Duration::from_secs(3))
            .map(|r| r.status.0);
        k.check(
            "RFC 2326 7.1.1 (413): a body one byte over the limit",
            r == Ok(413),
            format!("{r:?}"),
        );
        let headers = |n: usize| -> String {
            let mut s = String::from("OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n");
            for i in 0..n {
                s.push_str(&format!("X-{i}: y\r\n"));
            }
            s + "\r\n"
        };
        let mut c = RtspConn::connect(server.addr);
        c.send_raw(headers(7).as_bytes());
        let r = c
            .try_read_response(Duration::from_secs(3))
            .map(|r| r.status.0);
        k.check(
            "RFC 7230 3.2.5: 8 header fields at a limit of 8",
            r == Ok(200),
            format!("{r:?}"),
        );
        c.send_raw(headers(8).as_bytes());
        let r = c
            .try_read_response(Duration::from_secs(3))
            .map(|r| r.status.0);
        k.check(
            "RFC 7230 3.2.5: 9 header fields past a limit of 8 (4xx)",
            r == Ok(400),
            format!("{r:?}"),
        );
    }
    // Request and idle timeouts (the idle one longer: a half-arrived request is timed by
    // the request timeout, and the longer of the two would never be seen).
    {
        let server = start_server(&videos_dir(), |c| {
            c.request_timeout = Duration::from_millis(300);
            c.idle_timeout = Duration::from_millis(600);
        });
        let mut slow = RtspConn::connect(server.addr);
        slow.send_raw(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n");
        let r = slow
            .try_read_response(Duration::from_secs(3))
            .map(|r| r.status.0);
        k.check(
            "RFC 2326 7.1.1 / RFC 7231 6.5.7 (408): a request unfinished past the timeout",
            r == Ok(408),
            format!("{r:?}"),
        );
        k.check(
            "RFC 7231 6.5.7: the 408 closes the connection",
            slow.closed_by(Instant::now() + Duration::from_secs(3)),
            "left open",
        );
        let mut idle = RtspConn::connect(server.addr);
        let start = Instant::now();
        let r = idle.request("OPTIONS", "*", &[]);
        k.status("RFC 2326 10.1: OPTIONS before idling", &r, 200);
        let closed = idle.closed_by(Instant::now() + Duration::from_secs(3));
        k.check(
            "RFC 2326 12.37 / --idle-timeout: a connection with no session is closed when idle",
            closed && start.elapsed() >= Duration::from_millis(600),
            format!("closed {closed} after {:?}", start.elapsed()),
        );
    }
}

/// Many connections at once against the main server, each answered, all released.
fn crowd(server: &server::ServerHandle, k: &mut Checks) {
    let mut conns: Vec<RtspConn> = (0..50).map(|_| RtspConn::connect(server.addr)).collect();
    let ok = conns
        .iter_mut()
        .map(|c| c.request("OPTIONS", "*", &[]).status.0)
        .filter(|&s| s == 200)
        .count();
    k.check(
        "RFC 2326 10.1: 50 connections at once, each answered",
        ok == 50,
        ok,
    );
}

#[test]
fn hostile_stateful_battery_leaves_no_thread_or_descriptor_behind() {
    let server = start_server(&videos_dir(), |_| {});
    // Warm-up: the first session starts what the server starts lazily (its media cache, any
    // conversion workers), so the reading before counts them too.
    still_plays(&server);
    let idle = || {
        server.shared.connections.load(Ordering::SeqCst) == 0
            && server.shared.sessions.load(Ordering::SeqCst) == 0
    };
    assert!(wait_until(Duration::from_secs(5), idle), "warm-up not over");
    let before = settled(Duration::from_secs(5));

    let mut k = Checks::default();
    // The table again, as load: tests/hostile.rs checks its answers.
    let (table, _) = hostile_cases::run_table(&server, false);
    sessions(&server, &mut k);
    foreign_rtcp(&server, &mut k);
    interleaved(&server, &mut k);
    crowd(&server, &mut k);
    limits(&mut k);
    // Everything the battery opened is closed by now (each part drops its own); the server
    // must let go of it all.
    still_plays(&server);
    let back = wait_until(Duration::from_secs(10), || {
        let now = proc_counts();
        idle() && now.threads <= before.threads && now.fds <= before.fds
    });
    let after = proc_counts();
    eprintln!(
        "{} stateful checks ({table} table cases as load); before {before:?}, after {after:?}",
        k.count
    );
    k.check(
        "threads and descriptors back to their count before the battery",
        back,
        format!("{after:?}, before {before:?}"),
    );
    // Memory is not returned to the system page by page; it must only not have run away.
    k.check(
        "VmRSS grew by less than 64 MiB",
        after.rss_kib < before.rss_kib + 64 * 1024,
        format!("{} KiB after {} KiB", after.rss_kib, before.rss_kib),
    );
    assert!(k.count >= 40, "{} checks", k.count);
    assert!(
        k.failures.is_empty(),
        "{} of {} checks failed:\n{}",
        k.failures.len(),
        k.count,
        k.failures.join("\n")
    );
}
