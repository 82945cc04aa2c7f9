//! The receiving end: one RTP socket per session, read in rounds by a few threads.
//!
//! Each session has its own socket (a server with one shared media, like gst-rtsp-server's,
//! sends a destination only once however many sessions name it). A few threads wait on all
//! of them with epoll and read only the ready ones; with UDP GRO (Linux 5.0+) a run of packets
//! that arrived together comes up in one read, of which only the first packet's headers are
//! copied out (MSG_TRUNC). The kernel stamps each arrival (SO_TIMESTAMPNS), so the
//! generator's own scheduling does not show as the server's jitter.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::count::SessionCount;

/// What the generator reads of each datagram: the fixed RTP header (RFC 3550 5.1) and the
/// type-specific byte and fragment offset of the RFC 2435 header that follows it.
pub const HEADER_READ: usize = 16;

/// How long a receiving thread rests after a round that found little: far less than what a
/// session's 1 MiB receive buffer holds (about 4 s of this video).
const RECEIVE_PAUSE: Duration = Duration::from_millis(2);

/// One receiving RTP socket per session (on an even port, RTCP's beside it left free), with
/// kernel arrival stamps and, with `gro`, UDP GRO.
pub fn bind_receivers(n: usize, gro: bool) -> std::io::Result<Vec<UdpSocket>> {
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

/// How many receiving threads share `sessions` sockets: one per CPU, no more than sockets.
pub fn receiving_threads(sessions: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .min(sessions)
        .max(1)
}

/// Receives on every socket until `until`, the sockets split evenly between
/// [`receiving_threads`] threads; the counts come back in the sockets' order.
pub fn receive_all(sockets: &[UdpSocket], until: Instant) -> Vec<SessionCount> {
    let chunk = sockets
        .len()
        .div_ceil(receiving_threads(sockets.len()))
        .max(1);
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
}

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

/// Counts what reaches `socks` until `end`: an epoll set over them, one read per ready socket
/// per round (level-triggered: a socket with more is reported again), and a pause of
/// [`RECEIVE_PAUSE`] after a round that did not fill the event list. Waking for every
/// datagram would cost both sides a wake-up per frame (the sender's kernel wakes the waiting
/// reader); the kernel's arrival stamps keep the timing exact however late the read.
pub fn receive_until(socks: &[UdpSocket], end: Instant) -> Vec<SessionCount> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coalesced_datagram_holds_one_packet_per_segment_the_last_one_short() {
        let read = |len, segment| {
            Received {
                len,
                at: 0.0,
                segment,
            }
            .packets()
        };
        assert_eq!(read(9 * 1400, Some(1400)), 9);
        assert_eq!(read(8 * 1400 + 300, Some(1400)), 9);
        assert_eq!(read(1400, None), 1);
    }

    #[test]
    fn every_socket_is_counted_in_its_own_place() {
        let receivers = bind_receivers(3, true).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Socket i gets i + 1 frames of one packet each (fragment offset 0).
        for (i, r) in receivers.iter().enumerate() {
            for seq in 0..=i as u16 {
                let mut packet = [0u8; 20];
                packet[..2].copy_from_slice(&[0x80, 26]);
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&(u32::from(seq) * 4500).to_be_bytes());
                sender.send_to(&packet, r.local_addr().unwrap()).unwrap();
            }
        }
        // Loopback queues a datagram before send_to returns: all are there to be read.
        let counts = receive_all(&receivers, Instant::now() + Duration::from_millis(300));
        let frames: Vec<u64> = counts.iter().map(|c| c.frames).collect();
        assert_eq!(frames, vec![1, 2, 3]);
        assert!(receivers
            .iter()
            .all(|r| r.local_addr().unwrap().port() % 2 == 0));
    }
}
