//! RTCP (RFC 3550 section 6): sender and receiver reports, source description, BYE, and
//! compound packets. The server sends SR + SDES (and BYE at the end); the client sends
//! RR + SDES (and BYE on TEARDOWN); each reads the other's.

use crate::rtp::RTP_VERSION;

/// Packet types (RFC 3550 12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;

/// Why bytes are not RTCP: which packet of the compound (from 0), at which byte of the
/// datagram it starts, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// A packet of the compound is malformed.
    #[error("RTCP packet {index} at byte {at}: {fault}")]
    Malformed {
        index: usize,
        at: usize,
        fault: RtcpFault,
    },
}

/// The rule an RTCP packet breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpFault {
    /// A zero-length datagram.
    #[error("empty")]
    Empty,
    /// Fewer than the 4 bytes of a common header left.
    #[error("shorter than a header")]
    ShortHeader,
    /// The version bits are not 2.
    #[error("version is {version}, not 2")]
    BadVersion { version: u8 },
    /// The length field runs past the end of the datagram.
    #[error("length of {len} bytes runs past the datagram")]
    LengthPastEnd { len: usize },
    /// The padding count is 0 or larger than the packet.
    #[error("bad padding")]
    BadPadding,
    /// An SR shorter than its sender info, or an RR shorter than its SSRC.
    #[error("report of {packet_type} too short")]
    ShortReport { packet_type: u8 },
    /// The report count says more blocks than the packet holds.
    #[error("{count} report blocks run past the packet")]
    BlocksPastEnd { count: usize },
    /// An SDES chunk or item runs past the packet.
    #[error("malformed SDES")]
    BadSdes,
    /// A BYE lists more sources than it holds.
    #[error("BYE lists {count} sources, more than it holds")]
    ByeSourcesPastEnd { count: usize },
}

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Loss since the previous report, as a fraction of 256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire).
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// A sender report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    pub ssrc: u32,
    /// NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low).
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    pub reports: Vec<ReportBlock>,
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub reports: Vec<ReportBlock>,
}

/// One RTCP packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    /// SDES: (SSRC, CNAME) chunks; other items are skipped when parsing.
    SourceDescription(Vec<(u32, String)>),
    Goodbye {
        ssrcs: Vec<u32>,
        reason: Option<String>,
    },
    /// A type this crate does not model (APP, feedback...), kept by type.
    Other {
        packet_type: u8,
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_block(b: &[u8]) -> ReportBlock {
    let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
    // Sign-extend the 24-bit cumulative loss.
    let cumulative_lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(&b[0..4]),
        fraction_lost: b[4],
        cumulative_lost,
        highest_seq: be32(&b[8..12]),
        jitter: be32(&b[12..16]),
        last_sr: be32(&b[16..20]),
        delay_since_last_sr: be32(&b[20..24]),
    }
}

fn write_block(b: &ReportBlock, out: &mut Vec<u8>) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    out.push(b.fraction_lost);
    let lost = b.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32;
    out.extend_from_slice(&lost.to_be_bytes()[1..]);
    out.extend_from_slice(&b.highest_seq.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&b.last_sr.to_be_bytes());
    out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
}

/// Parses a compound RTCP packet (one or more packets back to back).
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let index = packets.len();
        let (packet, len) = parse_one(&buf[pos..]).map_err(|fault| RtcpError::Malformed {
            index,
            at: pos,
            fault,
        })?;
        packets.push(packet);
        pos += len;
    }
    if packets.is_empty() {
        return Err(RtcpError::Malformed {
            index: 0,
            at: 0,
            fault: RtcpFault::Empty,
        });
    }
    Ok(packets)
}

