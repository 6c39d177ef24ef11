//! Unit tests: round trips, byte-exact layout, and hostile input.

use super::format::check_properties;
use super::*;
use std::path::PathBuf;

/// A property block: payload format 1, content type "text/plain", one user
/// property ("k", "v").
fn props() -> Vec<u8> {
    let mut body = vec![0x01, 0x01, 0x03, 0x00, 0x0A];
    body.extend_from_slice(b"text/plain");
    body.extend_from_slice(&[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v']);
    let mut block = vec![body.len() as u8];
    block.extend_from_slice(&body);
    block
}

fn sample_db() -> PersistDb {
    PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: 0x0102_0304_0506_0708,
        shutdown: true,
        msgs: vec![
            StoredMessage {
                store_id: 7,
                expiry_time: 1_900_000_000,
                source_mid: 42,
                source_id: "publisher".into(),
                source_username: "alice".into(),
                source_port: 1883,
                topic: "sensors/température/°C".into(),
                payload: b"21.5".to_vec(),
                qos: 1,
                retain: true,
                properties: props(),
            },
            StoredMessage {
                store_id: 8,
                topic: "empty/payload".into(),
                ..StoredMessage::default()
            },
        ],
        retained: vec![7],
        clients: vec![
            PersistClient {
                client_id: "sub-1".into(),
                session_expiry_time: 1_800_000_000,
                session_expiry_interval: u32::MAX,
                last_mid: 9,
                listener_port: 8883,
                username: "bob".into(),
            },
            PersistClient {
                client_id: "客户端".into(),
                ..PersistClient::default()
            },
        ],
        client_msgs: vec![
            PersistClientMsg {
                client_id: "sub-1".into(),
                store_id: 7,
                mid: 3,
                qos: 1,
                state: msg_state::WAIT_FOR_PUBACK,
                retain: false,
                dup: true,
                direction: direction::OUT,
                properties: Vec::new(),
            },
            PersistClientMsg {
                client_id: "sub-1".into(),
                store_id: 8,
                mid: 4,
                qos: 2,
                state: msg_state::QUEUED,
                retain: true,
                dup: false,
                direction: direction::OUT,
                properties: vec![0x02, 0x0B, 0x05],
            },
        ],
        subs: vec![
            PersistSub {
                client_id: "sub-1".into(),
                topic: "sensors/#".into(),
                qos: 2,
                options: 0x04 | 0x08,
                identifier: 5,
            },
            PersistSub {
                client_id: "客户端".into(),
                topic: "$share/g/a/+".into(),
                qos: 0,
                options: 0,
                identifier: 0,
            },
        ],
    }
}

#[test]
fn round_trip_every_chunk_kind() {
    let db = sample_db();
    let bytes = encode_plain(&db);
    assert_eq!(decode(&bytes), Ok(db));
}

#[test]
fn round_trip_empty_db() {
    let db = PersistDb::default();
    assert_eq!(decode(&encode_plain(&db)), Ok(db));
}

#[test]
fn round_trip_max_lengths() {
    let long = "x".repeat(65_535);
    let db = PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: 1,
        msgs: vec![StoredMessage {
            store_id: 1,
            source_id: long.clone(),
            source_username: long.clone(),
            topic: long.clone(),
            payload: vec![0xAB; 1 << 20],
            qos: 2,
            ..StoredMessage::default()
        }],
        clients: vec![PersistClient {
            client_id: long.clone(),
            username: long.clone(),
            ..PersistClient::default()
        }],
        client_msgs: vec![PersistClientMsg {
            client_id: long.clone(),
            store_id: 1,
            ..PersistClientMsg::default()
        }],
        subs: vec![PersistSub {
            client_id: long.clone(),
            topic: long,
            ..PersistSub::default()
        }],
        ..PersistDb::default()
    };
    assert_eq!(decode(&encode_plain(&db)), Ok(db));
}

