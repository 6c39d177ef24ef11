//! The test MQTT client: everything it sends is encoded by hand here (so
//! the tests do not depend on the codec they exercise), and what it receives
//! is framed by raw bytes and decoded with `mosquitto_rs::protocol`. It speaks
//! over a blocking `TcpStream`, a `UnixStream` (unix socket listeners) or a
//! `WsStream` (websockets listeners).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub use mosquitto_rs::protocol::{fixed_header, Packet, ProtocolVersion, Publish, QoS};

use super::processes::{addr, unique, QUIET, TIMEOUT};
use super::websocket::WsStream;

// ---------------------------------------------------------------------------
// Hand-written encoders for what the test clients send.
// ---------------------------------------------------------------------------

pub fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A whole packet: `byte1`, remaining length, `body`.
pub fn packet(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte1];
    put_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// A CONNECT packet, built field by field.
#[derive(Clone, Debug)]
pub struct ConnectOpts {
    pub protocol_name: Vec<u8>,
    pub level: u8,
    pub clean: bool,
    pub keepalive: u16,
    pub client_id: Vec<u8>,
    /// (topic, payload, qos, retain)
    pub will: Option<(String, Vec<u8>, u8, bool)>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// MQTT 5 only: the CONNECT's and the will's properties, encoded
    /// (without their length, which `bytes` adds).
    pub props: Vec<u8>,
    pub will_props: Vec<u8>,
}

impl ConnectOpts {
    pub fn v311(client_id: &str) -> ConnectOpts {
        ConnectOpts {
            protocol_name: b"MQTT".to_vec(),
            level: 4,
            clean: true,
            keepalive: 60,
            client_id: client_id.as_bytes().to_vec(),
            will: None,
            username: None,
            password: None,
            props: Vec::new(),
            will_props: Vec::new(),
        }
    }

    pub fn v5(client_id: &str) -> ConnectOpts {
        ConnectOpts {
            level: 5,
            ..ConnectOpts::v311(client_id)
        }
    }

    /// Adds MQTT 5 CONNECT properties (encoded, one after another).
    pub fn props(mut self, bytes: &[u8]) -> Self {
        self.props.extend_from_slice(bytes);
        self
    }

    pub fn v31(client_id: &str) -> ConnectOpts {
        ConnectOpts {
            protocol_name: b"MQIsdp".to_vec(),
            level: 3,
            ..ConnectOpts::v311(client_id)
        }
    }

    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    pub fn keepalive(mut self, k: u16) -> Self {
        self.keepalive = k;
        self
    }

    pub fn will(mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Self {
        self.will = Some((topic.to_string(), payload.to_vec(), qos, retain));
        self
    }

    pub fn version(&self) -> ProtocolVersion {
        if self.protocol_name == b"MQIsdp" {
            ProtocolVersion::V31
        } else if self.level == 5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos, retain)) = &self.will {
            flags |= 0x04 | (qos << 3);
            if *retain {
                flags |= 0x20;
            }
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        let mut body = Vec::new();
        put_str(&mut body, &self.protocol_name);
        body.push(self.level);
        body.push(flags);
        body.extend_from_slice(&self.keepalive.to_be_bytes());
        let v5 = self.version() == ProtocolVersion::V5;
        if v5 {
            put_len(&mut body, self.props.len());
            body.extend_from_slice(&self.props);
        }
        put_str(&mut body, &self.client_id);
        if let Some((topic, payload, _, _)) = &self.will {
            if v5 {
                put_len(&mut body, self.will_props.len());
                body.extend_from_slice(&self.will_props);
            }
            put_str(&mut body, topic.as_bytes());
            put_str(&mut body, payload);
        }
        if let Some(u) = &self.username {
            put_str(&mut body, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_str(&mut body, p);
        }
        packet(0x10, &body)
    }
}

/// A PUBLISH packet. `id` is ignored for QoS 0.
pub fn publish_bytes(
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    id: u16,
) -> Vec<u8> {
    let mut byte1 = 0x30 | (qos << 1);
    if retain {
        byte1 |= 0x01;
    }
    if dup {
        byte1 |= 0x08;
    }
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(byte1, &body)
}

pub fn subscribe_bytes(id: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for (f, q) in filters {
        put_str(&mut body, f.as_bytes());
        body.push(*q);
    }
    packet(0x82, &body)
}

pub fn unsubscribe_bytes(id: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for f in filters {
        put_str(&mut body, f.as_bytes());
    }
    packet(0xA2, &body)
}

/// PUBACK (0x40), PUBREC (0x50), PUBREL (0x62), PUBCOMP (0x70), UNSUBACK (0xB0).
pub fn ack_bytes(byte1: u8, id: u16) -> Vec<u8> {
    let [hi, lo] = id.to_be_bytes();
    vec![byte1, 2, hi, lo]
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
pub const PINGRESP: [u8; 2] = [0xD0, 0x00];
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];
pub const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

// ---------------------------------------------------------------------------
// The test client.
// ---------------------------------------------------------------------------

/// What a read with a deadline found.
#[derive(Debug)]
pub enum Read1 {
    /// One whole packet's bytes.
    Packet(Vec<u8>),
    /// The peer closed the connection (EOF or reset).
    Closed,
    /// Nothing (or only part of a packet) arrived in time.
    Timeout,
}

/// The test client's socket.
pub enum ClientStream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Ws(Box<WsStream>),
}

