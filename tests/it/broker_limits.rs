//! Size limits: message_size_limit (drop, keep the connection),
//! max_packet_size (close the connection before reading the body) and
//! max_inflight_bytes (the outgoing window measured in payload bytes).

use crate::harness::*;

#[test]
fn message_size_limit_drops_large_messages_but_acknowledges_them() {
    let b = Broker::start("message_size_limit 10");
    let mut sub = Client::connect(b.port, "msl-sub", true, 60);
    sub.subscribe("msl/#", 2);
    let mut publ = Client::connect(b.port, "msl-pub", true, 60);
    // Over the limit at each QoS: acknowledged as usual, not delivered.
    publ.publish0("msl/big", b"01234567890", false);
    publ.publish("msl/big", b"01234567890", 1, false);
    publ.publish("msl/big", b"01234567890", 2, false);
    // At the limit: delivered.
    publ.publish("msl/ok", b"0123456789", 1, false);
    let m = sub.receive_publish();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("msl/ok", &b"0123456789"[..])
    );
    sub.expect_nothing();
    publ.assert_alive();
    // A retained message over the limit is not stored either.
    publ.publish("msl/ret", b"01234567890", 1, true);
    let mut late = Client::connect(b.port, "msl-late", true, 60);
    late.subscribe("msl/ret", 0);
    late.expect_nothing();
}

#[test]
fn max_packet_size_closes_oversize_packets() {
    let b = Broker::start("max_packet_size 100");
    let mut sub = Client::connect(b.port, "mps-sub", true, 60);
    sub.subscribe("mps/#", 1);
    let mut publ = Client::connect(b.port, "mps-pub", true, 60);
    publ.publish("mps/small", &[b'x'; 50], 1, false);
    assert_eq!(sub.receive_publish().payload.len(), 50);
    // Oversize: the connection is closed and the message goes nowhere.
    publ.send_raw(&publish_bytes("mps/big", &[b'x'; 200], 0, false, false, 0));
    publ.expect_closed();
    sub.expect_nothing();
    // Only the header of an oversize packet is enough to be closed: the
    // broker must not wait for (or buffer) the body.
    let mut hdr = Client::connect(b.port, "mps-header", true, 60);
    hdr.send_raw(&[0x30, 0xE8, 0x07]); // remaining length 1000, no body
    hdr.expect_closed();
    // An oversize CONNECT is refused too.
    let mut big_connect = Client::raw(b.port, "mps-connect");
    let id = "c".repeat(150);
    let _ = big_connect.try_send_raw(&ConnectOpts::v311(&id).bytes());
    big_connect.expect_closed();
    // Everyone else is fine.
    let mut publ2 = Client::connect(b.port, "mps-pub2", true, 60);
    publ2.publish("mps/after", b"ok", 1, false);
    assert_eq!(sub.receive_publish().payload, b"ok");
}

#[test]
fn max_packet_size_allows_packets_under_the_limit_at_every_qos() {
    let b = Broker::start("max_packet_size 64");
    let mut sub = Client::connect(b.port, "mpo-sub", true, 60);
    sub.subscribe("mpo/t", 2);
    let mut publ = Client::connect(b.port, "mpo-pub", true, 60);
    for qos in 0..=2u8 {
        publ.publish("mpo/t", &[qos; 40], qos, false);
        let m = sub.receive_publish();
        assert_eq!(m.payload, vec![qos; 40]);
    }
}

/// Receives `n` PUBLISH packets without acknowledging them; returns their
/// packet ids and payload lengths.
fn unacked(c: &mut Client, n: usize) -> Vec<(u16, usize)> {
    (0..n)
        .map(|_| {
            let p = c.expect_publish();
            (p.packet_id, p.payload.len())
        })
        .collect()
}

