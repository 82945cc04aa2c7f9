//! `/live/NAME/hls/...` and `/live/NAME/dash/...`: a live path's HLS (Low-Latency) and DASH
//! (`crate::live::hls`).
//!
//! - `hls/index.m3u8`: the multivariant playlist; `hls/RID/index.m3u8`: a media playlist,
//!   which blocks on `_HLS_msn` / `_HLS_part` (RFC 8216bis 6.2.5.2)
//! - `dash/manifest.mpd`: the dynamic MPD
//! - `hls/RID/init.mp4`, `hls/RID/N.m4s` (segment `N`), `hls/RID/N.P.m4s` (its part `P`),
//!   and the same under `dash/`: the same bytes
//!
//! Parts and segments never change under their URL: immutable, as the file side's are.
//! Playlists change with every part: cacheable for one second (HTTP's least, about three
//! parts), except the answers of blocking reloads, whose URL names the part they waited
//! for, so they are as good later as now (six target durations, as Apple's CDN guidance
//! says). A part or segment not made yet but next is waited for (the preload hint asks for
//! one); one out of the window is 404. Waiting is bounded in time and in the number of
//! requests that wait at once.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::entity;
use super::request::Request;
use super::response::Response;
use crate::live::hls::window::{Lookup, Position, Window};
use crate::live::hls::{cutter, playlist};
use crate::Shared;

/// Cache-Control of parts, segments and init segments.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of a playlist or MPD asked for without blocking.
const LIVE: &str = "public, max-age=1";
/// Cache-Control of a blocking reload's answer.
const BLOCKED: &str = "public, max-age=6";
/// Whole segments a stream has before any request is answered (see `serve`).
const FIRST_SEGMENTS: usize = 3;
/// How long the first request waits for them (encoder start-up, the first frames and their
/// encode).
const FIRST_WAIT: Duration = Duration::from_secs(8);
/// How long a blocking reload or a coming part is waited for: three target durations
/// (RFC 8216bis 6.2.5.2), then 503.
const PART_WAIT: Duration = Duration::from_secs(3 * playlist::TARGET_DURATION);

/// What a path under `/live/NAME/` names, when it is HLS or DASH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveResource<'a> {
    Multivariant,
    Mpd,
    MediaPlaylist(&'a str),
    Init(&'a str),
    /// A segment (`part` `None`) or one of its parts.
    Media(&'a str, Position),
}

/// Parses what follows `/live/NAME/`.
pub fn parse(leaf: &str) -> Option<LiveResource<'_>> {
    let (protocol, rest) = leaf.split_once('/')?;
    match (protocol, rest.split_once('/')) {
        ("hls", None) if rest == "index.m3u8" => Some(LiveResource::Multivariant),
        ("dash", None) if rest == "manifest.mpd" => Some(LiveResource::Mpd),
        ("hls" | "dash", Some((rid, file))) if !rid.is_empty() => match file {
            "index.m3u8" if protocol == "hls" => Some(LiveResource::MediaPlaylist(rid)),
            "init.mp4" => Some(LiveResource::Init(rid)),
            _ => position(file.strip_suffix(".m4s")?).map(|at| LiveResource::Media(rid, at)),
        },
        _ => None,
    }
}

/// `N` or `N.P`, decimal without sign or leading zeros (`0` alone is a part number).
fn position(s: &str) -> Option<Position> {
    let number = |d: &str| match d.bytes().all(|b| b.is_ascii_digit()) {
        true if d == "0" || !d.starts_with('0') => d.parse::<u64>().ok(),
        _ => None,
    };
    let (msn, part) = match s.split_once('.') {
        Some((m, p)) => (m, Some(usize::try_from(number(p)?).ok()?)),
        None => (s, None),
    };
    Some(Position {
        msn: number(msn).filter(|&m| m > 0)?,
        part,
    })
}

/// Answers a request for `resource` of live path `name`.
pub fn serve(req: &Request, shared: &Shared, name: &str, resource: &LiveResource<'_>) -> Response {
    let now = Instant::now();
    let renditions = &shared.packager.config().renditions;
    let Some(stream) = shared.live_hls.stream(&shared.live, name, renditions, now) else {
        return Response::text(404, &format!("nobody publishes on live/{name}"));
    };
    // Everything waits for the stream's first whole segments: the tracks (codecs, init
    // segments) come with them, the MPD's timeline lists whole segments, and Chromium's own
    // HLS (156), which reads no parts, gives up on a live playlist of parts only
    // ("unsupported container"), and starts at the third segment from the end. Only a
    // stream's first players wait (about 1 s: a segment is one part).
    // The MPD, besides, waits for its presentation delay's worth of segments and one more.
    let enough = |w: &Window| {
        let closed = w.segments.iter().filter(|s| s.is_closed());
        match resource {
            LiveResource::Mpd => {
                let ticks: u64 = closed.map(|s| u64::from(s.duration())).sum();
                ticks >= playlist::PRESENTATION_DELAY + u64::from(cutter::SEGMENT_MAX)
            }
            _ => closed.count() >= FIRST_SEGMENTS,
        }
    };
    let (w, ready) = stream.wait_for(now + FIRST_WAIT, enough);
    if let Some(why) = &w.failed {
        return Response::text(500, &format!("live/{name}: encoding failed: {why}"));
    }
    if !ready {
        return match w.ended {
            true => Response::text(404, &format!("live/{name} ended")),
            false => not_yet(&format!("live/{name} has no part yet")),
        };
    }
    let rendition = |rid: &str| w.tracks.iter().position(|t| t.rendition.id == rid);
    match resource {
        LiveResource::Multivariant => text(req, playlist::multivariant(&w), HLS, LIVE),
        LiveResource::Mpd => text(req, playlist::dash(&w, SystemTime::now()), DASH, LIVE),
        LiveResource::Init(rid) => match rendition(rid) {
            Some(r) => bytes(req, w.tracks[r].init.clone(), "video/mp4"),
            None => Response::text(404, &format!("no rendition {rid:?}")),
        },
        LiveResource::MediaPlaylist(rid) => match rendition(rid) {
            Some(r) => {
                drop(w);
                media_playlist(req, shared, &stream, r)
            }
            None => Response::text(404, &format!("no rendition {rid:?}")),
        },
        LiveResource::Media(rid, at) => match rendition(rid) {
            Some(r) => {
                drop(w);
                media(req, shared, &stream, r, *at)
            }
            None => Response::text(404, &format!("no rendition {rid:?}")),
        },
    }
}

const HLS: &str = "application/vnd.apple.mpegurl";
const DASH: &str = "application/dash+xml";

fn not_yet(why: &str) -> Response {
    Response::text(503, why).header("Retry-After", "1")
}

/// The media playlist, after waiting for the position `_HLS_msn` / `_HLS_part` name.
fn media_playlist(
    req: &Request,
    shared: &Shared,
    stream: &crate::live::hls::Stream,
    r: usize,
) -> Response {
    let at = match blocking_position(req) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let Some(at) = at else {
        return text(req, playlist::media(&stream.lock(), r), HLS, LIVE);
    };
    if stream.lock().too_far(at.msn) {
        return Response::text(
            400,
            &format!("_HLS_msn={} is more than two segments ahead", at.msn),
        );
    }
    let Some(_slot) = shared.live_hls.wait_slot() else {
        return not_yet("too many requests are waiting");
    };
    let (w, held) = stream.wait_for(Instant::now() + PART_WAIT, |w| w.holds(at));
    match held || w.ended {
        true => text(req, playlist::media(&w, r), HLS, BLOCKED),
        false => not_yet(&format!(
            "segment {} part {:?} did not come",
            at.msn, at.part
        )),
    }
}

/// `_HLS_msn` and `_HLS_part` (a part without a segment is a bad request).
fn blocking_position(req: &Request) -> Result<Option<Position>, Response> {
    let number = |key: &str| match req.query(key) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Response::text(400, &format!("{key}={v:?} is not a number"))),
    };
    match (number("_HLS_msn")?, number("_HLS_part")?) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(Response::text(400, "_HLS_part without _HLS_msn")),
        (Some(msn), part) => Ok(Some(Position {
            msn,
            part: part.map(|p| p.min(usize::MAX as u64) as usize),
        })),
    }
}

