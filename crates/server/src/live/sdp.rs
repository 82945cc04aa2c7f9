//! What a publisher may announce (RFC 2435 JPEG video, as ffmpeg and GStreamer describe it),
//! and the description a live path's viewers get back.

use std::fmt::Write as _;

use rtsp_proto::rtp::PAYLOAD_TYPE_JPEG;
use rtsp_proto::rtsp::StatusCode;
use rtsp_proto::sdp;

/// Largest ANNOUNCE body taken: one video's SDP is a few hundred bytes; the request limit
/// (`--max-body`) may be larger for other methods.
pub const MAX_SDP: usize = 16 * 1024;

/// The track control viewers SETUP, relative to the path's Content-Base.
pub const VIEWER_CONTROL: &str = "trackID=0";

/// What a publisher's SDP says of its video.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    /// The payload type its RTP carries (26, or the dynamic one its `a=rtpmap` maps to JPEG).
    pub payload_type: u8,
    /// The video's `a=control`, as the publisher will name it in SETUP.
    pub control: Option<String>,
    pub framerate: Option<f64>,
    /// `a=x-dimensions`, for pictures RFC 2435's header cannot size.
    pub dimensions: Option<(u32, u32)>,
}

/// Why an announced SDP is refused, and with what status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    #[error("ANNOUNCE needs an application/sdp body, not {0:?}")]
    NotSdp(String),
    #[error("the SDP is {len} bytes, more than the {MAX_SDP} taken")]
    TooLarge { len: usize },
    #[error("unreadable SDP: {0}")]
    Unreadable(String),
    #[error("the SDP's video is payload type {0}, not JPEG (RFC 2435, 26 or a=rtpmap JPEG/90000)")]
    NotJpeg(u8),
}

impl AnnounceError {
    /// The status the ANNOUNCE is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AnnounceError::TooLarge { .. } => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            AnnounceError::NotSdp(_) | AnnounceError::NotJpeg(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            AnnounceError::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads an ANNOUNCE's body (`content_type` is its Content-Type header).
pub fn parse_announce(content_type: Option<&str>, body: &[u8]) -> Result<Announced, AnnounceError> {
    let kind = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if !kind.eq_ignore_ascii_case("application/sdp") {
        return Err(AnnounceError::NotSdp(kind.to_string()));
    }
    if body.len() > MAX_SDP {
        return Err(AnnounceError::TooLarge { len: body.len() });
    }
    let text = std::str::from_utf8(body).map_err(|e| AnnounceError::Unreadable(e.to_string()))?;
    if !text.trim_start().starts_with("v=0") {
        return Err(AnnounceError::Unreadable(
            "it does not start with v=0".into(),
        ));
    }
    let video = sdp::parse_video(body).map_err(|e| AnnounceError::Unreadable(e.to_string()))?;
    let pt = video
        .payload_type
        .ok_or_else(|| AnnounceError::Unreadable("m=video names no payload type".into()))?;
    let jpeg = pt == PAYLOAD_TYPE_JPEG || maps_to_jpeg(text, pt);
    if !jpeg || video.clock_rate.is_some_and(|r| r != 90_000) {
        return Err(AnnounceError::NotJpeg(pt));
    }
    Ok(Announced {
        payload_type: pt,
        control: video.control,
        framerate: video.framerate.filter(|f| f.is_finite() && *f > 0.0),
        dimensions: video.dimensions,
    })
}

/// Whether an `a=rtpmap:PT JPEG/90000` line maps the dynamic payload type `pt` to JPEG.
fn maps_to_jpeg(text: &str, pt: u8) -> bool {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("a=rtpmap:"))
        .any(|m| {
            let mut it = m.split_whitespace();
            it.next() == Some(&pt.to_string())
                && it.next().is_some_and(|e| {
                    e.split('/')
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case("JPEG"))
                })
        })
}

/// The description of a live path for its viewers: JPEG/90000 from `now` with no end.
pub fn describe(name: &str, origin: &str, session_id: u64, announced: &Announced) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "v=0\r\no=- {session_id} 1 IN IP4 {origin}\r\ns=live/{name}\r\n"
    );
    let _ = write!(
        s,
        "c=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\na=range:npt=now-\r\n"
    );
    let _ = write!(s, "m=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n");
    if let Some(f) = announced.framerate {
        let _ = write!(s, "a=framerate:{f}\r\n");
    }
    if let Some((w, h)) = announced.dimensions {
        let _ = write!(s, "a=x-dimensions:{w},{h}\r\n");
    }
    let _ = write!(s, "a=control:{VIEWER_CONTROL}\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ffmpeg 6 announces for `-c:v mjpeg -f rtsp`.
    const FFMPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\n\
        t=0 0\r\na=tool:libavformat 60.16.100\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n";

    /// What GStreamer's rtspclientsink announces after rtpjpegpay (a dynamic type is allowed).
    const GST: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session\r\nt=0 0\r\n\
        m=video 0 RTP/AVP 96\r\na=rtpmap:96 JPEG/90000\r\na=framerate:20\r\na=control:stream=0\r\n";

    #[test]
    fn jpeg_announcements_of_ffmpeg_and_gstreamer_are_taken() {
        let a = parse_announce(Some("application/sdp"), FFMPEG.as_bytes()).unwrap();
        assert_eq!(
            (a.payload_type, a.control.as_deref()),
            (26, Some("streamid=0"))
        );
        let g = parse_announce(Some("application/sdp; x=y"), GST.as_bytes()).unwrap();
        assert_eq!((g.payload_type, g.framerate), (96, Some(20.0)));
    }

    #[test]
    fn other_announcements_are_refused_with_their_status() {
        let sdp = Some("application/sdp");
        let h264 = FFMPEG.replace("RTP/AVP 26", "RTP/AVP 96\r\na=rtpmap:96 H264/90000");
        let cases: [(Option<&str>, Vec<u8>, u16); 6] = [
            (sdp, h264.into_bytes(), 415),
            (Some("text/plain"), FFMPEG.into(), 415),
            (sdp, b"garbage".to_vec(), 400),
            (sdp, b"v=0\r\nm=audio 0 RTP/AVP 0\r\n".to_vec(), 400),
            (sdp, vec![0xff; 40], 400),
            (
                sdp,
                format!("{FFMPEG}{}", "a=x:y\r\n".repeat(3000)).into_bytes(),
                413,
            ),
        ];
        for (kind, body, status) in cases {
            let e = parse_announce(kind, &body).unwrap_err();
            assert_eq!(e.status().0, status, "{e}");
        }
    }

    #[test]
    fn viewers_are_told_the_stream_is_live() {
        let a = parse_announce(Some("application/sdp"), GST.as_bytes()).unwrap();
        let text = describe("cam", "127.0.0.1", 7, &a);
        let video = sdp::parse_video(text.as_bytes()).unwrap();
        assert_eq!(
            (video.payload_type, video.clock_rate),
            (Some(26), Some(90_000))
        );
        assert!(text.contains("a=range:npt=now-\r\n"), "{text}");
        assert_eq!(video.range, Some((0.0, None)));
    }
}