/// Parses the packet at the start of `buf`: the packet and the bytes it took.
fn parse_one(buf: &[u8]) -> Result<(RtcpPacket, usize), RtcpFault> {
    let head = buf.get(..4).ok_or(RtcpFault::ShortHeader)?;
    let version = head[0] >> 6;
    if version != RTP_VERSION {
        return Err(RtcpFault::BadVersion { version });
    }
    let count = (head[0] & 0x1f) as usize;
    let padding = head[0] & 0x20 != 0;
    let packet_type = head[1];
    let len = (u16::from_be_bytes([head[2], head[3]]) as usize + 1) * 4;
    let mut body = buf.get(4..len).ok_or(RtcpFault::LengthPastEnd { len })?;
    if padding {
        let pad = *body.last().ok_or(RtcpFault::BadPadding)? as usize;
        if pad == 0 || pad > body.len() {
            return Err(RtcpFault::BadPadding);
        }
        body = &body[..body.len() - pad];
    }
    Ok((parse_body(packet_type, count, body)?, len))
}

/// Parses a packet's body (after the common header, padding removed) by its type.
fn parse_body(packet_type: u8, count: usize, body: &[u8]) -> Result<RtcpPacket, RtcpFault> {
    let short = RtcpFault::ShortReport { packet_type };
    let packet = match packet_type {
        PT_SR => {
            let info = body.get(..24).ok_or(short)?;
            RtcpPacket::SenderReport(SenderReport {
                ssrc: be32(&info[0..4]),
                ntp: (be32(&info[4..8]) as u64) << 32 | be32(&info[8..12]) as u64,
                rtp_timestamp: be32(&info[12..16]),
                packet_count: be32(&info[16..20]),
                octet_count: be32(&info[20..24]),
                reports: parse_blocks(&body[24..], count)?,
            })
        }
        PT_RR => {
            let ssrc = body.get(..4).ok_or(short)?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: be32(ssrc),
                reports: parse_blocks(&body[4..], count)?,
            })
        }
        PT_SDES => {
            RtcpPacket::SourceDescription(parse_sdes(body, count).ok_or(RtcpFault::BadSdes)?)
        }
        PT_BYE => {
            let ids = body
                .get(..count * 4)
                .ok_or(RtcpFault::ByeSourcesPastEnd { count })?;
            let ssrcs = ids.chunks_exact(4).map(be32).collect();
            let reason = body.get(count * 4).and_then(|&n| {
                body.get(count * 4 + 1..count * 4 + 1 + n as usize)
                    .map(|r| String::from_utf8_lossy(r).into_owned())
            });
            RtcpPacket::Goodbye { ssrcs, reason }
        }
        other => RtcpPacket::Other { packet_type: other },
    };
    Ok(packet)
}

/// `count` report blocks from the start of `b`.
fn parse_blocks(b: &[u8], count: usize) -> Result<Vec<ReportBlock>, RtcpFault> {
    let bytes = b
        .get(..count * 24)
        .ok_or(RtcpFault::BlocksPastEnd { count })?;
    Ok(bytes.chunks_exact(24).map(parse_block).collect())
}

fn parse_sdes(mut body: &[u8], count: usize) -> Option<Vec<(u32, String)>> {
    let mut chunks = Vec::new();
    for _ in 0..count {
        let ssrc = be32(body.get(..4)?);
        let mut pos = 4;
        let mut cname = String::new();
        loop {
            let item = *body.get(pos)?;
            if item == 0 {
                // Items end with a zero byte, then padding to a 32-bit boundary.
                pos = (pos + 4) & !3;
                break;
            }
            let len = *body.get(pos + 1)? as usize;
            let text = body.get(pos + 2..pos + 2 + len)?;
            if item == 1 {
                cname = String::from_utf8_lossy(text).into_owned();
            }
            pos += 2 + len;
        }
        chunks.push((ssrc, cname));
        body = body.get(pos.min(body.len())..)?;
    }
    Some(chunks)
}

fn header(out: &mut Vec<u8>, count: usize, pt: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[(RTP_VERSION << 6) | (count as u8 & 0x1f), pt, 0, 0]);
    at
}

