//! Bridges: the broker as a client of another broker, inside its own event
//! loop. Each `connection` block gets a local session (its queue survives
//! while the remote is away, bounded by the queue limits, and is persisted
//! like any other) subscribed to the local side of its `out` topics, and a
//! connection to the remote that subscribes to the remote side of its `in`
//! topics. Reconnects back off with jitter; host names are resolved on a
//! helper thread so DNS never stalls the loop. With several addresses and
//! `round_robin false`, a bridge on another address probes the first one
//! (a plain TCP connect) every 5 s and moves back to it once it answers.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::context::{CloseReason, Connection, Session, NO_LISTENER};
use super::database::Message;
use super::net;
use super::stream::Stream;
use super::timers::TimerKind;
use super::Broker;
use crate::config::{Bridge, BridgeAddress, BridgeProtocol, BridgeTopic, Direction, StartType};
use crate::protocol::{
    ConnAck, Connect, ConnectReturnCode, Packet, Properties, ProtocolVersion, Publish, QoS,
    Subscribe, Unsubscribe, Will,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not connected; a restart may be scheduled.
    Idle,
    Resolving,
    /// TCP connect in progress.
    Connecting,
    /// CONNECT sent.
    WaitConnack,
    Connected,
    /// Cannot run in this build (MQTT 5, TLS); never connects.
    Disabled,
}

/// How often a bridge on a secondary address looks for its primary, and
/// how long each look may take (mosquitto's interval).
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The look for the primary address: a TCP connection that is closed as
/// soon as it is made, since all it has to tell is that the primary answers.
enum Probe {
    Off,
    Resolving,
    Connecting(mio::net::TcpStream),
}

pub(super) struct BridgeState {
    pub cfg: Bridge,
    pub session: usize,
    pub conn: Option<usize>,
    pub phase: Phase,
    /// Index of the address to try next.
    next_addr: usize,
    /// Index of the address of the current (or last) attempt.
    cur_addr: usize,
    probe: Probe,
    /// The other addresses the current attempt's host name resolved to,
    /// last to try first: a refused one moves on to the next, so a name
    /// such as localhost works whichever family the remote listens on.
    other_addrs: Vec<SocketAddr>,
    /// Probes made so far: each takes the next address the primary's name
    /// resolves to, so one that refuses does not hide one that answers.
    probe_turn: usize,
    /// The connection is being closed to move to the primary address: the
    /// next attempt goes there at once.
    to_primary: bool,
    /// Current reconnect delay in seconds.
    backoff: u64,
    /// Bumped at each attempt; timers and resolver answers carry it.
    serial: u32,
    pub last_activity: Instant,
    /// Topics shared with the connection, for remapping.
    topics: Rc<[BridgeTopic]>,
    /// The host being connected to (for TLS name checks).
    host: String,
    #[cfg(feature = "tls")]
    tls: Option<super::tls::TlsClientConfig>,
}

/// A resolver answer: for bridge `bridge`'s attempt `serial`, either its
/// connection or (`probe`) its look for the primary address.
struct Resolved {
    bridge: usize,
    serial: u32,
    probe: bool,
    found: io::Result<Vec<SocketAddr>>,
}

/// Resolver answers come back over a channel; the waker makes the poll
/// loop look at it.
pub(super) struct Resolver {
    tx: mpsc::Sender<Resolved>,
    rx: mpsc::Receiver<Resolved>,
    waker: Arc<mio::Waker>,
}

impl Resolver {
    pub fn new(registry: &mio::Registry, token: Token) -> io::Result<Resolver> {
        let (tx, rx) = mpsc::channel();
        Ok(Resolver {
            tx,
            rx,
            waker: Arc::new(mio::Waker::new(registry, token)?),
        })
    }
}

fn protocol_of(cfg: &Bridge) -> ProtocolVersion {
    match cfg.protocol_version {
        BridgeProtocol::Mqtt31 => ProtocolVersion::V31,
        _ => ProtocolVersion::V311,
    }
}

fn sends_out(t: &BridgeTopic) -> bool {
    matches!(t.direction, Direction::Out | Direction::Both)
}

fn takes_in(t: &BridgeTopic) -> bool {
    matches!(t.direction, Direction::In | Direction::Both)
}

