//! Live paths: a stream published into the server (RTSP ANNOUNCE / SETUP `mode=record` /
//! RECORD, as ffmpeg and GStreamer's `rtspclientsink` do it) and fanned out, as it arrives, to
//! every viewer of its path.
//!
//! A path (`/live/NAME`, [`path::Path`]) has at most one publisher and any number of
//! subscribers ([`path::Subscriber`]). The publisher's RTP (over UDP, [`udp`], or interleaved on
//! its RTSP connection) is rebuilt into whole frames by [`ingest::Ingest`], sans-IO; each
//! frame becomes one shared [`LiveFrame`] handed to every subscriber, which must not block:
//! an RTSP viewer ([`viewer::RtspViewer`]) re-packetizes it with its own SSRC, sequence
//! numbers and RTP times into its transport's bounded queue, and drops the whole frame when
//! that is full. The other subscribers take the same `Arc` the same way: a Motion-JPEG HTTP
//! viewer ([`http_viewer`]), a recorder ([`record`]) and the H.264 encoder of the path's
//! Low-Latency HLS and DASH ([`hls`]), each through a bounded queue of its own. The RTSP rules of a live session are [`session::LiveSession`]'s;
//! what a publisher may announce, and the description viewers get, is [`sdp`].
//!
//! A path can also be fed by the server itself: a channel ([`channel`], `--channel
//! NAME=FILE`) plays a file on a loop on one timeline for every viewer. A publisher that
//! leaves can be waited for (`--live-linger`): its viewers stay and get the frames of the
//! next publisher on the path, on one RTP timeline ([`path`]). Every path a publisher starts
//! can be recorded ([`record`], `--record-dir`) as `.mjpeg` files the server then serves.

pub mod channel;
pub mod hls;
pub mod http_viewer;
pub mod ingest;
pub mod path;
pub mod record;
pub mod sdp;
pub mod session;
pub mod udp;
pub mod viewer;

use std::ops::Range;
use std::time::Instant;

use rtsp_proto::jpeg::Rfc2435Params;

/// The URI prefix of live paths.
pub const LIVE_PREFIX: &str = "live/";

/// Longest live path name: names appear in logs, JSON and metrics labels.
pub const MAX_NAME: usize = 64;

/// One frame from a publisher, as every subscriber shares it.
#[derive(Debug)]
pub struct LiveFrame {
    /// The whole JPEG (SOI..EOI) the depacketizer rebuilt: what HTTP viewers and recording
    /// want.
    pub jpeg: Vec<u8>,
    /// How RFC 2435 carries it again, for RTP viewers.
    pub params: Rfc2435Params,
    /// Where the bytes RFC 2435 fragments (after the SOS header, EOI included) are in `jpeg`.
    pub scan: Range<usize>,
    /// The publisher's RTP timestamp (90 kHz): viewers' RTP times keep its spacing.
    pub rtptime: u32,
    /// When the frame's last packet arrived.
    pub received: Instant,
}

/// The whole JPEG: a shared frame is an HTTP body as it is (a snapshot), never copied.
impl AsRef<[u8]> for LiveFrame {
    fn as_ref(&self) -> &[u8] {
        &self.jpeg
    }
}

impl LiveFrame {
    /// The bytes RFC 2435 fragments.
    pub fn scan(&self) -> &[u8] {
        &self.jpeg[self.scan.clone()]
    }

    /// A frame of `jpeg` (all of it scan data) at `rtptime`, for subscribers' unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(jpeg: &[u8], rtptime: u32) -> LiveFrame {
        LiveFrame {
            jpeg: jpeg.to_vec(),
            params: Rfc2435Params {
                type_: 1,
                width: 1,
                height: 1,
                restart_interval: None,
                quant: [1; 128],
            },
            scan: 0..jpeg.len(),
            rtptime,
            received: Instant::now(),
        }
    }
}

/// The live path a request URI names, and what follows the name (a track control such as
/// `streamid=0`, or nothing); `None` when the URI is not under `/live/`. A name is letters,
/// digits, `-`, `_` and `.`, not starting with `.`, at most [`MAX_NAME`] bytes.
pub fn target(uri: &str) -> Option<(String, String)> {
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => uri,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let rest = path.trim_start_matches('/').strip_prefix(LIVE_PREFIX)?;
    let (name, track) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then(|| (name.to_string(), track.trim_matches('/').to_string()))
}

/// A UTC date and time of day, as live playlists (`EXT-X-PROGRAM-DATE-TIME`, DASH times) and
/// recordings' file names write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub millis: u32,
}

impl UtcTime {
    /// `t` in UTC; a time before 1970 counts as 1970-01-01.
    pub fn of(t: std::time::SystemTime) -> UtcTime {
        let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // Days since 1970-01-01 to a civil date: H. Hinnant's `civil_from_days`.
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
            millis: since.subsec_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_targets_are_named_by_their_path() {
        let t = |u: &str| target(u).map(|(n, r)| format!("{n}|{r}"));
        assert_eq!(t("rtsp://h:1/live/cam").as_deref(), Some("cam|"));
        assert_eq!(
            t("rtsp://h:1/live/cam/streamid=0").as_deref(),
            Some("cam|streamid=0")
        );
        assert_eq!(t("/live/cam/").as_deref(), Some("cam|"));
        assert_eq!(t("rtsp://h/live/a.b-c_d?x=1").as_deref(), Some("a.b-c_d|"));
        for not in [
            "rtsp://h/video.mjpeg",
            "rtsp://h/live/",
            "rtsp://h/live/../x",
            "rtsp://h/live/a%20b",
            "rtsp://h/lives/x",
        ] {
            assert_eq!(target(not), None, "{not}");
        }
        assert_eq!(target(&format!("/live/{}", "a".repeat(65))), None);
    }

    #[test]
    fn utc_times_are_the_calendars() {
        let at = |secs| UtcTime::of(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        let date = |u: UtcTime| (u.year, u.month, u.day, u.hour, u.minute, u.second);
        assert_eq!(date(at(0)), (1970, 1, 1, 0, 0, 0));
        // 2000-02-29 (a leap day of a century year) and 2026-12-02T05:04:03.
        assert_eq!(date(at(951_782_400)), (2000, 2, 29, 0, 0, 0));
        assert_eq!(date(at(1_796_187_843)), (2026, 12, 2, 5, 4, 3));
    }
}
