//! MQTT 5 messages and subscriptions in the core: properties passing
//! through, message expiry, subscription options and identifiers, SUBACK
//! and UNSUBACK reason codes, shared subscriptions.

use std::time::Duration;

use super::*;
use crate::protocol::{RetainHandling, SubscriptionOptions, UnsubAck, Unsubscribe};

const V5: ProtocolVersion = ProtocolVersion::V5;

impl Wire {
    /// A clean client that speaks MQTT 5 from now on.
    fn connect5(&mut self, id: &str) -> ConnId {
        let ck = self.connect(id);
        self.core.conns.get_mut(ck).unwrap().protocol = V5;
        ck
    }

    /// `p` arrives on the MQTT 5 connection `ck`.
    fn send5(&mut self, ck: ConnId, p: Packet) {
        let mut bytes = Vec::new();
        p.encode(&mut bytes, V5);
        self.core.received(ck, &bytes, self.now, &NoSockets);
        self.flush();
    }

    /// The packets the MQTT 5 connection `ck` was sent since the last call.
    fn received5(&mut self, ck: ConnId) -> Vec<Packet> {
        let bytes = self.sent.remove(&ck).unwrap_or_default();
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Some(h) = fixed_header(rest).unwrap() {
            let body = &rest[h.header_len..h.total_len()];
            out.push(Packet::decode(&h, body, V5).unwrap());
            rest = &rest[h.total_len()..];
        }
        assert!(rest.is_empty(), "a partial packet was sent");
        out
    }

    fn subscribe5(&mut self, ck: ConnId, filter: &str, o: SubscriptionOptions, id: Option<u32>) {
        let mut s = Subscribe {
            packet_id: 3,
            filters: Vec::new(),
            options: Vec::new(),
            properties: Properties::default(),
        };
        s.push(filter, o);
        if let Some(id) = id {
            s.properties.set_subscription_identifier(id);
        }
        self.send5(ck, Packet::Subscribe(s));
    }
}

/// A PUBLISH with every property that passes through.
fn rich(topic: &str, qos: QoS, packet_id: u16, expiry: Option<u32>) -> Publish {
    let mut p = publish(topic, qos, packet_id, false, b"body");
    p.properties.set_payload_format_indicator(1);
    p.properties.set_content_type("text/plain");
    p.properties.set_response_topic("reply/here");
    p.properties.set_correlation_data(b"c1".to_vec());
    p.properties.add_user_property("k1", "v1");
    p.properties.add_user_property("k1", "v2");
    if let Some(e) = expiry {
        p.properties.set_message_expiry_interval(e);
    }
    p
}

fn suback_codes(packets: &[Packet]) -> Vec<u8> {
    match packets {
        [Packet::SubAck(a)] => a.codes.clone(),
        other => panic!("expected one SUBACK, got {other:?}"),
    }
}

#[test]
fn properties_pass_through_to_v5_and_are_left_out_for_v3() {
    let mut w = Wire::new("");
    let s5 = w.connect5("s5");
    w.subscribe5(
        s5,
        "t/#",
        SubscriptionOptions::new(QoS::AtLeastOnce),
        Some(42),
    );
    assert_eq!(suback_codes(&w.received5(s5)), [1]);
    let s3 = w.connect("s3");
    w.subscribe(s3, "t/#", QoS::AtLeastOnce);
    w.received(s3);
    let p5 = w.connect5("p5");
    w.send5(
        p5,
        Packet::Publish(rich("t/a", QoS::AtLeastOnce, 1, Some(100))),
    );
    let mut got = publishes(&w.received5(s5));
    assert_eq!(got.len(), 1);
    // mosquitto's order: the identifier, the rest as published, the expiry.
    let ids: Vec<u8> = got[0].properties.0.iter().map(|(i, _)| *i).collect();
    assert_eq!(ids, [0x0B, 0x01, 0x03, 0x08, 0x09, 0x26, 0x26, 0x02]);
    got[0].properties.0.sort_by_key(|(i, _)| *i);
    let mut want = rich("t/a", QoS::AtLeastOnce, got[0].packet_id, Some(100));
    want.properties.add_subscription_identifier(42);
    assert_eq!(
        got[0], want,
        "all properties, the identifier, the expiry left"
    );
    // The 3.1.1 subscriber decodes a plain 3.1.1 PUBLISH.
    let got = publishes(&w.received(s3));
    assert_eq!((got.len(), &got[0].payload[..]), (1, &b"body"[..]));
    // A 3.1.1 publisher's message reaches the MQTT 5 one without properties.
    let p3 = w.connect("p3");
    w.publish(p3, "t/b", QoS::AtMostOnce, 0, false);
    let got = publishes(&w.received5(s5));
    let mut want = publish("t/b", QoS::AtMostOnce, 0, false, b"hi");
    want.properties.add_subscription_identifier(42);
    assert_eq!(got, [want]);
}

