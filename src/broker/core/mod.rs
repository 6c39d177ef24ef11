//! The broker core: every piece of broker state and all protocol policy,
//! without sockets and without a clock.
//!
//! The shell hands it bytes (`received`), the time of each event, and asks
//! it to run due timers; the core answers by encoding packets into each
//! connection's output buffer and recording what the shell must do: flush
//! (`dirty`), read again (`read_again`, `write_again`), close (a
//! connection's `closing`, finished by the shell through `close_conn`),
//! and bridge socket work (`bridge_tasks`). One file per packet kind handles it.

pub(crate) mod backpressure;
pub(crate) mod bridge;
pub(crate) mod context;
mod deliver;
mod handle_ack;
mod handle_connect;
mod handle_publish;
mod handle_subscribe;
pub(crate) mod ids;
mod input;
mod sys_tree;
pub(crate) mod timers;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::broker::database::Message;
use crate::broker::retain::RetainTree;
use crate::broker::security;
use crate::broker::settings::{Settings, TlsIdentity};
use crate::broker::subs::{SubTree, Subscriber};
use crate::protocol::QoS;
use context::{CloseReason, Connection, Role, Session};
pub(crate) use ids::{BridgeId, ConnId, ListenerId, SessionId, Table};
use timers::{TimerKind, TimerQueue};

pub(crate) use input::READS_PER_TURN;

/// A client's topic or filter with its listener's mount point in front.
pub(crate) fn mounted(mount: &Option<Rc<str>>, topic: String) -> String {
    match mount {
        Some(m) => format!("{m}{topic}"),
        None => topic,
    }
}

/// Counters behind `$SYS` and the benchmark's loss report, with
/// mosquitto's meanings: "messages" are MQTT packets of any kind, "publish"
/// counters are PUBLISH packets and their payload bytes.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub msgs_received: u64,
    pub msgs_sent: u64,
    pub pub_msgs_received: u64,
    pub pub_msgs_sent: u64,
    pub pub_bytes_received: u64,
    pub pub_bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Messages dropped because a queue was full (or a QoS 0 message to a
    /// client too far behind).
    pub msgs_dropped: u64,
    /// Sockets accepted.
    pub sockets: u64,
    /// CONNECTs accepted.
    pub connections: u64,
    pub clients_expired: u64,
    pub clients_maximum: u64,
}

impl Stats {
    fn count_publish_sent(&mut self, payload: usize) {
        self.msgs_sent += 1;
        self.pub_msgs_sent += 1;
        self.pub_bytes_sent += payload as u64;
    }
}

/// One set of security files and, for TLS-PSK, the keys shared with
/// OpenSSL's callback (which must be `Send + Sync`).
pub(crate) struct SecurityDomain {
    pub files: security::SecurityFiles,
    #[cfg(feature = "tls")]
    pub psk: std::sync::Arc<std::sync::RwLock<Option<security::PskFile>>>,
}

/// What the core knows only through the shell: facts about a connection's
/// transport, asked for log lines and for TLS identities at CONNECT.
pub(crate) trait Transport {
    /// The peer's "address:port" as log lines show it.
    fn peer_name(&self, ck: ConnId) -> String;
    /// The username a TLS connection's certificate or PSK identity gives
    /// (None without TLS).
    fn tls_username(&self, ck: ConnId, source: TlsIdentity) -> Option<String>;
}

/// Socket work for a bridge that only the shell can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BridgeTask {
    /// Start a connection attempt (restart timer, lazy threshold reached).
    Connect(BridgeId),
    /// Time for the next look for the primary address (bridge, serial).
    Probe(BridgeId, u32),
    /// The bridge's connection is gone: stop its probe, then try another
    /// address or plan the next attempt (`Core::bridge_retry`; at once to
    /// the primary address when `to_primary`).
    Lost {
        bridge: BridgeId,
        was_connecting: bool,
        to_primary: bool,
    },
}

