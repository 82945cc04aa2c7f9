//! Seeking and trick play against our server, over UDP and over TCP interleaved: PLAY with a
//! Range while playing seeks at once, a Range with an end sends exactly its frames, and Scale
//! and Speed choose and pace the frames. Every received frame is compared by its scan data
//! with the source frame the answer's Range and Scale say it must be.
//!
//! gst-rtsp-server, asked the same by hand (`tests/peers/gst_server.py` serving an AVI of the
//! sample through `avidemux`), answers PLAY `Scale: 2` with `Scale: 1.000` and `Speed: 2.000`
//! (it delivers faster instead of choosing frames), `Scale: -1` with `Range: npt=4.99-1.00`
//! (a backward range, start above end) and `Speed: -1.000`, a Range while playing with the new
//! Range and a new RTP-Info at once, and `Scale: 0` or `Scale: abc` with 400. Our server
//! chooses frames instead (every frame is a key frame) and says the Scale it applied.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::Depacketizer;
use rtsp_proto::rtcp::{self, RtcpPacket};
use rtsp_proto::rtp::{seq_diff, RtpPacket};
use rtsp_proto::rtsp::{Response, RtpInfo, Session};
use support::*;

/// The sample video's rate (the server's default `--fps`), and a frame period at 90 kHz.
const FPS: f64 = 20.0;
const TICKS: u32 = 4500;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Udp,
    Tcp,
}

/// One RTP packet as received, and whether it came after the last PLAY's answer (known over
/// TCP only, where packets and answers share one ordered stream).
struct Packet {
    bytes: Vec<u8>,
    after_answer: bool,
}

/// A frame put back together from its packets.
#[derive(Debug)]
struct Frame {
    seq: u16,
    rtptime: u32,
    jpeg: Vec<u8>,
}

/// A set-up session of the sample video, its RTP over `via`.
struct Trick {
    conn: FramedConn,
    /// RTP and RTCP sockets, over UDP.
    udp: Option<(UdpSocket, UdpSocket)>,
    url: String,
    session: String,
    /// How many interleaved frames the connection held when the last answer came.
    answered_at: usize,
    source: Vec<Vec<u8>>,
}

impl Trick {
    fn open(server: &server::ServerHandle, via: Via) -> Trick {
        let url = url(server, "video.mjpeg");
        let mut conn = FramedConn::connect(server.addr);
        let (udp, transport) = match via {
            Via::Udp => {
                let (rtp, rtcp) = udp_pair();
                let port = rtp.local_addr().unwrap().port();
                let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
                (Some((rtp, rtcp)), t)
            }
            Via::Tcp => (None, "RTP/AVP/TCP;unicast;interleaved=0-1".to_string()),
        };
        let r = conn.request(
            "SETUP",
            &format!("{url}/track1"),
            &[("Transport", &transport)],
        );
        assert_eq!(r.status.0, 200, "{r:?}");
        let session = Session::parse(r.headers.get("Session").unwrap())
            .unwrap()
            .id;
        Trick {
            conn,
            udp,
            url,
            session,
            answered_at: 0,
            source: sample_frames(),
        }
    }

    fn request(&mut self, method: &str, headers: &[(&str, &str)]) -> Response {
        let mut all = vec![("Session", self.session.as_str())];
        all.extend_from_slice(headers);
        let url = self.url.clone();
        let r = self.conn.request(method, &url, &all);
        self.answered_at = self.conn.frames.len();
        r
    }

    /// PLAY, which must be answered 200; the answer's first RTP-Info entry.
    fn play(&mut self, headers: &[(&str, &str)]) -> (Response, RtpInfo) {
        let r = self.request("PLAY", headers);
        assert_eq!(r.status.0, 200, "PLAY {headers:?}: {r:?}");
        let info = RtpInfo::parse_list(r.headers.get("RTP-Info").unwrap()).unwrap();
        (r, info[0].clone())
    }

