//! The server's sockets: what a session's media goes out on, and how a connection thread
//! waits and writes.
//!
//! - [`transport`]: a session's media path (RTP/UDP with RTCP beside it, RTP interleaved on the
//!   RTSP connection, or the lab's one JPEG per datagram) and how a frame becomes packets on it.
//! - [`udp_batch`]: a frame's datagrams handed to the kernel in one syscall (UDP GSO, sendmmsg).
//! - [`writer`]: the connection's writer thread, one queue of whole messages and media frames.
//! - [`wait`]: a connection thread's sleep until input, the server stopping, or a deadline.

pub mod transport;
pub mod udp_batch;
pub mod wait;
pub mod writer;
