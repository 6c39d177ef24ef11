//! A stalled receiver costs only itself; a draining one still slows its
//! publishers down.

use super::*;

const BIG: usize = 300 * 1024;

/// A `#` subscriber that never reads, a healthy subscriber to `big`, and
/// a publisher.
fn stalled_and_healthy(conf: &str, qos: QoS) -> (Wire, ConnId, ConnId, ConnId) {
    let mut w = Wire::new(conf);
    let stalled = w.connect("stalled");
    w.subscribe(stalled, "#", qos);
    w.received(stalled);
    w.stalled.insert(stalled);
    let healthy = w.connect("healthy");
    w.subscribe(healthy, "big", QoS::AtMostOnce);
    w.received(healthy);
    let publisher = w.connect("pub");
    (w, stalled, healthy, publisher)
}

#[test]
fn a_stalled_qos0_subscriber_stops_holding_the_publisher_back() {
    let (mut w, stalled, healthy, publisher) = stalled_and_healthy("", QoS::AtMostOnce);
    for _ in 0..4 {
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; BIG]);
        w.send(publisher, Packet::Publish(p));
    }
    assert!(!w.core.wants_input(publisher), "paused while it may drain");
    w.advance(Duration::from_millis(501));
    assert!(w.core.wants_input(publisher), "resumed");
    for n in 0..40 {
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; BIG]);
        w.send(publisher, Packet::Publish(p));
        assert!(w.core.wants_input(publisher), "never paused again ({n})");
    }
    assert_eq!(publishes(&w.received(healthy)).len(), 44);
    // Its buffers full, the stalled client's QoS 0 messages are dropped
    // for it: it holds at most one message past the congestion mark.
    let pending = w.core.conns.get(stalled).unwrap().pending_out();
    assert!(pending <= 1024 * 1024 + 2 * BIG, "{pending}");
    assert!(
        w.core.stats.msgs_dropped >= 38,
        "{}",
        w.core.stats.msgs_dropped
    );
    let sk = w.core.by_id["stalled"];
    assert!(w.core.sessions.get(sk).unwrap().dropping, "logged once");
    // It drains again: it counts for back-pressure again.
    w.stalled.remove(&stalled);
    w.core.want_flush(stalled);
    w.flush();
    assert!(!w.core.conns.get(stalled).unwrap().is_stalled());
    assert!(!publishes(&w.received(stalled)).is_empty());
}

#[test]
fn a_stalled_qos1_subscriber_fills_its_queue_then_loses_alone() {
    let conf = "max_queued_messages 10";
    let (mut w, stalled, healthy, publisher) = stalled_and_healthy(conf, QoS::AtLeastOnce);
    // 20 in flight, then the queue: half full pauses the publisher.
    let mut id = 0;
    while w.core.wants_input(publisher) && id < 100 {
        id += 1;
        w.send(
            publisher,
            Packet::Publish(publish("big", QoS::AtLeastOnce, id, false, b"x")),
        );
    }
    assert_eq!(id, 25, "paused at half the queue");
    w.advance(Duration::from_millis(501));
    for _ in 0..30 {
        id += 1;
        w.send(
            publisher,
            Packet::Publish(publish("big", QoS::AtLeastOnce, id, false, b"x")),
        );
        assert!(w.core.wants_input(publisher));
    }
    let sk = w.core.by_id["stalled"];
    let sess = w.core.sessions.get(sk).unwrap();
    assert_eq!(sess.msgs.queued_len(), 10, "queued up to the limit");
    assert_eq!(w.core.stats.msgs_dropped, 55 - 30);
    assert!(sess.dropping);
    // The healthy subscriber got everything (and acknowledges it).
    let got = publishes(&w.received(healthy));
    assert_eq!(got.len(), 55);
    let _ = stalled;
}

#[test]
fn a_slow_but_draining_subscriber_still_pauses_its_publisher() {
    let (mut w, stalled, _healthy, publisher) = stalled_and_healthy("", QoS::AtMostOnce);
    for _ in 0..4 {
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; BIG]);
        w.send(publisher, Packet::Publish(p));
    }
    assert!(!w.core.wants_input(publisher));
    // It writes a little every 400 ms: draining, so never stalled.
    for _ in 0..5 {
        w.advance(Duration::from_millis(400));
        w.core.after_flush(stalled, None, true, true);
        let p = publish("big", QoS::AtMostOnce, 0, false, &[0u8; BIG]);
        w.send(publisher, Packet::Publish(p));
        assert!(!w.core.conns.get(stalled).unwrap().is_stalled());
    }
    assert!(!w.core.wants_input(publisher), "still held back");
    assert_eq!(w.core.stats.msgs_dropped, 0);
}
