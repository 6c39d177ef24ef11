//! Primitive wire types: the fixed header, remaining length, and a bounds-checked
//! reader. Writers append to a `Vec<u8>` so callers can reuse their buffers.

use super::error::DecodeError;

/// Largest remaining length the four-byte encoding can carry.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The first byte and the length of the rest of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The first byte: packet type in the high nibble, flags in the low one.
    pub byte1: u8,
    /// Bytes after the fixed header.
    pub remaining_length: usize,
    /// Size of the fixed header itself (2 to 5 bytes).
    pub header_len: usize,
}

impl FixedHeader {
    pub fn packet_type(&self) -> u8 {
        self.byte1 >> 4
    }

    pub fn flags(&self) -> u8 {
        self.byte1 & 0x0F
    }

    /// Size of the whole packet.
    pub fn total_len(&self) -> usize {
        self.header_len + self.remaining_length
    }
}

/// Reads the fixed header at the start of `buf`. `Ok(None)` means more bytes are
/// needed to know the packet's length.
pub fn fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    let mut value: usize = 0;
    let mut shift = 0;
    for i in 1..=4 {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        value |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(Some(FixedHeader {
                byte1,
                remaining_length: value,
                header_len: i + 1,
            }));
        }
        shift += 7;
    }
    Err(DecodeError::MalformedRemainingLength)
}

/// How many bytes a variable byte integer (the remaining length, MQTT 5
/// property lengths) takes for `len`.
pub fn varint_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Appends a fixed header. `len` must not exceed `MAX_REMAINING_LENGTH`; callers
/// check sizes against their limits before encoding.
pub fn put_fixed_header(out: &mut Vec<u8>, byte1: u8, len: usize) {
    out.push(byte1);
    put_varint(out, len);
}

pub fn put_varint(out: &mut Vec<u8>, len: usize) {
    let mut x = len;
    loop {
        let mut b = (x % 128) as u8;
        x /= 128;
        if x > 0 {
            b |= 0x80;
        }
        out.push(b);
        if x == 0 {
            break;
        }
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A length-prefixed string or binary field. Lengths over 65,535 cannot be
/// expressed; such values are rejected before encoding (topics, client ids).
pub fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_u16(out, v.len() as u16);
    out.extend_from_slice(v);
}

/// Size of a length-prefixed field holding `n` bytes.
pub fn bytes_len(n: usize) -> usize {
    2 + n
}

/// A cursor over one packet's body. Every read is bounds-checked and fails
/// with `Truncated` rather than panicking.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// MQTT 5's variable byte integer (same encoding as the remaining length).
    pub fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedRemainingLength)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// The rest of the packet (a PUBLISH payload).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }

    /// A length-prefixed binary field.
    pub fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// A length-prefixed UTF-8 string, checked against MQTT's rules.
    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        let b = self.binary()?;
        let s = std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8)?;
        if !valid_mqtt_string(s) {
            return Err(DecodeError::InvalidUtf8);
        }
        Ok(s)
    }

    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// MQTT strings may not contain U+0000 ([MQTT-1.5.3-2]). Rust's UTF-8 check
/// already excludes surrogates and overlong forms. The spec says control
/// characters and non-characters SHOULD NOT appear; mosquitto refuses them,
/// and so do we, so clients get the same verdict from both brokers.
pub fn valid_mqtt_string(s: &str) -> bool {
    // Nearly every topic and client id is printable ASCII: one byte test.
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return true;
    }
    !s.chars().any(|c| {
        let v = u32::from(c);
        v <= 0x1F
            || (0x7F..=0x9F).contains(&v)
            || (0xFDD0..=0xFDEF).contains(&v)
            || v & 0xFFFE == 0xFFFE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_vectors() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING_LENGTH, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for &(len, bytes) in cases {
            let mut out = Vec::new();
            put_fixed_header(&mut out, 0x30, len);
            assert_eq!(&out[1..], bytes, "encode {len}");
            assert_eq!(varint_len(len), bytes.len());
            let h = fixed_header(&out).unwrap().unwrap();
            assert_eq!(h.remaining_length, len);
            assert_eq!(h.header_len, 1 + bytes.len());
            // Every proper prefix asks for more bytes.
            for cut in 0..out.len() {
                assert_eq!(fixed_header(&out[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn five_byte_remaining_length_is_malformed() {
        assert_eq!(
            fixed_header(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[0x00, 0x03, b'a', b'b']);
        assert_eq!(r.string(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0x00]);
        assert_eq!(r.u16(), Err(DecodeError::Truncated));
        let mut r = Reader::new(&[0x00, 0x01, 0x00]);
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        let mut r = Reader::new(&[0x00, 0x02, 0xC3, 0x28]);
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
        let mut r = Reader::new(&[0x00, 0x03, 0xE4, 0xB8, 0xBB]);
        assert_eq!(r.string(), Ok("主"));
        assert!(r.finish().is_ok());
    }

    #[test]
    fn varint() {
        let mut r = Reader::new(&[0x80, 0x01, 0x05]);
        assert_eq!(r.varint(), Ok(128));
        assert_eq!(r.varint(), Ok(5));
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x01]);
        assert_eq!(r.varint(), Err(DecodeError::MalformedRemainingLength));
    }
}
