//! Keys and the window. [`command_for`] is the key handling as a pure function of the state,
//! so it is tested without a window; [`run_window`] is the minifb loop on the main thread.

use std::time::{Duration, Instant};

use minifb::{Key, KeyRepeat, Scale, ScaleMode, Window, WindowOptions};

use crate::font::draw_text;
use crate::session::{ClientSession, Dialect, PlayState};
use crate::{ClientError, Options};

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Setup,
    Play,
    /// `P` in INIT: SETUP then PLAY (the lab's optional three-button exercise).
    SetupThenPlay,
    Pause,
    Teardown,
    Describe,
    /// TEARDOWN first when there is a session.
    Quit,
}

/// The keys the player knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerKey {
    S,
    P,
    Space,
    T,
    D,
    Q,
}

/// The key help, as `--help` and the window before the first frame show it.
pub const KEY_HELP: &[&str] = &[
    "S  SETUP",
    "P  PLAY (SETUP FIRST IF NEEDED)",
    "SPACE  PAUSE / RESUME",
    "T  TEARDOWN",
    "D  DESCRIBE (PRINTS THE SDP)",
    "Q / ESC  QUIT",
];

/// The command for `key` in `state`, or why the key does nothing now.
pub fn command_for(
    key: PlayerKey,
    state: PlayState,
    dialect: Dialect,
) -> Result<Command, &'static str> {
    use PlayState::*;
    use PlayerKey::*;
    match (key, state) {
        (Q, _) => Ok(Command::Quit),
        (D, _) if dialect == Dialect::Lab => Err("the lab's server has no DESCRIBE"),
        (D, _) => Ok(Command::Describe),
        (S, Init) => Ok(Command::Setup),
        (S, _) => Err("already set up"),
        (P, Init) => Ok(Command::SetupThenPlay),
        (P, Ready | Paused) => Ok(Command::Play),
        (P, Playing) => Err("already playing"),
        (Space, Playing) => Ok(Command::Pause),
        (Space, Paused) => Ok(Command::Play),
        (Space, Init | Ready) => Err("not playing: press P"),
        (T, Init) => Err("no session to tear down"),
        (T, _) => Ok(Command::Teardown),
    }
}

fn player_key(k: Key) -> Option<PlayerKey> {
    Some(match k {
        Key::S => PlayerKey::S,
        Key::P => PlayerKey::P,
        Key::Space => PlayerKey::Space,
        Key::T => PlayerKey::T,
        Key::D => PlayerKey::D,
        Key::Q | Key::Escape => PlayerKey::Q,
        _ => return None,
    })
}

