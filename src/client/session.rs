//! One MQTT connection as the command-line tools need it: a blocking stream
//! driven by `poll(2)` together with up to two other descriptors (standard
//! input for `mosquitto_pub -l`, the signal pipe for mosquitto_sub), with
//! keepalive pings, the receiving half of the QoS 1 and 2 flows, and
//! mosquitto's `-d` debug lines.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::net::{self, OpenError, Stream, Target};
use crate::protocol::{
    fixed_header, Ack, ConnAck, Connect, DecodeError, Packet, Properties, ProtocolVersion, Publish,
    QoS, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

/// What ended a session, with the exit status and message mosquitto's
/// clients give for it.
#[derive(Debug)]
pub enum SessionError {
    /// The stream could not be opened.
    Open(OpenError),
    /// No CONNACK before the connect deadline.
    ConnectTimeout,
    /// The broker closed the connection.
    ConnectionLost,
    /// The broker sent something that is not MQTT.
    Protocol(DecodeError),
    /// The broker did not answer our pings.
    Keepalive,
    /// The broker sent DISCONNECT (MQTT 5).
    Disconnected(u8),
    /// Reading or writing the stream failed.
    Io(io::Error),
}

impl SessionError {
    /// mosquitto's `MOSQ_ERR_*` number for this error, its exit status.
    pub fn code(&self) -> i32 {
        match self {
            SessionError::Open(e) => e.code(),
            SessionError::ConnectTimeout => 1,
            SessionError::Protocol(_) => 2,
            SessionError::ConnectionLost | SessionError::Disconnected(_) => 7,
            SessionError::Keepalive => 19,
            SessionError::Io(_) => 14,
        }
    }

    /// The one line mosquitto's clients print for it.
    pub fn message(&self) -> String {
        match self {
            SessionError::Open(e) => e.to_string(),
            SessionError::ConnectTimeout => "Error: Connection timed out".to_owned(),
            SessionError::Protocol(_) => {
                "Error: A network protocol error occurred when communicating with the broker."
                    .to_owned()
            }
            SessionError::ConnectionLost | SessionError::Disconnected(_) => {
                "Error: The connection was lost.".to_owned()
            }
            SessionError::Keepalive => {
                "Error: The broker did not answer within the keepalive time.".to_owned()
            }
            SessionError::Io(e) => format!("Error: {}", net::strerror(e)),
        }
    }
}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> SessionError {
        match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof => SessionError::ConnectionLost,
            _ => SessionError::Io(e),
        }
    }
}

/// What `Session::wait` saw.
#[derive(Debug)]
pub enum Event {
    /// A packet for the caller (pings and the receiving QoS 2 handshake are
    /// handled inside; a QoS 2 PUBLISH is returned once, when released).
    Packet(Packet),
    /// The extra input descriptor is readable (or at end of file).
    Input,
    /// A signal arrived on the signal pipe.
    Signal,
    /// The caller's deadline passed.
    Deadline,
}

pub struct Session {
    stream: Stream,
    version: ProtocolVersion,
    /// The client id as mosquitto's debug lines show it.
    log_id: String,
    debug: bool,
    inbuf: Vec<u8>,
    keepalive: Duration,
    last_out: Instant,
    ping_sent: Option<Instant>,
    last_mid: u16,
    /// Incoming QoS 2 messages waiting for their PUBREL.
    qos2_in: HashMap<u16, Publish>,
    /// The CONNACK's properties (MQTT 5): the broker's limits.
    server: Properties,
}

/// The largest packet we accept from a broker (MQTT's own limit).
const MAX_PACKET: usize = crate::protocol::MAX_REMAINING_LENGTH + 5;

