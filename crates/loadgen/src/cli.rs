//! The command line: one subcommand per measurement.

use clap::{Parser, Subcommand};

/// `loadgen`'s arguments.
#[derive(Parser)]
#[command(about = "RTSP/RTP and Motion-JPEG/HTTP load generator")]
pub struct Args {
    /// What to measure.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The measurements `loadgen` makes.
#[derive(Subcommand)]
pub enum Cmd {
    /// Sessions against a server, ramped until loss passes the threshold.
    Run {
        /// rtsp://HOST:PORT/PATH
        url: String,
        /// Session counts to try, in order (e.g. 100,250,500,1000).
        #[arg(long, value_delimiter = ',', default_value = "100")]
        sessions: Vec<usize>,
        /// Seconds of playing measured at each step.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server's process id, for CPU and memory.
        #[arg(long)]
        pid: Option<u32>,
        /// Frames per second the server sends (for the expected counts).
        #[arg(long, default_value_t = 20.0)]
        fps: f64,
        /// Stop ramping once loss passes this percentage.
        #[arg(long, default_value_t = 0.1)]
        max_loss: f64,
        /// Read every packet on its own instead of letting the kernel coalesce (UDP GRO).
        #[arg(long)]
        no_gro: bool,
        /// A step fails if any frame comes this much later than its session's most punctual
        /// one (200 ms is GStreamer's default jitter buffer: a later frame is not shown).
        #[arg(long, default_value_t = 200.0)]
        max_late_ms: f64,
    },
    /// Memory of idle sessions: N sessions set up but never played, and the server's RSS.
    Idle {
        url: String,
        #[arg(long, default_value_t = 500)]
        sessions: usize,
        #[arg(long)]
        pid: u32,
    },
    /// The floor: send the packets of FILE to N destinations at FPS, a frame at a time with
    /// the server's send function (segmentation offload where the kernel has it).
    Floor {
        /// A .mjpeg file (RFC 2435-streamable frames).
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 20.0)]
        fps: f64,
        /// Send one datagram per packet (sendmmsg), like `server --no-gso`.
        #[arg(long)]
        no_gso: bool,
        /// The receiving end reads every packet on its own (no UDP GRO).
        #[arg(long)]
        no_gro: bool,
    },
    /// Motion-JPEG/HTTP viewers against a server: N connections each reading the multipart
    /// stream of URL, for each count in turn.
    Http {
        /// http://HOST:PORT/videos/NAME/mjpeg?loop=1
        url: String,
        #[command(flatten)]
        steps: HttpSteps,
        /// The server's process id, for CPU and memory.
        #[arg(long = "server-pid", alias = "pid")]
        pid: Option<u32>,
    },
    /// The bare loop to compare `http` with: this process accepts N viewers' connections and
    /// one thread writes them the server's parts of FILE's frames at FPS (non-blocking
    /// writes), received as `http` receives.
    HttpFloor {
        #[command(flatten)]
        steps: HttpSteps,
    },
    /// HLS players against a server or an edge: N players, each on one kept-alive
    /// connection, read the multivariant playlist at URL, every media playlist, and every
    /// rendition's init segment and media segments, ROUNDS times (a 503 is asked again after
    /// a pause, within the deadline); prints requests, segments, bytes, errors, 503s waited
    /// out, requests a second and p50/p99 request latency.
    Hls {
        /// http://HOST:PORT/videos/NAME/hls/index.m3u8
        url: String,
        #[arg(long, default_value_t = 50)]
        players: usize,
        /// Times each player reads the whole ladder.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Deadline of one request, in seconds (a segment not yet encoded takes seconds).
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
        /// Do not check that each media segment starts with a styp or moof box.
        #[arg(long)]
        no_check: bool,
    },
    /// A live source: publishes FILE's frames on a loop to an rtsp://.../live/NAME path
    /// (ANNOUNCE, SETUP mode=record over UDP, RECORD), each frame at its deadline, for the
    /// fan-out benchmark (`run` against the same path then counts what viewers missed).
    Publish {
        /// rtsp://HOST:PORT/live/NAME
        url: String,
        #[arg(long, default_value = "videos/video.mjpeg")]
        file: std::path::PathBuf,
        #[arg(long, default_value_t = 20.0)]
        fps: f64,
        /// Seconds to publish; 0 for as long as the process runs.
        #[arg(long, default_value_t = 0)]
        seconds: u64,
    },
    /// How often this machine's CPUs stop: a thread spinning on each CPU reads the clock, and
    /// every gap over 0.5 ms is time its CPU ran something else (on a virtual machine, mostly
    /// the host's other guests). Uses every core: run it alone.
    Stalls {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// What `http` and `http-floor` step through and measure.
#[derive(clap::Args)]
pub struct HttpSteps {
    /// Viewer counts to try, in order (e.g. 250,500,1000).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub viewers: Vec<usize>,
    /// Seconds measured at each step.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds received but not counted once every viewer is connected.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Frames per second sent (for the expected counts and the frame clock).
    #[arg(long, default_value_t = 20.0)]
    pub fps: f64,
    /// The .mjpeg file streamed: its frames are known by their length and last bytes, so a
    /// frame dropped shows as a gap, not as lateness.
    #[arg(long, default_value = "videos/video.mjpeg")]
    pub file: std::path::PathBuf,
    /// A frame this many ms behind its viewer's most punctual frame is late.
    #[arg(long, default_value_t = 200.0)]
    pub max_late_ms: f64,
    /// A step holds with frames late plus frames lost under this percentage of those expected.
    #[arg(long, default_value_t = 0.1)]
    pub max_bad: f64,
}
