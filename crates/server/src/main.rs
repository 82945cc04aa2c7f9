//! `server [PORT]`: serves the `.mjpeg` files of a directory over RTSP/RTP, and over HTTP (a
//! web page, Motion-JPEG streams, status) on `--http`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

/// RTSP/RTP Motion-JPEG server: streams each .mjpeg file of a directory as
/// rtsp://HOST:PORT/FILE (RFC 2326 RTSP, RFC 3550 RTP, RFC 2435 JPEG payload), and speaks the
/// classic lab's dialect to its Python client.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TCP port for RTSP.
    #[arg(default_value_t = 8554)]
    port: u16,
    /// Address to listen on (RTSP and HTTP).
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// TCP port for HTTP (the web page, Motion-JPEG over HTTP, /api, /metrics); 0 picks a free
    /// one. Without it, 8080, or a free port when 8080 is taken.
    #[arg(long, value_name = "PORT")]
    http: Option<u16>,
    /// No HTTP listener.
    #[arg(long, conflicts_with = "http")]
    no_http: bool,
    /// Most HTTP connections at once; more are answered 503.
    #[arg(long, default_value_t = 2000)]
    max_http_connections: usize,
    /// Directory of videos to serve: .mjpeg (lab format or concatenated JPEG), and Motion-JPEG
    /// in .avi, .mov, .mp4 or .mkv.
    #[arg(long, default_value = "videos")]
    videos: PathBuf,
    /// Frames per second of files with no timing of their own: a .mjpeg without a sidecar
    /// NAME.mjpeg.json ({"fps": 25}). AVI, MP4/MOV and MKV files play at their own rate.
    /// (The lab sends a frame every 50 ms: 20.)
    #[arg(long, default_value_t = 20.0)]
    fps: f64,
    /// Start a file over at its end instead of stopping.
    #[arg(long = "loop")]
    looping: bool,
    /// Most RTSP connections at once; more are answered 503.
    #[arg(long, default_value_t = 1000)]
    max_connections: usize,
    /// Most sessions at once; a SETUP beyond it gets 503.
    #[arg(long, default_value_t = 1000)]
    max_sessions: usize,
    /// Seconds a connection without a session may stay silent before it is closed.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Largest request line plus headers, in bytes (beyond it: 400).
    #[arg(long, default_value_t = 8192)]
    max_request_bytes: usize,
    /// Most header lines in a request (beyond it: 400).
    #[arg(long, default_value_t = 64)]
    max_headers: usize,
    /// Largest frame accepted from a file, in bytes (RFC 2435 carries at most 16 MiB).
    #[arg(long, default_value_t = 8 << 20)]
    max_frame_bytes: usize,
    /// Largest request body, in bytes (beyond it: 413).
    #[arg(long, default_value_t = 65536)]
    max_body_bytes: usize,
    /// Seconds a request may take to arrive once started (slower peers get 408).
    #[arg(long, default_value_t = 10.0)]
    request_timeout: f64,
    /// Seconds a session may go without a request or RTCP before it is ended.
    #[arg(long, default_value_t = 60)]
    session_timeout: u64,
    /// Transports to offer, comma-separated: udp, tcp (RTP interleaved on the RTSP connection).
    #[arg(long, default_value = "udp,tcp")]
    transports: String,
    /// Require this user (as user:password) with Digest or Basic authentication; repeatable.
    /// (The lab's client cannot authenticate.)
    #[arg(long, value_name = "USER:PASSWORD")]
    auth: Vec<String>,
    /// With --auth: Digest only (Basic sends the password in clear).
    #[arg(long)]
    digest_only: bool,
    /// Require this user (as user:password) to publish on /live/ paths (ANNOUNCE, RECORD),
    /// with Digest or Basic; repeatable. Without it, publishers need what --auth asks.
    #[arg(long, value_name = "USER:PASSWORD")]
    publish_auth: Vec<String>,
    /// A second publisher on a /live/ path replaces the first (whose viewers get BYE)
    /// instead of being refused with 455.
    #[arg(long)]
    publish_replace: bool,
    /// Play FILE on a loop as the live path /live/NAME, one timeline for every viewer (like
    /// a TV channel); repeatable. FILE is any video the server plays, relative to --videos
    /// or absolute. Nobody may publish on a channel's path.
    #[arg(long, value_name = "NAME=FILE")]
    channel: Vec<server::live::channel::ChannelSpec>,
    /// Seconds a /live/ path whose publisher left waits for one to come back: its viewers
    /// stay and get the next publisher's frames; after it they get BYE. 0: at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    live_linger: f64,
    /// Record every stream published on a /live/ path to DIR/NAME-TIMESTAMP.mjpeg (the
    /// frames as received). DIR must be inside --videos: recordings are served like any
    /// video.
    #[arg(long, value_name = "DIR")]
    record_dir: Option<PathBuf>,
    /// With --record-dir: minutes per recording file before the next starts (fractions
    /// allowed).
    #[arg(long, value_name = "MINUTES", default_value_t = 10.0)]
    record_segment: f64,
    /// Megabytes of converted frames (those RFC 2435 cannot carry as they are) kept per file.
    #[arg(long, default_value_t = 64)]
    convert_cache_mb: usize,
    /// Prepare every file of --videos as the server would (classify each frame, convert the
    /// ones that need it), print a report per file, and exit.
    #[arg(long)]
    prepare: bool,
    /// Send each UDP packet as its own datagram (sendmmsg) instead of handing the kernel a
    /// frame to segment (UDP GSO, used where the kernel and route have it).
    #[arg(long)]
    no_gso: bool,
    /// HLS/DASH: seconds of video per segment (each a closed GOP).
    #[arg(long, default_value_t = server::cmaf::DEFAULT_SEGMENT_SECONDS)]
    segment_seconds: f64,
    /// HLS/DASH renditions, tallest first: heights or `source`, each with an optional
    /// bitrate in kbit/s (`source:2500,360:600`). Default: the source size and, when the
    /// source is taller, 360 lines.
    #[arg(long, value_name = "LIST")]
    renditions: Option<server::cmaf::RenditionList>,
    /// Where encoded HLS/DASH segments are kept across restarts (default: the user's cache
    /// directory, ~/.cache/mjpeg-rtsp/segments).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Keep encoded segments in memory only.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache_dir: bool,
    /// Megabytes of encoded segments kept on disk; the least recently used go first.
    #[arg(long, default_value_t = server::cmaf::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// Threads that encode the HLS/DASH segments players wait for (one more, at a lower
    /// priority, encodes ahead of them).
    #[arg(long, default_value_t = server::cmaf::DEFAULT_WORKERS)]
    encode_workers: usize,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let level = match args.verbose {
        0 => "warn,sessions=info",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    if !(args.fps > 0.0 && args.fps <= 1000.0) {
        bail!(
            "--fps takes a frame rate above 0 and at most 1000, got {}",
            args.fps
        );
    }
    match std::fs::metadata(&args.videos) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "--videos {} is a file: name the directory that holds the videos",
            args.videos.display()
        ),
        Err(e) => bail!("--videos {}: {e}", args.videos.display()),
    }
    let config = config(&args)?;
    if args.prepare {
        return prepare(&args.videos, &config);
    }
    let server = server::Server::bind(config)
        .with_context(|| format!("cannot start the server on {}", args.bind))?;
    announce(&args, server.local_addr()?, server.http_addr());
    // SIGINT / SIGTERM: every session gets its BYE, then the process exits 0.
    let stopper = server.stopper()?;
    let on_signal = stopper.clone();
    ctrlc::set_handler(move || {
        log::info!("signal: stopping");
        on_signal.stop(Duration::ZERO);
    })
    .context("installing the signal handler")?;
    server.run();
    // The accept loop ends only when stopped: give the connections time to send their BYE.
    if !stopper.stop(Duration::from_secs(3)) {
        log::warn!("some connections did not close in time");
    }
    Ok(())
}

