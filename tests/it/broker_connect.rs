//! CONNECT / CONNACK: protocol versions, client ids, connect flags, the
//! first-packet rules, session takeover, connection limits.

use crate::harness::*;

#[test]
fn connect_v311_connack_is_byte_exact() {
    let b = Broker::start("");
    let mut c = Client::raw(b.port, "v311");
    // Hand-written CONNECT: "MQTT", level 4, clean session, keepalive 60, id "v311".
    c.send_raw(&[
        0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x04, b'v',
        b'3', b'1', b'1',
    ]);
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x00]);
    c.assert_alive();
    c.disconnect();
}

#[test]
fn connect_v31_connack_is_byte_exact() {
    let b = Broker::start("");
    let mut c = Client::raw(b.port, "v31");
    c.version = ProtocolVersion::V31;
    // "MQIsdp", level 3, clean session, keepalive 60, id "v31".
    c.send_raw(&[
        0x10, 0x11, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3C, 0x00,
        0x03, b'v', b'3', b'1',
    ]);
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x00]);
    // A 3.1 client can publish and subscribe like any other.
    c.subscribe("v31/t", 1);
    c.publish("v31/t", b"hello", 1, false);
    let p = c.receive_publish();
    assert_eq!(
        (p.topic.as_str(), p.payload.as_slice()),
        ("v31/t", &b"hello"[..])
    );
    c.disconnect();
}

#[test]
fn bad_protocol_version_gets_connack_1_then_close() {
    let b = Broker::start("");
    for (name, level) in [
        (&b"MQTT"[..], 3u8),
        (&b"MQTT"[..], 6),
        (&b"MQTT"[..], 0),
        (&b"MQIsdp"[..], 4),
    ] {
        let opts = ConnectOpts {
            protocol_name: name.to_vec(),
            level,
            ..ConnectOpts::v311("badver")
        };
        let mut c = Client::raw(b.port, &format!("level-{level}"));
        c.send_raw(&opts.bytes());
        c.expect_bytes(&[0x20, 0x02, 0x00, 0x01]);
        c.expect_closed();
    }
    assert_broker_healthy(b.port);
}

#[test]
fn unknown_protocol_name_closes_without_connack() {
    let b = Broker::start("");
    for name in [&b"MQTX"[..], b"MQIsdq", b"MQTTT", b"", b"mqtt"] {
        let opts = ConnectOpts {
            protocol_name: name.to_vec(),
            ..ConnectOpts::v311("badname")
        };
        let mut c = Client::raw(b.port, &format!("name-{}", String::from_utf8_lossy(name)));
        c.send_raw(&opts.bytes());
        c.expect_closed();
    }
    assert_broker_healthy(b.port);
}

#[test]
fn empty_client_id_with_clean_session_gets_an_assigned_id() {
    let b = Broker::start("");
    let (mut c, connack) = Client::connect_opts(b.port, &ConnectOpts::v311(""));
    assert_eq!(connack, CONNACK_OK);
    // The assigned id uses auto_id_prefix (default "auto-") and is logged.
    assert!(
        b.wait_for_log(" as auto-", TIMEOUT),
        "no 'as auto-' in the log:\n{}",
        b.log_text()
    );
    c.subscribe("auto/t", 0);
    c.publish0("auto/t", b"x", false);
    assert_eq!(c.expect_publish().payload, b"x");
    // Two anonymous clients get distinct ids: neither takes over the other.
    let (mut d, connack) = Client::connect_opts(b.port, &ConnectOpts::v311(""));
    assert_eq!(connack, CONNACK_OK);
    c.assert_alive();
    d.assert_alive();
}

#[test]
fn auto_id_prefix_is_used() {
    let b = Broker::start("auto_id_prefix pfx-");
    let (mut c, connack) = Client::connect_opts(b.port, &ConnectOpts::v311(""));
    assert_eq!(connack, CONNACK_OK);
    assert!(
        b.wait_for_log(" as pfx-", TIMEOUT),
        "no 'as pfx-' in the log:\n{}",
        b.log_text()
    );
    c.assert_alive();
}

#[test]
fn empty_client_id_without_clean_session_is_rejected() {
    let b = Broker::start("");
    let mut c = Client::raw(b.port, "empty-persistent");
    c.send_raw(&ConnectOpts::v311("").clean(false).bytes());
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x02]);
    c.expect_closed();
}

#[test]
fn empty_client_id_in_v31_is_rejected() {
    let b = Broker::start("");
    let mut c = Client::raw(b.port, "empty-v31");
    c.send_raw(&ConnectOpts::v31("").bytes());
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x02]);
    c.expect_closed();
}

#[test]
fn allow_zero_length_clientid_false_rejects_empty_id() {
    let b = Broker::start("allow_zero_length_clientid false");
    let mut c = Client::raw(b.port, "empty-disallowed");
    c.send_raw(&ConnectOpts::v311("").bytes());
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x02]);
    c.expect_closed();
    // Non-empty ids are still fine.
    let mut ok = Client::connect(b.port, "named", true, 60);
    ok.assert_alive();
}

