//! The server side of an RTSP session (RFC 2326 Appendix A.2): which method is allowed in which
//! state, when an idle session expires, and the session's [`Playout`]. The state is not stored
//! beside the playout but read from it (no playout: Init; a paused one: Ready; one that plays or
//! played to its end: Playing), so the two cannot disagree. Time is passed in, so the rules are
//! unit tests.

use std::time::{Duration, Instant};

use crate::playout::{PlayError, PlayRequest, PlayStarted, Playout, RtpOrigin, Timeline};
use crate::rtsp::{Method, StatusCode};

/// The session timeout RFC 2326 12.37 assumes when the Session header does not name one; the
/// server never names one, because the lab's client cannot read `;timeout=`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// RFC 2326 A.2 server states (recording is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// SETUP has not succeeded yet, or TEARDOWN ended the session.
    Init,
    /// Transport set up, not sending.
    Ready,
    /// Sending media (or sent it all: the state stays Playing until PAUSE or TEARDOWN).
    Playing,
}

/// What a method does to a session, as [`ServerSession::check`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// SETUP: (re)configure the transport.
    Setup,
    /// PLAY: start (or continue) sending.
    Play,
    /// PAUSE: stop sending, keep the position.
    Pause,
    /// TEARDOWN: free the session.
    Teardown,
    /// Any other method on the session only keeps it alive.
    KeepAlive,
}

/// Why a PLAY was refused, with the status it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PlayRefused {
    #[error("PLAY is not valid in state {0:?}")]
    State(State),
    #[error(transparent)]
    Range(#[from] PlayError),
}

impl PlayRefused {
    /// 455 for the state, 457 for the range.
    pub fn status(&self) -> StatusCode {
        match self {
            PlayRefused::State(_) => StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
            PlayRefused::Range(_) => StatusCode::INVALID_RANGE,
        }
    }
}

/// One RTSP session as the server tracks it.
#[derive(Debug, Clone)]
pub struct ServerSession {
    /// Decimal digits only (the lab's client parses the id with `int()`), from 64 random bits
    /// so it cannot be guessed.
    pub id: String,
    pub timeout: Duration,
    last_activity: Instant,
    playout: Option<Playout>,
}

impl ServerSession {
    /// A new session in `Init`, its id drawn from `random` (the caller's entropy).
    pub fn new(random: u64, now: Instant) -> Self {
        ServerSession {
            id: random.to_string(),
            timeout: DEFAULT_TIMEOUT,
            last_activity: now,
            playout: None,
        }
    }

    /// The RFC 2326 state, read from the playout.
    pub fn state(&self) -> State {
        match &self.playout {
            None => State::Init,
            Some(p) if p.is_playing() => State::Playing,
            Some(_) => State::Ready,
        }
    }

