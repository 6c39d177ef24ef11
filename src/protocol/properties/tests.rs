use super::id::*;
use super::*;
use crate::protocol::QoS;

fn block(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

fn decode_in(body: &[u8], ctx: PropertyContext) -> Result<Properties, DecodeError> {
    let bytes = block(body);
    let mut r = Reader::new(&bytes);
    let p = Properties::decode_for(&mut r, ctx)?;
    r.finish()?;
    Ok(p)
}

#[test]
fn round_trip() {
    let p = Properties(vec![
        (0x0B, PropertyValue::Varint(200)),
        (0x11, PropertyValue::U32(3600)),
        (0x26, PropertyValue::Pair("k".into(), "v".into())),
    ]);
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len());
    let mut r = Reader::new(&out);
    assert_eq!(Properties::decode(&mut r).unwrap(), p);
    assert!(r.is_empty());
}

#[test]
fn unknown_property_is_malformed() {
    let mut r = Reader::new(&[0x02, 0x7F, 0x00]);
    assert_eq!(
        Properties::decode(&mut r),
        Err(DecodeError::MalformedProperties)
    );
}

#[test]
fn empty_block_costs_one_byte_and_no_allocation() {
    let p = Properties::default();
    assert_eq!(p.encoded_len(), 1);
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out, [0]);
    let d = Properties::decode(&mut Reader::new(&[0])).unwrap();
    assert_eq!(d.0.capacity(), 0);
}

#[test]
fn encoding_is_canonical_and_byte_exact() {
    // Pushed out of order; written by ascending identifier, the two user
    // properties in the order given.
    let p = Properties(vec![
        (USER_PROPERTY, PropertyValue::Pair("a".into(), "1".into())),
        (SESSION_EXPIRY_INTERVAL, PropertyValue::U32(10)),
        (USER_PROPERTY, PropertyValue::Pair("b".into(), "2".into())),
        (RECEIVE_MAXIMUM, PropertyValue::U16(20)),
    ]);
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(
        out,
        [
            22, 0x11, 0, 0, 0, 10, 0x21, 0, 20, 0x26, 0, 1, b'a', 0, 1, b'1', 0x26, 0, 1, b'b', 0,
            1, b'2'
        ]
    );
    assert_eq!(out.len(), p.encoded_len());
    // Decoding sorts the same way, so a decoded block equals one built by
    // the setters.
    let d = Properties::decode(&mut Reader::new(&out)).unwrap();
    let mut q = Properties::default();
    q.add_user_property("a", "1");
    q.set_receive_maximum(20);
    q.add_user_property("b", "2");
    q.set_session_expiry_interval(10);
    assert_eq!(d, q);
    let pairs: Vec<_> = q.user_properties().collect();
    assert_eq!(pairs, [("a", "1"), ("b", "2")]);
}

#[test]
fn typed_access() {
    let mut p = Properties::default();
    p.set_session_expiry_interval(1);
    p.set_session_expiry_interval(2);
    assert_eq!(p.session_expiry_interval(), Some(2));
    assert_eq!(p.0.len(), 1, "set replaces");
    p.set_maximum_qos(QoS::AtLeastOnce);
    assert_eq!(p.maximum_qos(), Some(QoS::AtLeastOnce));
    p.set_retain_available(false);
    assert_eq!(p.retain_available(), Some(false));
    p.set_content_type("text/plain");
    assert_eq!(p.content_type(), Some("text/plain"));
    p.set_correlation_data(vec![1, 2]);
    assert_eq!(p.correlation_data(), Some(&[1u8, 2][..]));
    p.add_subscription_identifier(5);
    p.add_subscription_identifier(3);
    assert_eq!(p.subscription_identifiers().collect::<Vec<_>>(), [5, 3]);
    assert_eq!(p.subscription_identifier(), Some(5));
    assert_eq!(p.topic_alias(), None);
    assert_eq!(p.reason_string(), None);
    p.remove(SUBSCRIPTION_IDENTIFIER);
    assert_eq!(p.subscription_identifier(), None);
    assert!(p.is_canonical());
}

