//! CONNACK: the broker's answer to CONNECT.

use super::codec::{put_fixed_header, Reader};
use super::error::DecodeError;
use super::properties::Properties;
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

    pub fn decode(body: &[u8], version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let mut r = Reader::new(body);
        let ack_flags = r.u8()?;
        // 3.1 had a reserved byte here; 3.1.1 only allows the session-present bit.
        if version != ProtocolVersion::V31 && ack_flags & 0xFE != 0 {
            return Err(DecodeError::BadConnectFlags);
        }
        let code = r.u8()?;
        // A 3.x-only broker refusing an MQTT 5 client answers with a 3.x
        // CONNACK (no properties); keep its return code readable.
        let properties = if version == ProtocolVersion::V5 && !r.is_empty() {
            Properties::decode(&mut r)?
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

    pub fn encode(&self, out: &mut Vec<u8>, version: ProtocolVersion) {
        let v5 = version == ProtocolVersion::V5;
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
}
