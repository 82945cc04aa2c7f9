//! `server --prepare` for HLS and DASH: every rendition of a file encoded ahead of the first
//! player (into the disk cache the server then serves from), and what came out: sizes,
//! bitrates and the quality of each rendition, decoded back and compared with the source.

use std::fmt;
use std::sync::Arc;

use super::{CmafError, Packager, Part, Plan, Rendition};

/// One rendition's line in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionReport {
    pub rendition: Rendition,
    pub segments: u32,
    /// Init and media segments together.
    pub bytes: u64,
    /// Bits per second over the video's duration.
    pub bitrate: u64,
    /// PSNR of every frame against the source scaled to the rendition's size.
    pub psnr_mean: f64,
    pub psnr_min: f64,
}

impl fmt::Display for RenditionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.rendition;
        write!(
            f,
            "{} {}x{}: {} segments, {:.2} MB, {} kbit/s (target {}), PSNR {:.2} dB mean, {:.2} dB lowest",
            r.id,
            r.width,
            r.height,
            self.segments,
            self.bytes as f64 / 1e6,
            self.bitrate / 1000,
            r.bitrate / 1000,
            self.psnr_mean,
            self.psnr_min
        )
    }
}

impl Packager {
    /// Encodes every part of every rendition of `plan` on this thread's behalf (the workers
    /// do it; this waits) and measures each rendition.
    pub fn prepare(&self, plan: &Arc<Plan>) -> Result<Vec<RenditionReport>, CmafError> {
        let media = &plan.media;
        let failed = |e: h264::check::CheckError| CmafError::Failed(e.to_string());
        // No player waits here: a long encode is waited for, however long.
        let get = |r: &Rendition, part: Part| loop {
            match self.get(plan, r, part) {
                Err(CmafError::Busy(_)) => continue,
                done => break done,
            }
        };
        let mut reports = Vec::new();
        for r in &plan.renditions {
            let init = get(r, Part::Init)?;
            let mut bytes = init.bytes.len() as u64;
            let (mut sum, mut min, mut frames) = (0.0, f64::INFINITY, 0usize);
            for n in 1..=plan.segments() {
                let segment = get(r, Part::Segment(n))?;
                bytes += segment.bytes.len() as u64;
                let pictures =
                    h264::check::decode_segment(&init.bytes, &segment.bytes).map_err(failed)?;
                for (picture, i) in pictures.iter().zip(plan.frames_of(n)) {
                    let jpeg = &media.data[media.frames[i].jpeg.clone()];
                    // A frame that does not decode was sent as the one before it: not measured.
                    let Ok(source) = h264::Yuv420::from_jpeg(jpeg) else {
                        continue;
                    };
                    let p = h264::check::psnr(picture, &source.scaled(r.width, r.height)).min(99.0);
                    sum += p;
                    min = f64::min(min, p);
                    frames += 1;
                }
            }
            reports.push(RenditionReport {
                rendition: r.clone(),
                segments: plan.segments(),
                bytes,
                bitrate: (bytes as f64 * 8.0 / plan.duration()) as u64,
                psnr_mean: sum / frames.max(1) as f64,
                psnr_min: min,
            });
        }
        Ok(reports)
    }
}