    /// What `method` would do in this state, or the status to refuse it with (455 when the
    /// method is not valid in this state, 501 for methods not offered at all). Changes nothing.
    pub fn check(&self, method: &Method) -> Result<Transition, StatusCode> {
        use State::*;
        match (self.state(), method) {
            (Init | Ready, Method::Setup) => Ok(Transition::Setup),
            (Ready | Playing, Method::Play) => Ok(Transition::Play),
            (Playing, Method::Pause) => Ok(Transition::Pause),
            (_, Method::Teardown) => Ok(Transition::Teardown),
            (_, Method::GetParameter | Method::SetParameter | Method::Options) => {
                Ok(Transition::KeepAlive)
            }
            (_, Method::Setup | Method::Play | Method::Pause | Method::Describe) => {
                Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE)
            }
            _ => Err(StatusCode::NOT_IMPLEMENTED),
        }
    }

    /// SETUP: a playout of `timeline`, paused at its start. A second SETUP (a new file or
    /// transport) keeps the stream's RTP origin and starts the file over; `origin` is used
    /// only for the first.
    pub fn setup(
        &mut self,
        timeline: Timeline,
        origin: RtpOrigin,
        now: Instant,
    ) -> Result<(), StatusCode> {
        self.check(&Method::Setup)?;
        match &mut self.playout {
            Some(p) => p.set_timeline(timeline),
            None => self.playout = Some(Playout::new(timeline, origin)),
        }
        self.last_activity = now;
        Ok(())
    }

    /// PLAY, from `from` seconds or from where the stream paused.
    pub fn play(&mut self, now: Instant, from: Option<f64>) -> Result<PlayStarted, PlayRefused> {
        self.play_request(now, PlayRequest::normal(from))
    }

    /// PLAY with a range and a trick (Scale, Speed): see [`Playout::play_request`].
    pub fn play_request(
        &mut self,
        now: Instant,
        request: PlayRequest,
    ) -> Result<PlayStarted, PlayRefused> {
        let state = self.state();
        self.check(&Method::Play)
            .map_err(|_| PlayRefused::State(state))?;
        let playout = self.playout.as_mut().ok_or(PlayRefused::State(state))?;
        let started = playout.play_request(now, request)?;
        self.last_activity = now;
        Ok(started)
    }

    /// PAUSE: the stream stops; a PLAY resumes it.
    pub fn pause(&mut self, now: Instant) -> Result<(), StatusCode> {
        self.check(&Method::Pause)?;
        if let Some(p) = &mut self.playout {
            p.pause();
        }
        self.last_activity = now;
        Ok(())
    }

    /// TEARDOWN (or the end of the session any other way): back to Init. The stopped playout
    /// is handed back for the last sender report and BYE.
    pub fn teardown(&mut self) -> Option<Playout> {
        let mut playout = self.playout.take()?;
        playout.stop();
        Some(playout)
    }

    /// A method that only keeps the session alive (GET_PARAMETER, OPTIONS with a session).
    pub fn keep_alive(&mut self, method: &Method, now: Instant) -> Result<(), StatusCode> {
        self.check(method)?;
        self.last_activity = now;
        Ok(())
    }

    /// The session's playout, once SETUP has made one.
    pub fn playout(&self) -> Option<&Playout> {
        self.playout.as_ref()
    }

    /// The playout for its driver: to poll frames and reports and record what was sent.
    pub fn playout_mut(&mut self) -> Option<&mut Playout> {
        self.playout.as_mut()
    }

    /// Notes activity that is not a request (an RTCP receiver report keeps a session alive).
    pub fn touch(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// When the session expires if nothing more is heard.
    pub fn deadline(&self) -> Instant {
        self.last_activity + self.timeout
    }

    /// Whether the session has been idle past its timeout.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMELINE: Timeline = Timeline {
        frames: 100,
        fps: 20.0,
        looping: false,
    };
    const ORIGIN: RtpOrigin = RtpOrigin {
        ssrc: 1,
        seq: 2,
        rtptime: 3,
    };

    #[test]
    fn the_lab_sequence_walks_init_ready_playing_ready_init() {
        let now = Instant::now();
        let mut s = ServerSession::new(42, now);
        assert!(s.id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(s.state(), State::Init);
        s.setup(TIMELINE, ORIGIN, now).unwrap();
        assert_eq!(s.state(), State::Ready);
        s.play(now, None).unwrap();
        assert_eq!(s.state(), State::Playing);
        assert!(s.playout().unwrap().is_playing());
        s.pause(now).unwrap();
        assert_eq!(s.state(), State::Ready);
        s.play(now, None).unwrap();
        let stopped = s.teardown().unwrap();
        assert!(!stopped.is_playing());
        assert_eq!(s.state(), State::Init);
    }

    #[test]
    fn methods_out_of_state_get_455() {
        let now = Instant::now();
        let mut s = ServerSession::new(1, now);
        let e = Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        assert_eq!(
            s.play(now, None).map_err(|e| e.status()),
            Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE)
        );
        assert_eq!(s.pause(now), e);
        s.setup(TIMELINE, ORIGIN, now).unwrap();
        assert_eq!(s.pause(now), e);
        s.play(now, None).unwrap();
        assert_eq!(s.setup(TIMELINE, ORIGIN, now), e);
        assert_eq!(
            s.state(),
            State::Playing,
            "a refused method changes nothing"
        );
        assert_eq!(s.check(&Method::Record), Err(StatusCode::NOT_IMPLEMENTED));
        assert_eq!(
            s.play(now, Some(99.0)).map_err(|e| e.status()),
            Err(StatusCode::INVALID_RANGE)
        );
    }

    #[test]
    fn a_stream_played_to_its_end_is_still_playing_until_paused() {
        let now = Instant::now();
        let mut s = ServerSession::new(1, now);
        s.setup(TIMELINE, ORIGIN, now).unwrap();
        s.play(now, None).unwrap();
        let p = s.playout_mut().unwrap();
        let later = now + Duration::from_secs(10);
        while p.poll_frame(later).is_some() {}
        assert!(p.has_ended() && !p.is_sending());
        assert_eq!(
            s.state(),
            State::Playing,
            "RFC 2326 A.2: until PAUSE or TEARDOWN"
        );
        s.pause(later).unwrap();
        assert_eq!(s.state(), State::Ready);
    }

    #[test]
    fn activity_moves_the_deadline() {
        let t0 = Instant::now();
        let mut s = ServerSession::new(1, t0);
        assert!(!s.expired(t0 + Duration::from_secs(59)));
        assert!(s.expired(t0 + Duration::from_secs(60)));
        s.keep_alive(&Method::GetParameter, t0 + Duration::from_secs(50))
            .unwrap();
        assert!(!s.expired(t0 + Duration::from_secs(100)));
        s.touch(t0 + Duration::from_secs(100));
        assert_eq!(s.deadline(), t0 + Duration::from_secs(160));
    }

    #[test]
    fn a_trick_play_while_playing_stays_playing_and_a_refused_one_is_457() {
        use crate::playout::{PlayRequest, Trick};
        let now = Instant::now();
        let mut s = ServerSession::new(1, now);
        s.setup(TIMELINE, ORIGIN, now).unwrap();
        s.play(now, None).unwrap();
        let backwards = PlayRequest {
            from: Some(2.0),
            to: Some(1.0),
            trick: Trick::nearest(-1.0, 1.0),
        };
        let started = s.play_request(now, backwards).unwrap();
        assert_eq!((started.npt_start, started.npt_end), (2.0, Some(1.0)));
        assert_eq!(s.state(), State::Playing);
        let against = PlayRequest {
            to: Some(3.0),
            ..backwards
        };
        let refused = s.play_request(now, against).unwrap_err();
        assert_eq!(refused.status(), StatusCode::INVALID_RANGE);
        assert_eq!(
            s.playout().unwrap().position(),
            40,
            "refused: nothing moved"
        );
    }
}
