//! `/videos/NAME/hls/...` and `/videos/NAME/dash/...`: the H.264 renditions of a video as
//! HLS and DASH over one set of CMAF segments (`crate::cmaf`).
//!
//! - `hls/index.m3u8`: the multivariant playlist; `hls/RID/index.m3u8`: a media playlist
//! - `dash/manifest.mpd`: the MPD
//! - `hls/RID/init.mp4`, `hls/RID/N.m4s` and the same under `dash/`: the same bytes
//!
//! Segments never change under their URL (a replaced file gets a new playlist, whose
//! segments are new encodes, while the old URLs keep the old ones until evicted), so they are
//! immutable for a year. Playlists are fixed for as long as the file is, except while some of
//! a rendition's segments are still to be encoded: then the multivariant playlist's
//! bandwidths are estimates, and it is cacheable for seconds only.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::entity;
use super::request::Request;
use super::response::Response;
use crate::cmaf::playlist::{self, Variant};
use crate::cmaf::{CmafError, Part, Plan};
use crate::Shared;

/// Cache-Control of segments and init segments.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of playlists whose content is final for this version of the file.
const FIXED: &str = "public, max-age=60";
/// Cache-Control of a multivariant playlist whose bandwidths are still estimates.
const ESTIMATED: &str = "public, max-age=2";

