//! MQTT 5 properties. Packets carry a `Properties` value so that MQTT 5 fits
//! without changing their shape; with 3.1 and 3.1.1 it is always empty and no
//! bytes are read or written for it.

use super::codec::{put_bytes, put_u16, put_varint, varint_len, Reader};
use super::error::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    Byte(u8),
    U16(u16),
    U32(u32),
    Varint(u32),
    String(String),
    Binary(Vec<u8>),
    Pair(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(pub Vec<(u8, PropertyValue)>);

/// The wire type of each property identifier (MQTT 5.0 table 2-4).
fn kind(id: u8) -> Option<u8> {
    Some(match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 0, // byte
        0x13 | 0x21 | 0x22 | 0x23 => 1,                             // u16
        0x02 | 0x11 | 0x18 | 0x27 => 2,                             // u32
        0x0B => 3,                                                  // varint
        0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => 4,        // string
        0x09 | 0x16 => 5,                                           // binary
        0x26 => 6,                                                  // string pair
        _ => return None,
    })
}

impl Properties {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a property block: its varint length, then the properties.
    pub fn decode(r: &mut Reader<'_>) -> Result<Properties, DecodeError> {
        let len = r.varint()? as usize;
        let mut inner = Reader::new(r.take(len)?);
        let mut props = Vec::new();
        while !inner.is_empty() {
            let id = inner.u8()?;
            let value = match kind(id).ok_or(DecodeError::MalformedProperties)? {
                0 => PropertyValue::Byte(inner.u8()?),
                1 => PropertyValue::U16(inner.u16()?),
                2 => PropertyValue::U32(inner.u32()?),
                3 => PropertyValue::Varint(inner.varint()?),
                4 => PropertyValue::String(inner.string()?.to_owned()),
                5 => PropertyValue::Binary(inner.binary()?.to_vec()),
                _ => {
                    let k = inner.string()?.to_owned();
                    let v = inner.string()?.to_owned();
                    PropertyValue::Pair(k, v)
                }
            };
            props.push((id, value));
        }
        Ok(Properties(props))
    }

    fn body_len(&self) -> usize {
        self.0
            .iter()
            .map(|(_, v)| {
                1 + match v {
                    PropertyValue::Byte(_) => 1,
                    PropertyValue::U16(_) => 2,
                    PropertyValue::U32(_) => 4,
                    PropertyValue::Varint(x) => varint_len(*x as usize),
                    PropertyValue::String(s) => 2 + s.len(),
                    PropertyValue::Binary(b) => 2 + b.len(),
                    PropertyValue::Pair(k, v) => 4 + k.len() + v.len(),
                }
            })
            .sum()
    }

    /// Size of the encoded block, length prefix included.
    pub fn encoded_len(&self) -> usize {
        let n = self.body_len();
        varint_len(n) + n
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.body_len());
        for (id, v) in &self.0 {
            out.push(*id);
            match v {
                PropertyValue::Byte(b) => out.push(*b),
                PropertyValue::U16(x) => put_u16(out, *x),
                PropertyValue::U32(x) => out.extend_from_slice(&x.to_be_bytes()),
                PropertyValue::Varint(x) => put_varint(out, *x as usize),
                PropertyValue::String(s) => put_bytes(out, s.as_bytes()),
                PropertyValue::Binary(b) => put_bytes(out, b),
                PropertyValue::Pair(k, v) => {
                    put_bytes(out, k.as_bytes());
                    put_bytes(out, v.as_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = Properties(vec![
            (0x11, PropertyValue::U32(3600)),
            (0x26, PropertyValue::Pair("k".into(), "v".into())),
            (0x0B, PropertyValue::Varint(200)),
        ]);
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), p.encoded_len());
        let mut r = Reader::new(&out);
        assert_eq!(Properties::decode(&mut r).unwrap(), p);
        assert!(r.is_empty());
    }

    #[test]
    fn unknown_property_is_malformed() {
        let mut r = Reader::new(&[0x02, 0x7F, 0x00]);
        assert_eq!(
            Properties::decode(&mut r),
            Err(DecodeError::MalformedProperties)
        );
    }
}