#[test]
fn per_packet_rules() {
    use PropertyContext as C;
    // Session expiry: CONNECT yes, PUBLISH no (malformed).
    let se = [0x11, 0, 0, 0, 5];
    assert!(decode_in(&se, C::Connect).is_ok());
    assert_eq!(
        decode_in(&se, C::Publish),
        Err(DecodeError::PropertyNotAllowed(0x11))
    );
    // Will delay only in will properties.
    let wd = [0x18, 0, 0, 0, 5];
    assert!(decode_in(&wd, C::Will).is_ok());
    assert!(decode_in(&wd, C::Connect).is_err());
    // Duplicates.
    let twice = [0x11, 0, 0, 0, 5, 0x11, 0, 0, 0, 6];
    assert_eq!(
        decode_in(&twice, C::Connect),
        Err(DecodeError::DuplicateProperty(0x11))
    );
    let two_ids = [0x0B, 1, 0x0B, 2];
    assert!(decode_in(&two_ids, C::Publish).is_ok());
    assert_eq!(
        decode_in(&two_ids, C::Subscribe),
        Err(DecodeError::DuplicateProperty(0x0B))
    );
    let users = [0x26, 0, 0, 0, 0, 0x26, 0, 0, 0, 0];
    for ctx in [C::Connect, C::Ack, C::Auth, C::Disconnect, C::UnsubAck] {
        assert!(decode_in(&users, ctx).is_ok());
    }
}

#[test]
fn forbidden_values() {
    use PropertyContext as C;
    let cases: &[(&[u8], C, u8)] = &[
        (&[0x21, 0, 0], C::Connect, 0x21),
        (&[0x27, 0, 0, 0, 0], C::ConnAck, 0x27),
        (&[0x0B, 0], C::Subscribe, 0x0B),
        (&[0x01, 2], C::Publish, 0x01),
        (&[0x17, 2], C::Connect, 0x17),
        (&[0x19, 7], C::Connect, 0x19),
        (&[0x24, 2], C::ConnAck, 0x24),
        (&[0x25, 2], C::ConnAck, 0x25),
        (&[0x2A, 0xFF], C::ConnAck, 0x2A),
        (&[0x08, 0, 1, b'#'], C::Publish, 0x08),
        (&[0x16, 0, 1, 9], C::Connect, 0x16),
    ];
    for (body, ctx, id) in cases {
        let e = decode_in(body, *ctx).unwrap_err();
        assert_eq!(e, DecodeError::InvalidPropertyValue(*id), "{body:?}");
        assert_eq!(e.reason_code().0, 0x82);
    }
    // Topic alias 0 is the broker's to judge.
    assert!(decode_in(&[0x23, 0, 0], C::Publish).is_ok());
    assert!(decode_in(&[0x15, 0, 1, b'm', 0x16, 0, 0], C::Auth).is_ok());
}

#[test]
fn malformed_blocks() {
    let cases: &[(&[u8], DecodeError)] = &[
        // Length runs past the packet.
        (&[5, 0x01, 0], DecodeError::Truncated),
        // A value runs past the block.
        (&[2, 0x11, 0, 0, 0, 0], DecodeError::Truncated),
        // Five-byte varint as the block length.
        (
            &[0x80, 0x80, 0x80, 0x80, 0x01],
            DecodeError::MalformedRemainingLength,
        ),
        // Five-byte subscription identifier.
        (
            &[6, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01],
            DecodeError::MalformedRemainingLength,
        ),
        // Invalid UTF-8 and U+0000 in strings.
        (&[5, 0x03, 0, 2, 0xC3, 0x28], DecodeError::InvalidUtf8),
        (&[4, 0x03, 0, 1, 0], DecodeError::InvalidUtf8),
        (&[7, 0x26, 0, 1, b'k', 0, 1, 0xFF], DecodeError::InvalidUtf8),
        (&[1, 0x00], DecodeError::MalformedProperties),
    ];
    for (bytes, want) in cases {
        let mut r = Reader::new(bytes);
        let got = Properties::decode_for(&mut r, PropertyContext::Publish);
        assert_eq!(got.as_ref().err(), Some(want), "{bytes:?}");
        assert_eq!(want.reason_code().0, 0x81);
    }
}

#[test]
fn check_catches_mistyped_values() {
    let p = Properties(vec![(0x11, PropertyValue::Byte(1))]);
    assert_eq!(
        p.check(PropertyContext::Connect),
        Err(DecodeError::MalformedProperties)
    );
}
