//! The MQTT wire format: packet types, decoding and encoding, topic rules.
//!
//! Nothing here does IO or knows about broker state, so every function can be
//! tested with byte vectors and fuzzed. Decoding is two steps: `fixed_header`
//! tells how long the next packet is (or that more bytes are needed), so a
//! caller can enforce its size limit before buffering the body, then
//! `Packet::decode` turns the whole packet into a typed value or a typed error.
//!
//! MQTT 5 uses the same packet types, with `ProtocolVersion::V5`: properties
//! are read and checked per packet type (`Properties`, `PropertyContext`),
//! reason codes are checked against each packet's list (`ReasonCode`), and
//! every `DecodeError` names the reason code to answer it with
//! (`DecodeError::reason_code`). Rules that need connection state (topic
//! alias range, which side may send what, the AUTH method matching
//! CONNECT's) are left to the receiver.

mod ack;
mod auth;
mod codec;
mod connack;
mod connect;
mod disconnect;
mod error;
mod packet;
pub mod properties;
mod publish;
mod reason;
mod sub_options;
mod subscribe;
pub mod topic;
#[cfg(test)]
mod v5_tests;
pub mod websocket;

pub use ack::Ack;
pub use auth::Auth;
pub use codec::{fixed_header, valid_mqtt_string, varint_len, FixedHeader, MAX_REMAINING_LENGTH};
pub use connack::{ConnAck, ConnectReturnCode};
pub use connect::{Connect, Will};
pub use disconnect::disconnect_len;
pub use error::DecodeError;
pub use packet::{Packet, PacketType};
pub use properties::{Properties, PropertyContext, PropertyValue};
pub use publish::{
    encode_publish, encode_publish_v5, encode_publish_v5_bare, encode_publish_v5_merged,
    publish_len, publish_len_v5, publish_len_v5_merged, Publish, PublishHeader,
};
pub use reason::ReasonCode;
pub use sub_options::{RetainHandling, SubscriptionOptions};
pub use subscribe::{SubAck, Subscribe, UnsubAck, Unsubscribe, SUBACK_FAILURE};

/// Quality of service of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// QoS from its two-bit wire value; 3 is not a QoS.
    pub fn from_u8(v: u8) -> Option<QoS> {
        match v {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// The protocol a connection speaks, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolVersion {
    /// MQTT 3.1, protocol name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1, protocol name `MQTT`, level 4.
    #[default]
    V311,
    /// MQTT 5.0, protocol name `MQTT`, level 5.
    V5,
}

impl ProtocolVersion {
    /// The number mosquitto prints in its "(pN, …)" connection log line.
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V31 => 3,
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::V31 => "MQIsdp",
            _ => "MQTT",
        }
    }
}