#[test]
fn unrepresentable_records_are_left_out() {
    let too_long = "y".repeat(65_536);
    let db = PersistDb {
        incoming_qos2: Vec::new(),
        msgs: vec![
            StoredMessage {
                store_id: 1,
                topic: too_long.clone(),
                ..StoredMessage::default()
            },
            StoredMessage {
                store_id: 2,
                topic: "bad/props".into(),
                properties: vec![5, 1, 2],
                ..StoredMessage::default()
            },
            StoredMessage {
                store_id: 3,
                topic: "bad/qos".into(),
                qos: 3,
                ..StoredMessage::default()
            },
        ],
        clients: vec![PersistClient::default()],
        subs: vec![PersistSub {
            client_id: "c".into(),
            topic: too_long,
            ..PersistSub::default()
        }],
        ..PersistDb::default()
    };
    assert_eq!(decode(&encode_plain(&db)), Ok(PersistDb::default()));
}

#[cfg(all(target_endian = "little", target_pointer_width = "64"))]
#[test]
fn header_and_cfg_are_byte_exact() {
    let db = PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: 0x1122,
        shutdown: true,
        ..PersistDb::default()
    };
    let mut want = b"\x00\xB5\x00mosquitto db".to_vec();
    want.extend_from_slice(&[0, 0, 0, 0]); // CRC, always zero
    want.extend_from_slice(&[0, 0, 0, 6]); // version, big-endian
    want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 16]); // CFG, sizeof(PF_cfg)
    want.extend_from_slice(&[0x22, 0x11, 0, 0, 0, 0, 0, 0]); // host order
    want.extend_from_slice(&[1, 8, 0, 0, 0, 0, 0, 0]); // shutdown, dbid size, pad
    assert_eq!(encode_plain(&db), want);
}

#[cfg(all(target_endian = "little", target_pointer_width = "64"))]
#[test]
fn chunks_are_byte_exact() {
    let db = PersistDb {
        incoming_qos2: Vec::new(),
        msgs: vec![StoredMessage {
            store_id: 0x0A,
            expiry_time: 0x0B,
            source_mid: 0x0C0D,
            source_id: "i".into(),
            source_username: "u".into(),
            source_port: 1883,
            topic: "t".into(),
            payload: b"pl".to_vec(),
            qos: 1,
            retain: true,
            properties: vec![2, 1, 1],
        }],
        retained: vec![0x0A],
        clients: vec![PersistClient {
            client_id: "c".into(),
            session_expiry_time: 0x10,
            session_expiry_interval: 0x11,
            last_mid: 0x12,
            listener_port: 0x13,
            username: "n".into(),
        }],
        client_msgs: vec![PersistClientMsg {
            client_id: "c".into(),
            store_id: 0x0A,
            mid: 0x14,
            qos: 2,
            state: 11,
            retain: true,
            dup: true,
            direction: 1,
            properties: Vec::new(),
        }],
        subs: vec![PersistSub {
            client_id: "c".into(),
            topic: "t/#".into(),
            qos: 1,
            options: 0x0C,
            identifier: 0x15,
        }],
        ..PersistDb::default()
    };
    let bytes = encode_plain(&db);
    let rest = &bytes[23 + 8 + 16..];
    #[rustfmt::skip]
    let want: Vec<u8> = [
        // MSG_STORE: 32 fixed + 1 + 1 + 1 + 2 + 3 = 40 bytes
        &[0, 0, 0, 2, 0, 0, 0, 40][..],
        &[0x0A, 0, 0, 0, 0, 0, 0, 0], &[0x0B, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 2], &[0x0C, 0x0D], &[0, 1], &[0, 1], &[0, 1], &[0x07, 0x5B], &[1, 1],
        b"i", b"u", b"t", b"pl", &[2, 1, 1],
        // CLIENT: 24 fixed + 1 + 1
        &[0, 0, 0, 6, 0, 0, 0, 26],
        &[0x10, 0, 0, 0, 0, 0, 0, 0], &[0, 0, 0, 0x11], &[0, 0x12], &[0, 1], &[0, 0x13], &[0, 1],
        &[0, 0, 0, 0], b"c", b"n",
        // CLIENT_MSG: 16 fixed + 1
        &[0, 0, 0, 3, 0, 0, 0, 17],
        &[0x0A, 0, 0, 0, 0, 0, 0, 0], &[0, 0x14], &[0, 1], &[2, 11, 0x11, 1], b"c",
        // SUB: 12 fixed + 1 + 3
        &[0, 0, 0, 5, 0, 0, 0, 16],
        &[0, 0, 0, 0x15], &[0, 1], &[0, 3], &[1, 0x0C], &[0, 0], b"c", b"t/#",
        // RETAIN
        &[0, 0, 0, 4, 0, 0, 0, 8], &[0x0A, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(rest, &want[..]);
    assert_eq!(decode(&bytes), Ok(db));
}

/// File offsets at which a chunk ends, walking the v6 chunk headers.
fn chunk_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 23;
    while pos < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 8 + len;
        ends.push(pos);
    }
    ends
}