    /// RTP packets until `enough` says so or `timeout` passes, and whether a BYE came.
    fn receive(
        &mut self,
        timeout: Duration,
        enough: impl Fn(&[Packet]) -> bool,
    ) -> (Vec<Packet>, bool) {
        let end = Instant::now() + timeout;
        let mut packets = Vec::new();
        let mut bye = false;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end && !enough(&packets) {
            match &self.udp {
                Some((rtp, rtcp)) => {
                    rtp.set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                    if let Ok(n) = rtp.recv(&mut buf) {
                        let bytes = buf[..n].to_vec();
                        packets.push(Packet {
                            bytes,
                            after_answer: false,
                        });
                    }
                    rtcp.set_nonblocking(true).unwrap();
                    while let Ok(n) = rtcp.recv(&mut buf) {
                        bye |= is_bye(&buf[..n]);
                    }
                }
                None => {
                    if let Ok(r) = self.conn.read_response(Duration::from_millis(20)) {
                        panic!("an answer no request asked for: {r:?}");
                    }
                    for (i, (channel, bytes)) in self.conn.frames.drain(..).enumerate() {
                        let after_answer = i >= self.answered_at;
                        match channel {
                            0 => packets.push(Packet {
                                bytes,
                                after_answer,
                            }),
                            _ => bye |= is_bye(&bytes),
                        }
                    }
                    self.answered_at = 0;
                }
            }
        }
        (packets, bye)
    }

    /// The first `n` frames from the packet with sequence number `from` on (packets before it
    /// are from before the last PLAY and are dropped, as a client flushing at RTP-Info does).
    fn frames_from(&mut self, from: u16, n: usize) -> Vec<Frame> {
        let (packets, _) = self.receive(Duration::from_secs(10), |p| count_frames(p, from) >= n);
        let frames = assemble(&packets, from);
        assert!(
            frames.len() >= n,
            "{} frames of {n} within 10 s",
            frames.len()
        );
        frames.into_iter().take(n).collect()
    }

    /// Which source frame each of `frames` is (by its scan data, bit-exact).
    fn indexes(&self, frames: &[Frame]) -> Vec<usize> {
        frames
            .iter()
            .map(|f| {
                let scan = scan_data(&f.jpeg).expect("a parsable JPEG");
                self.source
                    .iter()
                    .position(|s| scan_data(s).as_ref() == Some(&scan))
                    .expect("a frame of the source")
            })
            .collect()
    }
}

fn is_bye(compound: &[u8]) -> bool {
    rtcp::parse_compound(compound)
        .is_ok_and(|ps| ps.iter().any(|p| matches!(p, RtcpPacket::Goodbye { .. })))
}

/// Packets with sequence numbers from `from` on.
fn since(packets: &[Packet], from: u16) -> impl Iterator<Item = RtpPacket<'_>> {
    packets
        .iter()
        .map(|p| RtpPacket::parse(&p.bytes).unwrap())
        .filter(move |p| seq_diff(p.header.sequence_number, from) >= 0)
}

fn count_frames(packets: &[Packet], from: u16) -> usize {
    since(packets, from).filter(|p| p.header.marker).count()
}

fn assemble(packets: &[Packet], from: u16) -> Vec<Frame> {
    let mut depay = Depacketizer::new(1 << 20);
    let mut frames = Vec::new();
    let mut first_seq = None;
    for p in since(packets, from) {
        first_seq.get_or_insert(p.header.sequence_number);
        let ev = depay.push(&p.header, p.payload);
        assert!(
            ev.dropped.is_empty(),
            "a frame was dropped: {:?}",
            ev.dropped
        );
        if let Some(jpeg) = ev.frame {
            let seq = first_seq.take().unwrap();
            frames.push(Frame {
                seq,
                rtptime: p.header.timestamp,
                jpeg,
            });
        }
    }
    frames
}

/// Each frame's RTP time is `ticks` after the one before.
fn spaced(frames: &[Frame], ticks: u32) -> bool {
    frames
        .windows(2)
        .all(|w| w[1].rtptime.wrapping_sub(w[0].rtptime) == ticks)
}

fn starts_at(frames: &[Frame], info: &RtpInfo) {
    assert_eq!(
        Some(frames[0].seq),
        info.seq,
        "RTP-Info's seq is the first packet's"
    );
    assert_eq!(
        Some(frames[0].rtptime),
        info.rtptime,
        "and its rtptime the first frame's"
    );
}

