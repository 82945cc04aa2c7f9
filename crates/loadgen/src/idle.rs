//! `loadgen idle`: what sessions cost the server while set up but not playing, from its RSS
//! before and after.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::procfs::rss_kib;
use crate::rtsp::{authority, resolve, Rtsp};

/// Sets up `n` sessions of `url`'s track1 (client ports that nothing listens on: nothing is
/// played), waits 2 s, and prints the server's RSS growth per session.
pub fn idle(url: &str, n: usize, pid: u32) -> anyhow::Result<()> {
    let addr = resolve(&authority(url).context("rtsp:// URL")?)?;
    let before = rss_kib(pid);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Rtsp::connect(addr)?;
        let port = 20000 + 2 * (i % 10000) as u16;
        let transport = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = c.request(
            "SETUP",
            &format!("{url}/track1"),
            &[("Transport", &transport)],
        )?;
        if !r.status.is_success() {
            bail!("SETUP: {}", r.status);
        }
        conns.push(c);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(pid);
    println!(
        "idle: {n} sessions set up, not playing: server RSS {before} KiB -> {after} KiB, {:.1} KiB per idle session",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    Ok(())
}