/// The startup lines: where each side listens, and what it serves (a line per video, with a
/// player command for the first, and a publishing command for live paths). Written so that a closed stderr (a parent that read the
/// first line and left) costs the lines, not the server.
fn announce(args: &Args, rtsp: SocketAddr, http: Option<SocketAddr>) {
    use std::io::Write;
    let shown = |a: SocketAddr| match a.ip().is_unspecified() {
        true => SocketAddr::new([127, 0, 0, 1].into(), a.port()),
        false => a,
    };
    let library = server::library::Library::read(&args.videos, args.fps).unwrap_or_else(|e| {
        log::warn!("cannot list {}: {e}", args.videos.display());
        Default::default()
    });
    let count = library.entries.len() + library.unlisted;
    let count = match count {
        1 => "1 video".to_string(),
        n => format!("{n} videos"),
    };
    let mut lines = vec![format!(
        "serving {} ({count}) on rtsp://{}/",
        args.videos.display(),
        shown(rtsp)
    )];
    lines.push(match http {
        Some(h) => format!("web page and HTTP streams on http://{}/", shown(h)),
        None => "no HTTP listener (--no-http)".to_string(),
    });
    let url = |name: &str| {
        let path = rtsp_proto::url::percent_encode_path(name);
        format!("rtsp://{}/{path}", shown(rtsp))
    };
    for e in &library.entries {
        lines.push(format!("  {}  {}", url(&e.name), e.facts()));
    }
    if library.unlisted > 0 {
        lines.push(format!("  ... and {} more", library.unlisted));
    }
    for c in &args.channel {
        let live = format!("rtsp://{}/live/{}", shown(rtsp), c.name);
        lines.push(format!("  {live}  channel: {} on a loop", c.file.display()));
    }
    if let Some(first) = library.entries.first() {
        lines.push(format!("watch: ffplay {}", url(&first.name)));
    }
    let recorded = match &args.record_dir {
        Some(dir) => format!(" (recorded to {})", dir.display()),
        None => String::new(),
    };
    lines.push(format!(
        "publish: ffmpeg -re -i FILE -c:v mjpeg -huffman default -f rtsp rtsp://{}/live/NAME{recorded}",
        shown(rtsp)
    ));
    let mut err = std::io::stderr().lock();
    for line in lines {
        if writeln!(err, "{line}").is_err() {
            return;
        }
    }
    drop(err);
    if library.entries.is_empty() {
        log::warn!(
            "{} has no video to serve: put .mjpeg, .avi, .mov, .mp4 or .mkv files there (README: Stream your own video)",
            args.videos.display()
        );
    }
    for (name, why) in &library.refused {
        log::warn!("{}: not served: {why}", args.videos.join(name).display());
    }
}

