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
    // "u" was never subscribed to: 0x11 (v5msg).
    want.codes = vec![0, 0x11];
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

fn expiry(secs: u32) -> Properties {
    let mut p = Properties::default();
    p.set_session_expiry_interval(secs);
    p
}

/// The DISCONNECT packets among `packets`, as (reason, reason string).
fn disconnects(packets: &[Packet]) -> Vec<(u8, Option<String>)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Disconnect(r, props) => Some((*r, props.reason_string().map(String::from))),
            _ => None,
        })
        .collect()
}

#[test]
fn session_expiry_zero_ends_the_session_at_disconnect() {
    let mut w = Wire::new("");
    let (ck, _) = w.connect_v5("s", false, Properties::default());
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    let (_, ack) = w.connect_v5("s", false, Properties::default());
    assert!(!ack.session_present);
}

#[test]
fn a_session_expires_after_its_interval_on_the_timer() {
    let mut w = Wire::new("");
    let (ck, _) = w.connect_v5("s", true, expiry(10));
    w.subscribe(ck, "t", QoS::AtLeastOnce);
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    w.advance(Duration::from_secs(9));
    assert!(w.core.by_id.contains_key("s"), "expired early");
    let (ck, ack) = w.connect_v5("s", false, expiry(10));
    assert!(ack.session_present);
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    w.advance(Duration::from_millis(10_001));
    assert!(!w.core.by_id.contains_key("s"), "not expired");
    assert_eq!(w.core.stats.clients_expired, 1);
}

#[test]
fn disconnect_may_change_the_expiry_but_not_from_zero() {
    let mut w = Wire::new("");
    let (ck, _) = w.connect_v5("a", true, expiry(100));
    w.send(ck, Packet::Disconnect(0, expiry(0)));
    assert!(!w.core.by_id.contains_key("a"), "0 at DISCONNECT ends it");

    let (ck, _) = w.connect_v5("b", true, Properties::default());
    w.send(ck, Packet::Disconnect(0, expiry(60)));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
    assert_eq!(
        disconnects(&w.received(ck)),
        [(0x82, Some("protocol error".into()))]
    );
}

#[test]
fn never_expiring_sessions_stay_and_persistent_client_expiration_caps_them() {
    let mut w = Wire::new("persistent_client_expiration 1h\n");
    let (ck, _) = w.connect_v5("forever", true, expiry(u32::MAX));
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    let (ck, _) = w.connect_v5("day", true, expiry(86_400));
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    w.advance(Duration::from_secs(3599));
    assert!(w.core.by_id.contains_key("forever") && w.core.by_id.contains_key("day"));
    w.advance(Duration::from_secs(2));
    assert!(!w.core.by_id.contains_key("forever") && !w.core.by_id.contains_key("day"));
}

/// A watcher of `wills/#` and a v5 client "x" with a will delayed by
/// `delay` seconds and session expiry `expiry`, whose connection is lost.
fn delayed_will(delay: u32, expiry_secs: u32) -> (Wire, ConnId) {
    let mut w = Wire::new("");
    let sub = w.connect("watcher");
    w.subscribe(sub, "wills/#", QoS::AtMostOnce);
    w.received(sub);
    let mut will = will_on("wills/x");
    will.properties.set_will_delay_interval(delay);
    let c = connect_packet("x", true, expiry(expiry_secs), Some(will));
    let (ck, _) = w.connect_v5_raw(c);
    w.core.schedule_close(ck, CloseReason::ConnectionLost);
    w.flush();
    (w, sub)
}

#[test]
fn a_delayed_will_is_sent_after_its_delay() {
    let (mut w, sub) = delayed_will(5, 100);
    w.advance(Duration::from_secs(4));
    assert!(publishes(&w.received(sub)).is_empty(), "sent early");
    w.advance(Duration::from_millis(1001));
    assert_eq!(publishes(&w.received(sub)).len(), 1);
}

#[test]
fn a_delayed_will_is_not_sent_when_the_session_resumes_in_time() {
    let (mut w, sub) = delayed_will(5, 100);
    w.advance(Duration::from_secs(2));
    let (_, ack) = w.connect_v5("x", false, expiry(100));
    assert!(ack.session_present);
    w.advance(Duration::from_secs(10));
    assert!(publishes(&w.received(sub)).is_empty());
}

