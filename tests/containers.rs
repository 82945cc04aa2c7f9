//! Each file at its own frame rate: Motion-JPEG in AVI (ffmpeg's and OpenCV's), MOV, MP4 and
//! MKV, made here at 25 fps while the server's `--fps` stays at its default 20, must be
//! described at 25 fps with their own length, and ffmpeg must receive every source frame
//! bit-exact, one every 1/25 s of media time. A `.mjpeg` takes its rate from its sidecar
//! `NAME.mjpeg.json`. Hostile and cut-short containers get a clear error and do not stop the
//! server serving the others.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::http::{http_get, HttpConn};
use support::*;

/// The clips' rate and length: 50 frames.
const FPS: u32 = 25;
const SECONDS: u32 = 2;
/// RTP/JPEG's 90 kHz clock over 25 fps.
const TICKS_PER_FRAME: i64 = 90_000 / FPS as i64;

/// Runs ffmpeg quietly with `args` (at most a minute); panics with its errors if it fails.
fn ffmpeg(what: &str, args: &mut dyn FnMut(&mut Command) -> &mut Command) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    let o = run(args(&mut cmd), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "ffmpeg ({what}): {stderr}");
}

/// `ffmpeg -f lavfi -i testsrc ... -c:v mjpeg DIR/clip.EXT`, in 4:2:0: ffmpeg's encoder
/// would pick 4:4:4 for testsrc's RGB, which the server converts with loss (RFC 2435 has no
/// 4:4:4), and then no received frame could be compared pixel for pixel.
fn ffmpeg_clip(dir: &Path, ext: &str) -> PathBuf {
    let path = dir.join(format!("clip.{ext}"));
    let source = format!("testsrc=size=320x240:rate={FPS}");
    ffmpeg("making a clip", &mut |c| {
        c.args(["-f", "lavfi", "-i", &source, "-t", &SECONDS.to_string()])
            .args(["-c:v", "mjpeg", "-q:v", "4", "-pix_fmt", "yuvj420p"])
            .arg(&path)
    });
    path
}

/// The venv .ci/run makes for OpenCV (tests/python/requirements.txt).
fn opencv_python() -> Option<PathBuf> {
    let python = repo_root().join("tests/python/.venv/bin/python");
    let probe = [python.to_str().unwrap(), "-c", "import cv2"];
    peer_available("OpenCV in tests/python/.venv (see .ci/run)", &probe).then_some(python)
}

/// A file's frames as ffmpeg itself finds them in the container (`-c copy`).
fn source_frames(file: &Path, out: &Path) -> Vec<Vec<u8>> {
    let out = out.join("source.mjpeg");
    ffmpeg("extracting the source frames", &mut |c| {
        c.arg("-i")
            .arg(file)
            .args(["-c", "copy", "-f", "mjpeg"])
            .arg(&out)
    });
    read_plain_mjpeg(&out)
}

/// DESCRIBE's SDP for `name`.
fn describe(server: &server::ServerHandle, name: &str) -> String {
    let mut conn = RtspConn::connect(server.addr);
    let r = conn.request(
        "DESCRIBE",
        &url(server, name),
        &[("Accept", "application/sdp")],
    );
    assert_eq!(r.status.0, 200, "DESCRIBE {name}: {r:?}");
    String::from_utf8(r.body).unwrap()
}

