//! Persistent sessions (clean session = 0): queued messages, session present,
//! resend of unacknowledged messages, in-flight and queue limits.

use crate::harness::*;

const SESSION_PRESENT: [u8; 4] = [0x20, 0x02, 0x01, 0x00];

fn reconnect(port: u16, id: &str, clean: bool) -> (Client, Vec<u8>) {
    Client::connect_opts(port, &ConnectOpts::v311(id).clean(clean))
}

#[test]
fn offline_qos1_and_qos2_are_queued_qos0_is_not() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "persist", false, 60);
    c.subscribe("ps/#", 2);
    c.disconnect();
    let mut publ = Client::connect(b.port, "persist-pub", true, 60);
    publ.publish("ps/q0", b"zero", 0, false);
    publ.publish("ps/q1", b"one", 1, false);
    publ.publish("ps/q2", b"two", 2, false);
    let (mut c, connack) = reconnect(b.port, "persist", false);
    assert_eq!(connack, SESSION_PRESENT);
    let m1 = c.receive_publish();
    assert_eq!((m1.topic.as_str(), m1.qos), ("ps/q1", QoS::AtLeastOnce));
    let m2 = c.receive_publish();
    assert_eq!((m2.topic.as_str(), m2.qos), ("ps/q2", QoS::ExactlyOnce));
    c.expect_nothing();
    // The subscription is still there for live messages too.
    publ.publish("ps/live", b"live", 0, false);
    assert_eq!(c.receive_publish().payload, b"live");
}

#[test]
fn queue_qos0_messages_queues_qos0_for_offline_clients() {
    let b = Broker::start("queue_qos0_messages true");
    let mut c = Client::connect(b.port, "persist0", false, 60);
    c.subscribe("pq/#", 1);
    c.disconnect();
    let mut publ = Client::connect(b.port, "persist0-pub", true, 60);
    publ.publish("pq/a", b"zero", 0, false);
    publ.publish("pq/b", b"one", 1, false);
    let (mut c, connack) = reconnect(b.port, "persist0", false);
    assert_eq!(connack, SESSION_PRESENT);
    let m = c.receive_publish();
    assert_eq!(
        (m.payload.as_slice(), m.qos),
        (&b"zero"[..], QoS::AtMostOnce)
    );
    let m = c.receive_publish();
    assert_eq!(
        (m.payload.as_slice(), m.qos),
        (&b"one"[..], QoS::AtLeastOnce)
    );
}

#[test]
fn first_connect_has_no_session_present() {
    let b = Broker::start("");
    let (_c, connack) = reconnect(b.port, "brand-new", false);
    assert_eq!(connack, CONNACK_OK);
}

#[test]
fn unacked_qos1_is_resent_with_dup_on_reconnect() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "resend1", false, 60);
    c.subscribe("rs1/t", 1);
    let mut publ = Client::connect(b.port, "resend1-pub", true, 60);
    publ.publish("rs1/t", b"again", 1, false);
    let first = c.expect_raw();
    let id = u16::from_be_bytes([first[9], first[10]]);
    assert_eq!(first, publish_bytes("rs1/t", b"again", 1, false, false, id));
    // Vanish without PUBACK.
    c.drop_connection();
    let (mut c, connack) = reconnect(b.port, "resend1", false);
    assert_eq!(connack, SESSION_PRESENT);
    // Same packet id, DUP set.
    c.expect_bytes(&publish_bytes("rs1/t", b"again", 1, false, true, id));
    c.send_raw(&ack_bytes(0x40, id));
    c.expect_nothing();
    c.disconnect();
    // Acknowledged now: not sent a third time.
    let (mut c, connack) = reconnect(b.port, "resend1", false);
    assert_eq!(connack, SESSION_PRESENT);
    c.expect_nothing();
}

#[test]
fn unacked_qos2_publish_is_resent_and_pubrel_after_pubrec() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "resend2", false, 60);
    c.subscribe("rs2/t", 2);
    let mut publ = Client::connect(b.port, "resend2-pub", true, 60);
    publ.publish("rs2/a", b"unused", 0, false);
    publ.publish("rs2/t", b"first", 2, false);
    let first = c.expect_raw();
    let id = u16::from_be_bytes([first[9], first[10]]);
    assert_eq!(first, publish_bytes("rs2/t", b"first", 2, false, false, id));
    c.drop_connection();
    // Reconnect: PUBLISH resent with DUP; this time answer PUBREC and vanish.
    let (mut c, connack) = reconnect(b.port, "resend2", false);
    assert_eq!(connack, SESSION_PRESENT);
    c.expect_bytes(&publish_bytes("rs2/t", b"first", 2, false, true, id));
    c.send_raw(&ack_bytes(0x50, id));
    c.expect_bytes(&ack_bytes(0x62, id));
    c.drop_connection();
    // Reconnect: only PUBREL is resent, not the message.
    let (mut c, connack) = reconnect(b.port, "resend2", false);
    assert_eq!(connack, SESSION_PRESENT);
    c.expect_bytes(&ack_bytes(0x62, id));
    c.send_raw(&ack_bytes(0x70, id));
    c.expect_nothing();
}

