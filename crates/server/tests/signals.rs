//! SIGTERM and SIGINT: the server sends every session an RTCP BYE and exits 0.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rtsp_proto::rtcp::{self, RtcpPacket};
use support::*;

#[test]
fn sigterm_and_sigint_send_bye_and_exit_0() {
    for signal in ["-TERM", "-INT"] {
        let mut server = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["0", "--bind", "127.0.0.1", "--videos"])
            .arg(videos_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // "serving ... on rtsp://127.0.0.1:PORT/" tells the port it got.
        let mut line = String::new();
        BufReader::new(server.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .split("127.0.0.1:")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let p = describe_setup_play(addr, &format!("rtsp://127.0.0.1:{port}/video.mjpeg"));
        assert!(!receive_for(&p.rtp, Duration::from_secs(2), |g| !g.is_empty()).is_empty());
        let killed = Command::new("kill")
            .arg(signal)
            .arg(server.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let rtcp = receive_for(&p.rtcp, Duration::from_secs(5), |g| {
            g.iter().any(|(_, d)| {
                rtcp::parse_compound(d)
                    .is_ok_and(|c| c.iter().any(|p| matches!(p, RtcpPacket::Goodbye { .. })))
            })
        });
        assert!(
            rtcp.iter().any(|(_, d)| rtcp::parse_compound(d)
                .unwrap()
                .iter()
                .any(|p| matches!(p, RtcpPacket::Goodbye { .. }))),
            "{signal}: no BYE"
        );
        let status = server.wait().unwrap();
        assert!(status.success(), "{signal}: exit {status:?}");
    }
}
