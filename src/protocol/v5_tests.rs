//! Whole-packet MQTT 5 tests through `Packet`: a valid packet of every type,
//! round trips, and randomized mutations that must never panic the decoder.

use super::*;

fn decode_all(bytes: &[u8], v: ProtocolVersion) -> Result<Packet, DecodeError> {
    let h = fixed_header(bytes)?.ok_or(DecodeError::Truncated)?;
    let body = bytes
        .get(h.header_len..h.total_len())
        .ok_or(DecodeError::Truncated)?;
    if body.len() != h.remaining_length {
        return Err(DecodeError::Truncated);
    }
    Packet::decode(&h, body, v)
}

fn encode(p: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out, ProtocolVersion::V5);
    out
}

fn connect() -> Packet {
    let mut props = Properties::default();
    props.set_session_expiry_interval(120);
    props.set_receive_maximum(10);
    props.set_maximum_packet_size(1 << 20);
    props.set_topic_alias_maximum(5);
    props.set_request_problem_information(false);
    props.set_authentication_method("PLAIN");
    props.set_authentication_data(b"\0u\0p".to_vec());
    props.add_user_property("client", "test");
    let mut will_props = Properties::default();
    will_props.set_will_delay_interval(3);
    will_props.set_payload_format_utf8(true);
    will_props.set_message_expiry_interval(60);
    will_props.set_content_type("text/plain");
    will_props.set_response_topic("r/t");
    will_props.set_correlation_data(b"cd".to_vec());
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        bridge: false,
        clean_session: true,
        keep_alive: 30,
        client_id: "cid".into(),
        will: Some(Will {
            topic: "w/t".into(),
            payload: b"gone".to_vec(),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: will_props,
        }),
        username: Some("u".into()),
        password: Some(b"p".to_vec()),
        properties: props,
    }))
}

fn connack() -> Packet {
    let mut a = ConnAck::with_reason(true, ReasonCode::SUCCESS);
    let p = &mut a.properties;
    p.set_session_expiry_interval(10);
    p.set_assigned_client_identifier("auto-1");
    p.set_server_keep_alive(20);
    p.set_response_information("ri");
    p.set_server_reference("other");
    p.set_reason_string("fine");
    p.set_receive_maximum(100);
    p.set_topic_alias_maximum(10);
    p.set_maximum_qos(QoS::AtLeastOnce);
    p.set_retain_available(true);
    p.set_maximum_packet_size(65536);
    p.set_wildcard_subscription_available(true);
    p.set_subscription_identifier_available(false);
    p.set_shared_subscription_available(true);
    Packet::ConnAck(a)
}

fn publish() -> Packet {
    let mut properties = Properties::default();
    properties.set_payload_format_utf8(true);
    properties.set_topic_alias(3);
    properties.add_subscription_identifier(7);
    properties.add_subscription_identifier(70_000);
    properties.add_user_property("k", "v");
    Packet::Publish(Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: 42,
        payload: b"payload".to_vec(),
        properties,
    })
}

fn ack(reason: ReasonCode) -> Ack {
    let mut a = Ack::with_reason(9, reason);
    a.properties.set_reason_string("why");
    a.properties.add_user_property("x", "y");
    a
}

fn subscribe() -> Packet {
    let mut s = Subscribe {
        packet_id: 5,
        filters: Vec::new(),
        options: Vec::new(),
        properties: Properties::default(),
    };
    s.properties.set_subscription_identifier(12);
    s.push(
        "s/#",
        SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: false,
            retain_handling: RetainHandling::SendIfNew,
        },
    );
    s.push("$share/g/t", SubscriptionOptions::new(QoS::AtMostOnce));
    Packet::Subscribe(s)
}

/// A valid MQTT 5 packet of every type, each with properties where it may
/// carry them.
fn samples() -> Vec<Packet> {
    let mut suback_props = Properties::default();
    suback_props.set_reason_string("partly");
    let mut disconnect_props = Properties::default();
    disconnect_props.set_session_expiry_interval(0);
    disconnect_props.set_server_reference("elsewhere");
    let mut auth = Auth::new(ReasonCode::CONTINUE_AUTHENTICATION);
    auth.properties.set_authentication_method("SCRAM-SHA-256");
    auth.properties.set_authentication_data(b"nonce".to_vec());
    let mut unsub = Unsubscribe {
        packet_id: 6,
        filters: vec!["s/#".into(), "x".into()],
        properties: Properties::default(),
    };
    unsub.properties.add_user_property("u", "1");
    let mut unsuback = UnsubAck::new(6);
    unsuback.codes = vec![0x00, 0x11];
    unsuback.properties.set_reason_string("one missing");
    vec![
        connect(),
        connack(),
        publish(),
        Packet::PubAck(ack(ReasonCode::NO_MATCHING_SUBSCRIBERS)),
        Packet::PubRec(ack(ReasonCode::QUOTA_EXCEEDED)),
        Packet::PubRel(ack(ReasonCode::PACKET_IDENTIFIER_NOT_FOUND)),
        Packet::PubComp(ack(ReasonCode::SUCCESS)),
        subscribe(),
        Packet::SubAck(SubAck {
            packet_id: 5,
            codes: vec![0x01, 0x9E],
            properties: suback_props,
        }),
        Packet::Unsubscribe(unsub),
        Packet::UnsubAck(unsuback),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(ReasonCode::SERVER_MOVED.0, disconnect_props),
        Packet::Auth(auth),
    ]
}

