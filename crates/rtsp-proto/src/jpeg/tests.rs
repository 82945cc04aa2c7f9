use super::depay::{PacketId, QuantTableFault};
use super::*;
use crate::mjpeg;
use crate::rtp::RtpHeader;
use proptest::prelude::*;

/// The RTP header fields the depacketizer reads.
fn rtp(sequence_number: u16, timestamp: u32, marker: bool) -> RtpHeader {
    RtpHeader {
        marker,
        payload_type: 26,
        sequence_number,
        timestamp,
        ssrc: 1,
    }
}

fn sample_frames() -> Vec<Vec<u8>> {
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../videos/video.mjpeg"
    ))
    .expect("videos/video.mjpeg");
    let idx = mjpeg::index(&data, mjpeg::LAB_MAX_FRAME).unwrap();
    idx.frames
        .iter()
        .map(|r| data[r.clone()].to_vec())
        .collect()
}

/// Sends a frame through the packetizer and RTP-style sequencing into a depacketizer.
fn pay_depay(frame: &[u8], timestamp: u32) -> (Vec<Vec<u8>>, Vec<u8>) {
    let info = JpegInfo::parse(frame).unwrap();
    let params = info.rfc2435().unwrap();
    let payloads: Vec<(Vec<u8>, bool)> =
        fragments(&params, &frame[info.scan_data.start..], MAX_PACKET)
            .map(|f| (f.to_payload(), f.last))
            .collect();
    let mut depay = Depacketizer::new(1 << 20);
    let mut out = None;
    for (seq, (p, last)) in payloads.iter().enumerate() {
        assert!(p.len() + 12 <= MAX_PACKET);
        let ev = depay.push(&rtp(seq as u16, timestamp, *last), p);
        assert!(ev.dropped.is_empty());
        if ev.frame.is_some() {
            out = ev.frame;
        }
    }
    (
        payloads.into_iter().map(|p| p.0).collect(),
        out.expect("a frame"),
    )
}

#[test]
fn sample_frames_are_streamable_with_standard_tables() {
    for (i, frame) in sample_frames().iter().enumerate() {
        let info = JpegInfo::parse(frame).unwrap();
        assert_eq!((info.width, info.height), (384, 288), "frame {i}");
        // The sample carries DHT segments: they must equal Annex K for rfc2435() to accept it,
        // which also checks our copy of Annex K against ffmpeg's.
        assert_eq!(info.huffman_tables.len(), 4);
        let p = info.rfc2435().unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!((p.type_, p.width, p.height), (1, 48, 36));
        assert_eq!(info.len, frame.len());
    }
}

#[test]
fn pay_then_depay_every_sample_frame_gives_the_same_scan_data() {
    for (i, frame) in sample_frames().iter().enumerate() {
        let src = JpegInfo::parse(frame).unwrap();
        let (_, rebuilt) = pay_depay(frame, i as u32 * 4500);
        let got = JpegInfo::parse(&rebuilt).unwrap();
        assert_eq!(
            &rebuilt[got.scan_data.clone()],
            &frame[src.scan_data.clone()],
            "frame {i}"
        );
        assert_eq!((got.width, got.height), (src.width, src.height));
        assert_eq!(got.quant_tables[0], src.quant_tables[0]);
        assert_eq!(got.quant_tables[1], src.quant_tables[1]);
        assert_eq!(got.rfc2435().unwrap(), src.rfc2435().unwrap());
    }
}

#[test]
fn first_fragment_carries_both_tables_and_the_rest_do_not() {
    let frame = &sample_frames()[0];
    let (payloads, _) = pay_depay(frame, 0);
    assert!(payloads.len() > 1);
    let h = MainHeader::parse(&payloads[0]).unwrap();
    assert_eq!((h.q, h.fragment_offset, h.type_), (255, 0, 1));
    assert_eq!(&payloads[0][8..12], &[0, 0, 0, 128]);
    let second = MainHeader::parse(&payloads[1]).unwrap();
    assert_eq!(
        second.fragment_offset as usize,
        payloads[0].len() - 8 - 4 - 128
    );
}

