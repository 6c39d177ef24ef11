//! CONNACK: the broker's answer to CONNECT.

use super::codec::{put_fixed_header, Reader};
use super::error::DecodeError;
use super::packet::PacketType;
use super::properties::{Properties, PropertyContext};
use super::reason::ReasonCode;
use super::ProtocolVersion;

/// MQTT 3.1/3.1.1 CONNACK return codes. MQTT 5 reason codes travel in the
/// same byte; `code` keeps the raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUsernameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// mosquitto_pub/sub's words for each refusal.
    pub fn describe(code: u8) -> &'static str {
        match code {
            0 => "Connection Accepted.",
            1 => "Connection Refused: unacceptable protocol version.",
            2 => "Connection Refused: identifier rejected.",
            3 => "Connection Refused: broker unavailable.",
            4 => "Connection Refused: bad user name or password.",
            5 => "Connection Refused: not authorised.",
            _ => "Connection Refused: unknown reason.",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: u8,
    pub properties: Properties,
}

impl ConnAck {
    pub fn new(session_present: bool, code: ConnectReturnCode) -> ConnAck {
        ConnAck {
            session_present,
            code: code as u8,
            properties: Properties::default(),
        }
    }

    /// An MQTT 5 CONNACK with a reason code.
    pub fn with_reason(session_present: bool, reason: ReasonCode) -> ConnAck {
        ConnAck {
            session_present,
            code: reason.0,
            properties: Properties::default(),
        }
    }

    pub fn reason_code(&self) -> ReasonCode {
        ReasonCode(self.code)
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let rem = 2 + if self.has_properties_field(version) {
            self.properties.encoded_len()
        } else {
            0
        };
        1 + super::codec::varint_len(rem) + rem
    }

    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let mut r = Reader::new(body);
        let ack_flags = r.u8()?;
        // 3.1 had a reserved byte here; 3.1.1 only allows the session-present bit.
        if version != ProtocolVersion::V31 && ack_flags & 0xFE != 0 {
            return Err(DecodeError::BadConnectFlags);
        }
        let code = r.u8()?;
        // A 3.x-only broker refusing an MQTT 5 client answers with a 3.x
        // CONNACK (no properties); keep its return code readable. A real
        // MQTT 5 CONNACK has properties and one of the listed reason codes.
        let properties = if version == ProtocolVersion::V5 && !r.is_empty() {
            if !ReasonCode(code).allowed_in(PacketType::ConnAck) {
                return Err(DecodeError::InvalidReasonCode {
                    packet_type: 2,
                    code,
                });
            }
            Properties::decode_for(&mut r, PropertyContext::ConnAck)?
        } else {
            Properties::default()
        };
        r.finish()?;
        Ok(ConnAck {
            session_present: version != ProtocolVersion::V31 && ack_flags & 1 != 0,
            code,
            properties,
        })
    }

    /// An MQTT 5 CONNACK has a property length, except the 3.x-style
    /// refusal (a 3.x return code, which is no v5 reason code) that a
    /// 3.x-only broker sends to a v5 client: `decode` reads that form, so
    /// `encode` writes it back the same way.
    fn has_properties_field(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::V5
            && (ReasonCode(self.code).allowed_in(PacketType::ConnAck)
                || !self.properties.is_empty())
    }

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        let v5 = self.has_properties_field(version);
        let len = 2 + if v5 { self.properties.encoded_len() } else { 0 };
        put_fixed_header(out, 0x20, len);
        // The session-present flag did not exist in 3.1.
        let sp = self.session_present && version != ProtocolVersion::V31;
        out.push(u8::from(sp));
        out.push(self.code);
        if v5 {
            self.properties.encode(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::QoS;
    use super::*;

    #[test]
    fn vectors() {
        let mut out = Vec::new();
        ConnAck::new(true, ConnectReturnCode::Accepted).encode(&mut out, ProtocolVersion::V311);
        assert_eq!(out, [0x20, 2, 1, 0]);
        out.clear();
        ConnAck::new(true, ConnectReturnCode::NotAuthorized).encode(&mut out, ProtocolVersion::V31);
        assert_eq!(out, [0x20, 2, 0, 5]);
        assert_eq!(
            ConnAck::decode(&[1, 0], ProtocolVersion::V311).unwrap(),
            ConnAck::new(true, ConnectReturnCode::Accepted)
        );
        assert!(ConnAck::decode(&[2, 0], ProtocolVersion::V311).is_err());
        assert!(ConnAck::decode(&[0], ProtocolVersion::V311).is_err());
    }

    #[test]
    fn v3_style_refusal_to_a_v5_client_round_trips() {
        // Found by fuzzing: a 2-byte CONNACK with a 3.x code read as v5
        // must encode back to the same 2 bytes, not grow a property length.
        let ack = ConnAck::decode(&[1, 1], ProtocolVersion::V5).unwrap();
        let mut out = Vec::new();
        ack.encode(&mut out, ProtocolVersion::V5);
        assert_eq!(out, [0x20, 2, 1, 1]);
        assert_eq!(ack.encoded_len(ProtocolVersion::V5), out.len());
        assert_eq!(
            ConnAck::decode(&out[2..], ProtocolVersion::V5).unwrap(),
            ack
        );
    }

    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn v5_vectors() {
        let mut a = ConnAck::with_reason(false, ReasonCode::SUCCESS);
        a.properties.set_assigned_client_identifier("id");
        a.properties.set_topic_alias_maximum(10);
        a.properties.set_maximum_qos(QoS::AtLeastOnce);
        let mut out = Vec::new();
        a.encode(&mut out, V5);
        // Properties in ascending identifier order: 0x12, 0x22, 0x24.
        assert_eq!(
            out,
            [0x20, 13, 0, 0, 10, 0x12, 0, 2, b'i', b'd', 0x22, 0, 10, 0x24, 1]
        );
        assert_eq!(out.len(), a.encoded_len(V5));
        assert_eq!(ConnAck::decode(&out[2..], V5).unwrap(), a);
        // Refusal with no properties.
        out.clear();
        let r = ConnAck::with_reason(false, ReasonCode::BANNED);
        r.encode(&mut out, V5);
        assert_eq!(out, [0x20, 3, 0, 0x8A, 0]);
        assert_eq!(ConnAck::decode(&out[2..], V5).unwrap(), r);
        // A 3.x refusal read by a 5 client.
        assert_eq!(ConnAck::decode(&[0, 1], V5).unwrap().code, 1);
    }

    #[test]
    fn v5_invalid() {
        assert_eq!(
            ConnAck::decode(&[0, 0x8B, 0], V5),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 2,
                code: 0x8B
            })
        );
        assert_eq!(
            ConnAck::decode(&[0, 0, 3, 0x23, 0, 1], V5),
            Err(DecodeError::PropertyNotAllowed(0x23))
        );
        assert_eq!(
            ConnAck::decode(&[0, 0, 3, 0x21, 0, 0], V5),
            Err(DecodeError::InvalidPropertyValue(0x21))
        );
        assert_eq!(ConnAck::decode(&[0, 0, 1], V5), Err(DecodeError::Truncated));
    }
}
