//! The RFC 2435 depacketizer: RTP/JPEG payloads in, complete JPEG files out.
//!
//! A frame is emitted only when every fragment arrived in order (each fragment's offset is
//! where the previous one ended) and the marker bit closed it; anything else drops the frame
//! and says why, naming the RTP packet (sequence number, timestamp, fragment offset) that
//! revealed the loss, so it can be found in a capture and a receiver never decodes a corrupt
//! picture.

use std::fmt;

use super::pay::MainHeader;
use super::{tables, write_headers};
use crate::rtp::RtpHeader;

/// The RTP packet a drop was noticed on: what Wireshark shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketId {
    /// The packet's RTP sequence number.
    pub sequence_number: u16,
    /// The packet's RTP timestamp (one per frame).
    pub timestamp: u32,
    /// The RFC 2435 fragment offset; `None` when the payload is too short to hold it.
    pub fragment_offset: Option<u32>,
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RTP seq {} ts {}", self.sequence_number, self.timestamp)?;
        match self.fragment_offset {
            Some(offset) => write!(f, " fragment offset {offset}"),
            None => f.write_str(" (no fragment offset)"),
        }
    }
}

/// Why a frame (or one packet) was dropped. Every variant names the packet it was noticed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    /// The payload ends inside its own RFC 2435 headers.
    #[error("{packet}: payload of {len} bytes is shorter than its RFC 2435 headers")]
    Truncated { packet: PacketId, len: usize },
    /// A fragment's offset is not where the frame's data so far ends: packets in between are
    /// missing.
    #[error(
        "{packet}: fragment at offset {got} but {expected} bytes had arrived: a packet was lost"
    )]
    MissingFragment {
        packet: PacketId,
        expected: u32,
        got: u32,
    },
    /// A new frame (offset 0) began before the previous one's last fragment (the marker
    /// packet) arrived.
    #[error("{packet}: a new frame began after {arrived} bytes of the previous one: its last fragment was lost")]
    FrameNotEnded { packet: PacketId, arrived: usize },
    /// The RTP timestamp changed before the frame's last fragment.
    #[error("{packet}: timestamp changed from {from} before the frame's last fragment")]
    TimestampChanged { packet: PacketId, from: u32 },
    /// The frame grew past the depacketizer's limit.
    #[error("{packet}: frame would exceed {limit} bytes")]
    TooLarge { packet: PacketId, limit: usize },
    /// A type outside RFC 2435's baseline 4:2:2 / 4:2:0 (0, 1, 64, 65).
    #[error("{packet}: type {type_} is not one RFC 2435 defines for baseline 4:2:2/4:2:0")]
    UnsupportedType { packet: PacketId, type_: u8 },
    /// Q 0 and 100..=127 are reserved (RFC 2435 3.1.4).
    #[error("{packet}: Q={q} is reserved")]
    ReservedQ { packet: PacketId, q: u8 },
    /// The in-band quantization table header cannot be used.
    #[error("{packet}: quantization table header: {fault}")]
    BadQuantTables {
        packet: PacketId,
        fault: QuantTableFault,
    },
    /// The header's size is 0 and no `a=x-dimensions` said the real one.
    #[error("{packet}: width or height of 0 (the picture is wider or taller than 2040 pixels)")]
    ZeroSize { packet: PacketId },
    /// A fragment of a frame whose first fragment (offset 0) was lost.
    #[error("{packet}: frame started without a fragment at offset 0")]
    NoStart { packet: PacketId },
}

impl DepacketizeError {
    /// The packet the drop was noticed on.
    pub fn packet(&self) -> PacketId {
        match self {
            DepacketizeError::Truncated { packet, .. }
            | DepacketizeError::MissingFragment { packet, .. }
            | DepacketizeError::FrameNotEnded { packet, .. }
            | DepacketizeError::TimestampChanged { packet, .. }
            | DepacketizeError::TooLarge { packet, .. }
            | DepacketizeError::UnsupportedType { packet, .. }
            | DepacketizeError::ReservedQ { packet, .. }
            | DepacketizeError::BadQuantTables { packet, .. }
            | DepacketizeError::ZeroSize { packet }
            | DepacketizeError::NoStart { packet } => *packet,
        }
    }
}

/// What is wrong with an in-band quantization table header (RFC 2435 3.1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantTableFault {
    /// Precision bits set: 16-bit tables, which baseline JPEG never uses.
    #[error("16-bit tables")]
    SixteenBit,
    /// Length 0 means "the tables sent before for this Q", and none were.
    #[error("zero length and no tables cached for Q={q}")]
    NotCached { q: u8 },
    /// Neither one table (64) nor two (128).
    #[error("length {len}, not 64 or 128")]
    BadLength { len: usize },
}

