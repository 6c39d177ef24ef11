//! A client as the broker core sees it: a `Connection` (protocol state,
//! buffers, the will, keepalive; the socket is the shell's) and a `Session` (client id, subscriptions, message lists).
//! They live in separate slabs and point at each other by key, so a session
//! outlives its connection (clean session false) and a new connection can
//! take a session over without moving anything.

use std::collections::VecDeque;
use std::rc::Rc;

use super::ids::{BridgeId, ConnId, ListenerId, SessionId};
use crate::broker::database::{MsgLists, MsgSource, OutMsg};
use crate::protocol::{ProtocolVersion, QoS, ReasonCode, Will};

/// Why a connection is being closed; decides the log line and the will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT: no will.
    Disconnect,
    /// The peer closed the socket or it failed.
    ConnectionLost,
    /// A malformed packet.
    Malformed,
    /// A packet that breaks the protocol's rules.
    Protocol,
    /// No packet within 1.5 × keepalive.
    Keepalive,
    /// Another connection took over the client id.
    TakenOver,
    /// A packet or payload over the configured limit.
    Oversize,
    /// A PUBLISH arrived while the heap was at `memory_limit`.
    OutOfMemory,
    /// Refused at CONNECT (CONNACK sent first).
    Refused,
    /// The broker is shutting down.
    Shutdown,
    /// An MQTT 5 client sent more unacknowledged QoS 2 messages than our
    /// receive maximum.
    ReceiveMaximum,
    /// The administrator's doing: the reloaded password file no longer
    /// admits the client.
    Administrative,
    /// An MQTT 5 topic alias of 0, over the limit, or unknown.
    TopicAlias,
    /// An MQTT 5 re-authentication failed.
    NotAuthorized,
}

impl CloseReason {
    /// The DISCONNECT an MQTT 5 client gets before the close, with its
    /// reason string; None where the client closed, or was refused at
    /// CONNECT (the CONNACK said why).
    pub fn v5_disconnect(self) -> Option<(ReasonCode, &'static str)> {
        Some(match self {
            CloseReason::Malformed => (ReasonCode::MALFORMED_PACKET, "malformed packet"),
            CloseReason::Protocol => (ReasonCode::PROTOCOL_ERROR, "protocol error"),
            CloseReason::Keepalive => (ReasonCode::KEEP_ALIVE_TIMEOUT, "keepalive timeout"),
            CloseReason::TakenOver => (ReasonCode::SESSION_TAKEN_OVER, "session taken over"),
            CloseReason::Oversize => (ReasonCode::PACKET_TOO_LARGE, "packet too large"),
            CloseReason::OutOfMemory => (ReasonCode::QUOTA_EXCEEDED, "memory limit reached"),
            CloseReason::Shutdown => (ReasonCode::SERVER_SHUTTING_DOWN, "server shutting down"),
            CloseReason::ReceiveMaximum => (
                ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
                "receive maximum exceeded",
            ),
            CloseReason::Administrative => (ReasonCode::ADMINISTRATIVE_ACTION, "not authorised"),
            CloseReason::TopicAlias => (ReasonCode::TOPIC_ALIAS_INVALID, "topic alias invalid"),
            CloseReason::NotAuthorized => (ReasonCode::NOT_AUTHORIZED, "not authorised"),
            CloseReason::Disconnect | CloseReason::ConnectionLost | CloseReason::Refused => {
                return None
            }
        })
    }
}

/// What a connection is to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client that connected to one of our listeners.
    Client(ListenerId),
    /// Our own outgoing connection for a bridge.
    Bridge(BridgeId),
}