#[test]
fn restart_intervals_use_type_65_and_survive_the_round_trip() {
    let frame = &sample_frames()[3];
    let info = JpegInfo::parse(frame).unwrap();
    let mut p = info.rfc2435().unwrap();
    p.type_ |= 64;
    p.restart_interval = Some(48);
    let scan = &frame[info.scan_data.start..];
    let payloads: Vec<_> = fragments(&p, scan, 600).collect();
    let mut d = Depacketizer::new(1 << 20);
    let mut got = None;
    for (seq, f) in payloads.iter().enumerate() {
        assert_eq!(&f.header()[8..12], &[0, 48, 0xff, 0xff]);
        got = d
            .push(&rtp(seq as u16, 7, f.last), &f.to_payload())
            .frame
            .or(got);
    }
    let got = got.unwrap();
    let gi = JpegInfo::parse(&got).unwrap();
    assert_eq!(gi.restart_interval, Some(48));
    assert_eq!(&got[gi.scan_data.clone()], &frame[info.scan_data.clone()]);
}

#[test]
fn a_single_64_byte_table_serves_luma_and_chroma() {
    // VLC's server sends one 64-byte table for JPEGs with a single DQT table.
    let mut payload = vec![0, 0, 0, 0, 1, 255, 2, 2, 0, 0, 0, 64];
    payload.extend((1..=64).map(|v| v as u8));
    payload.extend_from_slice(&[0x12, 0x34]);
    let frame = Depacketizer::new(1000)
        .push(&rtp(0, 0, true), &payload)
        .frame
        .unwrap();
    let info = JpegInfo::parse(&frame).unwrap();
    assert_eq!(info.quant_tables[0], info.quant_tables[1]);
    assert_eq!(info.quant_tables[0].as_deref().unwrap()[63], 64);
    assert_eq!(&frame[info.scan_data.clone()], &[0x12, 0x34]);
}

#[test]
fn q_below_100_rebuilds_annex_k_tables() {
    let frame = Depacketizer::new(1000)
        .push(&rtp(0, 0, true), &[0, 0, 0, 0, 0, 50, 1, 1, 0xab])
        .frame
        .unwrap();
    let info = JpegInfo::parse(&frame).unwrap();
    assert_eq!(
        info.quant_tables[0].as_deref().unwrap(),
        &tables::q_tables(50).0
    );
    assert_eq!(info.rfc2435().unwrap().type_, 0);
}

#[test]
fn lost_fragment_drops_the_frame_and_the_next_frame_still_arrives() {
    let frames = sample_frames();
    let mut d = Depacketizer::new(1 << 20);
    let info = JpegInfo::parse(&frames[0]).unwrap();
    let p = info.rfc2435().unwrap();
    let payloads: Vec<_> = fragments(&p, &frames[0][info.scan_data.start..], MAX_PACKET).collect();
    let mut dropped = None;
    for (i, f) in payloads.iter().enumerate() {
        if i == 1 {
            continue; // lost
        }
        let ev = d.push(&rtp(i as u16, 0, f.last), &f.to_payload());
        assert_eq!(ev.frame, None, "a frame with a hole must never come out");
        dropped = dropped.or(ev.dropped.first().cloned());
    }
    // The drop names the packet after the hole, as Wireshark would show it.
    let offset = payloads[2].header()[1..4]
        .iter()
        .fold(0u32, |n, &b| n << 8 | b as u32);
    let Some(DepacketizeError::MissingFragment {
        packet,
        expected,
        got,
    }) = dropped.clone()
    else {
        panic!("{dropped:?}")
    };
    assert_eq!(
        packet,
        PacketId {
            sequence_number: 2,
            timestamp: 0,
            fragment_offset: Some(offset)
        }
    );
    assert_eq!((expected as usize, got), (payloads[0].data.len(), offset));
    let text = dropped.unwrap().to_string();
    assert!(
        text.contains("RTP seq 2 ts 0") && text.contains(&format!("offset {offset}")),
        "{text}"
    );
}

