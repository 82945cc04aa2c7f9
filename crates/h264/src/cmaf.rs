//! CMAF (ISO/IEC 23000-19) for one H.264 track: an init segment (`ftyp`, `moov` with `avc1`,
//! `avcC`, `colr` and `mvex`) and media segments (`styp`, `moof` with `tfdt` and `trun`,
//! `mdat`), the boxes written by `mp4-atom`. Samples are length-prefixed NAL units (`avc1`:
//! parameter sets live in `avcC`, not in the samples).

use mp4_atom::{
    Avc1, Avcc, Colr, Dinf, Dref, Encode, Ftyp, Hdlr, Matrix, Mdat, Mdhd, Mdia, Mfhd, Minf, Moof,
    Moov, Mvex, Mvhd, Pasp, RgbColor, Stbl, Stco, Stsc, Stsd, Stsz, Stts, Styp, Tfdt, Tfhd, Tkhd,
    Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};

/// The one track's id.
const TRACK: u32 = 1;
/// `trun` sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on nothing; the
/// others depend on earlier samples and are not sync samples.
const SYNC: u32 = 0x0200_0000;
const NOT_SYNC: u32 = 0x0101_0000;

/// Why a stream cannot be put in CMAF.
#[derive(Debug, thiserror::Error)]
pub enum CmafError {
    #[error("the first access unit has no {0}")]
    NoParameterSet(&'static str),
    #[error("writing the {what} box: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: mp4_atom::Error,
    },
}

/// The NAL units of an Annex B byte stream, start codes removed.
pub fn nal_units(annex_b: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let end = starts.get(k + 1).map_or(annex_b.len(), |&n| n - 3);
            // A four-byte start code leaves its leading zero at the end of the unit before.
            let mut unit = &annex_b[s..end];
            while unit.last() == Some(&0) && k + 1 < starts.len() {
                unit = &unit[..unit.len() - 1];
            }
            unit
        })
        .collect()
}

/// One sample of a media segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Length-prefixed (4 bytes) NAL units.
    pub data: Vec<u8>,
    pub duration: u32,
    pub sync: bool,
}

impl Sample {
    /// An access unit as a sample: its NAL units but parameter sets, each behind its length.
    pub fn from_annex_b(annex_b: &[u8], duration: u32, sync: bool) -> Sample {
        let mut data = Vec::with_capacity(annex_b.len());
        for nal in nal_units(annex_b) {
            if matches!(nal.first().map(|b| b & 0x1f), Some(7 | 8)) {
                continue;
            }
            data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            data.extend_from_slice(nal);
        }
        Sample {
            data,
            duration,
            sync,
        }
    }
}

fn encode(what: &'static str, atom: &impl Encode, out: &mut Vec<u8>) -> Result<(), CmafError> {
    atom.encode(out)
        .map_err(|source| CmafError::Encode { what, source })
}

fn identity() -> Matrix {
    Matrix {
        a: 0x0001_0000,
        b: 0,
        u: 0,
        c: 0,
        d: 0x0001_0000,
        v: 0,
        x: 0,
        y: 0,
        w: 0x4000_0000,
    }
}

