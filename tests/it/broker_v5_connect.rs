//! MQTT 5 connections: CONNECT/CONNACK, the v5 forms of what the broker
//! sends, refusals and DISCONNECT reason codes, compared byte for byte with
//! Debian's mosquitto 2.0.11 where it is installed.

use std::time::{Duration, Instant};

use crate::harness::*;

/// A v5 SUBSCRIBE with an empty property block.
fn subscribe_v5(id: u16, filter: &str, options: u8) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.push(0);
    put_str(&mut body, filter.as_bytes());
    body.push(options);
    packet(0x82, &body)
}

/// A v5 PUBLISH with an empty property block.
fn publish_v5(topic: &str, payload: &[u8], qos: u8, id: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.push(0);
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

fn unsubscribe_v5(id: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.push(0);
    for f in filters {
        put_str(&mut body, f.as_bytes());
    }
    packet(0xA2, &body)
}

/// Every packet two v5 clients receive in a fixed exchange on the broker
/// at `port`: CONNACK, SUBACK, PUBACK, PUBLISH at QoS 1 and 2 with their
/// acks, PINGRESP, UNSUBACK.
fn v5_transcript(port: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let (mut sub, connack) = Client::connect_opts(port, &ConnectOpts::v5("v5-sub"));
    out.push(connack);
    sub.send_raw(&subscribe_v5(1, "v5/t", 2));
    out.push(sub.expect_raw());
    let (mut publ, connack) = Client::connect_opts(port, &ConnectOpts::v5("v5-pub"));
    out.push(connack);
    publ.send_raw(&publish_v5("v5/t", b"one", 1, 5));
    out.push(publ.expect_raw());
    let got = sub.expect_raw();
    sub.send_raw(&ack_bytes(0x40, 1));
    out.push(got);
    publ.send_raw(&publish_v5("v5/t", b"two", 2, 6));
    out.push(publ.expect_raw()); // PUBREC
    publ.send_raw(&ack_bytes(0x62, 6));
    out.push(publ.expect_raw()); // PUBCOMP
    out.push(sub.expect_raw()); // PUBLISH QoS 2
    sub.send_raw(&ack_bytes(0x50, 2));
    out.push(sub.expect_raw()); // PUBREL
    sub.send_raw(&ack_bytes(0x70, 2));
    sub.send_raw(&PINGREQ);
    out.push(sub.expect_raw());
    sub.send_raw(&unsubscribe_v5(3, &["v5/t", "v5/none"]));
    out.push(sub.expect_raw());
    sub.send_raw(&DISCONNECT);
    sub.expect_closed();
    publ.disconnect();
    out
}

fn debian(conf: &str) -> Option<RefBroker> {
    let dir = TempDir::new("v5-ref");
    RefBroker::start(|port| {
        dir.write(
            &format!("m{port}.conf"),
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{conf}\n"),
        )
    })
}

#[test]
fn a_v5_exchange_is_byte_exact() {
    let b = Broker::start("");
    let ours = v5_transcript(b.port);
    assert_eq!(ours[0], [0x20, 9, 0, 0, 6, 0x22, 0, 10, 0x21, 0, 20]);
    // SUBACK with an empty property block, granted QoS 2.
    assert_eq!(ours[1], [0x90, 4, 0, 1, 0, 2]);
    // The delivered PUBLISH has a property block (empty).
    assert_eq!(
        ours[4],
        [0x32, 12, 0, 4, b'v', b'5', b'/', b't', 0, 1, 0, b'o', b'n', b'e']
    );
    // UNSUBACK with one reason code per filter.
    assert_eq!(ours[10].len(), 7);
    if let Some(reference) = debian("") {
        let theirs = v5_transcript(reference.port);
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            // mosquitto says 0x11 "no subscription existed" for the second
            // filter: part B (v5msg) answers that.
            if i == 10 {
                assert_eq!(o[..6], t[..6], "UNSUBACK head");
                continue;
            }
            assert_eq!(o, t, "packet {i} differs from Debian's mosquitto");
        }
        assert_eq!(ours.len(), theirs.len());
    }
}

