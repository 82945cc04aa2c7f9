//! The text that describes the segments: HLS playlists (RFC 8216) and a static DASH MPD
//! (ISO/IEC 23009-1), both over the same CMAF init and media segments.

use std::fmt::Write;

use super::{Plan, Rendition};

/// What a playlist says of one rendition besides its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub rendition: Rendition,
    /// RFC 6381, from the init segment.
    pub codecs: String,
    /// Bits per second: the most any one segment takes, and over the whole video.
    pub peak: u64,
    pub average: u64,
    /// Whether every segment's size was known (else the figures are estimates from the
    /// target bitrate, and the playlist may change once they are all encoded).
    pub measured: bool,
}

/// Bandwidth figures of `r` from the sizes of its segments (`size(n)`, `None` if not made
/// yet): measured when all are known; else the target bitrate with room for an encoder
/// that overshoots it twice at a scene cut (OpenH264 treats it as a target, not a cap).
pub fn bandwidth(
    plan: &Plan,
    r: &Rendition,
    size: impl Fn(u32) -> Option<u64>,
) -> (u64, u64, bool) {
    let mut peak = 0u64;
    let mut total = 0u64;
    for n in 1..=plan.segments() {
        let Some(bytes) = size(n) else {
            let target = u64::from(r.bitrate);
            return (2 * target, target + target / 10, false);
        };
        total += bytes;
        let rate = (bytes as f64 * 8.0 / plan.duration_of(n)).ceil() as u64;
        peak = peak.max(rate);
    }
    let average = (total as f64 * 8.0 / plan.duration()).ceil() as u64;
    (peak, average, true)
}

/// The multivariant playlist (RFC 8216 4.3.4.2): one variant per rendition, tallest first.
pub fn hls_multivariant(plan: &Plan, variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let r = &v.rendition;
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\",RESOLUTION={}x{},FRAME-RATE={:.3}\n{}/index.m3u8",
            v.peak, v.average, v.codecs, r.width, r.height, plan.fps, r.id
        );
    }
    out
}

/// The VOD media playlist of one rendition (RFC 8216 4.3.3): every segment, the init
/// segment as `EXT-X-MAP`, the end marked.
pub fn hls_media(plan: &Plan) -> String {
    let longest = (1..=plan.segments())
        .map(|n| plan.duration_of(n))
        .fold(0.0, f64::max);
    let mut out = String::new();
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n",
        // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer is at most this.
        longest.round().max(1.0) as u64
    );
    for n in 1..=plan.segments() {
        let _ = writeln!(out, "#EXTINF:{:.5},\n{n}.m4s", plan.duration_of(n));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// The static MPD (ISO/IEC 23009-1, live profile's `SegmentTemplate` with `$Number$` and a
/// `SegmentTimeline`, so the shorter last segment is exact).
pub fn dash_mpd(plan: &Plan, variants: &[Variant]) -> String {
    let timeline = segment_timeline(plan);
    let top = variants.first().map(|v| &v.rendition);
    let (max_w, max_h) = top.map_or((0, 0), |r| (r.width, r.height));
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" \
         type=\"static\" mediaPresentationDuration=\"PT{:.3}S\" minBufferTime=\"PT{:.1}S\">\n\
         <Period id=\"0\" start=\"PT0S\">\n\
         <AdaptationSet contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" \
         startWithSAP=\"1\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\" frameRate=\"{}\">\n\
         <SegmentTemplate timescale=\"{}\" initialization=\"$RepresentationID$/init.mp4\" \
         media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"1\">\n\
         <SegmentTimeline>{timeline}</SegmentTimeline>\n</SegmentTemplate>\n",
        plan.duration(),
        (plan.frames_per_segment as f64 / plan.fps).max(1.0),
        frame_rate(plan.fps),
        plan.timescale,
    );
    for v in variants {
        let r = &v.rendition;
        let _ = writeln!(
            out,
            "<Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" width=\"{}\" height=\"{}\" sar=\"1:1\"/>",
            r.id, v.codecs, v.peak, r.width, r.height
        );
    }
    out.push_str("</AdaptationSet>\n</Period>\n</MPD>\n");
    out
}

/// The `S` elements of a `SegmentTimeline`: each run of equal durations as one element with
/// its repeat count (ISO/IEC 23009-1 5.3.9.6), starting at 0.
fn segment_timeline(plan: &Plan) -> String {
    let mut runs: Vec<(u64, u64, u32)> = Vec::new(); // (start, duration, repeats)
    let mut t = 0u64;
    for n in 1..=plan.segments() {
        let d = plan.frames_of(n).len() as u64 * u64::from(super::FRAME_TICKS);
        match runs.last_mut() {
            Some((_, dur, r)) if *dur == d => *r += 1,
            _ => runs.push((t, d, 0)),
        }
        t += d;
    }
    let mut out = String::new();
    for (start, d, r) in runs {
        let _ = match r {
            0 => write!(out, "<S t=\"{start}\" d=\"{d}\"/>"),
            r => write!(out, "<S t=\"{start}\" d=\"{d}\" r=\"{r}\"/>"),
        };
    }
    out
}

/// DASH's frame rate: an integer, or a fraction of 1000ths (`29970/1000`).
fn frame_rate(fps: f64) -> String {
    match fps.fract() == 0.0 {
        true => format!("{}", fps as u64),
        false => format!("{}/1000", (fps * 1000.0).round() as u64),
    }
}
