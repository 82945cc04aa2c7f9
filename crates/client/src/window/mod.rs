//! The minifb window on the main thread: the video with a progress bar under it (the time
//! drawn on it; a click or drag on it seeks), messages over the picture (errors with the
//! server's status, fallbacks, the end of the stream), fullscreen, and the keys. The loop and
//! what the keys and the mouse do are here; the window itself (key events, the screen's size,
//! fullscreen) is in `platform`, the drawing in `draw`.

mod draw;
mod platform;

use std::sync::Arc;
use std::time::{Duration, Instant};

use minifb::MouseButton;

use crate::session::{ClientSession, Dialect, PlayState};
use crate::stats::Stats;
use crate::ui::{command_for, execute, title, Command, PlayerKey};
use crate::{ClientError, Options};

pub use draw::BAR_HEIGHT;
use draw::{compose, Message, BACKGROUND, ENDED_COLOUR, NOTICE_COLOUR};
use platform::PlayerWindow;
pub use platform::{fit, screen_size};

/// How long a notice (not an error) stays on screen.
const NOTICE_FOR: Duration = Duration::from_secs(5);

/// What the loop carries from one update to the next.
pub(crate) struct Screen {
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
