//! The file format's constants and the chunk reader (the writer, which
//! follows the same layout, is `write.rs`).
//!
//! File layout (all versions): 15-byte magic, a `u32` "CRC" that mosquitto
//! writes as zero and never checks, and the big-endian `u32` version.
//!
//! Versions 5 and 6 (mosquitto 1.6 and 2.0): each chunk is a big-endian `u32`
//! type and `u32` length, then a fixed part that is a C struct written with
//! `fwrite(&struct)`, then variable-length strings, payload and an MQTT 5
//! property block. Because the struct is written whole:
//! - its tail padding is in the file, so its size is what the C compiler of
//!   the *writing* machine made of it (`PF_cfg` is 16 bytes on x86_64 but 12
//!   on i386). We mirror each struct with `#[repr(C)]` and take `size_of`,
//!   which gives the same answer as the C compiler on every target;
//! - mosquitto converts the 16/32-bit fields with `htons`/`htonl` but leaves
//!   the 64-bit ones (store ids, expiry times, last_db_id) alone, so those
//!   are in host byte order. We read and write them native-endian, as
//!   mosquitto on the same machine would.
//!
//! Versions 2 to 4 (mosquitto 1.5 and older) have a 16-bit chunk type and
//! serialise field by field with length-prefixed strings; we read them the
//! way mosquitto 2.0 does and never write them.

use std::mem::size_of;

use super::{PersistClient, PersistClientMsg, PersistDb, PersistError, PersistSub, StoredMessage};

/// The first 15 bytes of every `mosquitto.db`.
pub const MAGIC: [u8; 15] = *b"\x00\xB5\x00mosquitto db";
/// The database version mosquitto 2.0 writes and this module writes.
pub const DB_VERSION: u32 = 6;

pub(super) const FILE_HEADER_LEN: usize = 15 + 4 + 4;
pub(super) const CHUNK_HEADER_LEN: usize = 8;

pub(super) const CHUNK_CFG: u32 = 1;
pub(super) const CHUNK_MSG_STORE: u32 = 2;
pub(super) const CHUNK_CLIENT_MSG: u32 = 3;
pub(super) const CHUNK_RETAIN: u32 = 4;
pub(super) const CHUNK_SUB: u32 = 5;
pub(super) const CHUNK_CLIENT: u32 = 6;
/// mosquitto-rs's own chunks, which mosquitto skips ("Unsupported chunk …
/// Ignoring."): a first chunk saying an end marker will follow, and the
/// end marker holding a CRC-32 of everything before it. Together they make a
/// file cut at a chunk boundary detectable, which the format alone is not.
pub(super) const CHUNK_MRS_START: u32 = 0x6D72_7301;
pub(super) const CHUNK_MRS_END: u32 = 0x6D72_7302;
/// Incoming QoS 2 ids awaiting PUBREL: u16 client id length, the client id,
/// u16 count, then the ids (all big-endian).
pub(super) const CHUNK_MRS_INCOMING: u32 = 0x6D72_7303;
pub(super) const MRS_START_BODY: &[u8] = b"mosquitto-rs";

/// CRC-32 (IEEE 802.3, as zlib computes it).
pub fn crc32(data: &[u8]) -> u32 {
    !crc32_update(!0, data)
}

/// Feeds `data` into a CRC-32 register (start at `!0`, invert at the end),
/// so a file can be checksummed as it is written. A save checksums every
/// byte it writes, so this is slicing-by-8 (eight bytes per step through
/// eight tables): about five times faster than bit by bit, which took as
/// long as writing the file.
pub(super) fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    // Every index below is a u8, always inside a 256-entry table.
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &CRC_TABLES;
    let (blocks, rest) = data.as_chunks::<8>();
    for &[b0, b1, b2, b3, b4, b5, b6, b7] in blocks {
        let [c0, c1, c2, c3] = crc.to_le_bytes();
        crc = t7[usize::from(c0 ^ b0)]
            ^ t6[usize::from(c1 ^ b1)]
            ^ t5[usize::from(c2 ^ b2)]
            ^ t4[usize::from(c3 ^ b3)]
            ^ t3[usize::from(b4)]
            ^ t2[usize::from(b5)]
            ^ t1[usize::from(b6)]
            ^ t0[usize::from(b7)];
    }
    for &b in rest {
        crc = (crc >> 8) ^ t0[usize::from(crc as u8 ^ b)];
    }
    crc
}

