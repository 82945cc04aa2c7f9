//! Faults in files: a corrupt frame in the middle is skipped and the rest streams; a file
//! deleted or replaced while streaming disturbs no session (each plays what it opened, new
//! sessions get the new file).

mod support;

use std::time::Duration;

use support::*;

fn write_lab(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    for f in frames {
        rtsp_proto::mjpeg::write_lab_frame(&mut out, f).unwrap();
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_corrupt_frame_is_skipped_and_the_rest_plays() {
    let dir = scratch_dir("corrupt");
    let mut frames: Vec<Vec<u8>> = sample_frames().into_iter().take(20).collect();
    // Frame 7 loses its SOI: not a JPEG at all.
    frames[7][1] = 0x00;
    write_lab(&dir.join("c.mjpeg"), &frames);
    let server = start_server(&dir, |_| {});
    let rec = dir.join("rec.mjpeg");
    let mut opts = client::Options::for_url(&url(&server, "c.mjpeg")).unwrap();
    opts.record = Some(rec.clone());
    let stats = client::headless::run(&opts).unwrap();
    let received = read_plain_mjpeg(&rec);
    let indices = match_frames(&received, &sample_frames());
    assert_eq!(indices, (0..20).filter(|&i| i != 7).collect::<Vec<_>>());
    assert_eq!(
        (stats.packets_lost, stats.frames_dropped),
        (0, 0),
        "a skipped frame is not a lost one"
    );
}

#[test]
fn a_file_deleted_or_replaced_while_streaming_disturbs_no_session() {
    let dir = scratch_dir("replace");
    let path = dir.join("v.mjpeg");
    let source = sample_frames();
    write_lab(&path, &source[..200]);
    let server = start_server(&dir, |_| {});
    let url = url(&server, "v.mjpeg");
    let a = describe_setup_play(server.addr, &url);
    let first = receive_for(&a.rtp, Duration::from_millis(500), |_| false);
    assert!(!first.is_empty());
    // Deleted: the playing session goes on.
    std::fs::remove_file(&path).unwrap();
    let during = receive_for(&a.rtp, Duration::from_millis(500), |_| false);
    assert!(
        during.len() > 20,
        "the session stalled after the file was deleted"
    );
    let mut c = RtspConn::connect(server.addr);
    assert_eq!(c.request("DESCRIBE", &url, &[]).status.0, 404);
    // Replaced by a different, shorter file: a new session gets the new one, the old goes on.
    write_lab(&path, &source[300..310]);
    let r = c.request("DESCRIBE", &url, &[]);
    assert_eq!(r.status.0, 200);
    assert!(
        String::from_utf8_lossy(&r.body).contains("a=range:npt=0-0.500"),
        "new file not picked up"
    );
    let after = receive_for(&a.rtp, Duration::from_millis(500), |_| false);
    assert!(
        after.len() > 20,
        "the first session stalled after the file was replaced"
    );
}
