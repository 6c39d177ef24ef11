//! Bridges' protocol side: each `connection` block's state, its local
//! session, the CONNECT it sends and the CONNACK it takes, keepalive and
//! lazy idling, and the plan after a lost connection. Sockets, host name
//! resolution and the probe of the primary address are the shell's
//! (`shell::bridge`); the core asks for them through `BridgeTask`s.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::context::{CloseReason, Connection, Role, SessionRole};
use super::ids::{BridgeId, ConnId, SessionId};
use super::timers::TimerKind;
use super::{BridgeTask, Core};
use crate::broker::database::Message;
use crate::broker::subs::SubOpts;
use crate::config::{Bridge, BridgeProtocol, BridgeTopic, Direction, StartType};
use crate::protocol::{
    ConnAck, Connect, ConnectReturnCode, Packet, Properties, ProtocolVersion, Publish, QoS,
    Subscribe, SubscriptionOptions, Unsubscribe, Will,
};
use crate::sys::net;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
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
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// One bridge's protocol state.
pub(crate) struct BridgeCore {
    pub cfg: Bridge,
    pub session: SessionId,
    pub conn: Option<ConnId>,
    pub phase: Phase,
    /// Index of the address to try next.
    pub next_addr: usize,
    /// Index of the address of the current (or last) attempt.
    pub cur_addr: usize,
    /// The connection is being closed to move to the primary address: the
    /// next attempt goes there at once.
    pub to_primary: bool,
    /// Current reconnect delay in seconds.
    backoff: u64,
    /// Bumped at each attempt; timers and resolver answers carry it.
    pub serial: u32,
    pub last_activity: Instant,
    /// Topics shared with the connection, for remapping.
    topics: Rc<[BridgeTopic]>,
}

pub(crate) fn protocol_of(cfg: &Bridge) -> ProtocolVersion {
    match cfg.protocol_version {
        BridgeProtocol::Mqtt31 => ProtocolVersion::V31,
        BridgeProtocol::Mqtt311 => ProtocolVersion::V311,
        BridgeProtocol::Mqtt5 => ProtocolVersion::V5,
    }
}

fn sends_out(t: &BridgeTopic) -> bool {
    matches!(t.direction, Direction::Out | Direction::Both)
}

fn takes_in(t: &BridgeTopic) -> bool {
    matches!(t.direction, Direction::In | Direction::Both)
}

impl BridgeCore {
    /// Whether to look for the primary address: connected to another one
    /// of several, with `round_robin false`. Not for `start_type once`,
    /// which would stay down for good if the move failed.
    pub fn probes(&self) -> bool {
        !self.cfg.round_robin
            && self.cfg.start_type != StartType::Once
            && self.phase == Phase::Connected
            && self.cur_addr != 0
            && self.conn.is_some()
            && !self.to_primary
    }
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

impl Core {
    /// Sets up bridge `cfg` (the next id) with its local session; a
    /// `disabled` one never connects.
    pub fn bridge_setup(&mut self, cfg: Bridge, disabled: bool) -> Option<BridgeId> {
        let i = self.bridges.vacant_id()?;
        let sk = self.bridge_session(i, &cfg)?;
        let topics: Rc<[BridgeTopic]> = cfg.topics.clone().into();
        self.bridges.insert(BridgeCore {
            session: sk,
            conn: None,
            phase: if disabled {
                Phase::Disabled
            } else {
                Phase::Idle
            },
            next_addr: 0,
            cur_addr: 0,
            to_primary: false,
            backoff: u64::from(cfg.restart_timeout.base),
            serial: 0,
            last_activity: self.now,
            topics,
            cfg,
        })?;
        if !disabled {
            self.bridge_notify_local(i, b'0');
        }
        Some(i)
    }

    /// The bridge's local session (adopted from the database if it was
    /// saved), subscribed afresh to the local side of the `out` topics.
    fn bridge_session(&mut self, i: BridgeId, cfg: &Bridge) -> Option<SessionId> {
        let local_id = cfg
            .local_clientid
            .clone()
            .unwrap_or_else(|| format!("local.{}", cfg.name));
        let sk = match self.by_id.get(local_id.as_str()) {
            Some(&sk) => sk,
            None => self.new_session(&local_id, cfg.local_cleansession())?,
        };
        let old = self
            .sessions
            .get_mut(sk)
            .map(|s| std::mem::take(&mut s.filters))
            .unwrap_or_default();
        for (f, _) in old {
            self.subs.unsubscribe(&f, sk.index());
        }
        let mut filters = Vec::new();
        for t in cfg.topics.iter().filter(|t| sends_out(t)) {
            let qos = QoS::from_u8(t.qos).unwrap_or(QoS::AtMostOnce);
            let filter = t.local_topic();
            let opts = SubOpts::new(qos);
            self.subs.subscribe(&filter, sk.index(), opts);
            filters.push((filter, opts));
        }
        if let Some(s) = self.sessions.get_mut(sk) {
            s.filters = filters;
            s.clean = cfg.local_cleansession();
            s.role = SessionRole::Bridge(i);
            s.retain_as_published = cfg.outgoing_retain;
            s.expiry_serial = u32::MAX; // never expired by persistent_client_expiration
        }
        Some(sk)
    }