#[test]
fn expired_messages_are_not_sent_and_others_carry_their_time_left() {
    let mut w = Wire::new("max_inflight_messages 1");
    let sub = w.connect5("sub");
    w.subscribe5(sub, "e", SubscriptionOptions::new(QoS::AtLeastOnce), None);
    w.received5(sub);
    let publisher = w.connect5("pub");
    for id in 1..=3 {
        let e = if id == 2 { 5 } else { 20 };
        let mut p = publish("e", QoS::AtLeastOnce, id, false, &[id as u8]);
        p.properties.set_message_expiry_interval(e);
        w.send5(publisher, Packet::Publish(p));
    }
    let first = publishes(&w.received5(sub));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].properties.message_expiry_interval(), Some(20));
    // Two wait in the queue; 6 s later the second has expired.
    w.advance(Duration::from_secs(6));
    w.send5(sub, Packet::PubAck(Ack::new(first[0].packet_id)));
    let next = publishes(&w.received5(sub));
    assert_eq!(next.len(), 1, "the expired one was skipped");
    assert_eq!(next[0].payload, [3]);
    assert_eq!(next[0].properties.message_expiry_interval(), Some(14));
    // A retained message expires too.
    let mut r = publish("r", QoS::AtMostOnce, 0, true, b"x");
    r.properties.set_message_expiry_interval(2);
    w.send5(publisher, Packet::Publish(r));
    let late = w.connect5("late");
    w.subscribe5(late, "r", SubscriptionOptions::new(QoS::AtMostOnce), None);
    let got = publishes(&w.received5(late));
    assert_eq!(got[0].properties.message_expiry_interval(), Some(2));
    w.advance(Duration::from_secs(3));
    assert_eq!(w.core.retained.len(), 1);
    w.subscribe5(late, "r", SubscriptionOptions::new(QoS::AtMostOnce), None);
    assert!(publishes(&w.received5(late)).is_empty());
    assert_eq!(w.core.retained.len(), 0, "removed once found expired");
}

#[test]
fn no_local_and_retain_as_published() {
    let mut w = Wire::new("");
    let c = w.connect5("c");
    let nl = SubscriptionOptions {
        no_local: true,
        ..SubscriptionOptions::new(QoS::AtMostOnce)
    };
    w.subscribe5(c, "nl", nl, None);
    let rap = SubscriptionOptions {
        retain_as_published: true,
        ..SubscriptionOptions::new(QoS::AtMostOnce)
    };
    w.subscribe5(c, "rap", rap, None);
    w.subscribe5(c, "plain", SubscriptionOptions::new(QoS::AtMostOnce), None);
    w.received5(c);
    w.send5(
        c,
        Packet::Publish(publish("nl", QoS::AtMostOnce, 0, false, b"1")),
    );
    assert!(w.received5(c).is_empty(), "not sent to its own publisher");
    let other = w.connect5("other");
    w.send5(
        other,
        Packet::Publish(publish("nl", QoS::AtMostOnce, 0, false, b"2")),
    );
    assert_eq!(publishes(&w.received5(c)).len(), 1);
    w.send5(
        other,
        Packet::Publish(publish("rap", QoS::AtMostOnce, 0, true, b"3")),
    );
    w.send5(
        other,
        Packet::Publish(publish("plain", QoS::AtMostOnce, 0, true, b"4")),
    );
    let got = publishes(&w.received5(c));
    let flags: Vec<bool> = got.iter().map(|p| p.retain).collect();
    assert_eq!(flags, [true, false], "retain kept only as published");
}

