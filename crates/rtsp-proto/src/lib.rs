//! Everything about the wire for an RTSP/RTP Motion-JPEG server and client, with no IO.
//!
//! Each module is a pure codec or state machine over bytes (and, where time matters, a `now`
//! passed in by the caller), so every protocol rule can be exercised by a unit test:
//!
//! - [`rtsp`]: RTSP 1.0 messages (RFC 2326), an incremental parser and typed headers.
//! - [`rtsp::framer`]: the RTSP TCP byte stream cut into messages, `$` frames and the lab's
//!   unterminated messages, for server and client alike.
//! - [`url`]: RTSP URLs split and percent-decoded; control URLs resolved against a base.
//! - [`auth`]: Digest and Basic authentication (RFC 2617 as RTSP uses it).
//! - [`sdp`]: the session description the server answers DESCRIBE with (RFC 4566).
//! - [`rtp`]: the RTP fixed header (RFC 3550) and sequence-number arithmetic.
//! - [`rtcp`]: RTCP sender/receiver reports, SDES and BYE (RFC 3550 6).
//! - [`interleaved`]: RTP/RTCP framed on the RTSP connection (RFC 2326 10.12).
//! - [`jpeg`]: JPEG marker segments and the RTP payload format for JPEG (RFC 2435).
//! - [`mjpeg`]: the `.mjpeg` container formats (the lab's and plain concatenated JPEG).
//! - [`playout`]: when each frame of a stream is due, its RTP stamps, pause, seek, loop and
//!   the sender report's fields, with time passed in.
//! - [`reorder`]: a bounded reorder buffer for RTP packets.
//! - [`session`]: the server-side RTSP session state machine, which owns its [`playout`].
//! - [`stats`]: RFC 3550 receiver statistics (loss, jitter).
//! - [`tunnel`]: RTSP tunnelled over HTTP (QuickTime's GET/POST pair): the POST's base64.

pub mod auth;
pub mod interleaved;
pub mod jpeg;
pub mod mjpeg;
pub mod playout;
pub mod reorder;
pub mod rtcp;
pub mod rtp;
pub mod rtsp;
pub mod sdp;
pub mod session;
pub mod stats;
pub mod tunnel;
pub mod url;
