//! MQTT 5 reason codes (spec 2.4): the byte that says how an operation went,
//! with mosquitto's words for each and the packets each may appear in.

use super::packet::PacketType;
use super::QoS;
use std::fmt;

/// One reason code byte. A newtype rather than an enum: several codes share a
/// value (0x00 is Success, Normal disconnection and Granted QoS 0), and a
/// decoder must be able to hold a value to report it as not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_1: ReasonCode = ReasonCode(0x01);
    pub const GRANTED_QOS_2: ReasonCode = ReasonCode(0x02);
    pub const DISCONNECT_WITH_WILL_MESSAGE: ReasonCode = ReasonCode(0x04);
    pub const NO_MATCHING_SUBSCRIBERS: ReasonCode = ReasonCode(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: ReasonCode = ReasonCode(0x11);
    pub const CONTINUE_AUTHENTICATION: ReasonCode = ReasonCode(0x18);
    pub const REAUTHENTICATE: ReasonCode = ReasonCode(0x19);
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: ReasonCode = ReasonCode(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: ReasonCode = ReasonCode(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    pub const SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    pub const SERVER_BUSY: ReasonCode = ReasonCode(0x89);
    pub const BANNED: ReasonCode = ReasonCode(0x8A);
    pub const SERVER_SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
    pub const BAD_AUTHENTICATION_METHOD: ReasonCode = ReasonCode(0x8C);
    pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
    pub const SESSION_TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    pub const TOPIC_FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: ReasonCode = ReasonCode(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
    pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: ReasonCode = ReasonCode(0x96);
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
    pub const ADMINISTRATIVE_ACTION: ReasonCode = ReasonCode(0x98);
    pub const PAYLOAD_FORMAT_INVALID: ReasonCode = ReasonCode(0x99);
    pub const RETAIN_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9A);
    pub const QOS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9B);
    pub const USE_ANOTHER_SERVER: ReasonCode = ReasonCode(0x9C);
    pub const SERVER_MOVED: ReasonCode = ReasonCode(0x9D);
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9E);
    pub const CONNECTION_RATE_EXCEEDED: ReasonCode = ReasonCode(0x9F);
    pub const MAXIMUM_CONNECT_TIME: ReasonCode = ReasonCode(0xA0);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA2);

    /// The SUBACK code granting a subscription at `qos`.
    pub fn granted(qos: QoS) -> ReasonCode {
        ReasonCode(qos.as_u8())
    }

    /// Codes of 0x80 and above report a failure (spec 2.4).
    pub fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// The words mosquitto_reason_string() uses, so logs and client output
    /// read the same as mosquitto's.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "Success",
            0x01 => "Granted QoS 1",
            0x02 => "Granted QoS 2",
            0x04 => "Disconnect with Will Message",
            0x10 => "No matching subscribers",
            0x11 => "No subscription existed",
            0x18 => "Continue authentication",
            0x19 => "Re-authenticate",
            0x80 => "Unspecified error",
            0x81 => "Malformed Packet",
            0x82 => "Protocol Error",
            0x83 => "Implementation specific error",
            0x84 => "Unsupported Protocol Version",
            0x85 => "Client Identifier not valid",
            0x86 => "Bad User Name or Password",
            0x87 => "Not authorized",
            0x88 => "Server unavailable",
            0x89 => "Server busy",
            0x8A => "Banned",
            0x8B => "Server shutting down",
            0x8C => "Bad authentication method",
            0x8D => "Keep Alive timeout",
            0x8E => "Session taken over",
            0x8F => "Topic Filter invalid",
            0x90 => "Topic Name invalid",
            0x91 => "Packet Identifier in use",
            0x92 => "Packet Identifier not found",
            0x93 => "Receive Maximum exceeded",
            0x94 => "Topic Alias invalid",
            0x95 => "Packet too large",
            0x96 => "Message rate too high",
            0x97 => "Quota exceeded",
            0x98 => "Administrative action",
            0x99 => "Payload format invalid",
            0x9A => "Retain not supported",
            0x9B => "QoS not supported",
            0x9C => "Use another server",
            0x9D => "Server moved",
            0x9E => "Shared Subscriptions not supported",
            0x9F => "Connection rate exceeded",
            0xA0 => "Maximum connect time",
            0xA1 => "Subscription identifiers not supported",
            0xA2 => "Wildcard Subscriptions not supported",
            _ => "Unknown reason",
        }
    }

    /// Whether the spec (table 2-6 and each packet's reason code list) lets
    /// this code travel in `packet`. Packets without a reason code allow none.
    pub fn allowed_in(self, packet: PacketType) -> bool {
        let c = self.0;
        match packet {
            PacketType::ConnAck => matches!(
                c,
                0x00 | 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F
            ),
            PacketType::PubAck | PacketType::PubRec => {
                matches!(
                    c,
                    0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
                )
            }
            PacketType::PubRel | PacketType::PubComp => matches!(c, 0x00 | 0x92),
            PacketType::SubAck => matches!(
                c,
                0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
            ),
            PacketType::UnsubAck => matches!(c, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
            PacketType::Disconnect => matches!(
                c,
                0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B..=0x90 | 0x93..=0xA2
            ),
            PacketType::Auth => matches!(c, 0x00 | 0x18 | 0x19),
            _ => false,
        }
    }
}