/// Runs `test` on a new session of one server over UDP, then over TCP, and tears it down.
fn on_udp_and_tcp(mut test: impl FnMut(Via, &mut Trick)) {
    let server = start_server(&videos_dir(), |_| {});
    for via in [Via::Udp, Via::Tcp] {
        let mut s = Trick::open(&server, via);
        test(via, &mut s);
        assert_eq!(s.request("TEARDOWN", &[]).status.0, 200, "{via:?}");
    }
}

#[test]
fn scale_2_and_4_send_every_other_and_every_fourth_frame_with_rtp_time_at_the_normal_rate() {
    on_udp_and_tcp(|via, s| {
        let (r, info) = s.play(&[("Range", "npt=2-"), ("Scale", "2")]);
        assert_eq!(r.headers.get("Scale"), Some("2.000"), "{via:?}");
        assert_eq!(r.headers.get("Range"), Some("npt=2.000-20.000"));
        assert_eq!(r.headers.get("Speed"), None, "Speed is answered when asked");
        let frames = s.frames_from(info.seq.unwrap(), 8);
        starts_at(&frames, &info);
        assert_eq!(
            s.indexes(&frames),
            (40..56).step_by(2).collect::<Vec<_>>(),
            "{via:?}"
        );
        assert!(
            spaced(&frames, TICKS),
            "{via:?}: one frame period of RTP time per frame"
        );

        let (r, info) = s.play(&[("Range", "npt=10-"), ("Scale", "4")]);
        assert_eq!(r.headers.get("Scale"), Some("4.000"));
        let frames = s.frames_from(info.seq.unwrap(), 6);
        starts_at(&frames, &info);
        assert_eq!(
            s.indexes(&frames),
            (200..224).step_by(4).collect::<Vec<_>>(),
            "{via:?}"
        );
        assert!(spaced(&frames, TICKS));
    });
}

#[test]
fn scale_half_holds_each_frame_for_two_periods_of_rtp_time() {
    on_udp_and_tcp(|via, s| {
        let (r, info) = s.play(&[("Range", "npt=1-"), ("Scale", "0.5")]);
        assert_eq!(r.headers.get("Scale"), Some("0.500"), "{via:?}");
        let frames = s.frames_from(info.seq.unwrap(), 5);
        starts_at(&frames, &info);
        assert_eq!(s.indexes(&frames), [20, 21, 22, 23, 24], "{via:?}");
        assert!(spaced(&frames, 2 * TICKS), "{via:?}");
    });
}

#[test]
fn scale_minus_1_plays_the_frames_backwards_from_a_backward_range() {
    on_udp_and_tcp(|via, s| {
        let (r, info) = s.play(&[("Range", "npt=5-"), ("Scale", "-1")]);
        assert_eq!(r.headers.get("Scale"), Some("-1.000"), "{via:?}");
        assert_eq!(
            r.headers.get("Range"),
            Some("npt=5.000-0.000"),
            "to the beginning"
        );
        let frames = s.frames_from(info.seq.unwrap(), 8);
        starts_at(&frames, &info);
        assert_eq!(
            s.indexes(&frames),
            (92..100).rev().collect::<Vec<_>>(),
            "{via:?}"
        );
        assert!(spaced(&frames, TICKS), "{via:?}: RTP time still grows");

        // RFC 2326 12.34's form: from 15 s down to 14.7 s, the frames of [14.7 s, 15 s).
        let (r, info) = s.play(&[("Range", "npt=15-14.7"), ("Scale", "-1")]);
        assert_eq!(r.headers.get("Range"), Some("npt=15.000-14.700"));
        let from = info.seq.unwrap();
        let (packets, bye) = s.receive(Duration::from_secs(10), |p| count_frames(p, from) >= 6);
        let frames = assemble(&packets, from);
        assert_eq!(
            s.indexes(&frames),
            [299, 298, 297, 296, 295, 294],
            "{via:?}"
        );
        let (more, bye_later) = s.receive(Duration::from_secs(2), |_| false);
        assert_eq!(count_frames(&more, from), 0, "nothing after the range");
        assert!(
            bye || bye_later,
            "{via:?}: the end of a range says BYE as the end of a file does"
        );
    });
}