#[test]
fn a_lost_last_fragment_is_found_by_the_next_frame() {
    let frames = sample_frames();
    let info = JpegInfo::parse(&frames[0]).unwrap();
    let p = info.rfc2435().unwrap();
    let payloads: Vec<_> = fragments(&p, &frames[0][info.scan_data.start..], MAX_PACKET).collect();
    // Lose the last fragment (with the marker) of a frame: the next frame's start drops it.
    let mut d = Depacketizer::new(1 << 20);
    for (seq, f) in payloads[..payloads.len() - 1].iter().enumerate() {
        assert_eq!(
            d.push(&rtp(seq as u16, 0, f.last), &f.to_payload()),
            DepacketizerEvent::default()
        );
    }
    let ev = d.push(&rtp(100, 1, true), &payloads[0].to_payload());
    assert!(matches!(
        ev.dropped[..],
        [DepacketizeError::TimestampChanged {
            from: 0,
            packet: PacketId {
                sequence_number: 100,
                timestamp: 1,
                ..
            }
        }]
    ));
    // A sender that reuses the timestamp: the new offset 0 is what reveals the loss, and the
    // error says how much of the old frame had arrived (not a made-up "expected" count).
    let mut d = Depacketizer::new(1 << 20);
    for (seq, f) in payloads[..payloads.len() - 1].iter().enumerate() {
        d.push(&rtp(seq as u16, 0, f.last), &f.to_payload());
    }
    let arrived: usize = payloads[..payloads.len() - 1]
        .iter()
        .map(|f| f.data.len())
        .sum();
    let ev = d.push(&rtp(200, 0, true), &payloads[0].to_payload());
    assert_eq!(
        ev.dropped,
        vec![DepacketizeError::FrameNotEnded {
            packet: PacketId {
                sequence_number: 200,
                timestamp: 0,
                fragment_offset: Some(0)
            },
            arrived
        }]
    );
}

#[test]
fn quant_table_faults_name_the_packet() {
    // Q=200 with a zero-length table header and nothing cached for it.
    let payload = [0, 0, 0, 0, 1, 200, 2, 2, 0, 0, 0, 0, 0xab];
    let ev = Depacketizer::new(1000).push(&rtp(7, 90, true), &payload);
    assert_eq!(
        ev.dropped,
        vec![DepacketizeError::BadQuantTables {
            packet: PacketId {
                sequence_number: 7,
                timestamp: 90,
                fragment_offset: Some(0)
            },
            fault: QuantTableFault::NotCached { q: 200 }
        }]
    );
    let mut bad_len = payload;
    bad_len[11] = 10;
    let ev = Depacketizer::new(1000).push(&rtp(8, 90, true), &bad_len);
    assert!(matches!(
        ev.dropped[..],
        [DepacketizeError::Truncated { len: 13, .. }]
    ));
}

#[test]
fn every_lost_frame_is_counted_once() {
    let frames = sample_frames();
    let payloads = |i: usize| -> Vec<(Vec<u8>, bool)> {
        let info = JpegInfo::parse(&frames[i]).unwrap();
        let p = info.rfc2435().unwrap();
        fragments(&p, &frames[i][info.scan_data.start..], MAX_PACKET)
            .map(|f| (f.to_payload(), f.last))
            .collect()
    };
    let (a, b, c) = (payloads(0), payloads(1), payloads(2));
    let mut d = Depacketizer::new(1 << 20);
    let mut complete = 0;
    let mut dropped = 0;
    let mut seq = 0u16;
    let mut push = |ts: u32, (p, m): &(Vec<u8>, bool)| {
        seq = seq.wrapping_add(1);
        let ev = d.push(&rtp(seq, ts, *m), p);
        complete += ev.frame.is_some() as usize;
        dropped += ev.dropped.len();
    };
    // Frame a loses its last fragment, frame b its first; c arrives whole.
    for f in &a[..a.len() - 1] {
        push(0, f);
    }
    for f in &b[1..] {
        push(1, f);
    }
    for f in &c {
        push(2, f);
    }
    assert_eq!((complete, dropped), (1, 2));

    // Joining a live stream mid-frame is not a loss.
    let mut d = Depacketizer::new(1 << 20);
    let ev = d.push(&rtp(9, 1, b[1].1), &b[1].0);
    assert!(ev.dropped.is_empty());
}

#[test]
fn oversized_frames_are_dropped() {
    let frame = &sample_frames()[0];
    let info = JpegInfo::parse(frame).unwrap();
    let p = info.rfc2435().unwrap();
    let mut d = Depacketizer::new(2000);
    let mut dropped = None;
    for (seq, f) in fragments(&p, &frame[info.scan_data.start..], MAX_PACKET).enumerate() {
        let ev = d.push(&rtp(seq as u16, 0, f.last), &f.to_payload());
        assert_eq!(ev.frame, None);
        dropped = dropped.or(ev.dropped.first().cloned());
    }
    assert!(
        matches!(
            dropped,
            Some(DepacketizeError::TooLarge {
                limit: 2000,
                packet: PacketId {
                    sequence_number: 1,
                    timestamp: 0,
                    fragment_offset: Some(_)
                }
            })
        ),
        "{dropped:?}"
    );
}

