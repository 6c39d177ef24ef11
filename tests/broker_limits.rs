//! Size limits: message_size_limit (drop, keep the connection) and
//! max_packet_size (close the connection before reading the body).

mod common;

use common::*;

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