#[test]
fn first_packet_not_connect_closes() {
    let b = Broker::start("");
    let firsts: Vec<(&str, Vec<u8>)> = vec![
        ("pingreq", PINGREQ.to_vec()),
        ("publish", publish_bytes("a/b", b"x", 0, false, false, 0)),
        ("subscribe", subscribe_bytes(1, &[("a/b", 0)])),
        ("disconnect", DISCONNECT.to_vec()),
        ("connack", CONNACK_OK.to_vec()),
    ];
    for (what, bytes) in firsts {
        let mut c = Client::raw(b.port, what);
        c.send_raw(&bytes);
        c.expect_closed();
    }
    assert_broker_healthy(b.port);
}

#[test]
fn second_connect_closes() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "twice", true, 60);
    c.send_raw(&ConnectOpts::v311("twice").bytes());
    c.expect_closed();
    assert_broker_healthy(b.port);
}

#[test]
fn connect_reserved_flag_closes() {
    let b = Broker::start("");
    let mut bytes = ConnectOpts::v311("reserved").bytes();
    // Connect flags byte: after 0x10 len, 00 04 MQTT, level.
    bytes[9] |= 0x01;
    let mut c = Client::raw(b.port, "reserved");
    c.send_raw(&bytes);
    c.expect_closed();
}

#[test]
fn connect_fixed_header_flags_close_in_v311() {
    let b = Broker::start("");
    let mut bytes = ConnectOpts::v311("hdrflags").bytes();
    bytes[0] = 0x12;
    let mut c = Client::raw(b.port, "hdrflags");
    c.send_raw(&bytes);
    c.expect_closed();
}

#[test]
fn will_qos_3_closes() {
    let b = Broker::start("");
    let mut c = Client::raw(b.port, "willqos3");
    c.send_raw(
        &ConnectOpts::v311("willqos3")
            .will("w", b"x", 3, false)
            .bytes(),
    );
    c.expect_closed();
}

#[test]
fn will_qos_or_retain_without_will_flag_closes() {
    let b = Broker::start("");
    for (bits, what) in [(0x08u8, "qos"), (0x20, "retain")] {
        let mut bytes = ConnectOpts::v311("nowill").bytes();
        bytes[9] |= bits;
        let mut c = Client::raw(b.port, what);
        c.send_raw(&bytes);
        c.expect_closed();
    }
}

#[test]
fn password_without_username_closes_in_v311() {
    let b = Broker::start("");
    let opts = ConnectOpts {
        password: Some(b"secret".to_vec()),
        ..ConnectOpts::v311("pwonly")
    };
    let mut c = Client::raw(b.port, "pwonly");
    c.send_raw(&opts.bytes());
    c.expect_closed();
}

#[test]
fn username_and_password_accepted_with_anonymous_allowed() {
    let b = Broker::start("");
    let opts = ConnectOpts {
        username: Some("user".into()),
        password: Some(b"pw".to_vec()),
        ..ConnectOpts::v311("withcreds")
    };
    let (mut c, connack) = Client::connect_opts(b.port, &opts);
    assert_eq!(connack, CONNACK_OK);
    c.assert_alive();
}

#[test]
fn anonymous_refused_when_not_allowed() {
    // No password file: with allow_anonymous false every client is refused
    // with "not authorised" (5).
    let b =
        Broker::start_config(|port| format!("listener {port} 127.0.0.1\nallow_anonymous false\n"));
    let mut c = Client::raw(b.port, "anon");
    c.send_raw(&ConnectOpts::v311("anon").bytes());
    c.expect_bytes(&[0x20, 0x02, 0x00, 0x05]);
    c.expect_closed();
}

#[test]
fn trailing_bytes_after_connect_payload_close() {
    let b = Broker::start("");
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[0x04, 0x02, 0x00, 0x3C]);
    put_str(&mut body, b"trailing");
    body.extend_from_slice(b"junk");
    let mut c = Client::raw(b.port, "trailing");
    c.send_raw(&packet(0x10, &body));
    c.expect_closed();
}

#[test]
fn invalid_utf8_client_id_closes() {
    let b = Broker::start("");
    let opts = ConnectOpts {
        client_id: vec![b'i', b'd', 0xC0, 0xAF],
        ..ConnectOpts::v311("")
    };
    let mut c = Client::raw(b.port, "badutf8-id");
    c.send_raw(&opts.bytes());
    c.expect_closed();
}

#[test]
fn pingreq_gets_pingresp_and_disconnect_closes() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "pinger", true, 60);
    for _ in 0..3 {
        c.send_raw(&PINGREQ);
        c.expect_bytes(&PINGRESP);
    }
    c.send_raw(&DISCONNECT);
    c.expect_closed();
}

