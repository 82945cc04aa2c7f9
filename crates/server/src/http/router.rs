//! Which resource a request names, and the answer: methods (GET and HEAD everywhere; 405
//! with `Allow` for the other methods HTTP defines, 501 for the rest), paths percent-decoded
//! once and resolved by the catalog, so no spelling of `..` leaves the videos directory.

use std::net::SocketAddr;
use std::sync::Arc;

use rtsp_proto::url::percent_decode;

use super::request::Request;
use super::response::Response;
use super::stream::{FileStream, LiveStream, MjpegStream};
use super::{page, status};
use crate::catalog::{self, CatalogError};
use crate::media::PreparedMedia;
use crate::Shared;

/// What to do with a request.
pub(crate) enum Outcome {
    Respond(Response),
    /// A response that goes on as long as the stream (a file's or a live path's): it takes the
    /// connection.
    Stream(MjpegStream),
    /// The GET half of an RTSP-over-HTTP tunnel: it takes the connection.
    TunnelGet(super::tunnel::TunnelGet),
    /// The POST half: its connection goes to the GET's thread.
    TunnelPost(std::sync::mpsc::SyncSender<super::tunnel::PostHalf>),
}

/// The methods of RFC 7231 4 and RFC 5789 this server knows but does not allow.
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

pub(crate) fn route(req: &Request, shared: &Shared, peer: SocketAddr) -> Outcome {
    let respond = Outcome::Respond;
    let cookie = req.header(rtsp_proto::tunnel::COOKIE_HEADER);
    if let Some(half) = rtsp_proto::tunnel::tunnel_half(&req.method, cookie) {
        return super::tunnel::accept(req, shared, peer, half);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return respond(match KNOWN_METHODS.contains(&req.method.as_str()) {
            true => Response::text(405, "").header("Allow", "GET, HEAD"),
            false => Response::text(501, &format!("method {:?}", req.method)),
        });
    }
    if let Some(refused) = authenticate(req, shared, peer) {
        return respond(refused);
    }
    let Ok(path) = percent_decode(req.path()) else {
        return respond(Response::text(400, "bad percent-encoding in the path"));
    };
    if !path.starts_with('/') || path.contains(['\0', '\\']) {
        return respond(Response::text(400, "bad path"));
    }
    match path.as_str() {
        "/" | "/index.html" => respond(page::render(shared, req)),
        "/api/videos" => respond(status::videos(shared)),
        "/api/sessions" => respond(status::sessions(shared)),
        "/api/paths" => respond(status::paths(shared)),
        "/metrics" => respond(status::metrics(shared)),
        p if p.starts_with("/live/") => live(req, shared, peer, p),
        p => {
            let rest = p.strip_prefix("/videos/");
            if let Some(r) = rest.and_then(super::renditions::parse) {
                return respond(super::renditions::serve(req, shared, &r));
            }
            match rest.and_then(|r| r.rsplit_once('/')) {
                Some((name, leaf)) => video(req, shared, peer, name, leaf),
                None => respond(Response::text(404, "")),
            }
        }
    }
}

/// With `--auth`, the HTTP side asks for the same users as RTSP, Digest (RFC 7616's MD5, as
/// RFC 2617) or Basic, and the same failure limiter refuses an address after repeated wrong
/// passwords. `None`: the request may go on. Tunnels are not asked here: the RTSP requests
/// inside them are, by the RTSP rules.
fn authenticate(req: &Request, shared: &Shared, peer: SocketAddr) -> Option<Response> {
    let auth = shared.auth.as_ref()?;
    let now = std::time::Instant::now();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut failures = shared
        .auth_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(left) = failures.blocked(&peer.ip(), now) {
        let r = Response::text(503, "too many failed logins from this address");
        return Some(r.header("Retry-After", left.as_secs().max(1).to_string()));
    }
    // Browsers spread a page's requests over several connections, so the HTTP side's Digest
    // nonces are bound to one scope for all of them, not to a connection as RTSP's are.
    let mut scope = shared.http_nonces.lock().unwrap_or_else(|e| e.into_inner());
    let header = req.header("Authorization");
    let refusal = match auth.check(header, &req.method, &req.target, &mut scope, unix) {
        Ok(_) => {
            failures.succeeded(&peer.ip());
            return None;
        }
        Err(r) => r,
    };
    log::info!("{peer}: {} {}: {refusal}", req.method, req.target);
    if refusal.is_failure() && failures.failed(&peer.ip(), now).is_some() {
        log::warn!(
            "{}: {} failed logins within {:?}: refusing its requests for a while",
            peer.ip(),
            failures.max_failures,
            failures.window
        );
    }
    if let rtsp_proto::auth::Refusal::Malformed(e) = &refusal {
        return Some(Response::text(400, &format!("Authorization: {e}")));
    }
    let stale = refusal == rtsp_proto::auth::Refusal::Stale;
    let mut r = Response::text(401, "");
    for c in auth.challenges(unix, &scope, stale) {
        r = r.header("WWW-Authenticate", c.to_header());
    }
    Some(r)
}

