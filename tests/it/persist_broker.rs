//! Persistence through the real broker binary: what survives a restart,
//! SIGUSR1, corrupt files, and databases shared with Debian's mosquitto.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::*;
use mosquitto_rs::broker::persist;

/// A directory any user can write: Debian's mosquitto drops root
/// privileges to its own user before saving.
fn db_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    let _ = fs::set_permissions(&d.path, fs::Permissions::from_mode(0o777));
    d
}

fn persist_conf(dir: &Path, extra: &str) -> String {
    format!(
        "persistence true\npersistence_location {}/\nautosave_interval 0\n{extra}",
        dir.display()
    )
}

/// A whole config file: an anonymous loopback listener on `port` plus
/// persistence in `dir`.
fn listener_conf(port: u16, dir: &Path) -> String {
    format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\n{}",
        persist_conf(dir, "")
    )
}

fn start(dir: &Path, extra: &str) -> Broker {
    let conf = persist_conf(dir, extra);
    Broker::start(&conf)
}

fn wait_for_file(p: &Path) -> bool {
    wait_until(TIMEOUT, || p.exists())
}

fn session(port: u16, id: &str) -> (Client, Vec<u8>) {
    Client::connect_opts(port, &ConnectOpts::v311(id).clean(false))
}

#[test]
fn retained_and_offline_sessions_survive_restart() {
    let dir = db_dir("restart");
    let mut b = start(&dir.path, "");
    let (mut s, _) = session(b.port, "keeper");
    s.subscribe_many(&[("keep/#", 2)]);
    s.disconnect();
    let mut p = b.client("keep-pub");
    p.publish("retained/one", b"R1", 1, true);
    p.publish("keep/q1", b"queued-1", 1, false);
    p.publish("keep/q2", b"queued-2", 2, false);
    p.disconnect();
    assert!(b.stop_gracefully().is_some(), "clean shutdown");
    assert!(dir.join("mosquitto.db").exists(), "saved at shutdown");

    let b = start(&dir.path, "");
    let (mut s, connack) = session(b.port, "keeper");
    assert_eq!(connack, [0x20, 0x02, 0x01, 0x00], "session present");
    let a = s.receive_publish();
    let c = s.receive_publish();
    assert_eq!(
        (a.topic.as_str(), &a.payload[..]),
        ("keep/q1", &b"queued-1"[..])
    );
    assert_eq!(
        (c.topic.as_str(), &c.payload[..]),
        ("keep/q2", &b"queued-2"[..])
    );
    assert_eq!(c.qos, QoS::ExactlyOnce);
    let mut r = b.client("late-reader");
    r.subscribe("retained/#", 1);
    let m = r.expect_publish();
    assert!(m.retain);
    assert_eq!(m.payload, b"R1");
    // The subscription itself survived too: new messages arrive live.
    let mut p = b.client("keep-pub-2");
    p.publish("keep/live", b"live", 1, false);
    assert_eq!(s.receive_publish().payload, b"live");
}

#[test]
fn interrupted_qos2_resumes_at_pubrel() {
    let dir = db_dir("qos2");
    let mut b = start(&dir.path, "");
    let (mut s, _) = session(b.port, "q2-sub");
    s.subscribe("q2/t", 2);
    let mut p = b.client("q2-pub");
    p.publish("q2/t", b"once", 2, false);
    let m = s.expect_publish();
    s.send_raw(&ack_bytes(0x50, m.packet_id)); // PUBREC
    s.expect_bytes(&ack_bytes(0x62, m.packet_id)); // PUBREL; no PUBCOMP yet
    drop(s);
    assert!(b.stop_gracefully().is_some());

    let b = start(&dir.path, "");
    let (mut s, connack) = session(b.port, "q2-sub");
    assert_eq!(connack[2], 1, "session present");
    // The broker picks up at PUBREL, never sending the message again.
    s.expect_bytes(&ack_bytes(0x62, m.packet_id));
    s.send_raw(&ack_bytes(0x70, m.packet_id));
    s.expect_nothing();
}

#[test]
fn sigusr1_writes_the_database() {
    let dir = db_dir("usr1");
    let b = start(&dir.path, "");
    let mut p = b.client("usr1-pub");
    p.publish("usr1/r", b"kept", 0, true);
    assert_broker_healthy(b.port); // the publish has been processed
    let pid = b.pid().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid, libc::SIGUSR1);
    }
    let db_path = dir.join("mosquitto.db");
    assert!(wait_for_file(&db_path), "SIGUSR1 saved the database");
    let db = persist::load(&db_path).expect("valid").expect("not empty");
    let topics: Vec<&str> = db.msgs.iter().map(|m| m.topic.as_str()).collect();
    assert!(topics.contains(&"usr1/r"), "{topics:?}");
}

