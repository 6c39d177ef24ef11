//! MQTT 5 in the core: CONNECT/CONNACK, v5 encodings of what the broker
//! sends, DISCONNECT from the client.

use super::*;
use crate::protocol::properties::id;
use crate::protocol::{PropertyValue, ReasonCode, UnsubAck, Unsubscribe};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// An MQTT 5 CONNECT for `id` with `props`.
fn connect_packet(id: &str, clean: bool, props: Properties, will: Option<Will>) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: V5,
        bridge: false,
        clean_session: clean,
        keep_alive: 60,
        client_id: id.into(),
        will,
        username: None,
        password: None,
        properties: props,
    }))
}

impl Wire {
    /// An MQTT 5 client sends `connect`; returns its connection and the
    /// CONNACK's raw bytes (property order included).
    fn connect_v5_raw(&mut self, connect: Packet) -> (ConnId, Vec<u8>) {
        let ck = self.open();
        self.v5.insert(ck);
        self.send(ck, connect);
        let bytes = self.sent.get(&ck).cloned().unwrap_or_default();
        let h = fixed_header(&bytes).unwrap().expect("a whole CONNACK");
        (ck, bytes[..h.total_len()].to_vec())
    }

    /// An MQTT 5 client connects; returns its connection and CONNACK.
    fn connect_v5(&mut self, id: &str, clean: bool, props: Properties) -> (ConnId, ConnAck) {
        let (ck, _) = self.connect_v5_raw(connect_packet(id, clean, props, None));
        let mut packets = self.received(ck).into_iter();
        let ack = match packets.next() {
            Some(Packet::ConnAck(a)) => a,
            other => panic!("expected a CONNACK, got {other:?}"),
        };
        self.unread.insert(ck, packets.collect());
        (ck, ack)
    }
}

#[test]
fn a_v5_connect_is_accepted_with_mosquittos_connack_properties() {
    let mut w = Wire::new("");
    let (ck, bytes) = w.connect_v5_raw(connect_packet("a", true, Properties::default(), None));
    // mosquitto 2.0 defaults: topic alias maximum 10, receive maximum 20.
    assert_eq!(bytes, [0x20, 9, 0, 0, 6, 0x22, 0, 10, 0x21, 0, 20]);
    assert_eq!(w.core.conns.get(ck).map(|c| c.protocol), Some(V5));
    assert!(!w.closed.contains_key(&ck));
}

#[test]
fn connack_properties_follow_the_configuration_in_mosquittos_order() {
    let mut w = Wire::new(
        "max_keepalive 30\nmax_packet_size 1000\nretain_available false\n\
         max_inflight_messages 5\nmax_topic_alias 3\nmax_qos 1\n",
    );
    let (_, bytes) = w.connect_v5_raw(connect_packet("", true, Properties::default(), None));
    let ack = ConnAck::decode(&bytes[2..], V5).unwrap();
    let assigned = ack.properties.assigned_client_identifier().unwrap();
    assert!(assigned.starts_with("auto-"), "{assigned}");
    let mut want = vec![0x20, 0, 0, 0, 0, 0x22, 0, 3, 0x13, 0, 30, 0x12, 0, 41];
    want.extend_from_slice(assigned.as_bytes());
    want.extend_from_slice(&[0x25, 0, 0x27, 0, 0, 0x03, 0xE8, 0x21, 0, 5, 0x24, 1]);
    want[1] = (want.len() - 2) as u8;
    want[4] = (want.len() - 5) as u8;
    assert_eq!(bytes, want);
}

