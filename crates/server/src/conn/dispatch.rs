//! Answering one request: authentication, which session it names, and each method but SETUP
//! ([`super::setup`]).

use std::io;
use std::sync::Arc;

use rtsp_proto::auth;
use rtsp_proto::playout::{PlayRequest, Trick};
use rtsp_proto::rtsp::StatusCode;
use rtsp_proto::rtsp::{
    self, Method, NptTime, Range, Request, Response, RtpInfo, Scale, Session, Speed,
};
use rtsp_proto::sdp::MediaDescription;

use super::{public, Connection, Refusal};
use crate::catalog::{self, TRACK_CONTROL};
use crate::media::PreparedMedia;

impl Connection<'_> {
    /// Answers `req`, and acts on it once answered (PLAY starts the pacers only then: over
    /// TCP the reply must reach the client before any frame).
    pub(super) fn handle(&mut self, req: Request) -> io::Result<()> {
        log::debug!("{}: <- {} {}", self.peer, req.method, req.uri);
        let cseq = req.headers.cseq();
        if req.version != rtsp::RTSP_1_0 {
            let r = Response::new(StatusCode::RTSP_VERSION_NOT_SUPPORTED);
            return self.write_response(cseq, r, false);
        }
        if cseq.is_none() {
            return self.bad_request("missing or malformed CSeq");
        }
        if let Some(challenge) = self.authenticate(&req) {
            return self.write_response(cseq, challenge, false);
        }
        if let Some(refusal) = unsupported_options(&req) {
            log::info!("{}: {} {}: 551", self.peer, req.method, req.uri);
            return self.write_response(cseq, refusal, false);
        }
        let named = match self.named_session(&req) {
            Ok(named) => named,
            Err(refusal) if refusal.status == StatusCode::BAD_REQUEST => {
                return self.bad_request(&refusal.why)
            }
            Err(refusal) => return self.write_response(cseq, Response::new(refusal.status), false),
        };
        let result = self.dispatch(&req, named);
        let with_session = named || req.method == Method::Setup;
        match result {
            Ok(r) => {
                let has_session = self.session.is_some() || self.live.is_some();
                self.free_path_before_answer(&req.method);
                self.write_response(cseq, r, with_session && has_session)?;
                match req.method {
                    Method::Play => self.start_pacing(),
                    Method::Teardown => self.end_session("TEARDOWN"),
                    _ => {}
                }
                self.live_started(&req.method);
                Ok(())
            }
            Err(Refusal { status, why }) => {
                log::info!(
                    "{}: {} {} -> {status}: {why}",
                    self.peer,
                    req.method,
                    req.uri
                );
                let mut r = Response::new(status);
                if !why.is_empty() {
                    r.headers.append("Content-Type", "text/plain");
                    r.body = format!("{why}\r\n").into_bytes();
                }
                let with = named && (self.session.is_some() || self.live.is_some());
                self.write_response(cseq, r, with)
            }
        }
    }

    /// The answer to give instead of serving `req` when users are configured and its
    /// credentials do not pass: 401 with fresh challenges, 400 for an unreadable
    /// `Authorization`, 503 while the peer's address is refused for repeated failures. OPTIONS
    /// stays open: clients probe with it before they know a realm.
    fn authenticate(&mut self, req: &Request) -> Option<Response> {
        let shared = self.shared;
        // Publishing has credentials of its own when --publish-auth names them.
        let publishing = matches!(req.method, Method::Announce | Method::Record)
            || self.live.as_ref().is_some_and(|l| l.session.publishes());
        let auth = match (&shared.publish_auth, publishing) {
            (Some(a), true) => a,
            _ => shared.auth.as_ref()?,
        };
        if req.method == Method::Options {
            return None;
        }
        let (ip, now) = (self.peer.ip(), self.now);
        let mut failures = shared.auth_failures.lock().unwrap();
        if let Some(left) = failures.blocked(&ip, now) {
            log::debug!(
                "{}: {} {}: 503 (refused for failed logins)",
                self.peer,
                req.method,
                req.uri
            );
            let mut r = Response::new(StatusCode::SERVICE_UNAVAILABLE);
            r.headers
                .append("Retry-After", left.as_secs().max(1).to_string());
            return Some(r);
        }
        let unix = self.unix_now();
        let header = req.headers.get("Authorization");
        let method = req.method.as_str();
        let refusal = match auth.check(header, method, &req.uri, &mut self.auth_scope, unix) {
            Ok(_) => {
                failures.succeeded(&ip);
                return None;
            }
            Err(refusal) => refusal,
        };
        log::info!("{}: {} {}: {refusal}", self.peer, req.method, req.uri);
        if refusal.is_failure() {
            if let Some(block) = failures.failed(&ip, now) {
                log::warn!(
                    "{ip}: {} failed logins within {:?}: refusing its requests for {block:?}",
                    failures.max_failures,
                    failures.window
                );
            }
        }
        if let auth::Refusal::Malformed(e) = &refusal {
            let mut r = Response::new(StatusCode::BAD_REQUEST);
            r.headers.append("Content-Type", "text/plain");
            r.body = format!("Authorization: {e}\r\n").into_bytes();
            return Some(r);
        }
        let mut r = Response::new(StatusCode::UNAUTHORIZED);
        let stale = refusal == auth::Refusal::Stale;
        for c in auth.challenges(unix, &self.auth_scope, stale) {
            r.headers.append("WWW-Authenticate", c.to_header());
        }
        Some(r)
    }

    /// Whether the request names this connection's session (454 when it names another; a
    /// malformed Session header is 400).
    fn named_session(&self, req: &Request) -> Result<bool, Refusal> {
        let Some(header) = req.headers.get("Session") else {
            return Ok(false);
        };
        // RFC 2326 11.3.5: 454 is for an id "missing, invalid, or timed out", so an unreadable
        // Session header names no session rather than making a bad request.
        let id = Session::parse(header)
            .map_err(|e| Refusal::new(StatusCode::SESSION_NOT_FOUND, e.to_string()))?
            .id;
        let live = self.live.as_ref().map(|l| &l.session.rtsp.id);
        if self.session.as_ref().map(|s| &s.id) != Some(&id) && live != Some(&id) {
            return Err(Refusal::new(StatusCode::SESSION_NOT_FOUND, ""));
        }
        Ok(true)
    }

    fn dispatch(&mut self, req: &Request, named: bool) -> Result<Response, Refusal> {
        if let Some(answer) = self.live_dispatch(req, named) {
            return answer;
        }
        match req.method {
            Method::Options => {
                if named {
                    self.keep_alive(&Method::Options)?;
                }
                let mut r = Response::new(StatusCode::OK);
                r.headers.append("Public", public().to_string());
                Ok(r)
            }
            Method::Describe => self.describe(req),
            Method::Setup => self.setup(req, named),
            // GET_PARAMETER without a session is a connection keepalive.
            Method::GetParameter if !named => Ok(Response::new(StatusCode::OK)),
            Method::Play | Method::Pause | Method::Teardown if !named => {
                let why = match self.session {
                    Some(_) => "missing Session header",
                    None => "no session: SETUP first",
                };
                Err(Refusal::new(StatusCode::SESSION_NOT_FOUND, why))
            }
            Method::Play => self.play(req),
            Method::Pause => self.pause(),
            Method::Teardown => Ok(Response::new(StatusCode::OK)),
            Method::GetParameter => {
                self.keep_alive(&Method::GetParameter)?;
                Ok(Response::new(StatusCode::OK))
            }
            _ => {
                let mut r = Response::new(StatusCode::NOT_IMPLEMENTED);
                r.headers.append("Public", public().to_string());
                Ok(r)
            }
        }
    }

    fn keep_alive(&self, method: &Method) -> Result<(), Refusal> {
        let Some(s) = &self.session else {
            return Ok(());
        };
        let mut state = s.handle.lock();
        state.rtsp.keep_alive(method, self.now).map_err(|status| {
            let why = format!("not valid in state {:?}", state.rtsp.state());
            Refusal::new(status, why)
        })
    }

    /// The file a request URI names, prepared (404 for no such file, 415 for one that is not
    /// a usable `.mjpeg`).
    pub(super) fn open(&self, uri: &str) -> Result<(catalog::Target, Arc<PreparedMedia>), Refusal> {
        let not_found =
            |e: &dyn std::fmt::Display| Refusal::new(StatusCode::NOT_FOUND, e.to_string());
        let target = catalog::target(uri).map_err(|e| not_found(&e))?;
        let path = catalog::resolve(&self.shared.config.videos, &target.name)
            .map_err(|e| not_found(&e))?;
        let media = self.shared.cache.get(&path).map_err(|e| {
            let why = format!("{}: {e}", target.name);
            Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why)
        })?;
        Ok((target, media))
    }

    /// The base URL for a file: the client's absolute URL when it sent one (minus the track
    /// control), so relative controls resolve against the address the client actually used.
    pub(super) fn content_base(&self, uri: &str, target: &catalog::Target) -> String {
        if rtsp_proto::url::RtspUrl::parse(uri).is_err() {
            return format!("rtsp://{}/{}/", self.local, target.name);
        }
        let mut base = uri
            .split(['?', '#'])
            .next()
            .unwrap_or(uri)
            .trim_end_matches('/');
        if target.track {
            base = base
                .strip_suffix(TRACK_CONTROL)
                .map(|b| b.trim_end_matches('/'))
                .unwrap_or(base);
        }
        format!("{base}/")
    }

    fn describe(&mut self, req: &Request) -> Result<Response, Refusal> {
        let accept: Vec<&str> = req.headers.get_all("Accept").collect();
        if !accept.is_empty() && !accepts_sdp(&accept.join(",")) {
            let why = format!("only application/sdp describes a stream, not {accept:?}");
            return Err(Refusal::new(StatusCode::NOT_ACCEPTABLE, why));
        }
        let (target, media) = self.open(&req.uri)?;
        if let Some(why) = &media.unsupported {
            log::warn!("{}: DESCRIBE {}: 415: {why}", self.peer, target.name);
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                why.clone(),
            ));
        }
        let config = &self.shared.config;
        let description = MediaDescription {
            session_id: media.version,
            name: target.name.clone(),
            origin_address: self.local.ip().to_string(),
            framerate: media.fps(config.fps),
            duration: (!config.looping).then(|| media.duration(config.fps)),
            track_control: TRACK_CONTROL.to_string(),
            dimensions: media.dimensions.map(|(w, h)| (w as u32, h as u32)),
        };
        let mut r = Response::new(StatusCode::OK);
        r.headers
            .append("Content-Base", self.content_base(&req.uri, &target));
        r.headers.append("Content-Type", "application/sdp");
        r.body = description.to_sdp().into_bytes();
        Ok(r)
    }

    /// PLAY: from READY, or while PLAYING (a seek or a new Scale takes effect at once: the
    /// RTP-Info names the first packet after it, and nothing from before follows the answer).
    fn play(&mut self, req: &Request) -> Result<Response, Refusal> {
        let (request, asked) = play_request(req)?;
        let s = self.session.as_ref().expect("named_session checked");
        let started = s
            .handle
            .lock()
            .rtsp
            .play_request(self.now, request)
            .map_err(|e| Refusal::new(e.status(), e.to_string()))?;
        let mut r = Response::new(StatusCode::OK);
        let range = Range {
            start: NptTime::Seconds(started.npt_start),
            end: started.npt_end.map(NptTime::Seconds),
        };
        r.headers.append("Range", range.to_string());
        // RFC 2326 12.34: the answer says the scale applied, which may not be the one asked.
        if asked.scale {
            r.headers
                .append(Scale::NAME, Scale(started.trick.scale()).to_string());
        }
        if asked.speed {
            r.headers
                .append(Speed::NAME, Speed(started.trick.speed).to_string());
        }
        if !s.lab {
            let info = RtpInfo {
                url: s.track_url.clone(),
                seq: Some(started.seq),
                rtptime: Some(started.rtptime),
            };
            r.headers.append("RTP-Info", info.to_string());
        }
        Ok(r)
    }

    fn pause(&mut self) -> Result<Response, Refusal> {
        let s = self.session.as_ref().expect("named_session checked");
        let mut state = s.handle.lock();
        state.rtsp.pause(self.now).map_err(|status| {
            let why = format!("not valid in state {:?}", state.rtsp.state());
            Refusal::new(status, why)
        })?;
        Ok(Response::new(StatusCode::OK))
    }

    /// Hands the playing session to the pacers, which send its frames from now on.
    fn start_pacing(&self) {
        if let Some(s) = &self.session {
            self.shared.pacers.play(&s.handle);
        }
    }
}