#[test]
fn inbound_qos2_survives_publisher_reconnect() {
    let b = Broker::start("");
    let mut sub = Client::connect(b.port, "in2-sub", true, 60);
    sub.subscribe("in2/t", 2);
    let mut publ = Client::connect(b.port, "in2-pub", false, 60);
    publ.send_raw(&publish_bytes("in2/t", b"across", 2, false, false, 5));
    publ.expect_bytes(&ack_bytes(0x50, 5));
    publ.drop_connection();
    let (mut publ, connack) = reconnect(b.port, "in2-pub", false);
    assert_eq!(connack, SESSION_PRESENT);
    publ.send_raw(&ack_bytes(0x62, 5));
    publ.expect_bytes(&ack_bytes(0x70, 5));
    let m = sub.receive_publish();
    assert_eq!(m.payload, b"across");
    sub.expect_nothing();
}

#[test]
fn clean_session_reconnect_discards_the_session() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "discard", false, 60);
    c.subscribe("dc/t", 1);
    c.disconnect();
    let mut publ = Client::connect(b.port, "discard-pub", true, 60);
    publ.publish("dc/t", b"queued", 1, false);
    // Clean reconnect: no session present, the queued message is gone.
    let (mut c, connack) = reconnect(b.port, "discard", true);
    assert_eq!(connack, CONNACK_OK);
    c.expect_nothing();
    // And the subscription is gone too.
    publ.publish("dc/t", b"live", 1, false);
    c.expect_nothing();
    c.disconnect();
    // A persistent reconnect after that starts from nothing.
    let (mut c, connack) = reconnect(b.port, "discard", false);
    assert_eq!(connack, CONNACK_OK);
    c.expect_nothing();
}

#[test]
fn clean_session_client_leaves_nothing_behind() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "transient", true, 60);
    c.subscribe("tr/t", 1);
    c.disconnect();
    let mut publ = Client::connect(b.port, "transient-pub", true, 60);
    publ.publish("tr/t", b"lost", 1, false);
    let (mut c, connack) = reconnect(b.port, "transient", false);
    assert_eq!(connack, CONNACK_OK);
    c.expect_nothing();
}

#[test]
fn max_inflight_messages_limits_unacked_deliveries() {
    let b = Broker::start("max_inflight_messages 2");
    let mut sub = Client::connect(b.port, "inflight", true, 60);
    sub.subscribe("if/t", 1);
    let mut publ = Client::connect(b.port, "inflight-pub", true, 60);
    for i in 0..5u8 {
        publ.publish("if/t", &[i], 1, false);
    }
    // Two arrive, then nothing until one is acknowledged.
    let a = sub.expect_publish();
    let b2 = sub.expect_publish();
    assert_eq!((a.payload[0], b2.payload[0]), (0, 1));
    sub.expect_nothing();
    sub.send_raw(&ack_bytes(0x40, a.packet_id));
    let mut in_flight = vec![b2.packet_id];
    let c = sub.expect_publish();
    assert_eq!(c.payload, [2]);
    in_flight.push(c.packet_id);
    let mut next = 3u8;
    if is_reference() {
        // mosquitto 2.0.11 refills the in-flight window counting only the
        // messages before the acknowledged one, so acknowledging the oldest
        // lets max_inflight_messages new ones out: 3 now in flight.
        let d = sub.expect_publish();
        assert_eq!(d.payload, [3]);
        in_flight.push(d.packet_id);
        next = 4;
    }
    sub.expect_nothing();
    for id in in_flight {
        sub.send_raw(&ack_bytes(0x40, id));
    }
    for i in next..5u8 {
        let m = sub.receive_publish();
        assert_eq!(m.payload, [i]);
    }
    sub.expect_nothing();
}

#[test]
fn max_queued_messages_limits_the_offline_queue() {
    let b = Broker::start("max_queued_messages 3");
    let mut c = Client::connect(b.port, "queued", false, 60);
    c.subscribe("mq/t", 1);
    c.disconnect();
    let mut publ = Client::connect(b.port, "queued-pub", true, 60);
    for i in 0..8u8 {
        // Every message is acknowledged to the publisher even if dropped.
        publ.publish("mq/t", &[i], 1, false);
    }
    let (mut c, connack) = reconnect(b.port, "queued", false);
    assert_eq!(connack, SESSION_PRESENT);
    // The oldest messages are kept; the rest were dropped.
    for i in 0..3u8 {
        let m = c.receive_publish();
        assert_eq!(m.payload, [i]);
    }
    c.expect_nothing();
}

#[test]
fn persistent_subscription_qos_is_remembered() {
    let b = Broker::start("");
    let mut c = Client::connect(b.port, "remember", false, 60);
    c.subscribe("rq/t", 1);
    c.disconnect();
    let (mut c, connack) = reconnect(b.port, "remember", false);
    assert_eq!(connack, SESSION_PRESENT);
    let mut publ = Client::connect(b.port, "remember-pub", true, 60);
    publ.publish("rq/t", b"m", 2, false);
    let m = c.receive_publish();
    assert_eq!(m.qos, QoS::AtLeastOnce);
}
