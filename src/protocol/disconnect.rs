//! DISCONNECT: empty in 3.1/3.1.1; MQTT 5 adds a reason code and
//! properties, both omitted when they say "normal, nothing more"
//! (spec 3.14.2.1). `Packet::Disconnect` holds the two as a pair.

use super::codec::{put_fixed_header, varint_len, Reader};
use super::error::DecodeError;
use super::packet::PacketType;
use super::properties::{Properties, PropertyContext};
use super::reason::ReasonCode;
use super::ProtocolVersion;

pub(super) fn decode(
    body: &[u8],
    version: ProtocolVersion,
) -> Result<(u8, Properties), DecodeError> {
    if version != ProtocolVersion::V5 || body.is_empty() {
        return if body.is_empty() {
            Ok((0, Properties::default()))
        } else {
            Err(DecodeError::TrailingBytes)
        };
    }
    let mut r = Reader::new(body);
    let reason = r.u8()?;
    if !ReasonCode(reason).allowed_in(PacketType::Disconnect) {
        return Err(DecodeError::InvalidReasonCode {
            packet_type: 14,
            code: reason,
        });
    }
    // A remaining length of 1 has no property length.
    let props = if r.is_empty() {
        Properties::default()
    } else {
        Properties::decode_for(&mut r, PropertyContext::Disconnect)?
    };
    r.finish()?;
    Ok((reason, props))
}

fn remaining_len(reason: u8, props: &Properties, version: ProtocolVersion) -> usize {
    if version != ProtocolVersion::V5 {
        0
    } else if !props.is_empty() {
        1 + props.encoded_len()
    } else {
        usize::from(reason != 0)
    }
}

/// Size of the encoded DISCONNECT, fixed header included.
pub fn disconnect_len(reason: u8, props: &Properties, version: ProtocolVersion) -> usize {
    let rem = remaining_len(reason, props, version);
    1 + varint_len(rem) + rem
}

/// Appends the shortest form the spec allows, as mosquitto sends.
pub(super) fn encode(out: &mut Vec<u8>, reason: u8, props: &Properties, version: ProtocolVersion) {
    let len = remaining_len(reason, props, version);
    put_fixed_header(out, 0xE0, len);
    if len > 0 {
        out.push(reason);
    }
    if len > 1 {
        props.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn forms() {
        let none = Properties::default();
        let mut out = Vec::new();
        encode(&mut out, 0, &none, V5);
        assert_eq!(out, [0xE0, 0]);
        out.clear();
        encode(&mut out, 0x8E, &none, V5);
        assert_eq!(out, [0xE0, 1, 0x8E]);
        assert_eq!(disconnect_len(0x8E, &none, V5), 3);
        assert_eq!(decode(&out[2..], V5).unwrap(), (0x8E, none.clone()));
        let mut p = Properties::default();
        p.set_session_expiry_interval(0);
        p.set_reason_string("bye");
        out.clear();
        encode(&mut out, 0, &p, V5);
        #[rustfmt::skip]
        let want = [0xE0, 13, 0, 11, 0x11, 0, 0, 0, 0, 0x1F, 0, 3, b'b', b'y', b'e'];
        assert_eq!(out, want);
        assert_eq!(disconnect_len(0, &p, V5), out.len());
        assert_eq!(decode(&out[2..], V5).unwrap(), (0, p.clone()));
        // 3.1.1 never writes either.
        out.clear();
        encode(&mut out, 0x8E, &p, ProtocolVersion::V311);
        assert_eq!(out, [0xE0, 0]);
        // Reason code with an empty property block.
        assert_eq!(decode(&[4, 0], V5).unwrap(), (4, none));
    }

    #[test]
    fn invalid() {
        assert_eq!(
            decode(&[0x8A], V5),
            Err(DecodeError::InvalidReasonCode {
                packet_type: 14,
                code: 0x8A
            })
        );
        assert_eq!(decode(&[0, 2, 0x23, 0], V5), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[0, 3, 0x23, 0, 1], V5),
            Err(DecodeError::PropertyNotAllowed(0x23))
        );
        assert_eq!(
            decode(&[0], ProtocolVersion::V311),
            Err(DecodeError::TrailingBytes)
        );
    }
}
