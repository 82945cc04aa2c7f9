//! Any JPEG in, correct RTP/JPEG out: every variant of `tests/peers/make_variants.sh`, over UDP
//! and TCP, to ffmpeg, GStreamer and our client. Frames sent as they are or re-coded without
//! loss must decode to exactly the source's pixels; re-encoded ones (and those whose tables
//! have no exact 8-bit form) must be at least as close to the source as ffmpeg's own
//! conversion of the file to yuvj420p at `-q:v 2`. Sizes that are not multiples of 8 arrive
//! padded to 8-pixel blocks at ffmpeg and GStreamer (the README says so), the padding past the
//! source's size aside the same pixels.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use image::RgbImage;
use server::media::{FrameClass, PreparedMedia};
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    AsIs,
    Lossless,
    Lossy,
}

/// Every variant, the class each of its frames must fall in, and the quantizer it was made
/// with (for ffmpeg's comparison conversion).
const VARIANTS: &[(&str, Class)] = &[
    ("small_420", Class::AsIs),
    ("hd_420", Class::AsIs),
    ("hd_422_ffmpeg", Class::Lossless),
    ("hd_422c", Class::AsIs),
    ("hd_444", Class::Lossy),
    ("small_444", Class::Lossy),
    ("small_gray", Class::Lossless),
    ("hd_opthuff", Class::Lossless),
    ("small_onetable", Class::AsIs),
    ("hd_dri", Class::AsIs),
    ("small_progressive", Class::Lossless),
    ("qhd_420", Class::AsIs),
    ("hd_big", Class::AsIs),
    ("fhd_huge", Class::AsIs),
    ("small_rgb", Class::Lossy),
    ("small_3tables", Class::Lossless),
    ("small_16bit", Class::Lossless),
    ("small_422_dri", Class::AsIs),
    ("small_cmyk", Class::Lossy),
    ("tiny_8x8", Class::AsIs),
    ("small_sizes", Class::AsIs),
    ("small_segments", Class::AsIs),
    ("small_trailing", Class::AsIs),
    ("uhd_420", Class::AsIs),
    ("odd_641x479", Class::AsIs),
    ("odd_17x9", Class::AsIs),
    ("small_arith_mixed", Class::AsIs),
    ("small_16bit_prime", Class::Lossless),
];

/// Variants whose frames of the class above cannot be converted exactly (16-bit tables with no
/// 8-bit divisor that fits baseline): held to ffmpeg's conversion, as lossy ones are.
const INEXACT: &[&str] = &["small_16bit_prime"];

/// Every fourth frame of small_arith_mixed is arithmetic-coded: skipped, the others play.
fn skipped(name: &str, frame: usize) -> bool {
    name == "small_arith_mixed" && frame % 4 == 3
}

/// Whether a variant's frames are held to ffmpeg's conversion rather than to exact pixels.
fn held_to_ffmpeg(name: &str, class: Class) -> bool {
    class == Class::Lossy || INEXACT.contains(&name)
}

/// The variants, generated once (cached under target/ across runs), or `None` when the tools
/// are missing (a loud skip, or a failure under REQUIRE_PEERS=1).
fn variants() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if !have_ffmpeg()
            || !peer_available(
                "libjpeg-turbo-progs",
                &["sh", "-c", "command -v cjpeg && command -v jpegtran"],
            )
        {
            return None;
        }
        Some(make_variants().unwrap())
    })
    .clone()
}

fn frames_of(name: &str) -> Vec<Vec<u8>> {
    read_plain_mjpeg(&variants().unwrap().join(format!("{name}.mjpeg")))
}

#[test]
fn every_variant_is_classified_as_expected() {
    let Some(dir) = variants() else { return };
    for &(name, class) in VARIANTS {
        let media = PreparedMedia::prepare(&dir.join(format!("{name}.mjpeg")), usize::MAX).unwrap();
        for (i, f) in media.frames.iter().enumerate() {
            let got = match f.class {
                FrameClass::Skipped(_) if skipped(name, i) => continue,
                FrameClass::AsIs { .. } => Class::AsIs,
                FrameClass::Lossless(_) => Class::Lossless,
                FrameClass::Lossy(_) => Class::Lossy,
                FrameClass::Skipped(ref why) => panic!("{name} frame {i} skipped: {why}"),
            };
            assert!(!skipped(name, i), "{name} frame {i} is not skipped");
            assert_eq!(got, class, "{name} frame {i}");
            assert!(
                media.convert_now(i).is_some(),
                "{name} frame {i} cannot be sent"
            );
        }
    }
}