#[test]
fn every_type_round_trips() {
    let all = samples();
    assert_eq!(all.len(), 15);
    for p in all {
        let out = encode(&p);
        let d = decode_all(&out, ProtocolVersion::V5)
            .unwrap_or_else(|e| panic!("{}: {e}", p.packet_type().name()));
        assert_eq!(d, p, "{}", p.packet_type().name());
        assert_eq!(encode(&d), out, "{}", p.packet_type().name());
        assert_eq!(p.encoded_len(ProtocolVersion::V5), out.len());
        // The same packets at 3.1.1 (AUTH has no 3.1.1 form).
        if p.packet_type() != PacketType::Auth {
            let mut old = Vec::new();
            p.encode(&mut old, ProtocolVersion::V311);
            assert_eq!(p.encoded_len(ProtocolVersion::V311), old.len());
        }
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    for p in samples() {
        let out = encode(&p);
        let h = fixed_header(&out).unwrap().unwrap();
        let body = &out[h.header_len..];
        for cut in 0..body.len() {
            // A shorter body can still be a valid packet (the short forms,
            // a SUBSCRIBE missing its last filter); it must never panic.
            let _ = Packet::decode(&h, &body[..cut], ProtocolVersion::V5);
        }
    }
}

#[test]
fn auth_is_reserved_before_5() {
    assert_eq!(
        decode_all(&[0xF0, 0], ProtocolVersion::V311),
        Err(DecodeError::ReservedPacketType(15))
    );
    assert_eq!(
        decode_all(&[0xF0, 0], ProtocolVersion::V5),
        Ok(Packet::Auth(Auth::default()))
    );
    assert!(matches!(
        decode_all(&[0xF1, 0], ProtocolVersion::V5),
        Err(DecodeError::BadFlags { .. })
    ));
}

#[test]
fn properties_do_not_leak_into_311() {
    // The same values encoded at 3.1.1 carry no MQTT 5 fields at all.
    let mut out = Vec::new();
    publish().encode(&mut out, ProtocolVersion::V311);
    assert_eq!(
        out,
        [0x3A, 14, 0, 3, b'a', b'/', b'b', 0, 42, b'p', b'a', b'y', b'l', b'o', b'a', b'd']
    );
    out.clear();
    Packet::PubAck(ack(ReasonCode::QUOTA_EXCEEDED)).encode(&mut out, ProtocolVersion::V311);
    assert_eq!(out, [0x40, 2, 0, 9]);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the v5 decoders: property identifiers, varint
/// continuation, reason codes, lengths, and the extremes.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x02, 0x03, 0x0B, 0x11, 0x15, 0x16, 0x18, 0x1F, 0x21, 0x23, 0x24, 0x26, 0x27, 0x2A,
    0x2B, 0x7F, 0x80, 0x81, 0x82, 0x92, 0xC0, 0xFF,
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len());
        let b = if rng.below(2) == 0 {
            INTERESTING[rng.below(INTERESTING.len())]
        } else {
            rng.next() as u8
        };
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] = b,
            1 => bytes.insert(at.min(bytes.len()), b),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
}

/// Mutated valid MQTT 5 packets of every type never panic the decoder; each
/// gives a packet or a typed error, and any packet accepted encodes to bytes
/// that decode to the same packet.
#[test]
fn mutated_v5_packets_never_panic() {
    let bases: Vec<Vec<u8>> = samples().iter().map(encode).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..30_000 {
        let mut bytes = bases[i % bases.len()].clone();
        mutate(&mut rng, &mut bytes);
        let Ok(Some(h)) = fixed_header(&bytes) else {
            continue;
        };
        // Decode whatever body there is, like a reader given a bad length.
        let body = bytes.get(h.header_len..).unwrap_or(&[]);
        let body = &body[..body.len().min(h.remaining_length)];
        let _ = Packet::decode(&h, body, ProtocolVersion::V311);
        let Ok(p) = Packet::decode(&h, body, ProtocolVersion::V5) else {
            continue;
        };
        accepted += 1;
        // A 3.x-style CONNACK (no properties) is read but not re-encoded as one.
        if let Packet::ConnAck(a) = &p {
            if !a.reason_code().allowed_in(PacketType::ConnAck) {
                continue;
            }
        }
        let again = encode(&p);
        assert_eq!(p.encoded_len(ProtocolVersion::V5), again.len());
        assert_eq!(
            decode_all(&again, ProtocolVersion::V5).as_ref(),
            Ok(&p),
            "{bytes:02x?}"
        );
    }
    // The mutations are mild enough that some survive.
    assert!(accepted > 1000, "{accepted}");
}
