//! Helpers the client's own tests share: a number out of the stats JSON, and Xvfb with
//! screenshots for the window tests. (Each test file uses some of them.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A number field of the flat `--stats-json` object.
pub fn json_number(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing in {json}"));
    json[at + key.len() + 3..]
        .split([',', '}'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

/// A child process killed when the test lets go of it.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb (640x480) on a free display; returns it and the display name.
pub fn start_xvfb() -> (Kill, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "640x480x24",
            "-nolisten",
            "tcp",
            // An X server resets when its last client leaves, and a connection made during
            // the reset fails: the screenshots' connections come and go while the client
            // starts, so without this its first XOpenDisplay failed about 1 time in 30.
            "-noreset",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let display = format!(":{}", line.trim());
    (Kill(child), display)
}

/// The whole screen, as ImageMagick's `import` reads it.
pub fn screenshot(display: &str) -> Option<image::RgbImage> {
    let o = Command::new("import")
        .args(["-display", display, "-window", "root", "png:-"])
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let img = image::load_from_memory_with_format(&o.stdout, image::ImageFormat::Png).ok()?;
    Some(img.to_rgb8())
}
