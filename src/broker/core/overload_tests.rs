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

/// A PUBLISH's bytes announcing `len` payload bytes, of which `have` follow.
fn big_publish_start(topic: &str, qos: QoS, id: u16, len: usize, have: usize) -> Vec<u8> {
    let mut p = publish(topic, qos, id, false, &[]);
    p.payload = vec![b'p'; len];
    let mut bytes = Vec::new();
    Packet::Publish(p).encode(&mut bytes, V311);
    bytes.truncate(bytes.len() - len + have);
    bytes
}

#[test]
fn an_oversize_publish_is_skipped_from_its_header_not_buffered() {
    let (mut w, sub) = Wire::with_subscriber("message_size_limit 1000", "#", QoS::AtLeastOnce);
    let publisher = w.connect("pub");
    let total = 10_000_000;
    let first = big_publish_start("big", QoS::AtLeastOnce, 7, total, 5000);
    let header_len = first.len() - 5000;
    w.core.received(publisher, &first, w.now, &NoSockets);
    w.flush();
    let buffered = |w: &Wire| {
        let c = w.core.conns.get(publisher).unwrap();
        c.io.as_ref().map_or(0, |b| b.rbuf.len())
    };
    assert_eq!(buffered(&w), 0);
    assert!(
        w.received(publisher).is_empty(),
        "acknowledged only when read"
    );
    let chunk = vec![b'p'; 64 * 1024];
    let mut left = total - 5000;
    while left > chunk.len() {
        w.core.received(publisher, &chunk, w.now, &NoSockets);
        left -= chunk.len();
        assert_eq!(buffered(&w), 0);
    }
    // The last bytes, with a small PUBLISH right behind them.
    let mut tail = vec![b'p'; left];
    Packet::Publish(publish("small", QoS::AtLeastOnce, 8, false, b"ok")).encode(&mut tail, V311);
    w.core.received(publisher, &tail, w.now, &NoSockets);
    w.flush();
    let acks: Vec<_> = w.received(publisher);
    assert_eq!(
        acks,
        [Packet::PubAck(Ack::new(7)), Packet::PubAck(Ack::new(8))]
    );
    let got = publishes(&w.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"ok");
    assert!(header_len < 20);
    assert_eq!(w.core.stats.msgs_dropped, 1);
}

#[test]
fn a_small_publish_under_the_limit_is_still_buffered_whole() {
    let mut w = Wire::new("message_size_limit 1000");
    let publisher = w.connect("pub");
    let bytes = big_publish_start("t", QoS::AtLeastOnce, 3, 900, 900);
    let (a, b) = bytes.split_at(10);
    w.core.received(publisher, a, w.now, &NoSockets);
    w.core.received(publisher, b, w.now, &NoSockets);
    w.flush();
    assert_eq!(w.received(publisher), [Packet::PubAck(Ack::new(3))]);
    assert_eq!(w.core.stats.msgs_dropped, 0);
}

fn connect_bytes(id: &str, keep_alive: u16) -> Vec<u8> {
    let c = Connect {
        protocol: V311,
        bridge: false,
        clean_session: true,
        keep_alive,
        client_id: id.into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    let mut bytes = Vec::new();
    Packet::Connect(Box::new(c)).encode(&mut bytes, V311);
    bytes
}

#[test]
fn a_connect_trickling_in_is_closed_at_the_deadline() {
    let mut w = Wire::new("connect_timeout 2");
    let ck = w.open();
    let bytes = connect_bytes("slow", 60);
    // One byte every half second never completes CONNECT in time.
    for b in bytes.iter().take(3) {
        w.core
            .received(ck, std::slice::from_ref(b), w.now, &NoSockets);
        w.advance(Duration::from_millis(500));
    }
    assert!(w.closed.is_empty());
    w.advance(Duration::from_millis(499));
    assert!(w.closed.is_empty());
    w.advance(Duration::from_millis(2));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Keepalive));
}

