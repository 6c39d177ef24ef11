//! MQTT 5 properties. Packets carry a `Properties` value so that MQTT 5 fits
//! without changing their shape; with 3.1 and 3.1.1 it is always empty and no
//! bytes are read or written for it. An empty block is an empty `Vec`, which
//! does not allocate.
//!
//! The canonical order is ascending identifier, repeated properties (user
//! properties, subscription identifiers) keeping their relative order: the
//! setters keep it, decoding restores it, encoding writes it.

mod access;
pub mod id;
mod rules;
#[cfg(test)]
mod tests;

use super::codec::{put_bytes, put_u16, put_varint, varint_len, Reader};
use super::error::DecodeError;
pub use rules::PropertyContext;
use rules::{kind, Kind};

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

fn read_value(r: &mut Reader<'_>, k: Kind) -> Result<PropertyValue, DecodeError> {
    Ok(match k {
        Kind::Byte => PropertyValue::Byte(r.u8()?),
        Kind::U16 => PropertyValue::U16(r.u16()?),
        Kind::U32 => PropertyValue::U32(r.u32()?),
        Kind::Varint => PropertyValue::Varint(r.varint()?),
        Kind::String => PropertyValue::String(r.string()?.to_owned()),
        Kind::Binary => PropertyValue::Binary(r.binary()?.to_vec()),
        Kind::Pair => {
            let k = r.string()?.to_owned();
            let v = r.string()?.to_owned();
            PropertyValue::Pair(k, v)
        }
    })
}

fn value_len(v: &PropertyValue) -> usize {
    match v {
        PropertyValue::Byte(_) => 1,
        PropertyValue::U16(_) => 2,
        PropertyValue::U32(_) => 4,
        PropertyValue::Varint(x) => varint_len(*x as usize),
        PropertyValue::String(s) => 2 + s.len(),
        PropertyValue::Binary(b) => 2 + b.len(),
        PropertyValue::Pair(k, v) => 4 + k.len() + v.len(),
    }
}

fn put_property(out: &mut Vec<u8>, id: u8, v: &PropertyValue) {
    out.push(id);
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

impl Properties {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the entries are in canonical order already.
    fn is_canonical(&self) -> bool {
        self.0.windows(2).all(|w| matches!(w, [a, b] if a.0 <= b.0))
    }

    /// Reads a property block: its varint length, then the properties. Only
    /// the wire format is checked; `decode_for` adds the per-packet rules.
    pub fn decode(r: &mut Reader<'_>) -> Result<Properties, DecodeError> {
        let len = r.varint()? as usize;
        if len == 0 {
            return Ok(Properties::default());
        }
        let mut inner = Reader::new(r.take(len)?);
        let mut props = Vec::new();
        while !inner.is_empty() {
            let id = inner.u8()?;
            let k = kind(id).ok_or(DecodeError::MalformedProperties)?;
            props.push((id, read_value(&mut inner, k)?));
        }
        let mut p = Properties(props);
        if !p.is_canonical() {
            // Stable: user properties keep their order ([MQTT-3.3.2-18]).
            p.0.sort_by_key(|(id, _)| *id);
        }
        Ok(p)
    }

    /// Reads a property block and checks it against the rules for the
    /// packet it sits in.
    pub fn decode_for(r: &mut Reader<'_>, ctx: PropertyContext) -> Result<Properties, DecodeError> {
        let p = Properties::decode(r)?;
        p.check(ctx)?;
        Ok(p)
    }

    fn body_len(&self) -> usize {
        self.0.iter().map(|(_, v)| 1 + value_len(v)).sum()
    }

    /// Size of the encoded block, length prefix included.
    pub fn encoded_len(&self) -> usize {
        let n = self.body_len();
        varint_len(n) + n
    }

    /// Appends the block in the order of `.0`, as built: for a peer
    /// compared byte for byte with another implementation's order (the
    /// spec leaves property order free).
    pub fn encode_listed(&self, out: &mut Vec<u8>) {
        put_varint(out, self.body_len());
        for (id, v) in &self.0 {
            put_property(out, *id, v);
        }
    }

    /// Appends the block in canonical order. Entries pushed out of order
    /// directly into `.0` are reordered on the way out, without allocating.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.body_len());
        if self.is_canonical() {
            for (id, v) in &self.0 {
                put_property(out, *id, v);
            }
            return;
        }
        for want in 0..=u8::MAX {
            for (id, v) in self.0.iter().filter(|(id, _)| *id == want) {
                put_property(out, *id, v);
            }
        }
    }

    /// Size of the block `encode_between` writes, length prefix included.
    pub fn between_len(
        &self,
        before: &[(u8, PropertyValue)],
        after: &[(u8, PropertyValue)],
    ) -> usize {
        let extra =
            |x: &[(u8, PropertyValue)]| x.iter().map(|(_, v)| 1 + value_len(v)).sum::<usize>();
        let n = self.body_len() + extra(before) + extra(after);
        varint_len(n) + n
    }

    /// Appends one block: `before`, then `self` in the order of `.0`, then
    /// `after`. Per-delivery values join a stored message's properties as
    /// mosquitto writes them (subscription identifiers first, the message
    /// expiry last) without building a new list.
    pub fn encode_between(
        &self,
        out: &mut Vec<u8>,
        before: &[(u8, PropertyValue)],
        after: &[(u8, PropertyValue)],
    ) {
        let extra =
            |x: &[(u8, PropertyValue)]| x.iter().map(|(_, v)| 1 + value_len(v)).sum::<usize>();
        put_varint(out, self.body_len() + extra(before) + extra(after));
        for (id, v) in before.iter().chain(&self.0).chain(after) {
            put_property(out, *id, v);
        }
    }

    /// A whole property block (length prefix included; no bytes at all is
    /// an empty block) checked for `ctx`, in the order it holds.
    pub fn decode_block(bytes: &[u8], ctx: PropertyContext) -> Result<Properties, DecodeError> {
        if bytes.is_empty() {
            return Ok(Properties::default());
        }
        let mut r = Reader::new(bytes);
        let p = Properties::decode_for_listed(&mut r, ctx)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(p)
    }

    /// As `decode_for`, keeping the properties in the order they came in
    /// (a PUBLISH's are passed on in that order, as mosquitto does).
    pub fn decode_for_listed(
        r: &mut Reader<'_>,
        ctx: PropertyContext,
    ) -> Result<Properties, DecodeError> {
        let len = r.varint()? as usize;
        let mut props = Vec::new();
        if len > 0 {
            let mut inner = Reader::new(r.take(len)?);
            while !inner.is_empty() {
                let id = inner.u8()?;
                let k = kind(id).ok_or(DecodeError::MalformedProperties)?;
                props.push((id, read_value(&mut inner, k)?));
            }
        }
        let p = Properties(props);
        p.check(ctx)?;
        Ok(p)
    }
}