/// The numeric flags clap cannot bound by itself (floats, and ranges with a message that says
/// the unit).
fn check_ranges(args: &Args) -> anyhow::Result<()> {
    if !(args.segment_seconds >= 0.1 && args.segment_seconds <= 60.0) {
        bail!(
            "--segment-seconds takes 0.1 to 60 seconds, got {}",
            args.segment_seconds
        );
    }
    if args.encode_workers == 0 || args.encode_workers > 64 {
        bail!(
            "--encode-workers takes 1 to 64, got {}",
            args.encode_workers
        );
    }
    if !(args.live_linger >= 0.0 && args.live_linger <= 86_400.0) {
        bail!(
            "--live-linger takes 0 to 86400 seconds, got {}",
            args.live_linger
        );
    }
    if !(args.record_segment >= 0.01 && args.record_segment <= 1440.0) {
        bail!(
            "--record-segment takes 0.01 to 1440 minutes, got {}",
            args.record_segment
        );
    }
    Ok(())
}

/// The server's configuration from the command line, checked.
fn config(args: &Args) -> anyhow::Result<server::Config> {
    let mut udp = false;
    let mut tcp = false;
    for t in args.transports.split(',').map(str::trim) {
        match t {
            "udp" => udp = true,
            "tcp" => tcp = true,
            other => bail!("--transports takes udp and/or tcp, not {other:?}"),
        }
    }
    if args.session_timeout == 0 {
        bail!("--session-timeout must be at least 1 second");
    }
    let users = user_list("--auth", &args.auth)?;
    let publish_users = user_list("--publish-auth", &args.publish_auth)?;
    let http = match (args.no_http, args.http) {
        (true, _) => server::http::HttpListen::Off,
        (false, Some(port)) => server::http::HttpListen::Port(port),
        (false, None) => server::http::HttpListen::Preferred(server::http::DEFAULT_PORT),
    };
    check_ranges(args)?;
    let cmaf = server::cmaf::CmafConfig {
        segment_seconds: args.segment_seconds,
        renditions: args.renditions.clone().unwrap_or_default(),
        cache_dir: match args.no_cache_dir {
            true => None,
            false => Some(
                args.cache_dir
                    .clone()
                    .unwrap_or_else(server::cmaf::default_cache_dir),
            ),
        },
        cache_mb: args.cache_mb,
        workers: args.encode_workers,
    };
    Ok(server::Config {
        cmaf,
        http,
        http_max_connections: args.max_http_connections,
        users,
        publish_users,
        publish_replace: args.publish_replace,
        channels: args.channel.clone(),
        live_linger: Duration::from_secs_f64(args.live_linger),
        record_dir: args.record_dir.clone(),
        record_segment: Duration::from_secs_f64(args.record_segment * 60.0),
        allow_basic: !args.digest_only,
        gso: !args.no_gso,
        udp,
        tcp,
        session_timeout: Duration::from_secs(args.session_timeout),
        converted_limit: args.convert_cache_mb << 20,
        max_sessions: args.max_sessions,
        max_frame: args.max_frame_bytes,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        limits: rtsp_proto::rtsp::Limits {
            max_line: args.max_request_bytes.min(65536),
            max_headers: args.max_headers,
            max_body: args.max_body_bytes,
            max_head: args.max_request_bytes,
        },
        bind: SocketAddr::new(args.bind, args.port),
        videos: args.videos.clone(),
        fps: args.fps,
        looping: args.looping,
        max_connections: args.max_connections,
        request_timeout: Duration::from_secs_f64(args.request_timeout.max(0.1)),
        ..server::Config::default()
    })
}

