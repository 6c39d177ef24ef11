//! The writer: a version 6 file streamed chunk by chunk into any
//! `io::Write`. A save feeds it straight from the broker's state into a
//! buffered file (`live.rs`), so no payload is copied and the file never
//! exists whole in memory; [`encode`] is the same code writing a
//! [`PersistDb`] into a `Vec`, so both give the same bytes.
//!
//! Records the format cannot hold, or that [`decode`](super::decode) would
//! refuse, are left out rather than written corrupt: a string over 65535
//! bytes, a payload over 268435455 bytes, a QoS over 2, an empty topic or
//! client id, or a property block that is not a well-formed PUBLISH
//! property block. Data that arrived over MQTT never hits these. Strings are
//! written up to their first NUL, as mosquitto's `strlen` does (MQTT forbids
//! U+0000 in strings, so this too is unreachable from the wire).

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use super::format::{
    check_properties, crc32_update, CFG_FIELDS, CFG_LEN, CHUNK_CFG, CHUNK_CLIENT, CHUNK_CLIENT_MSG,
    CHUNK_HEADER_LEN, CHUNK_MRS_END, CHUNK_MRS_INCOMING, CHUNK_MRS_START, CHUNK_MSG_STORE,
    CHUNK_RETAIN, CHUNK_SUB, CLIENT_FIELDS, CLIENT_LEN, CLIENT_MSG_FIELDS, CLIENT_MSG_LEN,
    DBID_SIZE, FILE_HEADER_LEN, MAX_PAYLOAD, MRS_START_BODY, MSG_STORE_FIELDS, MSG_STORE_LEN,
    RETAIN_LEN, SUB_FIELDS, SUB_LEN,
};
use super::{
    PersistClient, PersistClientMsg, PersistDb, PersistSub, StoredMessage, DB_VERSION, MAGIC,
};

/// A MSG_STORE chunk's content, borrowed from wherever it lives (see
/// [`StoredMessage`] for the fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgRecord<'a> {
    pub store_id: u64,
    pub expiry_time: i64,
    pub source_mid: u16,
    pub source_id: &'a str,
    pub source_username: &'a str,
    pub source_port: u16,
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    pub properties: &'a [u8],
}

/// A CLIENT chunk's content (see [`PersistClient`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientRecord<'a> {
    pub client_id: &'a str,
    pub session_expiry_time: i64,
    pub session_expiry_interval: u32,
    pub last_mid: u16,
    pub listener_port: u16,
    pub username: &'a str,
}

/// A CLIENT_MSG chunk's content (see [`PersistClientMsg`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientMsgRecord<'a> {
    pub client_id: &'a str,
    pub store_id: u64,
    pub mid: u16,
    pub qos: u8,
    pub state: u8,
    pub retain: bool,
    pub dup: bool,
    pub direction: u8,
    pub properties: &'a [u8],
}

/// A SUB chunk's content (see [`PersistSub`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SubRecord<'a> {
    pub client_id: &'a str,
    pub topic: &'a str,
    pub qos: u8,
    pub options: u8,
    pub identifier: u32,
}

/// The output and the CRC-32 register over everything written to it, which
/// the end marker needs: kept as the bytes go, so nothing is re-read.
struct Sink<W> {
    out: W,
    crc: u32,
}

impl<W: Write> Sink<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc = crc32_update(self.crc, bytes);
        self.out.write_all(bytes)
    }
}

/// Writes a version 6 file, byte for byte as mosquitto 2.0 on this machine
/// would, when called in mosquitto's order: [`start`](Self::start), every
/// stored message, each client followed by its messages, the
/// subscriptions, the incoming QoS 2 ids, the retained ids, then
/// [`finish`](Self::finish). Dropping it unfinished leaves a file that
/// `decode` reports as truncated.
pub struct DbWriter<W: Write> {
    sink: Sink<W>,
    /// Each chunk's fixed part and short strings are gathered here and
    /// written at once; payloads and property blocks go straight through.
    head: Vec<u8>,
}

