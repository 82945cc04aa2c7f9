//! `loadgen`: opens N concurrent RTSP sessions against a URL and reports what a capacity
//! benchmark needs: frames expected and received, loss, per-session inter-frame jitter, and the
//! server's CPU and memory (read from /proc for its PID).
//!
//! Receiving must cost little, so that the server, not the generator, is measured: each
//! session has its own RTP socket (a server with one shared media, like gst-rtsp-server's,
//! sends a destination only once however many sessions name it), a few threads wait on all of
//! them with epoll and read only the ready ones, and with UDP GRO (Linux 5.0+) a run of packets
//! that arrived together comes up in one read, of which only the first packet's headers are
//! copied out (MSG_TRUNC): sequence numbers, RTP timestamp and fragment offset are all the
//! counting needs, and payloads are most of the bytes. The kernel stamps each arrival
//! (SO_TIMESTAMPNS), so the generator's own scheduling does not show as the server's jitter.
//!
//! `loadgen floor` measures the kernel's floor instead: one thread sending the same RTP/JPEG
//! packets to N sessions' worth of destinations with the server's own send function, with no
//! RTSP at all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use rtsp_proto::rtsp::{self, Limits, Parsed, Response, Session};
use server::net::udp_batch::Packet;

#[derive(Parser)]
#[command(about = "RTSP/RTP load generator")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sessions against a server, ramped until loss passes the threshold.
    Run {
        /// rtsp://HOST:PORT/PATH
        url: String,
        /// Session counts to try, in order (e.g. 100,250,500,1000).
        #[arg(long, value_delimiter = ',', default_value = "100")]
        sessions: Vec<usize>,
        /// Seconds of playing measured at each step.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server's process id, for CPU and memory.
        #[arg(long)]
        pid: Option<u32>,
        /// Frames per second the server sends (for the expected counts).
        #[arg(long, default_value_t = 20.0)]
        fps: f64,
        /// Stop ramping once loss passes this percentage.
        #[arg(long, default_value_t = 0.1)]
        max_loss: f64,
        /// Read every packet on its own instead of letting the kernel coalesce (UDP GRO).
        #[arg(long)]
        no_gro: bool,
        /// A step fails if any frame comes this much later than its session's most punctual
        /// one (200 ms is GStreamer's default jitter buffer: a later frame is not shown).
        #[arg(long, default_value_t = 200.0)]
        max_late_ms: f64,
    },
    /// Memory of idle sessions: N sessions set up but never played, and the server's RSS.
    Idle {
        url: String,
        #[arg(long, default_value_t = 500)]
        sessions: usize,
        #[arg(long)]
        pid: u32,
    },
    /// The floor: send the packets of FILE to N destinations at FPS, a frame at a time with
    /// the server's send function (segmentation offload where the kernel has it).
    Floor {
        /// A .mjpeg file (RFC 2435-streamable frames).
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 20.0)]
        fps: f64,
        /// Send one datagram per packet (sendmmsg), like `server --no-gso`.
        #[arg(long)]
        no_gso: bool,
        /// The receiving end reads every packet on its own (no UDP GRO).
        #[arg(long)]
        no_gro: bool,
    },
    /// How often this machine's CPUs stop: a thread spinning on each CPU reads the clock, and
    /// every gap over 0.5 ms is time its CPU ran something else (on a virtual machine, mostly
    /// the host's other guests). Uses every core: run it alone.
    Stalls {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// A gap in a spinning thread's clock readings longer than this counts as its CPU stopping.
const STALL: Duration = Duration::from_micros(500);

/// How many of CPU `i`'s stops overlap a stop of another CPU.
fn stopped_together(gaps: &[Vec<(Instant, Instant)>], i: usize) -> usize {
    gaps[i]
        .iter()
        .filter(|&&(a, b)| {
            gaps.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .any(|(_, theirs)| theirs.iter().any(|&(c, d)| c < b && a < d))
        })
        .count()
}

/// `loadgen stalls`: per CPU, how often, how long, and whether another CPU was stopped too.
fn stalls(seconds: u64) -> anyhow::Result<()> {
    let cpus = server::pacer::allowed_cpus();
    if cpus.is_empty() {
        bail!("cannot tell which CPUs this process may use");
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let gaps: Vec<Vec<(Instant, Instant)>> = std::thread::scope(|scope| {
        let watchers: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                scope.spawn(move || -> std::io::Result<Vec<(Instant, Instant)>> {
                    server::pacer::pin_to(cpu)?;
                    let mut gaps = Vec::new();
                    let mut last = Instant::now();
                    while last < end {
                        let now = Instant::now();
                        // A bound on memory: a machine stopped this often is answered anyway.
                        if now - last > STALL && gaps.len() < 1_000_000 {
                            gaps.push((last, now));
                        }
                        last = now;
                    }
                    Ok(gaps)
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().expect("a watcher panicked"))
            .collect::<std::io::Result<_>>()
    })
    .context("pinning a thread to its CPU")?;
    println!("| CPU | stops over 0.5 ms | longest | total | while another CPU was stopped too |");
    println!("|---|---|---|---|---|");
    for (i, mine) in gaps.iter().enumerate() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let longest = mine.iter().map(|&(a, b)| b - a).max().unwrap_or_default();
        let total: Duration = mine.iter().map(|&(a, b)| b - a).sum();
        let together = stopped_together(&gaps, i);
        println!(
            "| {} | {} | {:.2} ms | {:.1} ms | {} |",
            cpus[i],
            mine.len(),
            ms(longest),
            ms(total),
            together
        );
    }
    Ok(())
}

/// CPU seconds (user + system) of a process or thread, from /proc.
fn cpu_seconds(stat_path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A minimal blocking RTSP connection.
struct Rtsp {
    stream: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
}

impl Rtsp {
    fn connect(addr: SocketAddr) -> anyhow::Result<Rtsp> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Rtsp {
            stream,
            buf: Vec::new(),
            cseq: 0,
        })
    }

    fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Response> {
        self.cseq += 1;
        let mut text = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("\r\n");
        self.stream.write_all(text.as_bytes())?;
        loop {
            if let Parsed::Complete(r, n) = rtsp::parse_response(&self.buf, &Limits::default())? {
                self.buf.drain(..n);
                if r.headers.cseq() == Some(self.cseq) {
                    return Ok(r);
                }
                continue;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl SessionCount {
    /// Counts one datagram that arrived at `now` (kernel receive time, seconds): `packets`
    /// RTP packets in a row (more than one where GRO kept a segmented send whole), `header`
    /// being the first one's fixed RTP header and the start of its RFC 2435 header.
    fn count(&mut self, header: &[u8; HEADER_READ], packets: u64, now: f64) {
        let seq = u16::from_be_bytes([header[2], header[3]]);
        let ext = self.ext.extend(seq);
        if self.first.is_none() {
            self.first = Some(ext);
            self.highest = ext;
        }
        self.highest = self.highest.max(ext + packets.max(1) - 1);
        self.packets += packets;
        // A frame is counted at its first packet, the one at fragment offset 0 (RFC 2435
        // 3.1). The marker is on its last packet, which a read of only the first header does
        // not see when GRO kept the frame whole.
        let ts = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if header[13..16] == [0, 0, 0] {
            self.frames += 1;
            if let Some(last) = self.last_frame {
                self.deltas_us.push(((now - last) * 1e6).max(0.0) as u32);
            }
            self.last_frame = Some(now);
            let (t0, ts0) = *self.first_frame.get_or_insert((now, ts));
            self.last_frame_ts = Some((now, ts));
            // Arrival against RTP time, both from the first frame: its spread is how much
            // later than its best one a session's worst frame came.
            let offset = (now - t0) - ts.wrapping_sub(ts0) as f64 / 90_000.0;
            self.offsets.0 = self.offsets.0.min(offset);
            self.offsets.1 = self.offsets.1.max(offset);
        }
    }
}

#[derive(Default, Clone)]
struct SessionCount {
    packets: u64,
    /// Extended sequence number of the first packet measured.
    first: Option<u64>,
    highest: u64,
    ext: rtsp_proto::rtp::SeqExtender,
    frames: u64,
    last_frame: Option<f64>,
    deltas_us: Vec<u32>,
    /// Arrival and RTP time of the first and last frame: their difference is the drift.
    first_frame: Option<(f64, u32)>,
    last_frame_ts: Option<(f64, u32)>,
    /// Least and greatest (arrival - RTP time) over the frames, in seconds.
    offsets: (f64, f64),
}

impl SessionCount {
    /// How much later than the session's most punctual frame its latest one came, in ms.
    fn lateness_ms(&self) -> f64 {
        (self.offsets.1 - self.offsets.0).max(0.0) * 1000.0
    }

    /// How far the server's clock wandered from its RTP clock over the run, in ms.
    fn drift_ms(&self) -> Option<f64> {
        let ((t0, ts0), (t1, ts1)) = (self.first_frame?, self.last_frame_ts?);
        let media = ts1.wrapping_sub(ts0) as f64 / 90_000.0;
        Some(((t1 - t0) - media) * 1000.0)
    }
}

struct Step {
    sessions: usize,
    frames_expected: f64,
    frames: u64,
    loss_percent: f64,
    jitter_p50_ms: f64,
    jitter_p99_ms: f64,
    /// Largest |arrival span - RTP span| over the sessions.
    drift_ms: f64,
    /// Largest [`SessionCount::lateness_ms`] over the sessions.
    lateness_ms: f64,
    /// Mean frames per second each session received.
    delivered_fps: f64,
    cpu_percent: Option<f64>,
    /// The generator's own CPU over the same window: what it left the server of the machine.
    generator_cpu_percent: f64,
    rss_kib: Option<u64>,
}

/// What one `run` step measures: `n` sessions for `seconds`, received with or without GRO.
struct StepPlan<'a> {
    url: &'a str,
    n: usize,
    seconds: u64,
    fps: f64,
    pid: Option<u32>,
    gro: bool,
}

fn run_step(plan: &StepPlan) -> anyhow::Result<Step> {
    let StepPlan {
        url,
        n,
        seconds,
        fps,
        pid,
        gro,
    } = *plan;
    let addr: SocketAddr = {
        let rest = url
            .strip_prefix("rtsp://")
            .context("URL must start with rtsp://")?;
        let authority = rest.split('/').next().unwrap();
        std::net::ToSocketAddrs::to_socket_addrs(authority)?
            .next()
            .context("cannot resolve")?
    };
    let sockets = bind_receivers(n, gro)?;
    let mut first = Rtsp::connect(addr)?;
    let d = first.request("DESCRIBE", url, &[("Accept", "application/sdp")])?;
    if !d.status.is_success() {
        bail!("DESCRIBE: {}", d.status);
    }
    let info = rtsp_proto::sdp::parse_video(&d.body)?;
    let base = d.headers.get("Content-Base").unwrap_or(url).to_string();
    let track = rtsp_proto::sdp::resolve_control(&base, info.control.as_deref().unwrap_or(""));
    drop(first);

    let mut conns = Vec::with_capacity(n);
    for (i, socket) in sockets.iter().enumerate() {
        let mut c = Rtsp::connect(addr).with_context(|| format!("session {i}: connect"))?;
        let port = socket.local_addr()?.port();
        let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = c.request("SETUP", &track, &[("Transport", &transport)])?;
        if !r.status.is_success() {
            bail!("session {i}: SETUP: {}", r.status);
        }
        let session = Session::parse(r.headers.get("Session").context("no Session")?)?.id;
        conns.push((c, session));
    }
    for (c, session) in conns.iter_mut() {
        let r = c.request("PLAY", &base, &[("Session", session)])?;
        if !r.status.is_success() {
            bail!("PLAY: {}", r.status);
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(n);
    let chunk = n.div_ceil(threads);
    let receive_for = |until: Instant| -> Vec<SessionCount> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = sockets
                .chunks(chunk)
                .map(|socks| scope.spawn(move || receive_until(socks, until)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    };
    // Let every session reach its pace before measuring: a server busy with thousands of
    // PLAYs may have fallen behind and then catches up faster than real time. Warm up one
    // second at a time until a second delivers the frame rate, within 2%, for at most 10 s.
    for _ in 0..10 {
        let start = Instant::now();
        let counts = receive_for(start + Duration::from_secs(1));
        let rate = counts.iter().map(|c| c.frames).sum::<u64>() as f64
            / n as f64
            / start.elapsed().as_secs_f64();
        if (rate - fps).abs() <= fps * 0.02 {
            break;
        }
    }
    let cpu0 = pid.map(|p| cpu_seconds(&format!("/proc/{p}/stat")));
    let own0 = cpu_seconds("/proc/self/stat");
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(seconds);
    let sampler = pid.map(|p| {
        std::thread::spawn(move || {
            let mut peak = 0;
            while Instant::now() < end {
                peak = peak.max(rss_kib(p));
                std::thread::sleep(Duration::from_millis(250));
            }
            peak
        })
    });
    let counts = receive_for(end);
    let peak_rss = sampler.map(|s| s.join().unwrap()).unwrap_or(0);
    let elapsed = t0.elapsed().as_secs_f64();
    let generator_cpu_percent = (cpu_seconds("/proc/self/stat") - own0) / elapsed * 100.0;
    let cpu = match (pid, cpu0) {
        (Some(p), Some(c0)) => {
            Some((cpu_seconds(&format!("/proc/{p}/stat")) - c0) / elapsed * 100.0)
        }
        _ => None,
    };
    // Tear down politely; the server frees everything when the connections close anyway.
    for (c, session) in conns.iter_mut() {
        let _ = c.request("TEARDOWN", &base, &[("Session", session)]);
    }
    let period_us = 1e6 / fps;
    let mut jitter: Vec<f64> = counts
        .iter()
        .flat_map(|c| {
            c.deltas_us
                .iter()
                .map(|&d| (d as f64 - period_us).abs() / 1000.0)
        })
        .collect();
    jitter.sort_by(|a, b| a.partial_cmp(b).unwrap());

    let pct = |p: f64| {
        jitter
            .get(((jitter.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    // Loss from sequence numbers: per session, expected = highest - first + 1 (RFC 3550 A.3).
    let (mut lost, mut exp) = (0i64, 0i64);
    for c in &counts {
        if let Some(first) = c.first {
            let span = c.highest as i64 - first as i64 + 1;
            exp += span;
            lost += span - c.packets as i64;
        }
    }
    let frames: u64 = counts.iter().map(|c| c.frames).sum();
    let silent = counts.iter().filter(|c| c.frames == 0).count();
    let frames_expected = n as f64 * fps * elapsed;
    // Packet loss from sequence gaps; a session that received nothing at all counts as wholly
    // lost (it leaves no gap to see).
    let per_session = if n > silent {
        exp as f64 / (n - silent) as f64
    } else {
        1.0
    };
    let exp_all = exp as f64 + silent as f64 * per_session;
    let lost_all = lost.max(0) as f64 + silent as f64 * per_session;
    let loss = if exp_all > 0.0 {
        lost_all * 100.0 / exp_all
    } else {
        100.0
    };
    if silent > 0 {
        eprintln!("{silent} of {n} sessions received nothing");
    }
    Ok(Step {
        sessions: n,
        frames_expected,
        frames,
        loss_percent: loss,
        jitter_p50_ms: pct(0.5),
        jitter_p99_ms: pct(0.99),
        drift_ms: counts
            .iter()
            .filter_map(|c| c.drift_ms())
            .map(f64::abs)
            .fold(0.0, f64::max),
        lateness_ms: counts
            .iter()
            .filter(|c| c.frames > 0)
            .map(SessionCount::lateness_ms)
            .fold(0.0, f64::max),
        delivered_fps: frames as f64 / n as f64 / elapsed,
        cpu_percent: cpu,
        generator_cpu_percent,
        rss_kib: pid.map(|_| peak_rss),
    })
}

/// What `floor` sends, and how its sink receives.
struct FloorPlan<'a> {
    file: &'a std::path::Path,
    sessions: usize,
    seconds: u64,
    fps: f64,
    gso: bool,
    gro: bool,
}

fn floor(plan: &FloorPlan) -> anyhow::Result<()> {
    let FloorPlan {
        file,
        sessions,
        seconds,
        fps,
        gso,
        gro,
    } = *plan;
    let data = std::fs::read(file)?;
    let idx = rtsp_proto::mjpeg::index(&data, 16 << 20)?;
    // The same packets the server sends, prepared up front: headers (RTP and RFC 2435) and
    // payloads apart, as the server gathers them.
    let mut frames: Vec<Vec<(Vec<u8>, Vec<u8>)>> = Vec::new();
    for r in &idx.frames {
        let jpeg = &data[r.clone()];
        let info = rtsp_proto::jpeg::JpegInfo::parse(jpeg)?;
        let p = info.rfc2435().map_err(anyhow::Error::msg)?;
        frames.push(
            rtsp_proto::jpeg::fragments(
                &p,
                &jpeg[info.scan_data.start..],
                rtsp_proto::jpeg::MAX_PACKET,
            )
            .map(|f| {
                let head = [&[0x80u8, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..], f.header()].concat();
                (head, f.data.to_vec())
            })
            .collect(),
        );
    }
    // The receiving end `run` uses, so that what a delivery costs the sender is the same.
    let receivers = bind_receivers(sessions, gro)?;
    let senders: Vec<UdpSocket> = receivers
        .iter()
        .map(|r| {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(r.local_addr()?)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let me = "/proc/thread-self/stat";
    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now() + Duration::from_millis(100);
    let stop = start + Duration::from_secs(seconds);
    let threads = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(sessions);
    let (sent, counts, cpu) = std::thread::scope(|scope| {
        let receiving: Vec<_> = receivers
            .chunks(sessions.div_ceil(threads))
            .map(|socks| scope.spawn(move || receive_until(socks, stop + period)))
            .collect();
        let cpu0 = cpu_seconds(me);
        let mut sent = 0u64;
        let gso = std::cell::Cell::new(gso);
        // Sessions start at different moments, so session i's frame n is due at
        // start + (n + i / sessions) * period: the g-th send overall is due at
        // start + g * period / sessions. Like the server's pacer, send everything due within
        // one batch window, then sleep until the next.
        for g in 0u64.. {
            let due = start + period.mul_f64(g as f64 / sessions as f64);
            if due >= stop {
                break;
            }
            let now = Instant::now();
            if due > now + server::pacer::BATCH_WINDOW {
                std::thread::sleep(due - now);
            }
            let session = (g % sessions as u64) as usize;
            let frame = &frames[(g / sessions as u64) as usize % frames.len()];
            // What the server does per frame: its own send function, a batch at a time.
            for batch in frame.chunks(server::net::udp_batch::MAX_BATCH) {
                let mut packets = [Packet::default(); server::net::udp_batch::MAX_BATCH];
                for (p, (head, body)) in packets.iter_mut().zip(batch) {
                    *p = Packet { head, body };
                }
                let packets = &packets[..batch.len()];
                let _ = server::net::udp_batch::send_batch(&senders[session], packets, &gso);
            }
            sent += frame.len() as u64;
        }
        let cpu = (cpu_seconds(me) - cpu0) / start.elapsed().as_secs_f64() * 100.0;
        let counts: Vec<SessionCount> = receiving
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (sent, counts, (cpu, gso.get()))
    });
    let received: u64 = counts.iter().map(|c| c.packets).sum();
    let (cpu, gso) = cpu;
    let how = if gso { "segmented (GSO)" } else { "sendmmsg" };
    println!("floor: {sessions} sessions x {fps} fps for {seconds} s, {how}: {sent} packets sent ({received} received), sender CPU {cpu:.1}% of one core, {:.2}% per session", cpu / sessions as f64);
    Ok(())
}

fn idle(url: &str, n: usize, pid: u32) -> anyhow::Result<()> {
    let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(
        url.strip_prefix("rtsp://")
            .context("rtsp:// URL")?
            .split('/')
            .next()
            .unwrap(),
    )?
    .next()
    .context("cannot resolve")?;
    let before = rss_kib(pid);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Rtsp::connect(addr)?;
        let port = 20000 + 2 * (i % 10000) as u16;
        let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = c.request(
            "SETUP",
            &format!("{url}/track1"),
            &[("Transport", &transport)],
        )?;
        if !r.status.is_success() {
            bail!("SETUP: {}", r.status);
        }
        conns.push(c);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(pid);
    println!(
        "idle: {n} sessions set up, not playing: server RSS {before} KiB -> {after} KiB, {:.1} KiB per idle session",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    Ok(())
}

/// One receiving RTP socket per session (on an even port, RTCP's beside it left free), with
/// kernel arrival stamps and, with `gro`, UDP GRO.
fn bind_receivers(n: usize, gro: bool) -> anyhow::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(n);
    while sockets.len() < n {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        if s.local_addr()?.port() % 2 == 1 {
            continue;
        }
        s.set_nonblocking(true)?;
        socket2::SockRef::from(&s)
            .set_recv_buffer_size(1 << 20)
            .ok();
        set_option(&s, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS);
        if gro {
            set_option(&s, libc::SOL_UDP, libc::UDP_GRO);
        }
        sockets.push(s);
    }
    Ok(sockets)
}

/// Turns on an integer socket option: kernel arrival stamps (SO_TIMESTAMPNS), so the
/// generator's own scheduling delays do not show up as the server's jitter, or UDP GRO.
/// Best effort: without them the figures are coarser, not wrong.
fn set_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt with a valid int.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &on as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// What the generator reads of each datagram: the fixed RTP header (RFC 3550 5.1) and the
/// type-specific byte and fragment offset of the RFC 2435 header that follows it.
const HEADER_READ: usize = 16;

/// One read: a datagram of `len` bytes that is one packet, or with GRO several packets of
/// `segment` bytes each (the last may be shorter), all arrived at `at`.
struct Received {
    len: usize,
    /// Seconds, realtime clock: the kernel's stamp, or the wall clock now if it gave none.
    at: f64,
    segment: Option<usize>,
}

impl Received {
    /// How many packets the datagram holds.
    fn packets(&self) -> u64 {
        match self.segment {
            Some(segment) => self.len.div_ceil(segment) as u64,
            None => 1,
        }
    }
}

/// Receives one datagram (`flags` e.g. MSG_DONTWAIT): its whole length, kernel arrival time,
/// and the segment size if GRO coalesced several. Only the first `buf.len()` bytes are copied
/// (MSG_TRUNC): the generator reads headers, and copying every payload it never looks at was
/// a third of its CPU (perf, 3000 sessions), which it takes from the server it measures.
fn recv_stamped(socket: &UdpSocket, buf: &mut [u8], flags: libc::c_int) -> Option<Received> {
    use std::os::fd::AsRawFd;
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: msghdr zeroed is valid; it points at `iov` and `control`, alive for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags | libc::MSG_TRUNC) };
    if n < 0 {
        return None;
    }
    let (mut at, mut segment) = (None, None);
    // SAFETY: walking the control messages the kernel wrote, with its own macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let ts = std::ptr::read_unaligned(data as *const libc::timespec);
                    at = Some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9);
                }
                (libc::SOL_UDP, libc::UDP_GRO) => {
                    let size = std::ptr::read_unaligned(data as *const libc::c_int);
                    segment = usize::try_from(size).ok().filter(|&s| s > 0);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let at = at.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    });
    Some(Received {
        len: n as usize,
        at,
        segment,
    })
}

/// How long a receiving thread rests after a round that found little: far less than what a
/// session's 1 MiB receive buffer holds (about 4 s of this video).
const RECEIVE_PAUSE: Duration = Duration::from_millis(2);

/// Counts what reaches `socks` until `end`: an epoll set over them, one read per ready socket
/// per round (level-triggered: a socket with more is reported again), and a pause of
/// [`RECEIVE_PAUSE`] after a round that did not fill the event list. Waking for every
/// datagram would cost both sides a wake-up per frame (the sender's kernel wakes the waiting
/// reader); the kernel's arrival stamps keep the timing exact however late the read.
fn receive_until(socks: &[UdpSocket], end: Instant) -> Vec<SessionCount> {
    use std::os::fd::AsRawFd;
    let mut counts = vec![SessionCount::default(); socks.len()];
    // SAFETY: plain epoll syscalls on descriptors that outlive the set; closed below.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(
        epoll >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    for (i, sock) in socks.iter().enumerate() {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: as above.
        unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, sock.as_raw_fd(), &mut event) };
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let mut header = [0u8; HEADER_READ];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ms = left.as_millis().clamp(1, 100) as libc::c_int;
        // SAFETY: `events` is a valid buffer of its length.
        let ready = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as _, ms) };
        for event in &events[..ready.max(0) as usize] {
            let i = event.u64 as usize;
            if let Some(got) = recv_stamped(&socks[i], &mut header, libc::MSG_DONTWAIT) {
                if got.len >= header.len() {
                    counts[i].count(&header, got.packets(), got.at);
                }
            }
        }
        if (ready.max(0) as usize) < events.len() {
            std::thread::sleep(RECEIVE_PAUSE);
        }
    }
    // SAFETY: the set is ours and no longer used.
    unsafe { libc::close(epoll) };
    counts
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Cmd::Idle { url, sessions, pid } => idle(&url, sessions, pid),
        Cmd::Stalls { seconds } => stalls(seconds),
        Cmd::Floor {
            file,
            sessions,
            seconds,
            fps,
            no_gso,
            no_gro,
        } => floor(&FloorPlan {
            file: &file,
            sessions,
            seconds,
            fps,
            gso: !no_gso,
            gro: !no_gro,
        }),
        Cmd::Run {
            url,
            sessions,
            seconds,
            pid,
            fps,
            max_loss,
            no_gro,
            max_late_ms,
        } => {
            println!("| sessions | frames expected | frames received | fps per session | loss | inter-frame jitter p50 / p99 | worst drift | worst lateness | server CPU | server RSS | generator CPU |");
            println!("|---|---|---|---|---|---|---|---|---|---|---|");
            let mut held = None;
            for n in sessions {
                let plan = StepPlan {
                    url: &url,
                    n,
                    seconds,
                    fps,
                    pid,
                    gro: !no_gro,
                };
                let s = match run_step(&plan) {
                    Ok(s) => s,
                    Err(e) => {
                        println!("| {n} | failed: {e:#} | | | | | | | | | |");
                        break;
                    }
                };
                println!(
                    "| {} | {:.0} | {} | {:.2} | {:.3}% | {:.2} / {:.2} ms | {:.2} ms | {:.1} ms | {} | {} | {:.1}% |",
                    s.sessions,
                    s.frames_expected,
                    s.frames,
                    s.delivered_fps,
                    s.loss_percent,
                    s.jitter_p50_ms,
                    s.jitter_p99_ms,
                    s.drift_ms,
                    s.lateness_ms,
                    s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
                    s.rss_kib
                        .map_or("-".into(), |r| format!("{} MiB", r / 1024)),
                    s.generator_cpu_percent,
                );
                // Held: packet loss under the bar, the frame rate kept (a server that falls
                // behind delivers fewer frames per second without any sequence gap; 2% of
                // slack covers a frame at either end of a 10 s window), and no frame so late
                // that a receiver's jitter buffer would have given up on it.
                if s.loss_percent > max_loss
                    || s.delivered_fps < fps * 0.98
                    || s.lateness_ms > max_late_ms
                {
                    break;
                }
                held = Some(s.sessions);
                // Give the server a moment to free the last step's sessions.
                std::thread::sleep(Duration::from_secs(2));
            }
            println!(
                "largest session count held (loss under {max_loss}%, at least 98% of {fps} fps, no frame {max_late_ms} ms late): {}",
                held.map_or("none".into(), |n| n.to_string())
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of a packet at `offset` into its frame.
    fn header(seq: u16, timestamp: u32, offset: u32) -> [u8; HEADER_READ] {
        let mut h = [0u8; HEADER_READ];
        h[..2].copy_from_slice(&[0x80, 26]);
        h[2..4].copy_from_slice(&seq.to_be_bytes());
        h[4..8].copy_from_slice(&timestamp.to_be_bytes());
        h[12..16].copy_from_slice(&offset.to_be_bytes());
        h
    }

    #[test]
    fn a_stop_counts_as_together_only_where_another_cpu_was_stopped_at_the_same_time() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let gaps = vec![
            vec![(ms(0), ms(2)), (ms(10), ms(12)), (ms(20), ms(21))],
            vec![(ms(1), ms(3)), (ms(12), ms(14))],
            vec![(ms(20), ms(22))],
        ];
        // CPU 0's first stop overlaps CPU 1's, its third CPU 2's; its second only touches.
        assert_eq!(stopped_together(&gaps, 0), 2);
        assert_eq!(stopped_together(&gaps, 1), 1);
        assert_eq!(stopped_together(&gaps, 2), 1);
        assert_eq!(stopped_together(&[vec![(ms(0), ms(5))]], 0), 0);
    }

    #[test]
    fn frames_start_at_fragment_offset_0_and_coalesced_datagrams_count_every_packet() {
        let mut c = SessionCount::default();
        // A frame of 9 packets kept whole by GRO (sequence numbers wrapping inside it), one
        // read packet by packet, a frame whose 9 packets (12-20) never came, and one more.
        // Times in binary fractions of a second, so that the sums below are exact.
        c.count(&header(65530, 0, 0), 9, 8.0);
        for (i, seq) in (3u16..12).enumerate() {
            let offset = i as u32 * 1400;
            c.count(&header(seq, 5625, offset), 1, 8.0625 + i as f64 * 1e-5);
        }
        c.count(&header(21, 11_250, 0), 9, 8.1875);
        // A frame's tail, its head not received: packets, but no frame.
        c.count(&header(30, 15_000, 2800), 1, 8.25);
        assert_eq!(c.frames, 3);
        assert_eq!(c.packets, 28);
        assert_eq!(c.highest - c.first.unwrap() + 1, 37, "9 packets lost");
        assert_eq!(c.deltas_us, vec![62_500, 125_000]);
        // The last frame is 125 ms into the media but came 187.5 ms after the first.
        assert!((c.lateness_ms() - 62.5).abs() < 0.001);
    }
}
