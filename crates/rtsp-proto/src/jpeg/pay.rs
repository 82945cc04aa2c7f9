//! The RFC 2435 packetizer: one prepared frame in, headers for each fragment out.
//!
//! The scan data is never copied here: each [`Fragment`] borrows its slice of the frame, and
//! the caller writes RTP header + fragment header + slice into one reusable buffer.

use super::Rfc2435Params;

/// The largest RTP packet the server sends (RTP header included): below every common path
/// MTU once IP and UDP headers are added.
pub const MAX_PACKET: usize = 1400;

/// Largest fragment header: main (8) + restart (4) + quantization table header (4 + 128).
const MAX_FRAGMENT_HEADER: usize = 8 + 4 + 4 + 128;

/// The 8-byte main JPEG header (RFC 2435 3.1) that starts every RTP/JPEG payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainHeader {
    pub type_specific: u8,
    /// Byte offset of this fragment's data within the frame's scan data (24 bits).
    pub fragment_offset: u32,
    pub type_: u8,
    /// 1..=99: Annex K tables scaled; 128..=255: tables in-band (255: they may change per frame).
    pub q: u8,
    /// Width in 8-pixel blocks.
    pub width: u8,
    /// Height in 8-pixel blocks.
    pub height: u8,
}

impl MainHeader {
    /// Size on the wire.
    pub const LEN: usize = 8;

    /// Reads the header from the start of a payload.
    pub fn parse(p: &[u8]) -> Option<MainHeader> {
        let h = p.get(..8)?;
        Some(MainHeader {
            type_specific: h[0],
            fragment_offset: u32::from_be_bytes([0, h[1], h[2], h[3]]),
            type_: h[4],
            q: h[5],
            width: h[6],
            height: h[7],
        })
    }

    /// Writes the header into `out[..8]`.
    pub fn write(&self, out: &mut [u8]) {
        out[0] = self.type_specific;
        out[1..4].copy_from_slice(&self.fragment_offset.to_be_bytes()[1..]);
        out[4] = self.type_;
        out[5] = self.q;
        out[6] = self.width;
        out[7] = self.height;
    }
}

/// One RTP payload of a frame: the RFC 2435 headers, then a borrowed slice of scan data.
#[derive(Debug, Clone)]
pub struct Fragment<'a> {
    header: [u8; MAX_FRAGMENT_HEADER],
    header_len: usize,
    /// This fragment's scan data.
    pub data: &'a [u8],
    /// The last fragment of the frame: its RTP packet carries the marker bit.
    pub last: bool,
}

impl Fragment<'_> {
    /// The RFC 2435 headers that precede [`Fragment::data`] in the payload.
    pub fn header(&self) -> &[u8] {
        &self.header[..self.header_len]
    }

    /// Header and data as one payload (for tests and the depacketizer's round trip).
    pub fn to_payload(&self) -> Vec<u8> {
        [self.header(), self.data].concat()
    }
}

/// Splits `scan` (the bytes after the SOS header, EOI included) into RTP payloads for packets
/// of at most `max_packet` bytes including the 12-byte RTP header. Q is 255 and both tables go
/// in-band in the first fragment of every frame, so no receiver depends on earlier frames.
pub fn fragments<'a>(
    params: &'a Rfc2435Params,
    scan: &'a [u8],
    max_packet: usize,
) -> impl Iterator<Item = Fragment<'a>> + 'a {
    let mut offset = 0usize;
    let mut done = scan.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut header = [0u8; MAX_FRAGMENT_HEADER];
        MainHeader {
            type_specific: 0,
            fragment_offset: offset as u32,
            type_: params.type_,
            q: 255,
            width: params.width,
            height: params.height,
        }
        .write(&mut header);
        let mut len = MainHeader::LEN;
        if let Some(ri) = params.restart_interval {
            // F=1, L=1, count=0x3FFF: this packet is not aligned to restart intervals
            // (RFC 2435 3.1.7), which every receiver handles by reassembling whole frames.
            header[len..len + 2].copy_from_slice(&ri.to_be_bytes());
            header[len + 2..len + 4].copy_from_slice(&0xffffu16.to_be_bytes());
            len += 4;
        }
        if offset == 0 {
            header[len..len + 4].copy_from_slice(&[0, 0, 0, 128]);
            header[len + 4..len + 4 + 128].copy_from_slice(&params.quant);
            len += 4 + 128;
        }
        let room = max_packet
            .saturating_sub(crate::rtp::FIXED_HEADER_LEN + len)
            .max(1);
        let end = (offset + room).min(scan.len());
        let data = &scan[offset..end];
        offset = end;
        done = end == scan.len();
        Some(Fragment {
            header,
            header_len: len,
            data,
            last: done,
        })
    })
}
