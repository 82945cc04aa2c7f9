//! Seeking, speed and frame steps, all done with PLAY as real servers expect it (ours,
//! gst-rtsp-server): a seek while playing is PAUSE, then PLAY with `Range: npt=T-` (RFC 2326
//! 10.5: a PLAY while playing is not something every server takes); speed is PLAY with
//! `Scale:` (RFC 2326 12.34), and the server's answer says what it applies; a frame step is
//! PLAY with the one-frame range `npt=T-T+1/fps`, after which the player shows that frame
//! and the session pauses again.
//!
//! Every PLAY goes through [`ClientSession::play_request`], which closes the seek gate while
//! the request is out and opens it at the response's RTP-Info (see [`crate::playhead`]).

use rtsp_proto::rtsp::{Method, NptTime, Range, RtpInfo, Scale};

use super::{ClientSession, Dialect, PlayState};
use crate::ClientError;

/// The frame rate when the SDP gives none (the lab's and the sample's).
pub const DEFAULT_FPS: f64 = 20.0;

/// The speeds `[` and `]` step through.
pub const SPEEDS: [f64; 4] = [0.5, 1.0, 2.0, 4.0];

impl ClientSession {
    /// The SDP's frame rate, or [`DEFAULT_FPS`].
    pub fn fps(&self) -> f64 {
        self.info
            .as_ref()
            .and_then(|i| i.framerate)
            .filter(|f| *f > 0.0)
            .unwrap_or(DEFAULT_FPS)
    }

    /// The presentation's length from the SDP's `a=range`, when it has an end.
    pub fn duration(&self) -> Option<f64> {
        match self.info.as_ref()?.range? {
            (start, Some(end)) if end > start => Some(end - start),
            _ => None,
        }
    }

    /// Where playback is: the shown frame's position, else where the last PLAY started.
    pub fn position(&self) -> Option<f64> {
        let shown = self.display.lock().unwrap().latest.as_ref()?.position;
        shown.or_else(|| self.playhead.lock().unwrap().base.map(|b| b.npt))
    }

    /// `to` kept inside the presentation: from 0 to its last frame.
    pub fn clamp(&self, to: f64) -> f64 {
        let last = self.duration().map_or(f64::MAX, |d| d - 1.0 / self.fps());
        to.min(last).max(0.0)
    }