#[test]
fn a_play_with_a_range_while_playing_seeks_at_once_and_nothing_old_follows_its_answer() {
    on_udp_and_tcp(|via, s| {
        let (_, info) = s.play(&[]);
        let before = s.frames_from(info.seq.unwrap(), 4);
        assert_eq!(s.indexes(&before), [0, 1, 2, 3]);
        // No PAUSE: the seek comes while frames flow.
        let (r, info) = s.play(&[("Range", "npt=10-")]);
        assert_eq!(r.headers.get("Range"), Some("npt=10.000-20.000"));
        let seq = info.seq.unwrap();
        let (packets, _) = s.receive(Duration::from_secs(10), |p| count_frames(p, seq) >= 4);
        // A client flushing at RTP-Info's seq loses nothing new and keeps nothing old.
        let frames = assemble(&packets, seq);
        starts_at(&frames, &info);
        assert_eq!(s.indexes(&frames[..4]), [200, 201, 202, 203], "{via:?}");
        let rtptime = info.rtptime.unwrap();
        let last_before = before.last().unwrap().rtptime;
        assert!(
            (rtptime.wrapping_sub(last_before) as i32) > 0,
            "RTP time goes on growing"
        );
        for p in &packets {
            let new = seq_diff(
                RtpPacket::parse(&p.bytes).unwrap().header.sequence_number,
                seq,
            ) >= 0;
            if p.after_answer {
                assert!(
                    new,
                    "{via:?}: a packet from before the seek came after its answer"
                );
            }
        }
    });
}

#[test]
fn a_range_with_an_end_sends_exactly_its_frames_and_one_frame_steps_walk_the_file() {
    on_udp_and_tcp(|via, s| {
        // From READY, one frame at a time: npt=T-T+1/fps, as a client steps while paused.
        let mut stepped = Vec::new();
        for n in 60..63 {
            let (t, next) = (n as f64 / FPS, (n + 1) as f64 / FPS);
            let range = format!("npt={t:.3}-{next:.3}");
            let (r, info) = s.play(&[("Range", &range)]);
            assert_eq!(r.headers.get("Range"), Some(range.as_str()), "{via:?}");
            let seq = info.seq.unwrap();
            let (packets, bye) = s.receive(Duration::from_secs(5), |p| count_frames(p, seq) >= 1);
            let (rest, bye_later) = s.receive(Duration::from_millis(400), |_| false);
            assert_eq!(
                count_frames(&rest, seq),
                0,
                "{via:?}: one frame for a one-frame range"
            );
            assert!(bye || bye_later, "{via:?}: BYE at the end of the range");
            stepped.extend(assemble(&packets, seq));
        }
        assert_eq!(s.indexes(&stepped), [60, 61, 62], "{via:?}");
        assert!(
            spaced(&stepped, TICKS),
            "{via:?}: RTP time goes on a period per step"
        );

        // Half a second of the file: ten frames, then nothing.
        let (r, info) = s.play(&[("Range", "npt=1-1.5")]);
        assert_eq!(r.headers.get("Range"), Some("npt=1.000-1.500"));
        let seq = info.seq.unwrap();
        let (packets, _) = s.receive(Duration::from_secs(5), |p| count_frames(p, seq) >= 10);
        let (rest, _) = s.receive(Duration::from_millis(400), |_| false);
        assert_eq!(count_frames(&rest, seq), 0, "{via:?}");
        assert_eq!(
            s.indexes(&assemble(&packets, seq)),
            (20..30).collect::<Vec<_>>()
        );
        // Still PLAYING, as at the end of the file: PAUSE is valid, then a plain PLAY goes on.
        assert_eq!(s.request("PAUSE", &[]).status.0, 200);
        let (r, info) = s.play(&[]);
        assert_eq!(r.headers.get("Range"), Some("npt=1.500-20.000"));
        let frames = s.frames_from(info.seq.unwrap(), 2);
        assert_eq!(s.indexes(&frames), [30, 31]);
    });
}

