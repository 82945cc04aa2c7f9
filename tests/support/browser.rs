//! Debian's Chromium driven by a node script of tests/browser (puppeteer-core, `npm ci
//! --prefix tests/browser`), for the tests that judge what a browser did.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Chromium (`$CHROMIUM`, /usr/bin/chromium by default), node and tests/browser's npm packages.
pub struct Browser {
    pub chromium: String,
    /// tests/browser: the scripts and their node_modules.
    pub dir: PathBuf,
}

impl Browser {
    /// Chromium, node and the npm `modules`, or a loud skip (a failure under REQUIRE_PEERS=1).
    pub fn find(modules: &[&str]) -> Option<Browser> {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let dir = super::repo_root().join("tests/browser");
        let ok = super::peer_available("Chromium", &[&chromium, "--version"])
            && super::peer_available("node", &["node", "--version"])
            && modules.iter().all(|m| {
                let p = dir.join("node_modules").join(m).join("package.json");
                super::peer_available(
                    &format!("{} (npm ci --prefix tests/browser)", p.display()),
                    &["test", "-f", p.to_str().unwrap()],
                )
            });
        ok.then_some(Browser { chromium, dir })
    }

    /// Runs `node SCRIPT ARGS...` with `$CHROMIUM` set, and `timeout_var` set to `timeout_ms`
    /// (the script gives up on its own then and closes Chromium); `limit`, beyond that, is for
    /// a node that hangs anyway (Chromium, on a pipe, exits with it). Fails unless it
    /// succeeds; returns what it printed.
    pub fn node<S: AsRef<OsStr>>(
        &self,
        script: &str,
        args: &[S],
        (timeout_var, timeout_ms): (&str, u64),
        limit: Duration,
    ) -> Output {
        let started = Instant::now();
        let output = super::run(
            Command::new("node")
                .arg(self.dir.join(script))
                .args(args)
                .env("CHROMIUM", &self.chromium)
                .env(timeout_var, timeout_ms.to_string()),
            limit,
        );
        assert!(
            output.status.success(),
            "{script} failed ({}) after {:.1} s:\n{}",
            output.status,
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("{script} ran {:.1} s", started.elapsed().as_secs_f64());
        output
    }
}