/// Zero bytes up to the next 32-bit boundary of the packet that starts at `at`.
fn pad_to_word(out: &mut Vec<u8>, at: usize) {
    while !(out.len() - at).is_multiple_of(4) {
        out.push(0);
    }
}

fn finish(out: &mut [u8], at: usize) {
    let words = (out.len() - at) / 4 - 1;
    out[at + 2..at + 4].copy_from_slice(&(words as u16).to_be_bytes());
}

impl RtcpPacket {
    /// Appends the packet to `out` (padded to 32 bits where the format needs it).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            RtcpPacket::SenderReport(sr) => {
                let at = header(out, sr.reports.len().min(31), PT_SR);
                out.extend_from_slice(&sr.ssrc.to_be_bytes());
                out.extend_from_slice(&sr.ntp.to_be_bytes());
                out.extend_from_slice(&sr.rtp_timestamp.to_be_bytes());
                out.extend_from_slice(&sr.packet_count.to_be_bytes());
                out.extend_from_slice(&sr.octet_count.to_be_bytes());
                sr.reports.iter().take(31).for_each(|b| write_block(b, out));
                finish(out, at);
            }
            RtcpPacket::ReceiverReport(rr) => {
                let at = header(out, rr.reports.len().min(31), PT_RR);
                out.extend_from_slice(&rr.ssrc.to_be_bytes());
                rr.reports.iter().take(31).for_each(|b| write_block(b, out));
                finish(out, at);
            }
            RtcpPacket::SourceDescription(chunks) => {
                let at = header(out, chunks.len().min(31), PT_SDES);
                for (ssrc, cname) in chunks.iter().take(31) {
                    out.extend_from_slice(&ssrc.to_be_bytes());
                    let name = &cname.as_bytes()[..cname.len().min(255)];
                    out.extend_from_slice(&[1, name.len() as u8]);
                    out.extend_from_slice(name);
                    out.push(0);
                    pad_to_word(out, at);
                }
                finish(out, at);
            }
            RtcpPacket::Goodbye { ssrcs, reason } => {
                let at = header(out, ssrcs.len().min(31), PT_BYE);
                ssrcs
                    .iter()
                    .take(31)
                    .for_each(|s| out.extend_from_slice(&s.to_be_bytes()));
                if let Some(r) = reason {
                    let r = &r.as_bytes()[..r.len().min(255)];
                    out.push(r.len() as u8);
                    out.extend_from_slice(r);
                    pad_to_word(out, at);
                }
                finish(out, at);
            }
            RtcpPacket::Other { packet_type } => {
                let at = header(out, 0, *packet_type);
                finish(out, at);
            }
        }
    }
}

/// Writes a compound packet.
pub fn write_compound(packets: &[RtcpPacket], out: &mut Vec<u8>) {
    for p in packets {
        p.write(out);
    }
}

/// NTP time (RFC 3550 4) from seconds since the Unix epoch.
pub fn ntp_from_unix(secs: f64) -> u64 {
    const UNIX_TO_NTP: f64 = 2_208_988_800.0;
    let ntp = secs + UNIX_TO_NTP;
    let whole = ntp.floor();
    ((whole as u64) << 32) | (((ntp - whole) * 4_294_967_296.0) as u64 & 0xffff_ffff)
}