#[test]
fn speed_2_delivers_the_same_frames_and_rtp_times_and_says_so() {
    on_udp_and_tcp(|via, s| {
        let (r, info) = s.play(&[("Speed", "2")]);
        assert_eq!(r.headers.get("Speed"), Some("2.000"), "{via:?}");
        assert_eq!(r.headers.get("Scale"), None, "Scale is answered when asked");
        let frames = s.frames_from(info.seq.unwrap(), 10);
        assert_eq!(s.indexes(&frames), (0..10).collect::<Vec<_>>(), "{via:?}");
        assert!(spaced(&frames, TICKS));
        // Both at once, and beyond what the server applies: the nearest it does.
        let (r, _) = s.play(&[("Scale", "-100"), ("Speed", "0.0001")]);
        assert_eq!(r.headers.get("Scale"), Some("-16.000"));
        assert_eq!(r.headers.get("Speed"), Some("0.062"));
    });
}

/// Bad Scale and Speed values, and ranges that go against the Scale: each refused with its
/// status, the session and connection usable afterwards.
#[test]
fn bad_scales_speeds_and_ranges_against_the_scale_are_refused_and_change_nothing() {
    let server = start_server(&videos_dir(), |_| {});
    let mut s = Trick::open(&server, Via::Tcp);
    let refused: &[(&[(&str, &str)], u16)] = &[
        (&[("Scale", "0")], 400),
        (&[("Scale", "-0")], 400),
        (&[("Scale", "abc")], 400),
        (&[("Scale", "1e309")], 400),
        (&[("Scale", "--1")], 400),
        (
            &[("Scale", "99999999999999999999999999999999999999999x")],
            400,
        ),
        (&[("Scale", "")], 400),
        (&[("Speed", "0")], 400),
        (&[("Speed", "-2")], 400),
        (&[("Speed", "NaN")], 400),
        (&[("Range", "npt=10-5")], 457),
        (&[("Range", "npt=5-10"), ("Scale", "-1")], 457),
        (&[("Range", "npt=0-"), ("Scale", "-1")], 457),
        (&[("Range", "npt=21-"), ("Scale", "-1")], 457),
        (&[("Range", "npt=20-"), ("Scale", "2")], 457),
    ];
    for (headers, status) in refused {
        let r = s.request("PLAY", headers);
        assert_eq!(r.status.0, *status, "{headers:?}: {r:?}");
    }
    // A huge but well-formed scale is applied as the largest the server offers.
    let (r, _) = s.play(&[("Scale", "123456789012345678901234567890")]);
    assert_eq!(r.headers.get("Scale"), Some("16.000"));
    // Backwards from the very end of the file is the last frame first.
    let (r, info) = s.play(&[("Range", "npt=20-"), ("Scale", "-1")]);
    assert_eq!(r.headers.get("Range"), Some("npt=20.000-0.000"));
    let frames = s.frames_from(info.seq.unwrap(), 2);
    assert_eq!(s.indexes(&frames), [399, 398]);
    // A normal PLAY afterwards: normal play, and no Scale in the answer.
    let (r, info) = s.play(&[("Range", "npt=0-")]);
    assert_eq!(r.headers.get("Scale"), None);
    let frames = s.frames_from(info.seq.unwrap(), 3);
    assert_eq!(s.indexes(&frames), [0, 1, 2]);
    assert_eq!(s.request("TEARDOWN", &[]).status.0, 200);
}

/// Hostile Scale and Speed while frames flow: each refused, and the stream goes on as it was,
/// frame after frame, with no seek and no change of scale.
#[test]
fn a_refused_play_while_playing_leaves_the_stream_as_it_was() {
    let server = start_server(&videos_dir(), |_| {});
    let mut s = Trick::open(&server, Via::Tcp);
    let (_, info) = s.play(&[("Scale", "2")]);
    for headers in [
        &[("Scale", "2 x")][..],
        &[("Scale", "0x10")],
        &[("Scale", "+1")],
        &[("Speed", "1e3")],
        &[("Speed", "-0")],
        &[("Scale", "-1"), ("Range", "npt=1-2")],
    ] {
        let r = s.request("PLAY", headers);
        assert!(matches!(r.status.0, 400 | 457), "{headers:?}: {r:?}");
        assert_eq!(r.headers.get("RTP-Info"), None, "{headers:?}");
    }
    // Everything since the PLAY, the refusals' time included, is one run at Scale 2.
    let frames = s.frames_from(info.seq.unwrap(), 6);
    starts_at(&frames, &info);
    assert_eq!(s.indexes(&frames), [0, 2, 4, 6, 8, 10]);
    assert!(spaced(&frames, TICKS));
}
