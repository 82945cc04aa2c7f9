//! The session description (RFC 4566) a server answers DESCRIBE with, and the little of SDP a
//! client needs to read back: the video's control URL, frame rate, range and dimensions.

use std::fmt::Write as _;

use crate::rtsp::{NptTime, Range};

/// What the server knows about one `.mjpeg` file, enough to describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaDescription {
    /// `o=` session id; any stable number (the server uses the file's mtime).
    pub session_id: u64,
    /// The `s=` line: the file name.
    pub name: String,
    /// The address of the server's interface the client connected to (`o=` line).
    pub origin_address: String,
    /// Frames per second the server paces at (`a=framerate`).
    pub framerate: f64,
    /// Duration in seconds (`a=range:npt=0-D`); `None` for a looping stream with no end.
    pub duration: Option<f64>,
    /// The track's control attribute, relative to Content-Base.
    pub track_control: String,
    /// Picture size (`a=x-dimensions`), which RFC 2435 cannot carry above 2040 pixels.
    pub dimensions: Option<(u32, u32)>,
}

impl MediaDescription {
    /// The SDP text, CRLF-terminated lines in the order RFC 4566 5 requires.
    pub fn to_sdp(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "v=0\r\n");
        let _ = write!(
            s,
            "o=- {} 1 IN IP4 {}\r\n",
            self.session_id, self.origin_address
        );
        let _ = write!(s, "s={}\r\n", self.name);
        let _ = write!(s, "c=IN IP4 0.0.0.0\r\n");
        let _ = write!(s, "t=0 0\r\n");
        let _ = write!(s, "a=control:*\r\n");
        match self.duration {
            Some(d) => {
                let _ = write!(s, "a=range:npt=0-{d:.3}\r\n");
            }
            None => {
                let _ = write!(s, "a=range:npt=0-\r\n");
            }
        }
        let _ = write!(s, "m=video 0 RTP/AVP 26\r\n");
        let _ = write!(s, "a=rtpmap:26 JPEG/90000\r\n");
        let _ = write!(s, "a=framerate:{}\r\n", trim_float(self.framerate));
        if let Some((w, h)) = self.dimensions {
            let _ = write!(s, "a=x-dimensions:{w},{h}\r\n");
        }
        let _ = write!(s, "a=control:{}\r\n", self.track_control);
        s
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What a client reads from a server's SDP for its first video stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoInfo {
    /// The session-level `a=control`, if any.
    pub session_control: Option<String>,
    /// The video media's `a=control` (absolute or relative).
    pub control: Option<String>,
    /// The first payload type on the `m=video` line (26 for JPEG).
    pub payload_type: Option<u8>,
    /// The clock rate from `a=rtpmap` (90000 for JPEG).
    pub clock_rate: Option<u32>,
    /// `a=framerate`, frames per second.
    pub framerate: Option<f64>,
    /// Start and end of `a=range:npt=` (end absent for live or open ranges).
    pub range: Option<(f64, Option<f64>)>,
    /// `a=x-dimensions:W,H`, the size RFC 2435 cannot say above 2040 pixels.
    pub dimensions: Option<(u32, u32)>,
}

/// Why an SDP could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// No `m=video` section: nothing this client can play.
    #[error("SDP has no m=video line")]
    NoVideo,
    /// The description is not UTF-8; `at` is the first byte that is not.
    #[error("SDP is not UTF-8 text (byte {at})")]
    NotText { at: usize },
}

/// Reads the first `m=video` section and the session-level attributes before it.
pub fn parse_video(sdp: &[u8]) -> Result<VideoInfo, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|e| SdpError::NotText {
        at: e.valid_up_to(),
    })?;
    let mut info = VideoInfo::default();
    #[derive(PartialEq)]
    enum Level {
        Session,
        Video,
        OtherMedia,
    }
    let mut level = Level::Session;
    let mut seen_video = false;
    let mut session_range = None;
    let mut media_range = None;
    for line in text.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            level = if !seen_video && m.starts_with("video") {
                seen_video = true;
                info.payload_type = m.split_whitespace().nth(3).and_then(|p| p.parse().ok());
                Level::Video
            } else {
                Level::OtherMedia
            };
            continue;
        }
        let Some(attr) = line.strip_prefix("a=") else {
            continue;
        };
        let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
        match (&level, name) {
            (Level::Session, "control") => info.session_control = Some(value.to_string()),
            (Level::Session, "range") => session_range = parse_npt_range(value),
            (Level::Video, "control") => info.control = Some(value.to_string()),
            (Level::Video, "range") => media_range = parse_npt_range(value),
            (Level::Video, "rtpmap") => {
                info.clock_rate = value
                    .split_whitespace()
                    .nth(1)
                    .and_then(|enc| enc.split('/').nth(1))
                    .and_then(|r| r.parse().ok())
            }
            (Level::Video, "framerate") => info.framerate = value.trim().parse().ok(),
            (Level::Video | Level::Session, "x-dimensions") => {
                info.dimensions = value
                    .split_once(',')
                    .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
            }
            _ => {}
        }
    }
    if !seen_video {
        return Err(SdpError::NoVideo);
    }
    info.range = media_range.or(session_range);
    Ok(info)
}

