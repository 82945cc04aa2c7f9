//! The RFC 2435 depacketizer: RTP/JPEG payloads in, complete JPEG files out.
//!
//! A frame is emitted only when every fragment arrived in order (each fragment's offset is
//! where the previous one ended) and the marker bit closed it; anything else drops the frame
//! and says why, so a receiver never decodes a corrupt picture.

use super::pay::MainHeader;
use super::{tables, write_headers};

/// Why a frame (or one packet) was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    #[error("payload of {len} bytes is shorter than its RFC 2435 headers")]
    Truncated { len: usize },
    #[error("fragment at offset {got} but {expected} bytes had arrived: a packet was lost")]
    MissingFragment { expected: u32, got: u32 },
    #[error("timestamp changed from {from} to {to} before the frame's last fragment")]
    TimestampChanged { from: u32, to: u32 },
    #[error("frame would exceed {limit} bytes")]
    TooLarge { limit: usize },
    #[error("type {0} is not one RFC 2435 defines for baseline 4:2:2/4:2:0")]
    UnsupportedType(u8),
    #[error("Q={0} is reserved")]
    ReservedQ(u8),
    #[error("quantization table header: {0}")]
    BadQuantTables(&'static str),
    #[error("width or height of 0 (the picture is wider or taller than 2040 pixels)")]
    ZeroSize,
    #[error("frame started without a fragment at offset 0")]
    NoStart,
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

    /// Offers the payload of one RTP packet, in sequence order.
    pub fn push(&mut self, timestamp: u32, marker: bool, payload: &[u8]) -> DepacketizerEvent {
        let mut event = DepacketizerEvent::default();
        let header = match MainHeader::parse(payload) {
            Some(h) => h,
            None => {
                if self.partial.take().is_some() {
                    event
                        .dropped
                        .push(DepacketizeError::Truncated { len: payload.len() });
                }
                return event;
            }
        };
        if let Some(p) = &self.partial {
            if p.timestamp != timestamp {
                event.dropped.push(DepacketizeError::TimestampChanged {
                    from: p.timestamp,
                    to: timestamp,
                });
                self.partial = None;
            }
        }
        if header.fragment_offset == 0 {
            if self.partial.take().is_some() {
                event.dropped.push(DepacketizeError::MissingFragment {
                    expected: u32::MAX,
                    got: 0,
                });
            }
            self.started = true;
            match self.start(timestamp, header, payload) {
                Ok(p) => self.partial = Some(p),
                Err(e) => {
                    event.dropped.push(e);
                    self.headless = Some(timestamp);
                    return event;
                }
            }
        } else {
            let Some(p) = self.partial.as_mut() else {
                // The first fragment was lost (report the frame once), or we joined a live
                // server mid-frame (nothing to report): either way wait for the next offset 0.
                if self.started && self.headless != Some(timestamp) {
                    event.dropped.push(DepacketizeError::NoStart);
                }
                self.headless = Some(timestamp);
                return event;
            };
            let expected = p.data.len() as u32;
            if header.fragment_offset != expected {
                self.partial = None;
                self.headless = Some(timestamp);
                event.dropped.push(DepacketizeError::MissingFragment {
                    expected,
                    got: header.fragment_offset,
                });
                return event;
            }
            let skip = MainHeader::LEN + if p.header.type_ >= 64 { 4 } else { 0 };
            let Some(data) = payload.get(skip..) else {
                self.partial = None;
                self.headless = Some(timestamp);
                event
                    .dropped
                    .push(DepacketizeError::Truncated { len: payload.len() });
                return event;
            };
            if p.data.len() + data.len() > self.max_frame {
                self.partial = None;
                self.headless = Some(timestamp);
                event.dropped.push(DepacketizeError::TooLarge {
                    limit: self.max_frame,
                });
                return event;
            }
            p.data.extend_from_slice(data);
        }
        if marker {
            if let Some(p) = self.partial.take() {
                event.frame = Some(finish(p));
            }
        }
        event
    }

    fn start(
        &mut self,
        timestamp: u32,
        header: MainHeader,
        payload: &[u8],
    ) -> Result<Partial, DepacketizeError> {
        let truncated = DepacketizeError::Truncated { len: payload.len() };
        if !matches!(header.type_, 0 | 1 | 64 | 65) {
            return Err(DepacketizeError::UnsupportedType(header.type_));
        }
        let size = match (header.width, header.height, self.dimensions) {
            (0, _, Some(d)) | (_, 0, Some(d)) => d,
            (0, _, None) | (_, 0, None) => return Err(DepacketizeError::ZeroSize),
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
            0 | 100..=127 => return Err(DepacketizeError::ReservedQ(header.q)),
            1..=99 => tables::q_tables(header.q),
            q => {
                let qh = payload.get(pos..pos + 4).ok_or(truncated.clone())?;
                let precision = qh[1];
                let len = u16::from_be_bytes([qh[2], qh[3]]) as usize;
                pos += 4;
                if precision != 0 {
                    return Err(DepacketizeError::BadQuantTables("16-bit tables"));
                }
                let t = payload.get(pos..pos + len).ok_or(truncated.clone())?;
                pos += len;
                let tables = match len {
                    0 if q != 255 => self
                        .cached
                        .iter()
                        .find(|c| c.0 == q)
                        .map(|c| (c.1, c.2))
                        .ok_or(DepacketizeError::BadQuantTables(
                            "zero length and no tables cached for this Q",
                        ))?,
                    // VLC sends a JPEG's single table once: it serves luma and chroma alike.
                    64 => (t.try_into().unwrap(), t.try_into().unwrap()),
                    128 => (t[..64].try_into().unwrap(), t[64..].try_into().unwrap()),
                    _ => return Err(DepacketizeError::BadQuantTables("length not 64 or 128")),
                };
                if q != 255 && len > 0 {
                    self.cached.retain(|c| c.0 != q);
                    self.cached.push((q, tables.0, tables.1));
                }
                tables
            }
        };
        let data = &payload[pos..];
        if data.len() > self.max_frame {
            return Err(DepacketizeError::TooLarge {
                limit: self.max_frame,
            });
        }
        Ok(Partial {
            timestamp,
            size,
            header,
            restart_interval,
            luma,
            chroma,
            data: data.to_vec(),
        })
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