/// `CRC_TABLES[0]` is the CRC-32 of each byte value; table k advances that
/// by k more zero bytes. Built at compile time.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
};

/// What the mosquitto-rs marker chunks said while decoding.
#[derive(Default)]
struct Markers {
    started: bool,
    /// (CRC stored in the end marker, offset of the end marker's chunk).
    end: Option<(u32, usize)>,
}

/// mosquitto refuses stored payloads above MQTT's maximum packet size.
pub(super) const MAX_PAYLOAD: usize = 268_435_455;
/// mosquitto's `dbid_t` is a `uint64_t`; files with another size are refused.
pub(super) const DBID_SIZE: u8 = 8;

// Size-only mirrors of mosquitto's PF_* structs (src/persist.h).
#[allow(dead_code)]
#[repr(C)]
struct PfCfg(u64, u8, u8);
#[allow(dead_code)]
#[repr(C)]
struct PfClient(i64, u32, u16, u16, u16, u16);
#[allow(dead_code)]
#[repr(C)]
struct PfClientV5(i64, u32, u16, u16);
#[allow(dead_code)]
#[repr(C)]
struct PfClientMsg(u64, u16, u16, u8, u8, u8, u8);
#[allow(dead_code)]
#[repr(C)]
struct PfMsgStore(u64, i64, u32, u16, u16, u16, u16, u16, u8, u8);
#[allow(dead_code)]
#[repr(C)]
struct PfSub(u32, u16, u16, u8, u8);

pub(super) const CFG_LEN: usize = size_of::<PfCfg>();
pub(super) const CLIENT_LEN: usize = size_of::<PfClient>();
const CLIENT_V5_LEN: usize = size_of::<PfClientV5>();
pub(super) const CLIENT_MSG_LEN: usize = size_of::<PfClientMsg>();
pub(super) const MSG_STORE_LEN: usize = size_of::<PfMsgStore>();
pub(super) const SUB_LEN: usize = size_of::<PfSub>();
pub(super) const RETAIN_LEN: usize = 8;

// Bytes of named fields in each struct; the rest of its size is padding.
pub(super) const CFG_FIELDS: usize = 10;
pub(super) const CLIENT_FIELDS: usize = 20;
const CLIENT_V5_FIELDS: usize = 16;
pub(super) const CLIENT_MSG_FIELDS: usize = 16;
pub(super) const MSG_STORE_FIELDS: usize = 32;
pub(super) const SUB_FIELDS: usize = 10;

type Result<T> = std::result::Result<T, PersistError>;

// ---------------------------------------------------------------- reading

/// A bounds-checked cursor over part of the file. `base` is the file offset
/// of `data[0]`, so every error names the offset in the whole file.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        Reader { data, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn err(&self, reason: impl Into<String>) -> PersistError {
        PersistError::new(self.offset(), reason)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        match rest.get(..n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.err(format!(
                "truncated: {what} needs {n} bytes but only {} remain",
                rest.len()
            ))),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let at = self.offset();
        <[u8; N]>::try_from(self.take(N, what)?)
            .map_err(|_| PersistError::new(at, format!("{what}: internal length mismatch")))
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16be(&mut self, what: &str) -> Result<u16> {
        self.array(what).map(u16::from_be_bytes)
    }

    fn u32be(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64ne(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_ne_bytes)
    }

    fn i64ne(&mut self, what: &str) -> Result<i64> {
        self.array(what).map(i64::from_ne_bytes)
    }

    fn skip(&mut self, n: usize, what: &str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    /// A UTF-8 string used in full (property strings, which have no C-string
    /// history).
    fn string(&mut self, len: usize, what: &str) -> Result<String> {
        let at = self.offset();
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(PersistError::new(
                at + e.valid_up_to(),
                format!("{what} is not valid UTF-8"),
            )),
        }
    }

    /// A string field of a chunk. mosquitto treats these as C strings: it
    /// reads `len` bytes but uses them only up to the first NUL. That matters
    /// for real files: mosquitto before 2.0.16 (Debian's 2.0.11 included)
    /// can save a client without a username with the previous client's
    /// username and a byte-swapped length, i.e. that username, its NUL and
    /// up to 64 KB of heap memory. Cutting at the NUL reads such a file the
    /// way mosquitto does.
    fn c_string(&mut self, len: usize, what: &str) -> Result<String> {
        let at = self.offset();
        let bytes = self.take(len, what)?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let bytes = bytes.get(..end).unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(PersistError::new(
                at + e.valid_up_to(),
                format!("{what} is not valid UTF-8"),
            )),
        }
    }

    /// A v2-v4 string: big-endian `u16` length, then the bytes.
    fn prefixed_string(&mut self, what: &str) -> Result<String> {
        let len = self.u16be(what)?;
        self.c_string(usize::from(len), what)
    }

    fn expect_end(&self, chunk: &str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.err(format!("{chunk} chunk has {n} unexpected trailing bytes"))),
        }
    }
}