/// One connection. Kept small because every idle client has one: what
/// most clients never use lives in `cold`, allocated on first use.
pub struct Connection {
    /// The buffers, while there is anything in them (an idle client holds
    /// none).
    pub io: Option<Box<IoBufs>>,
    pub cold: Option<Box<ConnCold>>,
    /// Unique among live connections (wraps after 2^32 connections); timers
    /// check it, and the deadline, so a reused connection id never receives
    /// another connection's timeout.
    pub serial: u32,
    /// The session, once CONNECT was accepted.
    session: Option<SessionId>,
    /// A client on a listener, or one of our bridges.
    pub role: Role,
    /// When the last bytes arrived: the timer queue's milliseconds,
    /// truncated to 32 bits (compare with `wrapping_sub`; keepalive checks
    /// come at least every 1.5 × 65535 s, far inside the 49-day wrap).
    pub last_rx: u32,
    /// Deadline of this connection's live keepalive timer entry (the
    /// queue's milliseconds, truncated), when `timer_on`.
    pub timer_at: u32,
    pub keepalive: u16,
    pub timer_on: bool,
    pub protocol: ProtocolVersion,
    /// Set once the connection is to be closed after its output is flushed.
    pub closing: Option<CloseReason>,
    /// In the broker's dirty list for this turn.
    pub dirty: bool,
    /// The listener's max_qos.
    pub max_qos: QoS,
    /// Not read from while clients it publishes to are congested.
    pub paused: bool,
    /// Give the output buffer back once it has drained (set after the
    /// CONNACK: most clients then stay quiet for a long time).
    pub release_wbuf: bool,
    /// Deliveries need nothing from `cold`: no mount point, no bridge topic
    /// renaming, no maximum packet size from the client. Kept here so the
    /// usual delivery touches one cache line fewer per subscriber (its
    /// absence made MQTT 5 fan-out cost 1.26× the user time of 3.1.1 on
    /// 4 % more instructions). Set by `refresh_plain_out`.
    pub plain_out: bool,
}

/// A connection's buffers.
#[derive(Default)]
pub struct IoBufs {
    /// Bytes of an incomplete packet carried over to the next read.
    pub rbuf: Vec<u8>,
    /// Encoded packets not yet written; `wpos` bytes of it already are.
    pub wbuf: Vec<u8>,
    pub wpos: usize,
}

/// The parts of a connection most clients never need.
#[derive(Default)]
pub struct ConnCold {
    /// Kept to check the client again when the password file is reloaded.
    pub username: Option<Rc<str>>,
    pub password: Option<Vec<u8>>,
    pub will: Option<Will>,
    /// The listener's mount_point: prefixed to the client's topics on the
    /// way in, stripped on the way out.
    /// Setting it calls for `Connection::refresh_plain_out`.
    pub mount_point: Option<Rc<str>>,
    /// When the current back-pressure pause ends at the latest (the timer
    /// queue's milliseconds).
    pub pause_until: Option<u64>,
    /// The receiver whose draining let this paused publisher go; it is
    /// read only if that receiver is still not congested when its turn
    /// comes (`Core::admit_released`).
    pub released_by: Option<ConnId>,
    /// Publishers (key, serial) paused because this connection is congested.
    pub waiters: Vec<(ConnId, u32)>,
    /// When this connection was first seen congested with no output written
    /// since (the timer queue's milliseconds, truncated), and whether that
    /// has lasted long enough to call it stalled (`core::backpressure`).
    pub stuck_since: Option<u32>,
    pub stalled: bool,
    /// Bytes left of an oversize PUBLISH being skipped, and the QoS
    /// exchange to complete once they are read (`core::limits`).
    pub skip: u32,
    pub skip_ack: Option<(QoS, u16)>,
    /// The bridge's topics, to remap topics in both directions.
    /// Setting it calls for `Connection::refresh_plain_out`.
    pub bridge_topics: Option<Rc<[crate::config::BridgeTopic]>>,
    /// The id logs show when it is not the session's: a bridge's remote
    /// client id, or the id of a client whose session was taken over.
    pub log_name: Option<Rc<str>>,
    /// MQTT 5: what the client asked of us in CONNECT.
    pub v5: V5Client,
    /// A CONNECT waiting for the next AUTH of its enhanced authentication.
    pub pending_connect: Option<Box<super::handle_connect::Admitted>>,
    /// MQTT 5 topic aliases the client set (alias N at N - 1; "" unset).
    pub topic_aliases: Vec<Box<str>>,
    /// Topic aliases we gave the client (`outgoing_topic_aliases`).
    pub out_aliases: std::collections::HashMap<Box<str>, u16>,
}