#[test]
fn packets_to_a_v5_client_are_in_v5_form() {
    let mut w = Wire::new("");
    let (sub, _) = w.connect_v5("sub", true, Properties::default());
    w.subscribe(sub, "t", QoS::ExactlyOnce);
    let got = w.received(sub);
    assert!(matches!(&got[..], [Packet::SubAck(a)] if a.codes == [2]));
    let publisher = w.connect("pub");
    w.publish(publisher, "t", QoS::AtLeastOnce, 7, false);
    let mut got = w.received(sub);
    let Some(Packet::Publish(p)) = got.pop() else {
        panic!("no PUBLISH: {got:?}")
    };
    assert_eq!((p.topic.as_str(), p.qos), ("t", QoS::AtLeastOnce));
    // The v5 decoder read the (empty) property block.
    assert!(p.properties.is_empty());
    w.send(sub, Packet::PubAck(Ack::new(p.packet_id)));
    // QoS 2 from the v5 client: PUBREC, then PUBCOMP after PUBREL.
    w.send(
        sub,
        Packet::Publish(publish("x", QoS::ExactlyOnce, 3, false, b"")),
    );
    assert_eq!(w.received(sub), [Packet::PubRec(Ack::new(3))]);
    w.send(sub, Packet::PubRel(Ack::new(3)));
    assert_eq!(w.received(sub), [Packet::PubComp(Ack::new(3))]);
    let u = Unsubscribe {
        packet_id: 4,
        filters: vec!["t".into(), "u".into()],
        properties: Properties::default(),
    };
    w.send(sub, Packet::Unsubscribe(u));
    let mut want = UnsubAck::new(4);
    want.codes = vec![0, 0];
    assert_eq!(w.received(sub), [Packet::UnsubAck(want)]);
    w.send(sub, Packet::PingReq);
    assert_eq!(w.received(sub), [Packet::PingResp]);
}

fn will_on(topic: &str) -> Will {
    Will {
        topic: topic.into(),
        payload: b"gone".to_vec(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    }
}

#[test]
fn disconnect_with_reason_4_sends_the_will_and_0_does_not() {
    for (reason, wills) in [(0u8, 0), (4, 1)] {
        let mut w = Wire::new("");
        let sub = w.connect("watcher");
        w.subscribe(sub, "wills/#", QoS::AtMostOnce);
        w.received(sub);
        let will = Some(will_on("wills/x"));
        let (ck, _) = w.connect_v5_raw(connect_packet("x", true, Properties::default(), will));
        w.send(ck, Packet::Disconnect(reason, Properties::default()));
        assert_eq!(w.closed.get(&ck), Some(&CloseReason::Disconnect));
        assert_eq!(publishes(&w.received(sub)).len(), wills, "reason {reason}");
    }
}

#[test]
fn v5_refusals_use_reason_codes() {
    let mut w = Wire::new("allow_zero_length_clientid false\nmax_qos 1\n");
    let (ck, bytes) = w.connect_v5_raw(connect_packet("", true, Properties::default(), None));
    // Client id not valid, with the listener's maximum QoS as mosquitto adds.
    assert_eq!(bytes, [0x20, 5, 0, 0x85, 2, 0x24, 1]);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Refused));
    let mut will = will_on("w");
    will.qos = QoS::ExactlyOnce;
    let (_, bytes) = w.connect_v5_raw(connect_packet("a", true, Properties::default(), Some(will)));
    assert_eq!(bytes[3], ReasonCode::QOS_NOT_SUPPORTED.0);

    let mut w = Wire::new("retain_available false\n");
    let mut will = will_on("w");
    will.retain = true;
    let (_, bytes) = w.connect_v5_raw(connect_packet("a", true, Properties::default(), Some(will)));
    assert_eq!(bytes, [0x20, 3, 0, 0x9A, 0]);
}

#[test]
fn a_v5_client_without_id_is_assigned_one_even_without_clean_start() {
    let mut w = Wire::new("");
    let (_, ack) = w.connect_v5("", false, Properties::default());
    assert_eq!(ack.code, 0);
    assert!(ack.properties.assigned_client_identifier().is_some());
    let max = ack.properties.get(id::RECEIVE_MAXIMUM);
    assert_eq!(max, Some(&PropertyValue::U16(20)));
}