/// Decoded source frames of a variant, computed once per variant; the frames the server
/// skips (which the decoder cannot read either) are left out.
fn decoded_source(name: &str) -> std::sync::Arc<Vec<RgbImage>> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Vec<RgbImage>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(d) = cache.lock().unwrap().get(name) {
        return d.clone();
    }
    let d = std::sync::Arc::new(
        frames_of(name)
            .iter()
            .enumerate()
            .filter(|(i, _)| !skipped(name, *i))
            .map(|(_, f)| decode_rgb(f))
            .collect::<Vec<_>>(),
    );
    cache.lock().unwrap().insert(name.to_string(), d.clone());
    d
}

/// Mean PSNR of ffmpeg's own conversion of the variant to yuvj420p at `-q:v 2` (finer than the
/// `-q:v 5` the variants were made with): the bar our lossy conversion must reach.
fn ffmpeg_conversion_psnr(name: &str) -> f64 {
    let out = scratch_dir("ffconv").join("out.mjpeg");
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
        .arg(variants().unwrap().join(format!("{name}.mjpeg")))
        .args([
            "-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "2", "-threads", "1", "-f", "mjpeg",
            "-y",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let src = decoded_source(name);
    let conv = read_plain_mjpeg(&out);
    let total: f64 = conv
        .iter()
        .zip(src.iter())
        .map(|(f, s)| psnr(&decode_rgb(f), s))
        .sum();
    total / conv.len() as f64
}

/// Checks one client's frames of one variant; returns the mean PSNR (inf when exact) and the
/// sizes the client's frames had.
fn check(client: &str, name: &str, class: Class, received: &[Vec<u8>]) -> (f64, Vec<(u32, u32)>) {
    let src = decoded_source(name);
    // Delivery under load is the interop tests' business; here every frame that arrives must
    // be right, and most must arrive.
    assert!(
        received.len() * 4 >= src.len() * 3,
        "{client} {name}: {} of {} frames",
        received.len(),
        src.len()
    );
    let mut total = 0.0;
    let mut sizes = Vec::new();
    for (n, f) in received.iter().enumerate() {
        let got = decode_rgb(f);
        if !sizes.contains(&got.dimensions()) {
            sizes.push(got.dimensions());
        }
        // Any source frame: under load a frame still being converted is skipped, not
        // waited for, so the received ones can be any number of frames behind the source's.
        let best = if held_to_ffmpeg(name, class) {
            src.iter()
                .map(|s| psnr_within_padding(&got, s))
                .fold(0.0, f64::max)
        } else {
            let exact = src.iter().any(|s| same_within_padding(&got, s));
            assert!(exact, "{client} {name} frame {n}: not the source's pixels");
            f64::INFINITY
        };
        total += best.min(99.0);
    }
    (total / received.len() as f64, sizes)
}

/// Whether `got` is `source`'s pixels (past the padding to 8-pixel blocks, if any): a byte
/// comparison, where a PSNR over every source frame of a 4K variant takes long.
fn same_within_padding(got: &RgbImage, source: &RgbImage) -> bool {
    let (w, h) = source.dimensions();
    match got.dimensions() {
        d if d == (w, h) => got.as_raw() == source.as_raw(),
        d if d == (w.div_ceil(8) * 8, h.div_ceil(8) * 8) => {
            image::imageops::crop_imm(got, 0, 0, w, h)
                .to_image()
                .as_raw()
                == source.as_raw()
        }
        _ => false,
    }
}

/// PSNR of `got` against `source`, `got` cropped to `source`'s size when it is that size
/// padded to 8-pixel blocks (RFC 2435 sends sizes in blocks); 0 for any other size.
fn psnr_within_padding(got: &RgbImage, source: &RgbImage) -> f64 {
    let (w, h) = source.dimensions();
    if got.dimensions() == (w, h) {
        return psnr(got, source);
    }
    if got.dimensions() != (w.div_ceil(8) * 8, h.div_ceil(8) * 8) {
        return 0.0;
    }
    psnr(
        &image::imageops::crop_imm(got, 0, 0, w, h).to_image(),
        source,
    )
}

/// Plays one variant with one client over one transport; returns the frames it received.
fn play(client: &str, transport: &str, url: &str) -> Vec<Vec<u8>> {
    match client {
        "ffmpeg" => ffmpeg_plays_url(url, transport, 3),
        "gstreamer" => gstreamer_plays(url, transport, 4),
        _ => {
            let rec = scratch_dir("variant").join("rec.mjpeg");
            let mut opts = client::Options::for_url(url).unwrap();
            opts.record = Some(rec.clone());
            opts.transport = if transport == "tcp" {
                client::TransportChoice::Tcp
            } else {
                client::TransportChoice::Udp
            };
            opts.duration = Some(5.0);
            client::headless::run(&opts).unwrap();
            read_plain_mjpeg(&rec)
        }
    }
}

/// Runs every variant x transport for one client, three at a time.
fn matrix(client: &str) {
    let Some(dir) = variants() else { return };
    // One client's matrix at a time: three of them at once starve two cores.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = start_server(&dir, |_| {});
    // Every conversion done before the clients play: this matrix checks what each client
    // gets of every kind of frame; keeping conversions ahead of playback on a loaded machine
    // is preparation_never_delays_play's and crates/server/tests/slow_conversion.rs's (and
    // BENCHMARKS.md's) business. Three decoding clients at once on two cores starve the
    // nice-10 conversion workers, and a frame not converted in time is skipped by design.
    for &(name, class) in VARIANTS {
        if class != Class::AsIs {
            // The path the server resolves a request to (canonical), which keys its cache.
            let path = server::catalog::resolve(&dir, &format!("{name}.mjpeg")).unwrap();
            let media = server.shared.cache.get(&path).unwrap();
            for i in 0..media.frames.len() {
                media.convert_now(i);
            }
        }
    }
    let jobs: Vec<(&str, Class, &str)> = VARIANTS
        .iter()
        // ffmpeg reads neither a=x-dimensions nor anything else that says the size above
        // 2040 px: it cannot receive such streams from any server (documented in the README).
        .filter(|(name, _)| !(client == "ffmpeg" && ["qhd_420", "uhd_420"].contains(name)))
        .flat_map(|&(n, c)| ["udp", "tcp"].map(move |t| (n, c, t)))
        .collect();
    let jobs = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let Some((name, class, transport)) = jobs.lock().unwrap().pop() else {
                    return;
                };
                let received = play(client, transport, &url(&server, &format!("{name}.mjpeg")));
                let (p, sizes) = check(client, name, class, &received);
                results
                    .lock()
                    .unwrap()
                    .push((name, class, transport, received.len(), p, sizes));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)));
    for (name, class, transport, n, p, sizes) in &results {
        eprintln!(
            "{client} {transport} {name}: {n} frames, {class:?}, mean PSNR {p:.2} dB, sizes {sizes:?}"
        );
        // What the README says other clients show for sizes that are not multiples of 8: the
        // picture padded to 8-pixel blocks. (Ours crops it: crates/client/tests.)
        if let Some(padded) = match *name {
            "odd_641x479" => Some((648, 480)),
            "odd_17x9" => Some((24, 16)),
            _ => None,
        } {
            if client != "ours" {
                assert_eq!(sizes, &[padded], "{client} {transport} {name}");
            }
        }
        if held_to_ffmpeg(name, *class) {
            let bar = ffmpeg_conversion_psnr(name);
            eprintln!("  ffmpeg's own conversion: {bar:.2} dB");
            assert!(
                *p >= bar,
                "{client} {transport} {name}: {p:.2} dB, ffmpeg's conversion {bar:.2} dB"
            );
        }
    }
}

