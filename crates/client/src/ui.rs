//! Keys and what they do. [`command_for`] is the key handling as a pure function of the
//! state, so it is tested without a window; [`execute`] carries a command out on the session.
//! The minifb window that reads the keys is in [`crate::window`]; headless playback takes the
//! same keys from a script (`--keys`).

use crate::session::{ClientSession, Dialect, PlayState};
use crate::ClientError;

pub use crate::window::run_window;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    Setup,
    Play,
    /// `P` in INIT: SETUP then PLAY (the lab's optional three-button exercise).
    SetupThenPlay,
    Pause,
    Teardown,
    Describe,
    /// TEARDOWN first when there is a session (with a short deadline), then quit.
    Quit,
    /// Seek by this many seconds from the current position.
    SeekBy(f64),
    /// Seek to this many seconds (Home: 0; a click on the progress bar).
    SeekTo(f64),
    /// Speed: `]` doubles, `[` halves, backslash reverses.
    Faster,
    Slower,
    Reverse,
    /// While paused: one frame back or forward.
    Step(i64),
    /// The window fills the screen, or goes back.
    Fullscreen,
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
    F,
    Left,
    Right,
    Down,
    Up,
    Home,
    LeftBracket,
    RightBracket,
    Backslash,
    Comma,
    Period,
}

/// The key help, as `--help` and the window before the first frame show it.
pub const KEY_HELP: &[&str] = &[
    "S  SETUP",
    "P  PLAY (SETUP FIRST IF NEEDED)",
    "SPACE  PAUSE / RESUME",
    "LEFT RIGHT  -5 / +5 S",
    "DOWN UP  -30 / +30 S",
    "HOME  TO THE START",
    "CLICK THE BAR  SEEK THERE",
    "[ ]  HALF / DOUBLE SPEED",
    "\\  REVERSE",
    ", .  FRAME BACK / FORWARD (PAUSED)",
    "F  FULLSCREEN",
    "T  TEARDOWN",
    "D  DESCRIBE (PRINTS THE SDP)",
    "Q / ESC  QUIT",
];

impl PlayerKey {
    /// The key a `--keys` script names: a letter, `space`, `left`, `right`, `up`, `down`,
    /// `home`, or `[`, `]`, a backslash, `,`, `.`.
    pub fn from_name(name: &str) -> Option<PlayerKey> {
        use PlayerKey::*;
        Some(match name.to_ascii_lowercase().as_str() {
            "s" => S,
            "p" => P,
            "space" => Space,
            "t" => T,
            "d" => D,
            "q" | "esc" => Q,
            "f" => F,
            "left" => Left,
            "right" => Right,
            "down" => Down,
            "up" => Up,
            "home" => Home,
            "[" => LeftBracket,
            "]" => RightBracket,
            "\\" => Backslash,
            "," => Comma,
            "." => Period,
            _ => return None,
        })
    }
}

/// The command for `key` in `state`, or why the key does nothing now.
pub fn command_for(
    key: PlayerKey,
    state: PlayState,
    dialect: Dialect,
) -> Result<Command, &'static str> {
    use PlayState::*;
    use PlayerKey::*;
    let trick = matches!(
        key,
        Left | Right | Down | Up | Home | LeftBracket | RightBracket | Backslash | Comma | Period
    );
    if trick && dialect == Dialect::Lab {
        return Err("the lab's server cannot seek or change speed");
    }
    if trick && state == Init {
        return Err("nothing is set up: press P");
    }
    match (key, state) {
        (Q, _) => Ok(Command::Quit),
        (F, _) => Ok(Command::Fullscreen),
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
        (Left, _) => Ok(Command::SeekBy(-5.0)),
        (Right, _) => Ok(Command::SeekBy(5.0)),
        (Down, _) => Ok(Command::SeekBy(-30.0)),
        (Up, _) => Ok(Command::SeekBy(30.0)),
        (Home, _) => Ok(Command::SeekTo(0.0)),
        (LeftBracket, _) => Ok(Command::Slower),
        (RightBracket, _) => Ok(Command::Faster),
        (Backslash, _) => Ok(Command::Reverse),
        (Comma | Period, Paused) => Ok(Command::Step(if key == Comma { -1 } else { 1 })),
        (Comma | Period, _) => Err("frame steps work while paused: press Space first"),
    }
}

/// Carries out a command; returns false when the player should quit. Quit always quits:
/// a TEARDOWN that fails (the server is gone) is logged, not a reason to stay.
/// `Fullscreen` is the window's to do: here it does nothing.
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
            if let Err(e) = s.quit() {
                log::warn!("TEARDOWN on quitting: {e}");
            }
            return Ok(false);
        }
        Command::SeekBy(d) => s.seek_by(d)?,
        Command::SeekTo(t) => s.seek(t)?,
        Command::Faster => s.set_scale(s.next_speed(true))?,
        Command::Slower => s.set_scale(s.next_speed(false))?,
        Command::Reverse => s.set_scale(-s.scale())?,
        Command::Step(n) => s.step(n)?,
        Command::Fullscreen => {}
    }
    Ok(true)
}

