//! Typed decoding errors. Every one of them means "close this connection";
//! `UnsupportedProtocolVersion` additionally earns a CONNACK refusal first.

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
    /// An MQTT 5 property block that does not parse.
    MalformedProperties,
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
        }
    }
}

impl std::error::Error for DecodeError {}