fn check_qos(qos: u8, at: usize, what: &str) -> Result<()> {
    if qos > 2 {
        return Err(PersistError::new(
            at,
            format!("{what} has invalid QoS {qos}"),
        ));
    }
    Ok(())
}

/// Decodes a whole `mosquitto.db` image.
///
/// Accepts versions 2 to 6. Unknown chunk types are skipped, as mosquitto
/// does. Entries mosquitto ignores on load (a client, client message or
/// subscription with an empty client id, a subscription with an empty
/// filter) are left out. References between chunks (store ids) are not
/// checked: mosquitto silently drops dangling ones ("probably expired"),
/// and so should the caller.
///
/// String fields are read as mosquitto reads them, up to the first NUL
/// (see `Reader::c_string`), then must be UTF-8.
///
/// The format has no end marker and its CRC field is unused, so a file cut
/// exactly at a chunk boundary is indistinguishable from a complete file
/// with fewer chunks; only a missing CFG chunk is caught. Files written by
/// mosquitto-rs carry two extra chunks (see `CHUNK_MRS_START`) that close
/// that gap: a missing end marker or a checksum mismatch is an error.
pub fn decode(bytes: &[u8]) -> Result<PersistDb> {
    let mut r = Reader::new(bytes, 0);
    let version = read_file_header(&mut r)?;
    let mut db = PersistDb::default();
    let mut saw_cfg = false;
    let mut markers = Markers::default();
    while r.remaining() > 0 {
        if let Some((_, at)) = markers.end {
            return Err(PersistError::new(at, "data after the end marker"));
        }
        let kind = if version >= 5 {
            decode_chunk_v56(&mut r, version, &mut db, &mut markers)?
        } else {
            decode_chunk_v234(&mut r, version, &mut db)?
        };
        saw_cfg |= kind == CHUNK_CFG;
    }
    if !saw_cfg {
        return Err(r.err("no CFG chunk: the file is truncated or not from mosquitto"));
    }
    match markers.end {
        Some((stored, at)) => {
            let actual = crc32(bytes.get(..at).unwrap_or(&[]));
            if stored != actual {
                return Err(PersistError::new(
                    at,
                    format!("checksum mismatch (stored {stored:08x}, computed {actual:08x})"),
                ));
            }
        }
        None if markers.started => {
            return Err(r.err("truncated: the end marker mosquitto-rs writes is missing"));
        }
        None => {}
    }
    Ok(db)
}

fn read_file_header(r: &mut Reader<'_>) -> Result<u32> {
    if r.remaining() == 0 {
        return Err(r.err("file is empty"));
    }
    // Compare what there is of the magic first, so that a short file of the
    // wrong kind says "bad magic" rather than "truncated".
    let n = r.remaining().min(MAGIC.len());
    let head = r.data.get(..n).unwrap_or(&[]);
    if head != MAGIC.get(..n).unwrap_or(&[]) {
        let what = if head.iter().all(|&b| b == 0) {
            "bad magic (the file starts with NUL bytes): not a mosquitto persistence file"
        } else {
            "bad magic: not a mosquitto persistence file"
        };
        return Err(r.err(what));
    }
    r.skip(MAGIC.len(), "file magic")?;
    r.skip(4, "CRC field")?;
    let at = r.offset();
    let version = r.u32be("database version")?;
    if !(2..=DB_VERSION).contains(&version) {
        return Err(PersistError::new(
            at,
            format!("unsupported persistent database format version {version} (need version {DB_VERSION})"),
        ));
    }
    Ok(version)
}