#[test]
fn retain_handling_0_1_2() {
    let mut w = Wire::new("");
    let p = w.connect5("p");
    w.send5(
        p,
        Packet::Publish(publish("r", QoS::AtMostOnce, 0, true, b"x")),
    );
    let c = w.connect5("c");
    let with = |rh| SubscriptionOptions {
        retain_handling: rh,
        ..SubscriptionOptions::new(QoS::AtMostOnce)
    };
    let count = |w: &mut Wire, rh| {
        w.subscribe5(c, "r", with(rh), None);
        publishes(&w.received5(c)).len()
    };
    assert_eq!(count(&mut w, RetainHandling::DoNotSend), 0);
    assert_eq!(count(&mut w, RetainHandling::SendIfNew), 0, "exists now");
    assert_eq!(count(&mut w, RetainHandling::SendAtSubscribe), 1);
    w.send5(
        c,
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 4,
            filters: vec!["r".into()],
            properties: Properties::default(),
        }),
    );
    w.received5(c);
    assert_eq!(count(&mut w, RetainHandling::SendIfNew), 1, "new again");
}

#[test]
fn suback_and_unsuback_reason_codes() {
    let dir = std::env::temp_dir().join(format!("v5msg-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, "topic read open/#\ntopic deny closed/#\n").unwrap();
    let mut w = Wire::new(&format!("acl_file {}", acl.display()));
    let c = w.connect5("c");
    w.subscribe5(
        c,
        "open/x",
        SubscriptionOptions::new(QoS::ExactlyOnce),
        None,
    );
    assert_eq!(suback_codes(&w.received5(c)), [2]);
    w.subscribe5(
        c,
        "closed/x",
        SubscriptionOptions::new(QoS::AtMostOnce),
        None,
    );
    assert_eq!(suback_codes(&w.received5(c)), [0x87]);
    w.subscribe5(
        c,
        "$share/g",
        SubscriptionOptions::new(QoS::AtMostOnce),
        None,
    );
    assert_eq!(suback_codes(&w.received5(c)), [0x8F]);
    let c3 = w.connect("c3");
    w.subscribe(c3, "closed/x", QoS::AtMostOnce);
    assert!(matches!(w.received(c3).as_slice(), [Packet::SubAck(a)] if a.codes == [0x80]));
    w.send5(
        c,
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 9,
            filters: vec!["open/x".into(), "never".into()],
            properties: Properties::default(),
        }),
    );
    let mut want = UnsubAck::new(9);
    want.codes = vec![0x00, 0x11];
    assert_eq!(w.received5(c), [Packet::UnsubAck(want)]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_subscription_identifier_of_0_is_a_protocol_error() {
    let mut w = Wire::new("");
    let c = w.connect5("c");
    // SUBSCRIBE, id 1, properties: 0x0B 0; filter "a", options 0.
    let body = [0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b'a', 0x00];
    let mut bytes = vec![0x82, body.len() as u8];
    bytes.extend_from_slice(&body);
    w.core.received(c, &bytes, w.now, &NoSockets);
    w.flush();
    assert_eq!(w.closed.get(&c), Some(&CloseReason::Protocol));
}

#[test]
fn a_shared_subscription_spreads_messages_over_its_members() {
    let mut w = Wire::new("");
    let p = w.connect5("p");
    w.send5(
        p,
        Packet::Publish(publish("s/r", QoS::AtMostOnce, 0, true, b"r")),
    );
    let members: Vec<ConnId> = ["m1", "m2", "m3"].iter().map(|id| w.connect5(id)).collect();
    for &m in &members {
        w.subscribe5(
            m,
            "$share/g/s/#",
            SubscriptionOptions::new(QoS::AtLeastOnce),
            None,
        );
        assert_eq!(
            suback_codes(&w.received5(m)),
            [1],
            "and no retained message"
        );
    }
    // A 3.1.1 client may join too.
    let m4 = w.connect("m4");
    w.subscribe(m4, "$share/g/s/#", QoS::AtLeastOnce);
    w.received(m4);
    for i in 0..8u8 {
        w.send5(
            p,
            Packet::Publish(publish("s/x", QoS::AtMostOnce, 0, false, &[i])),
        );
    }
    let mut seen = Vec::new();
    for &m in &members {
        let got: Vec<u8> = publishes(&w.received5(m))
            .iter()
            .map(|p| p.payload[0])
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        seen.extend(got);
    }
    let got: Vec<u8> = publishes(&w.received(m4))
        .iter()
        .map(|p| p.payload[0])
        .collect();
    assert_eq!(got.len(), 2);
    seen.extend(got);
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6, 7], "each message once");
    // `$SYS`-style topics are not matched by the group's `#` at the root.
    w.subscribe5(
        members[0],
        "$share/h/#",
        SubscriptionOptions::new(QoS::AtMostOnce),
        None,
    );
    w.received5(members[0]);
    w.send5(
        p,
        Packet::Publish(publish("$x/y", QoS::AtMostOnce, 0, false, b"$")),
    );
    assert!(publishes(&w.received5(members[0])).is_empty());
}