/// What one pushed payload produced. Both can happen at once: a packet of a new frame drops
/// the unfinished previous one, and a one-packet frame completes immediately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepacketizerEvent {
    /// Frames dropped by this packet, each with why (at most two: the unfinished previous
    /// frame and this packet's own).
    pub dropped: Vec<DepacketizeError>,
    /// A complete JPEG (SOI..EOI), ready to decode.
    pub frame: Option<Vec<u8>>,
}

struct Partial {
    timestamp: u32,
    /// Width and height in pixels.
    size: (u16, u16),
    header: MainHeader,
    restart_interval: Option<u16>,
    luma: [u8; 64],
    chroma: [u8; 64],
    data: Vec<u8>,
}

/// Luma and chroma quantization tables, in zig-zag order.
type QuantTables = ([u8; 64], [u8; 64]);

/// A packet that ends the frame in progress: `Some` says why, `None` drops it silently (a
/// late join, or a loss already reported for this frame).
type Drop = Option<DepacketizeError>;

/// Reassembles RFC 2435 payloads into JPEG frames.
pub struct Depacketizer {
    max_frame: usize,
    partial: Option<Partial>,
    /// Tables last sent in-band for each Q in 128..=254, reusable when a later frame sends
    /// a zero-length table header (RFC 2435 3.1.8).
    cached: Vec<(u8, [u8; 64], [u8; 64])>,
    /// Some frame has begun: a later fragment without its start is a lost frame, while one
    /// before any start is only a late join (a live server mid-frame).
    started: bool,
    /// The timestamp of the headless frame already reported, so it is reported once.
    headless: Option<u32>,
    /// The picture size from the SDP's a=x-dimensions, for frames whose header says 0.
    dimensions: Option<(u16, u16)>,
}

