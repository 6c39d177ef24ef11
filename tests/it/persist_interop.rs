//! Interoperability of our mosquitto.db reader and writer with Debian's
//! mosquitto 2.0 broker and its command-line clients.
//!
//! Skipped (with a note) when `mosquitto` is not installed, unless the `CI`
//! environment variable is set, in which case a missing broker fails.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::Duration;

use crate::harness::{wait_timeout, RefBroker, TempDir};
use mosquitto_rs::broker::persist::{
    self, decode, direction, encode_plain, msg_state, PersistClient, PersistClientMsg, PersistDb,
    PersistSub, StoredMessage,
};

const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

fn find_tool(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

struct Tools {
    pub_: PathBuf,
    sub: PathBuf,
}

/// The Debian tools, or None after printing a skip note (failing under CI).
fn tools() -> Option<Tools> {
    let dirs = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
    let found = (
        find_tool("mosquitto", &dirs),
        find_tool("mosquitto_pub", &dirs),
        find_tool("mosquitto_sub", &dirs),
    );
    match found {
        (Some(_), Some(pub_), Some(sub)) => Some(Tools { pub_, sub }),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "mosquitto, mosquitto_pub or mosquitto_sub not installed (CI is set)"
            );
            eprintln!("SKIP: Debian mosquitto tools not installed");
            None
        }
    }
}

/// Starts Debian's mosquitto with persistence in `dir` on a fresh loopback
/// port.
fn start_broker(dir: &Path) -> RefBroker {
    RefBroker::start(|port| {
        let conf = dir.join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nautosave_interval 0\nuser root\n\
             log_dest stderr\nlog_type all\n",
            dir.display()
        );
        fs::write(&conf, text).unwrap();
        conf
    })
    .expect("Debian's mosquitto (tools() found it)")
}

/// SIGTERM, which makes mosquitto save its database, then wait for exit.
fn stop(broker: RefBroker) {
    let status = broker.stop();
    assert!(status.success(), "mosquitto exited with {status}");
}

/// Runs a client tool against the broker, bounded in time; returns stdout.
fn run(tool: &Path, broker: &RefBroker, args: &[&str]) -> String {
    let port = broker.port.to_string();
    let mut child = Command::new(tool)
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = wait_timeout(&mut child, TOOL_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{} {args:?} timed out; broker log:\n{}",
            tool.display(),
            broker.log_text()
        );
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success(),
        "{} {args:?} failed: {status}\n{err}\nbroker log:\n{}",
        tool.display(),
        broker.log_text()
    );
    out
}

fn msg(db: &PersistDb, store_id: u64) -> &StoredMessage {
    db.msgs
        .iter()
        .find(|m| m.store_id == store_id)
        .unwrap_or_else(|| panic!("no stored message {store_id}"))
}