#[test]
fn keepalive_counts_from_connect_not_from_the_first_byte() {
    let mut w = Wire::new("connect_timeout 2");
    let ck = w.open();
    let bytes = connect_bytes("late", 1);
    let (first, rest) = bytes.split_at(1);
    w.core.received(ck, first, w.now, &NoSockets);
    w.advance(Duration::from_millis(1900));
    w.core.received(ck, rest, w.now, &NoSockets);
    w.flush();
    assert!(matches!(w.received(ck).first(), Some(Packet::ConnAck(_))));
    // The deadline passes: it has connected, its 1.5 s keepalive runs
    // from CONNECT.
    w.advance(Duration::from_millis(1400));
    assert!(w.closed.is_empty());
    w.advance(Duration::from_millis(200));
    assert_eq!(w.closed.get(&ck), Some(&CloseReason::Keepalive));
}

#[test]
fn connect_timeout_zero_sets_no_deadline() {
    let mut w = Wire::new("connect_timeout 0");
    let ck = w.open();
    w.advance(Duration::from_secs(3600));
    assert!(w.closed.is_empty());
    assert!(w.core.conns.get(ck).is_some());
}

#[test]
fn a_qos1_subscriber_that_reads_but_never_acknowledges_is_stalled() {
    let conf = "max_queued_messages 10";
    let (mut w, stalled, _healthy, publisher) = stalled_and_healthy(conf, QoS::AtLeastOnce);
    // It reads everything (its PINGRESPs go out) but acknowledges nothing.
    w.stalled.remove(&stalled);
    let mut id = 0;
    while w.core.wants_input(publisher) && id < 100 {
        id += 1;
        w.send(
            publisher,
            Packet::Publish(publish("big", QoS::AtLeastOnce, id, false, b"x")),
        );
    }
    assert_eq!(id, 25, "paused at half the queue");
    for _ in 0..3 {
        w.advance(Duration::from_millis(200));
        w.send(stalled, Packet::PingReq);
    }
    assert!(w.core.wants_input(publisher), "resumed after 500 ms");
    for _ in 0..30 {
        id += 1;
        w.send(
            publisher,
            Packet::Publish(publish("big", QoS::AtLeastOnce, id, false, b"x")),
        );
        assert!(
            w.core.wants_input(publisher),
            "a stalled client holds nobody back"
        );
    }
    // Acknowledging one lets a queued message into flight: draining again.
    let first = publishes(&w.received(stalled))[0].packet_id;
    w.send(stalled, Packet::PubAck(Ack::new(first)));
    assert!(!w.core.conns.get(stalled).unwrap().is_stalled());
}

#[test]
fn a_paused_publisher_waits_until_the_queue_is_down_to_a_quarter() {
    let conf = "max_queued_messages 10";
    let (mut w, sub, _healthy, publisher) = stalled_and_healthy(conf, QoS::AtLeastOnce);
    w.stalled.remove(&sub);
    let mut id = 0;
    while w.core.wants_input(publisher) && id < 100 {
        id += 1;
        w.send(
            publisher,
            Packet::Publish(publish("big", QoS::AtLeastOnce, id, false, b"x")),
        );
    }
    assert_eq!(id, 25, "paused at half the queue (20 in flight, 5 queued)");
    let ids: Vec<u16> = publishes(&w.received(sub))
        .iter()
        .map(|p| p.packet_id)
        .collect();
    // Each acknowledgement lets one queued message into flight: 4, then 3
    // queued is below the congestion mark but not drained enough.
    for (n, &pid) in ids.iter().take(3).enumerate() {
        w.send(sub, Packet::PubAck(Ack::new(pid)));
        let queued = w
            .core
            .sessions
            .get(w.core.by_id["stalled"])
            .unwrap()
            .msgs
            .queued_len();
        assert_eq!(queued, 4 - n);
        assert_eq!(
            w.core.wants_input(publisher),
            queued * 4 < 10,
            "{queued} queued"
        );
    }
    assert!(w.core.wants_input(publisher), "released at 2 queued");
}
