//! The server side of an RTSP session (RFC 2326 Appendix A.2): which method is allowed in which
//! state, and when an idle session expires. Time is passed in, so the rules are unit tests.

use std::time::{Duration, Instant};

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
    /// Sending media.
    Playing,
}

/// What the connection must do after the state machine accepted a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// SETUP accepted: (re)configure the transport.
    Setup,
    /// PLAY accepted: start (or continue) sending from the current position.
    Play,
    /// PAUSE accepted: stop sending, keep the position.
    Pause,
    /// TEARDOWN accepted: free the session.
    Teardown,
    /// Any other method on the session only keeps it alive.
    KeepAlive,
}

/// One RTSP session as the server tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSession {
    /// Decimal digits only (the lab's client parses the id with `int()`), from 64 random bits
    /// so it cannot be guessed.
    pub id: String,
    pub state: State,
    pub timeout: Duration,
    last_activity: Instant,
}

impl ServerSession {
    /// A new session in `Init`, its id drawn from `random` (the caller's entropy).
    pub fn new(random: u64, now: Instant) -> Self {
        ServerSession {
            id: random.to_string(),
            state: State::Init,
            timeout: DEFAULT_TIMEOUT,
            last_activity: now,
        }
    }

    /// Applies a request's method: the transition to perform, or the status to refuse it with
    /// (455 when the method is not valid in this state, 501 for methods not offered at all).
    pub fn apply(&mut self, method: &Method, now: Instant) -> Result<Transition, StatusCode> {
        use State::*;
        let (next, transition) = match (self.state, method) {
            (Init | Ready, Method::Setup) => (Ready, Transition::Setup),
            (Playing, Method::Setup) => return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE),
            (Ready | Playing, Method::Play) => (Playing, Transition::Play),
            (Playing, Method::Pause) => (Ready, Transition::Pause),
            (_, Method::Teardown) => (Init, Transition::Teardown),
            (s, Method::GetParameter | Method::SetParameter | Method::Options) => {
                (s, Transition::KeepAlive)
            }
            (_, Method::Play | Method::Pause | Method::Describe) => {
                return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE)
            }
            _ => return Err(StatusCode::NOT_IMPLEMENTED),
        };
        self.state = next;
        self.last_activity = now;
        Ok(transition)
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

    #[test]
    fn the_lab_sequence_walks_init_ready_playing_ready_init() {
        let now = Instant::now();
        let mut s = ServerSession::new(42, now);
        assert!(s.id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(s.apply(&Method::Setup, now), Ok(Transition::Setup));
        assert_eq!(s.state, State::Ready);
        assert_eq!(s.apply(&Method::Play, now), Ok(Transition::Play));
        assert_eq!(s.state, State::Playing);
        assert_eq!(s.apply(&Method::Pause, now), Ok(Transition::Pause));
        assert_eq!(s.state, State::Ready);
        assert_eq!(s.apply(&Method::Play, now), Ok(Transition::Play));
        assert_eq!(s.apply(&Method::Teardown, now), Ok(Transition::Teardown));
        assert_eq!(s.state, State::Init);
    }

    #[test]
    fn methods_out_of_state_get_455() {
        let now = Instant::now();
        let mut s = ServerSession::new(1, now);
        let e = Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        assert_eq!(s.apply(&Method::Play, now), e);
        assert_eq!(s.apply(&Method::Pause, now), e);
        s.apply(&Method::Setup, now).unwrap();
        assert_eq!(s.apply(&Method::Pause, now), e);
        s.apply(&Method::Play, now).unwrap();
        assert_eq!(s.apply(&Method::Setup, now), e);
        assert_eq!(s.state, State::Playing, "a refused method changes nothing");
        assert_eq!(
            s.apply(&Method::Record, now),
            Err(StatusCode::NOT_IMPLEMENTED)
        );
    }

    #[test]
    fn activity_moves_the_deadline() {
        let t0 = Instant::now();
        let mut s = ServerSession::new(1, t0);
        assert!(!s.expired(t0 + Duration::from_secs(59)));
        assert!(s.expired(t0 + Duration::from_secs(60)));
        s.apply(&Method::GetParameter, t0 + Duration::from_secs(50))
            .unwrap();
        assert!(!s.expired(t0 + Duration::from_secs(100)));
        s.touch(t0 + Duration::from_secs(100));
        assert_eq!(s.deadline(), t0 + Duration::from_secs(160));
    }
}
