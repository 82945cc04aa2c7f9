//! The text of a live stream's playlists: the multivariant playlist and the Low-Latency HLS
//! media playlist (RFC 8216bis: parts, preload hint, blocking reload), and a dynamic DASH
//! MPD (ISO/IEC 23009-1 5.4) over the same segments.

use std::fmt::Write;
use std::time::SystemTime;

use super::cutter::{PART_TARGET, SEGMENT_MAX, TIMESCALE};
use super::window::{Window, PARTS_LISTED};

/// `EXT-X-TARGETDURATION`: every segment is at most [`SEGMENT_MAX`], which rounds to at most 1.
pub const TARGET_DURATION: u64 = 1;
/// `PART-HOLD-BACK`: three part targets (RFC 8216bis 4.4.3.8 asks at least three).
pub const PART_HOLD_BACK: f64 = 3.0 * PART_TARGET as f64 / TIMESCALE as f64 + 0.001;
// RFC 8216 4.3.3.1: every EXTINF, rounded to the nearest integer, is at most the target.
const _: () = assert!(2 * (SEGMENT_MAX as u64) < (2 * TARGET_DURATION + 1) * TIMESCALE as u64);

/// The MPD's `suggestedPresentationDelay`, in ticks: an MPD update period and two segments
/// behind the newest (one being made, one to fetch), as a timeline lists only what the last
/// update had. A player starts that far behind the edge, so the first MPD a stream answers
/// lists at least that much, and a segment more (see `http::live_cmaf`): with less, dash.js
/// starts at the window's first segment, at the edge, and stalls its way back.
pub const PRESENTATION_DELAY: u64 = TARGET_DURATION * TIMESCALE as u64 + 2 * SEGMENT_MAX as u64;

fn seconds(ticks: u64) -> f64 {
    ticks as f64 / f64::from(TIMESCALE)
}

/// The multivariant playlist: one variant per rendition, as for files.
pub fn multivariant(w: &Window) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for t in &w.tracks {
        let r = &t.rendition;
        // No segment sizes to measure yet: the target with room for overshoot, as for files.
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\",RESOLUTION={}x{}\n{}/index.m3u8",
            2 * u64::from(r.bitrate),
            u64::from(r.bitrate) * 11 / 10,
            t.codecs,
            r.width,
            r.height,
            r.id
        );
    }
    out
}

/// The media playlist of rendition `r` (its URIs are relative, and every rendition has the
/// same segments and parts: only its rendition reports differ).
pub fn media(w: &Window, r: usize) -> String {
    let listed: Vec<_> = w.listed().collect();
    let first = listed.first().map_or(1, |s| s.msn);
    let mut out = String::new();
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{TARGET_DURATION}\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={PART_HOLD_BACK:.3}\n\
         #EXT-X-PART-INF:PART-TARGET={:.5}\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n",
        // Rounded up: every part is at most PART_TARGET ticks.
        (seconds(u64::from(PART_TARGET)) * 1e5).ceil() / 1e5,
    );
    let with_parts = listed.len().saturating_sub(PARTS_LISTED + 1);
    for (i, s) in listed.iter().enumerate() {
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(s.wall));
        if i >= with_parts || !s.is_closed() {
            for (p, part) in s.parts.iter().enumerate() {
                let independent = if part.independent {
                    ",INDEPENDENT=YES"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "#EXT-X-PART:DURATION={:.5},URI=\"{}.{p}.m4s\"{independent}",
                    seconds(u64::from(part.duration)),
                    s.msn
                );
            }
        }
        if s.is_closed() {
            let _ = writeln!(
                out,
                "#EXTINF:{:.5},\n{}.m4s",
                seconds(u64::from(s.duration())),
                s.msn
            );
        }
    }
    // RFC 8216bis 4.4.5.4: where every other rendition is, so a player switching to one
    // can ask for its next part at once.
    if let Some((msn, parts)) = w.newest().filter(|_| !w.ended) {
        let others = w.tracks.iter().enumerate().filter(|(i, _)| *i != r);
        for (_, t) in others {
            let _ = writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"../{}/index.m3u8\",LAST-MSN={msn},LAST-PART={}",
                t.rendition.id,
                parts.saturating_sub(1)
            );
        }
    }
    match (w.ended, w.next_part()) {
        (true, _) => out.push_str("#EXT-X-ENDLIST\n"),
        (false, Some((msn, p))) => {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{msn}.{p}.m4s\"");
        }
        (false, None) => {}
    }
    out
}