#[test]
fn max_inflight_bytes_limits_unacked_payload_bytes() {
    let b = Broker::start("max_inflight_messages 20\nmax_inflight_bytes 100");
    let mut sub = Client::connect(b.port, "ifb-sub", true, 60);
    sub.subscribe("ifb/t", 1);
    let mut publ = Client::connect(b.port, "ifb-pub", true, 60);

    // 25-byte messages: four fill the 100 bytes, the rest wait for acks
    // (the count limit of 20 is far away).
    for i in 0..6u8 {
        publ.publish("ifb/t", &[i; 25], 1, false);
    }
    if is_reference() {
        // mosquitto 2.0.11 applies the byte limit only as a message arrives;
        // its main loop then moves queued messages into flight by count
        // alone (db__message_write_queued_out; fixed in 2.0.13), so how many
        // arrive unacknowledged depends on timing. Only check that none is
        // lost; we keep the limit, as documented.
        for i in 0..6u8 {
            assert_eq!(sub.receive_publish().payload, [i; 25]);
        }
        sub.expect_nothing();
        return;
    }
    let first = unacked(&mut sub, 4);
    assert!(first.iter().all(|&(_, len)| len == 25));
    sub.expect_nothing();
    sub.send_raw(&ack_bytes(0x40, first[0].0));
    // 75 bytes in flight: under the limit, so one more goes, even though it
    // takes the total back to 100.
    let p = sub.expect_publish();
    assert_eq!(p.payload, [4; 25]);
    sub.expect_nothing();
    for &(id, _) in &first[1..] {
        sub.send_raw(&ack_bytes(0x40, id));
    }
    sub.send_raw(&ack_bytes(0x40, p.packet_id));
    assert_eq!(sub.receive_publish().payload, [5; 25]);
    sub.expect_nothing();

    // A message over the limit still goes, alone.
    publ.publish("ifb/t", &[6; 150], 1, false);
    publ.publish("ifb/t", &[7; 25], 1, false);
    publ.publish("ifb/t", &[8; 25], 1, false);
    let big = sub.expect_publish();
    assert_eq!(big.payload.len(), 150);
    sub.expect_nothing();
    sub.send_raw(&ack_bytes(0x40, big.packet_id));
    assert_eq!(sub.receive_publish().payload, [7; 25]);
    assert_eq!(sub.receive_publish().payload, [8; 25]);
    sub.expect_nothing();
}

#[test]
fn max_inflight_bytes_zero_leaves_only_the_count_limit() {
    let b = Broker::start("max_inflight_messages 3\nmax_inflight_bytes 0");
    let mut sub = Client::connect(b.port, "ifb0-sub", true, 60);
    sub.subscribe("ifb0/t", 2);
    let mut publ = Client::connect(b.port, "ifb0-pub", true, 60);
    for i in 0..4u8 {
        publ.publish("ifb0/t", &[i; 1000], 2, false);
    }
    let got = unacked(&mut sub, 3);
    assert!(got.iter().all(|&(_, len)| len == 1000));
    sub.expect_nothing();
}

#[test]
fn max_inflight_bytes_applies_to_messages_queued_while_away() {
    let b = Broker::start("max_inflight_bytes 100");
    let mut c = Client::connect(b.port, "ifbq-sub", false, 60);
    c.subscribe("ifbq/t", 1);
    c.disconnect();
    let mut publ = Client::connect(b.port, "ifbq-pub", true, 60);
    for i in 0..6u8 {
        publ.publish("ifbq/t", &[i; 40], 1, false);
    }
    let (mut c, connack) =
        Client::connect_opts(b.port, &ConnectOpts::v311("ifbq-sub").clean(false));
    assert_eq!(connack, [0x20, 0x02, 0x01, 0x00]);
    if is_reference() {
        // 2.0.11 resumes by count alone (as in the test above, fixed in 2.0.13).
        for i in 0..6u8 {
            assert_eq!(c.receive_publish().payload, [i; 40]);
        }
        return;
    }
    // 0, 40 and 80 bytes in flight are under the limit: three go.
    let got = unacked(&mut c, 3);
    c.expect_nothing();
    for (id, _) in got {
        c.send_raw(&ack_bytes(0x40, id));
    }
    for i in 3..6u8 {
        assert_eq!(c.receive_publish().payload, [i; 40]);
    }
    c.expect_nothing();
}