impl<W: Write> DbWriter<W> {
    /// Writes the file header, our start marker and the CFG chunk, which
    /// holds the highest store id the file will use.
    pub fn start(out: W, last_db_id: u64, shutdown: bool) -> io::Result<Self> {
        let mut w = DbWriter {
            sink: Sink { out, crc: !0 },
            head: Vec::with_capacity(512),
        };
        let h = &mut w.head;
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&[0; 4]); // CRC: always zero
        h.extend_from_slice(&DB_VERSION.to_be_bytes());
        // First, so that any cut after the header leaves a file known to be
        // ours and therefore known to need its end marker.
        chunk_header(h, CHUNK_MRS_START, MRS_START_BODY.len());
        h.extend_from_slice(MRS_START_BODY);
        chunk_header(h, CHUNK_CFG, CFG_LEN);
        h.extend_from_slice(&last_db_id.to_ne_bytes());
        h.push(u8::from(shutdown));
        h.push(DBID_SIZE);
        padding(h, CFG_LEN - CFG_FIELDS);
        w.sink.put(&w.head)?;
        Ok(w)
    }

    /// Writes the end marker (the CRC-32 of everything before it) and
    /// hands back the output, for the caller to flush and sync.
    pub fn finish(mut self) -> io::Result<W> {
        let crc = !self.sink.crc;
        self.head.clear();
        chunk_header(&mut self.head, CHUNK_MRS_END, 4);
        self.head.extend_from_slice(&crc.to_be_bytes());
        self.sink.put(&self.head)?;
        Ok(self.sink.out)
    }

    /// A stored message; nothing for one the format cannot hold.
    pub fn msg_store(&mut self, m: &MsgRecord<'_>) -> io::Result<()> {
        let (Some(id_len), Some(user_len), Some(topic_len)) = (
            u16_len(c_str(m.source_id)),
            u16_len(c_str(m.source_username)),
            u16_len(c_str(m.topic)),
        ) else {
            return Ok(());
        };
        if topic_len == 0
            || m.qos > 2
            || m.payload.len() > MAX_PAYLOAD
            || m.properties.len() > MAX_PAYLOAD
            || check_properties(m.properties).is_err()
        {
            return Ok(());
        }
        let len = MSG_STORE_LEN
            + usize::from(id_len)
            + usize::from(user_len)
            + usize::from(topic_len)
            + m.payload.len()
            + m.properties.len();
        let h = &mut self.head;
        h.clear();
        chunk_header(h, CHUNK_MSG_STORE, len);
        h.extend_from_slice(&m.store_id.to_ne_bytes());
        h.extend_from_slice(&m.expiry_time.to_ne_bytes());
        h.extend_from_slice(&(m.payload.len() as u32).to_be_bytes());
        h.extend_from_slice(&m.source_mid.to_be_bytes());
        h.extend_from_slice(&id_len.to_be_bytes());
        h.extend_from_slice(&user_len.to_be_bytes());
        h.extend_from_slice(&topic_len.to_be_bytes());
        h.extend_from_slice(&m.source_port.to_be_bytes());
        h.push(m.qos);
        h.push(u8::from(m.retain));
        padding(h, MSG_STORE_LEN - MSG_STORE_FIELDS);
        h.extend_from_slice(c_str(m.source_id));
        h.extend_from_slice(c_str(m.source_username));
        h.extend_from_slice(c_str(m.topic));
        self.sink.put(&self.head)?;
        self.sink.put(m.payload)?;
        self.sink.put(m.properties)
    }

    /// A client; false (and nothing written) when the format cannot hold
    /// it, and then its messages must be left out too.
    pub fn client(&mut self, c: &ClientRecord<'_>) -> io::Result<bool> {
        let (Some(id_len), Some(user_len)) =
            (u16_len(c_str(c.client_id)), u16_len(c_str(c.username)))
        else {
            return Ok(false);
        };
        if id_len == 0 {
            return Ok(false); // mosquitto never persists a client without an id
        }
        let len = CLIENT_LEN + usize::from(id_len) + usize::from(user_len);
        let h = &mut self.head;
        h.clear();
        chunk_header(h, CHUNK_CLIENT, len);
        h.extend_from_slice(&c.session_expiry_time.to_ne_bytes());
        h.extend_from_slice(&c.session_expiry_interval.to_be_bytes());
        h.extend_from_slice(&c.last_mid.to_be_bytes());
        h.extend_from_slice(&id_len.to_be_bytes());
        h.extend_from_slice(&c.listener_port.to_be_bytes());
        h.extend_from_slice(&user_len.to_be_bytes());
        padding(h, CLIENT_LEN - CLIENT_FIELDS);
        h.extend_from_slice(c_str(c.client_id));
        h.extend_from_slice(c_str(c.username));
        self.sink.put(&self.head)?;
        Ok(true)
    }

    /// One message of a client's queue.
    pub fn client_msg(&mut self, m: &ClientMsgRecord<'_>) -> io::Result<()> {
        let Some(id_len) = u16_len(c_str(m.client_id)) else {
            return Ok(());
        };
        if id_len == 0
            || m.qos > 2
            || m.properties.len() > MAX_PAYLOAD
            || check_properties(m.properties).is_err()
        {
            return Ok(());
        }
        let len = CLIENT_MSG_LEN + usize::from(id_len) + m.properties.len();
        let h = &mut self.head;
        h.clear();
        chunk_header(h, CHUNK_CLIENT_MSG, len);
        h.extend_from_slice(&m.store_id.to_ne_bytes());
        h.extend_from_slice(&m.mid.to_be_bytes());
        h.extend_from_slice(&id_len.to_be_bytes());
        h.push(m.qos);
        h.push(m.state);
        h.push(u8::from(m.retain) << 4 | u8::from(m.dup));
        h.push(m.direction);
        padding(h, CLIENT_MSG_LEN - CLIENT_MSG_FIELDS);
        h.extend_from_slice(c_str(m.client_id));
        self.sink.put(&self.head)?;
        self.sink.put(m.properties)
    }

    /// A subscription.
    pub fn sub(&mut self, s: &SubRecord<'_>) -> io::Result<()> {
        let (Some(id_len), Some(topic_len)) =
            (u16_len(c_str(s.client_id)), u16_len(c_str(s.topic)))
        else {
            return Ok(());
        };
        if id_len == 0 || topic_len == 0 || s.qos > 2 {
            return Ok(());
        }
        let len = SUB_LEN + usize::from(id_len) + usize::from(topic_len);
        let h = &mut self.head;
        h.clear();
        chunk_header(h, CHUNK_SUB, len);
        h.extend_from_slice(&s.identifier.to_be_bytes());
        h.extend_from_slice(&id_len.to_be_bytes());
        h.extend_from_slice(&topic_len.to_be_bytes());
        h.push(s.qos);
        h.push(s.options);
        padding(h, SUB_LEN - SUB_FIELDS);
        h.extend_from_slice(c_str(s.client_id));
        h.extend_from_slice(c_str(s.topic));
        self.sink.put(&self.head)
    }

    /// A session's incoming QoS 2 ids awaiting PUBREL (our own chunk).
    pub fn incoming(&mut self, client_id: &str, ids: &[u16]) -> io::Result<()> {
        let (Some(id_len), Ok(n)) = (u16_len(c_str(client_id)), u16::try_from(ids.len())) else {
            return Ok(());
        };
        if id_len == 0 || n == 0 {
            return Ok(());
        }
        let h = &mut self.head;
        h.clear();
        let len = 4 + usize::from(id_len) + 2 * usize::from(n);
        chunk_header(h, CHUNK_MRS_INCOMING, len);
        h.extend_from_slice(&id_len.to_be_bytes());
        h.extend_from_slice(c_str(client_id));
        h.extend_from_slice(&n.to_be_bytes());
        for id in ids {
            h.extend_from_slice(&id.to_be_bytes());
        }
        self.sink.put(&self.head)
    }

    /// The store id of a retained message.
    pub fn retained(&mut self, store_id: u64) -> io::Result<()> {
        let h = &mut self.head;
        h.clear();
        chunk_header(h, CHUNK_RETAIN, RETAIN_LEN);
        h.extend_from_slice(&store_id.to_ne_bytes());
        self.sink.put(&self.head)
    }
}