/// `a=range:` has the grammar of RTSP's Range header (RFC 4566 refers to RFC 2326 for it), so
/// it is read by the one NPT parser, [`Range::parse`]. `now` counts as 0 at the start and as no
/// end at the end; a malformed range is no range.
fn parse_npt_range(value: &str) -> Option<(f64, Option<f64>)> {
    let range = Range::parse(value).ok()?;
    let seconds = |t| match t {
        NptTime::Seconds(s) => Some(s),
        NptTime::Now => None,
    };
    Some((
        seconds(range.start).unwrap_or(0.0),
        range.end.and_then(seconds),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> MediaDescription {
        MediaDescription {
            session_id: 1700000000,
            name: "video.mjpeg".into(),
            origin_address: "127.0.0.1".into(),
            framerate: 20.0,
            duration: Some(20.0),
            track_control: "track1".into(),
            dimensions: Some((384, 288)),
        }
    }

    #[test]
    fn answer_has_every_line_the_issue_names() {
        let sdp = sample().to_sdp();
        for line in [
            "v=0\r\n",
            "m=video 0 RTP/AVP 26\r\n",
            "c=IN IP4 0.0.0.0\r\n",
            "a=rtpmap:26 JPEG/90000\r\n",
            "a=framerate:20\r\n",
            "a=control:track1\r\n",
            "a=control:*\r\n",
            "a=range:npt=0-20.000\r\n",
        ] {
            assert!(sdp.contains(line), "missing {line:?} in\n{sdp}");
        }
        // Session-level control comes before the media section.
        assert!(sdp.find("a=control:*").unwrap() < sdp.find("m=video").unwrap());
    }

    #[test]
    fn reads_gstreamer_and_vlc_answers() {
        let gst = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:GStreamer\r\na=type:broadcast\r\na=control:*\r\na=range:npt=0-10.000\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\na=framerate:25\r\na=control:stream=0\r\n";
        let info = parse_video(gst.as_bytes()).unwrap();
        assert_eq!(info.control.as_deref(), Some("stream=0"));
        assert_eq!(info.range, Some((0.0, Some(10.0))));
        assert_eq!(info.clock_rate, Some(90000));
        let vlc = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Unnamed\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=range:npt=0-\r\nm=audio 0 RTP/AVP 0\r\na=control:rtsp://h/test/trackID=1\r\nm=video 0 RTP/AVP 26\r\na=control:rtsp://h/test/trackID=0\r\n";
        let info = parse_video(vlc.as_bytes()).unwrap();
        assert_eq!(info.control.as_deref(), Some("rtsp://h/test/trackID=0"));
        assert_eq!(info.range, Some((0.0, None)));
        assert_eq!(parse_video(b"v=0\r\n"), Err(SdpError::NoVideo));
    }

    proptest! {
        #[test]
        fn round_trip(fps in 1u32..120, dur in prop::option::of(1u32..100_000), w in 1u32..4096, h in 1u32..4096, ctl in "[a-z0-9=]{1,10}") {
            let mut d = sample();
            d.framerate = fps as f64;
            d.duration = dur.map(|x| x as f64 / 10.0);
            d.dimensions = Some((w, h));
            d.track_control = ctl.clone();
            let info = parse_video(d.to_sdp().as_bytes()).unwrap();
            prop_assert_eq!(info.control, Some(ctl));
            prop_assert_eq!(info.session_control.as_deref(), Some("*"));
            prop_assert_eq!(info.framerate, Some(fps as f64));
            prop_assert_eq!(info.dimensions, Some((w, h)));
            prop_assert_eq!(info.range, Some((0.0, d.duration)));
            prop_assert_eq!(info.payload_type, Some(26));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_video(&bytes);
        }
    }
}
