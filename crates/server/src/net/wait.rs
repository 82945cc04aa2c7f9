//! Waiting for a connection's input until a deadline, precise to microseconds.
//!
//! A connection thread sleeps until a request, RTCP, the server stopping, or its next deadline
//! (a sender report, a timeout), whichever comes first: one poll on the sockets it reads, with
//! a high-resolution timeout, so it wakes only when there is something to do and only reads a
//! socket that has something to read. A thousand idle sessions cost nothing between their
//! deadlines.

use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Which sockets have input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The RTSP connection has bytes, or its peer closed it (a read will not block).
    pub rtsp: bool,
    /// The RTCP socket has a datagram.
    pub rtcp: bool,
    /// The server is stopping.
    pub stop: bool,
}

/// How the server tells every waiting connection thread at once that it is stopping: one end
/// of a socket pair that every thread polls, and that becomes readable for all of them when a
/// byte is written to the other end (nobody ever reads it).
pub struct StopSignal {
    watched: UnixStream,
    trigger: UnixStream,
}

impl StopSignal {
    pub fn new() -> io::Result<StopSignal> {
        let (watched, trigger) = UnixStream::pair()?;
        Ok(StopSignal { watched, trigger })
    }

    /// Wakes every [`wait`] on this signal, now and from now on.
    pub fn raise(&self) {
        let _ = (&self.trigger).write_all(b"!");
    }
}

/// Waits until `rtsp` or `rtcp` has input, `stop` is raised, or `timeout` passes (then nothing
/// is ready).
pub fn wait(
    rtsp: &TcpStream,
    rtcp: Option<&UdpSocket>,
    stop: &StopSignal,
    timeout: Duration,
) -> io::Result<Ready> {
    let readable = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
    let mut fds = [
        libc::pollfd {
            fd: rtsp.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            // A negative descriptor is ignored by poll: no RTCP socket, nothing to watch.
            fd: rtcp.map_or(-1, |s| s.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stop.watched.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    match poll(&mut fds, timeout) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Ready::default()),
        Err(e) => return Err(e),
    }
    Ok(Ready {
        rtsp: fds[0].revents & readable != 0,
        rtcp: fds[1].revents & readable != 0,
        stop: fds[2].revents & readable != 0,
    })
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: `fds` is a valid slice of pollfd for the call; the timespec outlives it.
    let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as _, &ts, std::ptr::null()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Elsewhere poll(2) counts milliseconds: rounded up, a deadline is met at most 1 ms late
/// (the connection's deadlines are timeouts and sender reports; frames are the pacers').
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid slice of pollfd for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn nothing_ready_until_the_timeout_then_on_time() {
        let (_client, server) = pair();
        let rtcp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stop = StopSignal::new().unwrap();
        let start = Instant::now();
        let ready = wait(&server, Some(&rtcp), &stop, Duration::from_millis(30)).unwrap();
        let waited = start.elapsed();
        assert_eq!(ready, Ready::default());
        assert!(
            waited >= Duration::from_millis(30),
            "woke early: {waited:?}"
        );
    }

    #[test]
    fn input_on_either_socket_wakes_the_wait() {
        let (mut client, server) = pair();
        let rtcp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stop = StopSignal::new().unwrap();
        client.write_all(b"OPTIONS").unwrap();
        let ready = wait(&server, Some(&rtcp), &stop, Duration::from_secs(5)).unwrap();
        assert!(ready.rtsp);

        let (_client, server) = pair();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"rtcp", rtcp.local_addr().unwrap()).unwrap();
        let ready = wait(&server, Some(&rtcp), &stop, Duration::from_secs(5)).unwrap();
        assert_eq!(
            ready,
            Ready {
                rtcp: true,
                ..Ready::default()
            }
        );

        // The stop signal wakes every waiter, and keeps doing so.
        stop.raise();
        for _ in 0..2 {
            let ready = wait(&server, None, &stop, Duration::from_secs(5)).unwrap();
            assert!(ready.stop);
        }
    }

    #[test]
    fn a_closed_connection_is_ready_to_read_its_end() {
        let (client, server) = pair();
        drop(client);
        let stop = StopSignal::new().unwrap();
        let ready = wait(&server, None, &stop, Duration::from_secs(5)).unwrap();
        assert!(ready.rtsp);
    }
}
