//! Where a session's media goes: RTP/JPEG over UDP (RFC 2435 fragments, RTCP on the next
//! port), RTP interleaved on the RTSP connection, or the lab's one whole JPEG per datagram.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use rtsp_proto::interleaved;
use rtsp_proto::jpeg::{fragments, Rfc2435Params, MAX_PACKET};
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN, PAYLOAD_TYPE_JPEG};

use crate::writer::Writer;

/// Largest UDP payload over IPv4: a lab frame bigger than this cannot go in one datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// The media path of one session.
pub enum MediaTransport {
    /// RFC 3550 RTP with the RFC 2435 payload, and an RTCP socket beside it. `gso` says
    /// whether a frame still goes to the kernel as one segmented datagram (see [`send_batch`]);
    /// it turns false for good the first time the kernel or the route refuses that.
    Udp {
        rtp: UdpSocket,
        /// Shared with the session's connection thread, which reads the client's RTCP from it.
        rtcp: Arc<UdpSocket>,
        gso: Cell<bool>,
    },
    /// RTP and RTCP as `$` frames on the RTSP connection (RFC 2326 10.12).
    Interleaved {
        writer: Writer,
        rtp_channel: u8,
        rtcp_channel: u8,
    },
    /// The lab's dialect: RTP header + the whole JPEG, one datagram per frame.
    Lab { rtp: UdpSocket },
}

/// What sending one frame did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub packets: u32,
    /// RTP payload octets, as an SR counts them.
    pub octets: u32,
    /// The frame was dropped whole (TCP peer behind).
    pub dropped: bool,
}

/// Binds an RTP/RTCP socket pair on consecutive ports, even port first (RFC 3550 11).
pub fn bind_pair(ip: IpAddr) -> io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..64 {
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let port = rtp.local_addr()?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)) {
            return Ok((rtp, rtcp));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free even/odd UDP port pair",
    ))
}

