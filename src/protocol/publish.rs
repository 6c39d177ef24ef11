//! PUBLISH. Decoding owns the topic and payload so the broker can store the
//! message once; encoding writes straight from borrowed parts into an output
//! buffer so each delivery costs no allocation.

use super::codec::{bytes_len, put_bytes, put_fixed_header, put_u16, Reader};
use super::error::DecodeError;
use super::properties::{Properties, PropertyContext, PropertyValue};
use super::topic::valid_topic_name;
use super::{ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: String,
    /// 0 for QoS 0.
    pub packet_id: u16,
    pub payload: Vec<u8>,
    pub properties: Properties,
}

impl Publish {
    pub fn decode(
        flags: u8,
        body: &[u8],
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0x08 != 0;
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQos)?;
        let retain = flags & 0x01 != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::BadFlags {
                packet_type: 3,
                flags,
            });
        }
        let mut r = Reader::new(body);
        let topic = r.string()?;
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            match r.u16()? {
                0 => return Err(DecodeError::ZeroPacketId),
                id => id,
            }
        };
        let properties = if version == ProtocolVersion::V5 {
            Properties::decode_for_listed(&mut r, PropertyContext::Publish)?
        } else {
            Properties::default()
        };
        // MQTT 5 allows an empty topic when a topic alias stands in for it
        // (whether the alias is known is the receiver's to check).
        let alias_only = version == ProtocolVersion::V5
            && topic.is_empty()
            && properties.topic_alias().is_some();
        if !alias_only && !valid_topic_name(topic) {
            return Err(DecodeError::InvalidTopicName);
        }
        let payload = r.rest().to_vec();
        Ok(Publish {
            dup,
            qos,
            retain,
            topic: topic.to_owned(),
            packet_id,
            payload,
            properties,
        })
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        if version == ProtocolVersion::V5 {
            publish_len_v5(
                self.topic.len(),
                self.qos,
                &self.properties,
                self.payload.len(),
            )
        } else {
            publish_len(self.topic.len(), self.qos, self.payload.len())
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        let head = PublishHeader {
            topic: &self.topic,
            qos: self.qos,
            retain: self.retain,
            dup: self.dup,
            packet_id: self.packet_id,
        };
        if version == ProtocolVersion::V5 {
            encode_publish_v5(out, &head, &self.properties, &self.payload);
        } else {
            encode_publish(out, &head, &self.payload);
        }
    }
}

/// The per-delivery part of an outgoing PUBLISH.
#[derive(Debug, Clone, Copy)]
pub struct PublishHeader<'a> {
    pub topic: &'a str,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: u16,
}

impl PublishHeader<'_> {
    fn byte1(&self) -> u8 {
        let mut b = 0x30 | (self.qos.as_u8() << 1);
        if self.dup && self.qos != QoS::AtMostOnce {
            b |= 0x08;
        }
        if self.retain {
            b |= 0x01;
        }
        b
    }

    fn len(&self, payload_len: usize) -> usize {
        let id = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        bytes_len(self.topic.len()) + id + payload_len
    }

    fn put(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.topic.as_bytes());
        if self.qos != QoS::AtMostOnce {
            put_u16(out, self.packet_id);
        }
    }
}

/// Appends an MQTT 3.1/3.1.1 PUBLISH to `out` without intermediate copies.
pub fn encode_publish(out: &mut Vec<u8>, head: &PublishHeader<'_>, payload: &[u8]) {
    let len = head.len(payload.len());
    // One capacity check for the whole packet, not one per part.
    out.reserve(1 + super::codec::varint_len(len) + len);
    put_fixed_header(out, head.byte1(), len);
    head.put(out);
    out.extend_from_slice(payload);
}

/// Appends an MQTT 5 PUBLISH: as `encode_publish`, with a property block
/// (which differs per delivery: subscription identifiers, topic alias).
pub fn encode_publish_v5(
    out: &mut Vec<u8>,
    head: &PublishHeader<'_>,
    props: &Properties,
    payload: &[u8],
) {
    let len = head.len(payload.len()) + props.encoded_len();
    put_fixed_header(out, head.byte1(), len);
    head.put(out);
    // In the order given: a decoded PUBLISH keeps its properties' order.
    props.encode_listed(out);
    out.extend_from_slice(payload);
}