#[test]
fn client_topic_aliases_set_use_and_refuse() {
    let mut w = Wire::new("max_topic_alias 2");
    let sub = w.connect5("sub");
    w.subscribe5(sub, "al/#", SubscriptionOptions::new(QoS::AtMostOnce), None);
    w.received5(sub);
    let p = w.connect5("p");
    let aliased = |topic: &str, alias: u16, body: &[u8]| {
        let mut m = publish(topic, QoS::AtMostOnce, 0, false, body);
        m.properties.set_topic_alias(alias);
        Packet::Publish(m)
    };
    w.send5(p, aliased("al/one", 1, b"1"));
    w.send5(p, aliased("", 1, b"2"));
    w.send5(p, aliased("al/two", 1, b"3"));
    w.send5(p, aliased("", 1, b"4"));
    let got: Vec<(String, Vec<u8>)> = publishes(&w.received5(sub))
        .into_iter()
        .map(|m| (m.topic, m.payload))
        .collect();
    let want = [
        ("al/one", b"1"),
        ("al/one", b"2"),
        ("al/two", b"3"),
        ("al/two", b"4"),
    ];
    let want: Vec<(String, Vec<u8>)> = want
        .iter()
        .map(|(t, b)| (t.to_string(), b.to_vec()))
        .collect();
    assert_eq!(got, want, "the alias is not passed on");
    for bad in [
        aliased("al/x", 0, b""),
        aliased("al/x", 3, b""),
        aliased("", 2, b""),
    ] {
        let c = w.connect5("bad");
        w.send5(c, bad);
        let mut why = Properties::default();
        why.set_reason_string("topic alias invalid");
        assert_eq!(w.received5(c), [Packet::Disconnect(0x94, why)]);
        assert_eq!(w.closed.get(&c), Some(&CloseReason::TopicAlias));
    }
    assert!(publishes(&w.received5(sub)).is_empty());
}

#[test]
fn a_publish_over_the_clients_maximum_packet_size_is_skipped_and_counted() {
    let mut w = Wire::new("max_inflight_messages 1");
    let sub = w.connect5("sub");
    w.subscribe5(sub, "big", SubscriptionOptions::new(QoS::AtLeastOnce), None);
    w.received5(sub);
    let conn = w.core.conns.get_mut(sub).unwrap();
    conn.cold_mut().v5.max_packet = 50;
    conn.refresh_plain_out();
    let p = w.connect5("p");
    for (id, len) in [(1, 10), (2, 100), (3, 20)] {
        let m = publish("big", QoS::AtLeastOnce, id, false, &vec![b'x'; len]);
        w.send5(p, Packet::Publish(m));
    }
    // The first goes; the 100-byte one is skipped when its turn comes.
    let first = publishes(&w.received5(sub));
    assert_eq!(first.len(), 1);
    w.send5(sub, Packet::PubAck(Ack::new(first[0].packet_id)));
    let next = publishes(&w.received5(sub));
    assert_eq!(
        next.iter().map(|m| m.payload.len()).collect::<Vec<_>>(),
        [20]
    );
    assert_eq!(w.core.stats.msgs_dropped, 1);
    // QoS 0 straight to the client: skipped too.
    w.send5(
        p,
        Packet::Publish(publish("big", QoS::AtMostOnce, 0, false, &[0; 100])),
    );
    assert!(publishes(&w.received5(sub)).is_empty());
    assert_eq!(w.core.stats.msgs_dropped, 2);
}

