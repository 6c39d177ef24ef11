//! Writes the binary seed corpora under fuzz/corpus/ (packets, websocket
//! frames and handshakes, a mosquitto.db), the same inputs the tests use.
//! Run from fuzz/: `cargo run --example seeds`. The text seeds (conf, ACL,
//! password and PSK files) are copies of conf/ and the test fixtures.

use std::fs;
use std::path::Path;

use mosquitto_rs::broker::persist::{
    encode, PersistClient, PersistClientMsg, PersistDb, PersistIncoming, PersistSub, StoredMessage,
};

fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn packet(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte1];
    put_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNECT: `level` 3 (MQIsdp), 4 or 5; v5 with properties (session expiry,
/// receive maximum, user property) and a will with properties.
fn connect(level: u8) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, if level == 3 { b"MQIsdp" } else { b"MQTT" });
    b.push(level);
    b.push(0x02 | 0x04 | 0x08 | 0x80 | 0x40); // clean, will qos 1, user, pass
    b.extend_from_slice(&60u16.to_be_bytes());
    if level == 5 {
        let mut p = vec![0x11, 0, 0, 0x0e, 0x10, 0x21, 0, 20];
        p.push(0x26);
        put_str(&mut p, b"k");
        put_str(&mut p, b"v");
        put_len(&mut b, p.len());
        b.extend_from_slice(&p);
    }
    put_str(&mut b, b"client-1");
    if level == 5 {
        // Will properties: will delay 5, payload format 1, content type.
        let mut p = vec![0x18, 0, 0, 0, 5, 0x01, 1, 0x03];
        put_str(&mut p, b"text/plain");
        put_len(&mut b, p.len());
        b.extend_from_slice(&p);
    }
    put_str(&mut b, b"will/topic");
    put_str(&mut b, b"gone");
    put_str(&mut b, b"alice");
    put_str(&mut b, b"secret");
    packet(0x10, &b)
}

fn publish(qos: u8, v5: bool) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, b"sensors/room1/temp");
    if qos > 0 {
        b.extend_from_slice(&7u16.to_be_bytes());
    }
    if v5 {
        // Message expiry 60, topic alias 3, subscription id 9.
        let p = [0x02, 0, 0, 0, 60, 0x23, 0, 3, 0x0b, 9];
        put_len(&mut b, p.len());
        b.extend_from_slice(&p);
    }
    b.extend_from_slice(b"21.5");
    packet(0x30 | (qos << 1) | 1, &b)
}

fn subscribe(v5: bool) -> Vec<u8> {
    let mut b = 1u16.to_be_bytes().to_vec();
    if v5 {
        b.extend_from_slice(&[2, 0x0b, 5]);
    }
    put_str(&mut b, b"sensors/+/temp");
    b.push(if v5 { 0x01 | 0x04 | 0x08 | 0x10 } else { 1 });
    put_str(&mut b, b"$share/g/a/#");
    b.push(2);
    packet(0x82, &b)
}

fn unsubscribe(v5: bool) -> Vec<u8> {
    let mut b = 2u16.to_be_bytes().to_vec();
    if v5 {
        b.push(0);
    }
    put_str(&mut b, b"sensors/+/temp");
    packet(0xA2, &b)
}

/// The packet target's input: a version selector byte (0: 3.1, 1: 3.1.1,
/// 2: 5), then packets.
fn packet_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let with = |sel: u8, packets: &[Vec<u8>]| {
        let mut out = vec![sel];
        for p in packets {
            out.extend_from_slice(p);
        }
        out
    };
    let v5_ack = |t: u8| packet(t, &[0, 7, 0x10, 4, 0x1f, 0, 1, b'x']);
    vec![
        (
            "v31_session",
            with(0, &[connect(3), publish(1, false), subscribe(false)]),
        ),
        (
            "v311_session",
            with(
                1,
                &[
                    connect(4),
                    publish(0, false),
                    publish(2, false),
                    subscribe(false),
                    unsubscribe(false),
                    vec![0x40, 2, 0, 7],
                    vec![0x50, 2, 0, 7],
                    vec![0x62, 2, 0, 7],
                    vec![0x70, 2, 0, 7],
                    vec![0xC0, 0],
                    vec![0xE0, 0],
                ],
            ),
        ),
        (
            "v311_server",
            with(
                1,
                &[
                    vec![0x20, 2, 1, 0],
                    vec![0x90, 4, 0, 1, 1, 0x80],
                    vec![0xB0, 2, 0, 2],
                    vec![0xD0, 0],
                ],
            ),
        ),
        ("v5_connect", with(2, &[connect(5)])),
        (
            "v5_session",
            with(
                2,
                &[
                    publish(1, true),
                    subscribe(true),
                    unsubscribe(true),
                    v5_ack(0x40),
                    v5_ack(0x50),
                    v5_ack(0x62),
                    v5_ack(0x70),
                    vec![0xE0, 7, 0x04, 5, 0x11, 0, 0, 0, 10],
                ],
            ),
        ),
        (
            "v5_server",
            with(
                2,
                &[
                    packet(0x20, &[1, 0, 8, 0x21, 0, 10, 0x22, 0, 5, 0x25, 1]),
                    vec![0x90, 5, 0, 1, 0, 1, 0x80],
                    vec![0xB0, 4, 0, 2, 0, 0x11],
                ],
            ),
        ),
    ]
}

