//! `loadgen http` and `loadgen http-floor`: steps of N Motion-JPEG/HTTP viewers, against a
//! server or against the bare loop ([`crate::http_floor`]), received the same way
//! ([`crate::viewers`]) and printed as the same markdown rows, so the two tables compare
//! column for column: frames late or lost, and what the sending side's CPU was per viewer.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http_floor;
use crate::parts::FrameBook;
use crate::procfs::{cpu_seconds, machine_busy_seconds, rss_kib};
use crate::viewers::{receive_viewers, Clock, Target, ViewersSummary};

/// Who sends the streams measured.
pub enum Sender<'a> {
    /// A server at this http:// URL, its process for CPU and memory.
    Server { url: &'a str, pid: Option<u32> },
    /// The bare loop, in this process.
    Floor,
}

/// A run: the viewer counts to step through and what each step measures.
pub struct HttpPlan<'a> {
    pub viewers: &'a [usize],
    /// Seconds measured per step.
    pub seconds: u64,
    /// Seconds received, not counted, once all viewers are connected.
    pub warmup: u64,
    pub fps: f64,
    /// A frame this many ms behind its viewer's most punctual frame is late.
    pub max_late_ms: f64,
    /// A step holds with frames late or lost under this percentage.
    pub max_bad: f64,
    pub book: &'a FrameBook,
}

/// One step's row.
pub struct HttpStep {
    pub summary: ViewersSummary,
    /// The sender's CPU over the window, percent of one core: the server's process, or the
    /// bare loop's thread.
    pub sender_cpu: Option<f64>,
    /// The server's peak RSS over the window.
    pub rss_kib: Option<u64>,
    /// This process's receiving threads' CPU over the window.
    pub receiver_cpu: f64,
    /// What the rest of the machine (every other process) took over the window, percent of
    /// one core: the figures are from a shared machine.
    pub others_cpu: f64,
    /// The bare loop's own counts: parts written, and frames it dropped for a full socket.
    pub floor: Option<(u64, u64)>,
}

/// Raises this process's open-file limit to its hard limit: each viewer is a socket (two for
/// the floor, which holds both ends).
pub fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Host, port and path of an http:// URL.
fn parse_url(url: &str) -> anyhow::Result<(String, SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    Ok((authority.to_string(), addr, path.to_string()))
}

fn request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: loadgen\r\n\r\n").into_bytes()
}

/// Runs every step in turn, printing a row each, then the largest count that held.
pub fn run(plan: &HttpPlan, sender: &Sender) -> anyhow::Result<()> {
    raise_nofile();
    let who = match sender {
        Sender::Server { .. } => "server",
        Sender::Floor => "floor",
    };
    println!("{}", header(who, plan.max_late_ms));
    let mut held = None;
    let mut all_held = true;
    for &n in plan.viewers {
        match step(plan, sender, n) {
            Ok(s) => {
                println!("{}", row(&s));
                if let Some(e) = &s.summary.first_error {
                    eprintln!("{n} viewers: {} failed, first: {e}", s.summary.failed);
                }
                if s.summary.unidentified > 0 {
                    eprintln!(
                        "{n} viewers: {} parts were no frame of the file",
                        s.summary.unidentified
                    );
                }
                if let Some((parts, dropped)) = s.floor {
                    eprintln!("floor, {n} viewers: {parts} parts written, {dropped} frames not begun for a full socket");
                }
                all_held &= s.summary.holds(plan.max_bad);
                if all_held {
                    held = Some(n);
                }
            }
            Err(e) => {
                println!("| {n} | failed: {e:#} | | | | | | | | | | | |");
                all_held = false;
            }
        }
        // Let the sender free the last step's viewers.
        std::thread::sleep(Duration::from_secs(3));
    }
    println!(
        "largest viewer count held, with every smaller one (every viewer streaming, frames late over {} ms plus frames lost under {}% of those expected): {}",
        plan.max_late_ms,
        plan.max_bad,
        held.map_or("none".into(), |n| n.to_string())
    );
    Ok(())
}