impl From<u8> for ReasonCode {
    fn from(v: u8) -> ReasonCode {
        ReasonCode(v)
    }
}

impl From<ReasonCode> for u8 {
    fn from(c: ReasonCode) -> u8 {
        c.0
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_mosquitto() {
        assert_eq!(ReasonCode::SUCCESS.name(), "Success");
        assert_eq!(ReasonCode(0x8E).name(), "Session taken over");
        assert_eq!(
            ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED.name(),
            "Subscription identifiers not supported"
        );
        assert_eq!(ReasonCode(0x03).name(), "Unknown reason");
        assert_eq!(ReasonCode(0xA3).name(), "Unknown reason");
        assert!(ReasonCode::UNSPECIFIED_ERROR.is_error());
        assert!(!ReasonCode::GRANTED_QOS_2.is_error());
        assert_eq!(
            ReasonCode::granted(QoS::ExactlyOnce),
            ReasonCode::GRANTED_QOS_2
        );
    }

    /// Spot checks against the per-packet lists of spec sections 3.2 to 3.15.
    #[test]
    fn per_packet_lists() {
        use PacketType as P;
        let count = |p: P| (0..=255u8).filter(|&c| ReasonCode(c).allowed_in(p)).count();
        assert_eq!(count(P::ConnAck), 22);
        assert_eq!(count(P::PubAck), 9);
        assert_eq!(count(P::PubRec), 9);
        assert_eq!(count(P::PubRel), 2);
        assert_eq!(count(P::PubComp), 2);
        assert_eq!(count(P::SubAck), 12);
        assert_eq!(count(P::UnsubAck), 7);
        assert_eq!(count(P::Disconnect), 30);
        assert_eq!(count(P::Auth), 3);
        assert_eq!(count(P::Publish), 0);
        assert!(ReasonCode::SERVER_SHUTTING_DOWN.allowed_in(P::Disconnect));
        assert!(!ReasonCode::SERVER_SHUTTING_DOWN.allowed_in(P::ConnAck));
        assert!(!ReasonCode::BANNED.allowed_in(P::Disconnect));
        assert!(ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.allowed_in(P::PubRel));
        assert!(!ReasonCode::NO_MATCHING_SUBSCRIBERS.allowed_in(P::PubComp));
        // Every named code is allowed somewhere, every unnamed one nowhere.
        let all = [
            P::ConnAck,
            P::PubAck,
            P::PubRec,
            P::PubRel,
            P::PubComp,
            P::SubAck,
            P::UnsubAck,
            P::Disconnect,
            P::Auth,
        ];
        for c in 0..=255u8 {
            let named = ReasonCode(c).name() != "Unknown reason";
            let somewhere = all.iter().any(|&p| ReasonCode(c).allowed_in(p));
            assert_eq!(named, somewhere, "code {c:#x}");
        }
    }
}