/// Reads one v5/v6 chunk; returns its type.
fn decode_chunk_v56(
    r: &mut Reader<'_>,
    version: u32,
    db: &mut PersistDb,
    markers: &mut Markers,
) -> Result<u32> {
    let start = r.offset();
    // Take the header whole so a cut inside it is reported at its start.
    let mut h = Reader::new(r.take(CHUNK_HEADER_LEN, "chunk header")?, start);
    let kind = h.u32be("chunk type")?;
    let len = h.u32be("chunk length")?;
    let len = usize::try_from(len).map_err(|_| PersistError::new(start, "chunk too long"))?;
    // The body must lie inside the file before anything is allocated for it.
    if len > r.remaining() {
        return Err(PersistError::new(
            start,
            format!(
                "truncated: chunk of type {kind} claims {len} bytes but only {} remain",
                r.remaining()
            ),
        ));
    }
    let body_at = r.offset();
    let body = r.take(len, "chunk body")?;
    let mut c = Reader::new(body, body_at);
    match kind {
        CHUNK_CFG => decode_cfg_v56(&mut c, db)?,
        CHUNK_MSG_STORE => db.msgs.push(decode_msg_store_v56(&mut c)?),
        CHUNK_CLIENT_MSG => {
            let m = decode_client_msg_v56(&mut c)?;
            if !m.client_id.is_empty() {
                db.client_msgs.push(m);
            }
        }
        CHUNK_RETAIN => {
            db.retained.push(c.u64ne("retained store id")?);
            c.expect_end("RETAIN")?;
        }
        CHUNK_SUB => {
            if let Some(s) = decode_sub_v56(&mut c)? {
                db.subs.push(s);
            }
        }
        CHUNK_CLIENT => {
            let client = decode_client_v56(&mut c, version)?;
            if !client.client_id.is_empty() {
                db.clients.push(client);
            }
        }
        CHUNK_MRS_START => markers.started = true,
        CHUNK_MRS_INCOMING => {
            let id_len = c.u16be("client id length")?;
            let client_id = c.c_string(usize::from(id_len), "client id")?;
            let n = c.u16be("id count")?;
            let mut ids = Vec::with_capacity(usize::from(n).min(c.remaining() / 2));
            for _ in 0..n {
                ids.push(c.u16be("packet id")?);
            }
            c.expect_end("incoming QoS 2 ids")?;
            if !client_id.is_empty() {
                db.incoming_qos2
                    .push(super::PersistIncoming { client_id, ids });
            }
        }
        CHUNK_MRS_END => {
            let crc = c.u32be("end marker checksum")?;
            c.expect_end("end marker")?;
            markers.end = Some((crc, start));
        }
        _ => {} // mosquitto: "Unsupported chunk ... Ignoring." and seeks past it.
    }
    Ok(kind)
}

fn decode_cfg_v56(c: &mut Reader<'_>, db: &mut PersistDb) -> Result<()> {
    db.last_db_id = c.u64ne("last db id")?;
    db.shutdown = c.u8("shutdown flag")? != 0;
    let at = c.offset();
    let dbid_size = c.u8("dbid size")?;
    c.skip(CFG_LEN - CFG_FIELDS, "CFG padding")?;
    c.expect_end("CFG")?;
    check_dbid_size(dbid_size, at)
}

fn check_dbid_size(dbid_size: u8, at: usize) -> Result<()> {
    if dbid_size != DBID_SIZE {
        return Err(PersistError::new(
            at,
            format!("incompatible database: dbid size is {dbid_size} bytes, expected {DBID_SIZE}"),
        ));
    }
    Ok(())
}

fn decode_msg_store_v56(c: &mut Reader<'_>) -> Result<StoredMessage> {
    let store_id = c.u64ne("store id")?;
    let expiry_time = c.i64ne("expiry time")?;
    let len_at = c.offset();
    let payload_len = c.u32be("payload length")? as usize;
    let source_mid = c.u16be("source mid")?;
    let source_id_len = c.u16be("source id length")?;
    let source_username_len = c.u16be("source username length")?;
    let topic_len = c.u16be("topic length")?;
    let source_port = c.u16be("source port")?;
    let qos_at = c.offset();
    let qos = c.u8("qos")?;
    let retain = c.u8("retain")? != 0;
    c.skip(MSG_STORE_LEN - MSG_STORE_FIELDS, "MSG_STORE padding")?;
    if payload_len > MAX_PAYLOAD {
        return Err(PersistError::new(
            len_at,
            format!("payload length {payload_len} exceeds the MQTT maximum {MAX_PAYLOAD}"),
        ));
    }
    check_qos(qos, qos_at, "stored message")?;
    let source_id = c.c_string(usize::from(source_id_len), "source id")?;
    let source_username = c.c_string(usize::from(source_username_len), "source username")?;
    if topic_len == 0 {
        return Err(c.err("stored message has an empty topic"));
    }
    let topic = c.c_string(usize::from(topic_len), "topic")?;
    let payload = c.take(payload_len, "payload")?.to_vec();
    let properties = read_properties(c)?;
    Ok(StoredMessage {
        store_id,
        expiry_time,
        source_mid,
        source_id,
        source_username,
        source_port,
        topic,
        payload,
        qos,
        retain,
        properties,
    })
}

