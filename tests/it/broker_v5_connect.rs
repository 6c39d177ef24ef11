//! MQTT 5 connections: CONNECT/CONNACK, the v5 forms of what the broker
//! sends, refusals and DISCONNECT reason codes, compared byte for byte with
//! Debian's mosquitto 2.0.11 where it is installed.

use crate::harness::*;

/// A v5 SUBSCRIBE with an empty property block.
fn subscribe_v5(id: u16, filter: &str, options: u8) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.push(0);
    put_str(&mut body, filter.as_bytes());
    body.push(options);
    packet(0x82, &body)
}

/// A v5 PUBLISH with an empty property block.
fn publish_v5(topic: &str, payload: &[u8], qos: u8, id: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.push(0);
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

fn unsubscribe_v5(id: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    body.push(0);
    for f in filters {
        put_str(&mut body, f.as_bytes());
    }
    packet(0xA2, &body)
}

/// Every packet two v5 clients receive in a fixed exchange on the broker
/// at `port`: CONNACK, SUBACK, PUBACK, PUBLISH at QoS 1 and 2 with their
/// acks, PINGRESP, UNSUBACK.
fn v5_transcript(port: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let (mut sub, connack) = Client::connect_opts(port, &ConnectOpts::v5("v5-sub"));
    out.push(connack);
    sub.send_raw(&subscribe_v5(1, "v5/t", 2));
    out.push(sub.expect_raw());
    let (mut publ, connack) = Client::connect_opts(port, &ConnectOpts::v5("v5-pub"));
    out.push(connack);
    publ.send_raw(&publish_v5("v5/t", b"one", 1, 5));
    out.push(publ.expect_raw());
    let got = sub.expect_raw();
    sub.send_raw(&ack_bytes(0x40, 1));
    out.push(got);
    publ.send_raw(&publish_v5("v5/t", b"two", 2, 6));
    out.push(publ.expect_raw()); // PUBREC
    publ.send_raw(&ack_bytes(0x62, 6));
    out.push(publ.expect_raw()); // PUBCOMP
    out.push(sub.expect_raw()); // PUBLISH QoS 2
    sub.send_raw(&ack_bytes(0x50, 2));
    out.push(sub.expect_raw()); // PUBREL
    sub.send_raw(&ack_bytes(0x70, 2));
    sub.send_raw(&PINGREQ);
    out.push(sub.expect_raw());
    sub.send_raw(&unsubscribe_v5(3, &["v5/t", "v5/none"]));
    out.push(sub.expect_raw());
    sub.send_raw(&DISCONNECT);
    sub.expect_closed();
    publ.disconnect();
    out
}

fn debian(conf: &str) -> Option<RefBroker> {
    let dir = TempDir::new("v5-ref");
    RefBroker::start(|port| {
        dir.write(
            &format!("m{port}.conf"),
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{conf}\n"),
        )
    })
}

#[test]
fn a_v5_exchange_is_byte_exact() {
    let b = Broker::start("");
    let ours = v5_transcript(b.port);
    assert_eq!(ours[0], [0x20, 9, 0, 0, 6, 0x22, 0, 10, 0x21, 0, 20]);
    // SUBACK with an empty property block, granted QoS 2.
    assert_eq!(ours[1], [0x90, 4, 0, 1, 0, 2]);
    // The delivered PUBLISH has a property block (empty).
    assert_eq!(
        ours[4],
        [0x32, 12, 0, 4, b'v', b'5', b'/', b't', 0, 1, 0, b'o', b'n', b'e']
    );
    // UNSUBACK with one reason code per filter.
    assert_eq!(ours[10].len(), 7);
    if let Some(reference) = debian("") {
        let theirs = v5_transcript(reference.port);
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            // mosquitto says 0x11 "no subscription existed" for the second
            // filter: part B (v5msg) answers that.
            if i == 10 {
                assert_eq!(o[..6], t[..6], "UNSUBACK head");
                continue;
            }
            assert_eq!(o, t, "packet {i} differs from Debian's mosquitto");
        }
        assert_eq!(ours.len(), theirs.len());
    }
}

#[test]
fn v5_connack_properties_follow_the_configuration_like_mosquitto() {
    let conf = "max_keepalive 30\nmax_packet_size 2000\nretain_available false\n\
                max_inflight_messages 7\nmax_topic_alias 4\n";
    let exchange = |port: u16| {
        // A session expiry interval of 0 (the default, said explicitly).
        let opts = ConnectOpts::v5("props")
            .keepalive(0)
            .props(&[0x11, 0, 0, 0, 0]);
        let (c, connack) = Client::connect_opts(port, &opts);
        c.disconnect();
        connack
    };
    let b = Broker::start(conf);
    let ours = exchange(b.port);
    #[rustfmt::skip]
    let want = [0x20, 19, 0, 0, 16, 0x22, 0, 4, 0x13, 0, 30, 0x25, 0,
        0x27, 0, 0, 0x07, 0xD0, 0x21, 0, 7];
    // mosquitto sends no max QoS at 2; with max_qos it adds 0x24 last.
    assert_eq!(ours, want);
    if let Some(r) = debian(conf) {
        assert_eq!(ours, exchange(r.port));
    }
}

#[test]
fn debian_v5_tools_round_trip_through_ours() {
    let (Some(_), Some(_)) = (
        require_tool("mosquitto_sub", "Debian's client"),
        require_tool("mosquitto_pub", "Debian's client"),
    ) else {
        return;
    };
    let b = Broker::start("");
    let p = b.port_arg();
    let sub_args = ["-p", &p, "-V", "mqttv5", "-t", "v5/#", "-q", "1", "-C", "2"];
    let mut sub = Sub::start("/usr/bin/mosquitto_sub", &sub_args);
    for (m, q) in [("first", "1"), ("second", "2")] {
        let args = ["-p", &p, "-V", "mqttv5", "-t", "v5/x", "-m", m, "-q", q];
        let r = run("/usr/bin/mosquitto_pub", &args);
        assert_eq!(r.code, Some(0), "mosquitto_pub: {}", r.stderr);
    }
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
    assert_eq!(sub.output(), b"first\nsecond\n");
}
