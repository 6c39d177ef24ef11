//! Reader and writer for mosquitto's own persistence file, `mosquitto.db`.
//!
//! The format is the one Eclipse Mosquitto 2.0 writes (database version 6):
//! a 23-byte header (15-byte magic, a CRC field that is always zero and never
//! checked, a big-endian version number) followed by chunks, each a big-endian
//! `u32` type and `u32` length and then the chunk body. Chunk bodies are C
//! structs written whole, so they carry the C compiler's padding, and their
//! 64-bit fields (database ids and absolute times) are in *host* byte order
//! while every 16- and 32-bit field is big-endian. See `format.rs`.
//!
//! Apart from `live.rs`, this module is pure data: plain structs, [`decode`],
//! the streaming writer [`DbWriter`] (and [`encode`] built on it), and in
//! `file.rs` the crash-safe [`save`] and [`load`]. A save streams: `live.rs`
//! walks the broker's retained messages and sessions and feeds the writer,
//! which writes into a buffered file, so no payload is copied and the file
//! is never whole in memory. Loading decodes into a [`PersistDb`], which the
//! broker turns back into its state.
//!
//! Versions 2 to 5 (mosquitto 1.x) are read as well; only version 6 is written.

mod file;
mod format;
mod live;
#[cfg(test)]
mod tests;
mod write;

use std::fmt;

pub use file::{load, move_aside, save, save_with, LoadError};
pub use format::{crc32, decode, DB_VERSION, MAGIC};
pub(crate) use live::{save_state, SaveClock};
pub use write::{
    encode, encode_plain, write_db, ClientMsgRecord, ClientRecord, DbWriter, MsgRecord, SubRecord,
};

/// Everything a `mosquitto.db` file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistDb {
    /// The highest message-store id handed out; new ids continue after it.
    pub last_db_id: u64,
    /// Whether the file was written at broker shutdown (the CFG chunk's
    /// `shutdown` flag). mosquitto writes it and never reads it back.
    pub shutdown: bool,
    /// Stored messages, referenced by id from `retained` and `client_msgs`.
    pub msgs: Vec<StoredMessage>,
    /// Store ids of retained messages.
    pub retained: Vec<u64>,
    /// Persistent sessions.
    pub clients: Vec<PersistClient>,
    /// Messages in flight or queued for a session, in queue order.
    pub client_msgs: Vec<PersistClientMsg>,
    /// Subscriptions of persistent sessions.
    pub subs: Vec<PersistSub>,
    /// mosquitto-rs only (a chunk mosquitto skips): the QoS 2 packet ids a
    /// persistent session has received and not yet seen PUBREL for, so a
    /// resent PUBLISH after a restart is still recognised as a duplicate.
    pub incoming_qos2: Vec<PersistIncoming>,
}

/// QoS 2 packet ids of one session awaiting PUBREL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistIncoming {
    pub client_id: String,
    pub ids: Vec<u16>,
}

/// A message in the store (MSG_STORE chunk).
///
/// String fields that are absent in mosquitto (NULL) are empty here: the
/// format writes both as length 0, so the two cannot be told apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredMessage {
    pub store_id: u64,
    /// Absolute expiry in unix seconds, 0 when the message never expires.
    pub expiry_time: i64,
    /// Packet id the message arrived with.
    pub source_mid: u16,
    /// Client id of the publisher ("" for none).
    pub source_id: String,
    /// Username of the publisher ("" for none).
    pub source_username: String,
    /// Port of the listener it arrived on, 0 for none.
    pub source_port: u16,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 property block exactly as in a PUBLISH packet (varint length
    /// then the properties), or empty when the message has no properties.
    pub properties: Vec<u8>,
}

/// A persistent session (CLIENT chunk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistClient {
    pub client_id: String,
    /// Absolute session expiry in unix seconds (0: not yet known/never).
    pub session_expiry_time: i64,
    pub session_expiry_interval: u32,
    pub last_mid: u16,
    /// Port of the listener the client used, 0 for none (v6 only).
    pub listener_port: u16,
    /// "" for none (v6 only).
    pub username: String,
}

/// Message direction of a [`PersistClientMsg`], as mosquitto numbers it.
pub mod direction {
    pub const IN: u8 = 0;
    pub const OUT: u8 = 1;
}

/// Delivery states of a [`PersistClientMsg`] (mosquitto's `mosquitto_msg_state`).
pub mod msg_state {
    pub const INVALID: u8 = 0;
    pub const PUBLISH_QOS0: u8 = 1;
    pub const PUBLISH_QOS1: u8 = 2;
    pub const WAIT_FOR_PUBACK: u8 = 3;
    pub const PUBLISH_QOS2: u8 = 4;
    pub const WAIT_FOR_PUBREC: u8 = 5;
    pub const RESEND_PUBREL: u8 = 6;
    pub const WAIT_FOR_PUBREL: u8 = 7;
    pub const RESEND_PUBCOMP: u8 = 8;
    pub const WAIT_FOR_PUBCOMP: u8 = 9;
    pub const SEND_PUBREC: u8 = 10;
    pub const QUEUED: u8 = 11;
}

/// One message of one session's queue (CLIENT_MSG chunk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistClientMsg {
    pub client_id: String,
    pub store_id: u64,
    pub mid: u16,
    pub qos: u8,
    /// One of [`msg_state`].
    pub state: u8,
    pub retain: bool,
    pub dup: bool,
    /// One of [`direction`].
    pub direction: u8,
    /// MQTT 5 property block as in [`StoredMessage::properties`].
    pub properties: Vec<u8>,
}

/// A subscription of a persistent session (SUB chunk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistSub {
    pub client_id: String,
    /// Topic filter, including a `$share/group/` prefix for shared ones.
    pub topic: String,
    pub qos: u8,
    /// MQTT 5 options as mosquitto stores them: bit 2 no-local, bit 3
    /// retain-as-published (the SUBSCRIBE option bits, without QoS).
    pub options: u8,
    /// Subscription identifier, 0 for none.
    pub identifier: u32,
}

/// Why a byte string is not a valid `mosquitto.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistError {
    /// Byte offset in the file where the problem was found.
    pub offset: usize,
    pub reason: String,
}

impl PersistError {
    pub(crate) fn new(offset: usize, reason: impl Into<String>) -> Self {
        PersistError {
            offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for PersistError {}
