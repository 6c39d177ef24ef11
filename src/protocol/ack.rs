//! PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: a packet
//! identifier (and, in MQTT 5, a reason code and properties).

use super::codec::{put_fixed_header, put_u16, Reader};
use super::error::DecodeError;
use super::properties::Properties;
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

    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<Ack, DecodeError> {
        let mut r = Reader::new(body);
        let packet_id = r.u16()?;
        if packet_id == 0 {
            return Err(DecodeError::ZeroPacketId);
        }
        let mut ack = Ack::new(packet_id);
        if version == ProtocolVersion::V5 && !r.is_empty() {
            ack.reason = r.u8()?;
            if !r.is_empty() {
                ack.properties = Properties::decode(&mut r)?;
            }
        }
        r.finish()?;
        Ok(ack)
    }

    /// `byte1` is the whole first byte (0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL,
    /// 0x70 PUBCOMP).
    pub fn encode(&self, out: &mut Vec<u8>, byte1: u8, version: ProtocolVersion) {
        let extra =
            version == ProtocolVersion::V5 && (self.reason != 0 || !self.properties.is_empty());
        if extra {
            put_fixed_header(out, byte1, 3 + self.properties.encoded_len());
            put_u16(out, self.packet_id);
            out.push(self.reason);
            self.properties.encode(out);
        } else {
            put_fixed_header(out, byte1, 2);
            put_u16(out, self.packet_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