/// A segment or part of rendition `r`, waited for if it is coming.
fn media(
    req: &Request,
    shared: &Shared,
    stream: &crate::live::hls::Stream,
    r: usize,
    at: Position,
) -> Response {
    let found = stream.lock().lookup(r, at);
    let found = match found {
        Lookup::Coming => {
            let Some(_slot) = shared.live_hls.wait_slot() else {
                return not_yet("too many requests are waiting");
            };
            let deadline = Instant::now() + PART_WAIT;
            let (w, _) = stream.wait_for(deadline, |w| w.lookup(r, at) != Lookup::Coming);
            w.lookup(r, at)
        }
        other => other,
    };
    match found {
        Lookup::Ready(b) => bytes(req, b, "video/iso.segment"),
        Lookup::Coming => not_yet("not made yet"),
        Lookup::Gone => Response::text(404, "not in the window"),
    }
}

fn text(req: &Request, text: String, content_type: &str, cache: &str) -> Response {
    let etag = format!("\"{:016x}\"", crate::cmaf::fnv1a(text.as_bytes()));
    entity::respond(req, Arc::new(text.into_bytes()), &etag, content_type, cache)
}

fn bytes(req: &Request, b: Arc<Vec<u8>>, content_type: &str) -> Response {
    let etag = format!("\"{:016x}\"", crate::cmaf::fnv1a(&b));
    entity::respond(req, b, &etag, content_type, IMMUTABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_paths_name_playlists_segments_and_parts() {
        let media = |rid, msn, part| Some(LiveResource::Media(rid, Position { msn, part }));
        assert_eq!(parse("hls/index.m3u8"), Some(LiveResource::Multivariant));
        assert_eq!(parse("dash/manifest.mpd"), Some(LiveResource::Mpd));
        assert_eq!(
            parse("hls/288p/index.m3u8"),
            Some(LiveResource::MediaPlaylist("288p"))
        );
        assert_eq!(
            parse("dash/288p/init.mp4"),
            Some(LiveResource::Init("288p"))
        );
        assert_eq!(parse("hls/288p/12.m4s"), media("288p", 12, None));
        assert_eq!(parse("hls/288p/12.0.m4s"), media("288p", 12, Some(0)));
        assert_eq!(parse("dash/288p/3.m4s"), media("288p", 3, None));
        for bad in [
            "hls/",
            "hls/manifest.mpd",
            "dash/index.m3u8",
            "dash/288p/index.m3u8",
            "hls/288p/0.m4s",
            "hls/288p/01.m4s",
            "hls/288p/1.01.m4s",
            "hls/288p/+1.m4s",
            "hls/288p/1..m4s",
            "hls/288p/1.2.3.m4s",
            "hls/288p/99999999999999999999.m4s",
            "hls//1.m4s",
            "mjpeg",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