/// What a path under `/videos/` names, when it is a rendition resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionPath<'a> {
    pub name: &'a str,
    pub protocol: Protocol,
    pub resource: Resource<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Hls,
    Dash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `hls/index.m3u8` or `dash/manifest.mpd`.
    Manifest,
    /// `hls/RID/index.m3u8`.
    MediaPlaylist(&'a str),
    Init(&'a str),
    Segment(&'a str, u32),
}

/// Splits `rest` (the path after `/videos/`) as a rendition resource, if it is one: the
/// video's name is everything before the last `/hls/` or `/dash/` that is followed by one
/// of the resource forms, so a name may itself contain those words.
pub fn parse(rest: &str) -> Option<RenditionPath<'_>> {
    for (marker, protocol) in [("/hls/", Protocol::Hls), ("/dash/", Protocol::Dash)] {
        let Some(at) = rest.rfind(marker) else {
            continue;
        };
        let (name, tail) = (&rest[..at], &rest[at + marker.len()..]);
        if name.is_empty() {
            continue;
        }
        let resource = match (protocol, tail.split_once('/')) {
            (Protocol::Hls, None) if tail == "index.m3u8" => Resource::Manifest,
            (Protocol::Dash, None) if tail == "manifest.mpd" => Resource::Manifest,
            (_, Some((rid, leaf))) if !rid.is_empty() && !leaf.contains('/') => match leaf {
                "index.m3u8" if protocol == Protocol::Hls => Resource::MediaPlaylist(rid),
                "init.mp4" => Resource::Init(rid),
                _ => match leaf.strip_suffix(".m4s").map(str::parse::<u32>) {
                    Some(Ok(n)) if !leaf.starts_with(['+', '0']) => Resource::Segment(rid, n),
                    _ => return None,
                },
            },
            _ => return None,
        };
        return Some(RenditionPath {
            name,
            protocol,
            resource,
        });
    }
    None
}

/// Answers a request for a rendition resource.
pub fn serve(req: &Request, shared: &Shared, path: &RenditionPath<'_>) -> Response {
    let packager = &shared.packager;
    let plan = packager.plan_for(path.name, std::time::Instant::now(), || {
        let media = super::router::open(shared, path.name)?;
        let fps = media.fps(shared.config.fps);
        packager.plan(media, fps).map_err(|e| refusal(&e))
    });
    let plan = match plan {
        Ok(p) => p,
        Err(r) => return r,
    };
    let answer = match &path.resource {
        Resource::Manifest => manifest(req, shared, &plan, path.protocol),
        Resource::MediaPlaylist(rid) => plan.rendition(rid).map(|_| {
            let text = playlist::hls_media(&plan);
            playlist_response(req, text, "application/vnd.apple.mpegurl", FIXED)
        }),
        Resource::Init(rid) => packager
            .init(&plan, rid)
            .map(|e| media_response(req, shared, &e, false)),
        Resource::Segment(rid, n) => packager
            .segment(&plan, rid, *n)
            .map(|e| media_response(req, shared, &e, true)),
    };
    answer.unwrap_or_else(|e| refusal(&e))
}

fn manifest(
    req: &Request,
    shared: &Shared,
    plan: &Arc<Plan>,
    protocol: Protocol,
) -> Result<Response, CmafError> {
    let packager = &shared.packager;
    packager.warm(plan);
    let mut variants = Vec::new();
    for r in &plan.renditions {
        let codecs = packager.codecs(plan, &r.id)?;
        let (peak, average, measured) =
            playlist::bandwidth(plan, r, |n| packager.size(plan, r, Part::Segment(n)));
        variants.push(Variant {
            rendition: r.clone(),
            codecs,
            peak,
            average,
            measured,
        });
    }
    let cache = match variants.iter().all(|v| v.measured) {
        true => FIXED,
        false => ESTIMATED,
    };
    Ok(match protocol {
        Protocol::Hls => playlist_response(
            req,
            playlist::hls_multivariant(plan, &variants),
            "application/vnd.apple.mpegurl",
            cache,
        ),
        Protocol::Dash => playlist_response(
            req,
            playlist::dash_mpd(plan, &variants),
            "application/dash+xml",
            cache,
        ),
    })
}

fn playlist_response(req: &Request, text: String, content_type: &str, cache: &str) -> Response {
    let etag = format!("\"{:016x}\"", crate::cmaf::fnv1a(text.as_bytes()));
    entity::respond(req, Arc::new(text.into_bytes()), &etag, content_type, cache)
}

fn media_response(
    req: &Request,
    shared: &Shared,
    e: &Arc<crate::cmaf::Entity>,
    segment: bool,
) -> Response {
    let content_type = match segment {
        true => "video/iso.segment",
        false => "video/mp4",
    };
    let r = entity::respond(req, e.clone(), &e.etag, content_type, IMMUTABLE);
    if segment && r.status == 200 && req.method == "GET" {
        let before = e.served.fetch_add(1, Ordering::Relaxed);
        let counters = &shared.packager.counters();
        counters.segment_responses.fetch_add(1, Ordering::Relaxed);
        if before == 1 {
            counters.served_again.fetch_add(1, Ordering::Relaxed);
        }
    }
    r
}

fn refusal(e: &CmafError) -> Response {
    match e {
        CmafError::NoRendition(_) | CmafError::NoSegment(..) => Response::text(404, &e.to_string()),
        CmafError::NoPicture => Response::text(415, &e.to_string()),
        CmafError::Failed(_) => Response::text(500, &e.to_string()),
        CmafError::Busy(_) => Response::text(503, &e.to_string()).header("Retry-After", "2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_video_and_a_resource() {
        let p = |s| parse(s).map(|p| (p.name, p.protocol, p.resource));
        assert_eq!(
            p("video.mjpeg/hls/index.m3u8"),
            Some(("video.mjpeg", Protocol::Hls, Resource::Manifest))
        );
        assert_eq!(
            p("a/b.mjpeg/dash/manifest.mpd"),
            Some(("a/b.mjpeg", Protocol::Dash, Resource::Manifest))
        );
        assert_eq!(
            p("v.mjpeg/hls/288p/index.m3u8"),
            Some(("v.mjpeg", Protocol::Hls, Resource::MediaPlaylist("288p")))
        );
        assert_eq!(
            p("v.mjpeg/dash/288p/init.mp4"),
            Some(("v.mjpeg", Protocol::Dash, Resource::Init("288p")))
        );
        assert_eq!(
            p("v.mjpeg/hls/288p/12.m4s"),
            Some(("v.mjpeg", Protocol::Hls, Resource::Segment("288p", 12)))
        );
        // A name with the word in it.
        assert_eq!(p("hls/hls/index.m3u8").map(|x| x.0), Some("hls"));
        for bad in [
            "v.mjpeg/hls/",
            "/hls/index.m3u8",
            "v.mjpeg/hls/manifest.mpd",
            "v.mjpeg/dash/288p/index.m3u8",
            "v.mjpeg/hls/288p/01.m4s",
            "v.mjpeg/hls/288p/+1.m4s",
            "v.mjpeg/hls/288p/x.m4s",
            "v.mjpeg/hls/288p/99999999999.m4s",
            "v.mjpeg/hls/a/b/1.m4s",
            "v.mjpeg/mjpeg",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