/// The init segment for a `width` x `height` track at `timescale` ticks a second, its
/// parameter sets taken from the first access unit (an IDR).
/// (It stays one function: it is one box tree, written as the tree it is.)
pub fn init_segment(
    width: u16,
    height: u16,
    timescale: u32,
    first: &[u8],
) -> Result<Vec<u8>, CmafError> {
    let units = nal_units(first);
    let find = |t: u8| {
        units
            .iter()
            .find(|n| n.first().map(|b| b & 0x1f) == Some(t))
    };
    let sps = find(7).ok_or(CmafError::NoParameterSet("SPS"))?.to_vec();
    let pps = find(8).ok_or(CmafError::NoParameterSet("PPS"))?.to_vec();
    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width,
            height,
            horizresolution: 72.into(),
            vertresolution: 72.into(),
            frame_count: 1,
            compressor: "".into(),
            depth: 24,
        },
        avcc: Avcc {
            configuration_version: 1,
            avc_profile_indication: sps[1],
            profile_compatibility: sps[2],
            avc_level_indication: sps[3],
            length_size: 4,
            sequence_parameter_sets: vec![sps],
            picture_parameter_sets: vec![pps],
            ext: None,
        },
        btrt: None,
        // JPEG's colours: BT.601 (6), full range, as the SPS's VUI says too.
        colr: Some(Colr::Nclx {
            colour_primaries: 6,
            transfer_characteristics: 6,
            matrix_coefficients: 6,
            full_range_flag: true,
        }),
        pasp: Some(Pasp {
            h_spacing: 1,
            v_spacing: 1,
        }),
        taic: None,
    };
    let moov = Moov {
        mvhd: Mvhd {
            creation_time: 0,
            modification_time: 0,
            timescale,
            duration: 0,
            rate: 1.into(),
            volume: 1.into(),
            matrix: identity(),
            next_track_id: TRACK + 1,
        },
        meta: None,
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK,
                default_sample_description_index: 1,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: 0,
            }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                creation_time: 0,
                modification_time: 0,
                track_id: TRACK,
                duration: 0,
                layer: 0,
                alternate_group: 0,
                enabled: true,
                volume: 0.into(),
                matrix: identity(),
                width: width.into(),
                height: height.into(),
            },
            edts: None,
            meta: None,
            mdia: Mdia {
                mdhd: Mdhd {
                    creation_time: 0,
                    modification_time: 0,
                    timescale,
                    duration: 0,
                    language: "und".into(),
                },
                hdlr: Hdlr {
                    handler: b"vide".into(),
                    name: "mjpeg-rtsp video".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd {
                        graphics_mode: 0,
                        op_color: RgbColor {
                            red: 0,
                            green: 0,
                            blue: 0,
                        },
                    }),
                    smhd: None,
                    dinf: Dinf {
                        dref: Dref {
                            urls: vec![Url::default()],
                        },
                    },
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![avc1.into()],
                        },
                        stts: Stts::default(),
                        stsc: Stsc::default(),
                        stsz: Stsz::default(),
                        stco: Some(Stco::default()),
                        ..Default::default()
                    },
                },
            },
            udta: None,
        }],
        ..Default::default()
    };
    let mut out = Vec::new();
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"avc1".into()],
    };
    encode("ftyp", &ftyp, &mut out)?;
    encode("moov", &moov, &mut out)?;
    Ok(out)
}

/// A media segment: `samples` in decode order, the first decoded at `decode_time` (in the
/// init segment's timescale), numbered `sequence` (from 1).
pub fn media_segment(
    sequence: u32,
    decode_time: u64,
    samples: &[Sample],
) -> Result<Vec<u8>, CmafError> {
    let moof = |data_offset: i32| Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: TRACK,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(data_offset),
                entries: samples
                    .iter()
                    .map(|s| TrunEntry {
                        duration: Some(s.duration),
                        size: Some(s.data.len() as u32),
                        flags: Some(if s.sync { SYNC } else { NOT_SYNC }),
                        cts: None,
                    })
                    .collect(),
            }],
            ..Default::default()
        }],
    };
    // The data offset counts from the moof's first byte (ISO/IEC 14496-12 8.8.7.1): the
    // moof's own size plus the mdat header. Its size does not depend on the offset's value.
    let mut probe = Vec::new();
    encode("moof", &moof(0), &mut probe)?;
    let mut out = Vec::new();
    let styp = Styp {
        major_brand: b"cmfs".into(),
        minor_version: 0,
        compatible_brands: vec![b"cmfs".into(), b"msdh".into(), b"msix".into()],
    };
    encode("styp", &styp, &mut out)?;
    encode("moof", &moof(probe.len() as i32 + 8), &mut out)?;
    let mdat = Mdat {
        data: samples
            .iter()
            .flat_map(|s| s.data.iter().copied())
            .collect(),
    };
    encode("mdat", &mdat, &mut out)?;
    Ok(out)
}