impl StoredMessage {
    pub fn record(&self) -> MsgRecord<'_> {
        MsgRecord {
            store_id: self.store_id,
            expiry_time: self.expiry_time,
            source_mid: self.source_mid,
            source_id: &self.source_id,
            source_username: &self.source_username,
            source_port: self.source_port,
            topic: &self.topic,
            payload: &self.payload,
            qos: self.qos,
            retain: self.retain,
            properties: &self.properties,
        }
    }
}

impl PersistClient {
    pub fn record(&self) -> ClientRecord<'_> {
        ClientRecord {
            client_id: &self.client_id,
            session_expiry_time: self.session_expiry_time,
            session_expiry_interval: self.session_expiry_interval,
            last_mid: self.last_mid,
            listener_port: self.listener_port,
            username: &self.username,
        }
    }
}

impl PersistClientMsg {
    pub fn record(&self) -> ClientMsgRecord<'_> {
        ClientMsgRecord {
            client_id: &self.client_id,
            store_id: self.store_id,
            mid: self.mid,
            qos: self.qos,
            state: self.state,
            retain: self.retain,
            dup: self.dup,
            direction: self.direction,
            properties: &self.properties,
        }
    }
}

impl PersistSub {
    pub fn record(&self) -> SubRecord<'_> {
        SubRecord {
            client_id: &self.client_id,
            topic: &self.topic,
            qos: self.qos,
            options: self.options,
            identifier: self.identifier,
        }
    }
}