#[test]
fn a_delayed_will_goes_when_the_session_ends_first() {
    let (mut w, sub) = delayed_will(60, 3);
    w.advance(Duration::from_secs(2));
    assert!(publishes(&w.received(sub)).is_empty());
    w.advance(Duration::from_millis(1001));
    assert_eq!(publishes(&w.received(sub)).len(), 1, "at session end");
    w.advance(Duration::from_secs(60));
    assert!(publishes(&w.received(sub)).is_empty(), "only once");
    // A session ending at disconnect (expiry 0) sends it at once.
    let (mut w, sub) = delayed_will(60, 0);
    assert_eq!(publishes(&w.received(sub)).len(), 1);
}

#[test]
fn server_disconnects_carry_reason_codes() {
    let mut w = Wire::new("");
    let (old, _) = w.connect_v5("same", true, Properties::default());
    w.connect_v5("same", true, Properties::default());
    let got = disconnects(&w.received(old));
    assert_eq!(got, [(0x8E, Some("session taken over".into()))]);

    let (ck, _) = w.connect_v5("quiet", true, Properties::default());
    w.advance(Duration::from_secs(91));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Keepalive));
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x8D);

    let (ck, _) = w.connect_v5("bad", true, Properties::default());
    w.core
        .received(ck, &[0x30, 0x02, 0x00, 0x05], w.now, &NoSockets);
    w.flush();
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x81);

    let (ck, _) = w.connect_v5("down", true, Properties::default());
    w.core.schedule_close(ck, CloseReason::Shutdown);
    w.flush();
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x8B);
    // 3.1.1 clients are just closed.
    let ck = w.connect("v3");
    w.core.schedule_close(ck, CloseReason::Shutdown);
    w.flush();
    assert!(w.received(ck).is_empty());
}

#[test]
fn oversize_packets_get_disconnect_0x95() {
    let mut w = Wire::new("max_packet_size 100\n");
    let (ck, _) = w.connect_v5("big", true, Properties::default());
    w.send(
        ck,
        Packet::Publish(publish("t", QoS::AtMostOnce, 0, false, &[0; 200])),
    );
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Oversize));
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x95);
}

#[test]
fn the_clients_receive_maximum_bounds_what_is_in_flight() {
    let mut w = Wire::new("max_inflight_messages 1\n");
    let mut p = Properties::default();
    p.set_receive_maximum(3);
    let (sub, _) = w.connect_v5("sub", true, p);
    w.subscribe(sub, "t", QoS::AtLeastOnce);
    w.received(sub);
    let publ = w.connect("pub");
    for i in 1..=5 {
        w.publish(publ, "t", QoS::AtLeastOnce, i, false);
    }
    // Three in flight (its receive maximum, not max_inflight_messages).
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 3);
    w.send(sub, Packet::PubAck(Ack::new(got[0].packet_id)));
    assert_eq!(publishes(&w.received(sub)).len(), 1);
}

#[test]
fn exceeding_our_receive_maximum_gets_disconnect_0x93() {
    let mut w = Wire::new("max_inflight_messages 2\n");
    let (ck, _) = w.connect_v5("pub", true, Properties::default());
    for id in 1..=2 {
        let p = publish("t", QoS::ExactlyOnce, id, false, b"");
        w.send(ck, Packet::Publish(p));
    }
    // A resend of an unreleased one is fine.
    w.send(
        ck,
        Packet::Publish(publish("t", QoS::ExactlyOnce, 2, false, b"")),
    );
    assert!(!w.closed.contains_key(&ck));
    w.send(
        ck,
        Packet::Publish(publish("t", QoS::ExactlyOnce, 3, false, b"")),
    );
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::ReceiveMaximum));
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x93);
}

#[test]
fn an_authentication_method_without_a_backend_gets_0x8c() {
    let mut w = Wire::new("");
    let mut p = Properties::default();
    p.set_authentication_method("SCRAM-SHA-1");
    let (ck, bytes) = w.connect_v5_raw(connect_packet("a", true, p, None));
    assert_eq!(bytes, [0x20, 3, 0, 0x8C, 0]);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Refused));
}

/// A backend that knows one method with one password.
struct OneMethod;