/// `mm:ss` (or `h:mm:ss` past an hour).
pub fn clock(seconds: f64) -> String {
    let t = seconds.max(0.0) as u64;
    match t / 3600 {
        0 => format!("{:02}:{:02}", t / 60, t % 60),
        h => format!("{h}:{:02}:{:02}", t / 60 % 60, t % 60),
    }
}

/// `00:07 / 00:20`: where playback is and how long the stream is (`--:--` when unknown).
pub fn time_readout(s: &ClientSession) -> String {
    let total = s.duration().map_or("--:--".to_string(), clock);
    let at = s.position().map_or("--:--".to_string(), clock);
    format!("{at} / {total}")
}

/// The window title: state (or `label` in its place: `ENDED` once the stream is over, `ERROR`
/// when the server is gone), file, resolution, time, speed and live statistics.
pub fn title(s: &ClientSession, file: &str, label: Option<&str>) -> String {
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
    let state = label.unwrap_or(s.state.name());
    let speed = match s.scale() {
        1.0 => String::new(),
        x => format!(" - {x}x"),
    };
    format!(
        "{state} - {file}{size} - {}{speed} - {transport} - {}",
        time_readout(s),
        st.summary()
    )
}

/// Parses a `--keys` script: `SECONDS:KEY` items separated by commas or spaces, e.g.
/// `2:space 4:space 6:t 7:p` (a `,` or `.` key is written `comma`, `period`).
pub fn parse_keys(script: &str) -> Result<Vec<(f64, PlayerKey)>, String> {
    let mut keys = Vec::new();
    for item in script.split([',', ' ']).filter(|i| !i.is_empty()) {
        let (at, name) = item
            .split_once(':')
            .ok_or_else(|| format!("{item:?} is not SECONDS:KEY"))?;
        let at: f64 = at
            .parse()
            .map_err(|_| format!("{at:?} in {item:?} is not a number of seconds"))?;
        let name = match name {
            "comma" => ",",
            "period" => ".",
            "backslash" => "\\",
            n => n,
        };
        let key = PlayerKey::from_name(name).ok_or_else(|| format!("no key {name:?}"))?;
        keys.push((at, key));
    }
    keys.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(keys)
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
    fn seeking_speed_and_steps() {
        let d = Dialect::Standard;
        assert_eq!(command_for(Right, Playing, d), Ok(Command::SeekBy(5.0)));
        assert_eq!(command_for(Left, Paused, d), Ok(Command::SeekBy(-5.0)));
        assert_eq!(command_for(Up, Ready, d), Ok(Command::SeekBy(30.0)));
        assert_eq!(command_for(Down, Playing, d), Ok(Command::SeekBy(-30.0)));
        assert_eq!(command_for(Home, Playing, d), Ok(Command::SeekTo(0.0)));
        assert_eq!(command_for(RightBracket, Playing, d), Ok(Command::Faster));
        assert_eq!(command_for(LeftBracket, Paused, d), Ok(Command::Slower));
        assert_eq!(command_for(Backslash, Playing, d), Ok(Command::Reverse));
        assert_eq!(command_for(Comma, Paused, d), Ok(Command::Step(-1)));
        assert_eq!(command_for(Period, Paused, d), Ok(Command::Step(1)));
        assert!(command_for(Period, Playing, d).is_err());
        assert!(command_for(Right, Init, d).is_err());
        assert!(command_for(Right, Playing, Dialect::Lab).is_err());
        assert_eq!(command_for(F, Init, d), Ok(Command::Fullscreen));
    }

    #[test]
    fn script_key_names() {
        assert_eq!(PlayerKey::from_name("space"), Some(Space));
        assert_eq!(PlayerKey::from_name("Right"), Some(Right));
        assert_eq!(PlayerKey::from_name("\\"), Some(Backslash));
        assert_eq!(PlayerKey::from_name("."), Some(Period));
        assert_eq!(PlayerKey::from_name("x"), None);
    }

    #[test]
    fn key_scripts() {
        assert_eq!(
            parse_keys("2:space, 4.5:space 6:t 6.5:p 7:comma").unwrap(),
            vec![(2.0, Space), (4.5, Space), (6.0, T), (6.5, P), (7.0, Comma)]
        );
        assert!(parse_keys("2").is_err());
        assert!(parse_keys("x:p").is_err());
        assert!(parse_keys("1:zz").is_err());
    }

    #[test]
    fn clock_readout() {
        assert_eq!(clock(7.9), "00:07");
        assert_eq!(clock(20.0), "00:20");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(clock(-1.0), "00:00");
    }
}
