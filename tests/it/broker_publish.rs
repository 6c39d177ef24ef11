//! PUBLISH flows at each QoS (byte for byte), QoS downgrade and upgrade,
//! exactly-once for inbound QoS 2, topic matching, SUBACK/UNSUBACK,
//! overlapping subscriptions.

use crate::harness::*;

/// The bytes of a PUBLISH as the broker should send it.
fn expected_publish(
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    id: u16,
) -> Vec<u8> {
    publish_bytes(topic, payload, qos, retain, dup, id)
}

#[test]
fn qos0_flow_is_byte_exact() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "q0-sub", true, 60);
    sub.send_raw(&[0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'q', b'/', b'0', 0x00]);
    sub.expect_bytes(&[0x90, 0x03, 0x00, 0x01, 0x00]);
    let mut publ = Client::connect(b.port, "q0-pub", true, 60);
    publ.send_raw(&[
        0x30, 0x0A, 0x00, 0x03, b'q', b'/', b'0', b'h', b'e', b'l', b'l', b'o',
    ]);
    sub.expect_bytes(&[
        0x30, 0x0A, 0x00, 0x03, b'q', b'/', b'0', b'h', b'e', b'l', b'l', b'o',
    ]);
    // QoS 0 is not acknowledged.
    publ.expect_nothing();
}

#[test]
fn qos1_flow_is_byte_exact() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "q1-sub", true, 60);
    sub.send_raw(&[0x82, 0x08, 0x12, 0x34, 0x00, 0x03, b'q', b'/', b'1', 0x01]);
    sub.expect_bytes(&[0x90, 0x03, 0x12, 0x34, 0x01]);
    let mut publ = Client::connect(b.port, "q1-pub", true, 60);
    publ.send_raw(&[
        0x32, 0x09, 0x00, 0x03, b'q', b'/', b'1', 0xAB, 0xCD, b'h', b'i',
    ]);
    publ.expect_bytes(&[0x40, 0x02, 0xAB, 0xCD]);
    let got = sub.expect_raw();
    // The broker picks its own packet id for the delivery.
    let id = u16::from_be_bytes([got[7], got[8]]);
    assert_ne!(id, 0);
    assert_eq!(got, expected_publish("q/1", b"hi", 1, false, false, id));
    sub.send_raw(&ack_bytes(0x40, id));
    // Acknowledged: nothing is re-sent and nothing else arrives.
    sub.expect_nothing();
    publ.expect_nothing();
}

#[test]
fn qos2_flow_is_byte_exact_both_directions() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "q2-sub", true, 60);
    sub.send_raw(&subscribe_bytes(7, &[("q/2", 2)]));
    sub.expect_bytes(&[0x90, 0x03, 0x00, 0x07, 0x02]);
    let mut publ = Client::connect(b.port, "q2-pub", true, 60);
    publ.send_raw(&[
        0x34, 0x0A, 0x00, 0x03, b'q', b'/', b'2', 0x00, 0x2A, b'x', b'y', b'z',
    ]);
    publ.expect_bytes(&[0x50, 0x02, 0x00, 0x2A]);
    publ.send_raw(&[0x62, 0x02, 0x00, 0x2A]);
    publ.expect_bytes(&[0x70, 0x02, 0x00, 0x2A]);
    let got = sub.expect_raw();
    let id = u16::from_be_bytes([got[7], got[8]]);
    assert_ne!(id, 0);
    assert_eq!(got, expected_publish("q/2", b"xyz", 2, false, false, id));
    sub.send_raw(&ack_bytes(0x50, id));
    sub.expect_bytes(&ack_bytes(0x62, id));
    sub.send_raw(&ack_bytes(0x70, id));
    sub.expect_nothing();
    publ.expect_nothing();
}

#[test]
fn qos2_inbound_is_delivered_exactly_once() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "eo-sub", true, 60);
    sub.subscribe("eo/t", 2);
    let mut publ = Client::connect(b.port, "eo-pub", true, 60);
    publ.send_raw(&publish_bytes("eo/t", b"once", 2, false, false, 9));
    publ.expect_bytes(&ack_bytes(0x50, 9));
    // The same message again with DUP before PUBREL: acknowledged again,
    // not delivered again.
    publ.send_raw(&publish_bytes("eo/t", b"once", 2, false, true, 9));
    publ.expect_bytes(&ack_bytes(0x50, 9));
    publ.send_raw(&ack_bytes(0x62, 9));
    publ.expect_bytes(&ack_bytes(0x70, 9));
    let m = sub.receive_publish();
    assert_eq!(m.payload, b"once");
    sub.expect_nothing();
    // A PUBREL repeated after PUBCOMP is answered with PUBCOMP again.
    publ.send_raw(&ack_bytes(0x62, 9));
    publ.expect_bytes(&ack_bytes(0x70, 9));
    sub.expect_nothing();
}