impl ClientStream {
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.set_read_timeout(d),
            ClientStream::Unix(s) => s.set_read_timeout(d),
            ClientStream::Ws(w) => w.tcp.set_read_timeout(d),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.shutdown(how),
            ClientStream::Unix(s) => s.shutdown(how),
            ClientStream::Ws(w) => w.tcp.shutdown(how),
        }
    }

    /// The websocket under an MQTT client on a websockets listener.
    pub fn ws(&mut self) -> &mut WsStream {
        match self {
            ClientStream::Ws(w) => w,
            _ => panic!("not a websocket client"),
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.read(buf),
            ClientStream::Unix(s) => s.read(buf),
            ClientStream::Ws(w) => w.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write(buf),
            ClientStream::Unix(s) => s.write(buf),
            ClientStream::Ws(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.flush(),
            ClientStream::Unix(s) => s.flush(),
            ClientStream::Ws(w) => w.tcp.flush(),
        }
    }
}

pub struct Client {
    pub stream: ClientStream,
    pub name: String,
    pub version: ProtocolVersion,
    buf: Vec<u8>,
    /// Packets read while waiting for an acknowledgement (e.g. our own
    /// message coming back on a subscription); returned first by reads.
    pending: std::collections::VecDeque<Vec<u8>>,
    next_id: u16,
}

