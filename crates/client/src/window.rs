//! The minifb window on the main thread: the video with a progress bar under it (the time
//! drawn on it; a click or drag on it seeks), messages over the picture (errors with the
//! server's status, fallbacks, the end of the stream), fullscreen, and the keys.
//!
//! Keys come from minifb's input callback, one event per press, so a tap shorter than a frame
//! (`xdotool key p`) is seen; polling which keys are down between two updates misses it. The
//! window opens sized to the video, scaled down to fit the screen, centred on it; fullscreen
//! is a borderless window the size of the screen at (0, 0), the picture stretched to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minifb::{InputCallback, Key, MouseButton, MouseMode, Scale, ScaleMode, Window, WindowOptions};

use crate::font::{draw_text, text_width};
use crate::session::{ClientSession, Dialect, PlayState};
use crate::stats::Stats;
use crate::ui::{command_for, execute, time_readout, title, Command, PlayerKey, KEY_HELP};
use crate::{ClientError, Options};

/// Rows of the progress bar under the picture.
pub const BAR_HEIGHT: usize = 16;
const BACKGROUND: u32 = 0x101018;
const ERROR_COLOUR: u32 = 0xff4040;
const NOTICE_COLOUR: u32 = 0xffd040;
const ENDED_COLOUR: u32 = 0xffffff;
/// How long a notice (not an error) stays on screen.
const NOTICE_FOR: Duration = Duration::from_secs(5);

/// The minifb key a player key is read from.
fn player_key(k: Key) -> Option<PlayerKey> {
    use PlayerKey::*;
    Some(match k {
        Key::S => S,
        Key::P => P,
        Key::Space => Space,
        Key::T => T,
        Key::D => D,
        Key::F => F,
        Key::Q | Key::Escape => Q,
        Key::Left => Left,
        Key::Right => Right,
        Key::Down => Down,
        Key::Up => Up,
        Key::Home => Home,
        Key::LeftBracket => LeftBracket,
        Key::RightBracket => RightBracket,
        Key::Backslash => Backslash,
        Key::Comma => Comma,
        Key::Period => Period,
        _ => return None,
    })
}

/// Collects key presses as minifb reports them, one per press (a held key's repeats are not
/// presses).
struct KeyEvents {
    pressed: Arc<Mutex<Vec<Key>>>,
    down: Vec<Key>,
}

impl InputCallback for KeyEvents {
    fn add_char(&mut self, _uni_char: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        if !down {
            self.down.retain(|k| *k != key);
        } else if !self.down.contains(&key) {
            self.down.push(key);
            let mut p = self.pressed.lock().unwrap();
            if p.len() < 64 {
                p.push(key);
            }
        }
    }
}

/// The screen's size, where the platform says (X11). The connection it opens is kept open for
/// the life of the process, never closed: when the last client of an X server (Xvfb) closes
/// it, the server resets, and the window opened next would find no display.
#[cfg(target_os = "linux")]
pub fn screen_size() -> Option<(usize, usize)> {
    use std::sync::OnceLock;
    use x11_dl::xlib::Xlib;
    static SIZE: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let xlib = Xlib::open().ok()?;
        // SAFETY: a display opened here and only read; null is checked.
        let size = unsafe {
            let d = (xlib.XOpenDisplay)(std::ptr::null());
            if d.is_null() {
                return None;
            }
            let screen = (xlib.XDefaultScreen)(d);
            (
                (xlib.XDisplayWidth)(d, screen),
                (xlib.XDisplayHeight)(d, screen),
            )
        };
        // The library stays loaded with the connection.
        Box::leak(Box::new(xlib));
        (size.0 > 0 && size.1 > 0).then_some((size.0 as usize, size.1 as usize))
    })
}

/// The screen's size, where the platform says.
#[cfg(not(target_os = "linux"))]
pub fn screen_size() -> Option<(usize, usize)> {
    None
}

