//! Real players against our server: ffmpeg and GStreamer over UDP must receive at least 95% of
//! the frames sent, each bit-exact: its entropy-coded data equal to the source frame's, and the
//! headers their depayloaders rebuilt (size, sampling, quantization tables) equal too.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtsp_proto::jpeg::JpegInfo;
use support::*;

/// Runs a command, killing it if it outlives `limit`.
fn run(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Matches every received frame to a source frame; returns the matched source indices in
/// arrival order. Panics on any frame that is not bit-exact.
fn match_frames(received: &[Vec<u8>], source: &[Vec<u8>]) -> Vec<usize> {
    let by_scan: HashMap<Vec<u8>, usize> = source
        .iter()
        .enumerate()
        .map(|(i, f)| (scan_data(f).unwrap(), i))
        .collect();
    received
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let got =
                JpegInfo::parse(f).unwrap_or_else(|e| panic!("received frame {n} unparsable: {e}"));
            let i = *by_scan
                .get(&f[got.scan_data.clone()])
                .unwrap_or_else(|| panic!("received frame {n} matches no source frame"));
            let want = JpegInfo::parse(&source[i]).unwrap();
            assert_eq!(
                (got.width, got.height),
                (want.width, want.height),
                "frame {n}"
            );
            assert_eq!(
                (got.components[0].h, got.components[0].v),
                (want.components[0].h, want.components[0].v)
            );
            let q = |info: &JpegInfo, c: usize| {
                info.quant_tables[info.components[c].tq as usize].clone()
            };
            assert_eq!(q(&got, 0), q(&want, 0), "luma table of frame {n}");
            assert_eq!(q(&got, 1), q(&want, 1), "chroma table of frame {n}");
            i
        })
        .collect()
}

/// At least 95% of the frames sent between the first and last one received arrived, over a
/// span of at least `min_span` frames.
fn assert_delivery(client: &str, indices: &[usize], min_span: usize) {
    assert!(!indices.is_empty(), "{client} received no frame");
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{client}: frames out of order or repeated"
    );
    let span = indices.last().unwrap() - indices.first().unwrap() + 1;
    eprintln!(
        "{client}: {} of {span} frames sent in the window, all bit-exact",
        indices.len()
    );
    assert!(
        span >= min_span,
        "{client}: only {span} frames of streaming observed"
    );
    assert!(
        indices.len() * 100 >= span * 95,
        "{client}: {} of {span} frames",
        indices.len()
    );
}

fn read_frames(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn ffmpeg_plays_our_server_over_udp_bit_exact() {
    if !have_ffmpeg() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let out = scratch_dir("ffmpeg-udp").join("out.mjpeg");
    let o = run(
        Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "warning",
                "-rtsp_transport",
                "udp",
                "-i",
            ])
            .arg(url(&server, "video.mjpeg"))
            .args(["-t", "5", "-c", "copy", "-f", "mjpeg", "-y"])
            .arg(&out),
        Duration::from_secs(30),
    );
    assert!(
        o.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let data = std::fs::read(&out).unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, 1 << 20).unwrap();
    assert_eq!(idx.warning, None);
    let received: Vec<Vec<u8>> = idx
        .frames
        .iter()
        .map(|r| data[r.clone()].to_vec())
        .collect();
    let indices = match_frames(&received, &sample_frames());
    assert_delivery("ffmpeg", &indices, 80);
}

#[test]
fn gstreamer_plays_our_server_over_udp_bit_exact() {
    if !have_gstreamer() {
        return;
    }
    let server = start_server(&videos_dir(), |_| {});
    let dir = scratch_dir("gst-udp");
    let pipeline = format!(
        "rtspsrc location={} protocols=udp ! rtpjpegdepay ! tee name=t ! queue ! jpegdec ! fakesink t. ! queue ! multifilesink location={}/f%05d.jpg",
        url(&server, "video.mjpeg"),
        dir.display()
    );
    // SIGINT with -e makes gst-launch send EOS, so every depayloaded frame reaches the sink.
    let o = run(
        Command::new("timeout")
            .args(["-s", "INT", "7", "gst-launch-1.0", "-e"])
            .args(pipeline.split(' ')),
        Duration::from_secs(30),
    );
    let log = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        !log.contains("ERROR"),
        "gst-launch reported an error:\n{log}"
    );
    let received = read_frames(&dir);
    let indices = match_frames(&received, &sample_frames());
    assert_delivery("gstreamer", &indices, 80);
}