impl MediaTransport {
    /// Sends one frame as RTP/JPEG (`scan` is what RFC 2435 carries: the bytes after the SOS
    /// header, EOI included), starting at sequence number `*seq` and advancing it per packet.
    pub fn send_rtp(
        &self,
        params: &Rfc2435Params,
        scan: &[u8],
        rtp: RtpStamp,
        seq: &mut u16,
        buf: &mut Vec<u8>,
    ) -> io::Result<Sent> {
        match self {
            MediaTransport::Udp {
                rtp: socket, gso, ..
            } => match send_rtp_udp(socket, gso, params, scan, rtp, seq, buf) {
                // The socket is non-blocking (see the pacer): a full send buffer drops the rest
                // of this frame rather than stall every session the pacer serves.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Sent {
                    dropped: true,
                    ..Sent::default()
                }),
                result => result,
            },
            MediaTransport::Interleaved {
                writer,
                rtp_channel,
                ..
            } => {
                // The whole frame becomes one queued message: it goes out whole or not at all.
                let mut out = Vec::with_capacity(scan.len() + scan.len() / 1000 * 32 + 256);
                let first_seq = *seq;
                let sent = each_packet(params, scan, rtp, seq, buf, |buf, head, body| {
                    let _ = interleaved::write(*rtp_channel, &[&buf[head], body], &mut out);
                    Ok(())
                })?;
                if !writer.send_media(out) {
                    // Not sent: the sequence numbers were not used either, so the receiver sees
                    // a missing frame, not lost packets.
                    *seq = first_seq;
                    return Ok(Sent {
                        dropped: true,
                        ..Sent::default()
                    });
                }
                Ok(sent)
            }
            MediaTransport::Lab { .. } => self.send_lab(scan, rtp.timestamp, seq, buf),
        }
    }

    /// The lab's dialect: the whole JPEG in one datagram, as the lab's server sends it (PT 26,
    /// SSRC 0, marker 0). A frame too big for a datagram is skipped with a warning.
    pub fn send_lab(
        &self,
        jpeg: &[u8],
        timestamp: u32,
        seq: &mut u16,
        buf: &mut Vec<u8>,
    ) -> io::Result<Sent> {
        let MediaTransport::Lab { rtp } = self else {
            return Ok(Sent::default());
        };
        if jpeg.len() + FIXED_HEADER_LEN > MAX_DATAGRAM {
            log::warn!(
                "lab transport: a {}-byte frame does not fit one datagram: skipped",
                jpeg.len()
            );
            return Ok(Sent::default());
        }
        let header = RtpHeader {
            marker: false,
            payload_type: PAYLOAD_TYPE_JPEG,
            sequence_number: *seq,
            timestamp,
            ssrc: 0,
        };
        buf.clear();
        write_packet(buf, &header, &[jpeg]);
        *seq = seq.wrapping_add(1);
        match rtp.send(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Sent {
                    dropped: true,
                    ..Sent::default()
                })
            }
            r => ignore_refused(r)?,
        }
        Ok(Sent {
            packets: 1,
            octets: jpeg.len() as u32,
            dropped: false,
        })
    }

    /// Whether this is the lab's transport (whole JPEGs, any kind).
    pub fn is_lab(&self) -> bool {
        matches!(self, MediaTransport::Lab { .. })
    }

    /// Sends a compound RTCP packet the transport's way (the lab's has no RTCP).
    pub fn send_rtcp(&self, packet: &[u8]) -> io::Result<()> {
        match self {
            MediaTransport::Udp { rtcp, .. } => ignore_refused(rtcp.send(packet)),
            MediaTransport::Interleaved {
                writer,
                rtcp_channel,
                ..
            } => {
                let mut out = Vec::with_capacity(packet.len() + 4);
                let _ = interleaved::write(*rtcp_channel, &[packet], &mut out);
                writer.send_media(out);
                Ok(())
            }
            MediaTransport::Lab { .. } => Ok(()),
        }
    }

    /// The UDP RTCP socket, if the transport has one.
    pub fn rtcp_socket(&self) -> Option<&Arc<UdpSocket>> {
        match self {
            MediaTransport::Udp { rtcp, .. } => Some(rtcp),
            _ => None,
        }
    }

    /// The interleaved RTCP channel, if the transport is interleaved.
    pub fn rtcp_channel(&self) -> Option<u8> {
        match self {
            MediaTransport::Interleaved { rtcp_channel, .. } => Some(*rtcp_channel),
            _ => None,
        }
    }

    /// "udp", "tcp" or "lab", for logs.
    pub fn name(&self) -> &'static str {
        match self {
            MediaTransport::Udp { .. } => "udp",
            MediaTransport::Interleaved { .. } => "tcp",
            MediaTransport::Lab { .. } => "lab",
        }
    }
}

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

/// The RTP timestamp and SSRC every packet of a frame carries.
#[derive(Debug, Clone, Copy)]
pub struct RtpStamp {
    pub timestamp: u32,
    pub ssrc: u32,
}

/// [`MediaTransport::send_rtp`] over UDP. Headers go into `buf`, payloads stay where they are
/// in the shared frame; the kernel gathers both, one syscall per batch instead of one per
/// packet.
fn send_rtp_udp(
    socket: &UdpSocket,
    gso: &Cell<bool>,
    params: &Rfc2435Params,
    scan: &[u8],
    rtp: RtpStamp,
    seq: &mut u16,
    buf: &mut Vec<u8>,
) -> io::Result<Sent> {
    let mut batch: [(usize, usize, &[u8]); MAX_BATCH] = [(0, 0, &[]); MAX_BATCH];
    let mut count = 0;
    let flush = |buf: &[u8], batch: &[(usize, usize, &[u8])]| {
        let mut packets = [Packet::default(); MAX_BATCH];
        for (p, &(start, end, body)) in packets.iter_mut().zip(batch) {
            *p = Packet {
                head: &buf[start..end],
                body,
            };
        }
        send_batch(socket, &packets[..batch.len()], gso)
    };
    let sent = each_packet(params, scan, rtp, seq, buf, |buf, head, body| {
        batch[count] = (head.start, head.end, body);
        count += 1;
        if count == MAX_BATCH {
            flush(buf, &batch[..count])?;
            count = 0;
        }
        Ok(())
    })?;
    if count > 0 {
        flush(buf, &batch[..count])?;
    }
    Ok(sent)
}

