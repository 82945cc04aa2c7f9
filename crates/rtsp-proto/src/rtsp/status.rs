//! RTSP status codes (RFC 2326 section 7.1.1).

use std::fmt;

/// A status code. A newtype rather than an enum so that any three-digit code a peer sends
/// survives a round trip, while the codes this project uses have names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

impl StatusCode {
    pub const OK: StatusCode = StatusCode(200);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const NOT_ACCEPTABLE: StatusCode = StatusCode(406);
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    pub const REQUEST_ENTITY_TOO_LARGE: StatusCode = StatusCode(413);
    pub const REQUEST_URI_TOO_LARGE: StatusCode = StatusCode(414);
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    pub const SESSION_NOT_FOUND: StatusCode = StatusCode(454);
    pub const METHOD_NOT_VALID_IN_THIS_STATE: StatusCode = StatusCode(455);
    pub const INVALID_RANGE: StatusCode = StatusCode(457);
    pub const AGGREGATE_OPERATION_NOT_ALLOWED: StatusCode = StatusCode(459);
    pub const UNSUPPORTED_TRANSPORT: StatusCode = StatusCode(461);
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    pub const OPTION_NOT_SUPPORTED: StatusCode = StatusCode(551);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const RTSP_VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);

    /// The reason phrase RFC 2326 gives the code, or a generic one by class.
    pub fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            408 => "Request Timeout",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Large",
            415 => "Unsupported Media Type",
            454 => "Session Not Found",
            455 => "Method Not Valid in This State",
            457 => "Invalid Range",
            459 => "Aggregate Operation Not Allowed",
            461 => "Unsupported Transport",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "RTSP Version Not Supported",
            551 => "Option Not Supported",
            _ => match self.0 / 100 {
                1 => "Continue",
                2 => "Success",
                3 => "Redirection",
                4 => "Client Error",
                _ => "Server Error",
            },
        }
    }

    /// Whether the code is 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}
