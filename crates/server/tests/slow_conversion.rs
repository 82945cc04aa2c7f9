//! A frame whose conversion takes 500 ms must not hold up anyone: the pacers send only frames
//! that are ready, and a worker converts ahead of them. While one session's frame is held in a
//! slow converter, 50 other sessions' frames must stay on time.
//!
//! "On time" here is what the design guarantees whatever the machine's load: no frame of another
//! session waits for the held conversion, so none is anywhere near [`HELD`] late; the test fails
//! at [`LATE_BOUND`], a tenth of it (a pacer that converted, or waited for a conversion, would be
//! half a second late). How close to the deadline frames really are, the 2 ms target, depends on
//! the machine and is measured, not asserted: BENCHMARKS.md records the worst lateness this test
//! prints over repeated release runs.
//!
//! Send times are the kernel's receive stamps on loopback (taken as the datagram is sent), and
//! the datagrams wait in their sockets until the measurement is over, so the test's own
//! threads neither delay the stamps nor compete with the pacers. A deadline is `start + n / fps`; the
//! start is the server's, unknown here, so each session's lateness is measured from its own
//! most punctual frame (a frame is never early by more than the pacers' 0.5 ms batch window).

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jpeg_recode::{Conversion, ConvertError, Converted};
use rtsp_proto::rtp::RtpPacket;
use support::*;

const SESSIONS: usize = 50;
const FPS: f64 = 20.0;
/// The frame whose conversion is held: due 0.5 s after PLAY.
const SLOW_FRAME: usize = 10;
const HELD: Duration = Duration::from_millis(500);
/// Later than this, a frame waited for someone's conversion (see the module doc).
const LATE_BOUND: Duration = Duration::from_millis(50);

/// A 4:4:4 JPEG (RFC 2435 carries only 4:2:0 and 4:2:2: every frame needs converting).
fn jpeg_444(n: usize) -> Vec<u8> {
    let (w, h) = (160u16, 120u16);
    let rgb: Vec<u8> = (0..w as usize * h as usize)
        .flat_map(|i| [(i % 256) as u8, (n * 20 % 256) as u8, (i / 160) as u8])
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    encoder
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// When the slow conversion ran, and on which threads conversions ran at all.
#[derive(Default)]
struct Witness {
    held: Option<(Instant, Instant)>,
    threads: Vec<String>,
}

/// The real converter, but frame [`SLOW_FRAME`] waits for `go` and then takes [`HELD`].
fn slow_converter(
    go: Arc<AtomicBool>,
    witness: Arc<Mutex<Witness>>,
) -> impl Fn(usize, &[u8], Conversion) -> Result<Converted, ConvertError> + Send + Sync {
    move |index, jpeg, how| {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        witness.lock().unwrap().threads.push(name);
        if index == SLOW_FRAME {
            wait_until(Duration::from_secs(20), || go.load(Ordering::SeqCst));
            let start = Instant::now();
            std::thread::sleep(HELD);
            witness.lock().unwrap().held = Some((start, Instant::now()));
        }
        jpeg_recode::convert(jpeg, how)
    }
}

/// Has the kernel stamp every datagram `socket` receives, and lets it queue a few seconds of
/// them: the test reads them only after the measurement, so no receiving thread competes with
/// the pacers for the CPU while it runs.
fn stamp_and_queue(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let set = |level, name, value: libc::c_int| {
        // SAFETY: the option value is a c_int that outlives the call.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "setsockopt: {}", std::io::Error::last_os_error());
    };
    set(libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
    // The first SIOCGSTAMPNS turns stamping on for the socket (and says ENOENT: nothing
    // received yet); from then on every datagram is stamped as it arrives. (SO_TIMESTAMPNS
    // would hand the stamps over only as control messages.)
    let _ = try_kernel_stamp(socket);
}

/// The kernel's timestamp of the last datagram `socket` received (SIOCGSTAMPNS).
fn kernel_stamp(socket: &UdpSocket) -> Duration {
    try_kernel_stamp(socket).unwrap_or_else(|e| panic!("SIOCGSTAMPNS: {e}"))
}

fn try_kernel_stamp(socket: &UdpSocket) -> std::io::Result<Duration> {
    use std::os::fd::AsRawFd;
    const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the ioctl writes one timespec into `ts`, which outlives the call.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS as _, &mut ts) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Each frame's first packet queued on `socket`: (the kernel's stamp, RTP time).
fn frame_stamps(socket: &UdpSocket) -> Vec<(Duration, u32)> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        let packet = RtpPacket::parse(&buf[..n]).unwrap();
        // RFC 2435 3.1: bytes 1-3 of the payload are the fragment offset; 0 starts a frame.
        if packet.payload.get(1..4) == Some(&[0, 0, 0][..]) {
            out.push((kernel_stamp(socket), packet.header.timestamp));
        }
    }
    out
}

/// How late each frame of a session was against its deadline, relative to the session's most
/// punctual frame.
fn lateness(frames: &[(Duration, u32)]) -> Vec<Duration> {
    let (t0, r0) = frames[0];
    let offsets: Vec<f64> = frames
        .iter()
        .map(|&(t, rtptime)| {
            let due = rtptime.wrapping_sub(r0) as f64 / 90_000.0;
            (t - t0).as_secs_f64() - due
        })
        .collect();
    let best = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    offsets
        .iter()
        .map(|o| Duration::from_secs_f64(o - best))
        .collect()
}