fn ws_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The ws_frame target's input: a read size byte, then frames.
fn ws_frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let m = [0x37, 0xfa, 0x21, 0x3d];
    let conn = connect(4);
    let mut split = vec![3u8];
    split.extend(ws_frame(false, 2, &conn[..5], m));
    split.extend(ws_frame(false, 0, &conn[5..], m));
    split.extend(ws_frame(true, 0, b"", m));
    let mut control = vec![255u8];
    control.extend(ws_frame(true, 9, b"ping", m));
    control.extend(ws_frame(true, 2, &publish(1, false), m));
    control.extend(ws_frame(true, 10, b"", m));
    control.extend(ws_frame(true, 8, &[0x03, 0xe8, b'b', b'y', b'e'], m));
    let mut long = vec![64u8];
    long.extend(ws_frame(true, 2, &[0x30; 300], m));
    vec![("split", split), ("control", control), ("long", long)]
}

fn ws_handshake_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let upgrade = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                   Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqttv3.1, mqtt\r\n\r\n";
    let file = "GET /static/../index.html?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let head = "HEAD /dir/%41b%20c/ HTTP/1.0\r\n\r\n";
    let post = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    let mut with_data = upgrade.as_bytes().to_vec();
    with_data.extend(ws_frame(true, 2, &connect(4), [1, 2, 3, 4]));
    vec![
        ("upgrade", upgrade.as_bytes().to_vec()),
        ("upgrade_then_frame", with_data),
        ("file", file.as_bytes().to_vec()),
        ("head", head.as_bytes().to_vec()),
        ("post", post.as_bytes().to_vec()),
    ]
}

/// A small database with a record of every kind, as our broker writes it.
fn persist_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut props = vec![0x01, 0x01, 0x03, 0x00, 0x0A];
    props.extend_from_slice(b"text/plain");
    props.extend_from_slice(&[0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v']);
    let mut block = vec![props.len() as u8];
    block.extend_from_slice(&props);
    let db = PersistDb {
        last_db_id: 9,
        shutdown: true,
        msgs: vec![
            StoredMessage {
                store_id: 7,
                expiry_time: 1_900_000_000,
                source_mid: 42,
                source_id: "publisher".into(),
                source_username: "alice".into(),
                source_port: 1883,
                topic: "sensors/room1/temp".into(),
                payload: b"21.5".to_vec(),
                qos: 1,
                retain: true,
                properties: block.clone(),
            },
            StoredMessage {
                store_id: 8,
                topic: "empty/payload".into(),
                ..StoredMessage::default()
            },
        ],
        retained: vec![7],
        clients: vec![PersistClient {
            client_id: "sub-1".into(),
            session_expiry_time: 1_800_000_000,
            session_expiry_interval: 3600,
            last_mid: 9,
            listener_port: 1883,
            username: "bob".into(),
        }],
        client_msgs: vec![PersistClientMsg {
            client_id: "sub-1".into(),
            store_id: 7,
            mid: 3,
            qos: 1,
            state: 3,
            retain: false,
            dup: true,
            direction: 1,
            properties: block,
        }],
        subs: vec![PersistSub {
            client_id: "sub-1".into(),
            topic: "sensors/#".into(),
            qos: 1,
            options: 0x04,
            identifier: 5,
        }],
        incoming_qos2: vec![PersistIncoming {
            client_id: "sub-1".into(),
            ids: vec![4, 5],
        }],
    };
    vec![
        ("full", encode(&db)),
        ("empty", encode(&PersistDb::default())),
    ]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let sets = [
        ("packet", packet_seeds()),
        ("ws_frame", ws_frame_seeds()),
        ("ws_handshake", ws_handshake_seeds()),
        ("persist", persist_seeds()),
    ];
    for (target, seeds) in sets {
        let dir = root.join(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, bytes) in seeds {
            fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
}
