//! Status for machines: `/api/videos`, `/api/sessions` and `/api/paths` (JSON) and `/metrics` (the
//! Prometheus text exposition format, version 0.0.4), read from the catalog, the session
//! registry and the server's counters. Nothing here keeps state of its own.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{json, Value};

use super::response::Response;
use crate::net::transport::TRANSPORT_NAMES;
use crate::{catalog, Shared};

/// RTP/JPEG's clock (RFC 2435 3): jitter in timestamp units over this is seconds.
const RTP_CLOCK: f64 = 90_000.0;

/// What the page and `/api/videos` say of one video.
#[derive(Debug, Clone)]
pub(crate) struct VideoInfo {
    pub name: String,
    pub width: u16,
    pub height: u16,
    pub frames: usize,
    pub fps: f64,
    /// Where `fps` came from: "container", "sidecar" or "default" (the server's --fps).
    pub fps_source: &'static str,
    pub duration: f64,
    /// Why the file cannot be served, when it cannot.
    pub error: Option<String>,
}

/// Every video in the catalog, each prepared (once: the media cache keeps it).
pub(crate) fn library(shared: &Shared) -> Vec<VideoInfo> {
    let fps = shared.config.fps;
    let names = catalog::list(&shared.config.videos).unwrap_or_else(|e| {
        log::warn!("listing {}: {e}", shared.config.videos.display());
        Vec::new()
    });
    names
        .into_iter()
        .map(|name| {
            let mut info = VideoInfo {
                name: name.clone(),
                width: 0,
                height: 0,
                frames: 0,
                fps,
                fps_source: "default",
                duration: 0.0,
                error: None,
            };
            match super::router::open(shared, &name) {
                Ok(media) => {
                    info.frames = media.frames.len();
                    let timing = media.timing_or(fps);
                    (info.fps, info.fps_source) = (timing.fps, timing.source_name());
                    info.duration = media.duration(fps);
                    let first = &media.data[media.frames[0].jpeg.clone()];
                    if let Ok(j) = rtsp_proto::jpeg::JpegInfo::parse(first) {
                        (info.width, info.height) = (j.width, j.height);
                    }
                }
                Err(r) => info.error = Some(String::from_utf8_lossy(&r.body).trim().to_string()),
            }
            info
        })
        .collect()
}

fn json_response(v: &Value) -> Response {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    Response::with_body(200, "application/json", body)
        .header("Cache-Control", "no-cache")
        .header("Access-Control-Allow-Origin", "*")
}

/// `GET /api/videos`.
pub(crate) fn videos(shared: &Shared) -> Response {
    let list: Vec<Value> = library(shared)
        .iter()
        .map(|v| {
            let path = rtsp_proto::url::percent_encode_path(&v.name);
            json!({
                "name": v.name,
                "width": v.width,
                "height": v.height,
                "frames": v.frames,
                "fps": v.fps,
                "fps_source": v.fps_source,
                "duration": v.duration,
                "mjpeg": format!("/videos/{path}/mjpeg"),
                "snapshot": format!("/videos/{path}/frame.jpg"),
                "rtsp_path": format!("/{path}"),
                "error": v.error,
            })
        })
        .collect();
    let recordings: Vec<Value> = recordings(shared)
        .iter()
        .map(|r| {
            let path = rtsp_proto::url::percent_encode_path(&r.name);
            json!({
                "name": r.name,
                "bytes": r.bytes,
                "mjpeg": format!("/videos/{path}/mjpeg"),
                "rtsp_path": format!("/{path}"),
            })
        })
        .collect();
    json_response(&json!({ "videos": list, "recordings": recordings }))
}

/// The newest finished recordings of `--record-dir` (none without it).
pub(crate) fn recordings(shared: &Shared) -> Vec<crate::live::record::Recording> {
    shared.live.record_dir().map_or_else(Vec::new, |dir| {
        crate::live::record::finished(&shared.config.videos, dir)
    })
}

