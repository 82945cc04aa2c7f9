//! SETUP: binding the RTP/RTCP sockets, asking for UDP or TCP (falling back from one to the
//! other as the options allow), and starting the receiver and player threads for the transport
//! the server chose.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtsp_proto::rtp::{bind_even_pair, PORT_PAIR_ATTEMPTS};
use rtsp_proto::rtsp::{Method, Response, Session, Transport};
use rtsp_proto::url;

use crate::player::{self, Clock, Recorder};
use crate::receiver::{self, Input, Payload, RtcpOut, RxStats};
use crate::{ClientError, ResponseProblem, TransportChoice};

use super::{ClientSession, Dialect, PlayState, RTP_RECEIVE_BUFFER};

impl ClientSession {
    fn bind_rtp(&self) -> Result<(UdpSocket, UdpSocket), ClientError> {
        let (rtp, rtcp) = self.bind_rtp_pair()?;
        // An HD frame arrives as a burst of 100+ datagrams; the default receive buffer
        // (about 200 KB on Linux) overflows while the receiver thread is busy.
        let sock = socket2::SockRef::from(&rtp);
        if let Err(e) = sock.set_recv_buffer_size(RTP_RECEIVE_BUFFER) {
            log::debug!("cannot enlarge the RTP receive buffer: {e}");
        }
        Ok((rtp, rtcp))
    }

    fn bind_rtp_pair(&self) -> Result<(UdpSocket, UdpSocket), ClientError> {
        let io = ClientError::io("bind RTP/RTCP ports");
        match self.opts.rtp_port {
            Some(p) => {
                let rtp = UdpSocket::bind(("0.0.0.0", p)).map_err(&io)?;
                let rtcp = UdpSocket::bind(("0.0.0.0", p.wrapping_add(1))).map_err(&io)?;
                Ok((rtp, rtcp))
            }
            None => bind_even_pair(
                |port| {
                    let socket = UdpSocket::bind(("0.0.0.0", port))?;
                    let port = socket.local_addr()?.port();
                    Ok((socket, port))
                },
                PORT_PAIR_ATTEMPTS,
            )
            .map_err(ClientError::PortPair),
        }
    }

    /// SETUP: asks for a transport (UDP by default, TCP when told or when the server refuses
    /// UDP with 461) and starts the receiver and the player.
    pub fn setup(&mut self) -> Result<(), ClientError> {
        if self.state != PlayState::Init {
            return Err(ClientError::NotAllowed {
                method: Method::Setup,
                state: self.state,
            });
        }
        if self.dialect == Dialect::Lab {
            let (rtp, rtcp) = self.bind_rtp()?;
            let port = rtp
                .local_addr()
                .map_err(ClientError::io("local address"))?
                .port();
            let r = self.lab(
                Method::Setup,
                format!("Transport: RTP/UDP; client_port= {port}"),
            )?;
            self.take_session(&r)?;
            let input = Input::Udp {
                rtp,
                rtcp,
                server_rtcp: None,
            };
            self.start_threads(input, RtcpOut::None)?;
            self.state = PlayState::Ready;
            return Ok(());
        }
        // VLC answers 459 to SETUP on the aggregate URL: always DESCRIBE first.
        if self.info.is_none() {
            self.describe()?;
        }
        let control = self
            .info
            .as_ref()
            .and_then(|i| i.control.clone())
            .unwrap_or_default();
        let track = url::resolve_control(&self.base, &control);
        let want_tcp = self.opts.transport == TransportChoice::Tcp
            || self.opts.http_tunnel
            || self.fallback.is_some();
        if !want_tcp {
            match self.setup_udp(&track) {
                Err(ClientError::Status { status: 461, .. })
                    if self.opts.transport == TransportChoice::Auto =>
                {
                    let why = "the server refused UDP (461 Unsupported Transport)".to_string();
                    log::warn!("{why}: trying TCP");
                    self.fallback = Some(why);
                }
                other => return other,
            }
        }
        self.setup_tcp(&track)
    }

    fn take_session(&mut self, r: &Response) -> Result<(), ClientError> {
        let bad = |problem| ClientError::BadResponse {
            method: Method::Setup,
            problem,
        };
        let value = r
            .headers
            .get("Session")
            .ok_or_else(|| bad(ResponseProblem::MissingHeader("Session")))?;
        let session = Session::parse(value).map_err(|e| {
            bad(ResponseProblem::BadHeader {
                header: "Session",
                value: value.to_string(),
                why: e.to_string(),
            })
        })?;
        if let Some(t) = session.timeout {
            self.timeout = Duration::from_secs(t.max(2) as u64);
        }
        self.session = Some(session.id);
        Ok(())
    }