impl super::super::auth::ExtendedAuth for OneMethod {
    fn start(&mut self, _: &AuthClient, method: &str, data: Option<&[u8]>, _: bool) -> AuthStep {
        match (method, data) {
            ("TOKEN", Some(b"good")) => AuthStep::Success(Some(b"ok".to_vec())),
            ("TOKEN", _) => AuthStep::Denied,
            _ => AuthStep::NotSupported,
        }
    }
}

use super::super::auth::{AuthClient, AuthStep};

#[test]
fn an_auth_backend_decides_and_its_answer_goes_in_the_connack() {
    let mut w = Wire::new("");
    w.core.auth = Some(Box::new(OneMethod));
    let with = |data: &[u8]| {
        let mut p = Properties::default();
        p.set_authentication_method("TOKEN");
        p.set_authentication_data(data);
        p
    };
    let (_, ack) = w.connect_v5("a", true, with(b"good"));
    assert_eq!(ack.code, 0);
    assert_eq!(ack.properties.authentication_method(), Some("TOKEN"));
    assert_eq!(ack.properties.authentication_data(), Some(&b"ok"[..]));
    let (_, ack) = w.connect_v5("b", true, with(b"bad"));
    assert_eq!(ack.code, 0x87);
}

#[test]
fn a_will_payload_over_message_size_limit_is_refused() {
    let mut w = Wire::new("message_size_limit 10\n");
    let mut will = will_on("w");
    will.payload = vec![0; 11];
    let (_, bytes) = w.connect_v5_raw(connect_packet(
        "a",
        true,
        Properties::default(),
        Some(will.clone()),
    ));
    assert_eq!(bytes[3], 0x95);
    let (ck, ack) = w.connect_with("b", true, 60, Some(will));
    assert_eq!(ack.code, 5);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Refused));
}

#[test]
fn taking_over_ones_own_persistent_session_does_not_fire_the_will() {
    let (mut w, sub, _) = watcher_and_client_with_will();
    let will = Some(will_on("wills/p"));
    w.connect_with("p", false, 60, will.clone());
    w.connect_with("p", false, 60, None);
    w.flush();
    assert!(publishes(&w.received(sub)).is_empty(), "resumed: no will");
    // A clean session taking over ends the old one: its will goes.
    w.connect_with("p", false, 60, will);
    w.connect_with("p", true, 60, None);
    w.flush();
    assert_eq!(publishes(&w.received(sub)).len(), 1);
}

#[test]
fn acks_of_the_wrong_type_are_a_protocol_error() {
    for (qos, wrong) in [
        (QoS::AtLeastOnce, Packet::PubComp(Ack::new(1))),
        (QoS::AtLeastOnce, Packet::PubRec(Ack::new(1))),
        (QoS::ExactlyOnce, Packet::PubAck(Ack::new(1))),
    ] {
        let mut w = Wire::new("");
        let sub = w.connect("sub");
        w.subscribe(sub, "t", qos);
        w.received(sub);
        let publ = w.connect("pub");
        w.publish(publ, "t", qos, 9, false);
        assert_eq!(publishes(&w.received(sub))[0].packet_id, 1);
        w.send(sub, wrong.clone());
        assert_eq!(
            w.closed.get(&sub),
            Some(&CloseReason::Protocol),
            "{wrong:?}"
        );
        // An unknown id stays harmless.
        let other = w.connect("other");
        w.send(other, Packet::PubAck(Ack::new(7)));
        assert!(!w.closed.contains_key(&other));
    }
}

#[test]
fn topics_deeper_than_mosquittos_limit_close_the_connection() {
    let mut w = Wire::new("");
    let ok = "a/".repeat(200) + "a";
    let deep = "a/".repeat(201) + "a";
    let ck = w.connect("c");
    w.publish(ck, &ok, QoS::AtMostOnce, 0, false);
    w.subscribe(ck, &ok, QoS::AtMostOnce);
    assert!(!w.closed.contains_key(&ck));
    w.publish(ck, &deep, QoS::AtMostOnce, 0, false);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
    let ck = w.connect("d");
    w.subscribe(ck, &deep, QoS::AtMostOnce);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
}

