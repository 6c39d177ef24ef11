//! Prints how long encoding, saving, decoding and loading take for large
//! databases. Never asserts on time. For meaningful numbers run:
//! `cargo test --release --test it -- persist_timing:: --nocapture`
//! (debug builds use a tenth of the sizes so the normal test run stays quick).

use std::time::Instant;

use crate::harness::TempDir;
use mosquitto_rs::broker::persist::{
    decode, direction, encode, load, msg_state, save, PersistClient, PersistClientMsg, PersistDb,
    PersistSub, StoredMessage,
};

fn scale(n: u64) -> u64 {
    if cfg!(debug_assertions) {
        n / 10
    } else {
        n
    }
}

fn retained_db(count: u64, payload_len: usize) -> PersistDb {
    PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: count,
        msgs: (1..=count)
            .map(|i| StoredMessage {
                store_id: i,
                source_id: format!("publisher-{}", i % 100),
                topic: format!("site/{}/device/{}/temperature", i % 1000, i),
                payload: vec![b'x'; payload_len],
                qos: 1,
                retain: true,
                ..StoredMessage::default()
            })
            .collect(),
        retained: (1..=count).collect(),
        ..PersistDb::default()
    }
}

/// Sessions with three subscriptions and two queued messages each.
fn sessions_db(count: u64) -> PersistDb {
    let mut db = PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: 2,
        msgs: (1..=2)
            .map(|i| StoredMessage {
                store_id: i,
                topic: format!("alerts/{i}"),
                payload: vec![b'a'; 64],
                qos: 1,
                ..StoredMessage::default()
            })
            .collect(),
        ..PersistDb::default()
    };
    for c in 0..count {
        let id = format!("session-{c:06}");
        db.clients.push(PersistClient {
            client_id: id.clone(),
            session_expiry_interval: u32::MAX,
            last_mid: 2,
            listener_port: 1883,
            username: format!("user{c}"),
            ..PersistClient::default()
        });
        for (n, filter) in ["alerts/#", "cmd/{c}/+", "$share/g/jobs/#"]
            .iter()
            .enumerate()
        {
            db.subs.push(PersistSub {
                client_id: id.clone(),
                topic: filter.replace("{c}", &c.to_string()),
                qos: (n % 3) as u8,
                ..PersistSub::default()
            });
        }
        for s in 1..=2 {
            db.client_msgs.push(PersistClientMsg {
                client_id: id.clone(),
                store_id: s,
                mid: s as u16,
                qos: 1,
                state: msg_state::QUEUED,
                direction: direction::OUT,
                ..PersistClientMsg::default()
            });
        }
    }
    db
}

fn measure(label: &str, db: &PersistDb) {
    let dir = TempDir::new("persist-timing");
    let path = dir.join("mosquitto.db");

    let t = Instant::now();
    let bytes = encode(db);
    let encode_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let decoded = decode(&bytes).unwrap();
    let decode_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(decoded == *db);
    drop(decoded);

    let t = Instant::now();
    save(&path, db).unwrap();
    let save_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let loaded = load(&path).unwrap();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(loaded.as_ref() == Some(db));

    let mode = if cfg!(debug_assertions) {
        "debug, 1/10 size"
    } else {
        "release"
    };
    println!(
        "persist timing [{mode}] {label}: {:.1} MB; encode {encode_ms:.1} ms, \
         save (encode+write+fsync+rename+dir fsync) {save_ms:.1} ms, \
         decode {decode_ms:.1} ms, load (read+decode) {load_ms:.1} ms",
        bytes.len() as f64 / 1e6
    );
}

#[test]
fn timing_of_large_databases() {
    let n = scale(100_000);
    measure(
        &format!("{n} retained, 16-byte payloads"),
        &retained_db(n, 16),
    );
    measure(
        &format!("{n} retained, 1 KB payloads"),
        &retained_db(n, 1024),
    );
    let s = scale(10_000);
    measure(
        &format!("{s} sessions x 3 subs x 2 queued msgs"),
        &sessions_db(s),
    );
}
