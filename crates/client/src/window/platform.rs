//! The minifb window: key presses from its input callback, the screen's size, a size that
//! fits on it, and fullscreen as a borderless window the size of the screen.
//!
//! Keys come from minifb's input callback, one event per press, so a tap shorter than a frame
//! (`xdotool key p`) is seen; polling which keys are down between two updates misses it. The
//! window opens sized to the video, scaled down to fit the screen, centred on it; fullscreen
//! is a borderless window the size of the screen at (0, 0), the picture stretched to it.

use std::sync::{Arc, Mutex};

use minifb::{InputCallback, Key, MouseMode, Scale, ScaleMode, Window, WindowOptions};

use crate::ui::PlayerKey;
use crate::ClientError;

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
/// it, the server resets, and the window opened next would find no display. Only a size found
/// is kept: a display that refused once (a connection made during such a reset fails) is
/// asked again at the next window, so fullscreen still works.
#[cfg(target_os = "linux")]
pub fn screen_size() -> Option<(usize, usize)> {
    use std::sync::OnceLock;
    use x11_dl::xlib::Xlib;
    static SIZE: OnceLock<(usize, usize)> = OnceLock::new();
    if let Some(size) = SIZE.get() {
        return Some(*size);
    }
    let xlib = Xlib::open().ok()?;
    // SAFETY: a display opened here and only read; null is checked.
    let (w, h) = unsafe {
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
    if w <= 0 || h <= 0 {
        return None;
    }
    // Windows open on one thread, so two connections are never both kept.
    Some(*SIZE.get_or_init(|| (w as usize, h as usize)))
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
pub(super) struct PlayerWindow {
    pub(super) window: Window,
    keys: Arc<Mutex<Vec<Key>>>,
    pub(super) fullscreen: bool,
    pub(super) screen: Option<(usize, usize)>,
    pub(super) title: String,
}

impl PlayerWindow {
    pub(super) fn open(
        title: &str,
        bw: usize,
        bh: usize,
        fullscreen: bool,
    ) -> Result<Self, ClientError> {
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

    pub(super) fn take_keys(&self) -> Vec<PlayerKey> {
        let keys = std::mem::take(&mut *self.keys.lock().unwrap());
        keys.into_iter().filter_map(player_key).collect()
    }

    pub(super) fn set_title(&mut self, title: &str) {
        if title != self.title {
            self.window.set_title(title);
            self.title = title.to_string();
        }
    }

    /// The mouse in buffer coordinates (`bw` x `bh`), undoing the aspect-preserving stretch.
    pub(super) fn mouse(&self, bw: usize, bh: usize) -> Option<(f64, f64)> {
        let (mx, my) = self.window.get_unscaled_mouse_pos(MouseMode::Discard)?;
        let (ww, wh) = self.window.get_size();
        let f = (ww as f64 / bw as f64).min(wh as f64 / bh as f64);
        let ox = (ww as f64 - bw as f64 * f) / 2.0;
        let oy = (wh as f64 - bh as f64 * f) / 2.0;
        Some(((mx as f64 - ox) / f, (my as f64 - oy) / f))
    }

    pub(super) fn present(&mut self, buf: &[u32], w: usize, h: usize) -> Result<(), ClientError> {
        self.window
            .update_with_buffer(buf, w, h)
            .map_err(|source| ClientError::Window {
                what: "drawing the window",
                source,
            })
    }
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
