//! `loadgen http-floor`'s sender: the bare loop an HTTP Motion-JPEG server is compared with.
//! One thread accepts the viewers' connections, answers each GET with the server's response
//! head, then writes every viewer the server's own parts of the file's frames (made by the
//! server's `part_bytes`, so the bytes are the same) at the frame rate, with non-blocking
//! writes, paced as the server's pacers pace (everything due within one batch window, then
//! sleep). Nothing else: no session, no queue, no thread per viewer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use server::net::transport::{part_bytes, MULTIPART_BOUNDARY};

use crate::parts::FrameBook;
use crate::viewers::Clock;

/// Every frame as the server's multipart transport sends it: delimiter, headers, JPEG, CRLF.
pub fn server_parts(book: &FrameBook) -> Vec<Vec<u8>> {
    book.jpegs.iter().map(|j| part_bytes(j)).collect()
}

/// The server's answer to a stream's GET, head and blank line.
fn response_head() -> Vec<u8> {
    let headers = [
        (
            "Content-Type",
            format!("multipart/x-mixed-replace; boundary={MULTIPART_BOUNDARY}"),
        ),
        (
            "Cache-Control",
            "no-cache, no-store, must-revalidate".into(),
        ),
        ("Access-Control-Allow-Origin", "*".into()),
    ];
    let mut head = server::http::response::head(200, &headers, false);
    head.extend_from_slice(b"\r\n");
    head
}

/// What the bare loop did over the measured window.
pub struct FloorSent {
    /// Parts written whole or begun.
    pub parts: u64,
    /// Frames not begun because the viewer's previous part was still not written.
    pub dropped: u64,
    /// The loop's thread's CPU over the window, percent of one core.
    pub cpu_percent: f64,
}

/// One viewer of the loop: its socket, the next frame, and what is left of a part a full
/// socket took only in part.
struct Conn {
    socket: TcpStream,
    frame: usize,
    pending: Option<(usize, usize)>,
}

/// CPU time of the calling thread, seconds (ns resolution, unlike /proc's ticks).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Writes as much of `bytes` as the socket takes now; how much, 0 when it takes nothing.
fn write_some(socket: &TcpStream, bytes: &[u8]) -> usize {
    // SAFETY: a plain send from a valid buffer.
    let r = unsafe {
        libc::send(
            socket.as_raw_fd(),
            bytes.as_ptr() as *const libc::c_void,
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    r.max(0) as usize
}

/// Reads a request head (blocking, briefly) and answers it with `head`.
fn answer(mut socket: TcpStream, head: &[u8]) -> std::io::Result<TcpStream> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    socket.set_nodelay(true)?;
    socket.write_all(head)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Serves `n` viewers on `listener` until the clock's window is over.
// (It stays whole: the bare loop is the reference, and it is easiest to trust read in one piece.)
pub fn serve(
    listener: &TcpListener,
    n: usize,
    parts: &[Vec<u8>],
    fps: f64,
    clock: &Clock,
) -> FloorSent {
    let head = response_head();
    let period = Duration::from_secs_f64(1.0 / fps);
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::with_capacity(n);
    let (mut parts_sent, mut dropped) = (0u64, 0u64);
    let mut window_start: Option<(Instant, f64, u64, u64)> = None;
    let mut window_end: Option<(Instant, f64, u64, u64)> = None;
    loop {
        while conns.len() < n {
            match listener.accept() {
                Ok((s, _)) => {
                    if let Ok(socket) = answer(s, &head) {
                        due.push(Reverse((Instant::now(), conns.len())));
                        conns.push(Conn {
                            socket,
                            frame: 0,
                            pending: None,
                        });
                    }
                }
                Err(_) => break,
            }
        }
        let now = Instant::now();
        if let Some((start, end)) = clock.window() {
            if window_start.is_none() && now >= start {
                window_start = Some((now, thread_cpu(), parts_sent, dropped));
            }
            if window_end.is_none() && now >= end {
                window_end = Some((now, thread_cpu(), parts_sent, dropped));
            }
        }
        if clock.over(now) {
            break;
        }
        while let Some(&Reverse((at, v))) = due.peek() {
            if at > now + server::pacer::BATCH_WINDOW {
                break;
            }
            due.pop();
            let c = &mut conns[v];
            c.frame += 1;
            if let Some((p, off)) = c.pending {
                let left = &parts[p][off..];
                let w = write_some(&c.socket, left);
                c.pending = (w < left.len()).then_some((p, off + w));
            }
            if c.pending.is_some() {
                dropped += 1;
            } else {
                let p = (c.frame - 1) % parts.len();
                let w = write_some(&c.socket, &parts[p]);
                c.pending = (w < parts[p].len()).then_some((p, w));
                parts_sent += 1;
            }
            due.push(Reverse((at + period, v)));
        }
        let mut wake = due.peek().map_or(now + period, |r| r.0 .0);
        if conns.len() < n {
            wake = wake.min(now + Duration::from_millis(1));
        }
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
    }
    // Over the window only, as the server's CPU is read; the grace after it keeps the last
    // frames going until the receivers stop.
    let last = (Instant::now(), thread_cpu(), parts_sent, dropped);
    let (t0, cpu0, parts0, dropped0) = window_start.unwrap_or(last);
    let (t1, cpu1, parts1, dropped1) = window_end.unwrap_or(last);
    FloorSent {
        parts: parts1 - parts0,
        dropped: dropped1 - dropped0,
        cpu_percent: (cpu1 - cpu0) / (t1 - t0).as_secs_f64().max(1e-9) * 100.0,
    }
}
