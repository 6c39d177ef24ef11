//! One client's protocol state, in safe Rust: what libmosquitto keeps in
//! `struct mosquitto` apart from the callbacks. The FFI layer holds it in a
//! mutex; every method here runs under that lock and never calls back into
//! C: what C must hear about is pushed to `events` and dispatched by the
//! FFI layer after the lock is released (callbacks may call the API again).

mod handle;
mod log;
mod net;
mod outgoing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mosquitto_rs::protocol::{
    Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe, Unsubscribe, Will,
};
use mosquitto_rs::tls::TlsClientOptions;

use crate::consts::*;
pub use net::{last_os_error, Stream};

/// Something the application's callbacks must be told.
#[derive(Debug)]
pub enum Event {
    Connect {
        rc: i32,
        flags: i32,
        props: Properties,
    },
    Disconnect {
        rc: i32,
        props: Properties,
    },
    Publish {
        mid: u16,
        reason: i32,
        props: Properties,
    },
    Message(Publish),
    Subscribe {
        mid: u16,
        granted: Vec<i32>,
        props: Properties,
    },
    Unsubscribe {
        mid: u16,
        props: Properties,
    },
    Log {
        level: i32,
        text: String,
    },
}

/// Where the connection stands (libmosquitto's `mosq_cs_*`, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    New,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    Active,
    /// The application called disconnect: no reconnect.
    Disconnecting,
    /// Lost; loop_forever may reconnect.
    Lost,
}

/// The stage of an outgoing QoS 1/2 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutStage {
    /// Not sent yet (over the in-flight limit, or not connected).
    Queued,
    WaitPubAck,
    WaitPubRec,
    WaitPubComp,
}

#[derive(Debug)]
struct OutMsg {
    msg: Publish,
    stage: OutStage,
    /// In flight when the connection was lost: resend after CONNACK.
    resend: bool,
}

/// Settings given through the API before or between connections.
#[derive(Debug, Default)]
pub struct Config {
    pub id: Option<String>,
    pub clean_start: bool,
    pub version: ProtocolVersion,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub host: String,
    pub port: u16,
    pub bind: Option<String>,
    pub keepalive: u16,
    pub connect_props: Properties,
    pub tls: Option<TlsClientOptions>,
    /// Outgoing QoS 1/2 messages in flight at once (0: unlimited).
    pub max_inflight: u16,
    pub receive_maximum: u16,
    pub reconnect_delay: u32,
    pub reconnect_delay_max: u32,
    pub reconnect_exponential: bool,
    pub nodelay: bool,
    pub socks5: Option<mosquitto_rs::client::socks::ProxyUrl>,
}

pub struct Client {
    pub cfg: Config,
    pub stream: Option<Stream>,
    pub state: ConnState,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Close the socket once `out` is written (a DISCONNECT is in it).
    close_after_write: bool,
    last_mid: u16,
    outgoing: VecDeque<OutMsg>,
    /// QoS 2 messages received, delivered when their PUBREL comes.
    incoming: Vec<Publish>,
    /// Topic aliases the broker set on this connection (MQTT 5).
    aliases: Vec<(u16, String)>,
    last_in: Instant,
    last_out: Instant,
    ping_sent: Option<Instant>,
    /// The broker's receive maximum (MQTT 5), bounding our in-flight count.
    server_receive_max: u16,
    /// The broker's CONNACK limits (MQTT 5): maximum packet size, maximum
    /// QoS, retain available.
    server_max_packet: Option<u32>,
    server_max_qos: QoS,
    server_retain: bool,
    pub reconnects: u32,
    /// errno for a MOSQ_ERR_ERRNO from the last read (EPROTO: a TLS
    /// protocol error, after which loop_forever stops, as libmosquitto's).
    pub os_errno: i32,
    /// CONNACK came: resend once the connect callback has run (so that
    /// subscriptions it makes go out first, as libmosquitto orders them).
    resend_pending: bool,
    pub events: Vec<Event>,
}

impl Client {
    pub fn new(id: Option<String>, clean_start: bool) -> Client {
        let now = Instant::now();
        Client {
            cfg: Config {
                id,
                clean_start,
                keepalive: 60,
                max_inflight: 20,
                receive_maximum: 20,
                reconnect_delay: 1,
                reconnect_delay_max: 1,
                ..Config::default()
            },
            stream: None,
            state: ConnState::New,
            inbuf: Vec::new(),
            out: Vec::new(),
            close_after_write: false,
            last_mid: 0,
            outgoing: VecDeque::new(),
            incoming: Vec::new(),
            aliases: Vec::new(),
            last_in: now,
            last_out: now,
            ping_sent: None,
            server_receive_max: u16::MAX,
            server_max_packet: None,
            server_max_qos: QoS::ExactlyOnce,
            server_retain: true,
            reconnects: 0,
            resend_pending: false,
            os_errno: 0,
            events: Vec::new(),
        }
    }

