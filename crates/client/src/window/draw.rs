//! What the window draws: the picture (or the key help before the first one), the progress
//! bar with the time on it, and a message over the top of the picture.

use std::time::Instant;

use crate::font::{draw_text, text_width};
use crate::session::ClientSession;
use crate::ui::{time_readout, KEY_HELP};

use super::{buffer_size, Screen};

/// Rows of the progress bar under the picture.
pub const BAR_HEIGHT: usize = 16;
pub(super) const BACKGROUND: u32 = 0x101018;
pub(super) const ERROR_COLOUR: u32 = 0xff4040;
pub(super) const NOTICE_COLOUR: u32 = 0xffd040;
pub(super) const ENDED_COLOUR: u32 = 0xffffff;

/// A line over the picture.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Message {
    pub(super) text: String,
    pub(super) colour: u32,
    pub(super) until: Option<Instant>,
}

impl Message {
    pub(super) fn error(text: String) -> Message {
        log::error!("{text}");
        Message {
            text,
            colour: ERROR_COLOUR,
            until: None,
        }
    }
}

/// Draws the picture (or the key help before the first one), the bar and the message.
pub(super) fn compose(
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