/// A window size for a `w` x `h` buffer: the buffer's own, scaled down (aspect kept) to fit
/// `screen`.
pub fn fit(w: usize, h: usize, screen: Option<(usize, usize)>) -> (usize, usize) {
    let Some((sw, sh)) = screen else {
        return (w, h);
    };
    let f = (sw as f64 / w as f64).min(sh as f64 / h as f64).min(1.0);
    (
        ((w as f64 * f) as usize).max(1),
        ((h as f64 * f) as usize).max(1),
    )
}

/// The window and what it shows.
struct PlayerWindow {
    window: Window,
    keys: Arc<Mutex<Vec<Key>>>,
    fullscreen: bool,
    screen: Option<(usize, usize)>,
    title: String,
}

impl PlayerWindow {
    fn open(title: &str, bw: usize, bh: usize, fullscreen: bool) -> Result<Self, ClientError> {
        let screen = screen_size();
        let (options, (ww, wh)) = match (fullscreen, screen) {
            (true, Some(size)) => (
                WindowOptions {
                    borderless: true,
                    title: false,
                    resize: false,
                    topmost: true,
                    scale_mode: ScaleMode::AspectRatioStretch,
                    ..WindowOptions::default()
                },
                size,
            ),
            _ => (
                WindowOptions {
                    resize: true,
                    scale: Scale::X1,
                    scale_mode: ScaleMode::AspectRatioStretch,
                    ..WindowOptions::default()
                },
                fit(bw, bh, screen),
            ),
        };
        let mut window =
            Window::new(title, ww, wh, options).map_err(|source| ClientError::Window {
                what: "opening a window",
                source,
            })?;
        window.set_target_fps(60);
        if let Some((sw, sh)) = screen {
            let (x, y) = match fullscreen {
                true => (0, 0),
                false => ((sw.saturating_sub(ww) / 2), (sh.saturating_sub(wh) / 2)),
            };
            window.set_position(x as isize, y as isize);
        }
        let keys = Arc::new(Mutex::new(Vec::new()));
        window.set_input_callback(Box::new(KeyEvents {
            pressed: keys.clone(),
            down: Vec::new(),
        }));
        Ok(PlayerWindow {
            window,
            keys,
            fullscreen: fullscreen && screen.is_some(),
            screen,
            title: title.to_string(),
        })
    }

    fn take_keys(&self) -> Vec<PlayerKey> {
        let keys = std::mem::take(&mut *self.keys.lock().unwrap());
        keys.into_iter().filter_map(player_key).collect()
    }

    fn set_title(&mut self, title: &str) {
        if title != self.title {
            self.window.set_title(title);
            self.title = title.to_string();
        }
    }

    /// The mouse in buffer coordinates (`bw` x `bh`), undoing the aspect-preserving stretch.
    fn mouse(&self, bw: usize, bh: usize) -> Option<(f64, f64)> {
        let (mx, my) = self.window.get_unscaled_mouse_pos(MouseMode::Discard)?;
        let (ww, wh) = self.window.get_size();
        let f = (ww as f64 / bw as f64).min(wh as f64 / bh as f64);
        let ox = (ww as f64 - bw as f64 * f) / 2.0;
        let oy = (wh as f64 - bh as f64 * f) / 2.0;
        Some(((mx as f64 - ox) / f, (my as f64 - oy) / f))
    }

    fn present(&mut self, buf: &[u32], w: usize, h: usize) -> Result<(), ClientError> {
        self.window
            .update_with_buffer(buf, w, h)
            .map_err(|source| ClientError::Window {
                what: "drawing the window",
                source,
            })
    }
}

/// A line over the picture.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    text: String,
    colour: u32,
    until: Option<Instant>,
}

impl Message {
    fn error(text: String) -> Message {
        log::error!("{text}");
        Message {
            text,
            colour: ERROR_COLOUR,
            until: None,
        }
    }
}

/// What the loop carries from one update to the next.
struct Screen {
    message: Option<Message>,
    ended: bool,
    /// The server closed the connection.
    gone: bool,
    /// The mouse button was down at the last update (at this x, for a drag).
    dragging: Option<f64>,
}

