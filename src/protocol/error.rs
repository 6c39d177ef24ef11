//! Typed decoding errors. Every one of them means "close this connection";
//! `UnsupportedProtocolVersion` additionally earns a CONNACK refusal first.

use super::reason::ReasonCode;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining-length field uses more than four bytes.
    MalformedRemainingLength,
    /// Packet type 0 or 15 (reserved in MQTT 3.1.1).
    ReservedPacketType(u8),
    /// The fixed header's low four bits are not what the packet type requires.
    BadFlags { packet_type: u8, flags: u8 },
    /// A field runs past the end of the packet.
    Truncated,
    /// Bytes left over after the last field.
    TrailingBytes,
    /// A string is not valid UTF-8 or holds a character MQTT forbids.
    InvalidUtf8,
    /// The CONNECT protocol name is neither `MQTT` nor `MQIsdp`.
    UnknownProtocolName,
    /// A known protocol name with a level we do not speak.
    UnsupportedProtocolVersion(u8),
    /// The CONNECT flags break a rule of the spec.
    BadConnectFlags,
    /// A QoS of 3.
    InvalidQos,
    /// A packet identifier of 0 where one is required.
    ZeroPacketId,
    /// A topic name with wildcards, or an empty one.
    InvalidTopicName,
    /// A topic filter with misplaced wildcards, or an empty one.
    InvalidTopicFilter,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic.
    EmptySubscription,
    /// A packet that is valid but may not be sent in this direction or state.
    UnexpectedPacket(&'static str),
    /// An MQTT 5 property block that does not parse (an unknown identifier).
    MalformedProperties,
    /// A known property on a packet that may not carry it (spec 2.2.2.2 makes
    /// this a malformed packet).
    PropertyNotAllowed(u8),
    /// A second copy of a property that may appear once.
    DuplicateProperty(u8),
    /// A property value the spec calls a protocol error: 0 for receive
    /// maximum, maximum packet size or subscription identifier, a boolean
    /// other than 0 or 1, maximum QoS 2, authentication data without a
    /// method, a response topic with wildcards.
    InvalidPropertyValue(u8),
    /// A reason code the packet type does not list.
    InvalidReasonCode { packet_type: u8, code: u8 },
    /// MQTT 5 subscription options with a reserved bit set.
    ReservedSubscriptionBits(u8),
    /// MQTT 5 subscription options with retain handling 3.
    InvalidRetainHandling,
    /// No Local set on a shared subscription ([MQTT-3.8.3-4]).
    NoLocalOnSharedSubscription,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MalformedRemainingLength => write!(f, "malformed remaining length"),
            DecodeError::ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            DecodeError::BadFlags { packet_type, flags } => {
                write!(f, "invalid flags {flags:#x} for packet type {packet_type}")
            }
            DecodeError::Truncated => write!(f, "packet shorter than its fields"),
            DecodeError::TrailingBytes => write!(f, "unexpected bytes at end of packet"),
            DecodeError::InvalidUtf8 => write!(f, "invalid UTF-8 string"),
            DecodeError::UnknownProtocolName => write!(f, "unknown protocol name"),
            DecodeError::UnsupportedProtocolVersion(v) => {
                write!(f, "unsupported protocol version {v}")
            }
            DecodeError::BadConnectFlags => write!(f, "invalid CONNECT flags"),
            DecodeError::InvalidQos => write!(f, "invalid QoS"),
            DecodeError::ZeroPacketId => write!(f, "packet identifier 0"),
            DecodeError::InvalidTopicName => write!(f, "invalid topic name"),
            DecodeError::InvalidTopicFilter => write!(f, "invalid topic filter"),
            DecodeError::EmptySubscription => write!(f, "no topic filters"),
            DecodeError::UnexpectedPacket(p) => write!(f, "unexpected {p}"),
            DecodeError::MalformedProperties => write!(f, "malformed properties"),
            DecodeError::PropertyNotAllowed(id) => {
                write!(f, "property {id:#04x} not allowed in this packet")
            }
            DecodeError::DuplicateProperty(id) => write!(f, "duplicate property {id:#04x}"),
            DecodeError::InvalidPropertyValue(id) => {
                write!(f, "invalid value for property {id:#04x}")
            }
            DecodeError::InvalidReasonCode { packet_type, code } => {
                write!(
                    f,
                    "reason code {code:#04x} not allowed for packet type {packet_type}"
                )
            }
            DecodeError::ReservedSubscriptionBits(o) => {
                write!(f, "reserved bits set in subscription options {o:#04x}")
            }
            DecodeError::InvalidRetainHandling => write!(f, "retain handling 3"),
            DecodeError::NoLocalOnSharedSubscription => {
                write!(f, "no local on a shared subscription")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// The MQTT 5 reason code for a CONNACK or DISCONNECT answering this
    /// error. Spec 1.2: a packet that cannot be parsed is malformed (0x81);
    /// one that parses but breaks a rule is a protocol error (0x82).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::UnsupportedProtocolVersion(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            _ if self.is_malformed() => ReasonCode::MALFORMED_PACKET,
            _ => ReasonCode::PROTOCOL_ERROR,
        }
    }

    /// Whether the packet could not be parsed at all, as opposed to parsing
    /// into something the protocol forbids. Where the spec leaves the choice
    /// open, mosquitto's verdict is followed (an invalid topic filter is
    /// malformed, an invalid topic name a protocol error).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            DecodeError::MalformedRemainingLength
                | DecodeError::ReservedPacketType(_)
                | DecodeError::BadFlags { .. }
                | DecodeError::Truncated
                | DecodeError::TrailingBytes
                | DecodeError::InvalidUtf8
                | DecodeError::BadConnectFlags
                | DecodeError::InvalidQos
                | DecodeError::InvalidTopicFilter
                | DecodeError::MalformedProperties
                | DecodeError::PropertyNotAllowed(_)
                | DecodeError::ReservedSubscriptionBits(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes() {
        let malformed = [
            DecodeError::Truncated,
            DecodeError::InvalidUtf8,
            DecodeError::BadFlags {
                packet_type: 3,
                flags: 6,
            },
            DecodeError::MalformedProperties,
            DecodeError::PropertyNotAllowed(0x11),
            DecodeError::ReservedSubscriptionBits(0x80),
            DecodeError::InvalidTopicFilter,
        ];
        for e in malformed {
            assert_eq!(e.reason_code(), ReasonCode::MALFORMED_PACKET, "{e}");
        }
        let protocol = [
            DecodeError::DuplicateProperty(0x11),
            DecodeError::InvalidPropertyValue(0x21),
            DecodeError::InvalidReasonCode {
                packet_type: 4,
                code: 0x92,
            },
            DecodeError::InvalidRetainHandling,
            DecodeError::NoLocalOnSharedSubscription,
            DecodeError::ZeroPacketId,
            DecodeError::InvalidTopicName,
        ];
        for e in protocol {
            assert_eq!(e.reason_code(), ReasonCode::PROTOCOL_ERROR, "{e}");
        }
        assert_eq!(
            DecodeError::UnsupportedProtocolVersion(6).reason_code(),
            ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
        );
        assert_eq!(
            DecodeError::DuplicateProperty(0x11).to_string(),
            "duplicate property 0x11"
        );
    }
}