#[test]
fn qos_is_downgraded_to_the_subscription_qos() {
    let b = Broker::start("");
    let mut s0 = Client::connect(b.port, "dg-s0", true, 60);
    s0.subscribe("dg/t", 0);
    let mut s1 = Client::connect(b.port, "dg-s1", true, 60);
    s1.subscribe("dg/t", 1);
    let mut s2 = Client::connect(b.port, "dg-s2", true, 60);
    s2.subscribe("dg/t", 2);
    let mut publ = Client::connect(b.port, "dg-pub", true, 60);
    for pub_qos in 0..=2u8 {
        let payload = format!("at {pub_qos}");
        publ.publish("dg/t", payload.as_bytes(), pub_qos, false);
        for (sub_qos, c) in [(0u8, &mut s0), (1, &mut s1), (2, &mut s2)] {
            let m = c.receive_publish();
            assert_eq!(m.payload, payload.as_bytes());
            assert_eq!(
                m.qos.as_u8(),
                pub_qos.min(sub_qos),
                "published at {pub_qos}, subscribed at {sub_qos}"
            );
        }
    }
}

#[test]
fn upgrade_outgoing_qos_delivers_at_subscription_qos() {
    let b = Broker::start("upgrade_outgoing_qos true");
    let mut s2 = Client::connect(b.port, "up-s2", true, 60);
    s2.subscribe("up/t", 2);
    let mut s1 = Client::connect(b.port, "up-s1", true, 60);
    s1.subscribe("up/t", 1);
    let mut publ = Client::connect(b.port, "up-pub", true, 60);
    publ.publish0("up/t", b"low", false);
    let m = s2.receive_publish();
    assert_eq!(
        (m.qos, m.payload.as_slice()),
        (QoS::ExactlyOnce, &b"low"[..])
    );
    let m = s1.receive_publish();
    assert_eq!(
        (m.qos, m.payload.as_slice()),
        (QoS::AtLeastOnce, &b"low"[..])
    );
}

