//! Each file's own frame rate, and where it came from: a container's header or timestamps,
//! a `.mjpeg`'s sidecar `NAME.mjpeg.json` (`{"fps": 25}`), or, for a file with neither, the
//! server's `--fps`. The lab's `.mjpeg` has no timing at all; the sidecar gives it one
//! without a new file format.

use std::path::{Path, PathBuf};

use super::container::Format;

/// Where a file's frame rate came from, for logs, `/api` and `--prepare`.
#[derive(Debug, Clone, PartialEq)]
pub enum FpsSource {
    /// The container's own header or timestamps.
    Container(Format),
    /// A `.mjpeg`'s sidecar file.
    Sidecar(PathBuf),
    /// The server's `--fps`: the file says nothing.
    Default,
}

/// A frame rate and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub fps: f64,
    pub source: FpsSource,
}

impl Timing {
    /// Where the rate came from, as `/api/videos` names it.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            FpsSource::Container(_) => "container",
            FpsSource::Sidecar(_) => "sidecar",
            FpsSource::Default => "default",
        }
    }
}

/// A rate for people: whole numbers as they are, others to three decimals (30000/1001 is
/// 29.97, not 29.97002997002997).
pub fn show_fps(fps: f64) -> String {
    let text = format!("{fps:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".into()
    } else {
        text.to_string()
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fps = show_fps(self.fps);
        match &self.source {
            FpsSource::Container(c) => write!(f, "{fps} fps (the {} file's own)", c.name()),
            FpsSource::Sidecar(p) => {
                let name = p.file_name().unwrap_or(p.as_os_str()).to_string_lossy();
                write!(f, "{fps} fps (from {name})")
            }
            FpsSource::Default => write!(f, "{fps} fps (the --fps default)"),
        }
    }
}

/// Whether `fps` is a rate the server plays: what `--fps` accepts too.
pub fn playable(fps: f64) -> bool {
    fps.is_finite() && fps > 0.0 && fps <= 1000.0
}

/// The sidecar of `video`: its file name with `.json` added (`a.mjpeg.json`).
pub fn sidecar_path(video: &Path) -> PathBuf {
    let mut name = video.file_name().unwrap_or_default().to_os_string();
    name.push(".json");
    video.with_file_name(name)
}

/// The rate `video`'s sidecar gives, if it has one that is good; a sidecar that is present
/// but bad is a warning naming it and why, and the caller uses the default.
pub fn from_sidecar(video: &Path) -> Option<Timing> {
    let path = sidecar_path(video);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!(
                "{}: cannot read it ({e}): the --fps default is used",
                path.display()
            );
            return None;
        }
    };
    match parse_sidecar(&text) {
        Ok(fps) => Some(Timing {
            fps,
            source: FpsSource::Sidecar(path),
        }),
        Err(why) => {
            log::warn!("{}: {why}: the --fps default is used", path.display());
            None
        }
    }
}

/// The `fps` of a sidecar's JSON object.
pub fn parse_sidecar(text: &[u8]) -> Result<f64, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let fps = value
        .get("fps")
        .ok_or("no \"fps\" in it")?
        .as_f64()
        .ok_or("\"fps\" is not a number")?;
    if !playable(fps) {
        return Err(format!("\"fps\": {fps} is not above 0 and at most 1000"));
    }
    Ok(fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_rates() {
        assert_eq!(parse_sidecar(br#"{"fps": 25}"#), Ok(25.0));
        assert_eq!(parse_sidecar(br#"{"fps": 29.97, "note": "x"}"#), Ok(29.97));
        for bad in [
            &br#"{"fps": 0}"#[..],
            br#"{"fps": "25"}"#,
            b"{}",
            b"25 fps",
            br#"{"fps": 1e9}"#,
        ] {
            assert!(
                parse_sidecar(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(show_fps(30000.0 / 1001.0), "29.97");
        assert_eq!(show_fps(25.0), "25");
        assert_eq!(show_fps(12.5), "12.5");
        assert_eq!(
            sidecar_path(Path::new("v/a.mjpeg")),
            Path::new("v/a.mjpeg.json")
        );
    }
}
