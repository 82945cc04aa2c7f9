//! `GET /`: the one web page, written here (no framework, no file from elsewhere). A player on
//! top, then every live path (who publishes, its viewers, its last frame), every video with
//! its size, frame rate, length and frame count, a snapshot, its RTSP URL and the ffplay
//! command, and the newest recordings of `--record-dir`. The player is H.264 over HLS in a `<video>` where the
//! browser plays HLS natively, else the Motion-JPEG stream in an `<img>` (which every browser
//! shows, at full quality and low latency); a button switches between them, and
//! `?player=mjpeg` or `?player=hls` picks one. A few lines of script do all that; without
//! script the `<img>` plays and the links still play each stream.

use super::request::Request;
use super::response::Response;
use super::status::{library, VideoInfo};
use crate::live::path::{Path as LivePath, PUBLISHER_CHANNEL};
use crate::Shared;

/// `&`, `<`, `>`, `"` and `'` escaped for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The host the browser reached us by (the `Host` header without its port), for the RTSP
/// URLs: the address we are bound to may be 0.0.0.0.
fn host(req: &Request, shared: &Shared) -> String {
    let fallback = shared.rtsp_addr.ip().to_string();
    let Some(h) = req.header("Host").filter(|h| !h.is_empty()) else {
        return fallback;
    };
    if let Some(rest) = h.strip_prefix('[') {
        // [v6]:port
        return rest
            .split(']')
            .next()
            .map_or(fallback, |ip| format!("[{ip}]"));
    }
    h.split(':').next().unwrap_or(h).to_string()
}

fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// One video's card.
fn card(v: &VideoInfo, rtsp_base: &str) -> String {
    let path = rtsp_proto::url::percent_encode_path(&v.name);
    let name = escape(&v.name);
    let rtsp = escape(&format!("{rtsp_base}/{path}"));
    let mjpeg = format!("/videos/{path}/mjpeg?loop=1");
    let hls = format!("/videos/{path}/hls/index.m3u8");
    if let Some(e) = &v.error {
        return format!(
            "<li class=\"card broken\" data-name=\"{name}\"><h2>{name}</h2><p class=\"error\">{}</p></li>\n",
            escape(e)
        );
    }
    format!(
        concat!(
            "<li class=\"card\" data-name=\"{name}\" data-mjpeg=\"{mjpeg}\" data-hls=\"{hls}\" ",
            "data-rtsp=\"{rtsp}\">\n",
            "  <a class=\"thumb\" href=\"{mjpeg}\"><img src=\"/videos/{path}/frame.jpg?t=0\" ",
            "alt=\"{name}\" width=\"{w}\" height=\"{h}\" loading=\"lazy\"></a>\n",
            "  <h2>{name}</h2>\n",
            "  <p class=\"facts\">{w}&times;{h} &middot; {fps} fps &middot; {len} &middot; {frames} frames</p>\n",
            "  <p><button class=\"play\" type=\"button\">Play here</button> ",
            "<a href=\"{mjpeg}\">MJPEG stream</a> &middot; <a href=\"{hls}\">HLS</a> &middot; ",
            "<a href=\"/videos/{path}/dash/manifest.mpd\">DASH</a> &middot; ",
            "<a href=\"/videos/{path}/frame.jpg\">snapshot</a></p>\n",
            "  <p class=\"url\"><code>{rtsp}</code></p>\n",
            "  <p class=\"url\"><code>ffplay {rtsp}</code></p>\n",
            "</li>\n"
        ),
        name = name,
        mjpeg = mjpeg,
        hls = hls,
        rtsp = rtsp,
        path = path,
        w = v.width,
        h = v.height,
        fps = crate::media::timing::show_fps(v.fps),
        len = minutes(v.duration),
        frames = v.frames,
    )
}

/// What the stage plays first: the first video that plays, else the first live path.
struct Stage {
    name: String,
    mjpeg: String,
    rtsp: String,
    size: (u16, u16),
}

/// The picture size of a live path's last frame (0x0 before its first).
fn live_size(p: &LivePath) -> (u16, u16) {
    p.latest()
        .and_then(|f| rtsp_proto::jpeg::JpegInfo::parse(&f.jpeg).ok())
        .map_or((0, 0), |j| (j.width, j.height))
}

