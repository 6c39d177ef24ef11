//! No loss under overload: publishers faster than their subscriber are
//! slowed down (TCP back-pressure) instead of having acknowledged messages
//! dropped, and retained messages matched by a subscription are all sent
//! whatever the queue limits. mosquitto 2.0.11 drops in both cases.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn fast_publishers_slow_subscriber_lose_nothing() {
    // One message in flight and a tiny queue: the subscriber is the
    // bottleneck by construction.
    let b = Broker::start("max_inflight_messages 1\nmax_queued_messages 10\nsys_interval 1\n");
    let mut sub = b.client("slow-sub");
    sub.subscribe("load/#", 1);
    let port = b.port;
    let per_pub = 500u32;
    let pubs: Vec<_> = (0..4u32)
        .map(|p| {
            thread::spawn(move || {
                let mut c = Client::connect(port, &format!("fast-pub-{p}"), true, 60);
                for n in 0..per_pub {
                    // Each publish waits for its PUBACK: everything sent here
                    // has been acknowledged by the broker.
                    c.publish(
                        &format!("load/{p}"),
                        format!("{p}:{n}").as_bytes(),
                        1,
                        false,
                    );
                }
            })
        })
        .collect();
    let total = 4 * per_pub as usize;
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < total && Instant::now() < deadline {
        match sub.read_raw(Duration::from_secs(5)) {
            Read1::Packet(raw) => {
                if let Packet::Publish(p) = sub.decode(&raw) {
                    sub.send_raw(&ack_bytes(0x40, p.packet_id));
                    seen.insert(p.payload);
                }
            }
            Read1::Closed => break,
            Read1::Timeout => break,
        }
    }
    for p in pubs {
        p.join().expect("publisher thread");
    }
    if is_reference() {
        // mosquitto acknowledges and then drops once the queue is full.
        eprintln!("reference broker delivered {} of {total}", seen.len());
        return;
    }
    assert_eq!(seen.len(), total, "every acknowledged message arrived");
    let mut watch = b.client("drop-watch");
    watch.subscribe("$SYS/broker/publish/messages/dropped", 0);
    let p = watch.expect_publish();
    assert_eq!(p.payload, b"0", "nothing counted as dropped");
}

#[test]
fn retained_subscribe_beyond_queue_limit_drops_nothing() {
    let b = Broker::start("max_inflight_messages 5\nmax_queued_messages 10\n");
    let mut p = b.client("ret-loader");
    let n = 3000u32;
    for i in 0..n {
        p.publish0(&format!("many/{i}"), format!("v{i}").as_bytes(), true);
    }
    // The loader's messages are in (a QoS 1 round trip after them).
    p.publish("many-done", b"", 1, false);
    for qos in [0u8, 1] {
        let mut s = b.client(&format!("ret-reader-{qos}"));
        s.subscribe("many/#", qos);
        let mut seen = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < n as usize && Instant::now() < deadline {
            let m = s.receive_publish();
            assert!(m.retain);
            seen.insert(m.topic);
        }
        if is_reference() {
            eprintln!("reference broker sent {} of {n} at QoS {qos}", seen.len());
            continue;
        }
        assert_eq!(
            seen.len(),
            n as usize,
            "every retained message at QoS {qos}"
        );
        s.expect_nothing();
    }
}