#[test]
fn outgoing_topic_aliases_when_turned_on_and_accepted() {
    for on in [false, true] {
        let mut w = Wire::new(if on {
            "outgoing_topic_aliases true"
        } else {
            ""
        });
        let sub = w.connect5("sub");
        w.core
            .conns
            .get_mut(sub)
            .unwrap()
            .cold_mut()
            .v5
            .topic_alias_max = 2;
        w.subscribe5(sub, "ta/#", SubscriptionOptions::new(QoS::AtMostOnce), None);
        w.received5(sub);
        let p = w.connect5("p");
        for t in ["ta/a", "ta/a", "ta/b", "ta/c", "ta/c", "ta/b"] {
            w.send5(
                p,
                Packet::Publish(publish(t, QoS::AtMostOnce, 0, false, b"x")),
            );
        }
        let got: Vec<(String, Option<u16>)> = publishes(&w.received5(sub))
            .into_iter()
            .map(|m| (m.topic, m.properties.topic_alias()))
            .collect();
        let want: Vec<(&str, Option<u16>)> = if on {
            // Two aliases, then topics in full.
            vec![
                ("ta/a", Some(1)),
                ("", Some(1)),
                ("ta/b", Some(2)),
                ("ta/c", None),
                ("ta/c", None),
                ("", Some(2)),
            ]
        } else {
            ["ta/a", "ta/a", "ta/b", "ta/c", "ta/c", "ta/b"]
                .iter()
                .map(|t| (*t, None))
                .collect()
        };
        let want: Vec<(String, Option<u16>)> =
            want.into_iter().map(|(t, a)| (t.to_owned(), a)).collect();
        assert_eq!(got, want, "outgoing_topic_aliases {on}");
    }
}

#[test]
fn a_refused_publish_is_acknowledged_with_0x87_and_frees_its_qos2_id() {
    let dir = std::env::temp_dir().join(format!("v5msg-acl-pub-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, "topic readwrite open/#\n").unwrap();
    let mut w = Wire::new(&format!("acl_file {}", acl.display()));
    let c = w.connect5("c");
    let publish = |topic: &str, qos, packet_id| {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            packet_id,
            payload: b"x".to_vec(),
            properties: Properties::default(),
        })
    };
    let acked = |w: &mut Wire| match w.received5(c).as_slice() {
        [Packet::PubAck(a) | Packet::PubRec(a)] => (a.packet_id, a.reason),
        other => panic!("{other:?}"),
    };
    w.send5(c, publish("closed/x", QoS::AtLeastOnce, 1));
    assert_eq!(acked(&mut w), (1, 0x87));
    w.send5(c, publish("closed/x", QoS::ExactlyOnce, 2));
    assert_eq!(acked(&mut w), (2, 0x87));
    // The refused QoS 2 exchange is over: id 2 carries a new message.
    w.send5(c, publish("open/x", QoS::ExactlyOnce, 2));
    assert_eq!(acked(&mut w), (2, 0));
    // MQTT 3.1.1 cannot say no: success, as before.
    let c3 = w.connect("c3");
    w.send(c3, publish("closed/x", QoS::AtLeastOnce, 3));
    assert!(matches!(w.received(c3).as_slice(), [Packet::PubAck(a)] if a.reason == 0));
    std::fs::remove_dir_all(&dir).unwrap();
}