    pub fn log(&mut self, level: i32, text: String) {
        self.events.push(Event::Log { level, text });
    }

    /// Logs a packet as libmosquitto does (debug level).
    pub fn log_packet(&mut self, p: &Packet, sent: bool) {
        let id = log::id_text(self.cfg.id.as_deref()).to_owned();
        for line in log::lines(&id, p, sent, self.last_mid) {
            self.log(LOG_DEBUG, line);
        }
    }

    pub fn next_mid(&mut self) -> u16 {
        self.last_mid = self.last_mid.wrapping_add(1);
        if self.last_mid == 0 {
            self.last_mid = 1;
        }
        self.last_mid
    }

    pub fn want_write(&self) -> bool {
        !self.out.is_empty() && self.stream.as_ref().is_some_and(|s| s.ready())
    }

    pub fn fd(&self) -> Option<i32> {
        self.stream.as_ref().map(|s| s.fd())
    }

    /// Opens the connection and queues CONNECT (`mosquitto_connect` and
    /// `mosquitto_reconnect`): blocking name lookup, TCP connect and TLS
    /// handshake, as libmosquitto's blocking connect does.
    pub fn connect(&mut self) -> i32 {
        self.drop_stream();
        let stream = match net::open(&self.cfg) {
            Ok(s) => s,
            Err((rc, why)) => {
                self.log(LOG_ERR, format!("Error: {why}"));
                return rc;
            }
        };
        self.stream = Some(stream);
        self.state = ConnState::Connecting;
        self.inbuf.clear();
        self.out.clear();
        self.aliases.clear();
        self.close_after_write = false;
        self.ping_sent = None;
        let now = Instant::now();
        self.last_in = now;
        self.last_out = now;
        let connect = self.connect_packet();
        self.queue(&Packet::Connect(Box::new(connect)));
        self.flush_quietly();
        SUCCESS
    }

    fn connect_packet(&self) -> mosquitto_rs::protocol::Connect {
        let mut will = self.cfg.will.clone();
        if self.cfg.version != ProtocolVersion::V5 {
            if let Some(w) = will.as_mut() {
                w.properties = Properties::default();
            }
        }
        let mut properties = Properties::default();
        if self.cfg.version == ProtocolVersion::V5 {
            properties = self.cfg.connect_props.clone();
            if self.cfg.receive_maximum != 65535 && properties.receive_maximum().is_none() {
                properties.set_receive_maximum(self.cfg.receive_maximum);
            }
        }
        mosquitto_rs::protocol::Connect {
            protocol: self.cfg.version,
            bridge: false,
            clean_session: self.cfg.clean_start,
            keep_alive: self.cfg.keepalive,
            client_id: self.cfg.id.clone().unwrap_or_default(),
            will,
            username: self.cfg.username.clone(),
            password: self.cfg.password.clone(),
            properties,
        }
    }

    /// Appends a packet to the output buffer.
    pub fn queue(&mut self, p: &Packet) {
        self.log_packet(p, true);
        p.encode(&mut self.out, self.cfg.version);
    }

    /// Writes what it can now; a failure shows on the next loop turn.
    pub fn flush_quietly(&mut self) {
        if self.flush() != SUCCESS {
            // The loop sees the socket error again on its next read.
        }
    }