/// Opens the window and runs until the user quits; `autoplay` does SETUP and PLAY at once.
pub fn run_window(opts: &Options, autoplay: bool) -> Result<Stats, ClientError> {
    if opts.url.starts_with("http://") {
        return run_http_window(opts);
    }
    let mut s = ClientSession::connect(opts)?;
    let mut screen = Screen {
        message: None,
        ended: false,
        gone: false,
        dragging: None,
    };
    let (mut w, mut h) = (384usize, 288usize);
    let mut described = true;
    if s.dialect == Dialect::Standard {
        if let Err(e) = s.describe() {
            described = false;
            fail(&mut s, &mut screen, &e);
        }
        if let Some((dw, dh)) = s.info.as_ref().and_then(|i| i.dimensions) {
            (w, h) = (dw as usize, dh as usize);
        }
    }
    let mut win = PlayerWindow::open(&title(&s, &opts.file, None), w, h + BAR_HEIGHT, false)?;
    if autoplay && described {
        run_command(&mut s, &mut screen, Command::SetupThenPlay);
    }
    let mut buffer = Vec::new();
    while win.window.is_open() && !crate::stop_requested() {
        for k in win.take_keys() {
            let cmd = match command_for(k, s.state, s.dialect) {
                Ok(cmd) => cmd,
                Err(why) => {
                    log::info!("{k:?} does nothing now: {why}");
                    continue;
                }
            };
            if cmd == Command::Fullscreen {
                let (bw, bh) = buffer_size(w, h, !win.fullscreen);
                win = PlayerWindow::open(&win.title.clone(), bw, bh, !win.fullscreen)?;
                if !win.fullscreen && win.screen.is_none() {
                    screen.message = Some(Message::error(
                        "fullscreen: the screen size is unknown".into(),
                    ));
                }
            } else if !run_command(&mut s, &mut screen, cmd) {
                return Ok(s.stats());
            }
        }
        let (bw, bh) = buffer_size(w, h, win.fullscreen);
        if let Some(cmd) = bar_click(&win, &s, &mut screen, bw, bh, w) {
            run_command(&mut s, &mut screen, cmd);
        }
        housekeeping(&mut s, &mut screen);
        if let Some(p) = s.display.lock().unwrap().latest.clone() {
            (w, h) = (p.width, p.height);
        }
        compose(&mut buffer, &s, &screen, w, h, win.fullscreen);
        let (bw, bh) = buffer_size(w, h, win.fullscreen);
        let label = match (screen.gone, screen.ended) {
            (true, _) => Some("ERROR"),
            (false, true) => Some("ENDED"),
            _ => None,
        };
        win.set_title(&title(&s, &opts.file, label));
        win.present(&buffer, bw, bh)?;
    }
    if let Err(e) = s.quit() {
        log::warn!("TEARDOWN on closing: {e}");
    }
    Ok(s.stats())
}

/// The buffer's size: the picture, and the bar under it unless fullscreen (then over it).
fn buffer_size(w: usize, h: usize, fullscreen: bool) -> (usize, usize) {
    (w, if fullscreen { h } else { h + BAR_HEIGHT })
}

/// Runs a command; an error goes on screen (and in the log, and into the exit summary).
/// Returns false when the player should quit.
fn run_command(s: &mut ClientSession, screen: &mut Screen, cmd: Command) -> bool {
    match execute(s, cmd) {
        Ok(go_on) => {
            if screen
                .message
                .as_ref()
                .is_some_and(|m| m.colour != NOTICE_COLOUR)
            {
                screen.message = None;
            }
            screen.ended = false;
            go_on
        }
        Err(e) => {
            fail(s, screen, &e);
            true
        }
    }
}

fn fail(s: &mut ClientSession, screen: &mut Screen, e: &ClientError) {
    s.last_error = Some(e.to_string());
    screen.message = Some(Message::error(e.to_string()));
}