impl Depacketizer {
    /// A depacketizer that drops frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Depacketizer {
            max_frame,
            partial: None,
            cached: Vec::new(),
            started: false,
            headless: None,
            dimensions: None,
        }
    }

    /// The picture size to use when a frame's header says 0 (above 2040 pixels, where RFC 2435's
    /// fields cannot say it and the SDP's `a=x-dimensions` does).
    pub fn set_dimensions(&mut self, width: u16, height: u16) {
        self.dimensions = Some((width, height));
    }

    /// Forgets the frame in progress and what was seen, keeping the limits and dimensions:
    /// for a new source.
    pub fn reset(&mut self) {
        self.partial = None;
        self.started = false;
        self.headless = None;
        self.cached.clear();
    }

    /// Offers one RTP packet's header and payload, in sequence order.
    pub fn push(&mut self, rtp: &RtpHeader, payload: &[u8]) -> DepacketizerEvent {
        let mut event = DepacketizerEvent::default();
        let mut packet = PacketId {
            sequence_number: rtp.sequence_number,
            timestamp: rtp.timestamp,
            fragment_offset: None,
        };
        let Some(header) = MainHeader::parse(payload) else {
            if self.partial.take().is_some() {
                let len = payload.len();
                event
                    .dropped
                    .push(DepacketizeError::Truncated { packet, len });
            }
            return event;
        };
        packet.fragment_offset = Some(header.fragment_offset);
        if let Some(p) = &self.partial {
            if p.timestamp != rtp.timestamp {
                let from = p.timestamp;
                event
                    .dropped
                    .push(DepacketizeError::TimestampChanged { packet, from });
                self.partial = None;
            }
        }
        let taken = if header.fragment_offset == 0 {
            if let Some(p) = self.partial.take() {
                let arrived = p.data.len();
                event
                    .dropped
                    .push(DepacketizeError::FrameNotEnded { packet, arrived });
            }
            self.started = true;
            self.start(packet, header, payload)
                .map(|p| self.partial = Some(p))
                .map_err(Some)
        } else {
            self.append(packet, header, payload)
        };
        match taken {
            Ok(()) if rtp.marker => event.frame = self.partial.take().map(finish),
            Ok(()) => {}
            Err(why) => {
                self.partial = None;
                self.headless = Some(rtp.timestamp);
                event.dropped.extend(why);
            }
        }
        event
    }

    /// Adds a fragment after the first to the frame in progress.
    fn append(&mut self, packet: PacketId, header: MainHeader, payload: &[u8]) -> Result<(), Drop> {
        let Some(p) = self.partial.as_mut() else {
            // The first fragment was lost (report the frame once), or we joined a live
            // server mid-frame (nothing to report): either way wait for the next offset 0.
            let report = self.started && self.headless != Some(packet.timestamp);
            return Err(report.then_some(DepacketizeError::NoStart { packet }));
        };
        let expected = p.data.len() as u32;
        if header.fragment_offset != expected {
            return Err(Some(DepacketizeError::MissingFragment {
                packet,
                expected,
                got: header.fragment_offset,
            }));
        }
        let skip = MainHeader::LEN + if p.header.type_ >= 64 { 4 } else { 0 };
        let Some(data) = payload.get(skip..) else {
            let len = payload.len();
            return Err(Some(DepacketizeError::Truncated { packet, len }));
        };
        if p.data.len() + data.len() > self.max_frame {
            let limit = self.max_frame;
            return Err(Some(DepacketizeError::TooLarge { packet, limit }));
        }
        p.data.extend_from_slice(data);
        Ok(())
    }

    /// Begins a frame from its first fragment (offset 0), which carries the headers.
    fn start(
        &mut self,
        packet: PacketId,
        header: MainHeader,
        payload: &[u8],
    ) -> Result<Partial, DepacketizeError> {
        let truncated = DepacketizeError::Truncated {
            packet,
            len: payload.len(),
        };
        if !matches!(header.type_, 0 | 1 | 64 | 65) {
            let type_ = header.type_;
            return Err(DepacketizeError::UnsupportedType { packet, type_ });
        }
        let size = match (header.width, header.height, self.dimensions) {
            (0, _, Some(d)) | (_, 0, Some(d)) => d,
            (0, _, None) | (_, 0, None) => return Err(DepacketizeError::ZeroSize { packet }),
            (w, h, _) => (w as u16 * 8, h as u16 * 8),
        };
        let mut pos = MainHeader::LEN;
        let mut restart_interval = None;
        if header.type_ >= 64 {
            let r = payload.get(pos..pos + 4).ok_or(truncated.clone())?;
            restart_interval = Some(u16::from_be_bytes([r[0], r[1]]));
            pos += 4;
        }
        let (luma, chroma) = match header.q {
            0 | 100..=127 => {
                let q = header.q;
                return Err(DepacketizeError::ReservedQ { packet, q });
            }
            1..=99 => tables::q_tables(header.q),
            q => {
                let (tables, end) = self.in_band_tables(packet, q, payload, pos)?;
                pos = end;
                tables
            }
        };
        let data = &payload[pos..];
        if data.len() > self.max_frame {
            let limit = self.max_frame;
            return Err(DepacketizeError::TooLarge { packet, limit });
        }
        Ok(Partial {
            timestamp: packet.timestamp,
            size,
            header,
            restart_interval,
            luma,
            chroma,
            data: data.to_vec(),
        })
    }

    /// Reads the quantization table header at `payload[pos..]` for Q in 128..=255: the tables
    /// and where the scan data after them starts.
    fn in_band_tables(
        &mut self,
        packet: PacketId,
        q: u8,
        payload: &[u8],
        pos: usize,
    ) -> Result<(QuantTables, usize), DepacketizeError> {
        let truncated = DepacketizeError::Truncated {
            packet,
            len: payload.len(),
        };
        let rest = &payload[pos..];
        let bad = |fault| DepacketizeError::BadQuantTables { packet, fault };
        let qh = rest.get(..4).ok_or(truncated.clone())?;
        let precision = qh[1];
        let len = u16::from_be_bytes([qh[2], qh[3]]) as usize;
        if precision != 0 {
            return Err(bad(QuantTableFault::SixteenBit));
        }
        let t = rest.get(4..4 + len).ok_or(truncated)?;
        let tables = match len {
            0 if q != 255 => self
                .cached
                .iter()
                .find(|c| c.0 == q)
                .map(|c| (c.1, c.2))
                .ok_or(bad(QuantTableFault::NotCached { q }))?,
            // VLC sends a JPEG's single table once: it serves luma and chroma alike.
            64 => (t.try_into().unwrap(), t.try_into().unwrap()),
            128 => (t[..64].try_into().unwrap(), t[64..].try_into().unwrap()),
            _ => return Err(bad(QuantTableFault::BadLength { len })),
        };
        if q != 255 && len > 0 {
            self.cached.retain(|c| c.0 != q);
            self.cached.push((q, tables.0, tables.1));
        }
        Ok((tables, pos + 4 + len))
    }
}

fn finish(p: Partial) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.data.len() + 700);
    write_headers(
        &mut out,
        p.header.type_,
        p.size.0,
        p.size.1,
        &p.luma,
        &p.chroma,
        p.restart_interval,
    );
    out.extend_from_slice(&p.data);
    if !p.data.ends_with(&[0xff, super::marker::EOI]) {
        out.extend_from_slice(&[0xff, super::marker::EOI]);
    }
    out
}