/// Who feeds a live path, in a few words, after its picture size `(w, h)` when known.
fn live_facts(p: &LivePath, (w, h): (u16, u16)) -> String {
    let publisher = p.publisher();
    let from = if publisher.kind == PUBLISHER_CHANNEL {
        format!("channel: {} on a loop", escape(&publisher.session))
    } else if p.is_waiting() {
        "waiting for its publisher to come back".to_string()
    } else {
        format!("published over {}", publisher.transport)
    };
    let viewers = p.subscribers().len();
    let size = if w > 0 {
        format!("{w}&times;{h} &middot; ")
    } else {
        String::new()
    };
    let s = if viewers == 1 { "" } else { "s" };
    format!("{size}{from} &middot; {viewers} subscriber{s}")
}

/// One live path's card: the same buttons and links as a video's, on its `/live/` URLs.
fn live_card(p: &LivePath, rtsp_base: &str) -> String {
    let name = escape(&p.name);
    let base = format!("/live/{name}");
    let rtsp = escape(&format!("{rtsp_base}/live/{}", p.name));
    let (w, h) = live_size(p);
    let thumb = if w > 0 {
        format!("<img src=\"{base}/frame.jpg\" alt=\"live/{name}\" width=\"{w}\" height=\"{h}\">")
    } else {
        String::new()
    };
    format!(
        concat!(
            "<li class=\"card live\" data-name=\"live/{name}\" data-mjpeg=\"{base}/mjpeg\" ",
            "data-hls=\"{base}/hls/index.m3u8\" data-rtsp=\"{rtsp}\">\n",
            "  <a class=\"thumb\" href=\"{base}/mjpeg\">{thumb}</a>\n",
            "  <h2>live/{name} <span class=\"badge\">LIVE</span></h2>\n",
            "  <p class=\"facts\">{facts}</p>\n",
            "  <p><button class=\"play\" type=\"button\">Play here</button> ",
            "<a href=\"{base}/mjpeg\">MJPEG stream</a> &middot; ",
            "<a href=\"{base}/hls/index.m3u8\">HLS</a> &middot; ",
            "<a href=\"{base}/dash/manifest.mpd\">DASH</a> &middot; ",
            "<a href=\"{base}/frame.jpg\">snapshot</a></p>\n",
            "  <p class=\"url\"><code>{rtsp}</code></p>\n",
            "  <p class=\"url\"><code>ffplay {rtsp}</code></p>\n",
            "</li>\n"
        ),
        name = name,
        base = base,
        rtsp = rtsp,
        thumb = thumb,
        facts = live_facts(p, (w, h)),
    )
}

/// The live section: nothing when no path is live.
fn live_section(paths: &[std::sync::Arc<LivePath>], rtsp_base: &str) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let cards: String = paths.iter().map(|p| live_card(p, rtsp_base)).collect();
    format!("<h2 class=\"section\">Live</h2>\n<ul class=\"videos live\">\n{cards}</ul>\n<h2 class=\"section\">Videos</h2>\n")
}

/// One finished recording's card: no picture (that would prepare every file listed), its
/// size, and the links a video has.
fn recording_card(r: &crate::live::record::Recording, rtsp_base: &str) -> String {
    let path = rtsp_proto::url::percent_encode_path(&r.name);
    let name = escape(&r.name);
    let rtsp = escape(&format!("{rtsp_base}/{path}"));
    let base = format!("/videos/{path}");
    format!(
        concat!(
            "<li class=\"card recording\" data-name=\"{name}\" data-mjpeg=\"{base}/mjpeg\" ",
            "data-hls=\"{base}/hls/index.m3u8\" data-rtsp=\"{rtsp}\">\n",
            "  <h2>{name}</h2>\n",
            "  <p class=\"facts\">recorded &middot; {mb:.1} MB</p>\n",
            "  <p><button class=\"play\" type=\"button\">Play here</button> ",
            "<a href=\"{base}/mjpeg\">MJPEG stream</a> &middot; <a href=\"{base}/hls/index.m3u8\">HLS</a> &middot; ",
            "<a href=\"{base}/frame.jpg\">snapshot</a></p>\n",
            "  <p class=\"url\"><code>ffplay {rtsp}</code></p>\n",
            "</li>\n"
        ),
        name = name,
        base = base,
        rtsp = rtsp,
        mb = r.bytes as f64 / 1e6,
    )
}