/// `/live/NAME/mjpeg`: the live path's frames as they arrive; `/live/NAME/frame.jpg`: its
/// last frame; `/live/NAME/hls/...` and `/live/NAME/dash/...`: its live HLS and DASH; 404
/// while nobody publishes.
fn live(req: &Request, shared: &Shared, peer: SocketAddr, path: &str) -> Outcome {
    let Some((name, leaf)) = crate::live::target(path) else {
        return Outcome::Respond(Response::text(404, ""));
    };
    if leaf == "frame.jpg" {
        return Outcome::Respond(live_snapshot(req, shared, &name));
    }
    if leaf == "mjpeg" {
        return match LiveStream::accept(shared, peer, &name) {
            Ok(s) => Outcome::Stream(s),
            Err(r) => Outcome::Respond(r),
        };
    }
    Outcome::Respond(match super::live_cmaf::parse(&leaf) {
        Some(resource) => super::live_cmaf::serve(req, shared, &name, &resource),
        None => Response::text(404, ""),
    })
}

/// The live path's last frame, tagged by its bytes: a poller that already has it gets 304.
/// `no-cache`, as the next frame replaces it within a frame's time.
fn live_snapshot(req: &Request, shared: &Shared, name: &str) -> Response {
    let Some(path) = shared.live.get(name) else {
        return Response::text(404, &format!("nobody publishes on live/{name}"));
    };
    let Some(frame) = path.latest() else {
        return Response::text(404, &format!("live/{name} has no frame yet"));
    };
    let etag = format!(
        "\"{:016x}-{:08x}\"",
        crate::cmaf::fnv1a(&frame.jpeg),
        frame.rtptime
    );
    super::entity::respond(req, frame, &etag, "image/jpeg", "no-cache")
}

/// `/videos/NAME/LEAF`.
fn video(req: &Request, shared: &Shared, peer: SocketAddr, name: &str, leaf: &str) -> Outcome {
    let media = match leaf {
        "mjpeg" | "frame.jpg" => match open(shared, name) {
            Ok(m) => m,
            Err(r) => return Outcome::Respond(r),
        },
        _ => return Outcome::Respond(Response::text(404, "")),
    };
    if leaf == "frame.jpg" {
        return Outcome::Respond(frame(req, shared, &media));
    }
    let start = match seconds(req, "start") {
        Ok(s) => s,
        Err(r) => return Outcome::Respond(r),
    };
    let looping = match req.query("loop").as_deref() {
        None => shared.config.looping,
        Some("1" | "true" | "yes") => true,
        Some("0" | "false" | "no") => false,
        Some(other) => {
            return Outcome::Respond(Response::text(400, &format!("loop={other:?}: 0 or 1")))
        }
    };
    match FileStream::accept(shared, peer, media, start, looping) {
        Ok(s) => Outcome::Stream(s),
        Err(r) => Outcome::Respond(r),
    }
}

/// The prepared media of video `name`, or the answer that says why there is none.
pub(crate) fn open(shared: &Shared, name: &str) -> Result<Arc<PreparedMedia>, Response> {
    let path = catalog::resolve(&shared.config.videos, name).map_err(|e| match e {
        CatalogError::Outside(_) => Response::text(403, "outside the videos directory"),
        e => Response::text(404, &e.to_string()),
    })?;
    let media = shared
        .cache
        .get(&path)
        .map_err(|e| Response::text(415, &e.to_string()))?;
    if media.frames.is_empty() {
        return Err(Response::text(415, "no JPEG frames in the file"));
    }
    Ok(media)
}

/// A query parameter in seconds (0 when absent): finite and not negative, or 400.
fn seconds(req: &Request, key: &str) -> Result<f64, Response> {
    let Some(v) = req.query(key) else {
        return Ok(0.0);
    };
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(Response::text(
            400,
            &format!("{key}={v:?} is not a number of seconds"),
        )),
    }
}

/// `frame.jpg?t=SECONDS`: the file's own JPEG of the frame shown at `t`, with a strong ETag
/// from its bytes (a file replaced under the same name changes it) and `If-None-Match`.
fn frame(req: &Request, shared: &Shared, media: &PreparedMedia) -> Response {
    let t = match seconds(req, "t") {
        Ok(t) => t,
        Err(r) => return r,
    };
    let index = (t * media.fps(shared.config.fps)).floor();
    let Some(f) = (index < media.frames.len() as f64).then(|| &media.frames[index as usize]) else {
        let duration = media.duration(shared.config.fps);
        return Response::text(404, &format!("t={t} is past the end ({duration:.3} s)"));
    };
    let jpeg = &media.data[f.jpeg.clone()];
    let etag = format!("\"{:016x}\"", crate::cmaf::fnv1a(jpeg));
    let jpeg = Arc::new(jpeg.to_vec());
    super::entity::respond(req, jpeg, &etag, "image/jpeg", "public, max-age=300")
}