/// The dynamic MPD: `SegmentTemplate` with `$Number$` and a `SegmentTimeline` of the listed
/// closed segments (their durations vary with the publisher's timing), the time-shift buffer
/// as deep as they are, and an update every segment. Its `UTCTiming` (DASH-IF IOP 4.7: a
/// live MPD carries one) gives the server's clock directly: without it dash.js asks public
/// time servers, and gives up where it cannot reach them ("Failed to synchronize client and
/// server time"). A copy cached for a second makes the clock read a second early, which
/// only asks segments later than they exist.
pub fn dash(w: &Window, now: SystemTime) -> String {
    let closed: Vec<_> = w.listed().filter(|s| s.is_closed()).collect();
    let start_number = closed.first().map_or(1, |s| s.msn);
    let depth: u64 = closed.iter().map(|s| u64::from(s.duration())).sum();
    let mut timeline = String::new();
    for s in &closed {
        let _ = write!(timeline, "<S t=\"{}\" d=\"{}\"/>", s.start, s.duration());
    }
    let epoch = w.epoch.unwrap_or(now);
    let (max_w, max_h) = w
        .tracks
        .first()
        .map_or((0, 0), |t| (t.rendition.width, t.rendition.height));
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" \
         type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" \
         minimumUpdatePeriod=\"PT{TARGET_DURATION}S\" timeShiftBufferDepth=\"PT{:.3}S\" \
         suggestedPresentationDelay=\"PT{:.1}S\" minBufferTime=\"PT{TARGET_DURATION}S\">\n\
         <Period id=\"0\" start=\"PT0S\">\n\
         <AdaptationSet contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" \
         startWithSAP=\"1\" maxWidth=\"{max_w}\" maxHeight=\"{max_h}\">\n\
         <SegmentTemplate timescale=\"{TIMESCALE}\" initialization=\"$RepresentationID$/init.mp4\" \
         media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"{start_number}\">\n\
         <SegmentTimeline>{timeline}</SegmentTimeline>\n</SegmentTemplate>\n",
        iso8601(epoch),
        iso8601(now),
        seconds(depth),
        seconds(PRESENTATION_DELAY),
    );
    for t in &w.tracks {
        let r = &t.rendition;
        let _ = writeln!(
            out,
            "<Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\" width=\"{}\" height=\"{}\" sar=\"1:1\"/>",
            r.id, t.codecs, 2 * u64::from(r.bitrate), r.width, r.height
        );
    }
    out.push_str("</AdaptationSet>\n</Period>\n");
    let _ = writeln!(
        out,
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>\n</MPD>",
        iso8601(now)
    );
    out
}

/// `2026-12-02T05:04:03.210Z` (RFC 3339, UTC, milliseconds), as HLS dates and DASH times
/// are written.
pub fn iso8601(t: SystemTime) -> String {
    let u = crate::live::UtcTime::of(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::hls::window::Part;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn dates_are_rfc3339_utc() {
        let t = |s: u64, ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms);
        assert_eq!(iso8601(t(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(t(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(iso8601(t(1_796_187_843, 210)), "2026-12-02T05:04:03.210Z");
    }

    fn window(segments: u64) -> Window {
        let mut w = Window::for_tests();
        let part = |independent| Part {
            duration: 27_000,
            independent,
            bytes: vec![Arc::new(vec![1])],
        };
        for n in 0..segments {
            let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1200 * n);
            for p in 0..4 {
                w.add_part(part(p == 0), n * 108_000, wall);
            }
            w.close_segment();
        }
        w.add_part(part(true), segments * 108_000, SystemTime::UNIX_EPOCH);
        w
    }

    #[test]
    fn the_media_playlist_has_the_low_latency_tags_and_parts_of_the_last_segments_only() {
        let text = media(&window(30), 0);
        for tag in [
            "#EXT-X-TARGETDURATION:1\n",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.001\n",
            "#EXT-X-PART-INF:PART-TARGET=0.33334\n",
            "#EXT-X-MEDIA-SEQUENCE:14\n",
            "#EXT-X-MAP:URI=\"init.mp4\"\n",
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:15.600Z\n",
            "#EXTINF:1.20000,\n30.m4s\n",
            "#EXT-X-PART:DURATION=0.30000,URI=\"31.0.m4s\",INDEPENDENT=YES\n",
            "#EXT-X-PART:DURATION=0.30000,URI=\"30.3.m4s\"\n",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"31.1.m4s\"\n",
        ] {
            assert!(text.contains(tag), "{tag} in\n{text}");
        }
        assert!(!text.contains("\"21.0.m4s\""), "old parts leave:\n{text}");
        assert!(text.contains("\"22.0.m4s\""), "{text}");
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn each_rendition_reports_where_the_others_are() {
        let mut w = window(2);
        let mut other = w.tracks[0].clone();
        other.rendition.id = "144p".into();
        w.tracks.push(other);
        let text = media(&w, 0);
        assert!(
            text.contains(
                "#EXT-X-RENDITION-REPORT:URI=\"../144p/index.m3u8\",LAST-MSN=3,LAST-PART=0\n"
            ),
            "{text}"
        );
        assert!(!text.contains("../288p/"), "not itself:\n{text}");
        assert!(media(&w, 1).contains("URI=\"../288p/index.m3u8\""));
    }

    #[test]
    fn the_mpd_is_dynamic_over_the_closed_segments() {
        let mut w = window(3);
        w.epoch = Some(SystemTime::UNIX_EPOCH);
        let mpd = dash(&w, SystemTime::UNIX_EPOCH + Duration::from_secs(4));
        for want in [
            "type=\"dynamic\"",
            "availabilityStartTime=\"1970-01-01T00:00:00.000Z\"",
            "timeShiftBufferDepth=\"PT3.600S\"",
            "startNumber=\"1\"",
            "<S t=\"0\" d=\"108000\"/><S t=\"108000\" d=\"108000\"/><S t=\"216000\" d=\"108000\"/></SegmentTimeline>",
            "media=\"$RepresentationID$/$Number$.m4s\"",
            "</Period>\n<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"1970-01-01T00:00:04.000Z\"/>\n</MPD>",
        ] {
            assert!(mpd.contains(want), "{want} in\n{mpd}");
        }
    }
}