    /// Publishes the bridge's state ('1' or '0') on the local broker.
    fn bridge_notify_local(&mut self, i: BridgeId, state: u8) {
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

    /// A new connection for bridge `i`'s attempt `serial` (the shell has
    /// its socket connecting): it has one keepalive to get the CONNACK.
    pub fn open_bridge_conn(&mut self, i: BridgeId, serial: u32, now: Instant) -> Option<ConnId> {
        self.now = now;
        let b = self.bridges.get_mut(i)?;
        let now_ms = self.timers.now_ms(now);
        let mut conn = Connection::new(serial, Role::Bridge(i), now_ms as u32);
        conn.set_session(b.session);
        conn.protocol = protocol_of(&b.cfg);
        conn.keepalive = b.cfg.keepalive_interval;
        let cold = conn.cold_mut();
        cold.bridge_topics = Some(Rc::clone(&b.topics));
        cold.log_name = b.cfg.remote_clientid.as_deref().map(Rc::from);
        conn.refresh_plain_out();
        let deadline = now_ms + u64::from(conn.keepalive) * 1500;
        conn.timer_at = deadline as u32;
        conn.timer_on = true;
        let ck = self.conns.insert(conn)?;
        b.conn = Some(ck);
        b.phase = Phase::Connecting;
        self.timers
            .push_ms(deadline, TimerKind::Keepalive, ck, serial);
        Some(ck)
    }

    /// The bridge's TCP connection is made: send CONNECT.
    pub fn bridge_send_connect(&mut self, ck: ConnId) {
        let Some(i) = self.conns.get(ck).and_then(|c| c.bridge()) else {
            return;
        };
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
        let protocol = protocol_of(cfg);
        let connect = Connect {
            protocol,
            // MQTT 5 has no bridge bit: no local on its subscriptions
            // keeps messages from looping back instead.
            bridge: cfg.try_private && protocol != ProtocolVersion::V5,
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
    pub(super) fn bridge_connack(&mut self, ck: ConnId, ack: ConnAck) {
        let Some(i) = self.conns.get(ck).and_then(|c| c.bridge()) else {
            return;
        };
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if ack.code != 0 {
            // A remote that does not speak MQTT 5 (0x84, or a 3.x broker's
            // code 1): the next attempt is made with 3.1.1, as mosquitto.
            let v5 = b.cfg.protocol_version == BridgeProtocol::Mqtt5;
            if v5 && matches!(ack.code, 0x84 | 1) {
                crate::notice!(
                    "Warning: Remote bridge {} does not support MQTT v5.0, reconnecting using \
                     MQTT v3.1.1.",
                    b.cfg.name
                );
                b.cfg.protocol_version = BridgeProtocol::Mqtt311;
            } else {
                crate::error!(
                    "Bridge {}: {}",
                    b.cfg.name,
                    ConnectReturnCode::describe(ack.code)
                );
            }
            self.schedule_close(ck, CloseReason::Refused);
            return;
        }
        crate::notice!("Bridge {} connected.", b.cfg.name);
        b.phase = Phase::Connected;
        b.backoff = u64::from(b.cfg.restart_timeout.base);
        b.last_activity = self.now;
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
                let mut sub = Subscribe {
                    packet_id: id,
                    filters: Vec::new(),
                    options: Vec::new(),
                    properties: Properties::default(),
                };
                // MQTT 5: no local and retain as published, as mosquitto's
                // bridges ask, so nothing loops and retain flags carry over.
                let v5 = version == ProtocolVersion::V5;
                sub.push(
                    t.remote_topic(),
                    SubscriptionOptions {
                        no_local: v5,
                        retain_as_published: v5,
                        ..SubscriptionOptions::new(qos)
                    },
                );
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
                    self.deliver(sk, m, m.qos.min(sub_qos), true, 0);
                }
            }
        }
        self.resume_session(ck, sk);
        let at = self.now + Duration::from_secs(u64::from(cfg.keepalive_interval.max(1)));
        self.timers.push(at, TimerKind::BridgePing, i, serial);
        if cfg.start_type == StartType::Lazy {
            let at = self.now + Duration::from_secs(u64::from(cfg.idle_timeout.max(1)));
            self.timers.push(at, TimerKind::BridgeIdle, i, serial);
        }
        if self.bridges.get(i).is_some_and(BridgeCore::probes) {
            let at = self.now + PROBE_INTERVAL;
            self.timers.push(at, TimerKind::BridgeProbe, i, serial);
        }
    }