#[test]
fn topic_matching_table() {
    let b = Broker::start("");
    // (filter, topics that match, topics that do not)
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("m/a/b", &["m/a/b"], &["m/a", "m/a/b/c", "m/A/b", "m/a/b/"]),
        ("m/+/c", &["m/b/c", "m//c"], &["m/b/c/d", "m/c", "m/b/x"]),
        ("m/#", &["m", "m/a", "m/a/b/c", "m/"], &["mm", "n/a"]),
        ("m/+", &["m/a", "m/"], &["m", "m/a/b"]),
        ("m/+/+", &["m/a/b", "m//"], &["m/a", "m/a/b/c"]),
        ("+/+", &["m/a", "/a", "x/"], &["m", "m/a/b"]),
        ("/+", &["/a", "/"], &["a", "a/b"]),
        ("m/a/#", &["m/a", "m/a/b"], &["m/b"]),
    ];
    let mut subs = Vec::new();
    for (i, (filter, _, _)) in cases.iter().enumerate() {
        let mut c = Client::connect(b.port, &format!("match-{i}"), true, 60);
        c.subscribe(filter, 0);
        subs.push(c);
    }
    let mut publ = Client::connect(b.port, "match-pub", true, 60);
    let mut all_topics: Vec<&str> = cases
        .iter()
        .flat_map(|(_, y, n)| y.iter().chain(n.iter()).copied())
        .collect();
    all_topics.sort();
    all_topics.dedup();
    for t in &all_topics {
        publ.publish0(t, t.as_bytes(), false);
    }
    // Then, per case, a QoS 1 marker on a topic that case's filter matches:
    // it arrives after every earlier message (per-client ordering), so what
    // came before it is exactly what the filter matched.
    for (i, (filter, yes, no)) in cases.iter().enumerate() {
        let marker = format!("marker-{i}");
        publ.publish(yes[0], marker.as_bytes(), 1, false);
        let mut got = Vec::new();
        for _ in 0..all_topics.len() + cases.len() + 1 {
            let m = subs[i].receive_publish();
            if m.payload == marker.as_bytes() {
                break;
            }
            if m.payload.starts_with(b"marker-") {
                continue; // another case's marker that this filter matches
            }
            got.push(m.topic);
        }
        for t in yes.iter() {
            assert!(
                got.iter().any(|g| g == t),
                "{filter} should match {t}; got {got:?}"
            );
        }
        for t in no.iter() {
            assert!(
                !got.iter().any(|g| g == t),
                "{filter} should not match {t}; got {got:?}"
            );
        }
        // Every delivery is a topic that the filter matches, each once.
        let mut dedup = got.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(
            dedup.len(),
            got.len(),
            "{filter}: duplicate deliveries {got:?}"
        );
    }
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let b = Broker::start("");
    let mut hash = Client::connect(b.port, "dollar-hash", true, 60);
    hash.subscribe("#", 0);
    let mut plus = Client::connect(b.port, "dollar-plus", true, 60);
    plus.subscribe("+/x", 0);
    let mut explicit = Client::connect(b.port, "dollar-explicit", true, 60);
    explicit.subscribe("$test/#", 0);
    let mut explicit_plus = Client::connect(b.port, "dollar-explicit-plus", true, 60);
    explicit_plus.subscribe("$test/+", 0);
    let mut publ = Client::connect(b.port, "dollar-pub", true, 60);
    publ.publish("$test/x", b"dollar", 1, false);
    assert_eq!(explicit.receive_publish().payload, b"dollar");
    assert_eq!(explicit_plus.receive_publish().payload, b"dollar");
    // A marker that "#" and "+/x" do match, sent after: it must be the first
    // thing they see.
    publ.publish("plain/x", b"plain", 1, false);
    assert_eq!(hash.receive_publish().payload, b"plain");
    assert_eq!(plus.receive_publish().payload, b"plain");
}

#[test]
fn suback_codes_for_several_filters() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "suback", true, 60);
    c.send_raw(&subscribe_bytes(
        0x0102,
        &[("s/a", 0), ("s/b", 1), ("s/c", 2), ("s/+/d", 1), ("s/#", 2)],
    ));
    c.expect_bytes(&[0x90, 0x07, 0x01, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02]);
    // Subscribing again to the same filter replaces it (new QoS granted).
    c.send_raw(&subscribe_bytes(3, &[("s/a", 2)]));
    c.expect_bytes(&[0x90, 0x03, 0x00, 0x03, 0x02]);
}

#[test]
fn max_qos_caps_granted_qos() {
    let b = Broker::start("max_qos 1");
    let mut c = Client::connect(b.port, "maxqos", true, 60);
    let codes = c.subscribe_many(&[("mq/a", 2), ("mq/b", 1), ("mq/c", 0)]);
    assert_eq!(codes, vec![1, 1, 0]);
}

#[test]
fn unsubscribe_stops_delivery() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "unsub", true, 60);
    sub.subscribe("u/+", 1);
    sub.subscribe("other", 1);
    let mut publ = Client::connect(b.port, "unsub-pub", true, 60);
    publ.publish("u/a", b"before", 1, false);
    assert_eq!(sub.receive_publish().payload, b"before");
    sub.send_raw(&unsubscribe_bytes(0x0A0B, &["u/+"]));
    sub.expect_bytes(&[0xB0, 0x02, 0x0A, 0x0B]);
    publ.publish("u/a", b"after", 1, false);
    publ.publish("other", b"marker", 1, false);
    // The marker comes first: "after" was not delivered.
    assert_eq!(sub.receive_publish().payload, b"marker");
    sub.expect_nothing();
    // Unsubscribing from a filter never subscribed is still acknowledged.
    sub.send_raw(&unsubscribe_bytes(12, &["never/subscribed"]));
    sub.expect_bytes(&[0xB0, 0x02, 0x00, 0x0C]);
}

#[test]
fn publisher_receives_its_own_messages() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "self", true, 60);
    c.subscribe("self/t", 1);
    c.publish("self/t", b"echo", 1, false);
    let m = c.receive_publish();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("self/t", &b"echo"[..])
    );
}