/// One session as the API shows it.
struct SessionView {
    id: String,
    peer: String,
    transport: &'static str,
    file: String,
    position: f64,
    playing: bool,
    packets: u32,
    octets: u32,
    /// The client's last receiver report: fraction lost (0-1) and jitter in seconds.
    report: Option<(f64, f64)>,
}

fn session_views(shared: &Shared) -> Vec<SessionView> {
    let reports = shared.receiver_reports();
    let now = Instant::now();
    shared
        .registry
        .snapshot()
        .into_iter()
        .filter_map(|(id, handle)| {
            let state = handle.lock();
            let playout = state.rtsp.playout()?;
            let timeline = playout.timeline();
            let sr = playout.sender_report(now, 0);
            let report = reports.iter().rev().find(|r| r.session == id).map(|r| {
                (
                    f64::from(r.block.fraction_lost) / 256.0,
                    f64::from(r.block.jitter) / RTP_CLOCK,
                )
            });
            let file = state
                .media
                .path
                .strip_prefix(&shared.config.videos)
                .unwrap_or(&state.media.path)
                .display()
                .to_string();
            Some(SessionView {
                peer: state.peer.to_string(),
                transport: state.transport.name(),
                file,
                position: (playout.position() % timeline.frames.max(1)) as f64 / timeline.fps,
                playing: playout.is_playing(),
                packets: sr.packet_count,
                octets: sr.octet_count,
                report,
                id,
            })
        })
        .collect()
}

/// `GET /api/sessions`.
pub(crate) fn sessions(shared: &Shared) -> Response {
    let list: Vec<Value> = session_views(shared)
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "peer": s.peer,
                "transport": s.transport,
                "file": s.file,
                "position": s.position,
                "playing": s.playing,
                "packets_sent": s.packets,
                "bytes_sent": s.octets,
                "receiver_report": s.report.map(|(loss, jitter)| json!({
                    "fraction_lost": loss,
                    "jitter_seconds": jitter,
                })),
            })
        })
        .collect();
    json_response(&json!({ "sessions": list }))
}

/// Who feeds a live path: a channel's file, or an RTSP publisher's address and transport
/// (the last one's while the path waits for one to come back).
fn publisher_json(path: &crate::live::path::Path) -> Value {
    let p = path.publisher();
    match p.kind {
        crate::live::path::PUBLISHER_CHANNEL => json!({ "kind": p.kind, "file": p.session }),
        _ => json!({ "kind": p.kind, "peer": p.peer.to_string(), "transport": p.transport }),
    }
}

