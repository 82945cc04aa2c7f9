//! Maps request URIs to files under the videos directory, and never outside it.

use std::path::{Component, Path, PathBuf};

use rtsp_proto::url;

/// The control name of the one video track, relative to the Content-Base `rtsp://h/FILE/`.
pub const TRACK_CONTROL: &str = "track1";

/// A request URI taken apart: which file, and whether it named the track or the aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The file's path relative to the videos directory, `/`-separated, as the client named it.
    pub name: String,
    /// The URI ended in `/track1`.
    pub track: bool,
}

/// Why a URI names no file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("request URI {0:?} names no file")]
    NoPath(String),
    #[error("request URI {0:?} reaches outside the videos directory")]
    Outside(String),
    #[error("{0} not found")]
    NotFound(String),
}

/// Parses a request URI into a [`Target`]. Query strings are ignored.
pub fn target(uri: &str) -> Result<Target, CatalogError> {
    // The lab sends a bare file name, ffmpeg and GStreamer an absolute URL.
    let path = url::request_path(uri);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = url::percent_decode(path).map_err(|_| CatalogError::NoPath(uri.to_string()))?;
    let mut path = path.trim_end_matches('/');
    let mut track = false;
    if let Some(file) = path
        .strip_suffix(TRACK_CONTROL)
        .and_then(|p| p.strip_suffix('/'))
    {
        path = file;
        track = true;
    }
    if path.is_empty() || path == "*" {
        return Err(CatalogError::NoPath(uri.to_string()));
    }
    // NUL bytes and backslashes have no business in a file name here; on other systems they
    // are path tricks.
    if path.contains(['\0', '\\']) {
        return Err(CatalogError::Outside(uri.to_string()));
    }
    Ok(Target {
        name: path.to_string(),
        track,
    })
}

/// The names of the files served from `root` (its `.mjpeg` and `.mjpg` files and its
/// `.avi .mov .mp4 .mkv .webm` containers, in any case: [`is_media_name`]), sorted: what
/// the web page and `/api/videos` list. Files in subdirectories are served too, but not listed.
pub fn list(root: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && crate::media::is_media_name(p))
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// Resolves a target's name to an existing file inside `root`. `..`, absolute paths and
/// symbolic links that lead out of `root` are refused.
pub fn resolve(root: &Path, name: &str) -> Result<PathBuf, CatalogError> {
    let rel = Path::new(name);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(CatalogError::Outside(name.to_string()));
    }
    let root = root
        .canonicalize()
        .map_err(|_| CatalogError::NotFound(name.to_string()))?;
    let full = root
        .join(rel)
        .canonicalize()
        .map_err(|_| CatalogError::NotFound(name.to_string()))?;
    if !full.starts_with(&root) {
        return Err(CatalogError::Outside(name.to_string()));
    }
    if !full.is_file() || !is_media_name(&full) {
        return Err(CatalogError::NotFound(name.to_string()));
    }
    Ok(full)
}

/// The name a served file goes by in URLs and logs: its path under `root` (`sub/a.mjpeg`), or
/// its file name when it is not under `root`.
pub fn name_in(root: &Path, file: &Path) -> String {
    let under = root
        .canonicalize()
        .ok()
        .and_then(|root| file.strip_prefix(root).ok().map(Path::to_path_buf));
    under
        .as_deref()
        .or_else(|| file.file_name().map(Path::new))
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

pub use crate::media::is_media_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_by_its_path_under_the_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../videos");
        let file = root.join("video.mjpeg").canonicalize().unwrap();
        assert_eq!(name_in(&root, &file), "video.mjpeg");
        assert_eq!(name_in(&root, Path::new("/elsewhere/sub/x.avi")), "x.avi");
    }

    #[test]
    fn uri_forms_real_clients_send() {
        let t = |u| target(u).unwrap();
        assert_eq!(t("rtsp://127.0.0.1:8554/video.mjpeg").name, "video.mjpeg");
        assert_eq!(
            t("rtsp://127.0.0.1:8554/video.mjpeg/"),
            Target {
                name: "video.mjpeg".into(),
                track: false
            }
        );
        assert_eq!(
            t("RTSP://h/sub/video.mjpeg/track1"),
            Target {
                name: "sub/video.mjpeg".into(),
                track: true
            }
        );
        assert_eq!(t("movie.Mjpeg").name, "movie.Mjpeg");
        assert_eq!(t("/movie.Mjpeg").name, "movie.Mjpeg");
        assert_eq!(t("rtsp://h/my%20video.mjpeg?x=1").name, "my video.mjpeg");
        assert!(target("*").is_err());
        assert!(target("rtsp://h:1/").is_err());
        assert!(target("rtsp://h:1").is_err());
    }

    #[test]
    fn nothing_outside_the_root() {
        let root = std::env::temp_dir().join(format!("catalog-test-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.mjpeg"), b"x").unwrap();
        std::fs::write(root.join("notes.txt"), b"x").unwrap();
        for name in ["b.AVI", "c.mov", "d.Mp4", "e.mkv", "f.webm", "g.MJPG"] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        std::fs::write(root.join("g.MJPG.json"), b"{}").unwrap();
        assert_eq!(
            list(&root).unwrap(),
            ["b.AVI", "c.mov", "d.Mp4", "e.mkv", "f.webm", "g.MJPG"]
        );
        assert!(resolve(&root, "b.AVI").is_ok());
        assert!(matches!(
            resolve(&root, "g.MJPG.json"),
            Err(CatalogError::NotFound(_))
        ));
        assert!(matches!(
            resolve(&root, "notes.txt"),
            Err(CatalogError::NotFound(_))
        ));
        assert!(target("rtsp://h/a%00.mjpeg").is_err());
        assert!(target("rtsp://h/..%5c..%5cetc%5cpasswd").is_err());
        assert!(resolve(&root, "sub/a.mjpeg").is_ok());
        assert!(matches!(
            resolve(&root, "../etc/passwd"),
            Err(CatalogError::Outside(_))
        ));
        assert!(matches!(
            resolve(&root, "/etc/passwd"),
            Err(CatalogError::Outside(_))
        ));
        assert!(matches!(
            resolve(&root, "sub/../../x"),
            Err(CatalogError::Outside(_))
        ));
        assert!(matches!(
            resolve(&root, "nope.mjpeg"),
            Err(CatalogError::NotFound(_))
        ));
        assert!(matches!(
            resolve(&root, "sub"),
            Err(CatalogError::NotFound(_))
        ));
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("/etc", root.join("escape"));
            assert!(matches!(
                resolve(&root, "escape/passwd"),
                Err(CatalogError::Outside(_))
            ));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