    /// What the server applies now: 1 is normal play.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// A message for the user (a fallback the server forced), taken once.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    fn tell(&mut self, text: String) {
        log::warn!("{text}");
        self.notice = Some(text);
    }

    fn trick_allowed(&self, method: Method) -> Result<(), ClientError> {
        if self.dialect == Dialect::Lab {
            return Err(ClientError::NotInLabDialect(method));
        }
        if matches!(self.state, PlayState::Init) {
            return Err(ClientError::NotAllowed {
                method,
                state: self.state,
            });
        }
        Ok(())
    }

    /// PAUSE on the wire, when the server may be sending (a seek's first half).
    pub(super) fn pause_if_sending(&mut self) -> Result<(), ClientError> {
        if self.server_playing {
            let base = self.base.clone();
            self.standard(Method::Pause, &base, &[])?;
            self.server_playing = false;
        }
        Ok(())
    }

    /// PLAY with `range` and `scale`; the gate and the time base follow the response. Returns
    /// the Scale the server applies (1 when it sends none: RFC 2326 12.34 has the server
    /// answer with the Scale it uses).
    pub(super) fn play_request(
        &mut self,
        range: Option<(f64, Option<f64>)>,
        scale: f64,
        step: bool,
    ) -> Result<f64, ClientError> {
        let mut headers = Vec::new();
        // gst-rtsp-server keeps a range's end for later PLAYs whose range has none (a resume
        // after a frame step would stop at once): after a step, ranges end at the end.
        let range = range.map(|(start, end)| match (end, self.bounded, self.duration()) {
            (None, true, Some(d)) => (start, Some(d)),
            _ => (start, end),
        });
        if let Some((start, end)) = range {
            let r = Range {
                start: NptTime::Seconds(start),
                end: end.map(NptTime::Seconds),
            };
            headers.push((Range::NAME, r.to_string()));
        }
        if scale != 1.0 {
            headers.push((Scale::NAME, Scale(scale).to_string()));
        }
        let resume_at = self.position();
        self.playhead.lock().unwrap().playing_soon(step);
        let base = self.base.clone();
        let r = match self.standard(Method::Play, &base, &headers) {
            Ok(r) => r,
            Err(e) => {
                self.playhead.lock().unwrap().play_failed();
                return Err(e);
            }
        };
        self.server_playing = true;
        self.bounded |= range.is_some_and(|r| r.1.is_some());
        self.last_play = Some(std::time::Instant::now());
        // A BYE ended the last range (gst-rtsp-server sends one at a step's end): this PLAY
        // starts another.
        self.rx.lock().unwrap().bye = false;
        let npt = r
            .headers
            .get(Range::NAME)
            .and_then(|v| Range::parse(v).ok())
            .and_then(|r| match r.start {
                NptTime::Seconds(s) => Some(s),
                NptTime::Now => None,
            })
            .or(range.map(|r| r.0))
            .or(resume_at)
            .unwrap_or(0.0);
        let info = r
            .headers
            .get("RTP-Info")
            .and_then(|v| RtpInfo::parse_list(v).ok())
            .and_then(|l| l.into_iter().next());
        let applied = match r.headers.get(Scale::NAME) {
            Some(v) => Scale::parse(v).map_or(1.0, |s| s.0),
            None => 1.0,
        };
        log::info!(
            "PLAY answered: Range {:?}, RTP-Info {:?}, Scale {:?}",
            r.headers.get(Range::NAME),
            r.headers.get("RTP-Info"),
            r.headers.get(Scale::NAME)
        );
        let (seq, rtptime) = info.map_or((None, None), |i| (i.seq, i.rtptime));
        self.playhead
            .lock()
            .unwrap()
            .played(npt, seq, rtptime, applied);
        Ok(applied)
    }

    /// PLAY at the chosen speed; when the server refuses the Scale or applies another, plays
    /// at what it applies and says so.
    pub(super) fn play_at_speed(
        &mut self,
        range: Option<(f64, Option<f64>)>,
    ) -> Result<(), ClientError> {
        let wanted = self.scale;
        match self.play_request(range, wanted, false) {
            Ok(applied) => {
                if (applied - wanted).abs() > 1e-3 {
                    self.scale = applied;
                    self.tell(format!(
                        "the server plays at {applied}x, not {wanted}x (its Scale answer)"
                    ));
                }
                Ok(())
            }
            Err(ClientError::Status { status, reason, .. }) if wanted != 1.0 => {
                self.tell(format!(
                    "speed {wanted}x refused ({status} {reason}): playing at 1x"
                ));
                self.scale = 1.0;
                self.play_request(range, 1.0, false).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Seeks to `to` seconds (kept inside the presentation). Playing, it plays on from there;
    /// paused, it shows the frame there and stays paused.
    pub fn seek(&mut self, to: f64) -> Result<(), ClientError> {
        self.trick_allowed(Method::Play)?;
        let t = self.clamp(to);
        self.seeks += 1;
        self.ended_by_range = false;
        self.pause_if_sending()?;
        match self.state {
            PlayState::Paused => self.show_frame_at(t),
            _ => {
                let result = self.play_at_speed(Some((t, None)));
                self.state = match result {
                    Ok(()) => PlayState::Playing,
                    Err(_) => PlayState::Paused,
                };
                result
            }
        }
    }

    /// Seeks by `delta` seconds from the current position.
    pub fn seek_by(&mut self, delta: f64) -> Result<(), ClientError> {
        let from = self.position().unwrap_or(0.0);
        self.seek(from + delta)
    }

    /// While paused: shows the frame `frames` away (-1 back, 1 forward) and stays paused.
    pub fn step(&mut self, frames: i64) -> Result<(), ClientError> {
        self.trick_allowed(Method::Play)?;
        if self.state != PlayState::Paused {
            return Err(ClientError::NotAllowed {
                method: Method::Play,
                state: self.state,
            });
        }
        let fps = self.fps();
        let now = (self.position().unwrap_or(0.0) * fps).round();
        self.seeks += 1;
        self.pause_if_sending()?;
        self.show_frame_at(self.clamp((now + frames as f64) / fps))
    }

    /// PLAY of the one frame at `t` (`npt=T-T+1/fps`); the player shows it and shuts the gate,
    /// and [`ClientSession::poll`] pauses the server. Resuming plays on from the next frame.
    fn show_frame_at(&mut self, t: f64) -> Result<(), ClientError> {
        let frame = 1.0 / self.fps();
        self.play_request(Some((t, Some(t + frame))), 1.0, true)?;
        self.resume_at = Some(t + frame);
        Ok(())
    }

    /// Changes the speed: `[` halves it, `]` doubles it (within [`SPEEDS`]), `\` turns the
    /// direction. Playing, it takes effect at once (PAUSE, PLAY with Scale at the current
    /// position); paused, at the next PLAY.
    pub fn set_scale(&mut self, scale: f64) -> Result<(), ClientError> {
        self.trick_allowed(Method::Play)?;
        self.scale = scale;
        if self.state != PlayState::Playing {
            return Ok(());
        }
        let at = self.position().map(|p| self.clamp(p));
        self.pause_if_sending()?;
        let result = self.play_at_speed(at.map(|t| (t, None)));
        if result.is_err() {
            self.state = PlayState::Paused;
        }
        result
    }

    /// The next speed up or down from the current one.
    pub fn next_speed(&self, faster: bool) -> f64 {
        let sign = self.scale.signum();
        let now = self.scale.abs();
        let pick = if faster {
            SPEEDS.iter().find(|s| **s > now + 1e-9).copied()
        } else {
            SPEEDS.iter().rev().find(|s| **s < now - 1e-9).copied()
        };
        sign * pick.unwrap_or(now)
    }

    /// Housekeeping the window or headless loop calls often: once a step's frame is shown,
    /// the server is paused again.
    pub fn poll(&mut self) -> Result<(), ClientError> {
        let stepped = std::mem::take(&mut self.playhead.lock().unwrap().step_shown);
        if stepped && self.state == PlayState::Paused {
            self.pause_if_sending()?;
        }
        Ok(())
    }
}