#[test]
fn malformed_v5_input_closes_with_the_spec_reason_code() {
    // (bytes after a good CONNECT, expected DISCONNECT reason)
    let cases: [(&[u8], u8); 4] = [
        // PUBLISH with a duplicate payload format indicator.
        (&[0x30, 0x09, 0, 1, b't', 4, 1, 0, 1, 0, b'x'], 0x82),
        // PUBLISH with a property not allowed there (session expiry).
        (&[0x30, 0x09, 0, 1, b't', 5, 0x11, 0, 0, 0, 1], 0x81),
        // SUBSCRIBE with a property block longer than the packet.
        (&[0x82, 0x05, 0, 1, 9, 0, 0], 0x81),
        // PUBLISH with a bad varint property length.
        (
            &[0x30, 0x08, 0, 1, b't', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            0x81,
        ),
    ];
    for (bytes, reason) in cases {
        let mut w = Wire::new("");
        let (ck, _) = w.connect_v5("m", true, Properties::default());
        w.core.received(ck, bytes, w.now, &NoSockets);
        w.flush();
        assert!(w.closed.contains_key(&ck), "{bytes:02x?} not closed");
        let got = disconnects(&w.received(ck));
        assert_eq!(got.first().map(|d| d.0), Some(reason), "{bytes:02x?}");
    }
    // Receive maximum 0 in CONNECT: closed without CONNACK, as mosquitto.
    let mut w = Wire::new("");
    let mut p = Properties::default();
    p.0.push((id::RECEIVE_MAXIMUM, PropertyValue::U16(0)));
    let ck = w.open();
    w.v5.insert(ck);
    w.send(ck, connect_packet("z", true, p, None));
    assert!(w.closed.contains_key(&ck));
    assert!(w.received(ck).is_empty());
}

#[test]
fn restored_sessions_expire_when_their_saved_time_runs_out() {
    use crate::broker::persist::{PersistClient, PersistDb};
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let client = |id: &str, interval: u32, time: i64| PersistClient {
        client_id: id.into(),
        session_expiry_interval: interval,
        session_expiry_time: time,
        ..PersistClient::default()
    };
    let db = PersistDb {
        clients: vec![
            client("soon", 600, unix_now + 5),
            client("past", 600, unix_now - 5),
            client("fresh", 600, 0),
            client("v3", u32::MAX, 0),
            client("zero", 0, 0),
        ],
        ..PersistDb::default()
    };
    let mut w = Wire::new("");
    w.core.restore(db);
    assert!(!w.core.by_id.contains_key("zero"));
    w.advance(Duration::from_millis(1));
    assert!(!w.core.by_id.contains_key("past"));
    assert!(w.core.by_id.contains_key("soon"));
    w.advance(Duration::from_secs(7));
    assert!(!w.core.by_id.contains_key("soon"));
    assert!(w.core.by_id.contains_key("fresh"));
    w.advance(Duration::from_secs(600));
    assert!(!w.core.by_id.contains_key("fresh"));
    assert!(w.core.by_id.contains_key("v3"), "3.x sessions never expire");
}

#[test]
fn the_database_gets_the_session_expiry_of_disconnected_sessions() {
    let dir = std::env::temp_dir().join(format!("v5conn-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.db");
    let mut w = Wire::new(&format!(
        "persistence true\npersistence_file m.db\npersistence_location {}/\n",
        dir.display()
    ));
    let (ck, _) = w.connect_v5("away", true, expiry(300));
    w.send(ck, Packet::Disconnect(0, Properties::default()));
    w.connect_v5("here", true, expiry(50));
    w.core.save_persistence();
    let db = crate::broker::persist::load(&path).unwrap().unwrap();
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let away = db.clients.iter().find(|c| c.client_id == "away").unwrap();
    assert_eq!(away.session_expiry_interval, 300);
    assert!(
        (away.session_expiry_time - (unix_now + 300)).abs() <= 2,
        "{away:?}"
    );
    let here = db.clients.iter().find(|c| c.client_id == "here").unwrap();
    assert_eq!(
        (here.session_expiry_interval, here.session_expiry_time),
        (50, 0)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_will_carries_its_properties_but_not_its_delay() {
    let mut w = Wire::new("");
    let (sub, _) = w.connect_v5("watcher", true, Properties::default());
    w.subscribe(sub, "wills/#", QoS::AtMostOnce);
    w.received(sub);
    let mut will = will_on("wills/x");
    will.properties.set_content_type("text/plain");
    will.properties.add_user_property("k", "v");
    will.properties.set_will_delay_interval(0);
    let (ck, _) = w.connect_v5_raw(connect_packet("x", true, Properties::default(), Some(will)));
    w.core.schedule_close(ck, CloseReason::ConnectionLost);
    w.flush();
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 1);
    let p = &got[0].properties;
    assert_eq!(p.content_type(), Some("text/plain"));
    assert_eq!(p.user_properties().collect::<Vec<_>>(), [("k", "v")]);
    assert_eq!(p.will_delay_interval(), None);
}

#[test]
fn messages_over_the_clients_maximum_packet_size_are_not_sent() {
    let mut w = Wire::new("");
    let mut p = Properties::default();
    p.set_maximum_packet_size(50);
    let (sub, _) = w.connect_v5("small", true, p);
    w.subscribe(sub, "t", QoS::AtMostOnce);
    w.received(sub);
    let publ = w.connect("pub");
    w.send(
        publ,
        Packet::Publish(publish("t", QoS::AtMostOnce, 0, false, &[1; 100])),
    );
    w.send(
        publ,
        Packet::Publish(publish("t", QoS::AtMostOnce, 0, false, &[2; 10])),
    );
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, [2; 10]);
}

#[test]
fn delayed_wills_are_published_at_shutdown() {
    let (mut w, sub) = delayed_will(60, 600);
    assert!(publishes(&w.received(sub)).is_empty());
    w.core.publish_delayed_wills();
    w.flush();
    assert_eq!(publishes(&w.received(sub)).len(), 1);
    w.advance(Duration::from_secs(61));
    assert!(publishes(&w.received(sub)).is_empty(), "only once");
}

#[test]
fn the_reason_string_is_left_out_when_the_client_allows_no_packet_that_big() {
    let mut w = Wire::new("");
    let mut p = Properties::default();
    p.set_maximum_packet_size(10);
    let (ck, _) = w.connect_v5("tiny", true, p);
    w.core.schedule_close(ck, CloseReason::Shutdown);
    w.flush();
    assert_eq!(
        w.received(ck),
        [Packet::Disconnect(0x8B, Properties::default())]
    );
}

/// A two-step method: "CHAL" answers a challenge; the right answer is
/// "resp". A re-authentication starts over.
struct Challenge;

impl super::super::auth::ExtendedAuth for Challenge {
    fn start(&mut self, _: &AuthClient, method: &str, _: Option<&[u8]>, _: bool) -> AuthStep {
        match method {
            "CHAL" => AuthStep::Continue(b"nonce".to_vec()),
            _ => AuthStep::NotSupported,
        }
    }
    fn step(&mut self, _: &AuthClient, _: &str, data: Option<&[u8]>, _: bool) -> AuthStep {
        match data {
            Some(b"resp") => AuthStep::Success(None),
            _ => AuthStep::Denied,
        }
    }
}

fn auth_packet(reason: ReasonCode, method: &str, data: &[u8]) -> Packet {
    let mut a = crate::protocol::Auth::new(reason);
    a.properties.set_authentication_method(method);
    a.properties.set_authentication_data(data);
    Packet::Auth(a)
}

#[test]
fn a_multi_step_authentication_and_a_re_authentication() {
    let mut w = Wire::new("");
    w.core.auth = Some(Box::new(Challenge));
    let mut p = Properties::default();
    p.set_authentication_method("CHAL");
    let ck = w.open();
    w.v5.insert(ck);
    w.send(ck, connect_packet("a", true, p.clone(), None));
    let challenge = auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"nonce");
    assert_eq!(w.received(ck), std::slice::from_ref(&challenge));
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"resp"),
    );
    let got = w.received(ck);
    let Some(Packet::ConnAck(ack)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(ack.code, 0);
    assert_eq!(ack.properties.authentication_method(), Some("CHAL"));
    assert!(w.core.client_count() == 1);
    // Re-authentication: challenge again, then AUTH 0x00.
    w.send(ck, auth_packet(ReasonCode::REAUTHENTICATE, "CHAL", b""));
    assert_eq!(w.received(ck), [challenge]);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"resp"),
    );
    let mut ok = crate::protocol::Auth::new(ReasonCode::SUCCESS);
    ok.properties.set_authentication_method("CHAL");
    assert_eq!(w.received(ck), [Packet::Auth(ok)]);
    // A wrong answer ends it.
    w.send(ck, auth_packet(ReasonCode::REAUTHENTICATE, "CHAL", b""));
    w.received(ck);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"no"),
    );
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x87);
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::NotAuthorized));

    // A wrong answer at CONNECT: CONNACK 0x87; another method: protocol error.
    let ck = w.open();
    w.v5.insert(ck);
    w.send(ck, connect_packet("b", true, p.clone(), None));
    w.received(ck);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"no"),
    );
    let got = w.received(ck);
    assert!(
        matches!(&got[..], [Packet::ConnAck(a)] if a.code == 0x87),
        "{got:?}"
    );
    let ck = w.open();
    w.v5.insert(ck);
    w.send(ck, connect_packet("c", true, p, None));
    w.received(ck);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "OTHER", b"resp"),
    );
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
}