impl BridgeState {
    /// The local address outgoing connections bind to, if configured.
    fn bind_address(&self) -> Option<SocketAddr> {
        self.cfg
            .bind_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 0))
    }

    /// Whether to look for the primary address: connected to another one
    /// of several, with `round_robin false`. Not for `start_type once`,
    /// which would stay down for good if the move failed.
    fn probes(&self) -> bool {
        !self.cfg.round_robin
            && self.cfg.start_type != StartType::Once
            && self.phase == Phase::Connected
            && self.cur_addr != 0
            && self.conn.is_some()
            && !self.to_primary
    }

    /// Plain TCP, or a TLS client connection when the bridge has TLS or
    /// PSK settings (the handshake runs as the connection makes progress).
    fn wrap(&self, tcp: mio::net::TcpStream) -> Result<Stream, String> {
        #[cfg(feature = "tls")]
        if let Some(cfg) = &self.tls {
            return cfg
                .connect_nonblocking(&self.host, tcp)
                .map(|t| Stream::Tls(Box::new(t)))
                .map_err(|e| e.to_string());
        }
        Ok(Stream::Tcp(tcp))
    }
}

/// The TLS client context of a bridge with `bridge_cafile`/`capath` or
/// `bridge_identity`/`bridge_psk`; None for a plain bridge.
#[cfg(feature = "tls")]
fn bridge_tls(cfg: &Bridge) -> Result<Option<super::tls::TlsClientConfig>, String> {
    if !(cfg.uses_tls() || cfg.uses_psk()) {
        return Ok(None);
    }
    super::tls::TlsClientConfig::build(&cfg.tls)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A number in `lo..=hi` from the kernel's randomness.
fn random_between(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let mut b = [0u8; 8];
    net::random_bytes(&mut b);
    lo + u64::from_ne_bytes(b) % (hi - lo + 1)
}

impl Broker {
    /// Sets up every configured bridge and connects those that start at
    /// once.
    pub(super) fn bridges_start(&mut self) {
        let configs = self.settings.bridges.clone();
        for (i, cfg) in configs.into_iter().enumerate() {
            #[cfg(feature = "tls")]
            let tls = match bridge_tls(&cfg) {
                Ok(t) => t,
                Err(e) => {
                    crate::error!("Error: bridge {}: {e}", cfg.name);
                    None
                }
            };
            #[cfg(feature = "tls")]
            let tls_missing = (cfg.uses_tls() || cfg.uses_psk()) && tls.is_none();
            #[cfg(not(feature = "tls"))]
            let tls_missing = cfg.uses_tls() || cfg.uses_psk();
            let disabled = if cfg.protocol_version == BridgeProtocol::Mqtt5 {
                Some("MQTT 5 bridges are not supported yet")
            } else if tls_missing {
                Some("its TLS settings cannot be used")
            } else if cfg.addresses.is_empty() {
                Some("it has no address")
            } else {
                None
            };
            if let Some(why) = disabled {
                crate::error!("Error: bridge {} not started: {why}.", cfg.name);
            }
            let sk = self.bridge_session(i, &cfg);
            let topics: Rc<[BridgeTopic]> = cfg.topics.clone().into();
            self.bridges.push(BridgeState {
                session: sk,
                conn: None,
                phase: if disabled.is_some() {
                    Phase::Disabled
                } else {
                    Phase::Idle
                },
                next_addr: 0,
                cur_addr: 0,
                probe: Probe::Off,
                other_addrs: Vec::new(),
                probe_turn: 0,
                to_primary: false,
                backoff: u64::from(cfg.restart_timeout.base),
                serial: 0,
                last_activity: Instant::now(),
                topics,
                host: String::new(),
                #[cfg(feature = "tls")]
                tls,
                cfg,
            });
            if disabled.is_some() {
                continue;
            }
            self.bridge_notify_local(i, b'0');
            if self.bridges.get(i).map(|b| b.cfg.start_type) != Some(StartType::Lazy) {
                self.bridge_connect(i);
            }
        }
    }

    /// The bridge's local session (adopted from the database if it was
    /// saved), subscribed afresh to the local side of the `out` topics.
    fn bridge_session(&mut self, i: usize, cfg: &Bridge) -> usize {
        let local_id = cfg
            .local_clientid
            .clone()
            .unwrap_or_else(|| format!("local.{}", cfg.name));
        let sk = match self.by_id.get(local_id.as_str()) {
            Some(&sk) => sk,
            None => {
                let id: Rc<str> = Rc::from(local_id);
                let sk = self
                    .sessions
                    .insert(Session::new(Rc::clone(&id), cfg.local_cleansession()));
                self.by_id.insert(id, sk);
                sk
            }
        };
        let old = self
            .sessions
            .get_mut(sk)
            .map(|s| std::mem::take(&mut s.filters))
            .unwrap_or_default();
        for (f, _) in old {
            self.subs.unsubscribe(&f, sk);
        }
        let mut filters = Vec::new();
        for t in cfg.topics.iter().filter(|t| sends_out(t)) {
            let qos = QoS::from_u8(t.qos).unwrap_or(QoS::AtMostOnce);
            let filter = t.local_topic();
            self.subs.subscribe(&filter, sk, qos);
            filters.push((filter, qos));
        }
        if let Some(s) = self.sessions.get_mut(sk) {
            s.filters = filters;
            s.clean = cfg.local_cleansession();
            s.cold_mut().bridge = Some(i);
            s.retain_as_published = cfg.outgoing_retain;
            s.expiry_serial = u32::MAX; // never expired by persistent_client_expiration
        }
        sk
    }

    /// Publishes the bridge's state ('1' or '0') on the local broker.
    fn bridge_notify_local(&mut self, i: usize, state: u8) {
        let Some(b) = self.bridges.get(i) else {
            return;
        };
        if !b.cfg.notifications {
            return;
        }
        let topic = b.cfg.notification_topic();
        let origin = Some(b.session);
        let msg = Message::new(topic, vec![state], QoS::AtLeastOnce, true);
        self.publish_message(Rc::new(msg), origin);
    }

    /// Starts a connection attempt to the bridge's next address.
    pub(super) fn bridge_connect(&mut self, i: usize) {
        let serial = self.serial();
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if b.conn.is_some() || b.phase == Phase::Disabled {
            return;
        }
        b.serial = serial;
        b.other_addrs.clear();
        let n = b.cfg.addresses.len().max(1);
        b.cur_addr = b.next_addr % n;
        let Some(addr) = b.cfg.addresses.get(b.cur_addr).cloned() else {
            return;
        };
        crate::notice!(
            "Connecting bridge {} ({}:{})",
            b.cfg.name,
            addr.host,
            addr.port
        );
        b.host = addr.host.clone();
        if let Ok(ip) = addr.host.parse::<IpAddr>() {
            self.bridge_connect_to(i, SocketAddr::new(ip, addr.port));
            return;
        }
        b.phase = Phase::Resolving;
        if let Err(e) = self.resolve(i, serial, false, addr) {
            crate::error!("Error: unable to resolve bridge address: {e}");
            self.bridge_failed(i);
        }
    }

    /// Resolves `addr` on a helper thread; the answer comes back through
    /// the resolver's channel, tagged with `i`, `serial` and `probe`.
    fn resolve(&self, i: usize, serial: u32, probe: bool, addr: BridgeAddress) -> io::Result<()> {
        let Some(r) = &self.resolver else {
            return Err(io::Error::other("no resolver"));
        };
        let (tx, waker) = (r.tx.clone(), Arc::clone(&r.waker));
        std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                let found = (addr.host.as_str(), addr.port)
                    .to_socket_addrs()
                    .map(|a| a.collect());
                let _ = tx.send(Resolved {
                    bridge: i,
                    serial,
                    probe,
                    found,
                });
                let _ = waker.wake();
            })
            .map(|_| ())
    }

    /// Host names resolved on the helper thread.
    pub(super) fn bridge_resolved(&mut self) {
        let answers: Vec<Resolved> = match &self.resolver {
            Some(r) => r.rx.try_iter().collect(),
            None => return,
        };
        for Resolved {
            bridge: i,
            serial,
            probe,
            found,
        } in answers
        {
            if probe {
                self.bridge_probe_resolved(i, serial, found);
                continue;
            }
            let current = self
                .bridges
                .get(i)
                .is_some_and(|b| b.serial == serial && b.phase == Phase::Resolving);
            if !current {
                continue;
            }
            let mut addrs = found.unwrap_or_default();
            addrs.reverse();
            let first = addrs.pop();
            if let Some(b) = self.bridges.get_mut(i) {
                b.other_addrs = addrs;
            }
            match first {
                Some(addr) => self.bridge_connect_to(i, addr),
                None => {
                    let name = self.bridges.get(i).map(|b| b.cfg.name.clone());
                    crate::error!(
                        "Error creating bridge {}: unable to resolve its address.",
                        name.unwrap_or_default()
                    );
                    self.bridge_failed(i);
                }
            }
        }
    }

    fn bridge_connect_to(&mut self, i: usize, addr: SocketAddr) {
        let serial = self.serial();
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        let stream = match net::connect(addr, b.bind_address()) {
            Ok(s) => s,
            Err(e) => {
                crate::error!("Error creating bridge {} ({addr}): {e}.", b.cfg.name);
                if !self.bridge_try_other_address(i) {
                    self.bridge_failed(i);
                }
                return;
            }
        };
        if self.settings.set_tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let stream = match b.wrap(stream) {
            Ok(s) => s,
            Err(e) => {
                crate::error!("Error creating bridge {}: {e}.", b.cfg.name);
                self.bridge_failed(i);
                return;
            }
        };
        let now = self.timers.now_ms(Instant::now());
        let mut conn = Connection::new(serial, stream, NO_LISTENER, now as u32);
        conn.set_session(b.session);
        conn.protocol = protocol_of(&b.cfg);
        conn.keepalive = b.cfg.keepalive_interval;
        let cold = conn.cold_mut();
        cold.bridge = Some(i);
        cold.bridge_topics = Some(Rc::clone(&b.topics));
        cold.log_name = b.cfg.remote_clientid.as_deref().map(Rc::from);
        // WRITABLE until the connection is made and CONNECT written.
        conn.want_write = true;
        let entry = self.conns.vacant_entry();
        let ck = entry.key();
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, Token(ck), interest)
        {
            crate::error!("Error creating bridge {}: {e}.", b.cfg.name);
            self.bridge_failed(i);
            return;
        }
        let deadline = now + u64::from(conn.keepalive) * 1500;
        conn.timer_at = deadline as u32;
        conn.timer_on = true;
        entry.insert(conn);
        b.conn = Some(ck);
        b.phase = Phase::Connecting;
        self.timers
            .push_ms(deadline, TimerKind::Keepalive, ck, serial);
    }

    /// The TCP connection of a bridge finished (or failed): send CONNECT.
    pub(super) fn bridge_connect_done(&mut self, ck: usize) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        let Some(i) = conn.bridge() else {
            return;
        };
        if self.bridges.get(i).map(|b| b.phase) != Some(Phase::Connecting) {
            return;
        }
        let failed = match conn.stream.connect_result() {
            Ok(true) => None,
            Ok(false) => return,
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            if let Some(b) = self.bridges.get(i) {
                crate::notice!("Bridge {}: connection failed: {e}.", b.cfg.name);
            }
            self.schedule_close(ck, CloseReason::ConnectionLost);
            return;
        }
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        b.phase = Phase::WaitConnack;
        let cfg = &b.cfg;
        let will = (cfg.notifications && !cfg.notifications_local_only).then(|| Will {
            topic: cfg.notification_topic(),
            payload: b"0".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        });
        let connect = Connect {
            protocol: protocol_of(cfg),
            bridge: cfg.try_private,
            clean_session: cfg.cleansession,
            keep_alive: cfg.keepalive_interval,
            client_id: cfg
                .remote_clientid
                .clone()
                .unwrap_or_else(|| cfg.name.clone()),
            will,
            username: cfg.remote_username.clone(),
            password: cfg.remote_password.clone().map(String::into_bytes),
            properties: Properties::default(),
        };
        let version = connect.protocol;
        self.send_packet(ck, &Packet::Connect(Box::new(connect)), version);
    }

    /// CONNACK from the remote: subscribe, announce, and send what waited.
    pub(super) fn bridge_connack(&mut self, ck: usize, ack: ConnAck) {
        let Some(i) = self.conns.get(ck).and_then(|c| c.bridge()) else {
            return;
        };
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if ack.code != 0 {
            crate::error!(
                "Bridge {}: {}",
                b.cfg.name,
                ConnectReturnCode::describe(ack.code)
            );
            self.schedule_close(ck, CloseReason::Refused);
            return;
        }
        crate::notice!("Bridge {} connected.", b.cfg.name);
        b.phase = Phase::Connected;
        b.backoff = u64::from(b.cfg.restart_timeout.base);
        b.last_activity = Instant::now();
        let sk = b.session;
        let cfg = b.cfg.clone();
        let serial = b.serial;
        if let Some(s) = self.sessions.get_mut(sk) {
            s.set_conn(Some(ck));
        }
        let version = protocol_of(&cfg);
        for t in &cfg.topics {
            let id = self.next_pid(sk);
            if takes_in(t) {
                let qos = QoS::from_u8(t.qos).unwrap_or(QoS::AtMostOnce);
                let sub = Subscribe {
                    packet_id: id,
                    filters: vec![(t.remote_topic(), qos)],
                    options: vec![qos.as_u8()],
                    properties: Properties::default(),
                };
                self.send_packet(ck, &Packet::Subscribe(sub), version);
            } else if cfg.attempt_unsubscribe {
                let unsub = Unsubscribe {
                    packet_id: id,
                    filters: vec![t.remote_topic()],
                    properties: Properties::default(),
                };
                self.send_packet(ck, &Packet::Unsubscribe(unsub), version);
            }
        }
        if cfg.notifications {
            if !cfg.notifications_local_only {
                let p = Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    topic: cfg.notification_topic(),
                    packet_id: self.next_pid(sk),
                    payload: b"1".to_vec(),
                    properties: Properties::default(),
                };
                self.send_packet(ck, &Packet::Publish(p), version);
            }
            self.bridge_notify_local(i, b'1');
        }
        // Retained messages of the out topics go over too, as mosquitto's do.
        let mut found = Vec::new();
        for t in cfg.topics.iter().filter(|t| sends_out(t)) {
            found.clear();
            self.retained.matching(&t.local_topic(), &mut found);
            let sub_qos = QoS::from_u8(t.qos).unwrap_or(QoS::AtMostOnce);
            for m in &found {
                if self.retain_source_allowed(m) {
                    self.deliver(sk, m, m.qos.min(sub_qos), true);
                }
            }
        }
        self.resume_session(ck, sk);
        let at = Instant::now() + Duration::from_secs(u64::from(cfg.keepalive_interval.max(1)));
        self.timers.push(at, TimerKind::BridgePing, i, serial);
        if cfg.start_type == StartType::Lazy {
            let at = Instant::now() + Duration::from_secs(u64::from(cfg.idle_timeout.max(1)));
            self.timers.push(at, TimerKind::BridgeIdle, i, serial);
        }
        if self.bridges.get(i).is_some_and(BridgeState::probes) {
            let at = Instant::now() + PROBE_INTERVAL;
            self.timers.push(at, TimerKind::BridgeProbe, i, serial);
        }
    }

    fn next_pid(&mut self, sk: usize) -> u16 {
        self.sessions
            .get_mut(sk)
            .map(|s| s.msgs.next_packet_id())
            .unwrap_or(1)
    }

    /// The bridge's connection closed: announce it locally and plan the
    /// next attempt as its start type says.
    pub(super) fn bridge_lost(&mut self, i: usize, ck: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if b.conn != Some(ck) {
            return;
        }
        let was_connected = b.phase == Phase::Connected;
        let was_connecting = b.phase == Phase::Connecting;
        b.conn = None;
        b.phase = Phase::Idle;
        let to_primary = std::mem::take(&mut b.to_primary);
        let sk = b.session;
        if let Some(s) = self.sessions.get_mut(sk) {
            if s.conn() == Some(ck) {
                s.set_conn(None);
            }
        }
        if was_connected {
            if let Some(b) = self.bridges.get(i) {
                crate::notice!("Bridge {} disconnected.", b.cfg.name);
            }
            self.bridge_notify_local(i, b'0');
        }
        self.probe_stop(i);
        if was_connecting && self.bridge_try_other_address(i) {
            return;
        }
        if to_primary {
            // The primary just answered: no back-off, and whatever is queued
            // goes there on CONNACK like after any reconnection.
            if let Some(b) = self.bridges.get_mut(i) {
                b.next_addr = 0;
                let serial = b.serial;
                self.timers
                    .push(Instant::now(), TimerKind::BridgeRestart, i, serial);
            }
            return;
        }
        self.bridge_failed(i);
    }

    /// Connects to the next address the host name resolved to, if any is
    /// left for this attempt.
    fn bridge_try_other_address(&mut self, i: usize) -> bool {
        let Some(addr) = self.bridges.get_mut(i).and_then(|b| b.other_addrs.pop()) else {
            return false;
        };
        self.bridge_connect_to(i, addr);
        true
    }

    /// After a failed attempt or a lost connection: next address (the one
    /// just lost is the least likely to answer, as mosquitto reasons too),
    /// and a restart after the back-off for automatic bridges.
    fn bridge_failed(&mut self, i: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        b.phase = Phase::Idle;
        b.next_addr = (b.next_addr + 1) % b.cfg.addresses.len().max(1);
        if b.cfg.start_type != StartType::Automatic {
            return; // once: never again; lazy: when enough is queued
        }
        let base = u64::from(b.cfg.restart_timeout.base);
        let delay = match b.cfg.restart_timeout.cap {
            None => base,
            // Decorrelated jitter: random between base and 3× the last
            // delay, capped.
            Some(cap) => random_between(base, b.backoff.saturating_mul(3)).min(u64::from(cap)),
        };
        b.backoff = delay.max(1);
        let at = Instant::now() + Duration::from_secs(b.backoff);
        let serial = b.serial;
        self.timers.push(at, TimerKind::BridgeRestart, i, serial);
    }

    pub(super) fn bridge_timer(&mut self, kind: TimerKind, i: usize, serial: u32) {
        let Some(b) = self.bridges.get(i) else {
            return;
        };
        if b.serial != serial {
            return;
        }
        match kind {
            TimerKind::BridgeRestart if b.phase == Phase::Idle => self.bridge_connect(i),
            TimerKind::BridgePing if b.phase == Phase::Connected => {
                let (Some(ck), ka) = (b.conn, b.cfg.keepalive_interval) else {
                    return;
                };
                let version = protocol_of(&b.cfg);
                self.send_packet(ck, &Packet::PingReq, version);
                let at = Instant::now() + Duration::from_secs(u64::from(ka.max(1)));
                self.timers.push(at, TimerKind::BridgePing, i, serial);
            }
            TimerKind::BridgeIdle if b.phase == Phase::Connected => {
                let idle = Duration::from_secs(u64::from(b.cfg.idle_timeout));
                let quiet = b.last_activity.elapsed();
                if quiet >= idle {
                    if let Some(ck) = b.conn {
                        crate::notice!("Bridge {} stopping: idle.", b.cfg.name);
                        let version = protocol_of(&b.cfg);
                        if let Some(b) = self.bridges.get_mut(i) {
                            b.to_primary = false; // idle wins: stay down
                        }
                        self.send_packet(
                            ck,
                            &Packet::Disconnect(0, Properties::default()),
                            version,
                        );
                        self.schedule_close(ck, CloseReason::Disconnect);
                    }
                } else {
                    let at = Instant::now() + (idle - quiet);
                    self.timers.push(at, TimerKind::BridgeIdle, i, serial);
                }
            }
            TimerKind::BridgeProbe => self.bridge_probe_tick(i, serial),
            _ => {}
        }
    }

    /// Every [`PROBE_INTERVAL`] while [`BridgeState::probes`]: a probe that
    /// has not connected by now failed; start the next one. A host name
    /// still being resolved is left to finish rather than piling up threads.
    fn bridge_probe_tick(&mut self, i: usize, serial: u32) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if !b.probes() {
            self.probe_stop(i);
            return;
        }
        let at = Instant::now() + PROBE_INTERVAL;
        self.timers.push(at, TimerKind::BridgeProbe, i, serial);
        if matches!(b.probe, Probe::Resolving) {
            return;
        }
        self.probe_stop(i);
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        let Some(primary) = b.cfg.addresses.first().cloned() else {
            return;
        };
        if let Ok(ip) = primary.host.parse::<IpAddr>() {
            self.probe_connect(i, SocketAddr::new(ip, primary.port));
            return;
        }
        b.probe = Probe::Resolving;
        if let Err(e) = self.resolve(i, serial, true, primary) {
            if let Some(b) = self.bridges.get_mut(i) {
                crate::debug!("Bridge {}: cannot resolve its primary: {e}.", b.cfg.name);
                b.probe = Probe::Off;
            }
        }
    }

    /// The primary's host name, resolved for a probe.
    fn bridge_probe_resolved(&mut self, i: usize, serial: u32, found: io::Result<Vec<SocketAddr>>) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if b.serial != serial || !matches!(b.probe, Probe::Resolving) {
            return;
        }
        b.probe = Probe::Off;
        if !b.probes() {
            return;
        }
        // Unresolvable for now: the next tick tries again.
        let addrs = found.unwrap_or_default();
        let turn = b.probe_turn;
        b.probe_turn = turn.wrapping_add(1);
        if let Some(addr) = addrs.get(turn % addrs.len().max(1)).copied() {
            self.probe_connect(i, addr);
        }
    }

    /// Starts the probe's non-blocking connect; its outcome arrives as an
    /// event on the bridge's probe token.
    fn probe_connect(&mut self, i: usize, addr: SocketAddr) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        let mut stream = match net::connect(addr, b.bind_address()) {
            Ok(s) => s,
            Err(e) => {
                crate::debug!("Bridge {}: primary {addr} unreachable: {e}.", b.cfg.name);
                return;
            }
        };
        let token = Token(super::PROBE_BASE + i);
        match self
            .poll
            .registry()
            .register(&mut stream, token, Interest::WRITABLE)
        {
            Ok(()) => b.probe = Probe::Connecting(stream),
            Err(e) => crate::debug!("Bridge {}: cannot watch the probe: {e}.", b.cfg.name),
        }
    }

    /// Closes the probe, if any.
    fn probe_stop(&mut self, i: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if let Probe::Connecting(mut s) = std::mem::replace(&mut b.probe, Probe::Off) {
            let _ = self.poll.registry().deregister(&mut s);
        }
    }

    /// An event on bridge `i`'s probe: once the connect has an outcome the
    /// probe is closed, and if the primary answered the bridge moves to it.
    pub(super) fn bridge_probe_ready(&mut self, i: usize) {
        let Some(b) = self.bridges.get(i) else {
            return;
        };
        let Probe::Connecting(s) = &b.probe else {
            return;
        };
        let answered = match s.take_error() {
            Ok(Some(_)) | Err(_) => false,
            Ok(None) => match s.peer_addr() {
                Ok(_) => true,
                // Still connecting (a stale event).
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => false,
            },
        };
        self.probe_stop(i);
        if answered {
            self.bridge_to_primary(i);
        }
    }

    /// The primary answered: end the current connection cleanly (DISCONNECT
    /// first) and reconnect to the primary as soon as it has closed. Queued
    /// and unacknowledged messages stay in the bridge's session and go to
    /// the primary after its CONNACK.
    fn bridge_to_primary(&mut self, i: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        let (Some(ck), Some(primary)) = (b.conn, b.cfg.addresses.first()) else {
            return;
        };
        if !b.probes() {
            return;
        }
        crate::notice!(
            "Bridge {}: primary address {}:{} is back, reconnecting.",
            b.cfg.name,
            primary.host,
            primary.port
        );
        b.to_primary = true;
        let version = protocol_of(&b.cfg);
        self.send_packet(ck, &Packet::Disconnect(0, Properties::default()), version);
        self.schedule_close(ck, CloseReason::Disconnect);
    }

    /// A message was queued for a bridge session: a lazy bridge starts once
    /// `threshold` are waiting; any bridge notes the activity.
    pub(super) fn bridge_note_queued(&mut self, i: usize, queued: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        b.last_activity = Instant::now();
        if b.cfg.start_type == StartType::Lazy
            && b.phase == Phase::Idle
            && queued >= b.cfg.threshold as usize
        {
            self.bridge_connect(i);
        }
    }

    /// The largest packet the bridge may send (0: no limit).
    pub(super) fn bridge_max_packet(&self, i: usize) -> usize {
        self.bridges
            .get(i)
            .map(|b| b.cfg.max_packet_size as usize)
            .unwrap_or(0)
    }
}

/// Packets only a bridge connection accepts; true when handled.
pub(super) fn bridge_packet(broker: &mut Broker, ck: usize, packet: &Packet) -> bool {
    match packet {
        Packet::ConnAck(a) => {
            broker.bridge_connack(ck, a.clone());
            true
        }
        Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => true,
        _ => false,
    }
}