#[test]
fn v5_connack_properties_follow_the_configuration_like_mosquitto() {
    let conf = "max_keepalive 30\nmax_packet_size 2000\nretain_available false\n\
                max_inflight_messages 7\nmax_topic_alias 4\n";
    let exchange = |port: u16| {
        // A session expiry interval of 0 (the default, said explicitly).
        let opts = ConnectOpts::v5("props")
            .keepalive(0)
            .props(&[0x11, 0, 0, 0, 0]);
        let (c, connack) = Client::connect_opts(port, &opts);
        c.disconnect();
        connack
    };
    let b = Broker::start(conf);
    let ours = exchange(b.port);
    #[rustfmt::skip]
    let want = [0x20, 19, 0, 0, 16, 0x22, 0, 4, 0x13, 0, 30, 0x25, 0,
        0x27, 0, 0, 0x07, 0xD0, 0x21, 0, 7];
    // mosquitto sends no max QoS at 2; with max_qos it adds 0x24 last.
    assert_eq!(ours, want);
    if let Some(r) = debian(conf) {
        assert_eq!(ours, exchange(r.port));
    }
}

#[test]
fn debian_v5_tools_round_trip_through_ours() {
    let (Some(_), Some(_)) = (
        require_tool("mosquitto_sub", "Debian's client"),
        require_tool("mosquitto_pub", "Debian's client"),
    ) else {
        return;
    };
    let b = Broker::start("");
    let p = b.port_arg();
    let sub_args = ["-p", &p, "-V", "mqttv5", "-t", "v5/#", "-q", "1", "-C", "2"];
    let mut sub = Sub::start("/usr/bin/mosquitto_sub", &sub_args);
    for (m, q) in [("first", "1"), ("second", "2")] {
        let args = ["-p", &p, "-V", "mqttv5", "-t", "v5/x", "-m", m, "-q", q];
        let r = run("/usr/bin/mosquitto_pub", &args);
        assert_eq!(r.code, Some(0), "mosquitto_pub: {}", r.stderr);
    }
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
    assert_eq!(sub.output(), b"first\nsecond\n");
}

/// paho's MQTT 5 session and will scenarios (tests/it/interop/paho_v5conn.py).
fn paho_v5conn(port: u16) {
    let Some(python) = paho_python() else {
        return;
    };
    let port = port.to_string();
    let text = run_paho_script(&python, "paho_v5conn.py", &["--port", &port]);
    assert!(text.contains("paho v5conn: 3 passed, 0 failed"), "{text}");
}

#[test]
fn paho_v5_session_expiry_and_will_delay() {
    let b = Broker::start("");
    paho_v5conn(b.port);
}

#[test]
fn paho_v5_session_expiry_and_will_delay_against_debians_broker() {
    if let Some(r) = debian("") {
        paho_v5conn(r.port);
    }
}

/// Every packet `c` receives until the broker closes (at most 8, each
/// within the timeout); `Err` if the connection stayed open.
fn until_closed(c: &mut Client) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for _ in 0..8 {
        match c.read_raw(TIMEOUT) {
            Read1::Packet(p) => got.push(p),
            Read1::Closed => return got,
            Read1::Timeout => panic!("{}: still open; got {got:02x?}", c.name),
        }
    }
    panic!("{}: too many packets: {got:02x?}", c.name)
}

/// A v5 CONNECT `opts`; everything up to the close.
fn refused(port: u16, opts: &ConnectOpts) -> Vec<Vec<u8>> {
    let (mut c, connack) = Client::connect_opts(port, opts);
    let mut all = vec![connack];
    all.extend(until_closed(&mut c));
    all
}

/// Runs `exchange` on ours with `conf` and, where installed, on Debian's
/// mosquitto with the same lines; returns (ours, Debian's).
fn both(
    conf: &str,
    exchange: impl Fn(u16) -> Vec<Vec<u8>>,
) -> (Vec<Vec<u8>>, Option<Vec<Vec<u8>>>) {
    let b = Broker::start(conf);
    let ours = exchange(b.port);
    let theirs = debian(conf).map(|r| exchange(r.port));
    (ours, theirs)
}