impl Session {
    /// Open the stream, send CONNECT and wait for CONNACK, all within
    /// `timeout`. A refusal is returned as the CONNACK, not as an error.
    pub fn connect(
        target: &Target<'_>,
        connect: &Connect,
        debug: bool,
        timeout: Duration,
    ) -> Result<(Session, ConnAck), SessionError> {
        let deadline = Instant::now() + timeout;
        let stream = net::open(target, deadline).map_err(SessionError::Open)?;
        let mut s = Session {
            stream,
            version: connect.protocol,
            log_id: if connect.client_id.is_empty() {
                "(null)".to_owned()
            } else {
                connect.client_id.clone()
            },
            debug,
            inbuf: Vec::with_capacity(4096),
            keepalive: Duration::from_secs(u64::from(connect.keep_alive.max(1))),
            last_out: Instant::now(),
            ping_sent: None,
            last_mid: 0,
            qos2_in: HashMap::new(),
            server: Properties::default(),
        };
        s.log(format_args!("sending CONNECT"));
        s.write_packet(&Packet::Connect(Box::new(connect.clone())))?;
        loop {
            match s.wait(Some(deadline), None, None)? {
                Event::Packet(Packet::ConnAck(ack)) => {
                    s.server = ack.properties.clone();
                    return Ok((s, ack));
                }
                Event::Packet(_) => {
                    return Err(SessionError::Protocol(DecodeError::UnexpectedPacket(
                        "packet before CONNACK",
                    )))
                }
                Event::Deadline => return Err(SessionError::ConnectTimeout),
                Event::Input | Event::Signal => {}
            }
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The broker's CONNACK properties (empty before MQTT 5).
    pub fn server_properties(&self) -> &Properties {
        &self.server
    }

    /// A fresh packet identifier (never 0), as libmosquitto hands them out:
    /// one per publish, subscribe and unsubscribe, QoS 0 included.
    pub fn next_mid(&mut self) -> u16 {
        self.last_mid = self.last_mid.wrapping_add(1);
        if self.last_mid == 0 {
            self.last_mid = 1;
        }
        self.last_mid
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.debug {
            outln!("Client {} {}", self.log_id, what);
        }
    }

    fn write_packet(&mut self, p: &Packet) -> Result<(), SessionError> {
        let mut buf = Vec::new();
        p.encode(&mut buf, self.version);
        self.stream.write_all(&buf)?;
        self.last_out = Instant::now();
        Ok(())
    }

    /// Send a PUBLISH; returns its message id (also for QoS 0).
    /// An empty `topic` goes with a topic alias in `properties` (MQTT 5).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &Properties,
    ) -> Result<u16, SessionError> {
        let mid = self.next_mid();
        self.log(format_args!(
            "sending PUBLISH (d0, q{}, r{}, m{}, '{}', ... ({} bytes))",
            qos.as_u8(),
            u8::from(retain),
            mid,
            // libmosquitto prints the C null pointer of an aliased topic.
            if topic.is_empty() { "(null)" } else { topic },
            payload.len()
        ));
        let p = Packet::Publish(Publish {
            dup: false,
            qos,
            retain,
            topic: topic.to_owned(),
            packet_id: if qos == QoS::AtMostOnce { 0 } else { mid },
            payload: payload.to_vec(),
            properties: properties.clone(),
        });
        self.write_packet(&p)?;
        Ok(mid)
    }

    /// Answer a PUBREC with PUBREL.
    pub fn send_pubrel(&mut self, mid: u16) -> Result<(), SessionError> {
        self.log(format_args!("sending PUBREL (m{mid})"));
        self.write_packet(&Packet::PubRel(Ack::new(mid)))
    }

    /// Subscribe to all `filters` in one packet; returns its id.
    pub fn subscribe(
        &mut self,
        filters: &[String],
        qos: QoS,
        options: u8,
        properties: &Properties,
    ) -> Result<u16, SessionError> {
        let mid = self.next_mid();
        for f in filters {
            self.log(format_args!(
                "sending SUBSCRIBE (Mid: {mid}, Topic: {f}, QoS: {}, Options: 0x{:02x})",
                qos.as_u8(),
                options & 0xFC
            ));
        }
        let p = Packet::Subscribe(Subscribe {
            packet_id: mid,
            filters: filters.iter().map(|f| (f.clone(), qos)).collect(),
            options: filters.iter().map(|_| qos.as_u8() | options).collect(),
            properties: properties.clone(),
        });
        self.write_packet(&p)?;
        Ok(mid)
    }

    /// Unsubscribe from one filter; returns the packet id.
    pub fn unsubscribe(
        &mut self,
        filter: &str,
        properties: &Properties,
    ) -> Result<u16, SessionError> {
        let mid = self.next_mid();
        self.log(format_args!(
            "sending UNSUBSCRIBE (Mid: {mid}, Topic: {filter})"
        ));
        let p = Packet::Unsubscribe(Unsubscribe {
            packet_id: mid,
            filters: vec![filter.to_owned()],
            properties: properties.clone(),
        });
        self.write_packet(&p)?;
        Ok(mid)
    }

    /// Send DISCONNECT. Errors are ignored: we are leaving anyway.
    pub fn disconnect(&mut self, properties: &Properties) {
        self.disconnect_with(0, properties);
    }

    /// Send DISCONNECT with a reason code (MQTT 5; 3.x sends none).
    pub fn disconnect_with(&mut self, reason: u8, properties: &Properties) {
        self.log(format_args!("sending DISCONNECT"));
        let _ = self.write_packet(&Packet::Disconnect(reason, properties.clone()));
        self.stream.shutdown_write();
    }

    /// Decode one complete packet from the input buffer, if there is one.
    fn take_packet(&mut self) -> Result<Option<Packet>, SessionError> {
        let Some(h) = fixed_header(&self.inbuf).map_err(SessionError::Protocol)? else {
            return Ok(None);
        };
        let total = h.total_len();
        if total > MAX_PACKET {
            return Err(SessionError::Protocol(
                DecodeError::MalformedRemainingLength,
            ));
        }
        let Some(body) = self.inbuf.get(h.header_len..total) else {
            return Ok(None);
        };
        let mut p = Packet::decode(&h, body, self.version).map_err(SessionError::Protocol)?;
        if let Packet::Publish(m) = &mut p {
            if m.properties.0.len() > 1 {
                // mosquitto_sub's JSON lists properties in the order sent.
                wire_order(body, m);
            }
        }
        self.inbuf.drain(..total);
        Ok(Some(p))
    }

    /// Log a received packet and do what the protocol asks of us; returns
    /// the packet if the caller should see it.
    fn handle(&mut self, p: Packet) -> Result<Option<Packet>, SessionError> {
        match p {
            Packet::PingResp => {
                self.log(format_args!("received PINGRESP"));
                self.ping_sent = None;
                Ok(None)
            }
            Packet::PingReq => {
                self.log(format_args!("received PINGREQ"));
                self.log(format_args!("sending PINGRESP"));
                self.write_packet(&Packet::PingResp)?;
                Ok(None)
            }
            Packet::ConnAck(ref a) => {
                // libmosquitto takes the assigned id before it logs.
                if let Some(id) = assigned_id(a) {
                    self.log_id = id;
                }
                self.log(format_args!("received CONNACK ({})", a.code));
                Ok(Some(p))
            }
            Packet::Publish(m) => {
                self.log(format_args!(
                    "received PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
                    u8::from(m.dup),
                    m.qos.as_u8(),
                    u8::from(m.retain),
                    m.packet_id,
                    m.topic,
                    m.payload.len()
                ));
                match m.qos {
                    QoS::AtMostOnce => Ok(Some(Packet::Publish(m))),
                    QoS::AtLeastOnce => {
                        self.log(format_args!("sending PUBACK (m{}, rc0)", m.packet_id));
                        self.write_packet(&Packet::PubAck(Ack::new(m.packet_id)))?;
                        Ok(Some(Packet::Publish(m)))
                    }
                    QoS::ExactlyOnce => {
                        let mid = m.packet_id;
                        self.log(format_args!("sending PUBREC (m{mid}, rc0)"));
                        self.write_packet(&Packet::PubRec(Ack::new(mid)))?;
                        self.qos2_in.entry(mid).or_insert(m);
                        Ok(None)
                    }
                }
            }
            Packet::PubRel(a) => {
                self.log(format_args!("received PUBREL (Mid: {})", a.packet_id));
                self.log(format_args!("sending PUBCOMP (m{})", a.packet_id));
                self.write_packet(&Packet::PubComp(Ack::new(a.packet_id)))?;
                Ok(self.qos2_in.remove(&a.packet_id).map(Packet::Publish))
            }
            Packet::PubAck(ref a) => {
                self.log(format_args!(
                    "received PUBACK (Mid: {}, RC:{})",
                    a.packet_id, a.reason
                ));
                Ok(Some(p))
            }
            Packet::PubComp(ref a) => {
                self.log(format_args!(
                    "received PUBCOMP (Mid: {}, RC:{})",
                    a.packet_id, a.reason
                ));
                Ok(Some(p))
            }
            Packet::PubRec(ref a) => {
                self.log(format_args!("received PUBREC (Mid: {})", a.packet_id));
                Ok(Some(p))
            }
            Packet::SubAck(SubAck { .. }) => {
                self.log(format_args!("received SUBACK"));
                Ok(Some(p))
            }
            Packet::UnsubAck(UnsubAck { .. }) => {
                self.log(format_args!("received UNSUBACK"));
                Ok(Some(p))
            }
            Packet::Disconnect(reason, _) => {
                if self.debug {
                    outln!("Received DISCONNECT ({reason})");
                }
                Err(SessionError::Disconnected(reason))
            }
            Packet::Connect(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => Err(
                SessionError::Protocol(DecodeError::UnexpectedPacket("client packet from broker")),
            ),
            // No extended authentication was asked for.
            Packet::Auth(_) => Err(SessionError::Protocol(DecodeError::UnexpectedPacket(
                "AUTH",
            ))),
        }
    }

    /// Wait for the next thing to happen: a packet from the broker, input on
    /// `input`, a byte on the signal pipe `signal`, or `deadline`. Sends
    /// keepalive pings as they fall due.
    pub fn wait(
        &mut self,
        deadline: Option<Instant>,
        input: Option<RawFd>,
        signal: Option<RawFd>,
    ) -> Result<Event, SessionError> {
        loop {
            if let Some(p) = self.take_packet()? {
                if let Some(p) = self.handle(p)? {
                    return Ok(Event::Packet(p));
                }
                continue;
            }
            if self.stream.buffered() > 0 {
                // TLS holds decrypted bytes that poll(2) cannot see.
                self.read_some(Duration::from_millis(1))?;
                continue;
            }
            let now = Instant::now();
            let ping_due = match self.ping_sent {
                Some(sent) => {
                    if now >= sent + self.keepalive {
                        return Err(SessionError::Keepalive);
                    }
                    sent + self.keepalive
                }
                None => {
                    if now >= self.last_out + self.keepalive {
                        self.log(format_args!("sending PINGREQ"));
                        self.write_packet(&Packet::PingReq)?;
                        self.ping_sent = Some(now);
                        continue;
                    }
                    self.last_out + self.keepalive
                }
            };
            if let Some(d) = deadline {
                if now >= d {
                    return Ok(Event::Deadline);
                }
            }
            let until = deadline.map_or(ping_due, |d| d.min(ping_due));
            let wait = until.saturating_duration_since(now);
            // Round up so that we do not wake just before the deadline.
            let ms = i32::try_from(wait.as_millis() + 1).unwrap_or(i32::MAX);
            let mut fds = vec![libc::pollfd {
                fd: self.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            for fd in [signal, input].into_iter().flatten() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            match crate::sys::poll::poll(&mut fds, ms) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SessionError::Io(e)),
            }
            let ready = |i: usize| {
                fds.get(i).is_some_and(|f| {
                    f.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                })
            };
            if ready(0) {
                // Readable may mean TLS records with no data for us (TLS 1.3
                // session tickets): the read must not outlast the wait.
                self.read_some(until.saturating_duration_since(Instant::now()))?;
                continue;
            }
            let mut idx = 1;
            if signal.is_some() {
                if ready(idx) {
                    return Ok(Event::Signal);
                }
                idx += 1;
            }
            if input.is_some() && ready(idx) {
                return Ok(Event::Input);
            }
        }
    }

    fn read_some(&mut self, limit: Duration) -> Result<(), SessionError> {
        let mut buf = [0u8; 16384];
        match self.stream.read_within(&mut buf, limit) {
            Ok(0) => Err(SessionError::ConnectionLost),
            Ok(n) => {
                self.inbuf.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// MQTT 5's assigned client identifier, if the broker gave one.
fn assigned_id(ack: &ConnAck) -> Option<String> {
    ack.properties.0.iter().find_map(|(id, v)| match (id, v) {
        (0x12, crate::protocol::properties::PropertyValue::String(s)) => Some(s.clone()),
        _ => None,
    })
}

/// Put a decoded PUBLISH's properties back in the order they came in
/// (decoding sorts them); on anything unexpected the order is left alone.
fn wire_order(body: &[u8], m: &mut Publish) {
    let mut ids = Vec::new();
    let mut at = 2 + m.topic.len() + if m.qos == QoS::AtMostOnce { 0 } else { 2 };
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let Some(&b) = body.get(at) else { return };
        at += 1;
        len |= usize::from(b & 0x7F) << shift;
        shift += 7;
        if b & 0x80 == 0 || shift > 21 {
            break;
        }
    }
    let end = at + len;
    let u16_at = |i: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes([
            *body.get(i)?,
            *body.get(i + 1)?,
        ])))
    };
    while at < end {
        let Some(&pid) = body.get(at) else { return };
        at += 1;
        let size = match pid {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x21 | 0x22 | 0x23 => 2,
            0x02 | 0x11 | 0x18 | 0x27 => 4,
            0x0B => {
                let n = body
                    .get(at..end)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|b| *b & 0x80 != 0)
                    .count();
                n + 1
            }
            0x26 => {
                let Some(k) = u16_at(at) else { return };
                let Some(v) = u16_at(at + 2 + k) else { return };
                4 + k + v
            }
            _ => match u16_at(at) {
                Some(n) => 2 + n,
                None => return,
            },
        };
        ids.push(pid);
        at += size;
    }
    let mut left = std::mem::take(&mut m.properties.0);
    let mut ordered = Vec::with_capacity(left.len());
    for pid in ids {
        if let Some(pos) = left.iter().position(|(i, _)| *i == pid) {
            ordered.push(left.remove(pos));
        }
    }
    ordered.append(&mut left);
    m.properties.0 = ordered;
}
