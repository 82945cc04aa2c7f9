//! The RTP fixed header (RFC 3550 section 5.1) and sequence-number arithmetic.
//!
//! [`RtpPacket::parse`] borrows from the datagram (no copy of the payload); [`RtpHeader::write`]
//! writes into a caller's buffer so the server's per-packet path allocates nothing.
//! [`bind_even_pair`] holds the even/odd port-pair rule, over sockets the caller binds.

/// The only RTP version there is.
pub const RTP_VERSION: u8 = 2;
/// The static payload type of JPEG (RFC 3551 table 5).
pub const PAYLOAD_TYPE_JPEG: u8 = 26;
/// RFC 2435: JPEG uses a 90 kHz media clock.
pub const JPEG_CLOCK_RATE: u32 = 90_000;
/// Bytes in the fixed header, without CSRCs or extension.
pub const FIXED_HEADER_LEN: usize = 12;

/// Why a datagram is not an RTP packet; says which part is wrong and the datagram's size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The datagram ends inside the header, its CSRC list or its extension.
    #[error("{len}-byte datagram is shorter than the RTP header it announces")]
    Truncated { len: usize },
    /// The version bits are not 2 (often: not RTP at all, e.g. STUN or RTCP on the wrong port).
    #[error("{len}-byte datagram has RTP version {version}, expected 2")]
    BadVersion { version: u8, len: usize },
    /// The padding count is 0 or reaches into the header (RFC 3550 5.1).
    #[error(
        "RTP seq {sequence_number}: padding length {padding} does not fit the {len}-byte datagram"
    )]
    BadPadding {
        sequence_number: u16,
        padding: usize,
        len: usize,
    },
}

/// The header extension (RFC 3550 5.3.1): profile-defined id and 32-bit words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    pub profile: u16,
    pub data: &'a [u8],
}

/// An RTP header's fields. Writing it with [`RtpHeader::write`] emits no CSRC and no extension,
/// which is all a single-source server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte fixed header into `out[..12]`.
    pub fn write(&self, out: &mut [u8; FIXED_HEADER_LEN]) {
        out[0] = RTP_VERSION << 6;
        out[1] = ((self.marker as u8) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// A parsed RTP packet borrowing from its datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    pub csrcs: Vec<u32>,
    pub extension: Option<RtpExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// How many padding bytes followed the payload.
    pub padding: usize,
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram. Never panics; every length is checked against the datagram.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let truncated = RtpError::Truncated { len: buf.len() };
        if buf.len() < FIXED_HEADER_LEN {
            return Err(truncated);
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion {
                version,
                len: buf.len(),
            });
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = (buf[0] & 0x0f) as usize;
        let header = RtpHeader {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7f,
            sequence_number: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        let mut pos = FIXED_HEADER_LEN;
        let csrc_end = pos + 4 * csrc_count;
        let csrc_bytes = buf.get(pos..csrc_end).ok_or(truncated.clone())?;
        let csrcs = csrc_bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        pos = csrc_end;
        let mut extension = None;
        if has_extension {
            let head = buf.get(pos..pos + 4).ok_or(truncated.clone())?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = u16::from_be_bytes([head[2], head[3]]) as usize;
            let data = buf
                .get(pos + 4..pos + 4 + 4 * words)
                .ok_or(truncated.clone())?;
            extension = Some(RtpExtension { profile, data });
            pos += 4 + 4 * words;
        }
        let mut end = buf.len();
        let mut padding = 0;
        if has_padding {
            padding = *buf.last().ok_or(truncated)? as usize;
            if padding == 0 || pos + padding > buf.len() {
                return Err(RtpError::BadPadding {
                    sequence_number: header.sequence_number,
                    padding,
                    len: buf.len(),
                });
            }
            end -= padding;
        }
        Ok(RtpPacket {
            header,
            csrcs,
            extension,
            payload: &buf[pos..end],
            padding,
        })
    }

    /// Writes the packet, CSRCs, extension and padding included, so tests can round-trip.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        self.header.write(&mut fixed);
        fixed[0] |= (self.csrcs.len().min(15) as u8)
            | if self.extension.is_some() { 0x10 } else { 0 }
            | if self.padding > 0 { 0x20 } else { 0 };
        out.extend_from_slice(&fixed);
        for c in self.csrcs.iter().take(15) {
            out.extend_from_slice(&c.to_be_bytes());
        }
        if let Some(ext) = &self.extension {
            out.extend_from_slice(&ext.profile.to_be_bytes());
            out.extend_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            out.extend_from_slice(&ext.data[..ext.data.len() / 4 * 4]);
        }
        out.extend_from_slice(self.payload);
        if self.padding > 0 {
            out.extend(std::iter::repeat_n(0u8, self.padding - 1));
            out.push(self.padding as u8);
        }
    }
}

/// `a - b` for 16-bit sequence numbers, as a signed distance that respects wrap-around
/// (RFC 3550 A.1): 2 - 65535 is 3, not -65533.
pub fn seq_diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// Whether sequence number `a` comes after `b`, allowing for wrap-around.
pub fn seq_newer(a: u16, b: u16) -> bool {
    seq_diff(a, b) > 0
}

/// Extends 16-bit sequence numbers to a 64-bit count across wraps (RFC 3550 A.1's `cycles`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    /// The extended number of `seq`, chosen closest to the last one seen.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => seq as u64 + (1 << 16),
            Some(last) => {
                let diff = seq_diff(seq, last as u16) as i64;
                (last as i64 + diff).max(0) as u64
            }
        };
        if self.last.is_none_or(|l| ext > l) {
            self.last = Some(ext);
        }
        ext
    }
}