/// `GET /api/paths`: every live path with (or waiting for) a publisher, what it received and
/// who watches or records it.
pub(crate) fn paths(shared: &Shared) -> Response {
    let list: Vec<Value> = shared
        .live
        .snapshot()
        .iter()
        .map(|p| {
            let c = &p.counters;
            let subs = p.subscribers();
            let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            json!({
                "name": p.name,
                "publisher": publisher_json(p),
                "waiting_for_publisher": p.is_waiting(),
                "frames_in": load(&c.frames_in),
                "frames_lost": load(&c.frames_lost),
                "packets_wrong_ssrc": load(&c.wrong_ssrc),
                "packets_wrong_source": load(&c.wrong_source),
                "packets_bad": load(&c.bad_packets),
                "viewers": subs.len(),
                "viewer_list": subs.iter().map(|(kind, dropped)| json!({
                    "kind": kind,
                    "frames_dropped": dropped,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json_response(&json!({ "paths": list }))
}

/// The `mjpeg_live_*` families of `/metrics`: per live path, frames in and lost, packets
/// refused, and viewers by kind.
fn live_metrics(shared: &Shared, family: &mut Family<'_>) {
    let paths = shared.live.snapshot();
    let per = |f: &dyn Fn(&crate::live::path::Path) -> f64| -> Vec<(String, f64)> {
        paths
            .iter()
            .map(|p| (format!(r#"{{path="{}"}}"#, p.name), f(p)))
            .collect()
    };
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let waiting = paths.iter().filter(|p| p.is_waiting()).count();
    family(
        "mjpeg_live_paths",
        "gauge",
        "Live paths that have a publisher now (channels included).",
        &[(String::new(), (paths.len() - waiting) as f64)],
    );
    family(
        "mjpeg_live_paths_waiting",
        "gauge",
        "Live paths whose publisher left, waiting for one to come back (--live-linger).",
        &[(String::new(), waiting as f64)],
    );
    family(
        "mjpeg_live_frames_in_total",
        "counter",
        "Whole frames received from the path's publisher.",
        &per(&|p| load(&p.counters.frames_in)),
    );
    family(
        "mjpeg_live_frames_lost_total",
        "counter",
        "Frames of the publisher dropped for a lost or broken fragment (a channel's: not ready in time).",
        &per(&|p| load(&p.counters.frames_lost)),
    );
    family(
        "mjpeg_live_packets_refused_total",
        "counter",
        "Packets ignored: another SSRC, another source address, or no RTP of the announced type.",
        &per(&|p| {
            let c = &p.counters;
            load(&c.wrong_ssrc) + load(&c.wrong_source) + load(&c.bad_packets)
        }),
    );
    family(
        "mjpeg_live_viewers",
        "gauge",
        "Subscribers of the path now.",
        &per(&|p| p.subscribers().len() as f64),
    );
    let mut by_kind = std::collections::BTreeMap::<(String, &str), f64>::new();
    for p in &paths {
        for (kind, _) in p.subscribers() {
            *by_kind.entry((p.name.clone(), kind)).or_default() += 1.0;
        }
    }
    let kinds: Vec<(String, f64)> = by_kind
        .into_iter()
        .map(|((path, kind), n)| (format!(r#"{{path="{path}",kind="{kind}"}}"#), n))
        .collect();
    family(
        "mjpeg_live_subscribers",
        "gauge",
        "Subscribers of the path now by kind: rtsp/udp, rtsp/tcp, http, hls, record.",
        &kinds,
    );
    family(
        "mjpeg_live_viewer_frames_dropped",
        "gauge",
        "Frames the path's current subscribers dropped for being behind.",
        // Summed as integers: an f64 sum of no subscribers is -0, which Prometheus shows as "-0".
        &per(&|p| p.subscribers().iter().map(|(_, d)| *d).sum::<u64>() as f64),
    );
}

/// `GET /metrics`: counters since the server started and gauges of now.
/// (It stays one function: a list of metric families, each a few lines, read top to bottom.)
pub(crate) fn metrics(shared: &Shared) -> Response {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let load = |c: &std::sync::atomic::AtomicUsize| c.load(Ordering::SeqCst) as f64;
    family(
        "mjpeg_connections",
        "gauge",
        "Connections being served now.",
        &[
            (r#"{protocol="rtsp"}"#.into(), load(&shared.connections)),
            (
                r#"{protocol="http"}"#.into(),
                load(&shared.http_connections),
            ),
        ],
    );
    let views = session_views(shared);
    let by_transport: Vec<(String, f64)> = TRANSPORT_NAMES
        .iter()
        .map(|t| {
            let n = views.iter().filter(|s| s.transport == *t).count();
            (format!(r#"{{transport="{t}"}}"#), n as f64)
        })
        .collect();
    family(
        "mjpeg_sessions",
        "gauge",
        "Sessions now, by transport.",
        &by_transport,
    );
    let counters = &shared.counters;
    let per = |c: &[std::sync::atomic::AtomicU64; 4]| -> Vec<(String, f64)> {
        TRANSPORT_NAMES
            .iter()
            .zip(c)
            .map(|(t, v)| {
                (
                    format!(r#"{{transport="{t}"}}"#),
                    v.load(Ordering::Relaxed) as f64,
                )
            })
            .collect()
    };
    family(
        "mjpeg_frames_sent_total",
        "counter",
        "Frames sent, by transport.",
        &per(&counters.frames_sent),
    );
    family(
        "mjpeg_frames_dropped_total",
        "counter",
        "Frames not sent (too late, not converted in time, or the client too slow for them), by transport.",
        &per(&counters.frames_dropped),
    );
    family(
        "mjpeg_bytes_sent_total",
        "counter",
        "Payload bytes sent (RTP payloads, multipart parts), by transport.",
        &per(&counters.bytes_sent),
    );
    let reported: Vec<_> = views
        .iter()
        .filter_map(|s| s.report.map(|r| (s, r)))
        .collect();
    let label = |s: &SessionView| format!(r#"{{session="{}",transport="{}"}}"#, s.id, s.transport);
    family(
        "mjpeg_receiver_fraction_lost",
        "gauge",
        "The fraction of packets lost in the client's last RTCP receiver report.",
        &reported
            .iter()
            .map(|(s, (loss, _))| (label(s), *loss))
            .collect::<Vec<_>>(),
    );
    family(
        "mjpeg_receiver_jitter_seconds",
        "gauge",
        "Interarrival jitter in the client's last RTCP receiver report.",
        &reported
            .iter()
            .map(|(s, (_, jitter))| (label(s), *jitter))
            .collect::<Vec<_>>(),
    );
    cmaf_metrics(shared, &mut family);
    live_metrics(shared, &mut family);
    Response::with_body(200, "text/plain; version=0.0.4; charset=utf-8", out)
        .header("Cache-Control", "no-cache")
}

/// Writes one metric family: name, type, help, and its samples (labels, value).
type Family<'a> = dyn FnMut(&str, &str, &str, &[(String, f64)]) + 'a;

/// The HLS/DASH families of `/metrics`: what was encoded, read back, served, and held.
fn cmaf_metrics(shared: &Shared, family: &mut Family<'_>) {
    let cmaf = shared.packager.counters();
    let count =
        |c: &std::sync::atomic::AtomicU64| vec![(String::new(), c.load(Ordering::Relaxed) as f64)];
    family(
        "mjpeg_cmaf_parts_encoded_total",
        "counter",
        "HLS/DASH init and media segments made by an encode.",
        &count(&cmaf.encoded),
    );
    family(
        "mjpeg_cmaf_parts_from_disk_total",
        "counter",
        "HLS/DASH segments read back from the disk cache instead of encoded again.",
        &count(&cmaf.from_disk),
    );
    family(
        "mjpeg_cmaf_encodes_failed_total",
        "counter",
        "HLS/DASH segment encodes that failed.",
        &count(&cmaf.failed),
    );
    family(
        "mjpeg_cmaf_segment_responses_total",
        "counter",
        "Whole responses (200) to GETs of HLS/DASH media segments.",
        &count(&cmaf.segment_responses),
    );
    family(
        "mjpeg_cmaf_segments_served_again_total",
        "counter",
        "Times a media segment was served whole a second time (behind a caching edge: 0).",
        &count(&cmaf.served_again),
    );
    let usage = shared.packager.usage();
    family(
        "mjpeg_cmaf_cache_bytes",
        "gauge",
        "Bytes of encoded segments held, by place.",
        &[
            (r#"{place="memory"}"#.into(), usage.memory as f64),
            (r#"{place="disk"}"#.into(), usage.disk as f64),
        ],
    );
    family(
        "mjpeg_cmaf_encodes_queued",
        "gauge",
        "Segment encodes waiting for a worker.",
        &[(String::new(), usage.queued as f64)],
    );
    family(
        "mjpeg_cmaf_encodes_running",
        "gauge",
        "Segment encodes a worker is doing now.",
        &[(String::new(), usage.running as f64)],
    );
}