fn decode_client_msg_v56(c: &mut Reader<'_>) -> Result<PersistClientMsg> {
    let store_id = c.u64ne("store id")?;
    let mid = c.u16be("mid")?;
    let id_len = c.u16be("client id length")?;
    let qos_at = c.offset();
    let qos = c.u8("qos")?;
    let state = c.u8("state")?;
    let retain_dup = c.u8("retain/dup flags")?;
    let direction = c.u8("direction")?;
    c.skip(CLIENT_MSG_LEN - CLIENT_MSG_FIELDS, "CLIENT_MSG padding")?;
    check_qos(qos, qos_at, "client message")?;
    let client_id = c.c_string(usize::from(id_len), "client id")?;
    let properties = read_properties(c)?;
    Ok(PersistClientMsg {
        client_id,
        store_id,
        mid,
        qos,
        state,
        // mosquitto packs retain into the high nibble and dup into the low one.
        retain: retain_dup & 0xF0 != 0,
        dup: retain_dup & 0x0F != 0,
        direction,
        properties,
    })
}

fn decode_client_v56(c: &mut Reader<'_>, version: u32) -> Result<PersistClient> {
    let session_expiry_time = c.i64ne("session expiry time")?;
    let session_expiry_interval = c.u32be("session expiry interval")?;
    let last_mid = c.u16be("last mid")?;
    let id_len = c.u16be("client id length")?;
    let (listener_port, username_len) = if version >= 6 {
        let port = c.u16be("listener port")?;
        let ulen = c.u16be("username length")?;
        c.skip(CLIENT_LEN - CLIENT_FIELDS, "CLIENT padding")?;
        (port, ulen)
    } else {
        c.skip(CLIENT_V5_LEN - CLIENT_V5_FIELDS, "CLIENT padding")?;
        (0, 0)
    };
    let client_id = c.c_string(usize::from(id_len), "client id")?;
    let username = c.c_string(usize::from(username_len), "username")?;
    c.expect_end("CLIENT")?;
    Ok(PersistClient {
        client_id,
        session_expiry_time,
        session_expiry_interval,
        last_mid,
        listener_port,
        username,
    })
}

fn decode_sub_v56(c: &mut Reader<'_>) -> Result<Option<PersistSub>> {
    let identifier = c.u32be("subscription identifier")?;
    let id_len = c.u16be("client id length")?;
    let topic_len = c.u16be("topic length")?;
    let qos_at = c.offset();
    let qos = c.u8("qos")?;
    let options = c.u8("options")?;
    c.skip(SUB_LEN - SUB_FIELDS, "SUB padding")?;
    check_qos(qos, qos_at, "subscription")?;
    let client_id = c.c_string(usize::from(id_len), "client id")?;
    let topic = c.c_string(usize::from(topic_len), "topic filter")?;
    c.expect_end("SUB")?;
    if client_id.is_empty() || topic.is_empty() {
        return Ok(None); // mosquitto warns and ignores these
    }
    Ok(Some(PersistSub {
        client_id,
        topic,
        qos,
        options,
        identifier,
    }))
}

/// The rest of a chunk is an MQTT 5 property block, or nothing.
fn read_properties(c: &mut Reader<'_>) -> Result<Vec<u8>> {
    let at = c.offset();
    let bytes = c.take(c.remaining(), "properties")?;
    check_properties(bytes).map_err(|(off, why)| PersistError::new(at + off, why))?;
    Ok(bytes.to_vec())
}