fn queue<'a>(db: &'a PersistDb, client: &str) -> Vec<(&'a PersistClientMsg, &'a StoredMessage)> {
    db.client_msgs
        .iter()
        .filter(|m| m.client_id == client)
        .map(|m| (m, msg(db, m.store_id)))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn we_read_what_mosquitto_writes() {
    let Some(tools) = tools() else { return };
    let dir = TempDir::new("read");
    let broker = start_broker(&dir.path);

    // Two offline persistent sessions: MQTT 3.1.1 and MQTT 5.
    run(
        &tools.sub,
        &broker,
        &[
            "-c",
            "-i",
            "offline-311",
            "-q",
            "1",
            "-t",
            "interop/queue",
            "-E",
        ],
    );
    run(
        &tools.sub,
        &broker,
        &[
            "-V",
            "mqttv5",
            "-c",
            "-i",
            "offline-v5",
            "-x",
            "3600",
            "-q",
            "2",
            "-t",
            "interop/v5/#",
            "-D",
            "subscribe",
            "subscription-identifier",
            "7",
            "-E",
        ],
    );
    // Retained messages, one with MQTT 5 properties.
    run(
        &tools.pub_,
        &broker,
        &[
            "-r",
            "-q",
            "1",
            "-t",
            "interop/retained/a",
            "-m",
            "retained-a",
        ],
    );
    run(
        &tools.pub_,
        &broker,
        &[
            "-V",
            "mqttv5",
            "-r",
            "-t",
            "interop/retained/b",
            "-m",
            "retained-b",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "user-property",
            "ukey",
            "uval",
        ],
    );
    // Queued messages for the offline sessions.
    run(
        &tools.pub_,
        &broker,
        &["-q", "1", "-t", "interop/queue", "-m", "queued-1"],
    );
    run(
        &tools.pub_,
        &broker,
        &["-q", "2", "-t", "interop/queue", "-m", "queued-2"],
    );
    run(
        &tools.pub_,
        &broker,
        &[
            "-V",
            "mqttv5",
            "-q",
            "2",
            "-t",
            "interop/v5/x",
            "-m",
            "v5-queued",
        ],
    );
    let port = broker.port;
    stop(broker);

    let bytes = fs::read(dir.path.join("mosquitto.db")).unwrap();
    let db = decode(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
    eprintln!("decoded mosquitto's file ({} bytes): {db:#?}", bytes.len());

    assert!(db.shutdown, "saved at shutdown");
    assert!(db.last_db_id >= 5);

    // Retained messages.
    let retained: Vec<&StoredMessage> = db.retained.iter().map(|&id| msg(&db, id)).collect();
    let a = retained
        .iter()
        .find(|m| m.topic == "interop/retained/a")
        .expect("retained a");
    assert_eq!(
        (a.payload.as_slice(), a.qos, a.retain),
        (&b"retained-a"[..], 1, true)
    );
    let b = retained
        .iter()
        .find(|m| m.topic == "interop/retained/b")
        .expect("retained b");
    assert_eq!(b.payload, b"retained-b");
    assert!(contains(&b.properties, b"text/plain"), "{:?}", b.properties);
    assert!(contains(&b.properties, b"ukey") && contains(&b.properties, b"uval"));

    // Sessions.
    let c311 = db
        .clients
        .iter()
        .find(|c| c.client_id == "offline-311")
        .expect("client 3.1.1");
    let cv5 = db
        .clients
        .iter()
        .find(|c| c.client_id == "offline-v5")
        .expect("client v5");
    assert_eq!(cv5.session_expiry_interval, 3600);
    assert_eq!((c311.listener_port, cv5.listener_port), (port, port));
    assert_eq!(
        c311.session_expiry_interval,
        u32::MAX,
        "3.1.1 persistent: never expires"
    );

    // Subscriptions.
    let s311 = db
        .subs
        .iter()
        .find(|s| s.client_id == "offline-311")
        .expect("sub 3.1.1");
    assert_eq!((s311.topic.as_str(), s311.qos), ("interop/queue", 1));
    let sv5 = db
        .subs
        .iter()
        .find(|s| s.client_id == "offline-v5")
        .expect("sub v5");
    assert_eq!(
        (sv5.topic.as_str(), sv5.qos, sv5.identifier),
        ("interop/v5/#", 2, 7)
    );

    // Queues: QoS is the minimum of publish and subscription QoS.
    let q311 = queue(&db, "offline-311");
    let payloads: Vec<&[u8]> = q311.iter().map(|(_, m)| m.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&b"queued-1"[..], &b"queued-2"[..]]);
    assert!(q311
        .iter()
        .all(|(cm, _)| cm.qos == 1 && cm.direction == direction::OUT));
    let qv5 = queue(&db, "offline-v5");
    assert_eq!(qv5.len(), 1);
    assert_eq!(
        (qv5[0].1.payload.as_slice(), qv5[0].0.qos),
        (&b"v5-queued"[..], 2)
    );

    // Our encoder reproduces mosquitto's file byte for byte.
    assert!(
        encode_plain(&db) == bytes,
        "re-encoded file differs from mosquitto's"
    );
}

/// A retained message, a retained MQTT 5 message with properties, and a
/// persistent session (expiry interval u32::MAX: "never", as mosquitto gives
/// MQTT 3.1.1 clients with clean session off) with one queued QoS 1 message.
fn rust_db() -> PersistDb {
    let mut props = vec![0x01, 0x01, 0x26, 0, 2, b'r', b'k', 0, 2, b'r', b'v'];
    props.insert(0, props.len() as u8);
    PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: 3,
        shutdown: true,
        msgs: vec![
            StoredMessage {
                store_id: 1,
                topic: "rs/retained".into(),
                payload: b"from-rust".to_vec(),
                qos: 1,
                retain: true,
                ..StoredMessage::default()
            },
            StoredMessage {
                store_id: 2,
                source_id: "rs-publisher".into(),
                topic: "rs/queue".into(),
                payload: b"queued-from-rust".to_vec(),
                qos: 1,
                ..StoredMessage::default()
            },
            StoredMessage {
                store_id: 3,
                topic: "rs/retained/v5".into(),
                payload: b"with-props".to_vec(),
                retain: true,
                properties: props,
                ..StoredMessage::default()
            },
        ],
        retained: vec![1, 3],
        clients: vec![PersistClient {
            client_id: "rsclient".into(),
            session_expiry_interval: u32::MAX,
            ..PersistClient::default()
        }],
        client_msgs: vec![PersistClientMsg {
            client_id: "rsclient".into(),
            store_id: 2,
            mid: 1,
            qos: 1,
            state: msg_state::QUEUED,
            direction: direction::OUT,
            ..PersistClientMsg::default()
        }],
        subs: vec![PersistSub {
            client_id: "rsclient".into(),
            topic: "rs/queue".into(),
            qos: 1,
            ..PersistSub::default()
        }],
    }
}