#[test]
fn corrupt_database_refuses_start_unless_discard_is_set() {
    let dir = db_dir("corrupt");
    let db_path = dir.join("mosquitto.db");
    fs::write(&db_path, vec![0u8; 4096]).expect("write zeros");
    let conf = dir.write("refuse.conf", &listener_conf(free_port(), &dir.path));
    let out = run_to_exit(&["-c", conf.to_str().unwrap_or("")], &dir, TIMEOUT);
    assert_ne!(out.status.code(), Some(0), "refused to start");
    let text = out.output();
    if !is_reference() {
        assert!(text.contains("offset 0"), "{text}");
        assert!(text.contains("persistence_discard_corrupt"), "{text}");
        assert_eq!(
            fs::read(&db_path).map(|b| b.len()).ok(),
            Some(4096),
            "file untouched"
        );

        let b = start(&dir.path, "persistence_discard_corrupt true\n");
        assert_broker_healthy(b.port);
        let aside = fs::read_dir(&dir.path)
            .expect("list")
            .filter_map(|e| e.ok())
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("mosquitto.db.corrupt-")
            });
        assert!(aside, "corrupt file moved aside");
    }
}

#[test]
fn truncated_database_is_reported_with_its_offset() {
    if is_reference() {
        return;
    }
    let dir = db_dir("trunc");
    let mut b = start(&dir.path, "");
    let mut p = b.client("trunc-pub");
    p.publish("t/r", b"some retained payload", 0, true);
    p.disconnect();
    assert!(b.stop_gracefully().is_some());
    let db_path = dir.join("mosquitto.db");
    let bytes = fs::read(&db_path).expect("saved");
    // Cut in the middle of the last chunk, and exactly at a chunk boundary
    // (our end marker is the last 12 bytes): both are refused.
    for cut in [5, 12] {
        fs::write(&db_path, &bytes[..bytes.len() - cut]).expect("truncate");
        let conf = dir.write("t.conf", &listener_conf(free_port(), &dir.path));
        let out = run_to_exit(&["-c", conf.to_str().unwrap_or("")], &dir, TIMEOUT);
        assert_ne!(out.status.code(), Some(0), "cut {cut} accepted");
        assert!(out.output().contains("offset "), "{}", out.output());
    }
}

/// Debian's mosquitto writes the database; ours loads it and delivers.
#[test]
fn database_from_debian_mosquitto_loads_in_ours() {
    let dir = db_dir("from-debian");
    let Some(debian) =
        RefBroker::start(|port| dir.write("debian.conf", &listener_conf(port, &dir.path)))
    else {
        return;
    };
    let port = debian.port;
    let (mut s, _) = session(port, "migrant");
    s.subscribe("mig/#", 1);
    s.disconnect();
    let mut p = Client::connect(port, "mig-pub", true, 60);
    p.publish("mig/q", b"from-debian", 1, false);
    p.publish("mig/retained", b"kept-by-debian", 1, true);
    p.disconnect();
    debian.stop();
    assert!(dir.join("mosquitto.db").exists());

    let b = Broker::start_config(|port| listener_conf(port, &dir.path));
    let (mut s, connack) = session(b.port, "migrant");
    assert_eq!(connack[2], 1, "session present after migration");
    let m = s.receive_publish();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("mig/q", &b"from-debian"[..])
    );
    let mut r = b.client("mig-reader");
    r.subscribe("mig/retained", 0);
    assert_eq!(r.expect_publish().payload, b"kept-by-debian");
}

/// Ours writes the database; Debian's mosquitto loads it and delivers.
#[test]
fn database_from_ours_loads_in_debian_mosquitto() {
    let dir = db_dir("to-debian");
    let mut b = start(&dir.path, "");
    let (mut s, _) = session(b.port, "emigrant");
    s.subscribe("emi/#", 1);
    s.disconnect();
    let mut p = b.client("emi-pub");
    p.publish("emi/q", b"from-ours", 1, false);
    p.publish("emi/retained", b"kept-by-ours", 1, true);
    p.disconnect();
    assert!(b.stop_gracefully().is_some());
    let db_path = dir.join("mosquitto.db");
    assert!(db_path.exists());
    // Debian's broker drops to its own user before reading: make sure that
    // user can read the file, whoever ours ran as.
    fs::set_permissions(&db_path, fs::Permissions::from_mode(0o644)).expect("chmod");

    let Some(debian) =
        RefBroker::start(|port| dir.write("debian.conf", &listener_conf(port, &dir.path)))
    else {
        return;
    };
    let port = debian.port;
    let (mut s, connack) = session(port, "emigrant");
    assert_eq!(connack[2], 1, "Debian sees the session");
    let m = s.receive_publish();
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("emi/q", &b"from-ours"[..])
    );
    let mut r = Client::connect(port, "emi-reader", true, 60);
    r.subscribe("emi/retained", 0);
    assert_eq!(r.expect_publish().payload, b"kept-by-ours");
}

