//! Unit tests of the client state machine.

use super::*;
use mosquitto_rs::protocol::{Packet, Properties, ProtocolVersion, Publish, QoS};

#[test]
fn incoming_topic_aliases() {
    let mut c = Client::new(Some("x".into()), true);
    c.cfg.version = ProtocolVersion::V5;
    let publish = |topic: &str| {
        let mut properties = Properties::default();
        properties.set_topic_alias(3);
        let p = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: 0,
            payload: b"x".to_vec(),
            properties,
        });
        let mut out = Vec::new();
        p.encode(&mut out, ProtocolVersion::V5);
        out
    };
    c.inbuf = publish("a/b");
    c.inbuf.extend(publish(""));
    assert_eq!(c.handle_input(), SUCCESS);
    let topics: Vec<_> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.topic.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["a/b", "a/b"]);
    // An alias the broker never set is a protocol error.
    c.aliases.clear();
    c.inbuf = publish("");
    assert_eq!(c.handle_input(), PROTOCOL);
}

#[test]
fn reconnect_back_off() {
    let mut c = Client::new(None, true);
    c.cfg.reconnect_delay = 2;
    c.cfg.reconnect_delay_max = 30;
    let linear: Vec<u64> = (0..4).map(|_| c.reconnect_delay()).collect();
    assert_eq!(linear, [2, 4, 6, 8]);
    c.reconnects = 0;
    c.cfg.reconnect_exponential = true;
    let exp: Vec<u64> = (0..5).map(|_| c.reconnect_delay()).collect();
    assert_eq!(exp, [2, 8, 18, 30, 30]);
}

#[test]
fn publish_queues_when_not_connected() {
    let mut c = Client::new(Some("x".into()), true);
    let msg = |qos| Publish {
        dup: false,
        qos,
        retain: false,
        topic: "t".into(),
        packet_id: 1,
        payload: Vec::new(),
        properties: Properties::default(),
    };
    assert_eq!(c.publish(msg(QoS::AtMostOnce), 1), NO_CONN);
    assert_eq!(c.publish(msg(QoS::AtLeastOnce), 1), SUCCESS);
    assert_eq!(c.outgoing.len(), 1);
    assert_eq!(c.inflight_count(), 0);
}
