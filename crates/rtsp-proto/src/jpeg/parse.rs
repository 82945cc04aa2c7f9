//! The marker walk behind [`JpegInfo::parse`]: segments are stepped over by their length
//! fields, and bytes are scanned for markers only inside entropy-coded data, where that is the
//! only way to find the end.

use super::{marker, Component, HuffmanTable, JpegError, JpegInfo, SegmentFault};

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// The offset of the marker that ends entropy-coded data starting at `from`: the first FF
/// followed by neither 00 (a stuffed byte) nor RSTn, skipping fill FFs.
pub fn entropy_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < data.len() {
        if data[i] != 0xff {
            i += 1;
            continue;
        }
        let next = data[i + 1];
        if next == 0x00 || marker::is_rst(next) {
            i += 2;
        } else if next == 0xff {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

fn bad(at: usize, fault: SegmentFault) -> JpegError {
    JpegError::BadSegment { at, fault }
}

/// Where the walk is: the marker just read and the byte after it.
struct Marker {
    /// Offset of the marker's FF (after any fill bytes before it were skipped, the first one).
    at: usize,
    code: u8,
    /// Offset just past the marker code.
    next: usize,
}

/// Reads the marker at `pos`, skipping fill bytes (T.81 B.1.1.2 allows any number).
fn read_marker(data: &[u8], pos: usize) -> Result<Marker, JpegError> {
    let at = pos;
    let &first = data.get(pos).ok_or(JpegError::Truncated { at })?;
    if first != 0xff {
        return Err(JpegError::NotAMarker { at, found: first });
    }
    let mut pos = pos;
    while data.get(pos + 1) == Some(&0xff) {
        pos += 1;
    }
    let code = *data.get(pos + 1).ok_or(JpegError::Truncated { at })?;
    Ok(Marker {
        at,
        code,
        next: pos + 2,
    })
}

/// The body of the segment whose length field starts at `pos`, and the offset after it.
fn segment_body(data: &[u8], at: usize, pos: usize) -> Result<(&[u8], usize), JpegError> {
    let len = be16(data, pos).ok_or(JpegError::Truncated { at })? as usize;
    if len < 2 {
        return Err(bad(at, SegmentFault::LengthBelow2));
    }
    let body = data
        .get(pos + 2..pos + len)
        .ok_or(JpegError::Truncated { at })?;
    Ok((body, pos + len))
}

impl JpegInfo {
    /// Walks the marker segments of the JPEG at the start of `data` (which may continue with
    /// more frames). Never panics; every length is checked.
    pub fn parse(data: &[u8]) -> Result<JpegInfo, JpegError> {
        if data.len() < 2 || data[0] != 0xff || data[1] != marker::SOI {
            return Err(JpegError::NoSoi);
        }
        let mut info = JpegInfo::empty();
        let mut pos = 2;
        loop {
            let m = read_marker(data, pos)?;
            pos = m.next;
            match m.code {
                marker::EOI if info.scans == 0 => return Err(JpegError::Truncated { at: m.at }),
                marker::EOI => {
                    info.len = pos;
                    return Ok(info);
                }
                marker::SOI | marker::TEM => continue,
                c if marker::is_rst(c) => continue,
                0x00 => return Err(JpegError::NotAMarker { at: m.at, found: 0 }),
                _ => {}
            }
            let (body, after) = segment_body(data, m.at, pos)?;
            pos = after;
            if m.code == marker::SOS {
                pos = info.read_scan(data, body, m.at, pos)?;
            } else {
                info.read_segment(m.code, body, m.at)?;
            }
        }
    }

    fn empty() -> JpegInfo {
        JpegInfo {
            sof: 0,
            precision: 0,
            width: 0,
            height: 0,
            components: Vec::new(),
            quant_tables: [None, None, None, None],
            huffman_tables: Vec::new(),
            restart_interval: None,
            scan_components: Vec::new(),
            scans: 0,
            scan_data: 0..0,
            len: 0,
            arithmetic: false,
            jfif: false,
            adobe_transform: None,
            offsets: Default::default(),
        }
    }

    /// A table-specification or frame-header segment (anything but SOS) at `at`.
    fn read_segment(&mut self, code: u8, body: &[u8], at: usize) -> Result<(), JpegError> {
        match code {
            marker::DQT => self.read_dqt(body, at),
            marker::DHT => self.read_dht(body, at),
            marker::DRI => {
                let ri = be16(body, 0).ok_or(bad(at, SegmentFault::DriShort))?;
                self.restart_interval = (ri != 0).then_some(ri);
                Ok(())
            }
            marker::DAC => {
                self.arithmetic = true;
                self.offsets.dac.get_or_insert(at);
                Ok(())
            }
            c if marker::is_sof(c) => self.read_sof(c, body, at),
            // JFIF and Adobe say what the components hold; other APPn, COM and the rest are
            // skipped by length.
            0xe0 => {
                self.jfif |= body.starts_with(b"JFIF\0");
                Ok(())
            }
            0xee => {
                // "Adobe", version (2 bytes), flags0, flags1 (2 each), transform (1).
                if body.starts_with(b"Adobe") {
                    self.adobe_transform = body.get(11).copied().or(self.adobe_transform);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// An SOS header at `at` whose entropy-coded data starts at `pos`; returns where that
    /// data ends (the next marker).
    fn read_scan(
        &mut self,
        data: &[u8],
        body: &[u8],
        at: usize,
        pos: usize,
    ) -> Result<usize, JpegError> {
        if self.sof == 0 {
            return Err(JpegError::NoFrameHeader { at });
        }
        let n = *body.first().ok_or(bad(at, SegmentFault::SosEmpty))? as usize;
        if body.len() != 1 + 2 * n + 3 {
            return Err(bad(at, SegmentFault::SosLength));
        }
        let end = entropy_end(data, pos).ok_or(JpegError::Truncated { at: pos })?;
        if self.scans == 0 {
            self.scan_components = (0..n)
                .map(|i| {
                    let tables = body[2 + 2 * i];
                    (body[1 + 2 * i], tables >> 4, tables & 0x0f)
                })
                .collect();
            self.scan_data = pos..end;
            self.offsets.first_sos = at;
        }
        self.offsets.last_sos = at;
        self.scans += 1;
        Ok(end)
    }

    fn read_dqt(&mut self, mut body: &[u8], at: usize) -> Result<(), JpegError> {
        while let Some(&pq_tq) = body.first() {
            let (pq, tq) = (pq_tq >> 4, (pq_tq & 0x0f) as usize);
            let size = match pq {
                0 => 64,
                1 => 128,
                _ => return Err(bad(at, SegmentFault::DqtPrecision)),
            };
            if tq > 3 {
                return Err(bad(at, SegmentFault::DqtTableId));
            }
            let table = body
                .get(1..1 + size)
                .ok_or(bad(at, SegmentFault::DqtOverrun))?;
            self.quant_tables[tq] = Some(table.to_vec());
            self.offsets.dqt[tq] = at;
            body = &body[1 + size..];
        }
        Ok(())
    }

    fn read_dht(&mut self, mut body: &[u8], at: usize) -> Result<(), JpegError> {
        while let Some(&tc_th) = body.first() {
            let mut bits = [0u8; 16];
            bits.copy_from_slice(
                body.get(1..17)
                    .ok_or(bad(at, SegmentFault::DhtCountsOverrun))?,
            );
            let n: usize = bits.iter().map(|&b| b as usize).sum();
            let values = body
                .get(17..17 + n)
                .ok_or(bad(at, SegmentFault::DhtSymbolsOverrun))?;
            let table = HuffmanTable {
                class: tc_th >> 4,
                id: tc_th & 0x0f,
                bits,
                values: values.to_vec(),
                at,
            };
            // A later definition of the same table replaces the earlier one.
            self.huffman_tables
                .retain(|t| (t.class, t.id) != (table.class, table.id));
            self.huffman_tables.push(table);
            body = &body[17 + n..];
        }
        Ok(())
    }

    fn read_sof(&mut self, m: u8, body: &[u8], at: usize) -> Result<(), JpegError> {
        if self.sof != 0 {
            return Err(bad(at, SegmentFault::SecondSof));
        }
        if body.len() < 6 {
            return Err(bad(at, SegmentFault::SofShort));
        }
        let n = body[5] as usize;
        if body.len() != 6 + 3 * n || n == 0 {
            return Err(bad(at, SegmentFault::SofLength));
        }
        self.sof = m;
        self.offsets.sof = at;
        self.precision = body[0];
        self.height = u16::from_be_bytes([body[1], body[2]]);
        self.width = u16::from_be_bytes([body[3], body[4]]);
        self.components = body[6..]
            .chunks_exact(3)
            .map(|c| Component {
                id: c[0],
                h: c[1] >> 4,
                v: c[1] & 0x0f,
                tq: c[2],
            })
            .collect();
        Ok(())
    }
}