#[test]
fn variants_to_our_client() {
    matrix("ours");
}

#[test]
fn variants_to_ffmpeg() {
    matrix("ffmpeg");
}

#[test]
fn variants_to_gstreamer() {
    if have_gstreamer() {
        matrix("gstreamer");
    }
}

#[test]
fn preparation_never_delays_play() {
    let Some(dir) = variants() else { return };
    for name in ["fhd_huge", "hd_444", "hd_opthuff"] {
        let server = start_server(&dir, |_| {});
        let url = url(&server, &format!("{name}.mjpeg"));
        let mut c = RtspConn::connect(server.addr);
        let (rtp, _rtcp) = udp_pair();
        let port = rtp.local_addr().unwrap().port();
        let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = c.request("SETUP", &format!("{url}/track1"), &[("Transport", &t)]);
        let id = r.headers.get("Session").unwrap().to_string();
        let r = c.request("PLAY", &url, &[("Session", &id)]);
        let replied = Instant::now();
        assert_eq!(r.status.0, 200);
        let got = receive_for(&rtp, Duration::from_secs(2), |g| !g.is_empty());
        let delay = got.first().expect("no packet").0 - replied;
        eprintln!(
            "{name}: first RTP packet {:.1} ms after the PLAY reply",
            delay.as_secs_f64() * 1000.0
        );
        assert!(delay < Duration::from_millis(200), "{name}: {delay:?}");
    }
}
