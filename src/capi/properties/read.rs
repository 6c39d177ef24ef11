//! Walking a list (`_identifier`, `_next`), looking values up (`_read_*`,
//! strings and buffers in `calloc`ed memory the caller frees), copying,
//! checking a list against a command's rules, and command names.

// C entry points (see the parent module's note).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, c_int, c_void, CStr};

use super::{from_list, node, to_list, type_of, Property};
use super::{TYPE_BINARY, TYPE_BYTE, TYPE_INT16, TYPE_INT32, TYPE_STRING, TYPE_VARINT};
use crate::capi::{calloc_copy, put, MOSQ_ERR_DUPLICATE_PROPERTY, MOSQ_ERR_INVAL};
use crate::capi::{MOSQ_ERR_PROTOCOL, MOSQ_ERR_SUCCESS};
use crate::protocol::properties::id;
use crate::protocol::{DecodeError, Properties, PropertyContext, PropertyValue};

/// libmosquitto's pseudo-command for will properties.
pub const CMD_WILL: c_int = 0x100;

/// The first node with `ident` (the second one with `skip_first`), as
/// mosquitto's readers look it up; `skip_first` lets a caller continue
/// from a node it got back.
fn find<'a>(mut p: *const Property, ident: c_int, skip_first: bool) -> Option<&'a Property> {
    let mut first = true;
    while let Some(n) = node(p) {
        if c_int::from(n.id) == ident {
            if !(first && skip_first) {
                return Some(n);
            }
            first = false;
        }
        p = n.next;
    }
    None
}

/// A number property: `pick` takes the value out of a node of the right
/// type; the node comes back, or null when absent or of another type.
fn read_number<T>(
    p: *const Property,
    ident: c_int,
    out: *mut T,
    skip_first: bool,
    pick: impl Fn(&PropertyValue) -> Option<T>,
) -> *const Property {
    let Some(n) = find(p, ident, skip_first) else {
        return std::ptr::null();
    };
    match pick(&n.value) {
        Some(v) => {
            put(out, v);
            n
        }
        None => std::ptr::null(),
    }
}

pub extern "C" fn mosquitto_property_identifier(p: *const Property) -> c_int {
    node(p).map_or(0, |n| c_int::from(n.id))
}

pub extern "C" fn mosquitto_property_next(p: *const Property) -> *const Property {
    node(p).map_or(std::ptr::null(), |n| n.next)
}

/// `mosquitto_property_read_<kind>` for a number kind: the value of the
/// node found, when it is a `PropertyValue::$variant`.
macro_rules! number_reader {
    ($name:ident, $t:ty, $variant:ident) => {
        pub extern "C" fn $name(
            p: *const Property,
            ident: c_int,
            value: *mut $t,
            skip_first: bool,
        ) -> *const Property {
            read_number(p, ident, value, skip_first, |v| match v {
                PropertyValue::$variant(n) => Some(*n),
                _ => None,
            })
        }
    };
}

number_reader!(mosquitto_property_read_byte, u8, Byte);
number_reader!(mosquitto_property_read_int16, u16, U16);
number_reader!(mosquitto_property_read_int32, u32, U32);
number_reader!(mosquitto_property_read_varint, u32, Varint);

/// As mosquitto: `value` and `len` both given or both null.
pub extern "C" fn mosquitto_property_read_binary(
    p: *const Property,
    ident: c_int,
    value: *mut *mut c_void,
    len: *mut u16,
    skip_first: bool,
) -> *const Property {
    if p.is_null() || value.is_null() != len.is_null() {
        return std::ptr::null();
    }
    put(value, std::ptr::null_mut());
    let Some(n) = find(p, ident, skip_first) else {
        return std::ptr::null();
    };
    let PropertyValue::Binary(b) = &n.value else {
        return std::ptr::null();
    };
    if !value.is_null() {
        let copy = calloc_copy(b);
        if copy.is_null() {
            return std::ptr::null();
        }
        put(len, u16::try_from(b.len()).unwrap_or(u16::MAX));
        put(value, copy);
    }
    n
}

pub extern "C" fn mosquitto_property_read_string(
    p: *const Property,
    ident: c_int,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    let Some(n) = find(p, ident, skip_first) else {
        return std::ptr::null();
    };
    let PropertyValue::String(s) = &n.value else {
        return std::ptr::null();
    };
    if !value.is_null() {
        let copy = calloc_copy(s.as_bytes());
        if copy.is_null() {
            return std::ptr::null();
        }
        put(value, copy.cast());
    }
    n
}

/// A copy for an out-pointer the caller gave (null when not given).
fn copy_for<T>(out: *mut T, s: &str) -> Option<*mut c_void> {
    if out.is_null() {
        return Some(std::ptr::null_mut());
    }
    Some(calloc_copy(s.as_bytes())).filter(|c| !c.is_null())
}

pub extern "C" fn mosquitto_property_read_string_pair(
    p: *const Property,
    ident: c_int,
    name: *mut *mut c_char,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    if p.is_null() {
        return std::ptr::null();
    }
    put(name, std::ptr::null_mut());
    put(value, std::ptr::null_mut());
    let Some(n) = find(p, ident, skip_first) else {
        return std::ptr::null();
    };
    let PropertyValue::Pair(k, v) = &n.value else {
        return std::ptr::null();
    };
    match (copy_for(name, k), copy_for(value, v)) {
        (Some(kc), Some(vc)) => {
            put(name, kc.cast());
            put(value, vc.cast());
            n
        }
        (kc, vc) => {
            // SAFETY: each is null or from calloc above, and not handed out.
            unsafe {
                libc::free(kc.unwrap_or(std::ptr::null_mut()));
                libc::free(vc.unwrap_or(std::ptr::null_mut()));
            }
            std::ptr::null()
        }
    }
}