/// Appends an MQTT 5 PUBLISH without properties (property length 0): the
/// 3.1.1 form plus one byte, with one capacity check, for deliveries that
/// carry no property at all (no per-delivery lists to build and walk).
pub fn encode_publish_v5_bare(out: &mut Vec<u8>, head: &PublishHeader<'_>, payload: &[u8]) {
    let len = head.len(payload.len()) + 1;
    out.reserve(1 + super::codec::varint_len(len) + len);
    put_fixed_header(out, head.byte1(), len);
    head.put(out);
    out.push(0);
    out.extend_from_slice(payload);
}

/// Appends an MQTT 5 PUBLISH whose properties are a stored message's
/// (`stored`, in their order) between per-delivery ones: `before`
/// (subscription identifiers) and `after` (message expiry left), as
/// mosquitto orders them; a delivery allocates nothing.
pub fn encode_publish_v5_merged(
    out: &mut Vec<u8>,
    head: &PublishHeader<'_>,
    before: &[(u8, PropertyValue)],
    stored: &Properties,
    after: &[(u8, PropertyValue)],
    payload: &[u8],
) {
    let len = head.len(payload.len()) + stored.between_len(before, after);
    put_fixed_header(out, head.byte1(), len);
    head.put(out);
    stored.encode_between(out, before, after);
    out.extend_from_slice(payload);
}

/// Size of what `encode_publish_v5_merged` writes.
pub fn publish_len_v5_merged(
    topic_len: usize,
    qos: QoS,
    before: &[(u8, PropertyValue)],
    stored: &Properties,
    after: &[(u8, PropertyValue)],
    payload_len: usize,
) -> usize {
    let id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let rem = bytes_len(topic_len) + id + stored.between_len(before, after) + payload_len;
    1 + super::codec::varint_len(rem) + rem
}

/// Size of the encoded PUBLISH (3.1/3.1.1), for limit checks before encoding.
pub fn publish_len(topic_len: usize, qos: QoS, payload_len: usize) -> usize {
    let id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let rem = bytes_len(topic_len) + id + payload_len;
    1 + super::codec::varint_len(rem) + rem
}