/// Which of Scale and Speed a PLAY named: the answer names the same.
struct TrickAsked {
    scale: bool,
    speed: bool,
}

/// What a PLAY asks for: Scale and Speed (400 when unreadable, as gst-rtsp-server answers;
/// values beyond what the server applies are applied as the nearest it does), and the Range
/// (457 when unreadable), read in the direction the Scale plays.
fn play_request(req: &Request) -> Result<(PlayRequest, TrickAsked), Refusal> {
    let bad = |e: rtsp::HeaderError| Refusal::new(StatusCode::BAD_REQUEST, e.to_string());
    let scale = req.headers.get(Scale::NAME).map(Scale::parse).transpose();
    let speed = req.headers.get(Speed::NAME).map(Speed::parse).transpose();
    let (scale, speed) = (scale.map_err(bad)?, speed.map_err(bad)?);
    let asked = TrickAsked {
        scale: scale.is_some(),
        speed: speed.is_some(),
    };
    let trick = Trick::nearest(scale.map_or(1.0, |s| s.0), speed.map_or(1.0, |s| s.0));
    let range = req
        .headers
        .get(Range::NAME)
        .map(|v| Range::parse_for(v, trick.backwards))
        .transpose()
        .map_err(|e| Refusal::new(StatusCode::INVALID_RANGE, e.to_string()))?;
    let seconds = |t: NptTime| match t {
        NptTime::Seconds(t) => Some(t),
        NptTime::Now => None,
    };
    let request = PlayRequest {
        from: range.and_then(|r| seconds(r.start)),
        to: range.and_then(|r| r.end.and_then(seconds)),
        trick,
    };
    Ok((request, asked))
}

/// 551 for a request that requires options (RFC 2326 12.32): this server implements none, so
/// every option named in `Require` is listed back in `Unsupported`. (`Proxy-Require`, 12.27, is
/// for proxies; an origin server ignores it.)
fn unsupported_options(req: &Request) -> Option<Response> {
    let options: Vec<&str> = req
        .headers
        .get_all("Require")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if options.is_empty() {
        return None;
    }
    let mut r = Response::new(StatusCode::OPTION_NOT_SUPPORTED);
    r.headers.append("Unsupported", options.join(", "));
    Some(r)
}

/// Whether an `Accept` value (RFC 2326 12.1, HTTP's: media ranges with `q` weights) allows
/// `application/sdp`, the only description this server writes. `q=0` rules a range out.
fn accepts_sdp(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && matches!(media.as_str(), "application/sdp" | "application/*" | "*/*")
    })
}