// MQTT 5 property identifiers that may appear in a PUBLISH; mosquitto
// refuses to load a stored message carrying any other.
const PROP_PAYLOAD_FORMAT: u8 = 0x01;
const PROP_MESSAGE_EXPIRY: u8 = 0x02;
const PROP_CONTENT_TYPE: u8 = 0x03;
const PROP_RESPONSE_TOPIC: u8 = 0x08;
const PROP_CORRELATION_DATA: u8 = 0x09;
const PROP_SUBSCRIPTION_ID: u8 = 0x0B;
const PROP_TOPIC_ALIAS: u8 = 0x23;
const PROP_USER_PROPERTY: u8 = 0x26;

/// Checks that `bytes` is empty or one well-formed PUBLISH property block
/// whose length prefix covers exactly the rest. Errors are (offset, reason).
pub(crate) fn check_properties(bytes: &[u8]) -> std::result::Result<(), (usize, String)> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes, 0);
    let len = read_varint(&mut r).map_err(|e| (e.offset, e.reason))?;
    if len != r.remaining() {
        return Err((
            0,
            format!(
                "property block length {len} does not match the {} bytes left in the chunk",
                r.remaining()
            ),
        ));
    }
    let mut seen = 0u64;
    while r.remaining() > 0 {
        check_property(&mut r, &mut seen).map_err(|e| (e.offset, e.reason))?;
    }
    Ok(())
}

fn check_property(r: &mut Reader<'_>, seen: &mut u64) -> Result<()> {
    let at = r.offset();
    let id = r.u8("property identifier")?;
    let bit = 1u64 << (id & 63);
    let repeatable = id == PROP_USER_PROPERTY || id == PROP_SUBSCRIPTION_ID;
    if !repeatable && *seen & bit != 0 {
        return Err(PersistError::new(
            at,
            format!("property 0x{id:02X} appears twice"),
        ));
    }
    *seen |= bit;
    match id {
        PROP_PAYLOAD_FORMAT => r.skip(1, "property value"),
        PROP_TOPIC_ALIAS => r.skip(2, "property value"),
        PROP_MESSAGE_EXPIRY => r.skip(4, "property value"),
        PROP_SUBSCRIPTION_ID => read_varint(r).map(|_| ()),
        PROP_CONTENT_TYPE | PROP_RESPONSE_TOPIC => prop_string(r),
        PROP_CORRELATION_DATA => {
            let n = r.u16be("property value length")?;
            r.skip(usize::from(n), "property value")
        }
        PROP_USER_PROPERTY => {
            prop_string(r)?;
            prop_string(r)
        }
        _ => Err(PersistError::new(
            at,
            format!("property 0x{id:02X} is not valid in a stored message"),
        )),
    }
}

fn prop_string(r: &mut Reader<'_>) -> Result<()> {
    let n = r.u16be("property string length")?;
    r.string(usize::from(n), "property string").map(|_| ())
}

