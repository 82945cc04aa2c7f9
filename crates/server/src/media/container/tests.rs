//! The container parsers on files written here by hand: each structure the module docs
//! promise, each way a file goes wrong, and arbitrary or mangled bytes that must never panic.
//! (tests/containers.rs plays files ffmpeg and OpenCV write.)

use proptest::prelude::*;

use super::avi::build::{avi, chunk, list, video_strl};
use super::*;

/// Distinct payloads, odd and even sizes, so every frame range can be checked by content.
fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("frame {i}{}", "x".repeat(i % 2)).into_bytes())
        .collect()
}

fn contents<'a>(data: &'a [u8], index: &ContainerIndex) -> Vec<&'a [u8]> {
    index.frames.iter().map(|r| &data[r.clone()]).collect()
}

fn refs(p: &[Vec<u8>]) -> Vec<&[u8]> {
    p.iter().map(Vec::as_slice).collect()
}

#[test]
fn avi_frames_and_rate_with_and_without_idx1() {
    let p = payloads(5);
    for idx1 in [true, false] {
        let data = avi(&[video_strl(30000, 1001)], &refs(&p), idx1);
        let index = index(&data).unwrap().unwrap();
        assert_eq!(index.format, Format::Avi);
        assert_eq!(contents(&data, &index), refs(&p), "idx1 {idx1}");
        assert!((index.fps.unwrap() - 29.97).abs() < 0.001);
        assert!(index.warnings.is_empty(), "{:?}", index.warnings);
    }
}

#[test]
fn avi_second_stream_nested_lists_and_repeated_frames() {
    // An audio stream first: the video's frames are then 01dc. movi nests a LIST rec and
    // holds a zero-length frame (repeat the previous one) and another stream's chunks.
    let mut audio = video_strl(1, 1);
    audio[20..24].copy_from_slice(b"auds");
    let hdrl = list(
        b"hdrl",
        &[chunk(b"avih", &[0; 56]), audio, video_strl(25, 1)],
    );
    let movi = list(
        b"movi",
        &[
            chunk(b"01dc", b"one"),
            chunk(b"00wb", b"sound"),
            list(b"rec ", &[chunk(b"01dc", b"two!"), chunk(b"JUNK", b"j")]),
            chunk(b"01dc", b""),
            chunk(b"01db", b"four"),
        ],
    );
    let mut body = b"AVI ".to_vec();
    body.extend(hdrl);
    body.extend(movi);
    let data = chunk(b"RIFF", &body);
    let index = index(&data).unwrap().unwrap();
    let want: Vec<&[u8]> = vec![b"one", b"two!", b"two!", b"four"];
    assert_eq!(contents(&data, &index), want);
    assert_eq!(index.fps, Some(25.0));
}

#[test]
fn avi_bad_idx1_falls_back_to_walking_movi() {
    let p = payloads(3);
    let mut data = avi(&[video_strl(25, 1)], &refs(&p), true);
    // The last idx1 entry's length no longer matches its chunk.
    let n = data.len();
    data[n - 4] ^= 0x40;
    let index = index(&data).unwrap().unwrap();
    assert_eq!(contents(&data, &index), refs(&p));
    assert!(
        index.warnings[0].contains("walking movi"),
        "{:?}",
        index.warnings
    );
}

#[test]
fn avi_cut_short_keeps_the_frames_before_the_cut() {
    let p = payloads(4);
    let data = avi(&[video_strl(25, 1)], &refs(&p), false);
    let cut = &data[..data.len() - 3];
    let index = index(cut).unwrap().unwrap();
    assert_eq!(contents(cut, &index), refs(&p[..3]));
    assert!(
        index.warnings.iter().any(|w| w.contains("cut short")),
        "{:?}",
        index.warnings
    );
}