/// `--prepare`: a progress line per file on stderr, the report on stdout: the frames' classes,
/// then each HLS/DASH rendition, encoded into the segment cache the server serves from.
fn prepare(dir: &std::path::Path, config: &server::Config) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use std::io::Write;
    let mut last = String::new();
    // A progress bar redraws itself with \r: only for a person at a terminal, never into a
    // log file or a pipe.
    let terminal = std::io::stderr().is_terminal();
    let reports = server::media::prepare_library(dir, config.fps, |name, done, total| {
        if terminal && (done == total || done % 10 == 0) {
            let width = 30;
            let filled = done * width / total.max(1);
            let line = format!(
                "\r{name:<28} [{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if line != last {
                eprint!("{line}");
                let _ = std::io::stderr().flush();
                last = line;
            }
            if done == total {
                eprintln!();
            }
        }
    })
    .with_context(|| format!("reading {}", dir.display()))?;
    let packager = server::cmaf::Packager::new(config.cmaf.clone());
    for r in &reports {
        println!("{r}");
        if r.counts.is_err() {
            continue;
        }
        let path = dir.join(&r.name);
        let renditions = server::media::PreparedMedia::prepare(&path, usize::MAX)
            .map_err(|e| e.to_string())
            .map(std::sync::Arc::new)
            .and_then(|m| {
                let fps = m.fps(config.fps);
                packager.plan(m, fps).map_err(|e| e.to_string())
            })
            .and_then(|plan| packager.prepare(&plan).map_err(|e| e.to_string()));
        match renditions {
            Ok(list) => list.iter().for_each(|x| println!("  HLS/DASH {x}")),
            Err(e) => println!("  HLS/DASH: not available: {e}"),
        }
    }
    Ok(())
}

/// USER:PASSWORD values of `flag`, split.
fn user_list(flag: &str, values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|a| match a.split_once(':') {
            Some((u, p)) => Ok((u.to_string(), p.to_string())),
            None => bail!("{flag} takes USER:PASSWORD, got {a:?}"),
        })
        .collect()
}