#[test]
fn frames_stay_on_time_while_another_sessions_frame_converts_for_500_ms() {
    let dir = scratch_dir("slow-conversion");
    std::fs::copy(videos_dir().join("video.mjpeg"), dir.join("video.mjpeg")).unwrap();
    let slow: Vec<u8> = (0..40).flat_map(jpeg_444).collect();
    std::fs::write(dir.join("slow.mjpeg"), slow).unwrap();

    let go = Arc::new(AtomicBool::new(false));
    let witness = Arc::new(Mutex::new(Witness::default()));
    let converter = slow_converter(go.clone(), witness.clone());
    let config = server::Config {
        bind: ([127, 0, 0, 1], 0).into(),
        videos: dir.clone(),
        fps: FPS,
        looping: true,
        ..server::Config::default()
    };
    let cache = server::media::MediaCache::new(config.converted_limit, config.max_frame)
        .with_converter(Arc::new(converter));
    let server = server::Server::bind_with_cache(config, cache)
        .unwrap()
        .spawn()
        .unwrap();

    // Every session set up first, then all PLAYs at once: their deadlines fall in the same
    // few milliseconds as the slow session's, so they share the pacers' batches.
    let names = std::iter::once("slow.mjpeg").chain(std::iter::repeat_n("video.mjpeg", SESSIONS));
    let mut sessions: Vec<(RtspConn, UdpSocket, String, String)> = names
        .map(|name| {
            let url = url(&server, name);
            let mut conn = RtspConn::connect(server.addr);
            let (rtp, _rtcp) = udp_pair();
            let port = rtp.local_addr().unwrap().port();
            let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
            let r = conn.request("SETUP", &url, &[("Transport", &t)]);
            assert_eq!(r.status.0, 200, "SETUP {url}: {r:?}");
            let id = rtsp_proto::rtsp::Session::parse(r.headers.get("Session").unwrap())
                .unwrap()
                .id;
            (conn, rtp, id, url)
        })
        .collect();
    for (_, rtp, ..) in &sessions {
        stamp_and_queue(rtp);
    }
    for (conn, _, id, url) in &mut sessions {
        conn.cseq += 1;
        let play = format!(
            "PLAY {url} RTSP/1.0\r\nCSeq: {}\r\nSession: {id}\r\n\r\n",
            conn.cseq
        );
        conn.send_raw(play.as_bytes());
    }
    let mut rtp_info = Vec::new();
    for (i, (conn, ..)) in sessions.iter_mut().enumerate() {
        let r = conn.read_response();
        assert_eq!(r.status.0, 200, "PLAY");
        let info = rtsp_proto::rtsp::RtpInfo::parse_list(r.headers.get("RTP-Info").unwrap());
        rtp_info.push(info.unwrap()[0].rtptime.unwrap());
        // The held half second starts once the slow session plays (its PLAY answered), not
        // when the PLAYs were sent: on a loaded machine the server may take its PLAY later,
        // and a hold that began before it would end before the frame is due (CI saw the slow
        // frame sent on time).
        if i == 0 {
            go.store(true, Ordering::SeqCst);
        }
    }
    // Measured: the held half second, and as long again after it while the workers catch up.
    let held = || witness.lock().unwrap().held;
    assert!(wait_until(Duration::from_secs(10), || held()
        .is_some_and(|(_, to)| Instant::now() >= to + HELD)));
    let mut received: Vec<Vec<(Duration, u32)>> = sessions
        .iter()
        .map(|(_, rtp, ..)| frame_stamps(rtp))
        .collect();

    let witness = witness.lock().unwrap();
    let (held_from, held_to) = witness.held.expect("the slow conversion ran");
    assert!(held_to - held_from >= HELD);
    assert!(
        witness.threads.iter().all(|t| !t.starts_with("pacer")),
        "a pacer converted a frame: {:?}",
        witness.threads
    );

    // The slow session's frame was skipped, not waited for; frames went on around it.
    let slow = received.remove(0);
    let base = rtp_info[0];
    let indexes: Vec<u32> = slow.iter().map(|f| f.1.wrapping_sub(base) / 4500).collect();
    assert!(indexes.contains(&(SLOW_FRAME as u32 - 1)), "{indexes:?}");
    assert!(!indexes.contains(&(SLOW_FRAME as u32)), "{indexes:?}");
    assert!(server.shared.counters.dropped() >= 1);

    // Over a second at 20 fps: at least 20 frames each, ten of them while the conversion was
    // held.
    let mut worst_of_all = Duration::ZERO;
    for (k, frames) in received.iter().enumerate() {
        assert!(frames.len() >= 20, "session {k}: {} frames", frames.len());
        // The first frame is due at the PLAY itself, when 51 PLAYs arrive at once on two
        // cores: its lateness is the cost of that burst of requests, not of any conversion.
        // Every frame due after it, the held half second among them, is checked.
        let late = lateness(&frames[1..]);
        let worst = late.iter().max().unwrap();
        assert!(
            *worst <= LATE_BOUND,
            "session {k}: a frame {worst:?} late: {late:?}"
        );
        worst_of_all = worst_of_all.max(*worst);
    }
    let all: Vec<Duration> = received.iter().flat_map(|f| lateness(&f[1..])).collect();
    let within_2ms = all
        .iter()
        .filter(|l| **l <= Duration::from_millis(2))
        .count();
    eprintln!(
        "{SESSIONS} sessions, {} frames measured, {within_2ms} within 2 ms: the latest \
         {worst_of_all:?} after its deadline; \
         conversions ran on {:?}",
        all.len(),
        witness
            .threads
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
    );
}
