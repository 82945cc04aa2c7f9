//! `client`: plays an RTSP/RTP Motion-JPEG stream in a window driven by keys, or headless.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;

use client::{Options, RecordFormat};

const KEYS: &str = "Keys in the window (--keys in headless mode takes the same):
  S          SETUP
  P          PLAY (from INIT: SETUP, then PLAY)
  Space      PAUSE / resume
  Left Right seek -5 s / +5 s
  Down Up    seek -30 s / +30 s
  Home       seek to the start
  mouse      a click or drag on the progress bar seeks there
  [ ]        half / double speed (0.5x 1x 2x 4x, PLAY with Scale)
  \\          reverse (the Scale negated: -1 from normal play); the server's answer
             says what it applies
  , .        while paused: one frame back / forward
  F          fullscreen / back
  T          TEARDOWN
  D          DESCRIBE (prints the SDP)
  Q, Esc     quit (TEARDOWN first, given a second at most)
A key that is not valid in the current state does nothing and says why in the log (-v).";

/// Plays an RTSP/RTP Motion-JPEG (RFC 2435) stream: our server, gst-rtsp-server, VLC, or the
/// classic lab's Python server (detected when it does not answer OPTIONS).
#[derive(Parser, Debug)]
#[command(version, about, after_help = KEYS)]
struct Args {
    /// rtsp://HOST[:PORT]/PATH (rtsph:// through HTTP), http://HOST[:PORT]/PATH for
    /// Motion-JPEG over HTTP, or the lab's form: HOST PORT RTP_PORT FILE
    #[arg(required = true, num_args = 1..=4, value_name = "URL | HOST PORT RTP_PORT FILE")]
    target: Vec<String>,
    /// No window: SETUP and PLAY at once, stop at --frames, --duration or the end of the stream.
    #[arg(long)]
    headless: bool,
    /// SETUP and PLAY at once in the window too.
    #[arg(long)]
    autoplay: bool,
    /// Headless: stop after this many decoded frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Headless: stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Start playing this many seconds into the stream (PLAY with Range: npt=SECONDS-);
    /// headless, or with --autoplay.
    #[arg(long, value_name = "SECONDS")]
    start: Option<f64>,
    /// Headless: press keys at given times, "SECONDS:KEY ..." (e.g. "2:space 4:space 6:right");
    /// KEY is a letter, space, left, right, up, down, home, [, ], backslash, comma or period.
    #[arg(long, value_name = "SCRIPT")]
    keys: Option<String>,
    /// Write every complete received frame to this file.
    #[arg(long)]
    record: Option<std::path::PathBuf>,
    /// Format of --record: plain (concatenated JPEG) or lab (5-digit length + JPEG).
    #[arg(long, default_value = "plain", value_parser = ["plain", "lab"])]
    record_format: String,
    /// At exit, write the statistics as one JSON object to this file (- for stdout).
    #[arg(long)]
    stats_json: Option<String>,
    /// Speak the lab's dialect without trying OPTIONS first.
    #[arg(long)]
    lab: bool,
    /// Ask for RTP interleaved on the RTSP connection (through firewalls and NATs).
    #[arg(long, conflicts_with = "udp")]
    tcp: bool,
    /// Tunnel RTSP and RTP through HTTP (QuickTime's GET/POST pair; an rtsph:// URL does the
    /// same): for networks and proxies that pass nothing but HTTP. Implies --tcp.
    #[arg(long, conflicts_with_all = ["udp", "lab"])]
    http_tunnel: bool,
    /// Insist on UDP: no fallback to TCP (by default the client falls back when SETUP gets 461
    /// or no RTP arrives within 2 s of PLAY).
    #[arg(long)]
    udp: bool,
    /// Largest frame assembled, in bytes; bigger ones are dropped.
    #[arg(long, default_value_t = 16 << 20)]
    max_frame_bytes: usize,
    /// Packets held behind a gap before giving up on it.
    #[arg(long, default_value_t = 64)]
    reorder_packets: usize,
    /// Local UDP port for RTP (RTCP on the next one); ephemeral by default.
    #[arg(long)]
    rtp_port: Option<u16>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn options(args: &Args) -> anyhow::Result<(Options, bool)> {
    let (mut opts, lab_form) = match args.target.as_slice() {
        [url] => (Options::for_url(url)?, false),
        [host, port, rtp_port, file] => {
            let port: u16 = port
                .parse()
                .with_context(|| format!("PORT {port:?} is not a port number"))?;
            let rtp: u16 = rtp_port
                .parse()
                .with_context(|| format!("RTP_PORT {rtp_port:?} is not a port number"))?;
            let mut o = Options::for_url(&format!("rtsp://{host}:{port}/{file}"))?;
            o.rtp_port = Some(rtp);
            (o, true)
        }
        _ => bail!(
            "give rtsp://HOST[:PORT]/PATH, http://HOST[:PORT]/PATH, or HOST PORT RTP_PORT FILE"
        ),
    };
    if let Some(p) = args.rtp_port {
        opts.rtp_port = Some(p);
    }
    opts.lab = args.lab;
    opts.max_frame = args.max_frame_bytes;
    opts.reorder_packets = args.reorder_packets.max(1);
    opts.http_tunnel |= args.http_tunnel;
    opts.transport = if args.tcp || opts.http_tunnel {
        client::TransportChoice::Tcp
    } else if args.udp {
        client::TransportChoice::Udp
    } else {
        client::TransportChoice::Auto
    };
    opts.frames = args.frames;
    opts.duration = args.duration;
    opts.start = args.start;
    if let Some(script) = &args.keys {
        opts.keys = client::ui::parse_keys(script).map_err(anyhow::Error::msg)?;
    }
    opts.record = args.record.clone();
    opts.record_format = if args.record_format == "lab" {
        RecordFormat::Lab
    } else {
        RecordFormat::Plain
    };
    opts.stats_json = args.stats_json.clone();
    Ok((opts, lab_form))
}

fn write_stats(path: &str, json: &str) -> anyhow::Result<()> {
    if path == "-" {
        println!("{json}");
    } else {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let level = match args.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    // SIGINT / SIGTERM: stop playing; run() then sends TEARDOWN before returning.
    if let Err(e) =
        ctrlc::set_handler(|| client::STOP.store(true, std::sync::atomic::Ordering::SeqCst))
    {
        eprintln!("client: cannot handle signals: {e}");
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("client: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (opts, _) = options(args)?;
    let stats = if args.headless {
        client::headless::run(&opts)?
    } else {
        client::ui::run_window(&opts, args.autoplay)?
    };
    eprintln!(
        "client: {} ({}, {} dialect)",
        stats.summary(),
        stats.transport,
        stats.dialect
    );
    if let Some(path) = &opts.stats_json {
        write_stats(path, &stats.to_json())?;
    }
    if stats.frames_decoded == 0 {
        match &stats.error {
            Some(e) => eprintln!("client: nothing was played: {e}"),
            None => eprintln!("client: no frame was received"),
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