impl Client {
    /// A TCP connection with nothing sent yet.
    pub fn raw(port: u16, name: &str) -> Client {
        let stream = TcpStream::connect_timeout(&addr(port), TIMEOUT)
            .unwrap_or_else(|e| panic!("{name}: connect to 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).ok();
        Client::over(ClientStream::Tcp(stream), name)
    }

    /// A unix socket connection with nothing sent yet.
    pub fn raw_unix(path: &Path, name: &str) -> Client {
        let stream = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("{name}: connect to {}: {e}", path.display()));
        Client::over(ClientStream::Unix(stream), name)
    }

    /// A websocket connection (opening handshake done) with no MQTT sent.
    pub fn raw_ws(port: u16, name: &str) -> Client {
        Client::over(ClientStream::Ws(Box::new(WsStream::connect(port))), name)
    }

    /// `connect` over a websockets listener.
    pub fn connect_ws(port: u16, client_id: &str) -> Client {
        let (c, connack) = Client::connect_ws_opts(port, &ConnectOpts::v311(client_id));
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// `connect_opts` over a websockets listener.
    pub fn connect_ws_opts(port: u16, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw_ws(port, &name).handshake(opts)
    }

    pub fn over(stream: ClientStream, name: &str) -> Client {
        Client {
            stream,
            name: name.to_string(),
            version: ProtocolVersion::V311,
            buf: Vec::new(),
            pending: Default::default(),
            next_id: 0,
        }
    }

    /// Connects with MQTT 3.1.1 and asserts a successful CONNACK (session
    /// present may be either; use `connect_opts` to check it).
    pub fn connect(port: u16, client_id: &str, clean: bool, keepalive: u16) -> Client {
        let (c, connack) = Client::connect_opts(
            port,
            &ConnectOpts::v311(client_id)
                .clean(clean)
                .keepalive(keepalive),
        );
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// Sends `opts` as CONNECT and returns the client and the raw CONNACK.
    pub fn connect_opts(port: u16, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw(port, &name).handshake(opts)
    }

    /// `connect` over the unix socket at `path`.
    pub fn connect_unix(path: &Path, client_id: &str) -> Client {
        let (c, connack) = Client::connect_unix_opts(path, &ConnectOpts::v311(client_id));
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// `connect_opts` over the unix socket at `path`.
    pub fn connect_unix_opts(path: &Path, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw_unix(path, &name).handshake(opts)
    }

    /// Sends `opts` as CONNECT on a fresh connection and reads the CONNACK.
    fn handshake(mut self, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = self.name.clone();
        self.version = opts.version();
        self.send_raw(&opts.bytes());
        let connack = self.expect_raw();
        if self.version == ProtocolVersion::V5 {
            // Properties follow; the caller checks them.
            assert_eq!(connack[0], 0x20, "{name}: not a CONNACK: {connack:02x?}");
            return (self, connack);
        }
        assert_eq!(connack.len(), 4, "{name}: CONNACK length: {connack:02x?}");
        assert_eq!(
            &connack[..2],
            &[0x20, 0x02],
            "{name}: not a CONNACK: {connack:02x?}"
        );
        (self, connack)
    }

    pub fn next_packet_id(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Writes bytes, panicking on error.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let name = self.name.clone();
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{name}: write: {e}"));
    }

    /// Writes bytes; the broker may already have closed the connection.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until one whole packet is buffered, the peer closes, or the
    /// timeout passes.
    pub fn read_raw(&mut self, timeout: Duration) -> Read1 {
        if let Some(p) = self.pending.pop_front() {
            return Read1::Packet(p);
        }
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        // Bounded: each turn either returns or reads at least one byte, and the
        // deadline caps the total.
        loop {
            if let Ok(Some(h)) = fixed_header(&self.buf) {
                if self.buf.len() >= h.total_len() {
                    let rest = self.buf.split_off(h.total_len());
                    let p = std::mem::replace(&mut self.buf, rest);
                    return Read1::Packet(p);
                }
            } else if fixed_header(&self.buf).is_err() {
                panic!(
                    "{}: broker sent a malformed remaining length: {:02x?}",
                    self.name, self.buf
                );
            }
            let now = Instant::now();
            if now >= deadline {
                return Read1::Timeout;
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read1::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Read1::Timeout
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Read1::Closed,
            }
        }
    }

    /// The next packet's raw bytes; panics on close or timeout.
    pub fn expect_raw(&mut self) -> Vec<u8> {
        match self.read_raw(TIMEOUT) {
            Read1::Packet(p) => p,
            Read1::Closed => panic!("{}: connection closed while expecting a packet", self.name),
            Read1::Timeout => panic!(
                "{}: no packet within {:?} (partial: {:02x?})",
                self.name, TIMEOUT, self.buf
            ),
        }
    }

    /// Asserts the next packet is exactly `bytes`.
    pub fn expect_bytes(&mut self, bytes: &[u8]) {
        let got = self.expect_raw();
        assert_eq!(got, bytes, "{}: unexpected packet bytes", self.name);
    }

    /// The next packet, decoded.
    pub fn expect_packet(&mut self) -> Packet {
        let raw = self.expect_raw();
        self.decode(&raw)
    }

    pub fn decode(&self, raw: &[u8]) -> Packet {
        let h = fixed_header(raw).expect("framed").expect("whole");
        Packet::decode(&h, &raw[h.header_len..], self.version)
            .unwrap_or_else(|e| panic!("{}: cannot decode {raw:02x?}: {e:?}", self.name))
    }

    /// The next packet, which must be a PUBLISH.
    pub fn expect_publish(&mut self) -> Publish {
        match self.expect_packet() {
            Packet::Publish(p) => p,
            other => panic!("{}: expected PUBLISH, got {other:?}", self.name),
        }
    }

    /// Receives a PUBLISH and completes its QoS flow (PUBACK, or PUBREC then
    /// PUBREL/PUBCOMP).
    pub fn receive_publish(&mut self) -> Publish {
        let p = self.expect_publish();
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send_raw(&ack_bytes(0x40, p.packet_id)),
            QoS::ExactlyOnce => {
                self.send_raw(&ack_bytes(0x50, p.packet_id));
                self.expect_ack(&ack_bytes(0x62, p.packet_id));
                self.send_raw(&ack_bytes(0x70, p.packet_id));
            }
        }
        p
    }

    /// Asserts that no packet arrives within `d` (keep it short) and the
    /// connection stays open.
    pub fn expect_nothing_for(&mut self, d: Duration) {
        match self.read_raw(d) {
            Read1::Timeout => {}
            Read1::Packet(p) => panic!(
                "{}: expected nothing, got {:02x?} = {:?}",
                self.name,
                p,
                self.try_decode(&p)
            ),
            Read1::Closed => panic!("{}: expected nothing, but the connection closed", self.name),
        }
    }

    pub fn expect_nothing(&mut self) {
        self.expect_nothing_for(QUIET);
    }

    fn try_decode(&self, raw: &[u8]) -> Option<Packet> {
        let h = fixed_header(raw).ok()??;
        Packet::decode(&h, raw.get(h.header_len..)?, self.version).ok()
    }

    /// Asserts the broker closes the connection (without sending anything
    /// first) within the timeout.
    pub fn expect_closed(&mut self) {
        self.expect_closed_within(TIMEOUT);
    }

    pub fn expect_closed_within(&mut self, d: Duration) {
        match self.read_raw(d) {
            Read1::Closed => {}
            Read1::Packet(p) => panic!(
                "{}: expected the connection to close, got {:02x?} = {:?}",
                self.name,
                p,
                self.try_decode(&p)
            ),
            Read1::Timeout => panic!("{}: connection still open after {d:?}", self.name),
        }
    }

    /// Is the connection still open? (A PINGREQ must be answered.)
    pub fn assert_alive(&mut self) {
        self.send_raw(&PINGREQ);
        self.expect_bytes(&PINGRESP);
    }

    /// QoS 0 publish (no reply expected).
    pub fn publish0(&mut self, topic: &str, payload: &[u8], retain: bool) {
        self.send_raw(&publish_bytes(topic, payload, 0, retain, false, 0));
    }

    /// Publishes and completes the QoS flow from the sender's side, checking
    /// every acknowledgement byte for byte. Returns the packet id used.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> u16 {
        if qos == 0 {
            self.publish0(topic, payload, retain);
            return 0;
        }
        let id = self.next_packet_id();
        self.send_raw(&publish_bytes(topic, payload, qos, retain, false, id));
        if qos == 1 {
            self.expect_ack(&ack_bytes(0x40, id));
        } else {
            self.expect_ack(&ack_bytes(0x50, id));
            self.send_raw(&ack_bytes(0x62, id));
            self.expect_ack(&ack_bytes(0x70, id));
        }
        id
    }

    /// Waits for the acknowledgement `ack` (exact bytes). PUBLISH packets
    /// arriving before it are kept for later reads; anything else fails.
    pub fn expect_ack(&mut self, ack: &[u8]) {
        let mut early = Vec::new();
        // Bounded: each turn consumes one packet, and reads time out.
        for _ in 0..10_000 {
            let got = match self.read_raw(TIMEOUT) {
                Read1::Packet(p) => p,
                other => panic!("{}: waiting for {ack:02x?}: {other:?}", self.name),
            };
            if got == ack {
                self.pending.extend(early);
                return;
            }
            assert_eq!(
                got[0] & 0xF0,
                0x30,
                "{}: expected {ack:02x?}, got {got:02x?}",
                self.name
            );
            early.push(got);
        }
        panic!("{}: too many packets before {ack:02x?}", self.name);
    }

    /// Subscribes and returns the SUBACK's return codes (checking its id).
    pub fn subscribe_many(&mut self, filters: &[(&str, u8)]) -> Vec<u8> {
        let id = self.next_packet_id();
        self.send_raw(&subscribe_bytes(id, filters));
        let raw = self.expect_raw();
        assert_eq!(
            raw[0], 0x90,
            "{}: expected SUBACK, got {raw:02x?}",
            self.name
        );
        assert_eq!(
            &raw[raw.len() - filters.len() - 2..raw.len() - filters.len()],
            &id.to_be_bytes(),
            "{}: SUBACK packet id: {raw:02x?}",
            self.name
        );
        assert_eq!(
            raw.len(),
            4 + filters.len(),
            "{}: SUBACK length: {raw:02x?}",
            self.name
        );
        raw[4..].to_vec()
    }

    /// Subscribes to one filter and asserts the granted QoS equals `qos`.
    pub fn subscribe(&mut self, filter: &str, qos: u8) {
        let codes = self.subscribe_many(&[(filter, qos)]);
        assert_eq!(
            codes,
            vec![qos],
            "{}: SUBACK for {filter} at QoS {qos}",
            self.name
        );
    }

    /// Sends DISCONNECT and waits for the broker to close the socket.
    pub fn disconnect(mut self) {
        self.send_raw(&DISCONNECT);
        self.expect_closed();
    }

    /// Closes the socket without DISCONNECT.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Connects `n` fresh clients to check the broker still serves others; used
/// by bad-input tests after each bad connection.
pub fn assert_broker_healthy(port: u16) {
    let tag = unique();
    let topic = format!("health/{tag}");
    let mut sub = Client::connect(port, &format!("health-sub-{tag}"), true, 60);
    sub.subscribe(&topic, 1);
    let mut publ = Client::connect(port, &format!("health-pub-{tag}"), true, 60);
    publ.publish(&topic, b"ok", 1, false);
    let p = sub.receive_publish();
    assert_eq!(p.topic, topic);
    assert_eq!(p.payload, b"ok");
}
