//! RTP and RTCP interleaved on the RTSP connection (RFC 2326 10.12): `$`, a channel byte, a
//! 16-bit length, then the packet. Both sides must tell these frames from RTSP messages on
//! the same byte stream: a frame starts with `$`, a message never does.

/// The frame's 4-byte header.
pub const HEADER_LEN: usize = 4;

/// An interleaved frame at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterleavedFrame {
    /// The channel from the Transport header's `interleaved=` (RTP even, RTCP odd by custom).
    pub channel: u8,
    /// Where the packet is in the buffer.
    pub payload: std::ops::Range<usize>,
    /// Bytes the whole frame takes.
    pub len: usize,
}

/// Reads an interleaved frame from the start of `buf`: `None` if `buf` does not start with
/// `$`, `Some(None)` if the frame has not fully arrived.
pub fn parse(buf: &[u8]) -> Option<Option<InterleavedFrame>> {
    if buf.first() != Some(&b'$') {
        return None;
    }
    if buf.len() < HEADER_LEN {
        return Some(None);
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    if buf.len() < HEADER_LEN + len {
        return Some(None);
    }
    Some(Some(InterleavedFrame {
        channel: buf[1],
        payload: HEADER_LEN..HEADER_LEN + len,
        len: HEADER_LEN + len,
    }))
}

/// A packet too long for an interleaved frame: its 16-bit length field cannot say the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len}-byte packet on channel {channel} is longer than an interleaved frame's 65535")]
pub struct PacketTooLong {
    /// The channel the packet was for.
    pub channel: u8,
    /// The packet's size in bytes.
    pub len: usize,
}

/// Appends a frame carrying `parts` (concatenated) on `channel`. Fails if the packet is
/// longer than 65535 bytes, which the length field cannot say.
pub fn write(channel: u8, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), PacketTooLong> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > u16::MAX as usize {
        return Err(PacketTooLong { channel, len });
    }
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_and_foreign_input() {
        assert_eq!(parse(b"RTSP/1.0 200 OK"), None);
        assert_eq!(parse(b"$"), Some(None));
        assert_eq!(parse(b"$\x01\x00\x05abc"), Some(None));
        assert_eq!(
            write(3, &[&vec![0; 70000]], &mut Vec::new()),
            Err(PacketTooLong {
                channel: 3,
                len: 70000
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(channel in any::<u8>(), a in prop::collection::vec(any::<u8>(), 0..300), b in prop::collection::vec(any::<u8>(), 0..300), tail in prop::collection::vec(any::<u8>(), 0..10)) {
            let mut out = Vec::new();
            write(channel, &[&a, &b], &mut out).unwrap();
            out.extend_from_slice(&tail);
            let f = parse(&out).unwrap().unwrap();
            prop_assert_eq!(f.channel, channel);
            prop_assert_eq!(&out[f.payload.clone()], &[a.as_slice(), b.as_slice()].concat()[..]);
            prop_assert_eq!(&out[f.len..], &tail[..]);
        }
    }
}
