//! RTSP 1.0 messages (RFC 2326): the message model, an incremental parser, a serializer,
//! typed headers and status codes.
//!
//! - `msg`: [`Method`], [`Headers`], [`Request`], [`Response`].
//! - `parse`: [`parse_request`] / [`parse_response`] (`Incomplete` or a message plus the bytes
//!   it took), the lab's unterminated messages, [`Limits`] and [`ParseError`].
//! - `write`: [`Request::write`] / [`Response::write`].
//! - `headers`: one struct per header that both parses and writes ([`CSeq`], [`Session`],
//!   [`Transport`], [`Range`], [`RtpInfo`], [`Public`], [`ContentBase`]).
//! - `status`: [`StatusCode`].
//! - [`framer`]: the TCP byte stream cut into requests, responses, `$` frames and the lab's
//!   unterminated messages, for server and client alike.
//!
//! Everything is re-exported here, so callers name `rtsp_proto::rtsp::Request` and never the
//! file it lives in.

pub mod framer;
mod headers;
mod msg;
mod parse;
mod status;
mod write;

pub use headers::*;
pub use msg::{Headers, Method, Request, Response};
pub use parse::{
    parse_request, parse_response, parse_unterminated_request, parse_unterminated_response, Limits,
    ParseError, Parsed, SINGLE_HEADERS,
};
pub use status::StatusCode;

/// The protocol version this crate speaks; anything else in a request line is answered with 505.
pub const RTSP_1_0: &str = "RTSP/1.0";

#[cfg(test)]
mod tests;