#[test]
fn truncation_at_every_offset_never_panics() {
    let bytes = encode_plain(&sample_db());
    let ends = chunk_ends(&bytes);
    let mut errors = 0;
    for n in 0..bytes.len() {
        match decode(&bytes[..n]) {
            Err(e) => {
                assert!(e.offset <= n, "offset {} past end {n}", e.offset);
                errors += 1;
            }
            // The format has no end marker: a cut exactly at a chunk
            // boundary after CFG is a valid, shorter file.
            Ok(db) => {
                assert!(ends.contains(&n), "cut at {n} decoded: {db:?}");
                assert!(n > 23, "a header-only file must be refused");
            }
        }
    }
    // Every cut but the chunk boundaries after CFG is refused.
    assert_eq!(errors, bytes.len() - (ends.len() - 1));
}

#[test]
fn short_files_give_clear_reasons() {
    assert_eq!(decode(&[]).unwrap_err().reason, "file is empty");
    let bytes = encode_plain(&PersistDb::default());
    let e = decode(&bytes[..10]).unwrap_err();
    assert!(e.reason.starts_with("truncated"), "{e}");
    let e = decode(&bytes[..23]).unwrap_err();
    assert!(e.reason.contains("no CFG chunk"), "{e}");
    let e = decode(&bytes[..30]).unwrap_err();
    assert_eq!(e.offset, 23);
    assert!(e.to_string().starts_with("offset 23: truncated"), "{e}");
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_are_refused() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..5_000 {
        let len = (rng.next() % 400) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(decode(&bytes).is_err());
    }
}

#[test]
fn random_chunks_after_a_valid_header_never_panic() {
    let header = encode_plain(&PersistDb::default());
    let mut rng = XorShift(12345);
    for _ in 0..20_000 {
        let mut bytes = header.clone();
        // Plausible chunk headers with small types and lengths, random bodies.
        for _ in 0..(rng.next() % 4) {
            bytes.extend_from_slice(&((rng.next() % 8) as u32).to_be_bytes());
            let len = (rng.next() % 64) as u32;
            bytes.extend_from_slice(&len.to_be_bytes());
            let body = len + (rng.next() % 3) as u32;
            bytes.extend((0..body).map(|_| rng.next() as u8));
        }
        let _ = decode(&bytes);
    }
}

#[test]
fn mutated_files_never_panic() {
    let good = encode_plain(&sample_db());
    let mut rng = XorShift(777);
    for _ in 0..20_000 {
        let mut bytes = good.clone();
        for _ in 0..(1 + rng.next() % 4) {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] = rng.next() as u8;
        }
        let _ = decode(&bytes);
    }
}

#[test]
fn all_zero_files_are_refused() {
    // One NUL byte is a prefix of the magic, so that reads as truncated.
    assert!(decode(&[0]).unwrap_err().reason.starts_with("truncated"));
    for len in [2, 15, 23, 100, 4096] {
        let e = decode(&vec![0; len]).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.reason.contains("NUL"), "{e}");
    }
}

#[test]
fn bad_magic_is_named() {
    let mut bytes = encode_plain(&sample_db());
    bytes[3] = b'M';
    let e = decode(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "offset 0: bad magic: not a mosquitto persistence file"
    );
    let e = decode(b"hello").unwrap_err();
    assert!(e.reason.contains("bad magic"), "{e}");
}

#[test]
fn unsupported_version_is_named() {
    let mut bytes = encode_plain(&sample_db());
    bytes[22] = 7;
    let e = decode(&bytes).unwrap_err();
    assert_eq!(e.offset, 19);
    assert!(e.reason.contains("version 7"), "{e}");
}

