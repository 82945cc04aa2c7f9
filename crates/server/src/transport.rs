//! Where a session's media goes: RTP/JPEG over UDP (RFC 2435 fragments), or the lab's one
//! whole JPEG per datagram. Each owns its sockets; the session thread is the only user.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use rtsp_proto::jpeg::{fragments, MAX_PACKET};
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN, PAYLOAD_TYPE_JPEG};

use crate::media::PreparedFrame;

/// Largest UDP payload over IPv4: a lab frame bigger than this cannot go in one datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// The media path of one session.
pub enum MediaTransport {
    /// RFC 3550 RTP with the RFC 2435 payload, and an RTCP socket beside it.
    Udp { rtp: UdpSocket, rtcp: UdpSocket },
    /// The lab's dialect: RTP header + the whole JPEG, one datagram per frame.
    Lab { rtp: UdpSocket },
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
    /// Sends one frame as RTP, starting at sequence number `*seq` and advancing it per packet.
    /// Returns the packets sent; a frame the transport cannot carry sends nothing.
    pub fn send_frame(
        &self,
        data: &[u8],
        frame: &PreparedFrame,
        timestamp: u32,
        ssrc: u32,
        seq: &mut u16,
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        match self {
            MediaTransport::Udp { rtp, .. } => {
                let Some(params) = &frame.params else {
                    return Ok(0);
                };
                let mut sent = 0;
                for f in fragments(params, &data[frame.scan.clone()], MAX_PACKET) {
                    let header = RtpHeader {
                        marker: f.last,
                        payload_type: PAYLOAD_TYPE_JPEG,
                        sequence_number: *seq,
                        timestamp,
                        ssrc,
                    };
                    write_packet(buf, &header, &[f.header(), f.data]);
                    *seq = seq.wrapping_add(1);
                    ignore_refused(rtp.send(buf))?;
                    sent += 1;
                }
                Ok(sent)
            }
            MediaTransport::Lab { rtp } => {
                let jpeg = &data[frame.jpeg.clone()];
                if jpeg.len() + FIXED_HEADER_LEN > MAX_DATAGRAM {
                    log::warn!(
                        "lab transport: a {}-byte frame does not fit one datagram: skipped",
                        jpeg.len()
                    );
                    return Ok(0);
                }
                // As the lab's server: PT 26, SSRC 0, marker 0, one frame per datagram.
                let header = RtpHeader {
                    marker: false,
                    payload_type: PAYLOAD_TYPE_JPEG,
                    sequence_number: *seq,
                    timestamp,
                    ssrc: 0,
                };
                write_packet(buf, &header, &[jpeg]);
                *seq = seq.wrapping_add(1);
                ignore_refused(rtp.send(buf))?;
                Ok(1)
            }
        }
    }

    /// The RTCP socket, if the transport has one.
    pub fn rtcp(&self) -> Option<&UdpSocket> {
        match self {
            MediaTransport::Udp { rtcp, .. } => Some(rtcp),
            MediaTransport::Lab { .. } => None,
        }
    }
}

fn write_packet(buf: &mut Vec<u8>, header: &RtpHeader, parts: &[&[u8]]) {
    let mut fixed = [0u8; FIXED_HEADER_LEN];
    header.write(&mut fixed);
    buf.clear();
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