/// How many sockets [`bind_even_pair`] tries before giving up: enough that a busy host still
/// yields a pair, few enough that a host with no free pair answers at once.
pub const PORT_PAIR_ATTEMPTS: u32 = 64;

/// Why [`bind_even_pair`] found no pair.
#[derive(Debug, thiserror::Error)]
pub enum PortPairError<E> {
    /// Binding an ephemeral port failed outright (no socket at all can be had).
    #[error("cannot bind an RTP port: {0}")]
    Bind(#[source] E),
    /// Every ephemeral port offered was odd, the last one, or had its successor taken.
    #[error("no free even/odd UDP port pair in {attempts} attempts")]
    Exhausted { attempts: u32 },
}

/// Binds an RTP/RTCP pair on consecutive ports, RTP on the even one (RFC 3550 11). The caller's
/// `bind(port)` binds one socket (port 0: any ephemeral one) and says which port it got, so this
/// rule lives here while the sockets stay the caller's; a socket that does not fit is dropped.
pub fn bind_even_pair<S, E>(
    mut bind: impl FnMut(u16) -> Result<(S, u16), E>,
    attempts: u32,
) -> Result<(S, S), PortPairError<E>> {
    for _ in 0..attempts {
        let (rtp, port) = bind(0).map_err(PortPairError::Bind)?;
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok((rtcp, _)) = bind(port + 1) {
            return Ok((rtp, rtcp));
        }
    }
    Err(PortPairError::Exhausted { attempts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_a_jpeg_header() {
        let h = RtpHeader {
            marker: true,
            payload_type: PAYLOAD_TYPE_JPEG,
            sequence_number: 0x1234,
            timestamp: 0xdead_beef,
            ssrc: 7,
        };
        let mut out = [0; 12];
        h.write(&mut out);
        assert_eq!(
            out,
            [0x80, 0x9a, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]
        );
        assert_eq!(RtpPacket::parse(&out).unwrap().header, h);
    }

    #[test]
    fn rejects_bad_packets() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::Truncated { .. })
        ));
        assert_eq!(
            RtpPacket::parse(&[0x40; 12]),
            Err(RtpError::BadVersion {
                version: 1,
                len: 12
            })
        );
        let mut padded = vec![0xa0, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 9];
        assert!(matches!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { .. })
        ));
        *padded.last_mut().unwrap() = 0;
        assert!(matches!(
            RtpPacket::parse(&padded),
            Err(RtpError::BadPadding { .. })
        ));
        // Four CSRCs announced, none present.
        assert!(RtpPacket::parse(&[0x84, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn sequence_arithmetic_wraps() {
        assert_eq!(seq_diff(2, 65535), 3);
        assert_eq!(seq_diff(65535, 2), -3);
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
        let mut ext = SeqExtender::default();
        let a = ext.extend(65534);
        let b = ext.extend(65535);
        let c = ext.extend(0);
        let d = ext.extend(65535); // late duplicate from before the wrap
        let e = ext.extend(1);
        assert_eq!((b - a, c - a, e - a), (1, 2, 3));
        assert_eq!(d, b);
    }

    proptest! {
        #[test]
        fn round_trip(marker in any::<bool>(), pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(), ssrc in any::<u32>(),
                      csrcs in prop::collection::vec(any::<u32>(), 0..15),
                      ext in prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..5).prop_map(|v| v.repeat(4)))),
                      payload in prop::collection::vec(any::<u8>(), 0..200), padding in 0usize..8) {
            let p = RtpPacket {
                header: RtpHeader { marker, payload_type: pt, sequence_number: seq, timestamp: ts, ssrc },
                csrcs,
                extension: ext.as_ref().map(|(profile, data)| RtpExtension { profile: *profile, data }),
                payload: &payload,
                padding,
            };
            let mut out = Vec::new();
            p.write(&mut out);
            prop_assert_eq!(RtpPacket::parse(&out), Ok(p));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = RtpPacket::parse(&bytes);
        }

        #[test]
        fn extension_counts_monotonically(start in any::<u16>(), steps in prop::collection::vec(1u16..100, 1..50)) {
            let mut ext = SeqExtender::default();
            let mut seq = start;
            let mut last = ext.extend(seq);
            for s in steps {
                seq = seq.wrapping_add(s);
                let e = ext.extend(seq);
                prop_assert_eq!(e - last, s as u64);
                last = e;
            }
        }
    }
}

#[cfg(test)]
mod port_pair_tests {
    use super::*;

    /// A fake host: ephemeral binds hand out `offers` in turn; `taken` ports refuse a bind.
    fn host(
        offers: &'static [u16],
        taken: &'static [u16],
    ) -> impl FnMut(u16) -> Result<(u16, u16), String> {
        let mut offers = offers.iter().copied();
        move |port| match port {
            0 => offers
                .next()
                .map(|p| (p, p))
                .ok_or_else(|| "no ports".to_string()),
            p if taken.contains(&p) => Err(format!("{p} in use")),
            p => Ok((p, p)),
        }
    }

    #[test]
    fn odd_ports_and_taken_successors_are_skipped() {
        let pair = bind_even_pair(host(&[5001, 65535, 6000, 7000], &[6001]), 8);
        assert_eq!(pair.unwrap(), (7000, 7001));
    }

    #[test]
    fn gives_up_after_the_attempts() {
        let r = bind_even_pair(host(&[1, 3, 5, 8], &[]), 3);
        assert!(matches!(r, Err(PortPairError::Exhausted { attempts: 3 })));
    }

    #[test]
    fn a_failing_ephemeral_bind_is_reported() {
        let r = bind_even_pair(host(&[], &[]), 8);
        assert!(matches!(r, Err(PortPairError::Bind(e)) if e == "no ports"));
    }
}