/// A QoS 2 publisher's PUBLISH was received (PUBREC sent) but not yet
/// released when the broker restarted: the resent PUBLISH is recognised as
/// a duplicate, so the subscriber still gets the message exactly once.
#[test]
fn incoming_qos2_survives_restart_exactly_once() {
    if is_reference() {
        return; // mosquitto holds the message until PUBREL instead
    }
    let dir = db_dir("qos2-in");
    let mut b = start(&dir.path, "");
    let (mut sub, _) = session(b.port, "q2-in-sub");
    sub.subscribe("q2in/t", 2);
    let (mut publ, _) = session(b.port, "q2-in-pub");
    publ.send_raw(&publish_bytes("q2in/t", b"once", 2, false, false, 7));
    publ.expect_bytes(&ack_bytes(0x50, 7)); // PUBREC, no PUBREL yet
    assert_eq!(sub.receive_publish().payload, b"once");
    drop(publ);
    drop(sub);
    assert!(b.stop_gracefully().is_some());

    let b = start(&dir.path, "");
    let (mut sub, _) = session(b.port, "q2-in-sub");
    let (mut publ, connack) = session(b.port, "q2-in-pub");
    assert_eq!(connack[2], 1);
    // The publisher never saw our PUBREC and resends with DUP.
    publ.send_raw(&publish_bytes("q2in/t", b"once", 2, false, true, 7));
    publ.expect_bytes(&ack_bytes(0x50, 7));
    publ.send_raw(&ack_bytes(0x62, 7));
    publ.expect_bytes(&ack_bytes(0x70, 7));
    sub.expect_nothing();
}

/// The topics of the retained messages a new subscriber gets for `filter`,
/// sorted.
fn retained_topics(port: u16, id: &str, user: &str, filter: &str) -> Vec<String> {
    let mut o = ConnectOpts::v311(id);
    o.username = Some(user.into());
    let (mut c, connack) = Client::connect_opts(port, &o);
    assert_eq!(connack, CONNACK_OK);
    c.subscribe(filter, 0);
    let mut topics = Vec::new();
    while let Read1::Packet(raw) = c.read_raw(QUIET) {
        match c.decode(&raw) {
            Packet::Publish(p) => topics.push(p.topic),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    topics.sort();
    topics
}

#[test]
fn retained_message_sources_survive_restart_for_check_retain_source() {
    let dir = db_dir("retain-source");
    let acl = dir.write(
        "acl",
        "user alice\ntopic readwrite src/alice/#\nuser carol\ntopic readwrite src/carol/#\n\
         user bob\ntopic read src/#\n",
    );
    let extra = format!("acl_file {}\ncheck_retain_source true\n", acl.display());
    let mut b = start(&dir.path, &extra);
    let publish_as = |id: &str, user: &str, topic: &str| {
        let mut o = ConnectOpts::v311(id);
        o.username = Some(user.into());
        let (mut c, connack) = Client::connect_opts(b.port, &o);
        assert_eq!(connack, CONNACK_OK);
        c.publish(topic, b"kept", 1, true);
        c.disconnect();
    };
    publish_as("src-alice", "alice", "src/alice/1");
    publish_as("src-carol", "carol", "src/carol/1");
    let port = b.port;
    assert!(b.stop_gracefully().is_some(), "clean shutdown");

    // The file names each retained message's publisher and listener port.
    let db = persist::load(&dir.join("mosquitto.db"))
        .expect("valid")
        .expect("not empty");
    let alice = db
        .msgs
        .iter()
        .find(|m| m.topic == "src/alice/1")
        .expect("alice's message saved");
    assert_eq!(
        (
            alice.source_id.as_str(),
            alice.source_username.as_str(),
            alice.source_port
        ),
        ("src-alice", "alice", port)
    );

    // alice loses write access while the broker is down: her message is
    // restored but not sent; carol's is.
    fs::write(
        &acl,
        "user alice\ntopic read src/alice/#\nuser carol\ntopic readwrite src/carol/#\n\
         user bob\ntopic read src/#\n",
    )
    .expect("rewrite acl");
    let mut b = start(&dir.path, &extra);
    assert_eq!(
        retained_topics(b.port, "src-bob", "bob", "src/#"),
        ["src/carol/1"]
    );
    // Held back, not deleted: saved again, and sent when nothing checks.
    assert!(b.stop_gracefully().is_some(), "clean shutdown");
    let b = start(&dir.path, &format!("acl_file {}\n", acl.display()));
    assert_eq!(
        retained_topics(b.port, "src-bob2", "bob", "src/#"),
        ["src/alice/1", "src/carol/1"]
    );
}
