//! Handing a frame's RTP packets to the kernel in as few syscalls as it allows: one segmented
//! datagram per run of equal packets (UDP GSO), else one sendmmsg(2), else one send(2) each.
//! Headers and payloads are gathered from where they are (iovecs), so a payload shared by every
//! session is never copied.

use std::cell::Cell;
use std::io;
use std::net::UdpSocket;

/// Packets handed to the kernel per call (at most this many `ends` for [`send_batch`]).
pub const MAX_BATCH: usize = 64;

/// Largest datagram handed to the kernel for segmentation: UDP's 16-bit length less the IPv6
/// header room, so the same limit holds for both address families.
const MAX_GSO_BYTES: usize = 65_000;

/// One datagram to send, in two pieces the kernel gathers: headers written for this session,
/// and a payload that can stay in the frame every session shares.
#[derive(Debug, Default, Clone, Copy)]
pub struct Packet<'a> {
    pub head: &'a [u8],
    pub body: &'a [u8],
}

impl Packet<'_> {
    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }
}

/// Sends `packets` (at most [`MAX_BATCH`]) on a connected socket.
///
/// Where the kernel has UDP generic segmentation offload (Linux 4.18+) and `gso` still holds,
/// runs of equal-sized packets go as one datagram that the kernel (or the NIC) cuts at the
/// packet size: one trip through the stack per run instead of one per packet. RFC 2435
/// fragments are all `MAX_PACKET` long but the last, which is exactly the shape that needs.
/// Anything else goes with one sendmmsg(2), or one send(2) per packet off Linux.
///
/// Public so that `loadgen floor` measures the kernel's floor with these very syscalls.
pub fn send_batch(socket: &UdpSocket, packets: &[Packet], gso: &Cell<bool>) -> io::Result<()> {
    let mut first = 0;
    #[cfg(target_os = "linux")]
    while gso.get() && first < packets.len() {
        let run = gso_run(&packets[first..]);
        let segment = packets[first].len();
        match send_segmented(socket, &packets[first..first + run], segment) {
            Ok(()) => first += run,
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => first += run,
            Err(e) if gso_unsupported(&e) => {
                log::info!("UDP segmentation offload refused ({e}): one datagram per packet");
                gso.set(false);
            }
            Err(e) => return Err(e),
        }
    }
    send_each(socket, &packets[first..])
}

/// How many of `packets` can go as one segmented datagram: every one but the last exactly as
/// long as the first, the last no longer, and the whole within [`MAX_GSO_BYTES`].
fn gso_run(packets: &[Packet]) -> usize {
    let segment = packets[0].len();
    let mut bytes = segment;
    let mut run = 1;
    while run < packets.len()
        && packets[run - 1].len() == segment
        && packets[run].len() <= segment
        && bytes + packets[run].len() <= MAX_GSO_BYTES
    {
        bytes += packets[run].len();
        run += 1;
    }
    run
}

/// The errors that mean "no segmentation offload here" rather than "this send failed": an old
/// kernel (the option is unknown), or a route whose device cannot checksum segments.
#[cfg(target_os = "linux")]
fn gso_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::EIO)
    )
}

fn iovec(bytes: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    }
}

/// One sendmsg(2) of `packets` back to back with a UDP_SEGMENT control message: the kernel
/// sends them as datagrams of `segment` bytes (the last one shorter).
#[cfg(target_os = "linux")]
fn send_segmented(socket: &UdpSocket, packets: &[Packet], segment: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut iov = [iovec(&[]); 2 * MAX_BATCH];
    for (i, p) in packets.iter().enumerate() {
        iov[2 * i] = iovec(p.head);
        iov[2 * i + 1] = iovec(p.body);
    }
    // Room for one cmsg carrying a u16, aligned as cmsghdr wants.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain old data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = (2 * packets.len()) as _;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as _;
    // SAFETY: the control buffer is big enough for one header and its u16 (checked by
    // CMSG_SPACE above), and CMSG_FIRSTHDR/CMSG_DATA point inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut u16, segment as u16);
    }
    // SAFETY: msg points at the iovecs (into `packets`) and control buffer above, alive for
    // the call; the socket is connected, so no address is needed.
    let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One sendmmsg(2) for `packets`, or one send(2) each off Linux.
fn send_each(socket: &UdpSocket, packets: &[Packet]) -> io::Result<()> {
    if packets.is_empty() {
        // What segmentation offload already sent; skip setting up a call for nothing.
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut iov = [iovec(&[]); 2 * MAX_BATCH];
        // SAFETY: mmsghdr is plain old data; zeroed is a valid empty header.
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for (i, p) in packets.iter().enumerate() {
            iov[2 * i] = iovec(p.head);
            iov[2 * i + 1] = iovec(p.body);
        }
        for (i, h) in headers.iter_mut().take(packets.len()).enumerate() {
            h.msg_hdr.msg_iov = &mut iov[2 * i];
            h.msg_hdr.msg_iovlen = 2;
        }
        let mut done = 0;
        while done < packets.len() {
            // SAFETY: the headers point at iovecs that point into `packets`, all alive for
            // the call; the socket is connected, so no address is needed.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers[done..].as_mut_ptr(),
                    (packets.len() - done) as u32,
                    0,
                )
            };
            if n < 0 {
                return ignore_refused(Err(io::Error::last_os_error()).map(|()| 0));
            }
            done += n as usize;
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        for p in packets {
            ignore_refused(socket.send(&[p.head, p.body].concat()))?;
        }
        Ok(())
    }
}

/// A connected UDP socket reports an earlier datagram's ICMP port-unreachable on a later send;
/// the client may simply not have opened its port yet, which is no reason to stop streaming.
pub(crate) fn ignore_refused(r: io::Result<usize>) -> io::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gso_run_is_equal_packets_then_one_no_longer() {
        let bytes = [0u8; 1400];
        let packets = |lens: &[usize]| -> Vec<Packet> {
            lens.iter()
                .map(|&n| Packet {
                    head: &bytes[..2.min(n)],
                    body: &bytes[..n - 2.min(n)],
                })
                .collect()
        };
        // 10, 10, 10, 4 | 10: a short packet ends a run.
        let p = packets(&[10, 10, 10, 4, 10]);
        assert_eq!(gso_run(&p), 4);
        assert_eq!(gso_run(&p[4..]), 1);
        // A longer packet cannot join a run of shorter ones.
        assert_eq!(gso_run(&packets(&[10, 25])), 1);
        // No run passes MAX_GSO_BYTES.
        assert_eq!(gso_run(&packets(&[1400; 64])), MAX_GSO_BYTES / 1400);
    }
}
