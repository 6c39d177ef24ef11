//! Retained messages and wills, including keepalive expiry.

use crate::harness::*;
use std::time::{Duration, Instant};

#[test]
fn retained_message_is_delivered_to_new_subscribers_with_retain_flag() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "ret-pub", true, 60);
    publ.publish("ret/a", b"stored", 1, true);
    let mut sub = Client::connect(b.port, "ret-sub", true, 60);
    sub.subscribe("ret/a", 0);
    sub.expect_bytes(&publish_bytes("ret/a", b"stored", 0, true, false, 0));
    sub.expect_nothing();
}

#[test]
fn retained_message_is_replaced_and_cleared() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "rep-pub", true, 60);
    publ.publish("rep/t", b"one", 0, true);
    publ.publish("rep/t", b"two", 1, true);
    let mut s1 = Client::connect(b.port, "rep-s1", true, 60);
    s1.subscribe("rep/t", 1);
    let m = s1.receive_publish();
    assert_eq!((m.payload.as_slice(), m.retain), (&b"two"[..], true));
    s1.expect_nothing();
    // An empty retained payload clears it; the existing subscriber still
    // receives the empty message (retain flag clear, live delivery).
    publ.publish("rep/t", b"", 1, true);
    let m = s1.receive_publish();
    assert_eq!((m.payload.len(), m.retain), (0, false));
    let mut s2 = Client::connect(b.port, "rep-s2", true, 60);
    s2.subscribe("rep/t", 1);
    s2.expect_nothing();
}

#[test]
fn retained_delivered_at_min_of_publish_and_subscription_qos() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "rq-pub", true, 60);
    publ.publish("rq/two", b"2", 2, true);
    publ.publish("rq/zero", b"0", 0, true);
    let mut s = Client::connect(b.port, "rq-sub1", true, 60);
    s.subscribe("rq/two", 1);
    let got = s.expect_raw();
    let id = match s.decode(&got) {
        Packet::Publish(p) => p.packet_id,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert_eq!(got, publish_bytes("rq/two", b"2", 1, true, false, id));
    s.send_raw(&ack_bytes(0x40, id));
    s.subscribe("rq/zero", 2);
    s.expect_bytes(&publish_bytes("rq/zero", b"0", 0, true, false, 0));
    let mut s2 = Client::connect(b.port, "rq-sub2", true, 60);
    s2.subscribe("rq/two", 2);
    let m = s2.receive_publish();
    assert_eq!((m.qos, m.retain), (QoS::ExactlyOnce, true));
}

#[test]
fn wildcard_subscription_gets_every_matching_retained_message() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "rw-pub", true, 60);
    for t in ["rw/a", "rw/b", "rw/c/d", "other/x"] {
        publ.publish(t, t.as_bytes(), 1, true);
    }
    let mut s = Client::connect(b.port, "rw-sub", true, 60);
    s.subscribe("rw/#", 0);
    let mut topics: Vec<String> = (0..3).map(|_| s.expect_publish().topic).collect();
    topics.sort();
    assert_eq!(topics, vec!["rw/a", "rw/b", "rw/c/d"]);
    s.expect_nothing();
}

#[test]
fn resubscribing_sends_retained_again() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "rs-pub", true, 60);
    publ.publish("rs/t", b"again", 0, true);
    let mut s = Client::connect(b.port, "rs-sub", true, 60);
    for _ in 0..2 {
        s.subscribe("rs/t", 0);
        let m = s.expect_publish();
        assert_eq!((m.payload.as_slice(), m.retain), (&b"again"[..], true));
    }
}

#[test]
fn retained_messages_are_not_matched_by_wildcards_for_dollar_topics() {
    let b = Broker::start("");
    let mut publ = Client::connect(b.port, "rd-pub", true, 60);
    publ.publish("$rd/t", b"dollar", 0, true);
    publ.publish("rd/t", b"plain", 1, true);
    let mut s = Client::connect(b.port, "rd-sub", true, 60);
    s.subscribe("#", 0);
    // "#" matches "rd/t" but never "$rd/t"; skip any other retained message a
    // broker may hold (e.g. its own $SYS, which "#" does not match either).
    let m = s.expect_publish();
    assert_eq!(m.topic, "rd/t");
    s.expect_nothing();
    s.subscribe("$rd/#", 0);
    assert_eq!(s.expect_publish().payload, b"dollar");
}

#[test]
fn retain_available_false_refuses_retained_publish() {
    let b = Broker::start("retain_available false");
    let mut healthy = Client::connect(b.port, "ra-healthy", true, 60);
    healthy.subscribe("ra/#", 0);
    let mut c = Client::connect(b.port, "ra-pub", true, 60);
    c.send_raw(&publish_bytes("ra/t", b"r", 0, true, false, 0));
    // MQTT 3.1.1 has no way to say "retain not supported": mosquitto closes.
    c.expect_closed();
    healthy.expect_nothing();
    // Non-retained publishes work.
    let mut c = Client::connect(b.port, "ra-pub2", true, 60);
    c.publish("ra/t", b"plain", 1, false);
    assert_eq!(healthy.receive_publish().payload, b"plain");
    // And nothing was stored.
    let mut late = Client::connect(b.port, "ra-late", true, 60);
    late.subscribe("ra/#", 0);
    late.expect_nothing();
}