#[test]
fn unknown_chunks_are_skipped() {
    let db = sample_db();
    let mut bytes = encode_plain(&db);
    bytes.extend_from_slice(&[0, 0, 0, 99, 0, 0, 0, 3, 1, 2, 3]);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // type 0, empty
    assert_eq!(decode(&bytes), Ok(db));
}

#[test]
fn absurd_lengths_are_refused_before_allocating() {
    let mut bytes = encode_plain(&PersistDb::default());
    bytes.extend_from_slice(&[0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF]);
    let e = decode(&bytes).unwrap_err();
    assert_eq!(e.offset, 47);
    assert!(e.reason.contains("claims 4294967295 bytes"), "{e}");

    // A payload length beyond MQTT's maximum inside a well-sized chunk.
    let mut db = PersistDb::default();
    db.msgs.push(StoredMessage {
        store_id: 1,
        topic: "t".into(),
        ..StoredMessage::default()
    });
    let mut bytes = encode_plain(&db);
    let at = 47 + 8 + 16; // payloadlen field of the first MSG_STORE
    bytes[at..at + 4].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    let e = decode(&bytes).unwrap_err();
    assert_eq!(e.offset, at);
    assert!(e.reason.contains("exceeds"), "{e}");
}

#[test]
fn fields_longer_than_their_chunk_are_refused() {
    let mut db = PersistDb::default();
    db.subs.push(PersistSub {
        client_id: "c".into(),
        topic: "t".into(),
        ..PersistSub::default()
    });
    let mut bytes = encode_plain(&db);
    let topic_len_at = 47 + 8 + 6;
    bytes[topic_len_at..topic_len_at + 2].copy_from_slice(&500u16.to_be_bytes());
    let e = decode(&bytes).unwrap_err();
    assert!(e.reason.contains("topic filter needs 500 bytes"), "{e}");
}

#[test]
fn wrong_dbid_size_is_refused() {
    let mut bytes = encode_plain(&PersistDb::default());
    bytes[23 + 8 + 9] = 4;
    let e = decode(&bytes).unwrap_err();
    assert!(e.reason.contains("dbid size is 4"), "{e}");
}

#[test]
fn property_blocks_are_checked() {
    assert!(check_properties(&[]).is_ok());
    assert!(check_properties(&[0]).is_ok());
    assert!(check_properties(&props()).is_ok());
    assert!(check_properties(&[2, 1]).is_err(), "length past end");
    assert!(
        check_properties(&[1, 0x11]).is_err(),
        "session expiry in PUBLISH"
    );
    assert!(check_properties(&[4, 1, 0, 1, 1]).is_err(), "duplicate");
    assert!(
        check_properties(&[6, 0x0B, 1, 0x0B, 2, 0x23, 0]).is_err(),
        "short alias"
    );
    assert!(
        check_properties(&[6, 0x0B, 1, 0x0B, 2, 0x01, 0]).is_ok(),
        "two sub ids"
    );
    assert!(
        check_properties(&[4, 0x03, 0, 1, 0xFF]).is_err(),
        "bad UTF-8"
    );
    assert!(check_properties(&[0x80, 0x80, 0x80, 0x80, 0x01]).is_err());
}

/// Builds a file of another version from raw chunk bytes.
fn file_of_version(version: u32, chunks: &[&[u8]]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&version.to_be_bytes());
    for c in chunks {
        bytes.extend_from_slice(c);
    }
    bytes
}

#[cfg(all(target_endian = "little", target_pointer_width = "64"))]
#[test]
fn reads_version_5_clients() {
    #[rustfmt::skip]
    let client: &[u8] = &[
        0, 0, 0, 6, 0, 0, 0, 18,
        5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 7, 0, 2, b'i', b'd',
    ];
    let cfg: &[u8] = &[
        0, 0, 0, 1, 0, 0, 0, 16, 3, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0,
    ];
    let db = decode(&file_of_version(5, &[cfg, client])).unwrap();
    assert_eq!(db.last_db_id, 3);
    assert_eq!(
        db.clients,
        vec![PersistClient {
            client_id: "id".into(),
            session_expiry_time: 5,
            session_expiry_interval: 60,
            last_mid: 7,
            ..PersistClient::default()
        }]
    );
}

