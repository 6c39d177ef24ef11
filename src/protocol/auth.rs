//! AUTH (packet type 15, MQTT 5 only): one step of an extended
//! authentication exchange (spec 3.15).

use super::codec::{put_fixed_header, varint_len, Reader};
use super::error::DecodeError;
use super::packet::PacketType;
use super::properties::{Properties, PropertyContext};
use super::reason::ReasonCode;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success, Continue authentication or Re-authenticate.
    pub reason: ReasonCode,
    /// Authentication method and data, reason string, user properties.
    /// Whether the method is present and matches CONNECT's is for the
    /// receiver to check: the short form (success, no properties) has none.
    pub properties: Properties,
}

impl Auth {
    pub fn new(reason: ReasonCode) -> Auth {
        Auth {
            reason,
            properties: Properties::default(),
        }
    }

    pub fn decode(body: &[u8]) -> Result<Auth, DecodeError> {
        // Spec 3.15.2.1: an empty body means Success with no properties.
        if body.is_empty() {
            return Ok(Auth::default());
        }
        let mut r = Reader::new(body);
        let reason = ReasonCode(r.u8()?);
        if !reason.allowed_in(PacketType::Auth) {
            return Err(DecodeError::InvalidReasonCode {
                packet_type: 15,
                code: reason.0,
            });
        }
        let properties = if r.is_empty() {
            Properties::default()
        } else {
            Properties::decode_for(&mut r, PropertyContext::Auth)?
        };
        r.finish()?;
        Ok(Auth { reason, properties })
    }

    fn remaining_len(&self) -> usize {
        if !self.properties.is_empty() {
            1 + self.properties.encoded_len()
        } else {
            usize::from(self.reason != ReasonCode::SUCCESS)
        }
    }

    /// Size of the encoded packet, fixed header included.
    pub fn encoded_len(&self) -> usize {
        let rem = self.remaining_len();
        1 + varint_len(rem) + rem
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.remaining_len();
        put_fixed_header(out, 0xF0, len);
        if len > 0 {
            out.push(self.reason.0);
        }
        if len > 1 {
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
        Auth::default().encode(&mut out);
        assert_eq!(out, [0xF0, 0]);
        let mut a = Auth::new(ReasonCode::CONTINUE_AUTHENTICATION);
        a.properties.set_authentication_method("SCRAM-SHA-1");
        a.properties.set_authentication_data(b"xy".to_vec());
        out.clear();
        a.encode(&mut out);
        #[rustfmt::skip]
        let want = [
            0xF0, 21, 0x18, 19,
            0x15, 0, 11, b'S', b'C', b'R', b'A', b'M', b'-', b'S', b'H', b'A', b'-', b'1',
            0x16, 0, 2, b'x', b'y',
        ];
        assert_eq!(out, want);
        assert_eq!(a.encoded_len(), out.len());
        assert_eq!(Auth::decode(&out[2..]).unwrap(), a);
        assert_eq!(
            Auth::decode(&[0x19]).unwrap(),
            Auth::new(ReasonCode::REAUTHENTICATE)
        );
    }

    #[test]
    fn invalid() {
        assert_eq!(
            Auth::decode(&[0x80]),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 15,
                code: 0x80
            })
        );
        assert_eq!(
            Auth::decode(&[0x18, 3, 0x21, 0, 1]),
            Err(DecodeError::PropertyNotAllowed(0x21))
        );
        assert_eq!(
            Auth::decode(&[0x18, 3, 0x16, 0, 0]),
            Err(DecodeError::InvalidPropertyValue(0x16))
        );
        assert_eq!(Auth::decode(&[0x18, 0, 0]), Err(DecodeError::TrailingBytes));
    }
}
