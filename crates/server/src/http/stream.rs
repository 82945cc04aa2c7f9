//! Motion-JPEG over HTTP: `multipart/x-mixed-replace`, one part per frame, as IP cameras and
//! mjpg-streamer serve it, so one URL works in `<img>`, ffplay, VLC and OpenCV.
//!
//! A viewer is a session like an RTSP one: the same playout (absolute deadlines, `?start`,
//! `?loop`, frames too late skipped) driven by the same pacers, with a multipart transport
//! whose parts go through the connection's writer thread. A viewer that reads slowly fills
//! its writer's bounded queue and loses whole frames (counted); nobody else waits for it.
//!
//! A live path's viewer (`/live/NAME/mjpeg`) has no playout: it is one more subscriber of the
//! path ([`HttpViewer`]), sent each frame as the publisher's thread hands it over, and its
//! response ends with the close delimiter when the publisher leaves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtsp_proto::playout::{RtpOrigin, Timeline};
use rtsp_proto::session::ServerSession;

use super::response::{self, Response};
use crate::live::http_viewer::HttpViewer;
use crate::live::path::{Path, Subscriber};
use crate::media::PreparedMedia;
use crate::net::transport::{MediaTransport, MULTIPART_BOUNDARY};
use crate::net::writer::Writer;
use crate::session::{SessionHandle, SessionState};
use crate::Shared;

/// How often the connection thread looks for the end of the stream while it waits.
const POLL: Duration = Duration::from_secs(1);

/// A stream accepted but not started: the checks that can still be answered with a status are
/// done.
pub(crate) enum MjpegStream {
    /// A file's frames, paced by the playout.
    File(FileStream),
    /// A live path's frames as its publisher sends them.
    Live(LiveStream),
}

impl MjpegStream {
    /// Writes the response head, then streams until the end, the viewer leaving, or the server
    /// stopping.
    pub fn run(self, mut stream: TcpStream, shared: &Shared, head_only: bool) {
        if !write_head(&mut stream) || head_only {
            return;
        }
        match self {
            MjpegStream::File(f) => f.run(stream, shared),
            MjpegStream::Live(l) => l.run(stream, shared),
        }
    }
}

/// The head of a multipart response, the same for files and live paths: a stream is never
/// cached, and any page may show it.
fn write_head(stream: &mut TcpStream) -> bool {
    let content_type = format!("multipart/x-mixed-replace; boundary={MULTIPART_BOUNDARY}");
    let headers = [
        ("Content-Type", content_type),
        (
            "Cache-Control",
            "no-cache, no-store, must-revalidate".into(),
        ),
        ("Access-Control-Allow-Origin", "*".into()),
    ];
    let mut head = response::head(200, &headers, false);
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head).is_ok()
}

/// A file's stream.
pub(crate) struct FileStream {
    media: Arc<PreparedMedia>,
    peer: SocketAddr,
    start: f64,
    looping: bool,
}

impl FileStream {
    /// A stream of `media` from `start` seconds, or the status that refuses it.
    pub fn accept(
        shared: &Shared,
        peer: SocketAddr,
        media: Arc<PreparedMedia>,
        start: f64,
        looping: bool,
    ) -> Result<MjpegStream, Response> {
        let duration = media.duration(shared.config.fps);
        if start >= duration && !looping {
            let why = format!("start={start} is past the end ({duration:.3} s)");
            return Err(Response::text(400, &why));
        }
        if shared.sessions.load(Ordering::SeqCst) >= shared.config.max_sessions {
            return Err(Response::text(503, "too many sessions").header("Retry-After", "5"));
        }
        Ok(MjpegStream::File(FileStream {
            media,
            peer,
            start,
            looping,
        }))
    }

    /// Plays the stream (its head written) until it ends, the viewer leaves, or the server
    /// stops.
    fn run(self, stream: TcpStream, shared: &Shared) {
        let peer = self.peer;
        let stream = Arc::new(stream);
        let writer = match Writer::spawn(&stream, peer) {
            Ok(w) => w,
            Err(e) => {
                log::warn!("{peer}: cannot start the writer thread: {e}");
                return;
            }
        };
        let session = match self.start_session(shared, writer.clone(), stream.clone()) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("{peer}: cannot start the stream: {e}");
                return;
            }
        };
        let (id, handle) = session;
        let why = wait_for_end(&stream, &handle, &writer, shared);
        handle.lock().rtsp.teardown();
        shared.registry.remove(&id);
        shared.sessions.fetch_sub(1, Ordering::SeqCst);
        log::info!(
            target: crate::SESSION_LOG,
            "{peer}: session {id} ended ({why}): {} over http",
            crate::catalog::name_in(&shared.config.videos, &handle.lock().media.path),
        );
        // The writer thread writes what is queued (the close delimiter, at the end) and the
        // socket closes when its last handle goes.
    }

    /// A playing session with a multipart transport, handed to the pacers.
    fn start_session(
        self,
        shared: &Shared,
        writer: Writer,
        socket: Arc<TcpStream>,
    ) -> std::io::Result<(String, SessionHandle)> {
        let now = Instant::now();
        let mut rtsp = ServerSession::new(crate::conn::random()?, now);
        let timeline = Timeline {
            frames: self.media.frames.len() as u64,
            fps: self.media.fps(shared.config.fps),
            looping: self.looping,
        };
        let origin = RtpOrigin {
            ssrc: crate::conn::random()? as u32,
            seq: 0,
            rtptime: 0,
        };
        let refused = |e: String| std::io::Error::other(e);
        rtsp.setup(timeline, origin, now)
            .map_err(|s| refused(format!("setup: {s:?}")))?;
        rtsp.play(now, Some(self.start))
            .map_err(|e| refused(format!("play: {e:?}")))?;
        let id = rtsp.id.clone();
        log::info!(
            target: crate::SESSION_LOG,
            "{}: session {id} started: {} over http, from {} s",
            self.peer,
            self.media.path.display(),
            self.start
        );
        let handle = SessionHandle::new(SessionState {
            rtsp,
            media: self.media,
            transport: MediaTransport::Multipart { writer, socket },
            peer: self.peer,
        });
        shared.sessions.fetch_add(1, Ordering::SeqCst);
        shared.registry.insert(&id, &handle);
        shared.pacers.play(&handle);
        Ok((id, handle))
    }
}