// ---------------------------------------------------------------------------
// Wills
// ---------------------------------------------------------------------------

fn will_client(port: u16, id: &str, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Client {
    let (c, connack) = Client::connect_opts(
        port,
        &ConnectOpts::v311(id).will(topic, payload, qos, retain),
    );
    assert_eq!(connack, CONNACK_OK);
    c
}

#[test]
fn will_is_published_when_the_socket_closes_without_disconnect() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "will-watch", true, 60);
    watcher.subscribe("will/#", 2);
    let c = will_client(b.port, "will-dies", "will/dies", b"gone", 1, false);
    c.drop_connection();
    let m = watcher.receive_publish();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice(), m.qos, m.retain),
        ("will/dies", &b"gone"[..], QoS::AtLeastOnce, false)
    );
    watcher.expect_nothing();
}

#[test]
fn will_is_not_published_after_disconnect() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "nowill-watch", true, 60);
    watcher.subscribe("nowill/#", 0);
    let c = will_client(b.port, "nowill", "nowill/t", b"should not", 0, false);
    c.disconnect();
    // A marker after the disconnect: it must be the first thing the watcher sees.
    let mut publ = Client::connect(b.port, "nowill-pub", true, 60);
    publ.publish("nowill/marker", b"marker", 1, false);
    assert_eq!(watcher.receive_publish().payload, b"marker");
    watcher.expect_nothing();
}

#[test]
fn will_is_published_on_protocol_error() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "perr-watch", true, 60);
    watcher.subscribe("perr/#", 0);
    let mut c = will_client(b.port, "perr", "perr/will", b"bad client", 0, false);
    // PUBLISH with QoS 3 is a protocol error: the broker closes and sends the will.
    c.send_raw(&[0x36, 0x05, 0x00, 0x01, b'x', 0x00, 0x01]);
    c.expect_closed();
    assert_eq!(watcher.receive_publish().payload, b"bad client");
}

#[test]
fn will_with_retain_is_retained() {
    let b = Broker::start("");
    let c = will_client(b.port, "will-ret", "wr/status", b"offline", 1, true);
    let mut watcher = Client::connect(b.port, "wr-watch", true, 60);
    watcher.subscribe("wr/status", 1);
    c.drop_connection();
    let m = watcher.receive_publish();
    assert_eq!((m.payload.as_slice(), m.retain), (&b"offline"[..], false));
    let mut late = Client::connect(b.port, "wr-late", true, 60);
    late.subscribe("wr/status", 1);
    let m = late.receive_publish();
    assert_eq!((m.payload.as_slice(), m.retain), (&b"offline"[..], true));
}

#[test]
fn keepalive_timeout_closes_and_publishes_will() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "ka-watch", true, 60);
    watcher.subscribe("ka/will", 0);
    let (mut c, connack) = Client::connect_opts(
        b.port,
        &ConnectOpts::v311("ka-silent")
            .keepalive(1)
            .will("ka/will", b"timed out", 0, false),
    );
    assert_eq!(connack, CONNACK_OK);
    let start = Instant::now();
    // Keepalive 1 s: the broker must close within 1.5 s of silence (allow
    // generous slack for a loaded machine), and not before 1 s.
    c.expect_closed_within(Duration::from_secs(10));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}, before the keepalive passed"
    );
    let m = watcher.receive_publish();
    assert_eq!(m.payload, b"timed out");
}

#[test]
fn pingreq_keeps_a_short_keepalive_connection_alive() {
    let b = Broker::start("");
    let (mut c, connack) =
        Client::connect_opts(b.port, &ConnectOpts::v311("ka-pinger").keepalive(1));
    assert_eq!(connack, CONNACK_OK);
    let start = Instant::now();
    // Ping every ~500 ms for 3 s (6 keepalive-halves): still connected.
    for _ in 0..6 {
        c.assert_alive();
        // Pacing: wait on the socket (nothing should arrive) rather than sleep.
        c.expect_nothing_for(Duration::from_millis(500));
    }
    assert!(start.elapsed() >= Duration::from_secs(3));
    c.assert_alive();
}

#[test]
fn will_message_at_will_qos_downgraded_to_subscription() {
    let b = Broker::start("");
    let mut watcher = Client::connect(b.port, "wq-watch", true, 60);
    watcher.subscribe("wq/t", 1);
    let c = will_client(b.port, "wq", "wq/t", b"w", 2, false);
    c.drop_connection();
    let m = watcher.receive_publish();
    assert_eq!((m.payload.as_slice(), m.qos), (&b"w"[..], QoS::AtLeastOnce));
}
