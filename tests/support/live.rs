//! A live path's publisher made by hand, for tests that must control every packet it sends
//! (tests/live_publish.rs, tests/live_latency.rs): ANNOUNCE, SETUP `mode=record` over UDP or
//! interleaved TCP, RECORD, then RFC 2435 packets of the JPEGs the test gives.

use std::net::{SocketAddr, UdpSocket};

use rtsp_proto::jpeg::{fragments, JpegInfo};
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN};
use rtsp_proto::rtsp::{Response, Session};

use super::{udp_pair, RtspConn};

/// The JPEG SDP a publisher announces (what ffmpeg sends for `-c:v mjpeg -f rtsp`).
pub const SDP: &str =
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";

pub fn live_url(server: &server::ServerHandle, name: &str) -> String {
    format!("rtsp://{}/live/{name}", server.addr)
}

pub fn session_of(r: &Response) -> String {
    Session::parse(r.headers.get("Session").expect("a Session header"))
        .unwrap()
        .id
}

/// Sends a request with a body (and `extra` header lines, each ending in CRLF) on `conn`,
/// returns the response.
pub fn request_with_body(
    conn: &mut RtspConn,
    method: &str,
    uri: &str,
    kind: &str,
    body: &[u8],
    extra: &str,
) -> Response {
    conn.cseq += 1;
    let mut bytes = format!(
        "{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n{extra}Content-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
        conn.cseq,
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    conn.send_raw(&bytes);
    conn.read_response()
}

pub fn announce(conn: &mut RtspConn, url: &str, sdp: &str) -> Response {
    request_with_body(conn, "ANNOUNCE", url, "application/sdp", sdp.as_bytes(), "")
}

/// A publisher made by hand: what ffmpeg does, with packets the test controls.
pub struct TestPublisher {
    pub conn: RtspConn,
    pub session: String,
    pub url: String,
    /// UDP: our RTP socket (bound to the client_port we named) and the server's RTP port.
    pub udp: Option<(UdpSocket, SocketAddr)>,
    pub ssrc: u32,
    pub seq: u16,
}

impl TestPublisher {
    /// ANNOUNCE, SETUP mode=record (UDP or TCP), RECORD: each answered 200.
    pub fn start(server: &server::ServerHandle, name: &str, tcp: bool) -> TestPublisher {
        let url = live_url(server, name);
        let mut conn = RtspConn::connect(server.addr);
        let r = announce(&mut conn, &url, SDP);
        assert_eq!(r.status.0, 200, "ANNOUNCE: {r:?}");
        let (transport, socket) = match tcp {
            true => (
                "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record".to_string(),
                None,
            ),
            false => {
                let (rtp, _rtcp) = udp_pair();
                let port = rtp.local_addr().unwrap().port();
                let t = format!(
                    "RTP/AVP;unicast;client_port={port}-{};mode=record",
                    port + 1
                );
                (t, Some(rtp))
            }
        };
        let r = conn.request(
            "SETUP",
            &format!("{url}/streamid=0"),
            &[("Transport", &transport)],
        );
        assert_eq!(r.status.0, 200, "SETUP: {r:?}");
        let session = session_of(&r);
        let t = rtsp_proto::rtsp::Transport::parse(r.headers.get("Transport").unwrap()).unwrap();
        let udp = socket.map(|s| {
            let port = t.server_port.expect("server_port").rtp;
            (s, SocketAddr::from(([127, 0, 0, 1], port)))
        });
        let r = conn.request(
            "RECORD",
            &url,
            &[("Session", &session), ("Range", "npt=0.000-")],
        );
        assert_eq!(r.status.0, 200, "RECORD: {r:?}");
        TestPublisher {
            conn,
            session,
            url,
            udp,
            ssrc: 0x1234_5678,
            seq: 1,
        }
    }

    /// The RTP packets of a JPEG, RFC 2435 with in-band tables, from this publisher.
    pub fn packets(&mut self, jpeg: &[u8], timestamp: u32, ssrc: u32) -> Vec<Vec<u8>> {
        let info = JpegInfo::parse(jpeg).unwrap();
        let params = info.rfc2435().unwrap();
        let scan = &jpeg[info.scan_data.start..info.len];
        fragments(&params, scan, 1400)
            .map(|f| {
                let mut head = [0u8; FIXED_HEADER_LEN];
                RtpHeader {
                    marker: f.last,
                    payload_type: 26,
                    sequence_number: self.seq,
                    timestamp,
                    ssrc,
                }
                .write(&mut head);
                self.seq = self.seq.wrapping_add(1);
                [&head[..], f.header(), f.data].concat()
            })
            .collect()
    }

    pub fn send_packets(&mut self, packets: &[Vec<u8>]) {
        for p in packets {
            match &self.udp {
                Some((s, to)) => {
                    s.send_to(p, to).unwrap();
                }
                None => {
                    let mut out = Vec::new();
                    rtsp_proto::interleaved::write(0, &[p], &mut out).unwrap();
                    self.conn.send_raw(&out);
                }
            }
        }
    }

    /// Sends frame `n` of `frames` (its RTP time n * 4500, 20 fps).
    pub fn send_frame(&mut self, frames: &[Vec<u8>], n: usize) {
        let packets = self.packets(&frames[n % frames.len()], n as u32 * 4500, self.ssrc);
        self.send_packets(&packets);
    }

    pub fn teardown(&mut self) {
        let r = self
            .conn
            .request("TEARDOWN", &self.url, &[("Session", &self.session)]);
        assert_eq!(r.status.0, 200, "TEARDOWN: {r:?}");
    }
}
