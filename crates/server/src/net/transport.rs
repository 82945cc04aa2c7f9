//! Where a session's media goes: RTP/JPEG over UDP (RFC 2435 fragments, RTCP on the next
//! port), RTP interleaved on the RTSP connection, the lab's one whole JPEG per datagram, or
//! the parts of an HTTP `multipart/x-mixed-replace` response (what IP cameras serve).

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use rtsp_proto::interleaved;
use rtsp_proto::jpeg::{fragments, Rfc2435Params, MAX_PACKET};
use rtsp_proto::rtp::{bind_even_pair, PortPairError, PORT_PAIR_ATTEMPTS};
use rtsp_proto::rtp::{RtpHeader, FIXED_HEADER_LEN, PAYLOAD_TYPE_JPEG};

use super::udp_batch::{ignore_refused, send_batch, Packet, MAX_BATCH};
use super::writer::Writer;

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
    /// Motion-JPEG over HTTP: each frame the file's own JPEG as one part of a multipart
    /// response. The pacer writes it to the socket itself when the writer is idle and the
    /// socket takes it (measured: waking a writer thread per frame cost four times the send,
    /// BENCHMARKS.md); what the socket does not take goes to the writer's queue, whole parts
    /// dropped when that is full.
    Multipart {
        writer: Writer,
        socket: Arc<std::net::TcpStream>,
    },
}

/// The boundary between the parts of a Motion-JPEG HTTP response.
pub const MULTIPART_BOUNDARY: &str = "mjpegframe";

/// The transports, as counters and metrics name them.
pub const TRANSPORT_NAMES: [&str; 4] = ["udp", "tcp", "lab", "http"];

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
    let bind = |port| {
        let socket = UdpSocket::bind(SocketAddr::new(ip, port))?;
        let port = socket.local_addr()?.port();
        Ok::<_, io::Error>((socket, port))
    };
    bind_even_pair(bind, PORT_PAIR_ATTEMPTS).map_err(|e| match e {
        PortPairError::Bind(e) => e,
        e @ PortPairError::Exhausted { .. } => io::Error::new(io::ErrorKind::AddrInUse, e),
    })
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
                // The socket is non-blocking (a pacer sends for many sessions): a full send
                // buffer drops the rest of this frame rather than stall every other session.
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
            // Multipart streams carry whole JPEGs: the session sends them with send_part.
            MediaTransport::Multipart { .. } => Ok(Sent::default()),
        }
    }

    /// One frame as one part of a multipart response: its own delimiter and headers, the
    /// JPEG, CRLF (RFC 2046 5.1.1). The whole part goes out, or is queued, or is dropped.
    pub fn send_part(&self, jpeg: &[u8]) -> Sent {
        let MediaTransport::Multipart { writer, socket } = self else {
            return Sent::default();
        };
        let head = part_head(jpeg.len());
        let parts: [&[u8]; 3] = [head.as_bytes(), jpeg, b"\r\n"];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let sent = Sent {
            packets: 1,
            octets: total as u32,
            dropped: false,
        };
        // Nothing queued: nothing to overtake. The writer thread stays asleep.
        let written = match writer.is_idle() {
            true => send_now(socket, &parts),
            false => 0,
        };
        if written == total {
            return sent;
        }
        let mut rest = Vec::with_capacity(total - written);
        let mut skip = written;
        for p in parts {
            let from = skip.min(p.len());
            rest.extend_from_slice(&p[from..]);
            skip -= from;
        }
        // A part begun on the socket must be finished, whatever the queue's bound says.
        let queued = match written {
            0 => writer.send_media(rest),
            _ => writer.send_message(rest).is_ok(),
        };
        match queued {
            true => sent,
            false => Sent {
                dropped: true,
                ..Sent::default()
            },
        }
    }

    /// Ends a multipart response with its close delimiter (RFC 2046 5.1.1): players then know
    /// the stream ended rather than broke.
    pub fn finish_parts(&self) {
        if let MediaTransport::Multipart { writer, .. } = self {
            let close = format!("--{MULTIPART_BOUNDARY}--\r\n");
            let _ = writer.send_message(close.into_bytes());
        }
    }

    /// Whether this is a multipart (HTTP) stream, which has no RTCP.
    pub fn is_multipart(&self) -> bool {
        matches!(self, MediaTransport::Multipart { .. })
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
            MediaTransport::Lab { .. } | MediaTransport::Multipart { .. } => Ok(()),
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

    /// "udp", "tcp", "lab" or "http", for logs and metrics.
    pub fn name(&self) -> &'static str {
        TRANSPORT_NAMES[self.kind()]
    }

    /// The transport's index in [`TRANSPORT_NAMES`].
    pub fn kind(&self) -> usize {
        match self {
            MediaTransport::Udp { .. } => 0,
            MediaTransport::Interleaved { .. } => 1,
            MediaTransport::Lab { .. } => 2,
            MediaTransport::Multipart { .. } => 3,
        }
    }
}

/// A multipart part's delimiter and headers for a JPEG of `len` bytes (RFC 2046 5.1.1); the
/// part is this, the JPEG, and CRLF.
pub fn part_head(len: usize) -> String {
    format!("--{MULTIPART_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len}\r\n\r\n")
}

/// A whole multipart part, as [`MediaTransport::send_part`] sends it.
pub fn part_bytes(jpeg: &[u8]) -> Vec<u8> {
    let head = part_head(jpeg.len());
    let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
    part.extend_from_slice(head.as_bytes());
    part.extend_from_slice(jpeg);
    part.extend_from_slice(b"\r\n");
    part
}

/// Writes `parts` to `socket` without blocking (one sendmsg, MSG_DONTWAIT, as the socket
/// stays blocking for the writer thread); gives how many bytes the kernel took.
fn send_now(socket: &std::net::TcpStream, parts: &[&[u8]; 3]) -> usize {
    use std::os::fd::AsRawFd;
    let mut iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: msghdr is plain data; zeroed is a valid empty header, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: the iovecs point into `parts`, alive and unchanged for the call.
    let n = unsafe {
        libc::sendmsg(
            socket.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    // Full (EAGAIN), or an error the writer thread will meet and report: nothing taken.
    usize::try_from(n).unwrap_or(0)
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
}