    fn setup_udp(&mut self, track: &str) -> Result<(), ClientError> {
        let (rtp, rtcp) = self.bind_rtp()?;
        let port = rtp
            .local_addr()
            .map_err(ClientError::io("local address"))?
            .port();
        let t = format!("RTP/AVP;unicast;client_port={}-{}", port, port + 1);
        let r = self.standard(Method::Setup, track, &[("Transport", t)])?;
        self.take_session(&r)?;
        let reply = r
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse(t).ok());
        let server_rtcp = reply
            .as_ref()
            .and_then(|t| t.server_port)
            .map(|p| SocketAddr::new(self.conn.peer.ip(), p.rtcp.unwrap_or(p.rtp.wrapping_add(1))));
        log::info!("transport: {}", reply.map_or("?".into(), |t| t.to_string()));
        let rtcp_for_input = rtcp
            .try_clone()
            .map_err(ClientError::io("clone RTCP socket"))?;
        let out = match server_rtcp {
            Some(to) => RtcpOut::Udp {
                socket: Arc::new(rtcp),
                to,
            },
            None => RtcpOut::None,
        };
        self.tcp = false;
        self.start_threads(
            Input::Udp {
                rtp,
                rtcp: rtcp_for_input,
                server_rtcp,
            },
            out,
        )?;
        self.state = PlayState::Ready;
        Ok(())
    }

    fn setup_tcp(&mut self, track: &str) -> Result<(), ClientError> {
        let r = self.standard(
            Method::Setup,
            track,
            &[(
                "Transport",
                "RTP/AVP/TCP;unicast;interleaved=0-1".to_string(),
            )],
        )?;
        self.take_session(&r)?;
        let (rtp_channel, rtcp_channel) = r
            .headers
            .get("Transport")
            .and_then(|t| Transport::parse(t).ok())
            .and_then(|t| t.interleaved)
            .unwrap_or((0, 1));
        log::info!("transport: RTP/AVP/TCP, channels {rtp_channel}-{rtcp_channel}");
        let (tx, frames) = mpsc::channel();
        *self.conn.interleaved.lock().unwrap() = Some(tx);
        self.tcp = true;
        let out = RtcpOut::Interleaved {
            writer: self.conn.writer(),
            channel: rtcp_channel,
        };
        self.start_threads(
            Input::Interleaved {
                frames,
                rtp_channel,
                rtcp_channel,
            },
            out,
        )?;
        self.state = PlayState::Ready;
        Ok(())
    }

    fn start_threads(&mut self, input: Input, rtcp_out: RtcpOut) -> Result<(), ClientError> {
        let (payload, clock) = match self.dialect {
            Dialect::Lab => (Payload::WholeJpeg, Clock::Arrival),
            Dialect::Standard => {
                let clock = match self.info.as_ref().and_then(|i| i.clock_rate) {
                    Some(90_000) | None => Clock::Rtp90k,
                    Some(_) => Clock::Arrival,
                };
                (Payload::Rfc2435, clock)
            }
        };
        let (tx, frames) = mpsc::sync_channel(16);
        let recorder = match &self.opts.record {
            Some(path) => Some(
                Recorder::create(path, self.opts.record_format)
                    .map_err(ClientError::io("create recording"))?,
            ),
            None => None,
        };
        // A new transport starts counting afresh.
        self.rx = Arc::new(Mutex::new(RxStats::default()));
        let dimensions = self.info.as_ref().and_then(|i| i.dimensions);
        self.player = Some(
            player::spawn(
                frames,
                self.display.clone(),
                self.playhead.clone(),
                clock,
                self.opts.playout_delay,
                dimensions.map(|(w, h)| (w as usize, h as usize)),
            )
            .map_err(ClientError::io("start player"))?,
        );
        self.rtcp_out = rtcp_out.clone();
        self.receiver = Some(
            receiver::spawn(
                input,
                self.conn.peer.ip(),
                payload,
                rtcp_out,
                self.ssrc,
                receiver::Bounds {
                    max_frame: self.opts.max_frame,
                    reorder_packets: self.opts.reorder_packets,
                    dimensions: dimensions.map(|(w, h)| (w.min(65535) as u16, h.min(65535) as u16)),
                },
                tx,
                self.rx.clone(),
                recorder,
                self.playhead.clone(),
            )
            .map_err(ClientError::io("start receiver"))?,
        );
        Ok(())
    }
}