/// Keepalive, the UDP fallback, a step's PAUSE, notices, and the end of the stream.
fn housekeeping(s: &mut ClientSession, screen: &mut Screen) {
    let results = [
        ("keepalive", s.keepalive_if_due().map(|_| ())),
        ("falling back to TCP", s.check_udp_fallback().map(|_| ())),
        ("pausing after the frame step", s.poll()),
    ];
    for (what, r) in results {
        if let Err(e) = r {
            s.last_error = Some(format!("{what}: {e}"));
            screen.message = Some(Message::error(format!("{what}: {e}")));
        }
    }
    if let Some(why) = s.server_gone() {
        screen.gone = true;
        screen.message = Some(Message::error(why));
        return;
    }
    if screen.gone {
        return;
    }
    if let Some(text) = s.take_notice() {
        screen.message = Some(Message {
            text,
            colour: NOTICE_COLOUR,
            until: Some(Instant::now() + NOTICE_FOR),
        });
    }
    if screen
        .message
        .as_ref()
        .is_some_and(|m| m.until.is_some_and(|t| Instant::now() > t))
    {
        screen.message = None;
    }
    if !screen.ended && s.ended() {
        log::info!("end of stream");
        screen.ended = true;
        screen.message = Some(Message {
            text: "END OF STREAM - HOME OR A CLICK ON THE BAR PLAYS AGAIN".into(),
            colour: ENDED_COLOUR,
            until: None,
        });
    }
}

/// A click (or the end of a drag) on the bar: the seek it asks for.
fn bar_click(
    win: &PlayerWindow,
    s: &ClientSession,
    screen: &mut Screen,
    bw: usize,
    bh: usize,
    w: usize,
) -> Option<Command> {
    let down = win.window.get_mouse_down(MouseButton::Left);
    let (x, y) = win.mouse(bw, bh).unwrap_or((-1.0, -1.0));
    let on_bar = y >= (bh - BAR_HEIGHT) as f64 && y < bh as f64 && x >= 0.0 && x < bw as f64;
    let duration = s.duration()?;
    let at = |x: f64| Command::SeekTo((x / w as f64).clamp(0.0, 1.0) * duration);
    match (down, screen.dragging) {
        (true, None) if on_bar && s.state != PlayState::Init => {
            screen.dragging = Some(x);
            Some(at(x))
        }
        (false, Some(from)) => {
            screen.dragging = None;
            ((x - from).abs() >= 4.0 && x >= 0.0).then(|| at(x))
        }
        _ => None,
    }
}

/// Draws the picture (or the key help before the first one), the bar and the message.
fn compose(
    buf: &mut Vec<u32>,
    s: &ClientSession,
    screen: &Screen,
    w: usize,
    h: usize,
    fullscreen: bool,
) {
    let (bw, bh) = buffer_size(w, h, fullscreen);
    buf.clear();
    buf.resize(bw * bh, BACKGROUND);
    let latest = s.display.lock().unwrap().latest.clone();
    match latest {
        Some(p) if p.pixels.len() == w * h => buf[..w * h].copy_from_slice(&p.pixels),
        _ => {
            let scale = if w >= 600 { 2 } else { 1 };
            let top = 12
                + if screen.message.is_some() {
                    16 * scale
                } else {
                    0
                };
            for (i, line) in KEY_HELP.iter().enumerate() {
                draw_text(buf, bw, 12, top + i * 11 * scale, line, scale, 0xe0e0e0);
            }
        }
    }
    draw_bar(buf, bw, bh, s);
    if let Some(m) = &screen.message {
        draw_message(buf, bw, &m.text, m.colour);
    }
}

/// The progress bar on the bottom rows: played part in red, the time on it.
fn draw_bar(buf: &mut [u32], w: usize, h: usize, s: &ClientSession) {
    let frac = match (s.position(), s.duration()) {
        (Some(p), Some(d)) => (p / d).clamp(0.0, 1.0),
        _ => 0.0,
    };
    let filled = (frac * w as f64).round() as usize;
    for y in h - BAR_HEIGHT..h {
        for x in 0..w {
            buf[y * w + x] = if x < filled { 0xb02828 } else { 0x303038 };
        }
    }
    let text = time_readout(s);
    let x = w.saturating_sub(text_width(&text, 1)) / 2;
    draw_text(buf, w, x, h - BAR_HEIGHT + 4, &text, 1, 0xffffff);
}