pub(crate) struct Core {
    pub settings: Settings,
    pub security: Vec<SecurityDomain>,
    /// Connected clients per listener spec, for max_connections.
    pub listener_counts: Vec<usize>,
    pub bridges: Table<BridgeId, bridge::BridgeCore>,
    pub conns: Table<ConnId, Connection>,
    pub sessions: Table<SessionId, Session>,
    /// Session key by client id (the key is the session's own id).
    pub by_id: HashMap<Rc<str>, SessionId>,
    pub subs: SubTree,
    pub retained: RetainTree,
    pub timers: TimerQueue,
    /// Connections with output to flush (or a close to finish) this turn.
    pub dirty: Vec<ConnId>,
    /// Connections to read again: they hit the per-turn read budget or a
    /// pause just ended.
    pub read_again: Vec<ConnId>,
    /// Connections with retained backlog left after a complete write.
    pub write_again: Vec<ConnId>,
    /// Bridge socket work for the shell.
    pub bridge_tasks: Vec<BridgeTask>,
    /// Reused buffers, so steady-state work does not allocate.
    match_scratch: Vec<Subscriber>,
    retained_scratch: Vec<Rc<Message>>,
    /// Congested receivers met while routing the current message.
    pressure: Vec<ConnId>,
    next_serial: u32,
    /// Connections that completed CONNECT and are still open.
    connected: usize,
    /// Changes since the last save, for `autosave_on_changes`.
    pub changes: u64,
    started: Instant,
    /// The time of the event being handled, as the shell gave it.
    now: Instant,
    sys: sys_tree::SysTree,
    pub stats: Stats,
}

impl Core {
    /// A core with no clients; `now` starts its clocks (uptime, timers).
    pub fn new(settings: Settings, security: Vec<SecurityDomain>, now: Instant) -> Core {
        Core {
            listener_counts: vec![0; settings.listeners.len()],
            settings,
            security,
            bridges: Table::default(),
            conns: Table::default(),
            sessions: Table::default(),
            by_id: HashMap::new(),
            subs: SubTree::default(),
            retained: RetainTree::default(),
            timers: TimerQueue::new(now),
            dirty: Vec::new(),
            read_again: Vec::new(),
            write_again: Vec::new(),
            bridge_tasks: Vec::new(),
            match_scratch: Vec::new(),
            retained_scratch: Vec::new(),
            pressure: Vec::new(),
            next_serial: 1,
            connected: 0,
            changes: 0,
            started: now,
            now,
            sys: sys_tree::SysTree::default(),
            stats: Stats::default(),
        }
    }

    /// Sets the time of the event about to be handled.
    pub fn set_time(&mut self, now: Instant) {
        self.now = now;
    }

    /// A fresh serial: never 0 (a connected session's expiry serial) nor
    /// u32::MAX (a bridge session's, never expired).
    pub fn serial(&mut self) -> u32 {
        self.next_serial = self.next_serial.wrapping_add(1);
        if self.next_serial == 0 || self.next_serial == u32::MAX {
            self.next_serial = 1;
        }
        self.next_serial
    }

    /// Takes on a connection accepted on listener spec `listener`: it has
    /// `connect_timeout` to send CONNECT. None if connection ids ran out.
    pub fn open_client(&mut self, listener: ListenerId, now: Instant) -> Option<ConnId> {
        self.now = now;
        let serial = self.serial();
        let now_ms = self.timers.now_ms(now);
        let spec = self.settings.listeners.get(listener.index());
        let mount = spec.and_then(|s| s.mount_point.as_deref()).map(Rc::from);
        let max_qos = spec
            .and_then(|s| QoS::from_u8(s.max_qos))
            .unwrap_or(QoS::ExactlyOnce);
        let mut conn = Connection::new(serial, Role::Client(listener), now_ms as u32);
        if mount.is_some() {
            conn.cold_mut().mount_point = mount;
        }
        conn.max_qos = max_qos;
        let limit = timers::duration_ms(self.settings.connect_timeout);
        let deadline = now_ms.saturating_add(limit);
        conn.timer_at = deadline as u32;
        conn.timer_on = true;
        let ck = self.conns.insert(conn)?;
        if let Some(n) = self.listener_counts.get_mut(listener.index()) {
            *n += 1;
        }
        self.timers
            .push_ms(deadline, TimerKind::Keepalive, ck, serial);
        Some(ck)
    }

    /// Connections open on listener spec `listener`.
    pub fn listener_count(&self, listener: ListenerId) -> usize {
        self.listener_counts
            .get(listener.index())
            .copied()
            .unwrap_or(0)
    }