/// Size of the encoded MQTT 5 PUBLISH.
pub fn publish_len_v5(topic_len: usize, qos: QoS, props: &Properties, payload_len: usize) -> usize {
    let id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let rem = bytes_len(topic_len) + id + props.encoded_len() + payload_len;
    1 + super::codec::varint_len(rem) + rem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_v5_publish_is_the_v5_form_with_no_properties() {
        // Payload sizes around the 127/128 remaining-length boundary too.
        for (qos, n) in [
            (QoS::AtMostOnce, 0),
            (QoS::AtLeastOnce, 119),
            (QoS::ExactlyOnce, 300),
        ] {
            let head = PublishHeader {
                topic: "a/b",
                qos,
                retain: true,
                dup: false,
                packet_id: 9,
            };
            let payload = vec![7u8; n];
            let (mut bare, mut full) = (Vec::new(), Vec::new());
            encode_publish_v5_bare(&mut bare, &head, &payload);
            encode_publish_v5(&mut full, &head, &Properties::default(), &payload);
            assert_eq!(bare, full);
            assert_eq!(
                bare.len(),
                publish_len_v5(3, qos, &Properties::default(), n)
            );
        }
    }

    fn p(qos: QoS, id: u16) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: true,
            topic: "a/b".into(),
            packet_id: id,
            payload: b"hi".to_vec(),
            properties: Properties::default(),
        }
    }

    #[test]
    fn byte_exact() {
        let mut out = Vec::new();
        p(QoS::AtMostOnce, 0).encode(&mut out, ProtocolVersion::V311);
        assert_eq!(out, [0x31, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
        assert_eq!(publish_len(3, QoS::AtMostOnce, 2), out.len());
        out.clear();
        let mut q2 = p(QoS::ExactlyOnce, 0x0102);
        q2.dup = true;
        q2.encode(&mut out, ProtocolVersion::V311);
        assert_eq!(out, [0x3D, 9, 0, 3, b'a', b'/', b'b', 1, 2, b'h', b'i']);
        assert_eq!(
            Publish::decode(0x0D, &out[2..], ProtocolVersion::V311).unwrap(),
            q2
        );
    }

    #[test]
    fn invalid() {
        let body = [0, 3, b'a', b'/', b'b', 0, 0];
        assert_eq!(
            Publish::decode(0x02, &body, ProtocolVersion::V311),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            Publish::decode(0x06, &body, ProtocolVersion::V311),
            Err(DecodeError::InvalidQos)
        );
        assert!(matches!(
            Publish::decode(0x08, &body, ProtocolVersion::V311),
            Err(DecodeError::BadFlags { .. })
        ));
        assert_eq!(
            Publish::decode(0, &[0, 3, b'a', b'/', b'#'], ProtocolVersion::V311),
            Err(DecodeError::InvalidTopicName)
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, b'+'], ProtocolVersion::V311),
            Err(DecodeError::InvalidTopicName)
        );
        assert_eq!(
            Publish::decode(0, &[0, 0], ProtocolVersion::V311),
            Err(DecodeError::InvalidTopicName)
        );
        assert_eq!(
            Publish::decode(2, &[0, 1, b'a', 0], ProtocolVersion::V311),
            Err(DecodeError::Truncated)
        );
        // An empty payload is fine.
        let m = Publish::decode(0, &[0, 1, b'a'], ProtocolVersion::V311).unwrap();
        assert!(m.payload.is_empty());
    }

    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn v5_byte_exact() {
        let mut m = p(QoS::AtLeastOnce, 5);
        m.properties.set_message_expiry_interval(60);
        m.properties.add_subscription_identifier(1);
        m.properties.add_subscription_identifier(300);
        m.properties.add_user_property("k", "v");
        let mut out = Vec::new();
        m.encode(&mut out, V5);
        #[rustfmt::skip]
        let want = [
            0x33, 27, 0, 3, b'a', b'/', b'b', 0, 5,
            17, 0x02, 0, 0, 0, 60, 0x0B, 1, 0x0B, 0xAC, 0x02, 0x26, 0, 1, b'k', 0, 1, b'v',
            b'h', b'i',
        ];
        assert_eq!(out, want);
        assert_eq!(
            publish_len_v5(3, QoS::AtLeastOnce, &m.properties, 2),
            out.len()
        );
        assert_eq!(Publish::decode(0x03, &out[2..], V5).unwrap(), m);
        // No properties: one zero byte, nothing else.
        out.clear();
        p(QoS::AtMostOnce, 0).encode(&mut out, V5);
        assert_eq!(out, [0x31, 8, 0, 3, b'a', b'/', b'b', 0, b'h', b'i']);
    }

    #[test]
    fn v5_merged_properties_in_mosquittos_order() {
        let mut stored = Properties::default();
        stored.add_user_property("k", "v");
        stored.0.push((0x03, PropertyValue::String("text".into())));
        let before = [(0x0B, PropertyValue::Varint(300))];
        let after = [(0x02, PropertyValue::U32(60))];
        let mut m = p(QoS::AtLeastOnce, 5);
        m.properties.0 = [&before[..], &stored.0, &after]
            .concat()
            .into_iter()
            .collect();
        let mut want = Vec::new();
        m.encode(&mut want, V5);
        assert_eq!(Publish::decode(0x03, &want[2..], V5).unwrap(), m);
        let head = PublishHeader {
            topic: "a/b",
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: false,
            packet_id: 5,
        };
        let mut out = Vec::new();
        encode_publish_v5_merged(&mut out, &head, &before, &stored, &after, b"hi");
        assert_eq!(out, want);
        assert_eq!(
            publish_len_v5_merged(3, QoS::AtLeastOnce, &before, &stored, &after, 2),
            out.len()
        );
    }

    #[test]
    fn v5_invalid() {
        // Empty topic with no alias; with an alias it is the receiver's call.
        assert_eq!(
            Publish::decode(0, &[0, 0, 0], V5),
            Err(DecodeError::InvalidTopicName)
        );
        let m = Publish::decode(0, &[0, 0, 3, 0x23, 0, 1], V5).unwrap();
        assert_eq!(m.properties.topic_alias(), Some(1));
        assert_eq!(
            Publish::decode(0, &[0, 1, b'a', 2, 0x0B, 0], V5),
            Err(DecodeError::InvalidPropertyValue(0x0B))
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, b'a', 2, 0x24, 1], V5),
            Err(DecodeError::PropertyNotAllowed(0x24))
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, b'a', 4, 0x23, 0, 1], V5),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Publish::decode(0, &[0, 1, b'a'], V5),
            Err(DecodeError::Truncated),
            "the property length is not optional"
        );
    }
}