    /// Writes the output buffer until done or the socket would block.
    pub fn flush(&mut self) -> i32 {
        let Some(stream) = self.stream.as_mut() else {
            return NO_CONN;
        };
        while !self.out.is_empty() {
            match stream.write(&self.out) {
                Ok(0) => return CONN_LOST,
                Ok(n) => {
                    self.out.drain(..n.min(self.out.len()));
                    self.last_out = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return CONN_LOST,
            }
        }
        if self.close_after_write {
            // libmosquitto closes as soon as its DISCONNECT is written.
            self.drop_stream();
            self.state = ConnState::Disconnecting;
            self.events.push(Event::Disconnect {
                rc: SUCCESS,
                props: Properties::default(),
            });
        }
        SUCCESS
    }

    pub fn drop_stream(&mut self) {
        if let Some(mut s) = self.stream.take() {
            s.shutdown();
        }
        self.close_after_write = false;
    }

    /// The connection failed with `rc`: close it and tell on_disconnect, as
    /// libmosquitto's loop does. After the application's own disconnect,
    /// the loss is not an error (rc 0).
    pub fn lost(&mut self, rc: i32) -> i32 {
        self.drop_stream();
        let rc = if self.state == ConnState::Disconnecting {
            SUCCESS
        } else {
            self.state = ConnState::Lost;
            rc
        };
        self.events.push(Event::Disconnect {
            rc,
            props: Properties::default(),
        });
        rc
    }

    /// `mosquitto_disconnect_v5`.
    pub fn disconnect(&mut self, reason: u8, props: Properties) -> i32 {
        self.state = ConnState::Disconnecting;
        if self.stream.is_none() {
            return NO_CONN;
        }
        self.queue(&Packet::Disconnect(reason, props));
        self.close_after_write = true;
        self.flush_quietly();
        SUCCESS
    }

    /// Reads what the socket has and handles every whole packet.
    pub fn read(&mut self) -> i32 {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return NO_CONN;
            };
            match stream.read(&mut buf) {
                Ok(0) => return self.lost(CONN_LOST),
                Ok(n) => {
                    self.inbuf.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    self.last_in = Instant::now();
                    let rc = self.handle_input();
                    if rc != SUCCESS {
                        return self.lost(rc);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // A TLS handshake that just completed lets CONNECT out.
                    if self.want_write() {
                        return self.write();
                    }
                    return SUCCESS;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let rc = if net::is_tls_error(&e) {
                        TLS
                    } else if self.stream.as_ref().is_some_and(|s| s.is_tls())
                        && e.raw_os_error().is_none()
                        && e.kind() == std::io::ErrorKind::Other
                    {
                        // An SSL error (e.g. the broker's alert refusing our
                        // certificate): libmosquitto's errno EPROTO.
                        self.os_errno = libc::EPROTO;
                        ERRNO
                    } else {
                        CONN_LOST
                    };
                    return self.lost(rc);
                }
            }
        }
    }

    /// Writes pending output; a write error closes the connection.
    pub fn write(&mut self) -> i32 {
        if self.stream.is_none() {
            return NO_CONN;
        }
        match self.flush() {
            SUCCESS => SUCCESS,
            rc => self.lost(rc),
        }
    }

    /// Keepalive (`mosquitto_loop_misc`): a PINGREQ when nothing was sent or
    /// received for a keepalive period, and the connection is dropped when
    /// the PINGRESP does not come within another.
    pub fn misc(&mut self) -> i32 {
        if self.stream.is_none() {
            return NO_CONN;
        }
        if self.cfg.keepalive == 0 || self.state == ConnState::Connecting {
            return SUCCESS;
        }
        let ka = Duration::from_secs(u64::from(self.cfg.keepalive));
        let now = Instant::now();
        if let Some(sent) = self.ping_sent {
            if now.duration_since(sent) >= ka {
                return self.lost(KEEPALIVE);
            }
            return SUCCESS;
        }
        if now.duration_since(self.last_out) >= ka || now.duration_since(self.last_in) >= ka {
            self.queue(&Packet::PingReq);
            self.ping_sent = Some(now);
            self.last_in = now;
            return self.write();
        }
        SUCCESS
    }

    /// Milliseconds until `misc` has something to do (for poll timeouts).
    pub fn next_keepalive_ms(&self) -> Option<u64> {
        if self.cfg.keepalive == 0 || self.stream.is_none() {
            return None;
        }
        let ka = Duration::from_secs(u64::from(self.cfg.keepalive));
        let due = match self.ping_sent {
            Some(sent) => sent + ka,
            None => self.last_out.min(self.last_in) + ka,
        };
        Some(due.saturating_duration_since(Instant::now()).as_millis() as u64)
    }

    pub fn subscribe(&mut self, sub: Subscribe) -> i32 {
        if self.stream.is_none() {
            return NO_CONN;
        }
        self.queue(&Packet::Subscribe(sub));
        self.flush_quietly();
        SUCCESS
    }

    pub fn unsubscribe(&mut self, unsub: Unsubscribe) -> i32 {
        if self.stream.is_none() {
            return NO_CONN;
        }
        self.queue(&Packet::Unsubscribe(unsub));
        self.flush_quietly();
        SUCCESS
    }

    /// `mosquitto_reinitialise`: back to a new client.
    pub fn reset(&mut self, id: Option<String>, clean_start: bool) {
        self.drop_stream();
        *self = Client::new(id, clean_start);
    }

    /// The delay before reconnect attempt number `reconnects` (seconds),
    /// libmosquitto's linear or exponential back-off.
    pub fn reconnect_delay(&mut self) -> u64 {
        let base = u64::from(self.cfg.reconnect_delay);
        let max = u64::from(self.cfg.reconnect_delay_max);
        let n = u64::from(self.reconnects) + 1;
        let d = if max > base {
            if self.cfg.reconnect_exponential {
                base.saturating_mul(n * n)
            } else {
                base.saturating_mul(n)
            }
        } else {
            base
        };
        if d > max {
            max
        } else {
            self.reconnects += 1;
            d
        }
    }
}