/// One line over the top of the picture, on a dark band, wrapped to the width.
fn draw_message(buf: &mut [u32], w: usize, text: &str, colour: u32) {
    let scale = if w >= 600 { 2 } else { 1 };
    let per_line = ((w.saturating_sub(12)) / (6 * scale)).max(1);
    let upper = text.to_uppercase();
    let chars: Vec<char> = upper.chars().collect();
    let lines: Vec<String> = chars.chunks(per_line).map(|c| c.iter().collect()).collect();
    let band = (lines.len() * 10 + 6) * scale;
    let rows = band.min(buf.len() / w.max(1));
    for p in &mut buf[..rows * w] {
        *p = 0x000000;
    }
    for (i, line) in lines.iter().enumerate() {
        draw_text(buf, w, 6, (4 + i * 10) * scale, line, scale, colour);
    }
}

/// The window for Motion-JPEG over HTTP: it plays from the start (there is nothing to set
/// up, pause or seek on a multipart stream) until Q, Esc, closing the window, or its end.
fn run_http_window(opts: &Options) -> Result<Stats, ClientError> {
    let s = crate::http_mjpeg::HttpStream::open(opts)?;
    let name = opts.url.rsplit('/').nth(1).unwrap_or(&opts.url).to_string();
    let (mut w, mut h) = (384usize, 288usize);
    let mut win = PlayerWindow::open(&format!("HTTP - {name}"), w, h, false)?;
    let mut buffer = vec![BACKGROUND; w * h];
    let mut shown: Option<Arc<crate::player::Picture>> = None;
    let mut last_title = Instant::now() - Duration::from_secs(1);
    while win.window.is_open() && !crate::stop_requested() {
        if win.take_keys().contains(&PlayerKey::Q) {
            break;
        }
        let latest = s.display.lock().unwrap().latest.clone();
        if let Some(p) = latest.filter(|p| !shown.as_ref().is_some_and(|q| Arc::ptr_eq(p, q))) {
            if (p.width, p.height) != (w, h) {
                (w, h) = (p.width, p.height);
                win = PlayerWindow::open(&format!("HTTP - {name}"), w, h, false)?;
            }
            buffer.clear();
            buffer.extend_from_slice(&p.pixels);
            shown = Some(p);
        }
        if last_title.elapsed() > Duration::from_millis(500) {
            let state = if s.ended() { "ENDED" } else { "PLAYING" };
            let d = s.display.lock().unwrap().frames_decoded;
            win.set_title(&format!("{state} - {name} - {d} frames - http"));
            last_title = Instant::now();
        }
        win.present(&buffer, w, h)?;
    }
    Ok(s.stop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifb_keys_map_to_player_keys() {
        assert_eq!(player_key(Key::Escape), Some(PlayerKey::Q));
        assert_eq!(player_key(Key::Q), Some(PlayerKey::Q));
        assert_eq!(player_key(Key::Space), Some(PlayerKey::Space));
        assert_eq!(player_key(Key::LeftBracket), Some(PlayerKey::LeftBracket));
        assert_eq!(player_key(Key::A), None);
    }

    #[test]
    fn every_press_counts_once_however_short() {
        let pressed = Arc::new(Mutex::new(Vec::new()));
        let mut k = KeyEvents {
            pressed: pressed.clone(),
            down: Vec::new(),
        };
        // A tap: down and up between two updates. A held key repeating: one press.
        k.set_key_state(Key::P, true);
        k.set_key_state(Key::P, false);
        k.set_key_state(Key::Right, true);
        k.set_key_state(Key::Right, true);
        k.set_key_state(Key::Right, false);
        k.set_key_state(Key::P, true);
        assert_eq!(*pressed.lock().unwrap(), vec![Key::P, Key::Right, Key::P]);
    }

    #[test]
    fn the_window_fits_the_screen() {
        assert_eq!(fit(800, 616, Some((640, 480))), (623, 480));
        assert_eq!(fit(384, 304, Some((640, 480))), (384, 304));
        assert_eq!(fit(384, 304, None), (384, 304));
    }
}