#[test]
fn auth_without_an_exchange_is_a_protocol_error() {
    let mut w = Wire::new("");
    let (ck, _) = w.connect_v5("plain", true, Properties::default());
    w.send(ck, auth_packet(ReasonCode::REAUTHENTICATE, "X", b""));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
    assert_eq!(disconnects(&w.received(ck))[0].0, 0x82);
}

/// Random bytes after a v5 CONNECT (and as the CONNECT's own properties)
/// never panic the core: a deterministic xorshift walk, each input on a
/// fresh connection.
#[test]
fn random_v5_input_never_panics_the_core() {
    let mut w = Wire::new("max_packet_size 2000\n");
    w.core.auth = Some(Box::new(Challenge));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..3000 {
        let r = next();
        let len = (r % 40) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly well-framed packets of a plausible type.
        if let Some(first) = bytes.first_mut() {
            *first = (*first & 0xF0) | if i % 2 == 0 { 0 } else { 2 };
        }
        if bytes.len() > 1 {
            bytes[1] = (bytes.len() - 2) as u8;
        }
        let (ck, _) = w.connect_v5_raw(connect_packet(
            &format!("r{}", i % 7),
            i % 3 == 0,
            Properties::default(),
            None,
        ));
        w.core.received(ck, &bytes, w.now, &NoSockets);
        w.flush();
        w.sent.remove(&ck);
        w.unread.remove(&ck);
        if i % 500 == 0 {
            w.advance(Duration::from_secs(100));
        }
        // CONNECT bodies with random property blocks.
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60];
        let plen = (next() % 12) as u8;
        body.push(plen);
        body.extend((0..plen).map(|_| next() as u8));
        body.extend_from_slice(&[0, 1, b'z']);
        let mut pkt = vec![0x10, body.len() as u8];
        pkt.extend_from_slice(&body);
        let ck = w.open();
        w.core.received(ck, &pkt, w.now, &NoSockets);
        w.flush();
        w.sent.remove(&ck);
    }
}