#[test]
fn messages_arrive_in_order() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "order-sub", true, 60);
    sub.subscribe("order/t", 1);
    let mut publ = Client::connect(b.port, "order-pub", true, 60);
    for i in 0..50u32 {
        let id = publ.next_packet_id();
        publ.send_raw(&publish_bytes(
            "order/t",
            &i.to_be_bytes(),
            1,
            false,
            false,
            id,
        ));
    }
    for i in 0..50u32 {
        let m = sub.receive_publish();
        assert_eq!(m.payload, i.to_be_bytes(), "message {i} out of order");
    }
    for _ in 0..50 {
        let a = publ.expect_raw();
        assert_eq!(&a[..2], &[0x40, 0x02]);
    }
}

#[test]
fn payload_sizes_and_topic_characters() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "sizes-sub", true, 60);
    sub.subscribe("sz/#", 1);
    let mut publ = Client::connect(b.port, "sizes-pub", true, 60);
    // Empty payload (not retained) is delivered as an empty message.
    publ.publish("sz/empty", b"", 1, false);
    let m = sub.receive_publish();
    assert_eq!((m.topic.as_str(), m.payload.len()), ("sz/empty", 0));
    // Payloads that need 2- and 3-byte remaining lengths, with all byte values.
    for len in [127usize, 128, 16_383, 16_384, 300_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        publ.publish("sz/big", &payload, 1, false);
        let m = sub.receive_publish();
        assert_eq!(m.payload.len(), len);
        assert!(m.payload == payload, "payload of {len} bytes corrupted");
    }
    // Multi-byte UTF-8 and spaces in a topic.
    let topic = "sz/caf\u{e9} \u{1F600}/x y";
    publ.publish(topic, b"utf8", 1, false);
    assert_eq!(sub.receive_publish().topic, topic);
}

#[test]
fn overlapping_subscriptions_deliver_once_at_highest_qos() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "overlap", true, 60);
    sub.subscribe("ov/#", 0);
    sub.subscribe("ov/+", 2);
    sub.subscribe("ov/x", 1);
    let mut publ = Client::connect(b.port, "overlap-pub", true, 60);
    publ.publish("ov/x", b"m", 2, false);
    publ.publish("ov/marker/deep", b"marker", 0, false);
    let mut got = Vec::new();
    for _ in 0..5 {
        let m = sub.receive_publish();
        if m.payload == b"marker" {
            break;
        }
        got.push(m.qos.as_u8());
    }
    if is_reference() {
        // mosquitto 2.0.11 sends one copy, but at the QoS of the first
        // matching subscription its tree walk meets (here the exact `ov/x`
        // at QoS 1), not the highest.
        assert_eq!(
            got,
            vec![1],
            "mosquitto 2.0.11: one copy at the first match's QoS"
        );
    } else {
        // MQTT 3.1.1 [MQTT-3.3.5-1]: one copy at the maximum QoS.
        assert_eq!(got, vec![2], "one copy at the highest QoS");
    }
}

#[test]
fn allow_duplicate_messages_delivers_one_copy_per_subscription() {
    let b = Broker::start("allow_duplicate_messages true");
    let mut sub = Client::connect(b.port, "dup-allowed", true, 60);
    sub.subscribe("dm/#", 1);
    sub.subscribe("dm/+", 2);
    let mut publ = Client::connect(b.port, "dup-allowed-pub", true, 60);
    publ.publish("dm/x", b"m", 2, false);
    let mut qos = [sub.receive_publish(), sub.receive_publish()]
        .iter()
        .map(|m| {
            assert_eq!(m.payload, b"m");
            m.qos.as_u8()
        })
        .collect::<Vec<_>>();
    qos.sort();
    assert_eq!(qos, vec![1, 2]);
    sub.expect_nothing();
}

#[test]
fn live_delivery_of_a_retained_publish_has_retain_flag_clear() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "live-retain", true, 60);
    sub.subscribe("lr/t", 0);
    let mut publ = Client::connect(b.port, "live-retain-pub", true, 60);
    publ.send_raw(&publish_bytes("lr/t", b"r", 0, true, false, 0));
    // MQTT 3.1.1 [MQTT-3.3.1-9]: retain is 0 for a message sent because of a
    // live subscription.
    sub.expect_bytes(&publish_bytes("lr/t", b"r", 0, false, false, 0));
}