#[test]
fn unstreamable_frames_say_why() {
    let frame = &sample_frames()[0];
    let mut info = JpegInfo::parse(frame).unwrap();
    let orig = info.clone();
    info.components[0].h = 1;
    info.components[0].v = 1;
    assert_eq!(info.rfc2435().unwrap_err().reason, NotRfc2435::LumaSampling);
    let mut info = orig.clone();
    info.huffman_tables[1].values[0] ^= 1;
    assert_eq!(
        info.rfc2435().unwrap_err().reason,
        NotRfc2435::OptimizedHuffman
    );
    let mut info = orig.clone();
    info.sof = marker::SOF2;
    assert_eq!(info.rfc2435().unwrap_err().reason, NotRfc2435::Progressive);
    let mut info = orig.clone();
    info.components.truncate(1);
    assert_eq!(
        info.rfc2435().unwrap_err().reason,
        NotRfc2435::NotThreeComponents
    );
}

#[test]
fn truncated_and_garbage_frames_are_errors() {
    let frame = &sample_frames()[0];
    for cut in [0, 1, 2, 3, 10, 100, 600, frame.len() - 1] {
        assert!(JpegInfo::parse(&frame[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(JpegInfo::parse(b"GIF89a"), Err(JpegError::NoSoi));
}

proptest! {
    #[test]
    fn header_round_trips(ts in any::<u8>(), off in 0u32..(1 << 24), t in any::<u8>(), q in any::<u8>(), w in any::<u8>(), h in any::<u8>()) {
        let hdr = MainHeader { type_specific: ts, fragment_offset: off, type_: t, q, width: w, height: h };
        let mut b = [0u8; 8];
        hdr.write(&mut b);
        prop_assert_eq!(MainHeader::parse(&b), Some(hdr));
    }

    #[test]
    fn parse_survives_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = JpegInfo::parse(&bytes);
        if bytes.len() >= 2 {
            bytes[0] = 0xff;
            bytes[1] = 0xd8;
        }
        if let Ok(info) = JpegInfo::parse(&bytes) {
            let _ = info.rfc2435();
        }
    }

    #[test]
    fn parse_survives_corrupted_sample_frames(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let frame = &sample_frames()[0];
        let mut f = frame.clone();
        f[pos.index(frame.len())] = byte;
        if let Ok(info) = JpegInfo::parse(&f) {
            let _ = info.rfc2435();
            prop_assert!(info.len <= f.len());
            prop_assert!(info.scan_data.end <= f.len());
        }
    }

    #[test]
    fn depacketizer_survives_arbitrary_packets(packets in prop::collection::vec((any::<u32>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), 0..30)) {
        let mut d = Depacketizer::new(4096);
        for (ts, m, p) in packets {
            let ev = d.push(&rtp(ts as u16, ts % 3, m), &p);
            if let Some(frame) = ev.frame {
                prop_assert!(frame.starts_with(&[0xff, 0xd8]));
                prop_assert!(frame.ends_with(&[0xff, 0xd9]));
                prop_assert!(frame.len() <= 4096 + 1000);
            }
        }
    }
}

#[test]
fn zero_size_headers_take_the_sdp_dimensions() {
    let payload = [0, 0, 0, 0, 1, 50, 0, 0, 0xab];
    assert_eq!(
        Depacketizer::new(1000)
            .push(&rtp(3, 0, true), &payload)
            .dropped,
        vec![DepacketizeError::ZeroSize {
            packet: PacketId {
                sequence_number: 3,
                timestamp: 0,
                fragment_offset: Some(0)
            }
        }]
    );
    let mut d = Depacketizer::new(1000);
    d.set_dimensions(2560, 1440);
    let frame = d.push(&rtp(0, 0, true), &payload).frame.unwrap();
    let info = JpegInfo::parse(&frame).unwrap();
    assert_eq!((info.width, info.height), (2560, 1440));
}