/// As mosquitto: copying nothing succeeds without touching `dest`.
pub extern "C" fn mosquitto_property_copy_all(
    dest: *mut *mut Property,
    src: *const Property,
) -> c_int {
    if src.is_null() {
        return MOSQ_ERR_SUCCESS;
    }
    if dest.is_null() {
        return MOSQ_ERR_INVAL;
    }
    put(dest, to_list(&from_list(src).0));
    MOSQ_ERR_SUCCESS
}

/// The rules of a command, given as mosquitto's CMD_* values.
fn context_of(command: c_int) -> Option<PropertyContext> {
    use PropertyContext as C;
    Some(match command {
        CMD_WILL => C::Will,
        0x10 => C::Connect,
        0x20 => C::ConnAck,
        0x30 => C::Publish,
        0x40 | 0x50 | 0x60 | 0x70 => C::Ack,
        0x80 => C::Subscribe,
        0x90 => C::SubAck,
        0xA0 => C::Unsubscribe,
        0xB0 => C::UnsubAck,
        0xE0 => C::Disconnect,
        0xF0 => C::Auth,
        _ => return None,
    })
}

/// A value of `ident`'s type that every value rule accepts.
fn sample(ident: c_int) -> Option<PropertyValue> {
    Some(match type_of(ident)? {
        TYPE_BYTE => PropertyValue::Byte(0),
        TYPE_INT16 => PropertyValue::U16(1),
        TYPE_INT32 => PropertyValue::U32(1),
        TYPE_VARINT => PropertyValue::Varint(1),
        TYPE_BINARY => PropertyValue::Binary(Vec::new()),
        TYPE_STRING => PropertyValue::String("a".into()),
        _ => PropertyValue::Pair(String::new(), String::new()),
    })
}

/// A command mosquitto does not know restricts only what its check does
/// not list: user properties go anywhere, reason strings anywhere but the
/// four packets that never carry one.
fn allowed_in_unknown(ident: c_int) -> bool {
    ident == c_int::from(id::USER_PROPERTY) || ident == c_int::from(id::REASON_STRING)
}

/// Whether property `ident` may go in `command`, by the codec's rules.
pub extern "C" fn mosquitto_property_check_command(command: c_int, ident: c_int) -> c_int {
    let Some(ctx) = context_of(command) else {
        return if allowed_in_unknown(ident) {
            MOSQ_ERR_SUCCESS
        } else {
            MOSQ_ERR_PROTOCOL
        };
    };
    let (Some(value), Ok(id8)) = (sample(ident), u8::try_from(ident)) else {
        return MOSQ_ERR_PROTOCOL;
    };
    let mut props = Properties::default();
    // Authentication data is only valid beside a method.
    if id8 == id::AUTHENTICATION_DATA {
        props
            .0
            .push((id::AUTHENTICATION_METHOD, PropertyValue::String("a".into())));
    }
    props.0.push((id8, value));
    match props.check(ctx) {
        Ok(()) => MOSQ_ERR_SUCCESS,
        Err(_) => MOSQ_ERR_PROTOCOL,
    }
}

/// Checks a whole list for `command`: values, placement, duplicates. As
/// mosquitto, an empty list passes whatever the command, and a command it
/// does not know is checked property by property, in list order.
pub fn check_all(command: c_int, props: &Properties) -> c_int {
    if props.0.is_empty() {
        return MOSQ_ERR_SUCCESS;
    }
    let Some(ctx) = context_of(command) else {
        for (n, (ident, _)) in props.0.iter().enumerate() {
            if !allowed_in_unknown(c_int::from(*ident)) {
                return MOSQ_ERR_PROTOCOL;
            }
            let again = props.0.iter().skip(n + 1).any(|(i, _)| i == ident);
            if *ident != id::USER_PROPERTY && again {
                return MOSQ_ERR_DUPLICATE_PROPERTY;
            }
        }
        return MOSQ_ERR_SUCCESS;
    };
    match props.check(ctx) {
        Ok(()) => MOSQ_ERR_SUCCESS,
        Err(DecodeError::DuplicateProperty(_)) => MOSQ_ERR_DUPLICATE_PROPERTY,
        Err(_) => MOSQ_ERR_PROTOCOL,
    }
}

pub extern "C" fn mosquitto_property_check_all(command: c_int, p: *const Property) -> c_int {
    check_all(command, &from_list(p))
}

/// Command names as the tools take them (`-D command …`).
const COMMANDS: &[(&str, c_int)] = &[
    ("connect", 0x10),
    ("connack", 0x20),
    ("publish", 0x30),
    ("puback", 0x40),
    ("pubrec", 0x50),
    ("pubrel", 0x60),
    ("pubcomp", 0x70),
    ("subscribe", 0x80),
    ("suback", 0x90),
    ("unsubscribe", 0xA0),
    ("unsuback", 0xB0),
    ("disconnect", 0xE0),
    ("auth", 0xF0),
    ("will", CMD_WILL),
];

/// Names compare without case; an unknown name gives 0 and INVAL.
pub extern "C" fn mosquitto_string_to_command(s: *const c_char, cmd: *mut c_int) -> c_int {
    if s.is_null() {
        return MOSQ_ERR_INVAL;
    }
    // SAFETY: non-null; C callers pass NUL-terminated strings.
    let s = unsafe { CStr::from_ptr(s) }.to_bytes();
    match COMMANDS
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(s))
    {
        Some((_, c)) => {
            put(cmd, *c);
            MOSQ_ERR_SUCCESS
        }
        None => {
            put(cmd, 0);
            MOSQ_ERR_INVAL
        }
    }
}
