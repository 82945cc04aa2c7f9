//! A client may pipeline requests (RFC 2326 follows HTTP/1.1 here), but one that never reads
//! the answers must not make the server hold them all: past a bound the server stops reading
//! that connection's requests. Its memory stays flat, and other clients are served meanwhile.
//! (The server runs in this test's process, alone in this test binary, so the process's RSS is
//! the server's.)

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_client_that_never_reads_its_answers_costs_bounded_memory_and_others_are_served() {
    let server = start_server(&videos_dir(), |_| {});
    let url = url(&server, "video.mjpeg");
    let mut other = RtspConn::connect(server.addr);
    // The file is prepared before the measurement starts.
    let r = other.request("DESCRIBE", &url, &[("Accept", "application/sdp")]);
    assert_eq!(r.status.0, 200);
    let before = rss_kib();

    let addr = server.addr;
    let describe = format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n");
    let flood = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let burst = describe.repeat(100);
        let end = Instant::now() + Duration::from_secs(5);
        let mut sent = 0;
        while Instant::now() < end {
            // Once the server stops reading, the kernel's buffers fill and writes time out.
            if let Ok(n) = s.write(burst.as_bytes()) {
                sent += n;
            }
        }
        (sent, s)
    });
    let mut slowest = Duration::ZERO;
    while !flood.is_finished() {
        let asked = Instant::now();
        let r = other.request("DESCRIBE", &url, &[("Accept", "application/sdp")]);
        assert_eq!(r.status.0, 200, "another client during the flood");
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (sent, _flooding) = flood.join().unwrap();
    let grown = rss_kib().saturating_sub(before);
    eprintln!(
        "flood: {} KiB of DESCRIBEs written in 5 s; server RSS grew {grown} KiB; the other \
         client's slowest answer {slowest:?}",
        sent / 1024
    );
    assert!(grown < 10 << 10, "RSS grew {grown} KiB");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}
