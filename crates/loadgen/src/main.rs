//! `loadgen`: opens N concurrent RTSP sessions against a URL and reports what a capacity
//! benchmark needs: frames expected and received, loss, per-session inter-frame jitter, and the
//! server's CPU and memory (read from /proc for its PID).
//!
//! Receiving must cost little, so that the server, not the generator, is measured: each
//! session has its own RTP socket (a server with one shared media, like gst-rtsp-server's,
//! sends a destination only once however many sessions name it), a few threads wait on all of
//! them with epoll and read only the ready ones, and with UDP GRO (Linux 5.0+) a run of packets
//! that arrived together comes up in one read, of which only the first packet's headers are
//! copied out (MSG_TRUNC): sequence numbers, RTP timestamp and fragment offset are all the
//! counting needs, and payloads are most of the bytes. The kernel stamps each arrival
//! (SO_TIMESTAMPNS), so the generator's own scheduling does not show as the server's jitter.
//!
//! `loadgen floor` measures the kernel's floor instead: one thread sending the same RTP/JPEG
//! packets to N sessions' worth of destinations with the server's own send function, with no
//! RTSP at all.
//!
//! `loadgen http` opens N Motion-JPEG/HTTP viewers instead ([`viewers`], [`parts`]), and
//! `loadgen http-floor` is its bare loop: one thread writing the same parts to as many
//! sockets ([`http_floor`]); [`http_step`] steps both and prints their rows.
//!
//! `loadgen hls` runs N HLS players, each reading a whole rendition ladder on a kept-alive
//! connection ([`hls`]): against the origin, or an edge in front of it.
//!
//! `loadgen publish` is a live source for the fan-out benchmark: a file's frames published on a
//! loop to a live path, each at its deadline ([`publish`]); `run` against that path then counts,
//! besides sequence gaps, the frames missing by RTP time that a live viewer's drops leave.
//!
//! Modules: [`cli`] the command line; [`rtsp`] a minimal blocking RTSP client; [`setup`] a
//! step's DESCRIBE, SETUPs, PLAYs and TEARDOWNs; [`receive`] the receiving sockets and the
//! threads that read them; [`count`] one session's packets and frames; [`summary`] loss and
//! jitter over a step's sessions; [`step`] one step, warm-up and measured window; [`ramp`]
//! the steps in turn and when one holds; [`report`] the markdown `run` prints; [`procfs`] CPU
//! and RSS from /proc; [`floor`], [`idle`] and [`stalls`] the other subcommands.

mod cli;
mod count;
mod floor;
mod hls;
mod http_floor;
mod http_step;
mod idle;
mod parts;
mod procfs;
mod publish;
mod ramp;
mod receive;
mod report;
mod rtsp;
mod setup;
mod stalls;
mod step;
mod summary;
mod viewers;

use clap::Parser;

use cli::{Args, Cmd, HttpSteps};

/// `http` or `http-floor` with the steps the command line gives.
fn http(steps: &HttpSteps, sender: &http_step::Sender) -> anyhow::Result<()> {
    let book = parts::FrameBook::load(&steps.file)?;
    anyhow::ensure!(book.len() > 0, "{} holds no frame", steps.file.display());
    http_step::run(
        &http_step::HttpPlan {
            viewers: &steps.viewers,
            seconds: steps.seconds,
            warmup: steps.warmup,
            fps: steps.fps,
            max_late_ms: steps.max_late_ms,
            max_bad: steps.max_bad,
            book: &book,
        },
        sender,
    )
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Cmd::Idle { url, sessions, pid } => idle::idle(&url, sessions, pid),
        Cmd::Stalls { seconds } => stalls::stalls(seconds),
        Cmd::Publish {
            url,
            file,
            fps,
            seconds,
        } => publish::publish(&publish::PublishPlan {
            url: &url,
            file: &file,
            fps,
            seconds,
        }),
        Cmd::Http { url, steps, pid } => {
            http(&steps, &http_step::Sender::Server { url: &url, pid })
        }
        Cmd::HttpFloor { steps } => http(&steps, &http_step::Sender::Floor),
        Cmd::Hls {
            url,
            players,
            rounds,
            timeout,
            no_check,
        } => hls::hls(&hls::HlsPlan {
            url: &url,
            players,
            rounds,
            timeout: std::time::Duration::from_secs_f64(timeout),
            check: !no_check,
        }),
        Cmd::Floor {
            file,
            sessions,
            seconds,
            fps,
            no_gso,
            no_gro,
        } => floor::floor(&floor::FloorPlan {
            file: &file,
            sessions,
            seconds,
            fps,
            gso: !no_gso,
            gro: !no_gro,
        }),
        Cmd::Run {
            url,
            sessions,
            seconds,
            pid,
            fps,
            max_loss,
            no_gro,
            max_late_ms,
        } => {
            ramp::ramp(&ramp::Ramp {
                url: &url,
                sessions: &sessions,
                seconds,
                pid,
                gro: !no_gro,
                bar: ramp::Bar {
                    max_loss,
                    fps,
                    max_late_ms,
                },
            });
            Ok(())
        }
    }
}