/// Carries out a command; returns false when the player should quit.
pub fn execute(s: &mut ClientSession, cmd: Command) -> Result<bool, ClientError> {
    match cmd {
        Command::Setup => s.setup()?,
        Command::Play => s.play()?,
        Command::SetupThenPlay => {
            s.setup()?;
            s.play()?;
        }
        Command::Pause => s.pause()?,
        Command::Teardown => s.teardown()?,
        Command::Describe => println!("{}", s.describe()?),
        Command::Quit => {
            if s.state != PlayState::Init {
                s.teardown()?;
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// The window title: state, file, resolution and live statistics.
pub fn title(s: &ClientSession, file: &str) -> String {
    let st = s.stats();
    let size = if st.width > 0 {
        format!(" {}x{}", st.width, st.height)
    } else {
        String::new()
    };
    if s.state == PlayState::Init && st.frames_decoded == 0 {
        return format!("{} - {file}{size} - press P to play", s.state.name());
    }
    let transport = match &st.fallback {
        Some(_) => "TCP (fallback)".to_string(),
        None => st.transport.to_uppercase(),
    };
    format!(
        "{} - {file}{size} - {transport} - {}",
        s.state.name(),
        st.summary()
    )
}

/// Opens the window and runs until the user quits; `autoplay` does SETUP and PLAY at once.
pub fn run_window(opts: &Options, autoplay: bool) -> Result<crate::stats::Stats, ClientError> {
    if opts.url.starts_with("http://") {
        return run_http_window(opts);
    }
    let mut s = ClientSession::connect(opts)?;
    let (mut w, mut h) = (384usize, 288usize);
    if s.dialect == Dialect::Standard {
        if let Err(e) = s.describe() {
            log::warn!("DESCRIBE: {e}");
        }
        if let Some((dw, dh)) = s.info.as_ref().and_then(|i| i.dimensions) {
            (w, h) = (dw as usize, dh as usize);
        }
    }
    let sized_by_sdp = s.info.as_ref().and_then(|i| i.dimensions).is_some();
    let mut window = open_window(&title(&s, &opts.file), w, h)?;
    if autoplay {
        execute(&mut s, Command::SetupThenPlay)?;
    }
    let mut buffer = vec![0u32; w * h];
    let mut shown_ts = None;
    let mut last_title = Instant::now() - Duration::from_secs(1);
    while window.is_open() && !crate::stop_requested() {
        for key in window.get_keys_pressed(KeyRepeat::No) {
            let Some(k) = player_key(key) else { continue };
            match command_for(k, s.state, s.dialect) {
                Ok(cmd) => match execute(&mut s, cmd) {
                    Ok(true) => {}
                    Ok(false) => return Ok(s.stats()),
                    Err(e) => log::error!("{cmd:?}: {e}"),
                },
                Err(why) => log::info!("{k:?} does nothing now: {why}"),
            }
        }
        if let Err(e) = s.keepalive_if_due() {
            log::warn!("keepalive: {e}");
        }
        if let Err(e) = s.check_udp_fallback() {
            log::error!("falling back to TCP: {e}");
        }
        let latest = s.display.lock().unwrap().latest.clone();
        match latest {
            Some(p) => {
                if shown_ts.is_none() && !sized_by_sdp && (p.width, p.height) != (w, h) {
                    // No size in the SDP: the first frame gives the window its size.
                    window = open_window(&title(&s, &opts.file), p.width, p.height)?;
                }
                if shown_ts != Some(p.rtp_timestamp) || buffer.len() != p.pixels.len() {
                    (w, h) = (p.width, p.height);
                    buffer.clear();
                    buffer.extend_from_slice(&p.pixels);
                    draw_progress(&mut buffer, w, h, &s, p.rtp_timestamp);
                    shown_ts = Some(p.rtp_timestamp);
                }
            }
            None => draw_help(&mut buffer, w, h),
        }
        if last_title.elapsed() > Duration::from_millis(500) {
            window.set_title(&title(&s, &opts.file));
            last_title = Instant::now();
        }
        present(&mut window, &buffer, w, h)?;
    }
    if s.state != PlayState::Init {
        let _ = s.teardown();
    }
    Ok(s.stats())
}

/// The window for Motion-JPEG over HTTP: it plays from the start (there is nothing to set
/// up, pause or seek on a multipart stream) until Q, Esc, closing the window, or its end.
fn run_http_window(opts: &Options) -> Result<crate::stats::Stats, ClientError> {
    let s = crate::http_mjpeg::HttpStream::open(opts)?;
    let name = opts.url.rsplit('/').nth(1).unwrap_or(&opts.url).to_string();
    let (mut w, mut h) = (384usize, 288usize);
    let mut window = open_window(&format!("HTTP - {name}"), w, h)?;
    let mut buffer = vec![0x101018u32; w * h];
    let mut shown: Option<std::sync::Arc<crate::player::Picture>> = None;
    let mut last_title = Instant::now() - Duration::from_secs(1);
    while window.is_open() && !crate::stop_requested() {
        if window.is_key_down(Key::Q) || window.is_key_down(Key::Escape) {
            break;
        }
        let latest = s.display.lock().unwrap().latest.clone();
        if let Some(p) =
            latest.filter(|p| !shown.as_ref().is_some_and(|q| std::sync::Arc::ptr_eq(p, q)))
        {
            if (p.width, p.height) != (w, h) {
                (w, h) = (p.width, p.height);
                window = open_window(&format!("HTTP - {name}"), w, h)?;
            }
            buffer.clear();
            buffer.extend_from_slice(&p.pixels);
            shown = Some(p);
        }
        if last_title.elapsed() > Duration::from_millis(500) {
            let state = if s.ended() { "ENDED" } else { "PLAYING" };
            let d = s.display.lock().unwrap().frames_decoded;
            window.set_title(&format!("{state} - {name} - {d} frames - http"));
            last_title = Instant::now();
        }
        present(&mut window, &buffer, w, h)?;
    }
    Ok(s.stop())
}

/// Shows `buffer` (w x h) in the window and takes its events.
fn present(window: &mut Window, buffer: &[u32], w: usize, h: usize) -> Result<(), ClientError> {
    window
        .update_with_buffer(buffer, w, h)
        .map_err(|source| ClientError::Window {
            what: "drawing the window",
            source,
        })
}

fn open_window(title: &str, w: usize, h: usize) -> Result<Window, ClientError> {
    let options = WindowOptions {
        resize: true,
        scale: Scale::X1,
        scale_mode: ScaleMode::AspectRatioStretch,
        ..WindowOptions::default()
    };
    let mut window = Window::new(title, w, h, options).map_err(|source| ClientError::Window {
        what: "opening a window",
        source,
    })?;
    window.set_target_fps(60);
    Ok(window)
}

fn draw_help(buf: &mut [u32], w: usize, h: usize) {
    buf.iter_mut().for_each(|p| *p = 0x101018);
    let scale = if w >= 600 { 2 } else { 1 };
    for (i, line) in KEY_HELP.iter().enumerate() {
        draw_text(buf, w, 12, 12 + i * 12 * scale, line, scale, 0xe0e0e0);
    }
    let _ = h;
}

/// A thin bar at the bottom: how far into the SDP's range this frame is.
fn draw_progress(buf: &mut [u32], w: usize, h: usize, s: &ClientSession, ts: u32) {
    let Some((start, Some(end))) = s.info.as_ref().and_then(|i| i.range) else {
        return;
    };
    let Some(first) = s.stats_first_timestamp() else {
        return;
    };
    let pos = ts.wrapping_sub(first) as f64 / 90_000.0;
    let frac = (pos / (end - start)).clamp(0.0, 1.0);
    let filled = (frac * w as f64) as usize;
    for y in h.saturating_sub(3)..h {
        for x in 0..w {
            buf[y * w + x] = if x < filled { 0xe03030 } else { 0x303030 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlayState::*;
    use PlayerKey::*;

    #[test]
    fn keys_in_every_state() {
        let d = Dialect::Standard;
        assert_eq!(command_for(S, Init, d), Ok(Command::Setup));
        assert_eq!(command_for(P, Init, d), Ok(Command::SetupThenPlay));
        assert_eq!(command_for(P, Ready, d), Ok(Command::Play));
        assert_eq!(command_for(Space, Playing, d), Ok(Command::Pause));
        assert_eq!(command_for(Space, Paused, d), Ok(Command::Play));
        assert_eq!(command_for(P, Paused, d), Ok(Command::Play));
        assert_eq!(command_for(T, Playing, d), Ok(Command::Teardown));
        assert_eq!(command_for(D, Playing, d), Ok(Command::Describe));
        assert_eq!(command_for(Q, Playing, d), Ok(Command::Quit));
        assert_eq!(command_for(Q, Init, d), Ok(Command::Quit));
    }

    #[test]
    fn keys_that_do_nothing_say_why() {
        let d = Dialect::Standard;
        assert!(command_for(S, Ready, d).is_err());
        assert!(command_for(S, Playing, d).is_err());
        assert!(command_for(P, Playing, d).is_err());
        assert!(command_for(Space, Init, d).is_err());
        assert!(command_for(Space, Ready, d).is_err());
        assert!(command_for(T, Init, d).is_err());
        assert_eq!(
            command_for(D, Ready, Dialect::Lab),
            Err("the lab's server has no DESCRIBE")
        );
    }

    #[test]
    fn minifb_keys_map_to_player_keys() {
        assert_eq!(player_key(Key::Escape), Some(Q));
        assert_eq!(player_key(Key::Q), Some(Q));
        assert_eq!(player_key(Key::Space), Some(Space));
        assert_eq!(player_key(Key::A), None);
    }
}