#[test]
fn session_takeover_closes_old_connection_and_sends_its_will() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "watcher", true, 60);
    watcher.subscribe("takeover/will", 1);
    let (mut first, connack) = Client::connect_opts(
        b.port,
        &ConnectOpts::v311("same-id").will("takeover/will", b"first gone", 1, false),
    );
    assert_eq!(connack, CONNACK_OK);
    let (mut second, connack) = Client::connect_opts(b.port, &ConnectOpts::v311("same-id"));
    assert_eq!(connack, CONNACK_OK);
    first.expect_closed();
    // mosquitto publishes the old connection's will on takeover.
    let w = watcher.receive_publish();
    assert_eq!(w.topic, "takeover/will");
    assert_eq!(w.payload, b"first gone");
    second.assert_alive();
    // The new connection has no will: closing it abruptly publishes nothing.
    second.drop_connection();
    watcher.expect_nothing();
}

#[test]
fn session_takeover_keeps_persistent_subscriptions() {
    let b = Broker::start("");
    let mut first = Client::connect(b.port, "takeover-persist", false, 60);
    first.subscribe("tp/#", 1);
    let (mut second, connack) =
        Client::connect_opts(b.port, &ConnectOpts::v311("takeover-persist").clean(false));
    // Session present: the first connection's session is taken over.
    assert_eq!(connack, [0x20, 0x02, 0x01, 0x00]);
    first.expect_closed();
    let mut p = Client::connect(b.port, "tp-pub", true, 60);
    p.publish("tp/x", b"still subscribed", 1, false);
    let m = second.receive_publish();
    assert_eq!(m.payload, b"still subscribed");
}

#[test]
fn max_connections_refuses_extra_clients() {
    let b = Broker::start("max_connections 2");
    // Open connections until one is refused (closed by the broker without a
    // CONNACK), bounded.
    let mut accepted = Vec::new();
    let mut refused = None;
    for i in 0..6 {
        let mut c = Client::raw(b.port, &format!("mc-{i}"));
        let _ = c.try_send_raw(&ConnectOpts::v311(&format!("mc-{i}")).bytes());
        match c.read_raw(TIMEOUT) {
            Read1::Packet(p) => {
                assert_eq!(p, CONNACK_OK, "mc-{i}");
                accepted.push(c);
            }
            Read1::Closed => {
                refused = Some(i);
                break;
            }
            Read1::Timeout => panic!("mc-{i}: neither CONNACK nor close"),
        }
    }
    let refused = refused.expect("max_connections 2 never refused a connection");
    if is_reference() {
        // mosquitto 2.0.11 decrements its per-listener count twice when a
        // connection closes before CONNECT (the harness's readiness probe
        // does that), so it lets one more client in than configured.
        assert!((2..=3).contains(&refused), "refused the {refused}th");
    } else {
        assert_eq!(refused, 2, "exactly max_connections clients get in");
    }
    assert!(
        b.wait_for_log("denied: max_connections exceeded.", TIMEOUT),
        "log:\n{}",
        b.log_text()
    );
    for c in accepted.iter_mut() {
        c.assert_alive();
    }
    // When one leaves, a new client gets in.
    accepted.pop().expect("at least one accepted").disconnect();
    let mut again = Client::connect(b.port, "mc-again", true, 60);
    again.assert_alive();
}

#[test]
fn max_keepalive_refuses_longer_v311_keepalives() {
    // mosquitto 2.0.11 applied max_keepalive to MQTT 5 clients only; 2.0.12
    // and later refuse 3.x clients asking for more (or for 0, i.e. none) with
    // "identifier rejected" (the fix for CVE-2020-13849). We follow the fix.
    let b = Broker::start("max_keepalive 20");
    let (mut ok, connack) =
        Client::connect_opts(b.port, &ConnectOpts::v311("short-keepalive").keepalive(20));
    assert_eq!(connack, CONNACK_OK);
    ok.assert_alive();
    let (_, connack) =
        Client::connect_opts(b.port, &ConnectOpts::v311("long-keepalive").keepalive(100));
    let (_, zero) = Client::connect_opts(b.port, &ConnectOpts::v311("zero-keepalive").keepalive(0));
    if is_reference() {
        assert_eq!(connack, CONNACK_OK, "2.0.11 ignores max_keepalive for v3");
        assert_eq!(zero, CONNACK_OK);
    } else {
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x02]);
        assert_eq!(zero, [0x20, 0x02, 0x00, 0x02]);
    }
}

#[test]
fn connection_log_lines() {
    let b = Broker::start("");
    let c = Client::connect(b.port, "logged-client", true, 30);
    assert!(
        b.wait_for_log("New client connected from 127.0.0.1:", TIMEOUT),
        "log:\n{}",
        b.log_text()
    );
    assert!(
        b.wait_for_log("as logged-client (p2, c1, k30).", TIMEOUT),
        "log:\n{}",
        b.log_text()
    );
    c.disconnect();
    assert!(
        b.wait_for_log("Client logged-client disconnected.", TIMEOUT),
        "log:\n{}",
        b.log_text()
    );
}
