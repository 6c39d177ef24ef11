//! Which property may appear on which packet, how often, and with which
//! values (spec 2.2.2.2 and each packet's property section). Checked after
//! parsing so that values built in code can be checked the same way.

use super::id::*;
use super::{Properties, PropertyValue};
use crate::protocol::error::DecodeError;
use crate::protocol::topic::valid_topic_name;

/// Where a property block sits. The four acknowledgements share one set of
/// allowed properties, so they share one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyContext {
    Connect,
    ConnAck,
    Publish,
    /// The will properties inside CONNECT.
    Will,
    /// PUBACK, PUBREC, PUBREL and PUBCOMP.
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl PropertyContext {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The wire type of a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Byte,
    U16,
    U32,
    Varint,
    String,
    Binary,
    Pair,
}

/// The wire type of each identifier; `None` for identifiers MQTT 5 does not
/// define (a malformed packet).
pub(super) fn kind(id: u8) -> Option<Kind> {
    Some(match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => Kind::Byte,
        0x13 | 0x21 | 0x22 | 0x23 => Kind::U16,
        0x02 | 0x11 | 0x18 | 0x27 => Kind::U32,
        0x0B => Kind::Varint,
        0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => Kind::String,
        0x09 | 0x16 => Kind::Binary,
        0x26 => Kind::Pair,
        _ => return None,
    })
}

pub(super) fn kind_of(v: &PropertyValue) -> Kind {
    match v {
        PropertyValue::Byte(_) => Kind::Byte,
        PropertyValue::U16(_) => Kind::U16,
        PropertyValue::U32(_) => Kind::U32,
        PropertyValue::Varint(_) => Kind::Varint,
        PropertyValue::String(_) => Kind::String,
        PropertyValue::Binary(_) => Kind::Binary,
        PropertyValue::Pair(..) => Kind::Pair,
    }
}

/// The packets each identifier may appear in (spec table 2-4).
fn allowed(id: u8) -> u16 {
    use PropertyContext as C;
    let b = |cs: &[PropertyContext]| cs.iter().fold(0u16, |m, c| m | c.bit());
    match id {
        PAYLOAD_FORMAT_INDICATOR
        | MESSAGE_EXPIRY_INTERVAL
        | CONTENT_TYPE
        | RESPONSE_TOPIC
        | CORRELATION_DATA => b(&[C::Publish, C::Will]),
        SUBSCRIPTION_IDENTIFIER => b(&[C::Publish, C::Subscribe]),
        SESSION_EXPIRY_INTERVAL => b(&[C::Connect, C::ConnAck, C::Disconnect]),
        ASSIGNED_CLIENT_IDENTIFIER | SERVER_KEEP_ALIVE | RESPONSE_INFORMATION => b(&[C::ConnAck]),
        MAXIMUM_QOS | RETAIN_AVAILABLE | WILDCARD_SUBSCRIPTION_AVAILABLE => b(&[C::ConnAck]),
        SUBSCRIPTION_IDENTIFIER_AVAILABLE | SHARED_SUBSCRIPTION_AVAILABLE => b(&[C::ConnAck]),
        AUTHENTICATION_METHOD | AUTHENTICATION_DATA => b(&[C::Connect, C::ConnAck, C::Auth]),
        REQUEST_PROBLEM_INFORMATION | REQUEST_RESPONSE_INFORMATION => b(&[C::Connect]),
        WILL_DELAY_INTERVAL => b(&[C::Will]),
        SERVER_REFERENCE => b(&[C::ConnAck, C::Disconnect]),
        REASON_STRING => b(&[
            C::ConnAck,
            C::Ack,
            C::SubAck,
            C::UnsubAck,
            C::Disconnect,
            C::Auth,
        ]),
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | MAXIMUM_PACKET_SIZE => b(&[C::Connect, C::ConnAck]),
        TOPIC_ALIAS => b(&[C::Publish]),
        USER_PROPERTY => u16::MAX,
        _ => 0,
    }
}

/// Values the spec names as protocol errors. Topic alias 0 is left to the
/// receiver of a PUBLISH: it depends on the connection's alias maximum.
fn check_value(id: u8, v: &PropertyValue) -> Result<(), DecodeError> {
    let ok = match (id, v) {
        // Every byte property is a 0/1 flag, maximum QoS included (QoS 2 is
        // announced by leaving it out).
        (_, PropertyValue::Byte(b)) => *b <= 1,
        (RECEIVE_MAXIMUM, PropertyValue::U16(x)) => *x != 0,
        (MAXIMUM_PACKET_SIZE, PropertyValue::U32(x)) => *x != 0,
        (SUBSCRIPTION_IDENTIFIER, PropertyValue::Varint(x)) => *x != 0,
        (RESPONSE_TOPIC, PropertyValue::String(s)) => valid_topic_name(s),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::InvalidPropertyValue(id))
    }
}

impl Properties {
    /// Checks the block against the rules for `ctx`: allowed identifiers,
    /// at most one of each (user properties, and subscription identifiers in
    /// PUBLISH, may repeat), and the values the spec forbids.
    pub fn check(&self, ctx: PropertyContext) -> Result<(), DecodeError> {
        let mut seen: u64 = 0;
        for (id, v) in &self.0 {
            let id = *id;
            match kind(id) {
                Some(k) if k == kind_of(v) => {}
                _ => return Err(DecodeError::MalformedProperties),
            }
            if allowed(id) & ctx.bit() == 0 {
                return Err(DecodeError::PropertyNotAllowed(id));
            }
            // Every defined identifier is below 64.
            let bit = 1u64 << (id & 0x3F);
            let repeats = id == USER_PROPERTY
                || (id == SUBSCRIPTION_IDENTIFIER && ctx == PropertyContext::Publish);
            if seen & bit != 0 && !repeats {
                return Err(DecodeError::DuplicateProperty(id));
            }
            seen |= bit;
            check_value(id, v)?;
        }
        let has = |id: u8| seen & (1u64 << id) != 0;
        if has(AUTHENTICATION_DATA) && !has(AUTHENTICATION_METHOD) {
            return Err(DecodeError::InvalidPropertyValue(AUTHENTICATION_DATA));
        }
        Ok(())
    }
}