/// Writes the headers (RTP and RFC 2435) of a frame's packets end to end into `buf` (no
/// allocation per packet) and hands `send` each packet as it is written: where its headers
/// are in `buf`, and its payload, a slice of `scan`.
fn each_packet<'s>(
    params: &'s Rfc2435Params,
    scan: &'s [u8],
    stamp: RtpStamp,
    seq: &mut u16,
    buf: &mut Vec<u8>,
    mut send: impl FnMut(&[u8], std::ops::Range<usize>, &'s [u8]) -> io::Result<()>,
) -> io::Result<Sent> {
    let mut sent = Sent::default();
    buf.clear();
    for f in fragments(params, scan, MAX_PACKET) {
        let header = RtpHeader {
            marker: f.last,
            payload_type: PAYLOAD_TYPE_JPEG,
            sequence_number: *seq,
            timestamp: stamp.timestamp,
            ssrc: stamp.ssrc,
        };
        let start = buf.len();
        write_packet(buf, &header, &[f.header()]);
        *seq = seq.wrapping_add(1);
        send(buf, start..buf.len(), f.data)?;
        sent.packets += 1;
        sent.octets += (f.header().len() + f.data.len()) as u32;
    }
    Ok(sent)
}

fn write_packet(buf: &mut Vec<u8>, header: &RtpHeader, parts: &[&[u8]]) {
    let mut fixed = [0u8; FIXED_HEADER_LEN];
    header.write(&mut fixed);
    buf.extend_from_slice(&fixed);
    for p in parts {
        buf.extend_from_slice(p);
    }
}

/// A connected UDP socket reports an earlier datagram's ICMP port-unreachable on a later send;
/// the client may simply not have opened its port yet, which is no reason to stop streaming.
fn ignore_refused(r: io::Result<usize>) -> io::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::PreparedMedia;
    use std::path::Path;
    use std::time::Duration;

    /// The next `count` datagrams that reach `sink` (each within a deadline).
    fn receive(sink: &UdpSocket, count: usize) -> Vec<Vec<u8>> {
        sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = vec![0u8; 65536];
        (0..count)
            .map(|_| {
                let n = sink.recv(&mut buf).expect("a datagram within 2 s");
                buf[..n].to_vec()
            })
            .collect()
    }

    fn udp_to(sink: &UdpSocket, gso: bool) -> MediaTransport {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.connect(sink.local_addr().unwrap()).unwrap();
        let rtcp = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        MediaTransport::Udp {
            rtp,
            rtcp,
            gso: Cell::new(gso),
        }
    }

    /// Segmentation offload must be invisible on the wire: the receiver gets the very
    /// datagrams that one sendmmsg of separate packets gives, frame after frame, including
    /// frames bigger than one segmented datagram may be.
    #[test]
    fn segmented_and_separate_sends_deliver_the_same_datagrams() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos/video.mjpeg");
        let media = PreparedMedia::prepare(&path, 1 << 20).unwrap();
        let mut per_mode = Vec::new();
        for gso in [true, false] {
            let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
            let transport = udp_to(&sink, gso);
            let (mut seq, mut buf) = (1000u16, Vec::new());
            let mut got = Vec::new();
            for i in 0..5 {
                let frame = media.rtp_frame(i).unwrap();
                let (params, scan) = frame.parts();
                // Frame 4 repeats its scan data until it needs several segmented datagrams.
                let big: Vec<u8> = scan.iter().copied().cycle().take(90_000).collect();
                let scan = if i == 4 { &big[..] } else { scan };
                let stamp = RtpStamp {
                    timestamp: i as u32 * 4500,
                    ssrc: 7,
                };
                let sent = transport
                    .send_rtp(params, scan, stamp, &mut seq, &mut buf)
                    .unwrap();
                got.extend(receive(&sink, sent.packets as usize));
            }
            // Nothing more: every packet arrived as a datagram of its own.
            sink.set_nonblocking(true).unwrap();
            assert!(
                sink.recv(&mut [0u8; 2048]).is_err(),
                "gso {gso}: extra datagrams"
            );
            if let MediaTransport::Udp { gso: used, .. } = &transport {
                // Linux has had UDP_SEGMENT since 4.18: the offload path itself was tested.
                assert_eq!(used.get(), gso && cfg!(target_os = "linux"));
            }
            per_mode.push(got);
        }
        assert_eq!(per_mode[0], per_mode[1]);
        assert!(per_mode[0].iter().all(|p| p.len() <= MAX_PACKET));
    }

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