#[test]
fn mosquitto_reads_what_we_write() {
    let Some(tools) = tools() else { return };
    let dir = TempDir::new("write");
    let path = dir.path.join("mosquitto.db");
    persist::save(&path, &rust_db()).unwrap();
    let broker = start_broker(&dir.path);

    // The queued message reaches the persistent session on reconnect...
    let out = run(
        &tools.sub,
        &broker,
        &[
            "-c", "-i", "rsclient", "-q", "1", "-t", "rs/queue", "-C", "1", "-W", "10",
        ],
    );
    assert_eq!(out.trim_end(), "queued-from-rust");
    // ...and the retained ones reach a new subscriber, properties intact.
    let out = run(
        &tools.sub,
        &broker,
        &["-t", "rs/retained", "-C", "1", "-W", "10", "-v"],
    );
    assert_eq!(out.trim_end(), "rs/retained from-rust");
    let out = run(
        &tools.sub,
        &broker,
        &[
            "-V",
            "mqttv5",
            "-t",
            "rs/retained/v5",
            "-C",
            "1",
            "-W",
            "10",
            "-F",
            "%t %p %F %P",
        ],
    );
    assert_eq!(out.trim_end(), "rs/retained/v5 with-props 1 rk:rv");
    let log = broker.log_text();
    stop(broker);
    assert!(!log.contains("Error"), "broker log:\n{log}");

    // mosquitto's own save afterwards: the queue is drained, the rest kept.
    let db = persist::load(&path)
        .unwrap()
        .expect("mosquitto saved a file");
    assert!(queue(&db, "rsclient").is_empty(), "{db:#?}");
    assert!(db.clients.iter().any(|c| c.client_id == "rsclient"));
    assert!(db
        .subs
        .iter()
        .any(|s| s.client_id == "rsclient" && s.topic == "rs/queue"));
    let topics: Vec<&str> = db
        .retained
        .iter()
        .map(|&id| msg(&db, id).topic.as_str())
        .collect();
    assert!(topics.contains(&"rs/retained") && topics.contains(&"rs/retained/v5"));
    assert!(db.last_db_id >= 3);
}

/// mosquitto before 2.0.16 (Debian's 2.0.11 included) saves a client without
/// a username after one with a username wrongly: it inherits that username,
/// every second time with a byte-swapped length that drags heap memory into
/// the file. mosquitto still loads such files, so we must too.
#[test]
fn we_read_mosquitto_files_with_usernames() {
    let Some(tools) = tools() else { return };
    let dir = TempDir::new("users");
    let broker = start_broker(&dir.path);
    let ids: Vec<String> = (0..12).map(|i| format!("nouser{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        if i == 4 {
            run(
                &tools.sub,
                &broker,
                &["-c", "-i", "withuser", "-u", "alice", "-t", "u", "-E"],
            );
        }
        run(&tools.sub, &broker, &["-c", "-i", id, "-t", "u", "-E"]);
    }
    stop(broker);

    let bytes = fs::read(dir.path.join("mosquitto.db")).unwrap();
    let db = decode(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
    let user = |id: &str| {
        db.clients
            .iter()
            .find(|c| c.client_id == id)
            .map(|c| c.username.clone())
            .unwrap_or_else(|| panic!("no client {id}"))
    };
    assert_eq!(user("withuser"), "alice");
    let inherited = ids.iter().filter(|id| user(id) == "alice").count();
    eprintln!(
        "{} bytes, {} clients; {inherited} clients without a username were saved with \
         'alice' (mosquitto < 2.0.16 bug)",
        bytes.len(),
        db.clients.len()
    );
    assert_eq!(db.clients.len(), 13);
}