#[test]
fn connack_refusals_are_byte_exact() {
    let will = |qos, retain| ConnectOpts::v5("w").will("w/t", b"bye", qos, retain);
    let mut auth = ConnectOpts::v5("auth");
    auth.props = vec![0x15, 0, 5, b'S', b'C', b'R', b'A', b'M'];
    let cases: Vec<(&str, ConnectOpts, Vec<u8>)> = vec![
        (
            "max_qos 1",
            will(2, false),
            vec![0x20, 5, 0, 0x9B, 2, 0x24, 1],
        ),
        (
            "retain_available false",
            will(0, true),
            vec![0x20, 3, 0, 0x9A, 0],
        ),
        (
            "message_size_limit 2",
            will(0, false),
            vec![0x20, 3, 0, 0x95, 0],
        ),
        (
            "clientid_prefixes ok-",
            ConnectOpts::v5("no"),
            vec![0x20, 3, 0, 0x87, 0],
        ),
        ("", auth, vec![0x20, 3, 0, 0x8C, 0]),
    ];
    for (conf, opts, want) in cases {
        let (ours, theirs) = both(conf, |port| refused(port, &opts));
        assert_eq!(ours, std::slice::from_ref(&want), "{conf}: ours");
        if let Some(theirs) = theirs {
            assert_eq!(ours, theirs, "{conf}: differs from Debian's mosquitto");
        }
    }
}

/// Connects a v5 client, sends `bytes`, returns what came back until the
/// close.
fn after_sending(port: u16, bytes: &[u8]) -> Vec<Vec<u8>> {
    let (mut c, _) = Client::connect_opts(port, &ConnectOpts::v5("sender"));
    c.send_raw(bytes);
    until_closed(&mut c)
}

/// The reason code of the one DISCONNECT in `packets` (with or without
/// properties).
fn disconnect_reason(packets: &[Vec<u8>]) -> u8 {
    match packets {
        [p] if p[0] == 0xE0 && p.len() >= 3 => p[2],
        other => panic!("expected one DISCONNECT, got {other:02x?}"),
    }
}

#[test]
fn server_disconnect_reason_codes_match_mosquitto() {
    // (config, bytes after CONNECT, reason code)
    let cases: [(&str, Vec<u8>, u8); 3] = [
        // DISCONNECT setting a session expiry when it was 0: protocol error.
        ("", vec![0xE0, 7, 0, 5, 0x11, 0, 0, 0, 9], 0x82),
        // PUBLISH whose topic is longer than the packet: malformed.
        ("", vec![0x30, 3, 0, 9, b'x'], 0x81),
        // PUBLISH over max_packet_size: packet too large.
        ("max_packet_size 40", publish_v5("t", &[0; 60], 0, 0), 0x95),
    ];
    for (conf, bytes, reason) in cases {
        let (ours, theirs) = both(conf, |port| after_sending(port, &bytes));
        assert_eq!(disconnect_reason(&ours), reason, "{bytes:02x?}: ours");
        // Ours adds a reason string (see README); the code is the same.
        if let Some(theirs) = theirs {
            assert_eq!(disconnect_reason(&theirs), reason, "{bytes:02x?}: Debian's");
        }
    }
}

/// The reason code of the DISCONNECT before a close; mosquitto 2.0.11
/// closes these silently (README: we follow spec section 4.13).
fn announced(got: &[Vec<u8>], reason: u8) {
    if is_reference() {
        assert!(got.is_empty(), "{got:02x?}");
    } else {
        assert_eq!(disconnect_reason(got), reason);
    }
}

#[test]
fn takeover_keepalive_and_shutdown_are_announced_to_v5_clients() {
    let mut b = Broker::start("");
    let (mut old, _) = Client::connect_opts(b.port, &ConnectOpts::v5("same"));
    let (_new, _) = Client::connect_opts(b.port, &ConnectOpts::v5("same"));
    let got = until_closed(&mut old);
    announced(&got, 0x8E);
    if !is_reference() {
        // The reason string as ours writes it.
        let mut want = vec![0xE0, 23, 0x8E, 21, 0x1F, 0, 18];
        want.extend_from_slice(b"session taken over");
        assert_eq!(got, [want]);
    }
    let (mut idle, _) = Client::connect_opts(b.port, &ConnectOpts::v5("idle").keepalive(1));
    announced(&until_closed(&mut idle), 0x8D);
    let (mut stay, _) = Client::connect_opts(b.port, &ConnectOpts::v5("stay"));
    b.stop_gracefully();
    announced(&until_closed(&mut stay), 0x8B);
}