/// The recordings section (`--record-dir`): nothing without one, or while it is empty.
fn recordings_section(shared: &Shared, rtsp_base: &str) -> String {
    let list = super::status::recordings(shared);
    if list.is_empty() {
        return String::new();
    }
    let cards: String = list.iter().map(|r| recording_card(r, rtsp_base)).collect();
    format!(
        "<h2 class=\"section\">Recordings</h2>\n<ul class=\"videos recordings\">\n{cards}</ul>\n"
    )
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6672; --bg: #f4f6f8; --card: #fff; --accent: #0b6bcb; --button: #0b6bcb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8ecf0; --muted: #9aa6b2; --bg: #12161b; --card: #1c2229; --accent: #5aa9ff; --button: #1f5fae; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.stage { background: #000; border-radius: 10px; margin: 16px auto 8px; overflow: hidden; width: fit-content; max-width: 100%; }
.stage img, .stage video { display: block; width: 100%; max-width: 960px; height: auto; }
.stage [hidden] { display: none; }
button.switch { font: inherit; font-size: .85rem; border: 1px solid var(--muted); background: transparent; color: var(--fg); border-radius: 6px; padding: 2px 10px; margin-left: 8px; cursor: pointer; }
button.switch:disabled { opacity: .5; cursor: default; }
.now { color: var(--muted); margin: 0 0 20px; overflow-wrap: anywhere; }
ul.videos { list-style: none; padding: 0; margin: 0 0 32px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); }
.card { background: var(--card); border-radius: 10px; padding: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); min-width: 0; }
.card h2 { font-size: 1.05rem; margin: 8px 0 2px; overflow-wrap: anywhere; }
.card p { margin: 4px 0; }
.thumb img { width: 100%; height: auto; border-radius: 6px; background: #000; display: block; }
.facts { color: var(--muted); font-size: .9rem; }
.url code { display: block; font-size: .8rem; padding: 4px 6px; border-radius: 4px; background: rgba(127,127,127,.14); white-space: pre-wrap; overflow-wrap: anywhere; }
button.play { font: inherit; color: #fff; background: var(--button); border: 0; border-radius: 6px; padding: 6px 14px; margin-right: 10px; cursor: pointer; }
.card a { display: inline-block; padding: 6px 2px; }
a { color: var(--accent); }
.error { color: #c62828; }
h2.section { font-size: 1.15rem; margin: 8px 0 12px; }
.badge { font-size: .7rem; font-weight: 700; letter-spacing: .05em; color: #fff; background: #c62828; border-radius: 4px; padding: 1px 6px; vertical-align: middle; }
"#;

const SCRIPT: &str = r#"
const img = document.getElementById('player');
const video = document.getElementById('video');
const toggle = document.getElementById('switch');
const native = !!video && video.canPlayType('application/vnd.apple.mpegurl') !== '';
const asked = new URLSearchParams(location.search).get('player');
let mode = asked === 'mjpeg' || !native ? 'mjpeg' : 'hls';
let current = document.querySelector('li.card[data-mjpeg]');
// Only the shown player streams: the hidden one has no source.
function show() {
  if (!current || !img) return;
  const hls = mode === 'hls';
  if (hls) {
    img.removeAttribute('src');
    video.src = current.dataset.hls;
    video.play().catch(() => {});
  } else {
    video.pause();
    video.removeAttribute('src');
    video.load();
    img.src = current.dataset.mjpeg;
    img.alt = current.dataset.name;
  }
  img.hidden = hls;
  video.hidden = !hls;
  document.getElementById('now-kind').textContent = hls ? 'H.264 (HLS)' : 'Motion-JPEG';
  toggle.textContent = hls ? 'Show Motion-JPEG' : 'Show H.264 (HLS)';
  document.getElementById('now-name').textContent = current.dataset.name;
  document.getElementById('now-url').textContent = current.dataset.rtsp;
}
if (toggle) {
  toggle.disabled = !native;
  if (!native) toggle.title = 'This browser has no native HLS: Motion-JPEG plays instead';
  toggle.addEventListener('click', () => { mode = mode === 'hls' ? 'mjpeg' : 'hls'; show(); });
  if (mode === 'hls') show();
}
for (const card of document.querySelectorAll('li.card[data-mjpeg]')) {
  card.querySelector('button.play').addEventListener('click', () => {
    current = card;
    show();
    window.scrollTo({ top: 0, behavior: 'smooth' });
  });
}
"#;

/// The page for `req`.
pub(crate) fn render(shared: &Shared, req: &Request) -> Response {
    let videos = library(shared);
    let rtsp_base = format!("rtsp://{}:{}", host(req, shared), shared.rtsp_addr.port());
    let paths = shared.live.snapshot();
    let first = videos.iter().find(|v| v.error.is_none()).map(|v| {
        let path = rtsp_proto::url::percent_encode_path(&v.name);
        Stage {
            name: v.name.clone(),
            mjpeg: format!("/videos/{path}/mjpeg?loop=1"),
            rtsp: format!("{rtsp_base}/{path}"),
            size: (v.width, v.height),
        }
    });
    let first = first.or_else(|| {
        paths.first().map(|p| Stage {
            name: format!("live/{}", p.name),
            mjpeg: format!("/live/{}/mjpeg", p.name),
            rtsp: format!("{rtsp_base}/live/{}", p.name),
            size: live_size(p),
        })
    });
    let stage = match first {
        Some(s) => format!(
            concat!(
                "<div class=\"stage\"><img id=\"player\" src=\"{mjpeg}\" ",
                "alt=\"{name}\" width=\"{w}\" height=\"{h}\">",
                "<video id=\"video\" width=\"{w}\" height=\"{h}\" controls muted playsinline ",
                "loop hidden></video></div>\n",
                "<p class=\"now\">Playing <strong id=\"now-name\">{name}</strong> ",
                "as <span id=\"now-kind\">Motion-JPEG</span> ",
                "&middot; <code id=\"now-url\">{rtsp}</code>",
                "<button id=\"switch\" class=\"switch\" type=\"button\">Show H.264 (HLS)</button></p>\n"
            ),
            mjpeg = escape(&s.mjpeg),
            name = escape(&s.name),
            w = s.size.0,
            h = s.size.1,
            rtsp = escape(&s.rtsp),
        ),
        None => {
            "<p class=\"now\">No video to play: put .mjpeg, .avi, .mov, .mp4 or .mkv files in the videos directory, or publish to /live/NAME.</p>\n"
                .to_string()
        }
    };
    let cards: String = videos.iter().map(|v| card(v, &rtsp_base)).collect();
    let body = format!(
        concat!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<title>Motion-JPEG streams</title>\n<link rel=\"icon\" href=\"data:,\">\n",
            "<style>{style}</style>\n</head>\n<body>\n",
            "<header><h1>Motion-JPEG streams</h1>",
            "<p>{count}{live} over RTSP ({rtsp_base}/NAME) and HTTP.</p></header>\n",
            "<main>\n{stage}{live_section}<ul class=\"videos\">\n{cards}</ul>\n{recordings}</main>\n",
            "<script>{script}</script>\n</body>\n</html>\n"
        ),
        style = STYLE,
        count = match videos.len() {
            1 => "1 video".to_string(),
            n => format!("{n} videos"),
        },
        live = match paths.len() {
            0 => String::new(),
            1 => " and 1 live path".to_string(),
            n => format!(" and {n} live paths"),
        },
        rtsp_base = escape(&rtsp_base),
        stage = stage,
        live_section = live_section(&paths, &rtsp_base),
        cards = cards,
        recordings = recordings_section(shared, &rtsp_base),
        script = SCRIPT,
    );
    Response::with_body(200, "text/html; charset=utf-8", body).header("Cache-Control", "no-cache")
}
