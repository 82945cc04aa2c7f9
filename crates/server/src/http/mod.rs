//! The server's HTTP/1.1 side: what a browser, a CDN or an HTTP-only network gets from the
//! same catalog and prepared media as RTSP (DESIGN.md, "HTTP delivery").
//!
//! One listener on its own port (`--http`), a thread per connection up to a bound, each reading
//! requests with deadlines (`request`), answering them through the router (`router`) and
//! keeping the connection alive between them. Answers are whole in memory (`response`), except
//! the Motion-JPEG stream (`stream`), whose frames the RTSP sessions' pacers send: an HTTP
//! viewer is one more session, with a multipart transport.
//!
//! - `/`: the web page (`page`); `/api/videos`, `/api/sessions`, `/metrics` (`status`)
//! - `/videos/NAME/mjpeg`: `multipart/x-mixed-replace`, one part per frame (`stream`)
//! - `/live/NAME/mjpeg`: the same for a live path, each frame as it arrives (`stream`, with
//!   [`crate::live::http_viewer`])
//! - `/videos/NAME/frame.jpg?t=SECONDS`: one frame; `/live/NAME/frame.jpg`: a live path's last
//!   (`router`)
//! - `/videos/NAME/hls/...`, `/videos/NAME/dash/...`: HLS and DASH of the H.264 renditions
//!   (`renditions`), with byte ranges and entity tags (`entity`)
//! - `/live/NAME/hls/...`, `/live/NAME/dash/...`: Low-Latency HLS and a dynamic DASH MPD of a
//!   live path, encoded as its frames arrive (`live_cmaf`, with [`crate::live::hls`])
//! - any path with `x-sessioncookie`: RTSP tunnelled over HTTP (`tunnel`), here and on the
//!   RTSP port, which hands HTTP requests to `serve`

mod entity;
mod live_cmaf;
mod page;
mod renditions;
pub mod request;
pub mod response;
mod router;
mod status;
mod stream;
pub(crate) mod tunnel;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use request::{Deadlines, HttpLimits};
use response::Response;

/// Where the HTTP listener goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListen {
    /// No HTTP side (`--no-http`).
    Off,
    /// This port, or a free one when it is taken: the default, 8080, is often in use on a
    /// developer's machine, and an HTTP side on another port beats none.
    Preferred(u16),
    /// Exactly this port (0: a free one); taken is an error.
    Port(u16),
}

/// The port HTTP prefers when the command line names none.
pub const DEFAULT_PORT: u16 = 8080;

/// Binds the HTTP listener `listen` asks for, on `ip`.
pub fn bind(ip: IpAddr, listen: HttpListen) -> io::Result<Option<TcpListener>> {
    match listen {
        HttpListen::Off => Ok(None),
        HttpListen::Port(port) => TcpListener::bind(SocketAddr::new(ip, port)).map(Some),
        HttpListen::Preferred(port) => match TcpListener::bind(SocketAddr::new(ip, port)) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                let l = TcpListener::bind(SocketAddr::new(ip, 0))?;
                log::warn!(
                    "HTTP port {port} is taken: HTTP listens on {} instead",
                    l.local_addr()?.port()
                );
                Ok(Some(l))
            }
            other => other.map(Some),
        },
    }
}

/// How long a kept-alive connection may wait for its next request.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Stack for connection threads: they parse heads and write answers, nothing deep, and a
/// thousand viewers should not cost a thousand default 2 MiB stacks.
const STACK: usize = 256 << 10;

/// Accepts HTTP connections until the server stops, one thread each, up to the bound.
pub(crate) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("HTTP accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let n = shared.http_connections.fetch_add(1, Ordering::SeqCst) + 1;
        if n > shared.config.http_max_connections {
            shared.http_connections.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(stream);
            continue;
        }
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .stack_size(STACK)
            .spawn(move || {
                serve(stream, &conn_shared);
                conn_shared.http_connections.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log::error!("cannot start an HTTP connection thread: {e}");
            shared.http_connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// 503 to a connection over the bound, without reading from it.
fn refuse_busy(mut stream: TcpStream) {
    let r = Response::text(503, "too many connections").header("Retry-After", "5");
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = r.write_to(&mut stream, false, false);
}

/// Serves one HTTP connection: requests in order until the peer closes, idles out, asks to
/// close, or the answer is a stream or a tunnel (which keep the connection to their end).
pub(crate) fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(crate::net::writer::WRITE_DEADLINE));
    let limits = HttpLimits::default();
    let deadlines = Deadlines {
        idle: KEEP_ALIVE,
        request: shared.config.request_timeout,
    };
    let mut buf = Vec::new();
    let mut reader = &stream;
    loop {
        let req = match request::read_request(
            &mut reader,
            &mut buf,
            &limits,
            deadlines,
            &shared.stopping,
        ) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                log::info!("{peer}: HTTP: {e}");
                if let Some(status) = e.status() {
                    let _ =
                        Response::text(status, &e.to_string()).write_to(&mut &stream, false, false);
                }
                return;
            }
        };
        let head_only = req.method == "HEAD";
        let keep_alive = req.keep_alive();
        match router::route(&req, shared, peer) {
            router::Outcome::Respond(r) => {
                log::debug!("{peer}: {} {}: {}", req.method, req.target, r.status);
                if r.write_to(&mut &stream, head_only, keep_alive).is_err() || !keep_alive {
                    return;
                }
            }
            router::Outcome::Stream(s) => {
                log::info!("{peer}: {} {}: streaming", req.method, req.target);
                s.run(stream, shared, head_only);
                return;
            }
            router::Outcome::TunnelGet(t) => {
                log::info!("{peer}: {} {}: tunnel GET", req.method, req.target);
                t.run(stream, shared);
                return;
            }
            router::Outcome::TunnelPost(to_get) => {
                log::info!("{peer}: {} {}: tunnel POST", req.method, req.target);
                // The GET's thread serves both from here; what came after the head is the
                // start of the base64 requests.
                let _ = to_get.send((stream, buf));
                return;
            }
        }
    }
}