#[test]
fn a_sessions_expiry_survives_a_restart() {
    if is_reference() {
        return; // 2.0.11 does not expire restored sessions (README).
    }
    let dir = TempDir::new("v5expiry");
    let conf = move |port: u16| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nautosave_interval 0\n",
            dir.path.display()
        )
    };
    let mut b = Broker::start_config(&conf);
    let port = b.port;
    // Session expiry 3 s (property 0x11).
    let opts = ConnectOpts::v5("exp")
        .props(&[0x11, 0, 0, 0, 3])
        .clean(false);
    let (c, _) = Client::connect_opts(port, &opts);
    c.disconnect();
    let away = Instant::now();
    let (c, _) = Client::connect_opts(
        port,
        &ConnectOpts::v5("never").props(&[0x11, 0xFF, 0xFF, 0xFF, 0xFF]),
    );
    c.disconnect();
    b.stop_gracefully();
    let b = Broker::start_on(port, &conf);
    let (c, connack) = Client::connect_opts(b.port, &ConnectOpts::v5("never").clean(false));
    assert_eq!(
        connack[2], 1,
        "the never-expiring session is back: {connack:02x?}"
    );
    c.disconnect();
    // Expired by the timer restored from the database, not before its 3 s.
    assert!(b.wait_for_log("Expiring client exp due to timeout.", TIMEOUT));
    assert!(
        away.elapsed() >= Duration::from_secs(3),
        "{:?}",
        away.elapsed()
    );
    let (c, connack) = Client::connect_opts(b.port, &ConnectOpts::v5("exp").clean(false));
    assert_eq!(connack[2], 0, "expired: {connack:02x?}");
    c.disconnect();
}

/// The 3.1.1 behaviours mosquitto users rely on, on ours and Debian's.
fn v311_rules(port: u16) {
    // More than 200 `/` in a topic or filter: closed.
    let deep = "a/".repeat(201);
    let mut c = Client::connect(port, "deep", true, 60);
    c.publish0(&deep, b"x", false);
    c.expect_closed();
    let mut c = Client::connect(port, "deep-sub", true, 60);
    c.send_raw(&subscribe_bytes(1, &[(&deep, 0)]));
    c.expect_closed();
    // Exactly 200 are fine.
    let mut c = Client::connect(port, "200", true, 60);
    c.publish(&"a/".repeat(200), b"x", 1, false);
    c.disconnect();
    // A will over message_size_limit (2 here): CONNACK 5.
    let opts = ConnectOpts::v311("bigwill").will("w", b"too big", 0, false);
    let (mut c, connack) = Client::connect_opts(port, &opts);
    assert_eq!(connack, [0x20, 2, 0, 5]);
    c.expect_closed();
    // PUBCOMP for a QoS 1 message: protocol error.
    let mut sub = Client::connect(port, "acker", true, 60);
    sub.subscribe("ack/t", 1);
    let mut publ = Client::connect(port, "ack-pub", true, 60);
    publ.publish("ack/t", b"1", 1, false);
    let p = sub.expect_publish();
    sub.send_raw(&ack_bytes(0x70, p.packet_id));
    sub.expect_closed();
    // Taking over one's own persistent session: no will.
    let mut watcher = Client::connect(port, "watcher", true, 60);
    watcher.subscribe("wills/#", 0);
    let opts = ConnectOpts::v311("own")
        .clean(false)
        .will("wills/own", b"x", 0, false);
    let (_first, _) = Client::connect_opts(port, &opts);
    let (second, _) = Client::connect_opts(port, &opts);
    watcher.expect_nothing();
    second.drop_connection();
    assert_eq!(watcher.expect_publish().topic, "wills/own");
}

#[test]
fn v311_topic_depth_will_size_ack_types_and_takeover_like_mosquitto() {
    let b = Broker::start("message_size_limit 2\n");
    v311_rules(b.port);
    if let Some(r) = debian("message_size_limit 2\n") {
        v311_rules(r.port);
    }
}