/// Writes `db` as a version 6 file into `out` and returns it.
pub fn write_db<W: Write>(out: W, db: &PersistDb) -> io::Result<W> {
    let mut w = DbWriter::start(out, db.last_db_id, db.shutdown)?;
    for m in &db.msgs {
        w.msg_store(&m.record())?;
    }
    write_clients(&mut w, db)?;
    for s in &db.subs {
        w.sub(&s.record())?;
    }
    for inc in &db.incoming_qos2 {
        w.incoming(&inc.client_id, &inc.ids)?;
    }
    for id in &db.retained {
        w.retained(*id)?;
    }
    w.finish()
}

/// Each client chunk is followed by that client's messages, in order, as
/// mosquitto writes them. Messages of clients not in `db.clients` follow
/// the last client (mosquitto would recreate the client on load).
fn write_clients<W: Write>(w: &mut DbWriter<W>, db: &PersistDb) -> io::Result<()> {
    let mut queues: HashMap<&str, Vec<&PersistClientMsg>> = HashMap::new();
    for m in &db.client_msgs {
        queues.entry(m.client_id.as_str()).or_default().push(m);
    }
    let known: HashSet<&str> = db.clients.iter().map(|c| c.client_id.as_str()).collect();
    for c in &db.clients {
        if !w.client(&c.record())? {
            continue;
        }
        for m in queues.remove(c.client_id.as_str()).unwrap_or_default() {
            w.client_msg(&m.record())?;
        }
    }
    for m in &db.client_msgs {
        if !known.contains(m.client_id.as_str()) {
            w.client_msg(&m.record())?;
        }
    }
    Ok(())
}

/// Encodes `db` as a version 6 file, byte for byte as mosquitto 2.0 on this
/// machine would (plus our marker chunks; see [`DbWriter`]).
pub fn encode(db: &PersistDb) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    write_db(Vec::with_capacity(encoded_len_hint(db)), db).unwrap_or_default()
}

/// The file as mosquitto itself would write it: `encode` without
/// mosquitto-rs's own chunks (for comparisons with real files).
pub fn encode_plain(db: &PersistDb) -> Vec<u8> {
    let mut plain = db.clone();
    plain.incoming_qos2.clear();
    let marked = encode(&plain);
    let start_len = CHUNK_HEADER_LEN + MRS_START_BODY.len();
    let end_len = CHUNK_HEADER_LEN + 4;
    let mut out = Vec::with_capacity(marked.len());
    out.extend_from_slice(marked.get(..FILE_HEADER_LEN).unwrap_or(&[]));
    let rest_end = marked.len().saturating_sub(end_len);
    out.extend_from_slice(
        marked
            .get(FILE_HEADER_LEN + start_len..rest_end)
            .unwrap_or(&[]),
    );
    out
}

/// Enough capacity that encoding never reallocates in the common case.
fn encoded_len_hint(db: &PersistDb) -> usize {
    let msgs: usize = db
        .msgs
        .iter()
        .map(|m| {
            CHUNK_HEADER_LEN
                + MSG_STORE_LEN
                + m.source_id.len()
                + m.source_username.len()
                + m.topic.len()
                + m.payload.len()
                + m.properties.len()
        })
        .sum();
    let clients: usize = db
        .clients
        .iter()
        .map(|c| CHUNK_HEADER_LEN + CLIENT_LEN + c.client_id.len() + c.username.len())
        .sum();
    let cmsgs: usize = db
        .client_msgs
        .iter()
        .map(|m| CHUNK_HEADER_LEN + CLIENT_MSG_LEN + m.client_id.len() + m.properties.len())
        .sum();
    let subs: usize = db
        .subs
        .iter()
        .map(|s| CHUNK_HEADER_LEN + SUB_LEN + s.client_id.len() + s.topic.len())
        .sum();
    let retained = db.retained.len() * (CHUNK_HEADER_LEN + RETAIN_LEN);
    let markers = 2 * CHUNK_HEADER_LEN + MRS_START_BODY.len() + 4;
    FILE_HEADER_LEN
        + CHUNK_HEADER_LEN
        + CFG_LEN
        + msgs
        + clients
        + cmsgs
        + subs
        + retained
        + markers
}

fn chunk_header(out: &mut Vec<u8>, kind: u32, len: usize) {
    out.extend_from_slice(&kind.to_be_bytes());
    // Callers only pass lengths they checked to fit (see `u16_len` and
    // MAX_PAYLOAD), so the sum stays far below u32::MAX.
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

fn padding(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// A string as mosquitto writes it: up to its first NUL (`strlen`), so that
/// what we write reads back the same through `Reader::c_string`.
fn c_str(s: &str) -> &[u8] {
    let b = s.as_bytes();
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    b.get(..end).unwrap_or(b)
}

fn u16_len(s: &[u8]) -> Option<u16> {
    u16::try_from(s.len()).ok()
}