#[cfg(all(target_endian = "little", target_pointer_width = "64"))]
#[test]
fn reads_version_4_files() {
    #[rustfmt::skip]
    let chunks: [&[u8]; 6] = [
        // CFG: shutdown, dbid size, last db id
        &[0, 1, 0, 0, 0, 10, 1, 8, 9, 0, 0, 0, 0, 0, 0, 0],
        // MSG_STORE: id, source id, source username, port, source mid, mid,
        // topic, qos, retain, payload
        &[0, 2, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, b's', 0, 1, b'u', 0x07, 0x5B,
          0, 5, 0, 0, 0, 1, b't', 1, 1, 0, 0, 0, 2, b'h', b'i'],
        // CLIENT: id, last mid, time_t
        &[0, 6, 0, 0, 0, 0, 0, 1, b'c', 0, 4, 0, 0, 0, 0, 0, 0, 0, 0],
        // CLIENT_MSG: id, store id, mid, qos, retain, direction, state, dup
        &[0, 3, 0, 0, 0, 0, 0, 1, b'c', 9, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 1, 11, 1],
        // SUB: client id, topic, qos
        &[0, 5, 0, 0, 0, 0, 0, 1, b'c', 0, 1, b't', 1],
        // RETAIN
        &[0, 4, 0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0],
    ];
    let db = decode(&file_of_version(4, &chunks)).unwrap();
    assert_eq!(db.last_db_id, 9);
    assert!(db.shutdown);
    assert_eq!(db.msgs.len(), 1);
    let m = &db.msgs[0];
    assert_eq!(
        (m.store_id, m.source_id.as_str(), m.source_username.as_str()),
        (9, "s", "u")
    );
    assert_eq!(
        (m.source_port, m.source_mid, m.topic.as_str()),
        (1883, 5, "t")
    );
    assert_eq!(
        (m.qos, m.retain, m.payload.as_slice()),
        (1, true, &b"hi"[..])
    );
    assert_eq!(db.clients[0].client_id, "c");
    assert_eq!(db.clients[0].last_mid, 4);
    let cm = &db.client_msgs[0];
    assert_eq!((cm.store_id, cm.mid, cm.qos, cm.retain), (9, 2, 1, false));
    assert_eq!((cm.direction, cm.state, cm.dup), (1, 11, true));
    assert_eq!(db.subs[0].topic, "t");
    assert_eq!(db.retained, vec![9]);
}

#[test]
fn entries_mosquitto_ignores_are_dropped() {
    let mut bytes = encode_plain(&PersistDb::default());
    // A CLIENT chunk with an empty client id (24 fixed bytes only).
    bytes.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 24]);
    bytes.extend_from_slice(&[0; 24]);
    assert_eq!(decode(&bytes), Ok(PersistDb::default()));
}

/// mosquitto < 2.0.16 can write a client without a username with the
/// previous client's username pointer and a byte-swapped length (5 → 1280),
/// so the field holds "alice", its NUL and heap garbage. mosquitto reads it
/// as the C string "alice"; so must we.
#[cfg(target_pointer_width = "64")]
#[test]
fn username_overread_of_mosquitto_2_0_11_is_read_like_mosquitto() {
    let mut bytes = encode_plain(&PersistDb::default());
    let mut field = b"alice\0".to_vec();
    field.extend((0..1274).map(|i| (i * 37 % 256) as u8)); // not UTF-8
    assert_eq!(field.len(), 1280);
    bytes.extend_from_slice(&[0, 0, 0, 6]);
    bytes.extend_from_slice(&(24u32 + 7 + 1280).to_be_bytes());
    bytes.extend_from_slice(&[0; 8]); // session expiry time
    bytes.extend_from_slice(&[0xFF; 4]); // session expiry interval
    bytes.extend_from_slice(&[0, 7, 0, 7, 0xA9, 0x21, 0x05, 0x00, 0, 0, 0, 0]);
    bytes.extend_from_slice(b"nouser7");
    bytes.extend_from_slice(&field);
    let db = decode(&bytes).unwrap();
    assert_eq!(db.clients.len(), 1);
    assert_eq!(db.clients[0].client_id, "nouser7");
    assert_eq!(db.clients[0].username, "alice");
    assert_eq!(db.clients[0].listener_port, 0xA921);
}