/// A backend that writes down what it is told: "CHAL" challenges once and
/// takes "resp", naming the client "from-backend".
#[derive(Default)]
struct Recorder(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl Recorder {
    fn note(&self, what: &str, c: &AuthClient, reauth: bool) {
        let f = &c.facts;
        let user = f.username.unwrap_or("-");
        self.0.borrow_mut().push(format!(
            "{what} {} {user} {} k{} c{} s{} r{}",
            f.id,
            f.peer,
            f.keepalive,
            u8::from(f.clean),
            c.security,
            u8::from(reauth)
        ));
    }
}

impl super::super::auth::ExtendedAuth for Recorder {
    fn start(&mut self, c: &AuthClient, _: &str, _: Option<&[u8]>, reauth: bool) -> AuthStep {
        self.note("start", c, reauth);
        AuthStep::Continue(b"nonce".to_vec())
    }
    fn step(&mut self, c: &AuthClient, _: &str, data: Option<&[u8]>, reauth: bool) -> AuthStep {
        self.note("step", c, reauth);
        match data {
            Some(b"resp") => AuthStep::Success(Some(b"done".to_vec())),
            _ => AuthStep::Denied,
        }
    }
    fn username(&mut self, client_id: &str, _: usize) -> Option<Option<String>> {
        self.0.borrow_mut().push(format!("username {client_id}"));
        Some(Some("from-backend".into()))
    }
    fn abandon(&mut self, conn: u32) {
        self.0.borrow_mut().push(format!("abandon {conn}"));
    }
}

#[test]
fn the_backend_is_told_who_authenticates_and_names_the_client() {
    // No anonymous clients: a CONNECT with a method skips the password
    // check (the exchange replaces it, as in mosquitto).
    let mut w = Wire::new("allow_anonymous false\n");
    let rec = Recorder::default();
    let log = std::rc::Rc::clone(&rec.0);
    w.core.auth = Some(Box::new(rec));
    let mut p = Properties::default();
    p.set_authentication_method("CHAL");
    let ck = w.open();
    w.v5.insert(ck);
    let mut c = connect_packet("who", false, p, None);
    if let Packet::Connect(c) = &mut c {
        c.username = Some("alice".into());
    }
    w.send(ck, c);
    w.received(ck);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"resp"),
    );
    let got = w.received(ck);
    let Some(Packet::ConnAck(ack)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(ack.code, 0);
    assert_eq!(ack.properties.authentication_data(), Some(&b"done"[..]));
    let sk = w.core.by_id.get("who").copied().unwrap();
    let user = w.core.sessions.get(sk).unwrap().username.clone();
    assert_eq!(user.as_deref(), Some("from-backend"));
    // Re-authentication: the connected client, as the session knows it.
    w.send(ck, auth_packet(ReasonCode::REAUTHENTICATE, "CHAL", b""));
    w.received(ck);
    w.send(
        ck,
        auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"resp"),
    );
    w.received(ck);
    let n = ck.index();
    assert_eq!(
        *log.borrow(),
        [
            "start who alice 192.0.2.1:1000 k60 c0 s0 r0",
            "step who alice 192.0.2.1:1000 k60 c0 s0 r0",
            "username who",
            // No session expiry: the session is clean from here on.
            "start who from-backend 192.0.2.1:1000 k60 c1 s0 r1",
            "step who from-backend 192.0.2.1:1000 k60 c1 s0 r1",
            "username who",
        ]
    );
    log.borrow_mut().clear();

    // A connection closed in the middle of its CONNECT's exchange.
    let mut p = Properties::default();
    p.set_authentication_method("CHAL");
    let ck2 = w.open();
    w.v5.insert(ck2);
    w.send(ck2, connect_packet("gone", true, p, None));
    w.core.close_conn(ck2, w.now);
    let n2 = ck2.index();
    assert_eq!(log.borrow().last(), Some(&format!("abandon {n2}")));
    assert_ne!(n, n2);
}