    fn next_pid(&mut self, sk: SessionId) -> u16 {
        self.sessions
            .get_mut(sk)
            .map(|s| s.msgs.next_packet_id())
            .unwrap_or(1)
    }

    /// The bridge's connection closed: announce it locally and ask the
    /// shell to plan the next attempt (`bridge_retry`).
    pub(super) fn bridge_lost(&mut self, i: BridgeId, ck: ConnId) {
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
        self.bridge_tasks.push(BridgeTask::Lost {
            bridge: i,
            was_connecting,
            to_primary,
        });
    }

    /// Plans the next attempt of a bridge whose connection is gone and has
    /// no other address of its host name left to try: at once to the
    /// primary if it was moving there, else after the back-off.
    pub fn bridge_retry(&mut self, i: BridgeId, to_primary: bool) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        if to_primary {
            // The primary just answered: no back-off, and whatever is queued
            // goes there on CONNACK like after any reconnection.
            b.next_addr = 0;
            let serial = b.serial;
            self.timers
                .push(self.now, TimerKind::BridgeRestart, i, serial);
            return;
        }
        self.bridge_failed(i);
    }

    /// After a failed attempt or a lost connection: next address (the one
    /// just lost is the least likely to answer, as mosquitto reasons too),
    /// and a restart after the back-off for automatic bridges.
    pub fn bridge_failed(&mut self, i: BridgeId) {
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
        let at = self.now + Duration::from_secs(b.backoff);
        let serial = b.serial;
        self.timers.push(at, TimerKind::BridgeRestart, i, serial);
    }

    pub(super) fn bridge_timer(&mut self, kind: TimerKind, i: BridgeId, serial: u32) {
        let Some(b) = self.bridges.get(i) else {
            return;
        };
        if b.serial != serial {
            return;
        }
        match kind {
            TimerKind::BridgeRestart if b.phase == Phase::Idle => {
                self.bridge_tasks.push(BridgeTask::Connect(i))
            }
            TimerKind::BridgePing if b.phase == Phase::Connected => {
                let (Some(ck), ka) = (b.conn, b.cfg.keepalive_interval) else {
                    return;
                };
                let version = protocol_of(&b.cfg);
                self.send_packet(ck, &Packet::PingReq, version);
                let at = self.now + Duration::from_secs(u64::from(ka.max(1)));
                self.timers.push(at, TimerKind::BridgePing, i, serial);
            }
            TimerKind::BridgeIdle if b.phase == Phase::Connected => {
                let idle = Duration::from_secs(u64::from(b.cfg.idle_timeout));
                let quiet = self.now.saturating_duration_since(b.last_activity);
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
                    let at = self.now + (idle - quiet);
                    self.timers.push(at, TimerKind::BridgeIdle, i, serial);
                }
            }
            TimerKind::BridgeProbe => self.bridge_tasks.push(BridgeTask::Probe(i, serial)),
            _ => {}
        }
    }

    /// The primary answered: end the current connection cleanly (DISCONNECT
    /// first) and reconnect to the primary as soon as it has closed. Queued
    /// and unacknowledged messages stay in the bridge's session and go to
    /// the primary after its CONNACK.
    pub fn bridge_to_primary(&mut self, i: BridgeId) {
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
    pub(super) fn bridge_note_queued(&mut self, i: BridgeId, queued: usize) {
        let Some(b) = self.bridges.get_mut(i) else {
            return;
        };
        b.last_activity = self.now;
        if b.cfg.start_type == StartType::Lazy
            && b.phase == Phase::Idle
            && queued >= b.cfg.threshold as usize
        {
            self.bridge_tasks.push(BridgeTask::Connect(i));
        }
    }

    /// The largest packet the bridge may send (0: no limit).
    pub(super) fn bridge_max_packet(&self, i: BridgeId) -> usize {
        self.bridges
            .get(i)
            .map(|b| b.cfg.max_packet_size as usize)
            .unwrap_or(0)
    }
}

impl Core {
    /// Packets only a bridge connection accepts; true when handled.
    pub(super) fn bridge_packet(&mut self, ck: ConnId, packet: &Packet) -> bool {
        match packet {
            Packet::ConnAck(a) => {
                self.bridge_connack(ck, a.clone());
                true
            }
            Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => true,
            _ => false,
        }
    }
}