    /// The id mosquitto prints for a connection's client.
    fn log_id_of<'a>(&'a self, conn: &'a Connection) -> &'a str {
        if let Some(name) = conn.cold.as_ref().and_then(|c| c.log_name.as_deref()) {
            return name;
        }
        if conn.bridge().is_some() {
            return "<unknown>";
        }
        conn.session()
            .and_then(|sk| self.sessions.get(sk))
            .map(|s| &*s.client_id)
            .unwrap_or("<unknown>")
    }

    /// Queues `ck` for this turn's flush.
    fn mark_dirty(dirty: &mut Vec<ConnId>, conn: &mut Connection, ck: ConnId) {
        if !conn.dirty {
            conn.dirty = true;
            dirty.push(ck);
        }
    }

    /// Asks for `ck` to be flushed this turn (the shell has output of its
    /// own for it, or the socket became writable).
    pub fn want_flush(&mut self, ck: ConnId) {
        if let Some(conn) = self.conns.get_mut(ck) {
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    /// Whether the shell should read from `ck` now: open, not closing and
    /// not paused by back-pressure.
    pub fn wants_input(&self, ck: ConnId) -> bool {
        self.conns
            .get(ck)
            .is_some_and(|c| c.closing.is_none() && !c.paused)
    }

    /// Marks a connection to be closed once its pending output is written
    /// (a CONNACK refusal, say). The close itself happens in the flush.
    pub fn schedule_close(&mut self, ck: ConnId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(ck) {
            if conn.closing.is_none() {
                conn.closing = Some(reason);
            }
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    /// Removes a connection whose socket the shell has closed: logs why,
    /// publishes its will unless it sent DISCONNECT, and detaches or ends
    /// its session.
    pub fn close_conn(&mut self, ck: ConnId, now: Instant) {
        self.now = now;
        let Some(mut conn) = self.conns.try_remove(ck) else {
            return;
        };
        for (pk, serial) in conn.take_waiters() {
            self.resume(pk, serial);
        }
        let count = conn
            .listener()
            .and_then(|l| self.listener_counts.get_mut(l.index()));
        if let Some(n) = count {
            *n = n.saturating_sub(1);
        }
        let reason = conn.closing.unwrap_or(CloseReason::ConnectionLost);
        if let Some(i) = conn.bridge() {
            self.bridge_lost(i, ck);
            return;
        }
        if self.settings.connection_messages {
            log_close(self.log_id_of(&conn), reason);
        }
        if let Some(will) = conn.take_will() {
            // The connection's own identity: after a takeover the session
            // already has the new connection's username.
            let source = conn.session().and_then(|sk| {
                let id = &self.sessions.get(sk)?.client_id;
                let user = conn.cold.as_ref().and_then(|c| c.username.as_ref());
                self.new_source(id, user, conn.listener())
            });
            let msg = Message::new(will.topic, will.payload, will.qos, will.retain);
            self.publish_message(Rc::new(msg.with_source(source)), None);
        }
        if let Some(sk) = conn.session() {
            self.connected = self.connected.saturating_sub(1);
            let owned = self
                .sessions
                .get(sk)
                .map(|s| s.conn() == Some(ck))
                .unwrap_or(false);
            if owned {
                self.detach_session(sk);
            }
        }
    }

    /// The session lost its connection: a clean one ends, a persistent one
    /// waits (until `persistent_client_expiration`, if set).
    pub(crate) fn detach_session(&mut self, sk: SessionId) {
        let serial = self.serial();
        let Some(sess) = self.sessions.get_mut(sk) else {
            return;
        };
        sess.set_conn(None);
        if sess.clean {
            self.remove_session(sk);
            return;
        }
        sess.expiry_serial = serial;
        if let Some(after) = self.settings.persistent_client_expiration {
            self.timers
                .push(self.now + after, TimerKind::SessionExpiry, sk, serial);
        }
    }

    /// A new session for `client_id`, indexed by it; None if session ids
    /// have run out.
    pub(crate) fn new_session(&mut self, client_id: &str, clean: bool) -> Option<SessionId> {
        let id: Rc<str> = Rc::from(client_id);
        let sk = self.sessions.insert(Session::new(Rc::clone(&id), clean))?;
        self.by_id.insert(id, sk);
        Some(sk)
    }

    /// Ends a session: its subscriptions and queued messages go.
    fn remove_session(&mut self, sk: SessionId) {
        let Some(sess) = self.sessions.try_remove(sk) else {
            return;
        };
        for (filter, _) in &sess.filters {
            self.subs.unsubscribe(filter, sk.index());
        }
        if self.by_id.get(&*sess.client_id) == Some(&sk) {
            self.by_id.remove(&*sess.client_id);
        }
    }

    /// Number of clients that completed CONNECT and are connected.
    pub fn client_count(&self) -> usize {
        self.connected
    }

    /// Runs every timer due at `now`.
    pub fn run_timers(&mut self, now: Instant) {
        self.now = now;
        while let Some(t) = self.timers.pop_due(now) {
            let (key, serial) = (t.key, t.serial);
            match t.kind {
                TimerKind::Keepalive => {
                    if let Some(ck) = ConnId::from_index(key) {
                        self.check_keepalive(ck, serial, t.at);
                    }
                }
                TimerKind::Autosave => {
                    self.save_persistence();
                    self.schedule_autosave(now);
                }
                TimerKind::BridgeRestart
                | TimerKind::BridgePing
                | TimerKind::BridgeIdle
                | TimerKind::BridgeProbe => {
                    if let Some(i) = BridgeId::from_index(key) {
                        self.bridge_timer(t.kind, i, serial);
                    }
                }
                TimerKind::SysTree => {
                    self.sys_update(now);
                    self.schedule_sys(now);
                }
                TimerKind::Resume => {
                    if let Some(pk) = ConnId::from_index(key) {
                        self.pause_expired(pk, serial, t.at);
                    }
                }
                TimerKind::SessionExpiry => {
                    if let Some(sk) = SessionId::from_index(key) {
                        self.session_expired(sk, serial);
                    }
                }
            }
        }
    }

    /// A disconnected session's expiry came, unless it reconnected since.
    fn session_expired(&mut self, sk: SessionId, serial: u32) {
        let expired = self
            .sessions
            .get(sk)
            .map(|s| s.conn().is_none() && s.expiry_serial == serial)
            .unwrap_or(false);
        if expired {
            if let Some(s) = self.sessions.get(sk) {
                crate::notice!("Expiring client {} due to timeout.", s.client_id);
            }
            self.stats.clients_expired += 1;
            self.remove_session(sk);
        }
    }

    /// A connection's deadline came: close it if it has been silent for
    /// 1.5 × keepalive (or never sent CONNECT), otherwise set the next one
    /// and give back the buffers of a client that has nothing in them.
    fn check_keepalive(&mut self, ck: ConnId, serial: u32, at: u64) {
        let now = self.timers.now_ms(self.now);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let live = conn.timer_on && conn.timer_at == at as u32;
        if conn.serial != serial || !live || conn.closing.is_some() {
            return; // stale entry
        }
        let limit = if conn.session().is_none() {
            timers::duration_ms(self.settings.connect_timeout)
        } else if conn.keepalive == 0 {
            conn.timer_on = false;
            return;
        } else {
            u64::from(conn.keepalive) * 1500
        };
        // A publisher we stopped reading is not silent by its own doing.
        let silent = if conn.paused {
            0
        } else {
            u64::from((now as u32).wrapping_sub(conn.last_rx))
        };
        if silent >= limit {
            self.schedule_close(ck, CloseReason::Keepalive);
        } else {
            conn.release_idle_buffers();
            let deadline = now + (limit - silent);
            conn.timer_at = deadline as u32;
            self.timers
                .push_ms(deadline, TimerKind::Keepalive, ck, serial);
        }
    }

    /// Before the shell writes `ck`: tops its output up from the retained
    /// backlog, so that goes in this write too. Returns the session whose
    /// backlog was used, for `after_flush`.
    pub fn before_flush(&mut self, ck: ConnId) -> Option<SessionId> {
        let backlog_of = self
            .conns
            .get(ck)
            .and_then(|c| c.session())
            .filter(|sk| self.sessions.get(*sk).is_some_and(|s| s.has_backlog()));
        if let Some(sk) = backlog_of {
            self.pump_backlog(ck, sk);
        }
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.dirty = false;
        }
        backlog_of
    }

    /// After the shell wrote what it could of `ck` (`pending`: some is
    /// left): wakes publishers waiting on it, and asks for another write
    /// next turn if backlog remains and the kernel took everything.
    pub fn after_flush(&mut self, ck: ConnId, backlog_of: Option<SessionId>, pending: bool) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if conn.has_waiters() {
            self.release_waiters(ck, false);
        }
        if let Some(sk) = backlog_of {
            let more = self.sessions.get(sk).is_some_and(|s| s.has_backlog());
            if more && !pending {
                self.write_again.push(ck);
            }
        }
    }

    /// SIGUSR2: the subscription tree to the log, as mosquitto does.
    pub fn dump_subscriptions(&self) {
        let mut lines = Vec::new();
        self.subs.dump(&mut lines);
        crate::notice!("Subscriptions: {}", lines.len());
        for (filter, s) in lines {
            let id = SessionId::from_index(s.session)
                .and_then(|sk| self.sessions.get(sk))
                .map(|x| &*x.client_id)
                .unwrap_or("?");
            crate::notice!("{filter} {id} (QoS {})", s.qos.as_u8());
        }
    }

    /// `log_dest topic`: log lines become `$SYS/broker/log/...` messages.
    pub fn publish_log_lines(&mut self) {
        let mut lines = Vec::new();
        crate::broker::logging::take_topic_lines(&mut lines);
        for (topic, line) in lines {
            let qos = QoS::ExactlyOnce;
            let msg = Message::new(topic.to_owned(), line.into_bytes(), qos, false);
            self.publish_message(Rc::new(msg), None);
        }
    }

    /// Starts the periodic work: `$SYS` and autosave.
    pub fn start(&mut self, now: Instant) {
        self.now = now;
        self.sys_start(now);
        self.schedule_sys(now);
        self.schedule_autosave(now);
    }

    fn schedule_sys(&mut self, now: Instant) {
        let secs = self.settings.sys_interval;
        if secs > 0 {
            let at = now + std::time::Duration::from_secs(u64::from(secs));
            self.timers.push(at, TimerKind::SysTree, 0, 0);
        }
    }

    /// Disconnects clients the reloaded password file no longer admits.
    pub fn recheck_clients(&mut self) {
        let mut refused = Vec::new();
        for (ck, conn) in self.conns.iter() {
            let Some(sess) = conn.session().and_then(|sk| self.sessions.get(sk)) else {
                continue;
            };
            let spec = conn
                .listener()
                .and_then(|l| self.settings.listeners.get(l.index()));
            let Some(spec) = spec else {
                continue;
            };
            if sess.bridge().is_some() || spec.tls_identity.is_some() {
                continue;
            }
            let cold = conn.cold.as_deref();
            let username = cold.and_then(|c| c.username.as_deref());
            let password = cold.and_then(|c| c.password.as_deref());
            let ok = self
                .security
                .get(usize::from(sess.security))
                .is_some_and(|d| {
                    d.files
                        .authenticate(spec.allow_anonymous, username, password)
                        .is_ok()
                });
            if !ok {
                refused.push(ck);
            }
        }
        for ck in refused {
            crate::notice!("Client {} disconnected, not authorised.", self.conn_id(ck));
            self.schedule_close(ck, CloseReason::Refused);
        }
    }
}

/// The log line for a client's connection closing, as mosquitto words it.
fn log_close(id: &str, reason: CloseReason) {
    match reason {
        CloseReason::Disconnect => crate::notice!("Client {id} disconnected."),
        CloseReason::ConnectionLost => crate::notice!("Client {id} closed its connection."),
        CloseReason::Malformed => {
            crate::notice!("Client {id} disconnected due to malformed packet.")
        }
        CloseReason::Protocol => {
            crate::notice!("Client {id} disconnected due to protocol error.")
        }
        CloseReason::Keepalive => {
            crate::notice!("Client {id} has exceeded timeout, disconnecting.")
        }
        CloseReason::Oversize => {
            crate::notice!("Client {id} disconnected due to oversize packet.")
        }
        CloseReason::OutOfMemory => {
            crate::notice!("Client {id} disconnected: out of memory (memory_limit).")
        }
        CloseReason::TakenOver | CloseReason::Refused | CloseReason::Shutdown => {}
    }
}