#[test]
fn auth_steps_out_of_turn_are_protocol_errors() {
    // 0x18 with no re-authentication under way, and 0x19 during one, as
    // mosquitto's handle__auth.
    for (first, second) in [
        (None, ReasonCode::CONTINUE_AUTHENTICATION),
        (Some(ReasonCode::REAUTHENTICATE), ReasonCode::REAUTHENTICATE),
    ] {
        let mut w = Wire::new("");
        w.core.auth = Some(Box::new(Challenge));
        let mut p = Properties::default();
        p.set_authentication_method("CHAL");
        let ck = w.open();
        w.v5.insert(ck);
        w.send(ck, connect_packet("a", true, p, None));
        w.received(ck);
        w.send(
            ck,
            auth_packet(ReasonCode::CONTINUE_AUTHENTICATION, "CHAL", b"resp"),
        );
        assert!(matches!(&w.received(ck)[..], [Packet::ConnAck(a)] if a.code == 0));
        if let Some(r) = first {
            w.send(ck, auth_packet(r, "CHAL", b""));
            assert_eq!(w.received(ck).len(), 1);
        }
        w.send(ck, auth_packet(second, "CHAL", b"resp"));
        assert_eq!(w.closed.get(&ck), Some(&CloseReason::Protocol));
        assert_eq!(disconnects(&w.received(ck))[0].0, 0x82);
    }
}