#[test]
fn strings_are_written_up_to_their_first_nul_like_strlen() {
    let db = PersistDb {
        incoming_qos2: Vec::new(),
        clients: vec![PersistClient {
            client_id: "abc\0def".into(),
            username: "u\0".into(),
            ..PersistClient::default()
        }],
        subs: vec![PersistSub {
            client_id: "\0x".into(), // empty as a C string: left out
            topic: "t".into(),
            ..PersistSub::default()
        }],
        ..PersistDb::default()
    };
    let got = decode(&encode_plain(&db)).unwrap();
    assert_eq!(got.clients[0].client_id, "abc");
    assert_eq!(got.clients[0].username, "u");
    assert!(got.subs.is_empty());
}

// ---------------------------------------------------------------- files

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("persist-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_then_load() {
    let dir = temp_dir("save");
    let path = dir.join("mosquitto.db");
    assert!(load(&path).unwrap().is_none());
    save(&path, &sample_db()).unwrap();
    assert_eq!(load(&path).unwrap(), Some(sample_db()));
    save(&path, &PersistDb::default()).unwrap();
    assert_eq!(load(&path).unwrap(), Some(PersistDb::default()));
    assert!(!dir.join("mosquitto.db.new").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_does_not_write_through_a_hard_linked_new_file() {
    let dir = temp_dir("hardlink");
    let path = dir.join("mosquitto.db");
    save(&path, &sample_db()).unwrap();
    std::fs::hard_link(&path, dir.join("mosquitto.db.new")).unwrap();
    let keep = dir.join("keep");
    std::fs::hard_link(&path, &keep).unwrap();
    save(&path, &PersistDb::default()).unwrap();
    assert_eq!(
        load(&keep).unwrap(),
        Some(sample_db()),
        "old inode untouched"
    );
    assert_eq!(load(&path).unwrap(), Some(PersistDb::default()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_reports_corruption_with_offset() {
    let dir = temp_dir("corrupt");
    let path = dir.join("mosquitto.db");
    std::fs::write(&path, []).unwrap();
    assert!(load(&path).unwrap().is_none(), "empty file: start empty");
    std::fs::write(&path, vec![0u8; 512]).unwrap();
    let e = load(&path).unwrap_err();
    assert!(matches!(&e, LoadError::Corrupt { error, .. } if error.offset == 0));
    assert!(e.to_string().contains("offset 0: bad magic"), "{e}");
    let bytes = encode_plain(&sample_db());
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let e = load(&path).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let aside = move_aside(&path).unwrap();
    assert!(!path.exists());
    assert!(aside.to_string_lossy().contains("mosquitto.db.corrupt-"));
    std::fs::write(&path, b"x").unwrap();
    let aside2 = move_aside(&path).unwrap();
    assert_ne!(aside, aside2);
    assert!(aside.exists() && aside2.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_of_a_directory_is_an_io_error() {
    let dir = temp_dir("isdir");
    assert!(matches!(load(&dir), Err(LoadError::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// mosquitto-rs's marker chunks close the format's gap: with them, every
/// cut of the file is refused, chunk boundaries included.
#[test]
fn marked_files_refuse_every_truncation() {
    let bytes = encode(&sample_db());
    assert_eq!(decode(&bytes), Ok(sample_db()));
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "cut at {n} accepted");
    }
}

#[test]
fn marked_files_detect_changed_bytes_and_trailing_data() {
    let bytes = encode(&sample_db());
    // Flip one payload bit somewhere in the middle: structure still parses,
    // the checksum does not.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    assert!(decode(&bad).is_err());
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0]);
    let e = decode(&extra).unwrap_err();
    assert!(e.reason.contains("after the end marker"), "{e}");
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn incoming_qos2_ids_round_trip_in_our_own_chunk() {
    let mut db = sample_db();
    db.incoming_qos2.push(PersistIncoming {
        client_id: "c".into(),
        ids: vec![1, 7, 65535],
    });
    let bytes = encode(&db);
    assert_eq!(decode(&bytes), Ok(db.clone()));
    // mosquitto's view of the same file has no such chunk.
    let plain = decode(&encode_plain(&db)).unwrap();
    assert!(plain.incoming_qos2.is_empty());
}
