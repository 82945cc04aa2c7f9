//! The two halves of an RTSP-over-HTTP tunnel meeting (see [`rtsp_proto::tunnel`]): the GET
//! registers its cookie and waits; the POST with the same cookie, from the same client
//! address, hands its connection over; the GET's thread then serves the RTSP connection
//! (`conn::serve_tunnel`). Cookies from another address are refused (403): a cookie seen on
//! the wire must not let a third party inject requests into someone's session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtsp_proto::tunnel::{check_cookie, TunnelHalf, COOKIE_HEADER, TUNNEL_MEDIA_TYPE};

use super::request::Request;
use super::response::{self, Response};
use super::router::Outcome;
use crate::Shared;

/// GETs waiting for their POST at once; more are answered 503.
const MAX_PENDING: usize = 256;

/// A POST's connection and the body bytes read with its head.
pub(crate) type PostHalf = (TcpStream, Vec<u8>);

struct Pending {
    ip: IpAddr,
    since: Instant,
    post: SyncSender<PostHalf>,
}

/// The GETs waiting for their POST, by cookie.
#[derive(Default)]
pub(crate) struct Tunnels(Mutex<HashMap<String, Pending>>);

impl Tunnels {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A GET half that waits for its POST.
pub(crate) struct TunnelGet {
    cookie: String,
    post: Receiver<PostHalf>,
}

/// Turns a tunnel request into what its connection does next.
pub(crate) fn accept(
    req: &Request,
    shared: &Shared,
    peer: SocketAddr,
    half: TunnelHalf,
) -> Outcome {
    let cookie = req.header(COOKIE_HEADER).unwrap_or_default().to_string();
    if let Err(e) = check_cookie(&cookie) {
        return Outcome::Respond(Response::text(400, &e.to_string()));
    }
    let mut pending = shared.tunnels.lock();
    let wait = shared.config.request_timeout;
    pending.retain(|_, p| p.since.elapsed() < wait);
    match half {
        TunnelHalf::Get => {
            if pending.contains_key(&cookie) {
                return Outcome::Respond(Response::text(400, "this x-sessioncookie is in use"));
            }
            if pending.len() >= MAX_PENDING {
                let busy =
                    Response::text(503, "too many tunnels opening").header("Retry-After", "5");
                return Outcome::Respond(busy);
            }
            let (tx, rx) = sync_channel(1);
            pending.insert(
                cookie.clone(),
                Pending {
                    ip: peer.ip(),
                    since: Instant::now(),
                    post: tx,
                },
            );
            Outcome::TunnelGet(TunnelGet { cookie, post: rx })
        }
        TunnelHalf::Post => match pending.get(&cookie) {
            None => Outcome::Respond(Response::text(
                404,
                "no tunnel GET with this x-sessioncookie",
            )),
            Some(p) if p.ip != peer.ip() => {
                log::warn!(
                    "{peer}: tunnel POST with the cookie of a GET from {}: refused",
                    p.ip
                );
                Outcome::Respond(Response::text(403, "x-sessioncookie of another client"))
            }
            Some(_) => {
                let p = pending.remove(&cookie).expect("just found");
                Outcome::TunnelPost(p.post)
            }
        },
    }
}

impl TunnelGet {
    /// Answers the GET, waits for the POST (until the request timeout), then serves the
    /// tunnelled RTSP connection to its end.
    pub fn run(self, mut stream: TcpStream, shared: &Shared) {
        let headers = [
            ("Content-Type", TUNNEL_MEDIA_TYPE.to_string()),
            ("Cache-Control", "no-store".to_string()),
            ("Pragma", "no-cache".to_string()),
        ];
        let mut head = response::head(200, &headers, false);
        head.extend_from_slice(b"\r\n");
        use std::io::Write;
        if stream.write_all(&head).is_err() {
            shared.tunnels.lock().remove(&self.cookie);
            return;
        }
        let wait = shared
            .config
            .request_timeout
            .max(Duration::from_millis(100));
        match self.post.recv_timeout(wait) {
            Ok((post, body)) => crate::conn::serve_tunnel(stream, post, &body, shared),
            Err(_) => {
                shared.tunnels.lock().remove(&self.cookie);
                log::info!("tunnel {}: no POST within {wait:?}", self.cookie);
            }
        }
    }
}