/// An MQTT 5 client's CONNECT choices that outlive the CONNECT.
#[derive(Default)]
pub struct V5Client {
    /// The largest packet it accepts (0: no limit). Outgoing PUBLISH
    /// encoding holds to it.
    /// Setting it calls for `Connection::refresh_plain_out`.
    pub max_packet: u32,
    /// Topic aliases it accepts from us.
    pub topic_alias_max: u16,
    /// Request problem information 0: no reason strings or user
    /// properties except on PUBLISH, CONNACK and DISCONNECT.
    pub no_problem_info: bool,
    /// The authentication method of an enhanced authentication.
    pub auth_method: Option<String>,
    /// A re-authentication (AUTH 0x19) is waiting for the client's next
    /// AUTH 0x18.
    pub reauthenticating: bool,
}

impl Connection {
    pub fn new(serial: u32, role: Role, now: u32) -> Connection {
        Connection {
            io: None,
            cold: None,
            serial,
            session: None,
            role,
            last_rx: now,
            timer_at: 0,
            keepalive: 0,
            timer_on: false,
            protocol: ProtocolVersion::V311,
            closing: None,
            dirty: false,
            max_qos: QoS::ExactlyOnce,
            paused: false,
            release_wbuf: false,
            plain_out: true,
        }
    }

    /// Sets `plain_out` from the cold part; called wherever a mount point,
    /// bridge topics or a maximum packet size is set.
    pub fn refresh_plain_out(&mut self) {
        self.plain_out = self.cold.as_ref().is_none_or(|c| {
            c.mount_point.is_none() && c.bridge_topics.is_none() && c.v5.max_packet == 0
        });
    }

    /// The session, once CONNECT was accepted.
    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    pub fn set_session(&mut self, sk: SessionId) {
        self.session = Some(sk);
    }

    /// The cold part, allocated on first use.
    pub fn cold_mut(&mut self) -> &mut ConnCold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// The bridge this outgoing connection belongs to.
    pub fn bridge(&self) -> Option<BridgeId> {
        match self.role {
            Role::Bridge(i) => Some(i),
            Role::Client(_) => None,
        }
    }

    /// The listener spec a client connected on (None for bridges).
    pub fn listener(&self) -> Option<ListenerId> {
        match self.role {
            Role::Client(l) => Some(l),
            Role::Bridge(_) => None,
        }
    }

    pub fn mount_point(&self) -> Option<&Rc<str>> {
        self.cold.as_ref().and_then(|c| c.mount_point.as_ref())
    }

    pub fn bridge_topics(&self) -> Option<&Rc<[crate::config::BridgeTopic]>> {
        self.cold.as_ref().and_then(|c| c.bridge_topics.as_ref())
    }

    pub fn has_waiters(&self) -> bool {
        self.cold.as_ref().is_some_and(|c| !c.waiters.is_empty())
    }

    /// Congested and not draining: it holds no publisher back.
    pub fn is_stalled(&self) -> bool {
        self.cold.as_ref().is_some_and(|c| c.stalled)
    }

    pub fn take_will(&mut self) -> Option<Will> {
        self.cold.as_mut().and_then(|c| c.will.take())
    }

    pub fn take_waiters(&mut self) -> Vec<(ConnId, u32)> {
        self.cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.waiters))
            .unwrap_or_default()
    }

    /// Bytes encoded but not yet written.
    pub fn pending_out(&self) -> usize {
        self.io.as_ref().map_or(0, |b| b.wbuf.len() - b.wpos)
    }

    /// The output buffer to encode packets into.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.io.get_or_insert_with(Box::default).wbuf
    }

    /// The buffers, allocated on first use.
    pub fn io_mut(&mut self) -> &mut IoBufs {
        self.io.get_or_insert_with(Box::default)
    }

    /// No incomplete packet is waiting for more bytes.
    pub fn rbuf_is_empty(&self) -> bool {
        self.io.as_ref().is_none_or(|b| b.rbuf.is_empty())
    }

    /// Gives back buffers that hold nothing, so an idle client costs no
    /// buffer memory (a busy one keeps its buffers between writes).
    pub fn release_idle_buffers(&mut self) {
        let idle = self
            .io
            .as_ref()
            .is_some_and(|b| b.rbuf.is_empty() && b.wpos >= b.wbuf.len());
        if idle {
            self.io = None;
        }
    }
}

