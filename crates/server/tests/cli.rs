//! What the server binary says when started wrong, and how `--prepare` reports into a file.

use std::process::Command;

fn server(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .output()
        .expect("the server binary")
}

#[test]
fn a_file_given_as_the_videos_directory_is_named_as_a_file() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../videos/video.mjpeg");
    let o = server(&["--videos", file, "--no-http", "0"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is a file"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
    let missing = server(&["--videos", "/nonexistent/videos", "--no-http", "0"]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn a_frame_rate_out_of_range_says_what_it_takes() {
    let o = server(&["--fps", "0", "--no-http", "0"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("above 0 and at most 1000, got 0"), "{err}");
}

#[test]
fn prepare_draws_no_progress_bar_into_a_pipe() {
    let videos = concat!(env!("CARGO_MANIFEST_DIR"), "/../../videos");
    let o = server(&["--prepare", "--no-cache-dir", "--videos", videos]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains('\r') && !err.contains("[###"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("video.mjpeg: 400 frames"), "{out}");
    assert!(out.contains("HLS/DASH 288p 384x288: 11 segments"), "{out}");
}
