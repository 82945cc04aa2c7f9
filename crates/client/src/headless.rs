//! Headless playback: SETUP and PLAY at once (from `--start`), the `--keys` script's keys at
//! their times (the same commands the window's keys run), then stop after `--frames`,
//! `--duration` or the end of the stream, TEARDOWN, and report.

use std::time::{Duration, Instant};

use crate::session::ClientSession;
use crate::stats::Stats;
use crate::ui::{command_for, execute};
use crate::{ClientError, Options};

/// Plays `opts` to the end and returns the statistics (no frame at all is the caller's
/// failure to report).
pub fn run(opts: &Options) -> Result<Stats, ClientError> {
    if opts.url.starts_with("http://") {
        return run_http(opts);
    }
    let mut s = ClientSession::connect(opts)?;
    s.setup()?;
    s.play()?;
    let start = Instant::now();
    let mut keys = opts.keys.iter().peekable();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        while let Some((_, key)) = keys.next_if(|(at, _)| start.elapsed().as_secs_f64() >= *at) {
            match command_for(*key, s.state, s.dialect) {
                Ok(cmd) => match execute(&mut s, cmd) {
                    Ok(true) => {}
                    Ok(false) => return Ok(s.stats()),
                    Err(e) => {
                        log::error!("{key:?}: {e}");
                        s.last_error = Some(e.to_string());
                    }
                },
                Err(why) => log::info!("{key:?} does nothing now: {why}"),
            }
        }
        s.poll()?;
        let decoded = s.display.lock().unwrap().frames_decoded;
        if opts.frames.is_some_and(|n| decoded >= n) {
            break;
        }
        if opts
            .duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            break;
        }
        if crate::stop_requested() {
            log::info!("stopping: TEARDOWN");
            break;
        }
        if s.ended() {
            log::info!("end of stream");
            break;
        }
        if let Some(why) = s.server_gone() {
            // What is still on its way plays out; the silence after it ends the run.
            log::error!("{why}");
        }
        s.keepalive_if_due()?;
        s.check_udp_fallback()?;
    }
    // Stats after TEARDOWN, once the threads have stopped: frames still in the reorder buffer
    // or the playout queue are then counted (discarded at the stop) and recorded.
    if let Err(e) = s.teardown() {
        log::warn!("TEARDOWN: {e}");
    }
    Ok(s.stats())
}

/// Headless playback of Motion-JPEG over HTTP: until `--frames`, `--duration`, a signal or
/// the end of the stream.
fn run_http(opts: &Options) -> Result<Stats, ClientError> {
    let s = crate::http_mjpeg::HttpStream::open(opts)?;
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let decoded = s.display.lock().unwrap().frames_decoded;
        let done = opts.frames.is_some_and(|n| decoded >= n)
            || opts
                .duration
                .is_some_and(|d| start.elapsed().as_secs_f64() >= d);
        if done || crate::stop_requested() || s.ended() {
            break;
        }
    }
    Ok(s.stop())
}
