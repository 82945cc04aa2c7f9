//! Where a session's media goes: RTP/JPEG over UDP (RFC 2435 fragments, RTCP on the next
//! port), RTP interleaved on the RTSP connection, or the lab's one whole JPEG per datagram.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use rtsp_proto::interleaved;
use rtsp_proto::jpeg::{fragments, Rfc2435Params, MAX_PACKET};
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN, PAYLOAD_TYPE_JPEG};

use crate::writer::Writer;

/// Largest UDP payload over IPv4: a lab frame bigger than this cannot go in one datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// The media path of one session.
pub enum MediaTransport {
    /// RFC 3550 RTP with the RFC 2435 payload, and an RTCP socket beside it.
    Udp { rtp: UdpSocket, rtcp: UdpSocket },
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
            MediaTransport::Udp { rtp: socket, .. } => {
                // The frame's packets end to end in `buf`, then one sendmmsg per batch: a
                // syscall per frame instead of one per packet.
                let mut ends = [0usize; MAX_BATCH];
                let mut count = 0;
                let mut batch_start = 0;
                let sent = each_packet(params, scan, rtp, seq, buf, |buf, packet| {
                    ends[count] = packet.end - batch_start;
                    count += 1;
                    if count == MAX_BATCH {
                        send_batch(socket, &buf[batch_start..packet.end], &ends[..count])?;
                        batch_start = packet.end;
                        count = 0;
                    }
                    Ok(())
                })?;
                if count > 0 {
                    send_batch(socket, &buf[batch_start..], &ends[..count])?;
                }
                Ok(sent)
            }
            MediaTransport::Interleaved {
                writer,
                rtp_channel,
                ..
            } => {
                // The whole frame becomes one queued message: it goes out whole or not at all.
                let mut out = Vec::with_capacity(scan.len() + scan.len() / 1000 * 32 + 256);
                let first_seq = *seq;
                let sent = each_packet(params, scan, rtp, seq, buf, |buf, packet| {
                    let _ = interleaved::write(*rtp_channel, &[&buf[packet]], &mut out);
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
        ignore_refused(rtp.send(buf))?;
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
    pub fn rtcp_socket(&self) -> Option<&UdpSocket> {
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

/// Packets handed to the kernel per sendmmsg call.
const MAX_BATCH: usize = 64;

/// Sends the packets in `buf` (each ending at the offsets in `ends`) on a connected socket:
/// one sendmmsg(2) where the platform has it, one send(2) each otherwise.
fn send_batch(socket: &UdpSocket, buf: &[u8], ends: &[usize]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BATCH];
        // SAFETY: mmsghdr is plain old data; zeroed is a valid empty header.
        let mut headers: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            iovecs[i] = libc::iovec {
                iov_base: buf[start..end].as_ptr() as *mut libc::c_void,
                iov_len: end - start,
            };
            headers[i].msg_hdr.msg_iov = &mut iovecs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
            start = end;
        }
        let mut done = 0;
        while done < ends.len() {
            // SAFETY: the headers point at iovecs that point into `buf`, all alive for the
            // call; the socket is connected, so no address is needed.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers[done..].as_mut_ptr(),
                    (ends.len() - done) as u32,
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
        let mut start = 0;
        for &end in ends {
            ignore_refused(socket.send(&buf[start..end]))?;
            start = end;
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

/// Writes a frame's RTP packets end to end into `buf` (no allocation per packet) and hands
/// each one's place in it to `send` as it is written.
fn each_packet(
    params: &Rfc2435Params,
    scan: &[u8],
    stamp: RtpStamp,
    seq: &mut u16,
    buf: &mut Vec<u8>,
    mut send: impl FnMut(&[u8], std::ops::Range<usize>) -> io::Result<()>,
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
        write_packet(buf, &header, &[f.header(), f.data]);
        *seq = seq.wrapping_add(1);
        send(buf, start..buf.len())?;
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