/// What `/api/videos` says of each video, by name.
fn api_videos(
    server: &server::ServerHandle,
) -> std::collections::HashMap<String, serde_json::Value> {
    let r = http_get(server.http_addr.unwrap(), "/api/videos");
    let api: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let list = api["videos"].as_array().unwrap().iter();
    list.map(|v| (v["name"].as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// What ffmpeg received over interleaved TCP: the frames, and each one's pts in 90 kHz
/// ticks (from `-f framemd5` of the same packets).
fn ffmpeg_receives(url: &str, dir: &Path) -> (Vec<Vec<u8>>, Vec<i64>) {
    let frames = dir.join("received.mjpeg");
    let md5 = dir.join("received.framemd5");
    ffmpeg(url, &mut |c| {
        c.args(["-rtsp_transport", "tcp", "-i", url, "-t", "10"])
            .args(["-map", "0", "-c", "copy", "-f", "mjpeg"])
            .arg(&frames)
            .args(["-map", "0", "-c", "copy", "-f", "framemd5"])
            .arg(&md5)
    });
    let text = std::fs::read_to_string(&md5).unwrap();
    assert!(text.contains("#tb 0: 1/90000"), "{text}");
    // Lines: stream, dts, pts, duration, size, md5.
    let pts = (text.lines())
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').nth(2).unwrap().trim().parse().unwrap())
        .collect();
    (read_plain_mjpeg(&frames), pts)
}

/// The whole check for one file in `dir`: DESCRIBE at 25 fps and the file's length, /api
/// saying where the rate came from, and ffmpeg receiving the source frames bit-exact at
/// 1/25 s of media time apart.
fn plays_at_its_own_rate(dir: &Path, name: &str, source: &str) {
    let server = start_server(dir, |c| c.http = server::http::HttpListen::Port(0));
    let file = dir.join(name);
    // ffmpeg's outputs go elsewhere: in `dir` they would be served too.
    let out = scratch_dir("containers-out");
    let source_frames = source_frames(&file, &out);
    let n = source_frames.len();
    assert_eq!(n, (FPS * SECONDS) as usize, "{name}: frames in the source");
    let sdp = describe(&server, name);
    assert!(sdp.contains("a=framerate:25\r\n"), "{name}:\n{sdp}");
    let range = format!("a=range:npt=0-{:.3}\r\n", n as f64 / f64::from(FPS));
    assert!(sdp.contains(&range), "{name}: no {range:?} in\n{sdp}");

    let api = api_videos(&server);
    assert_eq!(api.len(), 1, "{api:?}");
    let video = &api[name];
    assert_eq!(video["fps"], 25.0, "{video}");
    assert_eq!(video["fps_source"], source, "{video}");
    assert_eq!(video["duration"], 2.0, "{video}");

    // The snapshot at t = 1.02 s is frame 25 at the file's 25 fps (frame 20 at --fps's 20).
    let snapshot = http_get(
        server.http_addr.unwrap(),
        &format!("/videos/{name}/frame.jpg?t=1.02"),
    );
    assert_eq!(snapshot.status, 200, "{name}: frame.jpg");
    assert_eq!(
        match_pictures(name, &[snapshot.body], &source_frames),
        [25],
        "{name}: the snapshot at 1.02 s"
    );

    // Motion-JPEG over HTTP from 1.6 s: frames 40 to 49 (32 to 49 at --fps's 20), then the end.
    let mut http = HttpConn::connect(server.http_addr.unwrap());
    let r = http.request("GET", &format!("/videos/{name}/mjpeg?start=1.6"), &[]);
    assert_eq!(r.status, 200, "{name}: mjpeg");
    let content_type = r.header("Content-Type").unwrap();
    let boundary = content_type.split("boundary=").nth(1).unwrap().to_string();
    let parts: Vec<Vec<u8>> = std::iter::from_fn(|| http.next_part(&boundary).map(|p| p.1))
        .take(n)
        .collect();
    let want: Vec<usize> = (40..n).collect();
    assert_eq!(
        match_pictures(name, &parts, &source_frames),
        want,
        "{name}: mjpeg?start=1.6"
    );

    let (received, pts) = ffmpeg_receives(&url(&server, name), &out);
    let indices = match_pictures(name, &received, &source_frames);
    eprintln!(
        "{name}: ffmpeg received {} of {n} frames, each pixel for pixel a source frame",
        received.len()
    );
    assert!(
        received.len() * 100 >= n * 95,
        "{name}: {} of {n} frames",
        received.len()
    );
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "{name}: order {indices:?}"
    );
    assert_eq!(
        pts.len(),
        indices.len(),
        "{name}: framemd5 and mjpeg outputs differ"
    );
    for (k, (&i, &t)) in indices.iter().zip(&pts).enumerate() {
        let want = (i as i64 - indices[0] as i64) * TICKS_PER_FRAME;
        let got = t - pts[0];
        assert!(
            (got - want).abs() <= 1,
            "{name}: frame {k} (source {i}) at pts {got}, want {want}"
        );
    }
}

/// The source frame each received frame shows, pixel for pixel. Pixels, not bytes: ffmpeg's
/// encoder writes optimized Huffman tables, which RFC 2435 cannot carry, so the server
/// re-codes those frames losslessly (the same coefficients under the standard tables).
fn match_pictures(name: &str, received: &[Vec<u8>], source: &[Vec<u8>]) -> Vec<usize> {
    let by_pixels: std::collections::HashMap<Vec<u8>, usize> = (source.iter().enumerate())
        .map(|(i, f)| (decode_rgb(f).into_raw(), i))
        .collect();
    assert_eq!(
        by_pixels.len(),
        source.len(),
        "{name}: source frames are not all different"
    );
    (received.iter().enumerate())
        .map(|(k, f)| {
            let pixels = decode_rgb(f).into_raw();
            *by_pixels.get(&pixels).unwrap_or_else(|| {
                panic!("{name}: received frame {k} is no source frame pixel for pixel")
            })
        })
        .collect()
}

fn ffmpeg_container(ext: &str) {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch_dir(&format!("containers-{ext}"));
    let path = ffmpeg_clip(&dir, ext);
    plays_at_its_own_rate(
        &dir,
        path.file_name().unwrap().to_str().unwrap(),
        "container",
    );
}

#[test]
fn an_avi_from_ffmpeg_plays_at_its_own_rate() {
    ffmpeg_container("avi");
}

#[test]
fn a_mov_from_ffmpeg_plays_at_its_own_rate() {
    ffmpeg_container("mov");
}

#[test]
fn an_mp4_from_ffmpeg_plays_at_its_own_rate() {
    ffmpeg_container("mp4");
}

#[test]
fn an_mkv_from_ffmpeg_plays_at_its_own_rate() {
    ffmpeg_container("mkv");
}

#[test]
fn an_avi_from_opencv_plays_at_its_own_rate() {
    if !have_ffmpeg() {
        return;
    }
    let Some(python) = opencv_python() else {
        return;
    };
    let dir = scratch_dir("containers-opencv");
    let path = dir.join("lab.AVI");
    let o = run(
        Command::new(python)
            .arg(repo_root().join("tests/python/write_avi.py"))
            .arg(&path)
            .args([FPS.to_string(), (FPS * SECONDS).to_string()])
            .args(["320", "240"]),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "write_avi.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    plays_at_its_own_rate(&dir, "lab.AVI", "container");
}

/// The RTP timestamps of the frames received on `rtp` (their marker packets) until `n` have come.
fn frame_timestamps(rtp: &std::net::UdpSocket, n: usize) -> Vec<u32> {
    let packets = receive_for(rtp, Duration::from_secs(20), |got| {
        got.iter().filter(|(_, p)| p[1] & 0x80 != 0).count() >= n
    });
    (packets.iter())
        .filter(|(_, p)| p.len() >= 12 && p[1] & 0x80 != 0)
        .map(|(_, p)| u32::from_be_bytes([p[4], p[5], p[6], p[7]]))
        .collect()
}

#[test]
fn a_sidecar_gives_a_mjpeg_its_rate_and_a_bad_one_the_default() {
    let dir = scratch_dir("containers-sidecar");
    let frames: Vec<Vec<u8>> = sample_frames().into_iter().take(50).collect();
    for name in ["paced.mjpeg", "plain.mjpeg", "broken.mjpeg"] {
        std::fs::write(dir.join(name), frames.concat()).unwrap();
    }
    std::fs::write(dir.join("paced.mjpeg.json"), br#"{"fps": 25}"#).unwrap();
    std::fs::write(dir.join("broken.mjpeg.json"), b"{\"fps\": \"fast\"}").unwrap();
    let server = start_server(&dir, |c| c.http = server::http::HttpListen::Port(0));
    for (name, sdp_rate, range) in [
        ("paced.mjpeg", "25", "2.000"),
        ("plain.mjpeg", "20", "2.500"),
        ("broken.mjpeg", "20", "2.500"),
    ] {
        let sdp = describe(&server, name);
        assert!(
            sdp.contains(&format!("a=framerate:{sdp_rate}\r\n")),
            "{name}:\n{sdp}"
        );
        assert!(
            sdp.contains(&format!("a=range:npt=0-{range}\r\n")),
            "{name}:\n{sdp}"
        );
    }
    let api = api_videos(&server);
    let source = |name: &str| {
        let v = api.get(name)?;
        Some((v["fps"].as_f64()?, v["fps_source"].as_str()?.to_string()))
    };
    assert_eq!(
        source("paced.mjpeg"),
        Some((25.0, "sidecar".into())),
        "{api:?}"
    );
    assert_eq!(
        source("broken.mjpeg"),
        Some((20.0, "default".into())),
        "{api:?}"
    );
    assert_eq!(
        source("paced.mjpeg.json"),
        None,
        "a sidecar is no video: {api:?}"
    );

    // The session is paced by the sidecar's rate: consecutive frames 1/25 s apart in RTP time.
    let playing = describe_setup_play(server.addr, &url(&server, "paced.mjpeg"));
    let stamps = frame_timestamps(&playing.rtp, 10);
    assert!(stamps.len() >= 10, "{} frames received", stamps.len());
    for w in stamps.windows(2) {
        assert_eq!(
            w[1].wrapping_sub(w[0]),
            TICKS_PER_FRAME as u32,
            "{stamps:?}"
        );
    }
}

#[test]
fn hostile_containers_get_clear_errors_and_the_other_files_still_play() {
    let dir = scratch_dir("containers-hostile");
    let frames: Vec<Vec<u8>> = sample_frames().into_iter().take(20).collect();
    std::fs::write(dir.join("good.mjpeg"), frames.concat()).unwrap();
    let riff = |body: &[u8]| {
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        v
    };
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "cut.avi",
            riff(b"AVI LIST\x40\0\0\0hdrlavih"),
            "AVI file: at byte ",
        ),
        (
            "huge.avi",
            riff(b"AVI LIST\xff\xff\xff\xffhdrl"),
            "AVI file: at byte ",
        ),
        (
            "nomoov.mp4",
            [&b"\0\0\0\x10ftypisom\0\0\0\0"[..], b"\0\0\0\x08mdat"].concat(),
            "MP4/MOV file: at byte 0: no moov box",
        ),
        (
            "zero.mov",
            [&b"\0\0\0\x10moov"[..], b"\0\0\0\0trak"].concat(),
            "MP4/MOV file: at byte 8: trak has no mdia box",
        ),
        (
            "bad.mkv",
            vec![0x1a, 0x45, 0xdf, 0xa3, 0x00],
            "Matroska file: at byte 4",
        ),
    ];
    for (name, bytes, _) in &cases {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let server = start_server(&dir, |c| c.http = server::http::HttpListen::Port(0));
    for (name, _, _) in &cases {
        let mut conn = RtspConn::connect(server.addr);
        let r = conn.request("DESCRIBE", &url(&server, name), &[]);
        assert_eq!(r.status.0, 415, "{name}: {r:?}");
        conn.assert_still_usable();
    }
    let api = api_videos(&server);
    for (name, _, error) in &cases {
        let got = api
            .get(*name)
            .and_then(|v| v["error"].as_str())
            .unwrap_or_default();
        assert!(got.contains(error), "{name}: error {got:?}, want {error:?}");
    }
    // The good file plays on, all of it.
    let playing = describe_setup_play(server.addr, &url(&server, "good.mjpeg"));
    assert_eq!(frame_timestamps(&playing.rtp, 20).len(), 20);
}

#[test]
fn recordings_cut_short_play_the_frames_they_have() {
    if !have_ffmpeg() {
        return;
    }
    let dir = scratch_dir("containers-cut");
    let made = scratch_dir("containers-cut-src");
    // A recording that stopped mid-way: AVI without its idx1, MKV inside a Cluster, an MP4
    // whose moov comes first (faststart) cut inside mdat, and a MOV whose moov, written
    // last, never was.
    let faststart = made.join("fast.mp4");
    ffmpeg("an MP4 with its moov first", &mut |c| {
        c.arg("-i")
            .arg(ffmpeg_clip(&made, "mov"))
            .args(["-c", "copy", "-movflags", "+faststart"])
            .arg(&faststart)
    });
    let sources = [
        ("cut.avi", ffmpeg_clip(&made, "avi")),
        ("cut.mkv", ffmpeg_clip(&made, "mkv")),
        ("cut.mp4", faststart),
        ("cut.mov", made.join("clip.mov")),
    ];
    for (name, source) in &sources {
        let data = std::fs::read(source).unwrap();
        std::fs::write(dir.join(name), &data[..data.len() * 6 / 10]).unwrap();
    }
    let server = start_server(&dir, |c| c.http = server::http::HttpListen::Port(0));
    let api = api_videos(&server);
    let video = |name: &str| {
        api.get(name)
            .unwrap_or_else(|| panic!("{name} not listed: {api:?}"))
    };
    for name in ["cut.avi", "cut.mkv", "cut.mp4"] {
        let v = video(name);
        let frames = v["frames"].as_u64().unwrap();
        assert!((25..=35).contains(&frames), "{name}: {frames} frames: {v}");
        assert_eq!(v["fps"], 25.0, "{name}: {v}");
        let sdp = describe(&server, name);
        let range = format!("a=range:npt=0-{:.3}\r\n", frames as f64 / 25.0);
        assert!(sdp.contains(&range), "{name}: no {range:?} in\n{sdp}");
        let playing = describe_setup_play(server.addr, &url(&server, name));
        let stamps = frame_timestamps(&playing.rtp, frames as usize);
        assert_eq!(stamps.len() as u64, frames, "{name}: frames received");
    }
    let mov = video("cut.mov");
    let error = mov["error"].as_str().unwrap_or_default();
    assert!(error.contains("no moov box"), "cut.mov: {mov}");
}