/// MQTT variable byte integer: at most four bytes.
fn read_varint(r: &mut Reader<'_>) -> Result<usize> {
    let at = r.offset();
    let mut value = 0usize;
    for i in 0..4 {
        let b = r.u8("varint")?;
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(PersistError::new(
        at,
        "malformed varint (more than 4 bytes)",
    ))
}

/// Reads one v2-v4 chunk; returns its type. Known chunks are read field by
/// field from the stream, ignoring the length, exactly as mosquitto does;
/// the length is only used to skip unknown chunks.
fn decode_chunk_v234(r: &mut Reader<'_>, version: u32, db: &mut PersistDb) -> Result<u32> {
    let start = r.offset();
    let mut h = Reader::new(r.take(6, "chunk header")?, start);
    let kind = u32::from(h.u16be("chunk type")?);
    let len = h.u32be("chunk length")? as usize;
    match kind {
        CHUNK_CFG => {
            db.shutdown = r.u8("shutdown flag")? != 0;
            let at = r.offset();
            let dbid_size = r.u8("dbid size")?;
            check_dbid_size(dbid_size, at)?;
            db.last_db_id = r.u64ne("last db id")?;
        }
        CHUNK_MSG_STORE => db.msgs.push(decode_msg_store_v234(r, version)?),
        CHUNK_CLIENT_MSG => {
            let m = decode_client_msg_v234(r)?;
            if !m.client_id.is_empty() {
                db.client_msgs.push(m);
            }
        }
        CHUNK_RETAIN => db.retained.push(r.u64ne("retained store id")?),
        CHUNK_SUB => {
            let client_id = r.prefixed_string("client id")?;
            let topic = r.prefixed_string("topic filter")?;
            let at = r.offset();
            let qos = r.u8("qos")?;
            check_qos(qos, at, "subscription")?;
            if !client_id.is_empty() && !topic.is_empty() {
                db.subs.push(PersistSub {
                    client_id,
                    topic,
                    qos,
                    ..PersistSub::default()
                });
            }
        }
        CHUNK_CLIENT => {
            let client_id = r.prefixed_string("client id")?;
            let last_mid = r.u16be("last mid")?;
            if version != 2 {
                // A disconnect time_t, in the writer's size; unused since 1.x.
                r.skip(size_of::<libc::time_t>(), "disconnect time")?;
            }
            if !client_id.is_empty() {
                db.clients.push(PersistClient {
                    client_id,
                    last_mid,
                    ..PersistClient::default()
                });
            }
        }
        _ => {
            if len > r.remaining() {
                return Err(PersistError::new(
                    start,
                    format!(
                        "truncated: chunk of type {kind} claims {len} bytes but only {} remain",
                        r.remaining()
                    ),
                ));
            }
            r.skip(len, "chunk body")?;
        }
    }
    Ok(kind)
}

fn decode_msg_store_v234(r: &mut Reader<'_>, version: u32) -> Result<StoredMessage> {
    let store_id = r.u64ne("store id")?;
    let source_id = r.prefixed_string("source id")?;
    let (source_username, source_port) = if version == 4 {
        let user = r.prefixed_string("source username")?;
        (user, r.u16be("source port")?)
    } else {
        (String::new(), 0)
    };
    let source_mid = r.u16be("source mid")?;
    r.skip(2, "mid")?; // the message's own mid, unused
    let topic_at = r.offset();
    let topic = r.prefixed_string("topic")?;
    if topic.is_empty() {
        return Err(PersistError::new(
            topic_at,
            "stored message has an empty topic",
        ));
    }
    let qos_at = r.offset();
    let qos = r.u8("qos")?;
    check_qos(qos, qos_at, "stored message")?;
    let retain = r.u8("retain")? != 0;
    let len_at = r.offset();
    let payload_len = r.u32be("payload length")? as usize;
    if payload_len > MAX_PAYLOAD {
        return Err(PersistError::new(
            len_at,
            format!("payload length {payload_len} exceeds the MQTT maximum {MAX_PAYLOAD}"),
        ));
    }
    let payload = r.take(payload_len, "payload")?.to_vec();
    Ok(StoredMessage {
        store_id,
        source_mid,
        source_id,
        source_username,
        source_port,
        topic,
        payload,
        qos,
        retain,
        ..StoredMessage::default()
    })
}

fn decode_client_msg_v234(r: &mut Reader<'_>) -> Result<PersistClientMsg> {
    let client_id = r.prefixed_string("client id")?;
    let store_id = r.u64ne("store id")?;
    let mid = r.u16be("mid")?;
    let qos_at = r.offset();
    let qos = r.u8("qos")?;
    check_qos(qos, qos_at, "client message")?;
    let retain = r.u8("retain")? != 0;
    let direction = r.u8("direction")?;
    let state = r.u8("state")?;
    let dup = r.u8("dup")? != 0;
    Ok(PersistClientMsg {
        client_id,
        store_id,
        mid,
        qos,
        state,
        retain,
        dup,
        direction,
        properties: Vec::new(),
    })
}

#[cfg(test)]
mod crc_tests {
    use super::{crc32, crc32_update};

    /// The plain bit-by-bit definition, to check the sliced tables against.
    fn crc32_bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !crc
    }

    /// Whole or fed in pieces (as a save does, chunk by chunk), every length
    /// and split point around the 8-byte blocks gives the same CRC.
    #[test]
    fn sliced_crc_matches_bitwise_in_any_pieces() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + i / 7) as u8).collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let want = crc32_bitwise(d);
            assert_eq!(crc32(d), want, "len {len}");
            for split in [1, 3, 8, 13] {
                let mut crc = !0;
                for piece in d.chunks(split) {
                    crc = crc32_update(crc, piece);
                }
                assert_eq!(!crc, want, "len {len}, pieces of {split}");
            }
        }
    }
}
