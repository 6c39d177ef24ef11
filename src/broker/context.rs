//! A client as the broker sees it: a `Connection` (socket, buffers, the will,
//! keepalive) and a `Session` (client id, subscriptions, message lists).
//! They live in separate slabs and point at each other by key, so a session
//! outlives its connection (clean session false) and a new connection can
//! take a session over without moving anything.

use std::time::Instant;

use super::stream::Stream;

use super::database::MsgLists;
use crate::protocol::{ProtocolVersion, QoS, Will};

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
    /// Refused at CONNECT (CONNACK sent first).
    Refused,
    /// The broker is shutting down.
    Shutdown,
}

pub struct Connection {
    /// Unique for the broker's lifetime; timers check it so a reused slab key
    /// never receives another connection's timeout.
    pub serial: u64,
    pub stream: Stream,
    /// "address:port" of the peer, for logs.
    pub peer: String,
    /// Index of the listener it arrived on.
    pub listener: usize,
    /// Bytes of an incomplete packet carried over to the next read.
    pub rbuf: Vec<u8>,
    /// Encoded packets not yet written; `wpos` bytes of it already are.
    pub wbuf: Vec<u8>,
    pub wpos: usize,
    pub protocol: ProtocolVersion,
    /// The session, once CONNECT was accepted.
    pub session: Option<usize>,
    /// Client id for logs (set at CONNECT).
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// Kept to check the client again when the password file is reloaded.
    pub password: Option<Vec<u8>>,
    pub keepalive: u16,
    pub last_rx: Instant,
    /// Deadline of this connection's live keepalive timer entry.
    pub timer_at: Option<Instant>,
    pub will: Option<Will>,
    /// Set once the connection is to be closed after its output is flushed.
    pub closing: Option<CloseReason>,
    /// In the broker's dirty list for this turn.
    pub dirty: bool,
    /// WRITABLE interest registered because the kernel pushed back.
    pub want_write: bool,
    pub is_bridge: bool,
    /// The listener's mount_point: prefixed to the client's topics on the
    /// way in, stripped on the way out.
    pub mount_point: Option<std::rc::Rc<str>>,
    /// The listener's max_qos.
    pub max_qos: crate::protocol::QoS,
    /// Not read from while clients it publishes to are congested.
    pub paused: bool,
    /// When the current pause ends at the latest.
    pub pause_until: Option<Instant>,
    /// Publishers (key, serial) paused because this connection is congested.
    pub waiters: Vec<(usize, u64)>,
    /// Set on our outgoing bridge connections (index of the bridge).
    pub bridge: Option<usize>,
    /// The bridge's topics, to remap topics in both directions.
    pub bridge_topics: Option<std::rc::Rc<[crate::config::BridgeTopic]>>,
}

impl Connection {
    pub fn new(serial: u64, stream: Stream, peer: String, listener: usize) -> Connection {
        Connection {
            serial,
            stream,
            peer,
            listener,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            protocol: ProtocolVersion::V311,
            session: None,
            client_id: None,
            username: None,
            password: None,
            keepalive: 0,
            last_rx: Instant::now(),
            timer_at: None,
            will: None,
            closing: None,
            dirty: false,
            want_write: false,
            is_bridge: false,
            mount_point: None,
            max_qos: QoS::ExactlyOnce,
            paused: false,
            pause_until: None,
            waiters: Vec::new(),
            bridge: None,
            bridge_topics: None,
        }
    }

    /// The id mosquitto prints for this client.
    pub fn log_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or("<unknown>")
    }

    /// Bytes encoded but not yet written.
    pub fn pending_out(&self) -> usize {
        self.wbuf.len() - self.wpos
    }
}

pub struct Session {
    pub client_id: String,
    pub conn: Option<usize>,
    pub clean: bool,
    /// Subscribed filters with granted QoS, so the tree can be cleaned and
    /// the session persisted.
    pub filters: Vec<(String, QoS)>,
    pub msgs: MsgLists,
    /// Bumped at each disconnect; the expiry timer checks it.
    pub expiry_serial: u64,
    pub protocol: ProtocolVersion,
    /// For ACL checks at delivery, also while the client is away.
    pub username: Option<String>,
    /// Index of the security file set that applies (the listener's).
    pub security: usize,
    /// A remote broker's bridge connected to us (try_private): what it sent
    /// is not sent back to it.
    pub is_bridge: bool,
    /// Our own outgoing bridge (index into the broker's bridges): ACLs do
    /// not apply, and topics are remapped on the way out.
    pub bridge: Option<usize>,
    /// Deliver with the retain flag as published (bridges) instead of 0.
    pub retain_as_published: bool,
    /// Messages are being dropped for this client (logged once per episode).
    pub dropping: bool,
    /// Retained messages matched by a new subscription, sent as the client
    /// takes them (not bounded by the queue limits, so none is dropped;
    /// each entry is a reference to the stored message).
    pub backlog: std::collections::VecDeque<super::database::OutMsg>,
}

impl Session {
    pub fn new(client_id: String, clean: bool) -> Session {
        Session {
            client_id,
            conn: None,
            clean,
            filters: Vec::new(),
            msgs: MsgLists::default(),
            expiry_serial: 0,
            protocol: ProtocolVersion::V311,
            username: None,
            security: 0,
            is_bridge: false,
            bridge: None,
            retain_as_published: false,
            dropping: false,
            backlog: std::collections::VecDeque::new(),
        }
    }
}
