//! PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: a packet
//! identifier (and, in MQTT 5, a reason code and properties).

use super::codec::{put_fixed_header, put_u16, Reader};
use super::error::DecodeError;
use super::packet::PacketType;
use super::properties::{Properties, PropertyContext};
use super::reason::ReasonCode;
use super::ProtocolVersion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub packet_id: u16,
    /// MQTT 5 reason code; 0 (success) for 3.1/3.1.1.
    pub reason: u8,
    pub properties: Properties,
}

impl Ack {
    pub fn new(packet_id: u16) -> Ack {
        Ack {
            packet_id,
            reason: 0,
            properties: Properties::default(),
        }
    }

    /// An MQTT 5 acknowledgement with a reason code.
    pub fn with_reason(packet_id: u16, reason: ReasonCode) -> Ack {
        Ack {
            reason: reason.0,
            ..Ack::new(packet_id)
        }
    }

    pub fn reason_code(&self) -> ReasonCode {
        ReasonCode(self.reason)
    }

    /// Decodes without knowing which of the four packets this is, so the
    /// reason code is not checked against its list; `decode_as` does that.
    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<Ack, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = r.u16()?;
        if packet_id == 0 {
            return Err(DecodeError::ZeroPacketId);
        }
        let mut ack = Ack::new(packet_id);
        // Spec 3.4.2.1: remaining length 2 means success and no properties,
        // 3 means a reason code and no properties.
        if version == ProtocolVersion::V5 && !r.is_empty() {
            ack.reason = r.u8()?;
            if !r.is_empty() {
                ack.properties = Properties::decode_for(&mut r, PropertyContext::Ack)?;
            }
        }
        r.finish()?;
        Ok(ack)
    }

    /// Decodes one of the four packets, checking an MQTT 5 reason code
    /// against the list for `packet`.
    pub fn decode_as(
        packet: PacketType,
        body: &[u8],
        version: ProtocolVersion,
    ) -> Result<Ack, DecodeError> {
        let ack = Ack::decode(body, version)?;
        if version == ProtocolVersion::V5 && !ack.reason_code().allowed_in(packet) {
            return Err(DecodeError::InvalidReasonCode {
                packet_type: packet as u8,
                code: ack.reason,
            });
        }
        Ok(ack)
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        2 + self.remaining_len(version)
    }

    fn remaining_len(&self, version: ProtocolVersion) -> usize {
        if version != ProtocolVersion::V5 {
            2
        } else if !self.properties.is_empty() {
            3 + self.properties.encoded_len()
        } else if self.reason != 0 {
            3
        } else {
            2
        }
    }

    /// `byte1` is the whole first byte (0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL,
    /// 0x70 PUBCOMP). MQTT 5 uses the shortest form the spec allows, as
    /// mosquitto does.
    pub fn encode(&self, out: &mut Vec<u8>, byte1: u8, version: ProtocolVersion) {
        let len = self.remaining_len(version);
        put_fixed_header(out, byte1, len);
        put_u16(out, self.packet_id);
        if len > 2 {
            out.push(self.reason);
        }
        if len > 3 {
            self.properties.encode(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn vectors() {
        let mut out = Vec::new();
        Ack::new(0x1234).encode(&mut out, 0x62, ProtocolVersion::V311);
        assert_eq!(out, [0x62, 2, 0x12, 0x34]);
        assert_eq!(
            Ack::decode(&out[2..], ProtocolVersion::V311).unwrap(),
            Ack::new(0x1234)
        );
        assert_eq!(
            Ack::decode(&[0, 0], ProtocolVersion::V311),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            Ack::decode(&[0, 1, 0], ProtocolVersion::V311),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(
            Ack::decode(&[0], ProtocolVersion::V311),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn v5_short_forms() {
        let mut out = Vec::new();
        Ack::new(7).encode(&mut out, 0x40, V5);
        assert_eq!(out, [0x40, 2, 0, 7]);
        out.clear();
        let a = Ack::with_reason(7, ReasonCode::NO_MATCHING_SUBSCRIBERS);
        a.encode(&mut out, 0x40, V5);
        assert_eq!(out, [0x40, 3, 0, 7, 0x10]);
        assert_eq!(out.len(), a.encoded_len(V5));
        assert_eq!(
            Ack::decode_as(PacketType::PubAck, &out[2..], V5).unwrap(),
            a
        );
        // Reason code and an empty property block: the long form of the same.
        assert_eq!(Ack::decode(&[0, 7, 0x10, 0], V5).unwrap(), a);
        // Success with a reason string.
        let mut a = Ack::new(7);
        a.properties.set_reason_string("ok");
        out.clear();
        a.encode(&mut out, 0x70, V5);
        assert_eq!(out, [0x70, 9, 0, 7, 0, 5, 0x1F, 0, 2, b'o', b'k']);
        assert_eq!(out.len(), a.encoded_len(V5));
        assert_eq!(
            Ack::decode_as(PacketType::PubComp, &out[2..], V5).unwrap(),
            a
        );
    }

    #[test]
    fn v5_invalid() {
        assert_eq!(
            Ack::decode_as(PacketType::PubRel, &[0, 1, 0x10], V5),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 6,
                code: 0x10
            })
        );
        assert!(Ack::decode_as(PacketType::PubRel, &[0, 1, 0x92], V5).is_ok());
        assert_eq!(
            Ack::decode(&[0, 1, 0, 5, 0x11, 0, 0, 0, 1], V5),
            Err(DecodeError::PropertyNotAllowed(0x11))
        );
        assert_eq!(
            Ack::decode(&[0, 1, 0, 4, 0x1F, 0, 5, b'a'], V5),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Ack::decode(&[0, 1, 0, 0, 0], V5),
            Err(DecodeError::TrailingBytes)
        );
    }
}
