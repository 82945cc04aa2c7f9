//! Our H.264 encoder against x264 on the same frames (issue 17): encode speed, bitrate and
//! PSNR, and the bitrate x264 needs for the PSNR ours reaches.
//!
//! `cargo bench -p h264 --bench vs_x264 -- --clip FILE.mjpeg [--rates 1000000,2000000,4000000]
//! [--x264-rates 250000,...] [--rounds 3] [--fps 20] [--gop 40] [--out DIR] [--variants crate]`
//! (benches/h264_vs_x264.sh runs it on both clips).
//!
//! The clip's JPEGs are decoded once with `Yuv420::from_jpeg` (the full-range planes our encoder
//! takes) and written as one raw yuv420p file. Ours encodes the planes from memory, one thread
//! (OpenH264 with one slice uses one); x264 is ffmpeg reading that file, `-c:v libx264 -preset
//! veryfast -threads 1 -b:v RATE -g GOP` (the GOP ours has: 40 frames, a closed GOP each). Each
//! round runs ours and x264 in turn at each rate, the order swapped every round, so both see the
//! same machine in the same minutes. Speed is frames over wall time (and over user+system CPU);
//! for x264 also net of an ffmpeg run that reads the same file and encodes nothing (the floor).
//! Both streams are decoded by ffmpeg to raw planes (no range conversion: ours decodes as
//! yuvj420p, x264's as yuv420p, the same bytes either way) and compared with the source planes:
//! PSNR per plane from the mean squared error over all frames, and the average ffmpeg's psnr
//! filter prints (the planes' MSE weighted by their sizes, 4:1:1); ffmpeg's own figure is
//! printed beside ours as a check.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use h264::{H264Encoder, Settings, Yuv420};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode,
    UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

struct Opts {
    clip: PathBuf,
    rates: Vec<u32>,
    x264_rates: Vec<u32>,
    rounds: usize,
    fps: f64,
    gop: u32,
    out: PathBuf,
    variants: Vec<String>,
}

fn list(s: &str) -> Vec<u32> {
    s.split(',')
        .map(|r| r.trim().parse().expect("a bitrate in bits per second"))
        .collect()
}

fn opts() -> Opts {
    let mut o = Opts {
        clip: PathBuf::new(),
        rates: vec![1_000_000, 2_000_000, 4_000_000],
        x264_rates: vec![],
        rounds: 3,
        fps: 20.0,
        gop: 40,
        out: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/h264-bench"
        )),
        variants: vec!["crate".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--clip" => o.clip = value().into(),
            "--rates" => o.rates = list(&value()),
            "--x264-rates" => o.x264_rates = list(&value()),
            "--rounds" => o.rounds = value().parse().unwrap(),
            "--fps" => o.fps = value().parse().unwrap(),
            "--gop" => o.gop = value().parse().unwrap(),
            "--out" => o.out = value().into(),
            "--variants" => o.variants = value().split(',').map(String::from).collect(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!o.clip.as_os_str().is_empty(), "--clip FILE.mjpeg");
    if o.x264_rates.is_empty() {
        // x264 needs less for the same PSNR: its curve must reach below ours to interpolate.
        let low = o.rates[0];
        o.x264_rates = [low / 4, low / 2]
            .into_iter()
            .chain(o.rates.clone())
            .collect();
    }
    o
}

/// User plus system CPU seconds of this process (`RUSAGE_SELF`) or of its reaped children.
fn cpu(who: libc::c_int) -> f64 {
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(who, &mut r) }, 0);
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

/// Wall and CPU seconds of one run.
#[derive(Clone, Copy)]
struct Time {
    wall: f64,
    cpu: f64,
}

/// The encoder under test: the crate's own, or OpenH264 configured as the crate does plus the
/// changes a variant names (`+`-separated: low, high, nonrt, screen, noaq, bg, noscd,
/// quality, ltr, t1), to see what EncoderConfig could buy.
enum Ours {
    Crate(Box<H264Encoder>),
    Raw {
        enc: Box<Encoder>,
        gop: u64,
        fps: f64,
        n: u64,
    },
}