/// One step of `n` viewers: connect them all, warm up, measure the window.
// (It stays whole: one measured window, warm-up to report, in the order it happens.)
fn step(plan: &HttpPlan, sender: &Sender, n: usize) -> anyhow::Result<HttpStep> {
    let clock = Clock::default();
    let (target_addr, req, pid, listener) = match sender {
        Sender::Server { url, pid } => {
            let (host, addr, path) = parse_url(url)?;
            (addr, request(&host, &path), *pid, None)
        }
        Sender::Floor => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            let req = request(&addr.to_string(), "/videos/video.mjpeg/mjpeg?loop=1");
            (addr, req, None, Some(l))
        }
    };
    let parts = listener
        .as_ref()
        .map(|_| http_floor::server_parts(plan.book));
    let target = Target {
        addr: target_addr,
        request: &req,
        book: plan.book,
    };
    let server_stat = pid.map(|p| format!("/proc/{p}/stat"));
    std::thread::scope(|scope| {
        let floor = match (&listener, &parts) {
            (Some(l), Some(parts)) => {
                let clock = &clock;
                Some(scope.spawn(move || http_floor::serve(l, n, parts, plan.fps, clock)))
            }
            _ => None,
        };
        let receiving = scope.spawn(|| receive_viewers(&target, n, &clock));
        let deadline = Instant::now() + Duration::from_secs(120);
        while clock.connected.load(Ordering::SeqCst) < n {
            if Instant::now() > deadline {
                clock.stop.store(true, Ordering::SeqCst);
                let _ = receiving.join();
                bail!("{n} viewers did not connect within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(plan.warmup));
        let cpu0 = server_stat.as_deref().map(cpu_seconds);
        let own0 = cpu_seconds("/proc/self/stat");
        let busy0 = machine_busy_seconds();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(plan.seconds);
        // The window's last frames may arrive until they are late.
        let grace = Duration::from_secs_f64(plan.max_late_ms / 1000.0) + Duration::from_millis(100);
        clock.open_window(t0, t1, grace);
        let mut peak = 0;
        while Instant::now() < t1 {
            if let Some(p) = pid {
                peak = rss_kib(p).max(peak);
            }
            std::thread::sleep(
                t1.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(250)),
            );
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let sender_cpu = server_stat
            .as_deref()
            .zip(cpu0)
            .map(|(stat, c0)| (cpu_seconds(stat) - c0) / elapsed * 100.0);
        let own = (cpu_seconds("/proc/self/stat") - own0) / elapsed * 100.0;
        let busy = (machine_busy_seconds() - busy0) / elapsed * 100.0;
        let counts = receiving.join().expect("the receiving threads panicked");
        let sent = floor.map(|f| f.join().expect("the floor panicked"));
        let summary = ViewersSummary::of(
            &counts,
            plan.fps,
            clock.secs(t0),
            clock.secs(t1),
            plan.max_late_ms,
        );
        Ok(HttpStep {
            summary,
            sender_cpu: sender_cpu.or(sent.as_ref().map(|s| s.cpu_percent)),
            rss_kib: pid.map(|_| peak),
            receiver_cpu: own - sent.as_ref().map_or(0.0, |s| s.cpu_percent),
            // The floor's thread is in this process's own CPU already.
            others_cpu: (busy - own - sender_cpu.unwrap_or(0.0)).max(0.0),
            floor: sent.map(|s| (s.parts, s.dropped)),
        })
    })
}

/// The table's header: `who` sends ("server" or "floor").
pub fn header(who: &str, max_late_ms: f64) -> String {
    format!(
        "| viewers | frames expected | received | missing | dropped | late (> {max_late_ms} ms) | worst lateness | inter-frame jitter p50 / p99 | {who} CPU | {who} CPU per viewer | {who} RSS | receiver CPU | other processes' CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
}

/// A step's row.
pub fn row(s: &HttpStep) -> String {
    let v = &s.summary;
    format!(
        "| {} | {:.0} | {} | {:.3}% | {:.3}% | {:.3}% | {:.1} ms | {:.2} / {:.2} ms | {} | {} | {} | {:.1}% | {:.1}% |",
        v.viewers,
        v.expected,
        v.received,
        v.missing_percent(),
        v.dropped_percent(),
        v.late_percent(),
        v.worst_late_ms,
        v.jitter_p50_ms,
        v.jitter_p99_ms,
        s.sender_cpu.map_or("-".into(), |c| format!("{c:.1}%")),
        s.sender_cpu
            .map_or("-".into(), |c| format!("{:.4}%", c / v.viewers.max(1) as f64)),
        s.rss_kib.map_or("-".into(), |r| format!("{} MiB", r / 1024)),
        s.receiver_cpu,
        s.others_cpu,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_address_and_path() {
        let (host, addr, path) =
            parse_url("http://127.0.0.1:8080/videos/v.mjpeg/mjpeg?loop=1").unwrap();
        assert_eq!(host, "127.0.0.1:8080");
        assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(path, "/videos/v.mjpeg/mjpeg?loop=1");
        assert_eq!(parse_url("http://127.0.0.1:80").unwrap().2, "/");
        assert!(parse_url("rtsp://127.0.0.1:80/").is_err());
    }

    #[test]
    fn rows_have_as_many_cells_as_the_header() {
        let step = HttpStep {
            summary: ViewersSummary {
                viewers: 1000,
                expected: 200_000.0,
                received: 199_990,
                ..Default::default()
            },
            sender_cpu: Some(50.0),
            rss_kib: Some(300 << 10),
            receiver_cpu: 20.0,
            others_cpu: 3.0,
            floor: None,
        };
        let cells = |s: &str| s.matches('|').count();
        let h = header("server", 200.0);
        assert_eq!(cells(&row(&step)), cells(h.lines().next().unwrap()));
        assert!(row(&step).starts_with("| 1000 | 200000 | 199990 | 0.005% | 0.000% |"));
        assert!(row(&step).contains("| 50.0% | 0.0500% | 300 MiB | 20.0% | 3.0% |"));
    }
}
