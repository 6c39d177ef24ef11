//! The `Packet` enum and the dispatch from a fixed header to each kind.

use super::ack::Ack;
use super::auth::Auth;
use super::codec::FixedHeader;
use super::connack::ConnAck;
use super::connect::Connect;
use super::disconnect;
use super::error::DecodeError;
use super::properties::Properties;
use super::publish::Publish;
use super::subscribe::{SubAck, Subscribe, UnsubAck, Unsubscribe};
use super::ProtocolVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    /// MQTT 5 adds a reason code and properties.
    Disconnect(u8, Properties),
    /// MQTT 5 only.
    Auth(Auth),
}

/// The flags nibble each packet type requires (PUBLISH's are its own).
fn required_flags(t: u8) -> Option<u8> {
    match t {
        6 | 8 | 10 => Some(0x02),
        3 => None,
        // CONNECT's nibble is checked in Connect::decode: 3.1 left it free.
        1 => None,
        _ => Some(0x00),
    }
}

fn empty(body: &[u8]) -> Result<(), DecodeError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes)
    }
}

impl Packet {
    /// Decodes one whole packet: `body` is exactly the `remaining_length`
    /// bytes after the fixed header. `version` is the connection's protocol
    /// (ignored for CONNECT, which names its own).
    pub fn decode(
        header: &FixedHeader,
        body: &[u8],
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        let t = header.packet_type();
        let flags = header.flags();
        if let Some(want) = required_flags(t) {
            // MQTT 3.1 clients may set DUP/QoS bits on PUBREL, SUBSCRIBE and
            // UNSUBSCRIBE differently; only 3.1.1 and 5 fix them.
            let strict = version != ProtocolVersion::V31 || want == 0;
            if strict && flags != want {
                return Err(DecodeError::BadFlags {
                    packet_type: t,
                    flags,
                });
            }
        }
        Ok(match t {
            1 => Packet::Connect(Box::new(Connect::decode(flags, body)?)),
            2 => Packet::ConnAck(ConnAck::decode(body, version)?),
            3 => Packet::Publish(Publish::decode(flags, body, version)?),
            4 => Packet::PubAck(Ack::decode_as(PacketType::PubAck, body, version)?),
            5 => Packet::PubRec(Ack::decode_as(PacketType::PubRec, body, version)?),
            6 => Packet::PubRel(Ack::decode_as(PacketType::PubRel, body, version)?),
            7 => Packet::PubComp(Ack::decode_as(PacketType::PubComp, body, version)?),
            8 => Packet::Subscribe(Subscribe::decode(body, version)?),
            9 => Packet::SubAck(SubAck::decode(body, version)?),
            10 => Packet::Unsubscribe(Unsubscribe::decode(body, version)?),
            11 => Packet::UnsubAck(UnsubAck::decode(body, version)?),
            12 => {
                empty(body)?;
                Packet::PingReq
            }
            13 => {
                empty(body)?;
                Packet::PingResp
            }
            14 => {
                let (reason, props) = disconnect::decode(body, version)?;
                Packet::Disconnect(reason, props)
            }
            // Reserved before MQTT 5.
            15 if version == ProtocolVersion::V5 => Packet::Auth(Auth::decode(body)?),
            other => return Err(DecodeError::ReservedPacketType(other)),
        })
    }

    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(..) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Size of the encoded packet, so a sender can hold it to the peer's
    /// maximum packet size without encoding it first.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Packet::Connect(c) => c.encoded_len(),
            Packet::ConnAck(c) => c.encoded_len(version),
            Packet::Publish(p) => p.encoded_len(version),
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.encoded_len(version)
            }
            Packet::Subscribe(s) => s.encoded_len(version),
            Packet::SubAck(s) => s.encoded_len(version),
            Packet::Unsubscribe(u) => u.encoded_len(version),
            Packet::UnsubAck(u) => u.encoded_len(version),
            Packet::PingReq | Packet::PingResp => 2,
            Packet::Disconnect(reason, props) => {
                disconnect::disconnect_len(*reason, props, version)
            }
            Packet::Auth(a) => a.encoded_len(),
        }
    }

    /// Appends the packet's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        match self {
            Packet::Connect(c) => c.encode(out),
            Packet::ConnAck(c) => c.encode(out, version),
            Packet::Publish(p) => p.encode(out, version),
            Packet::PubAck(a) => a.encode(out, 0x40, version),
            Packet::PubRec(a) => a.encode(out, 0x50, version),
            Packet::PubRel(a) => a.encode(out, 0x62, version),
            Packet::PubComp(a) => a.encode(out, 0x70, version),
            Packet::Subscribe(s) => s.encode(out, version),
            Packet::SubAck(s) => s.encode(out, version),
            Packet::Unsubscribe(u) => u.encode(out, version),
            Packet::UnsubAck(u) => u.encode(out, version),
            Packet::PingReq => out.extend_from_slice(&[0xC0, 0]),
            Packet::PingResp => out.extend_from_slice(&[0xD0, 0]),
            Packet::Disconnect(reason, props) => disconnect::encode(out, *reason, props, version),
            // AUTH exists only in MQTT 5; callers do not send it otherwise.
            Packet::Auth(a) => a.encode(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fixed_header, QoS};
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let h = fixed_header(bytes)?.ok_or(DecodeError::Truncated)?;
        let body = bytes
            .get(h.header_len..h.total_len())
            .ok_or(DecodeError::Truncated)?;
        Packet::decode(&h, body, ProtocolVersion::V311)
    }

    #[test]
    fn simple_packets() {
        assert_eq!(decode_all(&[0xC0, 0]).unwrap(), Packet::PingReq);
        assert_eq!(decode_all(&[0xD0, 0]).unwrap(), Packet::PingResp);
        assert_eq!(
            decode_all(&[0xE0, 0]).unwrap(),
            Packet::Disconnect(0, Properties::default())
        );
        assert!(decode_all(&[0xC1, 0]).is_err(), "flags on PINGREQ");
        assert!(decode_all(&[0xE0, 1, 0]).is_err(), "DISCONNECT with body");
        assert_eq!(
            decode_all(&[0x00, 0]),
            Err(DecodeError::ReservedPacketType(0))
        );
        assert_eq!(
            decode_all(&[0xF0, 0]),
            Err(DecodeError::ReservedPacketType(15))
        );
        assert!(matches!(
            decode_all(&[0x60, 2, 0, 1]),
            Err(DecodeError::BadFlags { .. })
        ));
        assert!(matches!(
            decode_all(&[0x80, 6, 0, 1, 0, 1, b'a', 0]),
            Err(DecodeError::BadFlags { .. })
        ));
    }

    #[test]
    fn round_trips() {
        let packets = vec![
            Packet::PubAck(Ack::new(1)),
            Packet::PubRec(Ack::new(2)),
            Packet::PubRel(Ack::new(3)),
            Packet::PubComp(Ack::new(65535)),
            Packet::PingReq,
            Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: "t".into(),
                packet_id: 9,
                payload: vec![0; 300],
                properties: Properties::default(),
            }),
        ];
        for p in packets {
            let mut out = Vec::new();
            p.encode(&mut out, ProtocolVersion::V311);
            assert_eq!(decode_all(&out).unwrap(), p);
        }
    }

    /// Random bytes never panic the decoder: a deterministic xorshift walk
    /// over many short inputs, every prefix of each.
    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            for v in [
                ProtocolVersion::V31,
                ProtocolVersion::V311,
                ProtocolVersion::V5,
            ] {
                if let Ok(Some(h)) = fixed_header(&bytes) {
                    let body = bytes.get(h.header_len..).unwrap_or(&[]);
                    let body = &body[..body.len().min(h.remaining_length)];
                    let _ = Packet::decode(&h, body, v);
                }
            }
        }
    }
}