/// One session. Kept small for the same reason as `Connection`.
pub struct Session {
    /// Shared with the broker's id index: one allocation per client.
    pub client_id: Rc<str>,
    /// For ACL checks at delivery, also while the client is away.
    pub username: Option<Rc<str>>,
    /// Who this connection's messages come from, made at its first
    /// publish and shared by all its messages (reset at each CONNECT, as
    /// the username and listener may change).
    pub source: Option<Rc<MsgSource>>,
    /// Subscribed filters with granted QoS, so the tree can be cleaned and
    /// the session persisted.
    pub filters: Vec<(String, crate::broker::subs::SubOpts)>,
    pub msgs: MsgLists,
    pub cold: Option<Box<SessionCold>>,
    /// The connection while connected.
    conn: Option<ConnId>,
    /// Bumped at each disconnect; the expiry timer checks it.
    pub expiry_serial: u32,
    /// Seconds the session outlives its connection: the MQTT 5 session
    /// expiry interval; u32::MAX (never) for a 3.x persistent session, 0
    /// for a clean one.
    pub expiry_interval: u32,
    /// Index of the security file set that applies (the listener's).
    pub security: u16,
    pub clean: bool,
    pub protocol: ProtocolVersion,
    /// Whose session it is: a client's, a remote bridge's or our bridge's.
    pub role: SessionRole,
    /// Deliver with the retain flag as published (bridges) instead of 0.
    pub retain_as_published: bool,
    /// Messages are being dropped for this client (logged once per episode).
    pub dropping: bool,
}

/// Whose session it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRole {
    Client,
    /// A remote broker's bridge connected to us (try_private): what it sent
    /// is not sent back to it.
    RemoteBridge,
    /// Our own outgoing bridge's local session: ACLs do not apply, topics
    /// are remapped on the way out, and what it sent is not sent back.
    Bridge(BridgeId),
}

/// The parts of a session most clients never need.
#[derive(Default)]
pub struct SessionCold {
    /// Retained messages matched by a new subscription, sent as the client
    /// takes them (not bounded by the queue limits, so none is dropped;
    /// each entry is a reference to the stored message).
    pub backlog: VecDeque<OutMsg>,
    /// An MQTT 5 will waiting out its will delay interval, and who it is
    /// from.
    pub will: Option<(Will, Option<Rc<MsgSource>>)>,
    /// While disconnected with an expiry: when the session expires, on the
    /// timer queue's clock (milliseconds), for the database.
    pub expires_ms: Option<u64>,
    /// The same in unix seconds, worked out as the database is written
    /// (the core has no wall clock).
    pub expires_unix: i64,
}

impl Session {
    pub fn new(client_id: Rc<str>, clean: bool) -> Session {
        Session {
            client_id,
            username: None,
            source: None,
            filters: Vec::new(),
            msgs: MsgLists::default(),
            cold: None,
            conn: None,
            expiry_serial: 0,
            expiry_interval: if clean { 0 } else { u32::MAX },
            security: 0,
            clean,
            protocol: ProtocolVersion::V311,
            role: SessionRole::Client,
            retain_as_published: false,
            dropping: false,
        }
    }

    /// Sets how long the session outlives its connection (0: it ends with
    /// it, which is what `clean` says for the rest of the broker).
    pub fn set_expiry(&mut self, interval: u32) {
        self.expiry_interval = interval;
        self.clean = interval == 0;
    }

    /// The connection's key while connected.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    pub fn set_conn(&mut self, ck: Option<ConnId>) {
        self.conn = ck;
    }

    pub fn cold_mut(&mut self) -> &mut SessionCold {
        self.cold.get_or_insert_with(Box::default)
    }

    /// Our own outgoing bridge this session belongs to.
    pub fn bridge(&self) -> Option<BridgeId> {
        match self.role {
            SessionRole::Bridge(i) => Some(i),
            SessionRole::Client | SessionRole::RemoteBridge => None,
        }
    }

    pub fn has_backlog(&self) -> bool {
        self.cold.as_ref().is_some_and(|c| !c.backlog.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle client pays for these: keep them from growing unnoticed.
    #[test]
    fn per_client_structs_stay_small() {
        use std::mem::size_of;
        // The stream lives in the shell now (its own table, by ConnId).
        assert!(size_of::<Connection>() <= 64, "{}", size_of::<Connection>());
        assert!(size_of::<Session>() <= 176, "{}", size_of::<Session>());
    }
}
