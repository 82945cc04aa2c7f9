//! The RTSP rules of a live session, sans-IO: which method is valid when, for a publisher
//! (ANNOUNCE, SETUP `mode=record`, RECORD) and for a viewer (SETUP, PLAY, PAUSE), and when
//! the session expires.

use std::time::{Duration, Instant};

use rtsp_proto::rtsp::{Method, StatusCode};
use rtsp_proto::session::ServerSession;

/// Where a live session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// A publisher that announced its stream and has not set up its transport.
    Announced,
    /// A publisher whose transport is set up, before RECORD.
    PublishReady,
    /// A publisher sending: its frames go to the path's viewers.
    Recording,
    /// A viewer set up, not receiving (before PLAY, or paused).
    ViewReady,
    /// A viewer receiving the path's frames.
    Playing,
}

/// One live session: its id, timeout and state.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The id, timeout and activity clock, as every session has them (its playout unused:
    /// a live session's frames are the path's).
    pub rtsp: ServerSession,
    state: LiveState,
}

impl LiveSession {
    /// A session in `state` (`Announced` for a publisher, `ViewReady` for a viewer), its id
    /// drawn from `random`.
    pub fn new(random: u64, timeout: Duration, state: LiveState, now: Instant) -> LiveSession {
        let mut rtsp = ServerSession::new(random, now);
        rtsp.timeout = timeout;
        LiveSession { rtsp, state }
    }

    pub fn state(&self) -> LiveState {
        self.state
    }

    /// Whether this session publishes (rather than views).
    pub fn publishes(&self) -> bool {
        matches!(
            self.state,
            LiveState::Announced | LiveState::PublishReady | LiveState::Recording
        )
    }

    /// Applies `method` at `now`: the new state, or 455 when it is not valid now (RFC 2326
    /// A.1). A SETUP names whether it is for recording.
    pub fn apply(
        &mut self,
        method: &Method,
        record: bool,
        now: Instant,
    ) -> Result<LiveState, StatusCode> {
        use LiveState::*;
        let next = match (self.state, method) {
            (Announced | PublishReady, Method::Setup) if record => PublishReady,
            (ViewReady, Method::Setup) if !record => ViewReady,
            (PublishReady | Recording, Method::Record) => Recording,
            // RFC 2326 10.6: PAUSE halts recording until the next RECORD (rtspclientsink
            // pauses on its way to EOS).
            (PublishReady | Recording, Method::Pause) => PublishReady,
            (ViewReady | Playing, Method::Play) => Playing,
            (ViewReady | Playing, Method::Pause) => ViewReady,
            (
                s,
                Method::GetParameter | Method::SetParameter | Method::Options | Method::Teardown,
            ) => s,
            _ => return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE),
        };
        self.state = next;
        self.rtsp.touch(now);
        Ok(next)
    }

    /// Notes activity that is no request: RTCP, or the publisher's RTP (`at` may be older
    /// than the last request, and then changes nothing).
    pub fn touch(&mut self, at: Instant) {
        if at + self.rtsp.timeout > self.rtsp.deadline() {
            self.rtsp.touch(at);
        }
    }

    /// When the session expires if nothing more is heard.
    pub fn deadline(&self) -> Instant {
        self.rtsp.deadline()
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.rtsp.expired(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LiveState::*;

    fn session(state: LiveState) -> (LiveSession, Instant) {
        let now = Instant::now();
        (LiveSession::new(1, Duration::from_secs(5), state, now), now)
    }

    #[test]
    fn a_publisher_announces_sets_up_for_recording_then_records() {
        let (mut s, now) = session(Announced);
        assert_eq!(s.apply(&Method::Record, false, now), Err(StatusCode(455)));
        assert_eq!(s.apply(&Method::Setup, false, now), Err(StatusCode(455)));
        assert_eq!(s.apply(&Method::Play, false, now), Err(StatusCode(455)));
        assert_eq!(s.apply(&Method::Setup, true, now), Ok(PublishReady));
        assert_eq!(s.apply(&Method::Record, false, now), Ok(Recording));
        assert_eq!(s.apply(&Method::Pause, false, now), Ok(PublishReady));
        assert_eq!(s.apply(&Method::Record, false, now), Ok(Recording));
        assert_eq!(s.apply(&Method::Teardown, false, now), Ok(Recording));
        assert!(s.publishes());
    }

    #[test]
    fn a_viewer_plays_and_pauses_but_never_records() {
        let (mut s, now) = session(ViewReady);
        assert_eq!(s.apply(&Method::Pause, false, now), Ok(ViewReady));
        assert_eq!(s.apply(&Method::Record, false, now), Err(StatusCode(455)));
        assert_eq!(s.apply(&Method::Setup, true, now), Err(StatusCode(455)));
        assert_eq!(s.apply(&Method::Play, false, now), Ok(Playing));
        assert_eq!(s.apply(&Method::Pause, false, now), Ok(ViewReady));
        assert!(!s.publishes());
    }

    #[test]
    fn requests_and_packets_keep_a_session_alive_until_its_timeout() {
        let (mut s, now) = session(Recording);
        assert!(!s.expired(now + Duration::from_secs(4)));
        assert!(s.expired(now + Duration::from_secs(5)));
        s.touch(now + Duration::from_secs(4));
        // An older packet time never moves the deadline back.
        s.touch(now);
        assert!(!s.expired(now + Duration::from_secs(8)));
        assert!(s.expired(now + Duration::from_secs(9)));
    }
}