/// Unix seconds from an NTP timestamp.
pub fn unix_from_ntp(ntp: u64) -> f64 {
    (ntp >> 32) as f64 - 2_208_988_800.0 + (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0
}

/// The middle 32 bits of an NTP timestamp, as LSR carries it.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block() -> impl Strategy<Value = ReportBlock> {
        (
            any::<u32>(),
            any::<u8>(),
            -(1i32 << 23)..(1 << 23),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(
                |(
                    ssrc,
                    fraction_lost,
                    cumulative_lost,
                    highest_seq,
                    jitter,
                    last_sr,
                    delay_since_last_sr,
                )| ReportBlock {
                    ssrc,
                    fraction_lost,
                    cumulative_lost,
                    highest_seq,
                    jitter,
                    last_sr,
                    delay_since_last_sr,
                },
            )
    }

    fn packet() -> impl Strategy<Value = RtcpPacket> {
        prop_oneof![
            (
                any::<u32>(),
                any::<u64>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                prop::collection::vec(block(), 0..4)
            )
                .prop_map(
                    |(ssrc, ntp, rtp_timestamp, packet_count, octet_count, reports)| {
                        RtcpPacket::SenderReport(SenderReport {
                            ssrc,
                            ntp,
                            rtp_timestamp,
                            packet_count,
                            octet_count,
                            reports,
                        })
                    }
                ),
            (any::<u32>(), prop::collection::vec(block(), 0..4)).prop_map(|(ssrc, reports)| {
                RtcpPacket::ReceiverReport(ReceiverReport { ssrc, reports })
            }),
            prop::collection::vec((any::<u32>(), "[a-z0-9@.]{0,40}"), 0..3)
                .prop_map(RtcpPacket::SourceDescription),
            (
                prop::collection::vec(any::<u32>(), 0..4),
                prop::option::of("[a-z ]{0,30}")
            )
                .prop_map(|(ssrcs, reason)| RtcpPacket::Goodbye { ssrcs, reason }),
        ]
    }

    proptest! {
        #[test]
        fn compound_round_trip(packets in prop::collection::vec(packet(), 1..5)) {
            let mut out = Vec::new();
            write_compound(&packets, &mut out);
            prop_assert_eq!(out.len() % 4, 0);
            prop_assert_eq!(parse_compound(&out), Ok(packets));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_compound(&bytes);
        }
    }

    #[test]
    fn reads_a_real_receiver_report() {
        // RR + SDES as GStreamer sends it (captured shape): 1 block, negative-free loss.
        let mut out = Vec::new();
        write_compound(
            &[RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 1,
                reports: vec![ReportBlock {
                    ssrc: 2,
                    fraction_lost: 64,
                    cumulative_lost: -3,
                    highest_seq: 70000,
                    jitter: 90,
                    last_sr: 5,
                    delay_since_last_sr: 6,
                }],
            })],
            &mut out,
        );
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 201);
        assert_eq!(&out[2..4], &[0, 7]);
        let p = parse_compound(&out).unwrap();
        let RtcpPacket::ReceiverReport(rr) = &p[0] else {
            panic!()
        };
        assert_eq!(rr.reports[0].cumulative_lost, -3);
        assert!(parse_compound(&out[..out.len() - 1]).is_err());
    }

    #[test]
    fn errors_say_which_packet_and_byte() {
        let mut out = Vec::new();
        let rr = RtcpPacket::ReceiverReport(ReceiverReport {
            ssrc: 1,
            reports: vec![],
        });
        write_compound(&[rr.clone(), rr], &mut out);
        out[8] = 0x40; // the second packet claims version 1
        assert_eq!(
            parse_compound(&out),
            Err(RtcpError::Malformed {
                index: 1,
                at: 8,
                fault: RtcpFault::BadVersion { version: 1 }
            })
        );
        out[8] = 0x81; // now one report block, which is not there
        assert_eq!(
            parse_compound(&out),
            Err(RtcpError::Malformed {
                index: 1,
                at: 8,
                fault: RtcpFault::BlocksPastEnd { count: 1 }
            })
        );
        assert_eq!(
            parse_compound(&[]),
            Err(RtcpError::Malformed {
                index: 0,
                at: 0,
                fault: RtcpFault::Empty
            })
        );
    }

    #[test]
    fn ntp_conversions() {
        let t = 1_790_000_000.25;
        let n = ntp_from_unix(t);
        assert!((unix_from_ntp(n) - t).abs() < 1e-6);
        assert_eq!(n & 0xffff_ffff, 1 << 30);
        assert_eq!(ntp_middle(0x1234_5678_9abc_def0), 0x5678_9abc);
    }
}