#[test]
fn avi_refusals_name_the_offset() {
    let mut strl = video_strl(25, 1);
    // strh's handler and strf's compression: H264, not Motion-JPEG.
    let h264 = |s: &mut Vec<u8>| {
        for i in 0..s.len() - 4 {
            if &s[i..i + 4] == b"MJPG" {
                s[i..i + 4].copy_from_slice(b"H264");
            }
        }
    };
    h264(&mut strl);
    let data = avi(&[strl], &[b"x"], false);
    let e = index(&data).unwrap().unwrap_err();
    assert!(
        e.why.contains("no Motion-JPEG video stream (found H264)"),
        "{e}"
    );
    assert_eq!(e.offset, 12);
    assert!(e.to_string().starts_with("AVI file: at byte 12:"), "{e}");

    let mut data = avi(&[video_strl(25, 1)], &[b"x"], false);
    let first = data.len();
    data.extend(chunk(b"RIFF", b"AVIXLIST"));
    let e = index(&data).unwrap().unwrap_err();
    assert_eq!(e.offset, first);
    assert!(e.why.contains("OpenDML"), "{e}");
}

/// An ISO BMFF box.
fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

/// A full box: version 0, no flags.
fn full(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0; 4];
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn be(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A movie: `frames` in an mdat after the moov, two samples per chunk, `stts` as given, the
/// sample entry `entry`.
fn mp4(frames: &[Vec<u8>], stts: &[(u32, u32)], entry: &[u8; 4], timescale: u32) -> Vec<u8> {
    let ftyp = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
    let build = |mdat_at: u32| {
        let mut sample_entry = vec![0u8; 78];
        sample_entry[7] = 1;
        let stsd = full(b"stsd", &[be(&[1]), bx(entry, &sample_entry)].concat());
        let stts_body: Vec<u32> = std::iter::once(stts.len() as u32)
            .chain(stts.iter().flat_map(|&(n, d)| [n, d]))
            .collect();
        let stsc = full(b"stsc", &be(&[1, 1, 2, 1]));
        let sizes: Vec<u32> = frames.iter().map(|f| f.len() as u32).collect();
        let stsz = full(
            b"stsz",
            &[be(&[0, sizes.len() as u32]), be(&sizes)].concat(),
        );
        let mut offsets = Vec::new();
        let mut at = mdat_at + 8;
        for pair in frames.chunks(2) {
            offsets.push(at);
            at += pair.iter().map(|f| f.len() as u32).sum::<u32>();
        }
        let stco = full(
            b"stco",
            &[be(&[offsets.len() as u32]), be(&offsets)].concat(),
        );
        let stbl = bx(
            b"stbl",
            &[stsd, full(b"stts", &be(&stts_body)), stsc, stsz, stco].concat(),
        );
        let minf = bx(b"minf", &[full(b"vmhd", &[0; 8]), stbl].concat());
        let mdhd = full(
            b"mdhd",
            &[be(&[0, 0, timescale, 0]), vec![0x55, 0xc4, 0, 0]].concat(),
        );
        let mdia = bx(b"mdia", &[mdhd, minf].concat());
        bx(b"moov", &bx(b"trak", &mdia))
    };
    let moov_len = build(0).len() as u32;
    let moov = build(ftyp.len() as u32 + moov_len);
    let mdat = bx(b"mdat", &frames.concat());
    [ftyp, moov, mdat].concat()
}

#[test]
fn mp4_frames_and_rate() {
    let p = payloads(5);
    for entry in [b"jpeg", b"mjpa"] {
        let data = mp4(&p, &[(5, 512)], entry, 12800);
        let index = index(&data).unwrap().unwrap();
        assert_eq!(index.format, Format::Mp4);
        assert_eq!(contents(&data, &index), refs(&p));
        assert_eq!(index.fps, Some(25.0));
        assert!(index.warnings.is_empty(), "{:?}", index.warnings);
    }
}

#[test]
fn mp4_variable_durations_play_at_their_average_with_a_warning() {
    let p = payloads(4);
    let data = mp4(&p, &[(2, 400), (2, 600)], b"jpeg", 10000);
    let index = index(&data).unwrap().unwrap();
    assert_eq!(index.fps, Some(20.0));
    assert!(
        index.warnings[0].contains("average, 20.000 fps"),
        "{:?}",
        index.warnings
    );
}

#[test]
fn mp4_cut_short_and_refusals() {
    let p = payloads(4);
    let data = mp4(&p, &[(4, 1)], b"jpeg", 25);
    let cut = &data[..data.len() - 2];
    let index = index(cut).unwrap().unwrap();
    assert_eq!(contents(cut, &index), refs(&p[..3]));
    assert!(
        index.warnings[0].contains("past the end"),
        "{:?}",
        index.warnings
    );

    let other = mp4(&p, &[(4, 1)], b"xvid", 25);
    let e = super::index(&other).unwrap().unwrap_err();
    assert!(e.why.contains("found xvid"), "{e}");

    let no_moov = [bx(b"ftyp", b"isom\0\0\0\0"), bx(b"mdat", b"....")].concat();
    let e = super::index(&no_moov).unwrap().unwrap_err();
    assert!(e.why.contains("no moov"), "{e}");

    // A trak whose declared size runs past the moov: named by its offset.
    let mut bad = data.clone();
    let trak = bad.windows(4).position(|w| w == b"trak").unwrap() - 4;
    bad[trak..trak + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = super::index(&bad).unwrap().unwrap_err();
    assert_eq!(e.offset, trak, "{e}");
    assert!(e.why.contains("box trak"), "{e}");
}

/// An EBML element with an 8-byte size.
fn el(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = id
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    v.push(0x01);
    v.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

fn simple_block(track: u8, time: i16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80 | track];
    b.extend_from_slice(&time.to_be_bytes());
    b.push(flags);
    b.extend_from_slice(payload);
    el(0xA3, &b)
}

/// A Matroska file: track 1 is `codec`, with `default_duration` ns if given; one cluster
/// of `blocks`.
fn mkv(codec: &str, default_duration: Option<u32>, blocks: &[Vec<u8>], unknown: bool) -> Vec<u8> {
    let ebml = el(0x1A45_DFA3, &el(0x4282, b"matroska"));
    let info = el(0x1549_A966, &el(0x2AD7B1, &1_000_000u32.to_be_bytes()));
    let mut entry = [el(0xD7, &[1]), el(0x83, &[1]), el(0x86, codec.as_bytes())].concat();
    if let Some(d) = default_duration {
        entry.extend(el(0x23E383, &d.to_be_bytes()));
    }
    let tracks = el(0x1654_AE6B, &el(0xAE, &entry));
    let mut cluster = [el(0xE7, &[0])].concat();
    blocks.iter().for_each(|b| cluster.extend_from_slice(b));
    let cluster = match unknown {
        false => el(0x1F43_B675, &cluster),
        true => [vec![0x1F, 0x43, 0xB6, 0x75, 0xFF], cluster].concat(),
    };
    let mut segment = [info, tracks, cluster].concat();
    if unknown {
        segment.extend(el(0x1C53_BB6B, b"cues"));
    }
    [ebml, el(0x1853_8067, &segment)].concat()
}

#[test]
fn mkv_frames_and_rates() {
    let p = payloads(4);
    let blocks: Vec<Vec<u8>> = (p.iter().enumerate())
        .map(|(i, f)| match i {
            // One as a BlockGroup's Block, and another track's block between.
            2 => el(0xA0, &[el(0xA1, &simple_block(1, 80, 0, f)[9..])].concat()),
            _ => simple_block(1, 40 * i as i16, 0x80, f),
        })
        .chain([simple_block(2, 0, 0x80, b"audio")])
        .collect();
    for (dd, unknown, fps) in [
        (Some(40_000_000), false, 25.0),
        (None, true, 25.0),
        (Some(50_000_000), true, 20.0),
    ] {
        let data = mkv("V_MJPEG", dd, &blocks, unknown);
        let index = index(&data).unwrap().unwrap();
        assert_eq!(index.format, Format::Matroska);
        assert_eq!(contents(&data, &index), refs(&p), "{dd:?} {unknown}");
        assert_eq!(index.fps, Some(fps));
    }
}

#[test]
fn mkv_refusals_and_cuts() {
    let laced = mkv("V_MJPEG", None, &[simple_block(1, 0, 0x82, b"ab")], false);
    let e = index(&laced).unwrap().unwrap_err();
    assert!(e.why.contains("laced"), "{e}");
    let at = laced.windows(2).rposition(|w| w == [0xA3, 0x01]).unwrap();
    assert_eq!(e.offset, at);

    let other = mkv(
        "V_MPEG4/ISO/AVC",
        None,
        &[simple_block(1, 0, 0x80, b"ab")],
        false,
    );
    let e = index(&other).unwrap().unwrap_err();
    assert!(e.why.contains("found V_MPEG4/ISO/AVC"), "{e}");

    let p = payloads(3);
    let blocks: Vec<Vec<u8>> = (p.iter().enumerate())
        .map(|(i, f)| simple_block(1, 40 * i as i16, 0x80, f))
        .collect();
    let data = mkv("V_MJPEG", Some(40_000_000), &blocks, false);
    let cut = &data[..data.len() - 1];
    let index = index(cut).unwrap().unwrap();
    assert_eq!(contents(cut, &index), refs(&p[..2]));
    assert!(!index.warnings.is_empty());
}

#[test]
fn detection_by_first_bytes() {
    assert_eq!(detect(b"RIFF\0\0\0\0AVI LIST"), Some(Format::Avi));
    assert_eq!(detect(b"RIFF\0\0\0\0WAVEfmt "), None);
    assert_eq!(
        detect(&[0x1a, 0x45, 0xdf, 0xa3, 0x80]),
        Some(Format::Matroska)
    );
    assert_eq!(detect(b"\0\0\0\x14ftypqt  "), Some(Format::Mp4));
    assert_eq!(detect(b"\xff\xd8\xff\xe0"), None);
    assert_eq!(detect(b"05000\xff\xd8"), None);
}

/// Every way of mangling a valid file: a byte changed, bytes cut off the end.
fn mangle(data: &[u8], at: usize, byte: u8, keep: usize) -> Vec<u8> {
    let mut d = data.to_vec();
    let at = at % d.len();
    d[at] = byte;
    d.truncate(keep % (d.len() + 1));
    d
}

fn samples() -> Vec<Vec<u8>> {
    let p = payloads(3);
    let blocks: Vec<Vec<u8>> = (p.iter().enumerate())
        .map(|(i, f)| simple_block(1, 40 * i as i16, 0x80, f))
        .collect();
    vec![
        avi(&[video_strl(25, 1)], &refs(&p), true),
        mp4(&p, &[(3, 512)], b"jpeg", 12800),
        mkv("V_MJPEG", None, &blocks, true),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = avi::index(&data);
        let _ = mp4::index(&data);
        let _ = mkv::index(&data);
    }

    #[test]
    fn mangled_files_never_panic(which in 0..3usize, at in any::<usize>(), byte in any::<u8>(), keep in any::<usize>()) {
        let data = mangle(&samples()[which], at, byte, keep);
        if let Some(Ok(index)) = index(&data) {
            for r in &index.frames {
                prop_assert!(r.start <= r.end && r.end <= data.len());
            }
        }
    }

    #[test]
    fn arbitrary_tails_never_panic(which in 0..3usize, tail in proptest::collection::vec(any::<u8>(), 0..200), keep in any::<usize>()) {
        let mut data = samples()[which].clone();
        data.truncate(keep % (data.len() + 1));
        data.extend(tail);
        let _ = index(&data);
    }
}