/// Waits until the stream is over, and says why. The thread sleeps until the viewer sends
/// or closes, the server stops, or a second passes (to see the end of the file or a writer
/// that gave up): a thousand viewers cost a thousand wake-ups a second, not five thousand.
fn wait_for_end(
    stream: &TcpStream,
    handle: &SessionHandle,
    writer: &Writer,
    shared: &Shared,
) -> &'static str {
    loop {
        if let Some(why) = wait_for_viewer(stream, shared) {
            return why;
        }
        if handle.lock().rtsp.playout().is_none_or(|p| p.has_ended()) {
            return "end of the file";
        }
        if writer.is_dead() {
            return "the viewer stopped reading";
        }
    }
}

/// Waits up to [`POLL`] for the viewer to send or close or the server to stop; says why the
/// stream is over when one of those ends it.
fn wait_for_viewer(stream: &TcpStream, shared: &Shared) -> Option<&'static str> {
    let mut sink = [0u8; 1024];
    let ready = match crate::net::wait::wait(stream, None, &shared.stop_signal, POLL) {
        Ok(r) => r,
        Err(_) => return Some("the connection failed"),
    };
    if ready.stop || shared.stopping.load(Ordering::SeqCst) {
        return Some("the server is stopping");
    }
    if ready.rtsp {
        // Viewers send nothing after the request; what they do send is read and dropped, so
        // a closed connection shows as a read of 0.
        match (&*stream).read(&mut sink) {
            Ok(0) => return Some("the viewer closed the connection"),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Some("the connection failed"),
        }
    }
    None
}

/// A live path's stream: an [`HttpViewer`] subscribed to the path from the next whole frame,
/// fed by the publisher's thread; this connection's thread only watches for its end.
pub(crate) struct LiveStream {
    path: Arc<Path>,
    peer: SocketAddr,
}

impl LiveStream {
    /// A stream of live path `name`: 404 while nobody publishes on it, 503 past the session
    /// bound (a live viewer is a session, as an RTSP one is).
    pub fn accept(shared: &Shared, peer: SocketAddr, name: &str) -> Result<MjpegStream, Response> {
        let Some(path) = shared.live.get(name) else {
            return Err(Response::text(
                404,
                &format!("nobody publishes on live/{name}"),
            ));
        };
        if shared.sessions.load(Ordering::SeqCst) >= shared.config.max_sessions {
            return Err(Response::text(503, "too many sessions").header("Retry-After", "5"));
        }
        Ok(MjpegStream::Live(LiveStream { path, peer }))
    }

    /// Streams the path's frames (the head written) until the publisher leaves, the viewer
    /// does, or the server stops; the viewer is unsubscribed however it ends.
    fn run(self, stream: TcpStream, shared: &Shared) {
        let (peer, name) = (self.peer, &self.path.name);
        let stream = Arc::new(stream);
        let writer = match Writer::spawn(&stream, peer) {
            Ok(w) => w,
            Err(e) => return log::warn!("{peer}: cannot start the writer thread: {e}"),
        };
        let transport = MediaTransport::Multipart {
            writer: writer.clone(),
            socket: stream.clone(),
        };
        let viewer = Arc::new(HttpViewer::new(transport, shared.counters.clone()));
        let Some(id) = self.path.subscribe(viewer.clone()) else {
            // The publisher left since the request was routed: the stream is over at once.
            return viewer.end();
        };
        shared.sessions.fetch_add(1, Ordering::SeqCst);
        log::info!(target: crate::SESSION_LOG, "{peer}: live/{name} viewer {id} started over http");
        let why = loop {
            if let Some(why) = wait_for_viewer(&stream, shared) {
                break why;
            }
            if viewer.has_ended() {
                break "the publisher left";
            }
            if writer.is_dead() {
                break "the viewer stopped reading";
            }
        };
        self.path.unsubscribe(id);
        shared.sessions.fetch_sub(1, Ordering::SeqCst);
        log::info!(
            target: crate::SESSION_LOG,
            "{peer}: live/{name} viewer {id} ended ({why}): {} frames sent, {} dropped",
            viewer.frames_sent(),
            viewer.dropped(),
        );
        // The writer thread writes what is queued (the close delimiter, when the publisher
        // left) and the socket closes when its last handle goes.
    }
}
