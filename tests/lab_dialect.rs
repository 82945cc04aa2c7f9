//! The classic lab's Python client, emulated byte for byte from the facts in DESIGN.md: one
//! `send()` per request, LF lines, no blank line, a bare file name; each reply read with one
//! `recv(1024)` and parsed by line number; each datagram read with `recv(20480)`, 12 header
//! bytes stripped, the rest taken as one whole JPEG if its sequence number is newer.

mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use support::*;

/// Python's `int()` on one token: surrounding white space allowed, then decimal digits (of
/// any length: Python's integers have no bound, and session ids are 64-bit).
fn py_int(token: &str) -> i128 {
    let t = token.trim_matches(|c: char| c.is_whitespace());
    assert!(
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
        "int({token:?}) raises ValueError"
    );
    t.parse().unwrap()
}

struct LabClient {
    rtsp: TcpStream,
    seq: u32,
    session: i128,
    /// `self.frameNbr`: the newest sequence number shown.
    frame_nbr: i128,
}

impl LabClient {
    fn connect(server: &server::ServerHandle) -> LabClient {
        let rtsp = TcpStream::connect(server.addr).unwrap();
        rtsp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        LabClient {
            rtsp,
            seq: 0,
            session: 0,
            frame_nbr: 0,
        }
    }

    /// `sendRtspRequest` then `recvRtspReply`/`parseRtspReply`.
    fn request(&mut self, method: &str, file: &str, rtp_port: u16) {
        self.seq += 1;
        let mut req = format!("{method} {file} RTSP/1.0\nCSeq: {}", self.seq);
        if method == "SETUP" {
            req.push_str(&format!("\nTransport: RTP/UDP; client_port= {rtp_port}"));
        } else {
            req.push_str(&format!("\nSession: {}", self.session));
        }
        self.rtsp.write_all(req.as_bytes()).unwrap();

        let mut buf = [0u8; 1024];
        let n = self.rtsp.read(&mut buf).unwrap();
        assert!(n > 0, "no reply to {method}");
        let data = std::str::from_utf8(&buf[..n]).unwrap();
        // The whole reply must come in this one recv(1024): nothing may be left over.
        assert!(
            data.ends_with("\r\n\r\n") || data.ends_with('\n'),
            "partial reply {data:?}"
        );
        let lines: Vec<&str> = data.split('\n').collect();
        let seq_num = py_int(lines[1].split(' ').nth(1).expect("line 2 is 'CSeq: N'"));
        assert_eq!(seq_num, self.seq as i128, "reply {data:?}");
        let session = py_int(lines[2].split(' ').nth(1).expect("line 3 is 'Session: N'"));
        if self.session == 0 {
            self.session = session;
        }
        assert_eq!(self.session, session, "the session id changed");
        assert_eq!(
            py_int(lines[0].split(' ').nth(1).unwrap()),
            200,
            "reply {data:?}"
        );
        assert!(
            lines[1].starts_with("CSeq: ") && lines[2].starts_with("Session: "),
            "{data:?}"
        );
    }

    /// `listenRtp` for a while: returns the sequence numbers of the frames it would show and
    /// checks each is a whole JPEG equal to the source frame of that number.
    fn listen(&mut self, rtp: &UdpSocket, frames: usize, source: &[Vec<u8>]) -> Vec<i128> {
        let mut shown = Vec::new();
        let mut buf = vec![0u8; 20480];
        rtp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        while shown.len() < frames {
            let n = rtp.recv(&mut buf).expect("a frame within 2 s");
            assert!(
                n < 20480,
                "datagram of {n} bytes would be cut by recv(20480)"
            );
            let data = &buf[..n];
            assert_eq!(data[0] >> 6, 2, "RTP version");
            assert_eq!(data[1] & 0x7f, 26, "payload type");
            let curr = u16::from_be_bytes([data[2], data[3]]) as i128;
            if curr > self.frame_nbr {
                self.frame_nbr = curr;
                let jpeg = &data[12..];
                assert_eq!(
                    jpeg,
                    &source[(curr - 1) as usize % source.len()][..],
                    "frame {curr}"
                );
                shown.push(curr);
            }
        }
        shown
    }
}

#[test]
fn lab_client_plays_pauses_resumes_and_tears_down() {
    let server = start_server(&videos_dir(), |_| {});
    let source = sample_frames();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut lab = LabClient::connect(&server);

    lab.request("SETUP", "video.mjpeg", port);
    lab.request("PLAY", "video.mjpeg", port);
    let first = lab.listen(&rtp, 10, &source);
    assert_eq!(
        first,
        (1..=10).collect::<Vec<_>>(),
        "datagrams numbered 1, 2, 3..."
    );

    lab.request("PAUSE", "video.mjpeg", port);
    // Let in-flight datagrams land, then nothing more while paused.
    let late = receive_for(&rtp, Duration::from_millis(200), |_| false);
    let last = late
        .iter()
        .map(|(_, d)| u16::from_be_bytes([d[2], d[3]]) as i128)
        .max()
        .unwrap_or(10);
    lab.frame_nbr = last;
    assert!(
        receive_for(&rtp, Duration::from_millis(300), |_| false).is_empty(),
        "sent while paused"
    );

    lab.request("PLAY", "video.mjpeg", port);
    let resumed = lab.listen(&rtp, 5, &source);
    assert_eq!(
        resumed,
        (last + 1..=last + 5).collect::<Vec<_>>(),
        "numbers continue after PAUSE/PLAY"
    );

    lab.request("TEARDOWN", "video.mjpeg", port);
    receive_for(&rtp, Duration::from_millis(200), |_| false);
    assert!(
        receive_for(&rtp, Duration::from_millis(300), |_| false).is_empty(),
        "sent after TEARDOWN"
    );
    assert!(wait_until(Duration::from_secs(2), || {
        server
            .shared
            .sessions
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
    }));
}

#[test]
fn lab_replies_are_small_and_have_no_timeout_parameter() {
    let server = start_server(&videos_dir(), |_| {});
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"SETUP video.mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 5008")
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = c.read(&mut buf).unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(n <= 1024, "{n}-byte reply exceeds the lab's recv(1024)");
    let session_line = reply.split('\n').nth(2).unwrap().trim_end();
    assert!(!session_line.contains(';'), "{session_line:?}");
    let id = session_line.strip_prefix("Session: ").unwrap();
    assert!(
        id.bytes().all(|b| b.is_ascii_digit()),
        "decimal session id, got {id:?}"
    );
}

#[test]
fn lab_requests_for_a_missing_file_get_an_error_the_lab_client_can_see() {
    // The lab's own server never errs; ours answers 404 with CSeq on line 2, so the lab client
    // reads a non-200 code instead of hanging.
    let server = start_server(&videos_dir(), |_| {});
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"SETUP missing.Mjpeg RTSP/1.0\nCSeq: 1\nTransport: RTP/UDP; client_port= 5008")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap();
    let reply = std::str::from_utf8(&buf[..n]).unwrap();
    let lines: Vec<&str> = reply.split('\n').collect();
    assert_eq!(py_int(lines[0].split(' ').nth(1).unwrap()), 404);
    assert_eq!(py_int(lines[1].split(' ').nth(1).unwrap()), 1);
}
