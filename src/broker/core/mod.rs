//! The broker core: every piece of broker state and all protocol policy,
//! without sockets and without a clock.
//!
//! The shell hands it bytes (`received`), the time of each event, and asks
//! it to run due timers; the core answers by encoding packets into each
//! connection's output buffer and recording what the shell must do: flush
//! (`dirty`), read again (`read_again`, `write_again`), close (a
//! connection's `closing`, finished by the shell through `close_conn`),
//! and bridge socket work (`bridge_tasks`). One file per packet kind handles it.

pub(crate) mod auth;
pub(crate) mod backpressure;
pub(crate) mod bridge;
mod connections;
pub(crate) mod context;
mod deliver;
mod handle_ack;
mod handle_connect;
mod handle_publish;
mod handle_subscribe;
pub(crate) mod ids;
mod input;
mod limits;
mod periodic;
mod plugins;
mod sys_tree;
pub(crate) mod timers;
mod topic_alias;

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
use context::{Connection, Session};
use ids::{BridgeId, ConnId, SessionId, Table};
use timers::TimerQueue;

pub(crate) use input::READS_PER_TURN;
pub(crate) use plugins::PluginAuth;

/// A client's topic or filter with its listener's mount point in front.
/// Separators mosquitto accepts in a topic or filter (its
/// TOPIC_HIERARCHY_LIMIT); more close the connection.
const MAX_TOPIC_SEPARATORS: usize = 200;

/// Whether `topic` has more `/` than mosquitto accepts (a short topic
/// cannot, so the usual case costs one comparison).
pub(crate) fn too_many_levels(topic: &str) -> bool {
    topic.len() > MAX_TOPIC_SEPARATORS
        && topic.bytes().filter(|&b| b == b'/').count() > MAX_TOPIC_SEPARATORS
}

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
    /// The client certificate of a TLS connection, in DER form (asked only
    /// when plugins may want it).
    fn tls_certificate(&self, ck: ConnId) -> Option<Vec<u8>> {
        let _ = ck;
        None
    }
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
    dirty: Vec<ConnId>,
    /// Connections to read again: they hit the per-turn read budget or a
    /// pause just ended.
    read_again: Vec<ConnId>,
    /// Connections with retained backlog left after a complete write.
    write_again: Vec<ConnId>,
    /// Bridge socket work for the shell.
    bridge_tasks: Vec<BridgeTask>,
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
    /// MQTT 5 enhanced authentication backend (none: methods refused).
    pub auth: Option<Box<dyn auth::ExtendedAuth>>,
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
            auth: None,
        }
    }

    /// The time of the event being handled.
    pub(crate) fn core_now(&self) -> Instant {
        self.now
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

    /// Swaps the connections to flush with `batch` (emptied by the caller
    /// after use, so neither list allocates in steady state).
    pub fn swap_dirty(&mut self, batch: &mut Vec<ConnId>) {
        std::mem::swap(&mut self.dirty, batch);
    }

    /// Swaps the connections to read again this turn with `batch` (emptied
    /// by the caller after use: a paused publisher is resumed through this
    /// list on nearly every message of a fan-in, so it must not allocate).
    pub fn swap_read_again(&mut self, batch: &mut Vec<ConnId>) {
        std::mem::swap(&mut self.read_again, batch);
    }

    /// Reads `ck` again next turn (it used its read budget).
    pub fn read_later(&mut self, ck: ConnId) {
        self.read_again.push(ck);
    }

    /// Connections whose backlog wants another write this turn.
    pub fn take_write_again(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.write_again)
    }

    /// Work waits that no socket event will announce: poll without sleeping.
    pub fn has_work_now(&self) -> bool {
        !self.read_again.is_empty() || !self.write_again.is_empty()
    }

    /// The next bridge socket task, if any.
    pub fn next_bridge_task(&mut self) -> Option<BridgeTask> {
        self.bridge_tasks.pop()
    }

    /// Number of clients that completed CONNECT and are connected.
    pub fn client_count(&self) -> usize {
        self.connected
    }
}
