//! A live stream's H.264 renditions, encoded frame by frame as the publisher's JPEGs arrive
//! and cut into CMAF fragments where the [`super::cutter::Cutter`] says.
//!
//! One OpenH264 encoder per rendition runs for the whole stream (its rate control carries
//! on across segments); each segment's first frame is forced to be an IDR, and an IDR
//! refers to nothing before it, so a segment decodes on its own. The init segment comes
//! from the first IDR's parameter sets; a later IDR whose parameter sets differ is an
//! error, never served.

use std::time::SystemTime;

use h264::cmaf::{init_segment, media_segment, Sample};
use h264::{H264Encoder, Settings, Yuv420};

use super::cutter::TIMESCALE;
use super::window::{Part, Track};
use crate::cmaf::{ladder, Rendition, RenditionList};

/// The frame rate the ladder's bitrates assume when the publisher announced none.
const ASSUMED_FPS: f64 = 20.0;

/// One rendition's encoder state.
struct Lane {
    rendition: Rendition,
    encoder: Option<H264Encoder>,
    samples: Vec<Sample>,
    /// SPS and PPS of the init segment.
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
}

/// The renditions of one live stream.
pub struct LiveEncoder {
    lanes: Vec<Lane>,
    fps: f64,
    /// The last picture that decoded: a frame that does not repeats it (constant rate).
    last: Option<Yuv420>,
    /// Decode time of the next sample, and of the open part's first.
    next_time: u64,
    part_start: u64,
    /// `mfhd` sequence numbers: one per fragment.
    fragments: u32,
    /// When the open part's first frame (and the open segment's) reached the server.
    part_wall: Option<SystemTime>,
    /// Whether the next frame starts a segment (an IDR).
    segment_starts: bool,
    /// Whether the open part is its segment's first (its fragment keeps its `styp`).
    first_part: bool,
}

/// What [`LiveEncoder::encode`] made of the very first frame: each rendition's track.
pub type Tracks = Vec<Track>;

impl LiveEncoder {
    /// Encoders for `wanted`'s ladder (empty: the default), the size taken from the first
    /// frame; `fps` is the announced rate, if any.
    pub fn new(first: &Yuv420, fps: Option<f64>, wanted: &RenditionList) -> LiveEncoder {
        let fps = fps
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(ASSUMED_FPS);
        let lanes = ladder((first.width, first.height), fps, wanted)
            .into_iter()
            .map(|rendition| Lane {
                rendition,
                encoder: None,
                samples: Vec::new(),
                parameter_sets: None,
            })
            .collect();
        LiveEncoder {
            lanes,
            fps,
            last: None,
            next_time: 0,
            part_start: 0,
            fragments: 0,
            part_wall: None,
            segment_starts: true,
            first_part: true,
        }
    }

    /// The next frame's JPEG, lasting `duration` ticks, received at `wall`. Returns the
    /// tracks (init segments) once, with the first frame that decodes; a frame that does not
    /// decode repeats the picture before it (none yet: it is skipped).
    pub fn encode(
        &mut self,
        jpeg: &[u8],
        duration: u32,
        wall: SystemTime,
    ) -> Result<Option<Tracks>, String> {
        match Yuv420::from_jpeg(jpeg) {
            Ok(p) => self.last = Some(p),
            Err(e) if self.last.is_some() => log::debug!("live frame does not decode ({e})"),
            Err(e) => return Err(format!("the first frame does not decode: {e}")),
        }
        let Some(picture) = &self.last else {
            return Ok(None);
        };
        let starts = std::mem::take(&mut self.segment_starts);
        self.part_wall.get_or_insert(wall);
        let mut tracks = Vec::new();
        for lane in &mut self.lanes {
            let r = &lane.rendition;
            if lane.encoder.is_none() {
                lane.encoder = Some(new_encoder(r, self.fps)?);
            }
            let encoder = lane.encoder.as_mut().expect("made above");
            if starts {
                encoder.force_idr();
            }
            let scaled = picture.scaled(r.width, r.height);
            let au = encoder
                .encode(&scaled)
                .map_err(|e| format!("{}: {e}", r.id))?;
            if starts {
                check_parameter_sets(lane, &au.annex_b, &mut tracks)?;
            }
            lane.samples
                .push(Sample::from_annex_b(&au.annex_b, duration, au.idr));
        }
        self.next_time += u64::from(duration);
        Ok((!tracks.is_empty()).then_some(tracks))
    }

    /// The open part as one fragment per rendition, its decode time and when its first
    /// frame arrived; `None` when no frame went into it. `closes_segment`: the next frame
    /// starts a new segment.
    pub fn take_part(
        &mut self,
        closes_segment: bool,
    ) -> Result<Option<(Part, u64, SystemTime)>, String> {
        let Some(wall) = self.part_wall.take() else {
            return Ok(None);
        };
        self.fragments += 1;
        let start = self.part_start;
        let mut bytes = Vec::with_capacity(self.lanes.len());
        let mut duration = 0;
        let mut independent = false;
        for lane in &mut self.lanes {
            let samples = std::mem::take(&mut lane.samples);
            duration = samples.iter().map(|s| s.duration).sum();
            independent = samples.first().is_some_and(|s| s.sync);
            let mut fragment =
                media_segment(self.fragments, start, &samples).map_err(|e| e.to_string())?;
            if !self.first_part {
                strip_styp(&mut fragment);
            }
            bytes.push(std::sync::Arc::new(fragment));
        }
        self.part_start = self.next_time;
        self.segment_starts |= closes_segment;
        self.first_part = closes_segment;
        let part = Part {
            duration,
            independent,
            bytes,
        };
        Ok(Some((part, start, wall)))
    }
}

/// Removes a fragment's leading `styp` box: a segment is its parts end to end, and only
/// its start is a segment's start.
fn strip_styp(fragment: &mut Vec<u8>) {
    if fragment.get(4..8) == Some(b"styp") {
        let size = u32::from_be_bytes([fragment[0], fragment[1], fragment[2], fragment[3]]);
        fragment.drain(..(size as usize).min(fragment.len()));
    }
}

fn new_encoder(r: &Rendition, fps: f64) -> Result<H264Encoder, String> {
    H264Encoder::new(Settings {
        fps,
        // No IDR of its own accord: segments start where the cutter says (`force_idr`).
        gop: 1 << 16,
        bitrate: r.bitrate,
    })
    .map_err(|e| format!("{}: {e}", r.id))
}

/// The first access unit of a segment: the first ever makes the init segment (into
/// `tracks`); a later one must carry the same parameter sets.
fn check_parameter_sets(
    lane: &mut Lane,
    annex_b: &[u8],
    tracks: &mut Tracks,
) -> Result<(), String> {
    let r = &lane.rendition;
    let sets = h264::parameter_sets(annex_b);
    match &lane.parameter_sets {
        None => {
            let init = init_segment(r.width as u16, r.height as u16, TIMESCALE, annex_b)
                .map_err(|e| format!("{}: init segment: {e}", r.id))?;
            let sps = sets.as_ref().map_or(&[][..], |(s, _)| s.as_slice());
            tracks.push(Track {
                rendition: r.clone(),
                init: std::sync::Arc::new(init),
                codecs: h264::codecs_string(sps),
            });
            lane.parameter_sets = sets;
            Ok(())
        }
        Some(known) if sets.is_none() || sets.as_ref() == Some(known) => Ok(()),
        Some(_) => Err(format!(
            "{}: a segment's parameter sets differ from the init segment's",
            r.id
        )),
    }
}
