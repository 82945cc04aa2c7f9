//! Waiting for a connection's input until a deadline, precise to microseconds.
//!
//! A connection thread sleeps between frames, and whatever wakes it costs CPU once per frame
//! per session: at a thousand sessions that is twenty thousand wake-ups a second. One poll on
//! both sockets the session reads (RTSP and RTCP) with a high-resolution timeout wakes the
//! thread once per frame, on time, and only reads a socket that has something to read.
//! (A socket read timeout ticks in jiffies, so it could only get close to a frame's deadline,
//! and the rest had to be slept: two wake-ups per frame, and an RTCP read that was mostly
//! EAGAIN.)

use std::io;
use std::net::{TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Which sockets have input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The RTSP connection has bytes, or its peer closed it (a read will not block).
    pub rtsp: bool,
    /// The RTCP socket has a datagram.
    pub rtcp: bool,
}

/// Waits until `rtsp` or `rtcp` has input, or `timeout` passes (then nothing is ready).
pub fn wait(rtsp: &TcpStream, rtcp: Option<&UdpSocket>, timeout: Duration) -> io::Result<Ready> {
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
    ];
    match poll(&mut fds, timeout) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Ready::default()),
        Err(e) => return Err(e),
    }
    Ok(Ready {
        rtsp: fds[0].revents & readable != 0,
        rtcp: fds[1].revents & readable != 0,
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

/// Elsewhere poll(2) counts milliseconds: rounded up, a frame is at most 1 ms late.
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
    use std::io::Write;
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
        let start = Instant::now();
        let ready = wait(&server, Some(&rtcp), Duration::from_millis(30)).unwrap();
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
        client.write_all(b"OPTIONS").unwrap();
        let ready = wait(&server, Some(&rtcp), Duration::from_secs(5)).unwrap();
        assert!(ready.rtsp);

        let (_client, server) = pair();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"rtcp", rtcp.local_addr().unwrap()).unwrap();
        let ready = wait(&server, Some(&rtcp), Duration::from_secs(5)).unwrap();
        assert_eq!(
            ready,
            Ready {
                rtsp: false,
                rtcp: true
            }
        );
    }

    #[test]
    fn a_closed_connection_is_ready_to_read_its_end() {
        let (client, server) = pair();
        drop(client);
        let ready = wait(&server, None, Duration::from_secs(5)).unwrap();
        assert!(ready.rtsp);
    }
}