impl Ours {
    fn new(variant: &str, s: Settings) -> Ours {
        if variant == "crate" {
            return Ours::Crate(Box::new(H264Encoder::new(s).unwrap()));
        }
        // The config of H264Encoder::new, then the variant's changes.
        let mut c = EncoderConfig::new()
            .bitrate(BitRate::from_bps(s.bitrate))
            .max_frame_rate(FrameRate::from_hz(s.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .intra_frame_period(IntraFramePeriod::from_num_frames(s.gop))
            .skip_frames(false)
            .background_detection(false)
            .vui(VuiConfig::bt601().full_range(true));
        for part in variant.split('+') {
            c = match part {
                "base" => c,
                "low" => c.complexity(Complexity::Low),
                "high" => c.complexity(Complexity::High),
                "nonrt" => c.usage_type(UsageType::CameraVideoNonRealTime), // refused by OpenH264 2.x
                "screen" => c.usage_type(UsageType::ScreenContentRealTime),
                "noaq" => c.adaptive_quantization(false),
                "bg" => c.background_detection(true),
                "noscd" => c.scene_change_detect(false),
                "quality" => c.rate_control_mode(RateControlMode::Quality),
                "ltr" => c.long_term_reference(true),
                "t1" => c.num_threads(1),
                other => panic!("unknown variant part {other}"),
            };
        }
        let enc = Encoder::with_api_config(OpenH264API::from_source(), c).unwrap();
        Ours::Raw {
            enc: Box::new(enc),
            gop: u64::from(s.gop),
            fps: s.fps,
            n: 0,
        }
    }

    fn encode(&mut self, p: &Yuv420, out: &mut Vec<u8>) {
        match self {
            Ours::Crate(e) => out.extend_from_slice(&e.encode(p).unwrap().annex_b),
            Ours::Raw { enc, gop, fps, n } => {
                if n.is_multiple_of(*gop) {
                    enc.force_intra_frame();
                }
                let src = YUVSlices::new(
                    (&p.y, &p.u, &p.v),
                    (p.width, p.height),
                    (p.width, p.width / 2, p.width / 2),
                );
                let ms = (*n as f64 * 1000.0 / *fps) as u64;
                let bs = enc
                    .encode_at(&src, openh264::Timestamp::from_millis(ms))
                    .unwrap();
                bs.write_vec(out);
                *n += 1;
            }
        }
    }
}

/// Encodes decoded planes (the encoder alone); the stream and its times.
fn ours_encode(variant: &str, s: Settings, frames: &[Yuv420]) -> (Vec<u8>, Time) {
    let mut enc = Ours::new(variant, s);
    let mut out = Vec::with_capacity(frames.len() * 64 * 1024);
    let (c0, t0) = (cpu(libc::RUSAGE_SELF), Instant::now());
    for p in frames {
        enc.encode(p, &mut out);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu(libc::RUSAGE_SELF) - c0;
    (out, Time { wall, cpu })
}

/// Decodes each JPEG and encodes it: what the server does per frame.
fn ours_with_decode(s: Settings, jpegs: &[&[u8]]) -> (usize, Time) {
    let mut enc = Ours::new("crate", s);
    let mut out = Vec::with_capacity(jpegs.len() * 64 * 1024);
    let (c0, t0) = (cpu(libc::RUSAGE_SELF), Instant::now());
    for j in jpegs {
        enc.encode(&Yuv420::from_jpeg(j).unwrap(), &mut out);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu(libc::RUSAGE_SELF) - c0;
    (out.len(), Time { wall, cpu })
}

fn run(cmd: &mut Command) -> Time {
    let (c0, t0) = (cpu(libc::RUSAGE_CHILDREN), Instant::now());
    let out = cmd.stdin(Stdio::null()).output().expect("ffmpeg runs");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu(libc::RUSAGE_CHILDREN) - c0;
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Time { wall, cpu }
}

fn raw_input(cmd: &mut Command, size: (usize, usize), fps: f64, yuv: &Path) {
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .args(["-s", &format!("{}x{}", size.0, size.1)])
        .args(["-r", &fps.to_string()])
        .arg("-i")
        .arg(yuv);
}

fn x264(o: &Opts, size: (usize, usize), yuv: &Path, rate: u32, dst: &Path) -> Time {
    let mut cmd = Command::new("ffmpeg");
    raw_input(&mut cmd, size, o.fps, yuv);
    cmd.args(["-c:v", "libx264", "-preset", "veryfast", "-threads", "1"])
        .args(["-b:v", &rate.to_string(), "-g", &o.gop.to_string()])
        .args(["-f", "h264"])
        .arg(dst);
    run(&mut cmd)
}

/// ffmpeg reading the same raw file and encoding nothing: what x264's figure carries besides
/// x264 (start-up, reading 1.4 MB a frame).
fn floor(o: &Opts, size: (usize, usize), yuv: &Path) -> Time {
    let mut cmd = Command::new("ffmpeg");
    raw_input(&mut cmd, size, o.fps, yuv);
    cmd.args(["-f", "null", "-"]);
    run(&mut cmd)
}

#[derive(Clone, Copy, Debug)]
struct Psnr {
    y: f64,
    u: f64,
    v: f64,
    avg: f64,
    /// ffmpeg's psnr filter's average on the same two files, as a check.
    ffmpeg_avg: f64,
}

fn db(mse: f64) -> f64 {
    10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10()
}

/// Decodes `stream` with ffmpeg to raw planes and compares them with the source's.
fn quality(stream: &Path, src: &Path, size: (usize, usize), frames: usize) -> Psnr {
    let dec = stream.with_extension("dec.yuv");
    run(Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "h264",
            "-i",
        ])
        .arg(stream)
        .args(["-fps_mode", "passthrough", "-f", "rawvideo"])
        .arg(&dec));
    let (a, b) = (fs::read(&dec).unwrap(), fs::read(src).unwrap());
    let (w, h) = size;
    let (ys, cs) = (w * h, (w / 2) * (h / 2));
    let fsz = ys + 2 * cs;
    assert_eq!(
        a.len(),
        frames * fsz,
        "{}: frames decoded",
        stream.display()
    );
    assert_eq!(b.len(), a.len());
    let mut se = [0f64; 3];
    for (fa, fb) in a.chunks(fsz).zip(b.chunks(fsz)) {
        for (k, (lo, hi)) in [(0, ys), (ys, ys + cs), (ys + cs, fsz)].iter().enumerate() {
            let s: u64 = fa[*lo..*hi]
                .iter()
                .zip(&fb[*lo..*hi])
                .map(|(x, y)| {
                    let d = i64::from(*x) - i64::from(*y);
                    (d * d) as u64
                })
                .sum();
            se[k] += s as f64;
        }
    }
    let n = frames as f64;
    let mse = [
        se[0] / (n * ys as f64),
        se[1] / (n * cs as f64),
        se[2] / (n * cs as f64),
    ];
    let avg_mse = (mse[0] * ys as f64 + (mse[1] + mse[2]) * cs as f64) / fsz as f64;
    // ffmpeg's figure.
    let mut cmd = Command::new("ffmpeg");
    raw_input(&mut cmd, size, 20.0, &dec);
    cmd.args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .args(["-s", &format!("{w}x{h}"), "-r", "20", "-i"])
        .arg(src)
        .args(["-lavfi", "psnr", "-f", "null", "-"])
        .args(["-loglevel", "info"]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ffmpeg_avg = err
        .split("average:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let _ = fs::remove_file(&dec);
    Psnr {
        y: db(mse[0]),
        u: db(mse[1]),
        v: db(mse[2]),
        avg: db(avg_mse),
        ffmpeg_avg,
    }
}

/// One encoder at one target rate: its stream's rate and quality, and each round's time.
struct Point {
    rate: u32,
    kbps: f64,
    psnr: Psnr,
    times: Vec<Time>,
    /// Ours only: the same with each JPEG decoded first.
    with_decode: Vec<Time>,
    /// x264 only: the ffmpeg floor of the same round.
    floors: Vec<Time>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The bitrate a curve needs for `psnr`: linear in log(rate) between its two neighbouring
/// points (PSNR rises with rate), extrapolated from the nearest two outside its range.
fn rate_at(curve: &[(f64, f64)], psnr: f64) -> (f64, bool) {
    let mut pts: Vec<(f64, f64)> = curve.iter().map(|&(k, p)| (p, k.ln())).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let outside = psnr < pts[0].0 || psnr > pts[pts.len() - 1].0;
    let i = pts
        .windows(2)
        .position(|w| psnr <= w[1].0)
        .unwrap_or(pts.len() - 2);
    let ((p0, l0), (p1, l1)) = (pts[i], pts[i + 1]);
    ((l0 + (psnr - p0) * (l1 - l0) / (p1 - p0)).exp(), outside)
}

fn main() {
    let o = opts();
    fs::create_dir_all(&o.out).unwrap();
    let data = fs::read(&o.clip).unwrap();
    let idx = rtsp_proto::mjpeg::index(&data, rtsp_proto::mjpeg::LAB_MAX_FRAME).unwrap();
    let jpegs: Vec<&[u8]> = idx.frames.iter().map(|r| &data[r.clone()]).collect();
    let t0 = Instant::now();
    let frames: Vec<Yuv420> = jpegs
        .iter()
        .map(|j| Yuv420::from_jpeg(j).unwrap())
        .collect();
    let decode_s = t0.elapsed().as_secs_f64();
    let size = (frames[0].width, frames[0].height);
    let n = frames.len();
    let name = o.clip.file_stem().unwrap().to_string_lossy().into_owned();
    let yuv = o.out.join(format!("{name}.yuv"));
    {
        let mut f = std::io::BufWriter::new(fs::File::create(&yuv).unwrap());
        for p in &frames {
            f.write_all(&p.y).unwrap();
            f.write_all(&p.u).unwrap();
            f.write_all(&p.v).unwrap();
        }
    }
    let secs = n as f64 / o.fps;
    println!(
        "clip {} : {n} frames {}x{} at {} fps ({secs} s), JPEG decode alone {:.1} frames/s",
        o.clip.display(),
        size.0,
        size.1,
        o.fps,
        n as f64 / decode_s
    );
    let settings = |rate| Settings {
        fps: o.fps,
        gop: o.gop,
        bitrate: rate,
    };
    let mut ours: Vec<Vec<Point>> = o.variants.iter().map(|_| vec![]).collect();
    let mut peer: Vec<Point> = vec![];
    let mut all_rates: Vec<u32> = o.rates.iter().chain(&o.x264_rates).copied().collect();
    all_rates.sort_unstable();
    all_rates.dedup();
    for round in 0..o.rounds {
        let fl = floor(&o, size, &yuv);
        for &rate in &all_rates {
            let mut steps: Vec<usize> = vec![];
            if o.rates.contains(&rate) {
                steps.extend(0..o.variants.len());
            }
            if o.x264_rates.contains(&rate) {
                steps.push(usize::MAX);
            }
            if round % 2 == 1 {
                steps.reverse();
            }
            for step in steps {
                if step == usize::MAX {
                    let dst = o.out.join(format!("{name}-x264-{rate}.264"));
                    let t = x264(&o, size, &yuv, rate, &dst);
                    let pos = peer.iter().position(|p| p.rate == rate);
                    let kbps = fs::metadata(&dst).unwrap().len() as f64 * 8.0 / secs / 1000.0;
                    let i = pos.unwrap_or_else(|| {
                        let psnr = quality(&dst, &yuv, size, n);
                        peer.push(Point {
                            rate,
                            kbps,
                            psnr,
                            times: vec![],
                            with_decode: vec![],
                            floors: vec![],
                        });
                        peer.len() - 1
                    });
                    peer[i].times.push(t);
                    peer[i].floors.push(fl);
                    eprintln!(
                        "round {round} x264 {rate}: {:.1} frames/s ({kbps:.0} kbit/s)",
                        n as f64 / t.wall
                    );
                } else {
                    let v = &o.variants[step];
                    let (stream, t) = ours_encode(v, settings(rate), &frames);
                    let wd = (v == "crate").then(|| ours_with_decode(settings(rate), &jpegs));
                    let points = &mut ours[step];
                    let i = points
                        .iter()
                        .position(|p| p.rate == rate)
                        .unwrap_or_else(|| {
                            let dst = o.out.join(format!("{name}-ours-{v}-{rate}.264"));
                            fs::write(&dst, &stream).unwrap();
                            let psnr = quality(&dst, &yuv, size, n);
                            points.push(Point {
                                rate,
                                kbps: stream.len() as f64 * 8.0 / secs / 1000.0,
                                psnr,
                                times: vec![],
                                with_decode: vec![],
                                floors: vec![],
                            });
                            points.len() - 1
                        });
                    points[i].times.push(t);
                    if let Some((len, t)) = wd {
                        assert_eq!(len, stream.len(), "the same stream with the decode");
                        points[i].with_decode.push(t);
                    }
                    eprintln!(
                        "round {round} ours {v} {rate}: {:.1} frames/s ({} bytes)",
                        n as f64 / t.wall,
                        stream.len()
                    );
                }
            }
        }
    }
    let _ = fs::remove_file(&yuv);
    report(&o, n, &ours, &peer);
}

fn fps_list(n: usize, ts: &[Time], f: impl Fn(&Time) -> f64) -> (f64, String) {
    let v: Vec<f64> = ts.iter().map(|t| n as f64 / f(t)).collect();
    let s = v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>();
    (median(v), s.join(", "))
}

fn report(o: &Opts, n: usize, ours: &[Vec<Point>], peer: &[Point]) {
    println!("\nencoder | target kbit/s | kbit/s | PSNR Y / U / V / avg (ffmpeg avg) dB | encode frames/s, wall (rounds) | per CPU second | with JPEG decode");
    let line = |label: &str, p: &Point| {
        let (w, ws) = fps_list(n, &p.times, |t| t.wall);
        let (c, _) = fps_list(n, &p.times, |t| t.cpu);
        let extra = if !p.with_decode.is_empty() {
            let (d, ds) = fps_list(n, &p.with_decode, |t| t.wall);
            format!("{d:.1} ({ds})")
        } else if p.floors.is_empty() {
            "-".into()
        } else {
            let v: Vec<f64> = p
                .times
                .iter()
                .zip(&p.floors)
                .map(|(t, f)| n as f64 / (t.wall - f.wall))
                .collect();
            let s: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
            format!(
                "net of the ffmpeg floor: {:.1} ({})",
                median(v),
                s.join(", ")
            )
        };
        println!(
            "{label} | {} | {:.0} | {:.2} / {:.2} / {:.2} / {:.2} ({:.2}) | {w:.1} ({ws}) | {c:.1} | {extra}",
            p.rate / 1000,
            p.kbps,
            p.psnr.y,
            p.psnr.u,
            p.psnr.v,
            p.psnr.avg,
            p.psnr.ffmpeg_avg
        );
    };
    for p in peer {
        line("x264", p);
    }
    for (v, points) in o.variants.iter().zip(ours) {
        for p in points {
            line(&format!("ours {v}"), p);
        }
    }
    let curve = |f: &dyn Fn(&Psnr) -> f64| -> Vec<(f64, f64)> {
        peer.iter().map(|p| (p.kbps, f(&p.psnr))).collect()
    };
    let (avg_curve, y_curve) = (curve(&|q| q.avg), curve(&|q| q.y));
    println!("\nencoder | target kbit/s | speed ours / x264, wall (median; rounds) | per CPU second | x264 kbit/s at our avg PSNR | bitrate ratio (avg PSNR) | ratio on Y PSNR");
    for (v, points) in o.variants.iter().zip(ours) {
        for p in points {
            let speed = match peer.iter().find(|q| q.rate == p.rate) {
                Some(q) => {
                    let ratio = |f: &dyn Fn(&Time) -> f64| {
                        let r: Vec<f64> = p
                            .times
                            .iter()
                            .zip(&q.times)
                            .map(|(a, b)| f(b) / f(a))
                            .collect();
                        let s: Vec<String> = r.iter().map(|x| format!("{x:.2}")).collect();
                        format!("{:.2} ({})", median(r), s.join(", "))
                    };
                    format!(
                        "{} | {}",
                        ratio(&|t: &Time| t.wall),
                        ratio(&|t: &Time| t.cpu)
                    )
                }
                None => "- | -".into(),
            };
            let (k, out) = rate_at(&avg_curve, p.psnr.avg);
            let (ky, outy) = rate_at(&y_curve, p.psnr.y);
            let flag = |b: bool| if b { " (extrapolated)" } else { "" };
            println!(
                "ours {v} | {} | {speed} | {k:.0}{} | {:.3} | {:.3}{}",
                p.rate / 1000,
                flag(out),
                p.kbps / k,
                p.kbps / ky,
                flag(outy)
            );
        }
    }
}
