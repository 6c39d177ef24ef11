//! The `mosquitto_property_*` API. A `mosquitto_property *` is a singly
//! linked list of boxed `Property` nodes; the values and the rules (which
//! property may go in which packet) are the project's codec's.

use std::ffi::{c_char, c_int, c_void};

use mosquitto_rs::protocol::{DecodeError, Properties, PropertyContext, PropertyValue};

use super::{bytes, export, malloc_bytes, malloc_str, opt_str, put};
use crate::consts::*;

pub struct Property {
    next: *mut Property,
    id: u8,
    value: PropertyValue,
}

const TYPE_BYTE: c_int = 1;
const TYPE_INT16: c_int = 2;
const TYPE_INT32: c_int = 3;
const TYPE_VARINT: c_int = 4;
const TYPE_BINARY: c_int = 5;
const TYPE_STRING: c_int = 6;
const TYPE_STRING_PAIR: c_int = 7;

/// Name, identifier and value type of every MQTT 5 property, as
/// mosquitto's tools name them on the command line (`-D`).
const TABLE: &[(&str, u8, c_int)] = &[
    ("payload-format-indicator", 1, TYPE_BYTE),
    ("message-expiry-interval", 2, TYPE_INT32),
    ("content-type", 3, TYPE_STRING),
    ("response-topic", 8, TYPE_STRING),
    ("correlation-data", 9, TYPE_BINARY),
    ("subscription-identifier", 11, TYPE_VARINT),
    ("session-expiry-interval", 17, TYPE_INT32),
    ("assigned-client-identifier", 18, TYPE_STRING),
    ("server-keep-alive", 19, TYPE_INT16),
    ("authentication-method", 21, TYPE_STRING),
    ("authentication-data", 22, TYPE_BINARY),
    ("request-problem-information", 23, TYPE_BYTE),
    ("will-delay-interval", 24, TYPE_INT32),
    ("request-response-information", 25, TYPE_BYTE),
    ("response-information", 26, TYPE_STRING),
    ("server-reference", 28, TYPE_STRING),
    ("reason-string", 31, TYPE_STRING),
    ("receive-maximum", 33, TYPE_INT16),
    ("topic-alias-maximum", 34, TYPE_INT16),
    ("topic-alias", 35, TYPE_INT16),
    ("maximum-qos", 36, TYPE_BYTE),
    ("retain-available", 37, TYPE_BYTE),
    ("user-property", 38, TYPE_STRING_PAIR),
    ("maximum-packet-size", 39, TYPE_INT32),
    ("wildcard-subscription-available", 40, TYPE_BYTE),
    ("subscription-identifier-available", 41, TYPE_BYTE),
    ("shared-subscription-available", 42, TYPE_BYTE),
];

fn type_of(id: c_int) -> Option<c_int> {
    TABLE
        .iter()
        .find(|(_, i, _)| c_int::from(*i) == id)
        .map(|(_, _, t)| *t)
}

fn value_type(v: &PropertyValue) -> c_int {
    match v {
        PropertyValue::Byte(_) => TYPE_BYTE,
        PropertyValue::U16(_) => TYPE_INT16,
        PropertyValue::U32(_) => TYPE_INT32,
        PropertyValue::Varint(_) => TYPE_VARINT,
        PropertyValue::Binary(_) => TYPE_BINARY,
        PropertyValue::String(_) => TYPE_STRING,
        PropertyValue::Pair(..) => TYPE_STRING_PAIR,
    }
}

/// A list for C from `props` (null when empty); free with `free_list`.
pub fn to_list(props: &Properties) -> *mut Property {
    let mut head: *mut Property = std::ptr::null_mut();
    for (id, value) in props.0.iter().rev() {
        head = Box::into_raw(Box::new(Property {
            next: head,
            id: *id,
            value: value.clone(),
        }));
    }
    head
}

/// Frees a list made here.
pub fn free_list(mut p: *mut Property) {
    while !p.is_null() {
        // SAFETY: every node was made by Box::into_raw in this module and
        // is freed once, here.
        let node = unsafe { Box::from_raw(p) };
        p = node.next;
    }
}

/// The properties of a C list, in list order.
///
/// SAFETY (callers): `p` is null or a list made by this module.
pub unsafe fn from_list(mut p: *const Property) -> Properties {
    let mut out = Properties::default();
    while let Some(node) = p.as_ref() {
        out.0.push((node.id, node.value.clone()));
        p = node.next;
    }
    out
}

/// Appends to the list at `*list`, after checking the identifier's type.
///
/// SAFETY (callers): `list` is null or points to a list pointer.
unsafe fn add(list: *mut *mut Property, id: c_int, value: PropertyValue) -> c_int {
    if list.is_null() {
        return INVAL;
    }
    let Ok(id8) = u8::try_from(id) else {
        return INVAL;
    };
    if type_of(id) != Some(value_type(&value)) {
        return INVAL;
    }
    let node = Box::into_raw(Box::new(Property {
        next: std::ptr::null_mut(),
        id: id8,
        value,
    }));
    let mut slot = list;
    while let Some(n) = (*slot).as_mut() {
        slot = &mut n.next;
    }
    *slot = node;
    SUCCESS
}

pub(super) unsafe extern "C" fn mosquitto_property_add_byte(
    l: *mut *mut Property,
    id: c_int,
    v: u8,
) -> c_int {
    add(l, id, PropertyValue::Byte(v))
}
export!(mosquitto_property_add_byte, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_int16(
    l: *mut *mut Property,
    id: c_int,
    v: u16,
) -> c_int {
    add(l, id, PropertyValue::U16(v))
}
export!(mosquitto_property_add_int16, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_int32(
    l: *mut *mut Property,
    id: c_int,
    v: u32,
) -> c_int {
    add(l, id, PropertyValue::U32(v))
}
export!(mosquitto_property_add_int32, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_varint(
    l: *mut *mut Property,
    id: c_int,
    v: u32,
) -> c_int {
    if v > 268_435_455 {
        return INVAL;
    }
    add(l, id, PropertyValue::Varint(v))
}
export!(mosquitto_property_add_varint, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_binary(
    l: *mut *mut Property,
    id: c_int,
    v: *const c_void,
    len: u16,
) -> c_int {
    match bytes(v, c_int::from(len)) {
        Ok(b) => add(l, id, PropertyValue::Binary(b.to_vec())),
        Err(rc) => rc,
    }
}
export!(mosquitto_property_add_binary, "MOSQ_1.6");

/// A string value: valid UTF-8 of at most 65535 bytes.
unsafe fn string_arg(v: *const c_char) -> Result<String, c_int> {
    match opt_str(v)? {
        Some(s) if s.len() <= 65535 => Ok(s),
        Some(_) => Err(INVAL),
        None => Ok(String::new()),
    }
}

pub(super) unsafe extern "C" fn mosquitto_property_add_string(
    l: *mut *mut Property,
    id: c_int,
    v: *const c_char,
) -> c_int {
    match string_arg(v) {
        Ok(s) => add(l, id, PropertyValue::String(s)),
        Err(rc) => rc,
    }
}
export!(mosquitto_property_add_string, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_string_pair(
    l: *mut *mut Property,
    id: c_int,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    match (string_arg(name), string_arg(value)) {
        (Ok(n), Ok(v)) => add(l, id, PropertyValue::Pair(n, v)),
        (Err(rc), _) | (_, Err(rc)) => rc,
    }
}
export!(mosquitto_property_add_string_pair, "MOSQ_1.6");

/// The first (or, with `skip_first`, the next after the first) property
/// `id` in the list, as libmosquitto's readers look it up.
unsafe fn find<'a>(mut p: *const Property, id: c_int, skip_first: bool) -> Option<&'a Property> {
    let mut first = true;
    while let Some(node) = p.as_ref() {
        if c_int::from(node.id) == id {
            if !first || !skip_first {
                return Some(node);
            }
            first = false;
        }
        p = node.next;
    }
    None
}

pub(super) unsafe extern "C" fn mosquitto_property_read_byte(
    p: *const Property,
    id: c_int,
    value: *mut u8,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Byte(v),
                ..
            },
        ) => {
            put(value, *v);
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_byte, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_int16(
    p: *const Property,
    id: c_int,
    value: *mut u16,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::U16(v),
                ..
            },
        ) => {
            put(value, *v);
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_int16, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_int32(
    p: *const Property,
    id: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::U32(v),
                ..
            },
        ) => {
            put(value, *v);
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_int32, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_varint(
    p: *const Property,
    id: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Varint(v),
                ..
            },
        ) => {
            put(value, *v);
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_varint, "MOSQ_1.6");

/// Binary values come back in `malloc`ed memory the caller frees (with a
/// NUL after them, as libmosquitto's).
pub(super) unsafe extern "C" fn mosquitto_property_read_binary(
    p: *const Property,
    id: c_int,
    value: *mut *mut c_void,
    len: *mut u16,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Binary(b),
                ..
            },
        ) => {
            if !value.is_null() {
                let m = malloc_bytes(b);
                if m.is_null() {
                    return std::ptr::null();
                }
                *value = m;
            }
            put(len, u16::try_from(b.len()).unwrap_or(u16::MAX));
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_binary, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_string(
    p: *const Property,
    id: c_int,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::String(s),
                ..
            },
        ) => {
            if !value.is_null() {
                let m = malloc_str(s);
                if m.is_null() {
                    return std::ptr::null();
                }
                *value = m;
            }
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_string, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_string_pair(
    p: *const Property,
    id: c_int,
    name: *mut *mut c_char,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    match find(p, id, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Pair(k, v),
                ..
            },
        ) => {
            let mut kp = std::ptr::null_mut();
            if !name.is_null() {
                kp = malloc_str(k);
                if kp.is_null() {
                    return std::ptr::null();
                }
                *name = kp;
            }
            if !value.is_null() {
                let vp = malloc_str(v);
                if vp.is_null() {
                    libc::free(kp.cast());
                    put(name, std::ptr::null_mut());
                    return std::ptr::null();
                }
                *value = vp;
            }
            n
        }
        _ => std::ptr::null(),
    }
}
export!(mosquitto_property_read_string_pair, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_free_all(list: *mut *mut Property) {
    if let Some(l) = list.as_mut() {
        free_list(*l);
        *l = std::ptr::null_mut();
    }
}
export!(mosquitto_property_free_all, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_copy_all(
    dest: *mut *mut Property,
    src: *const Property,
) -> c_int {
    if dest.is_null() {
        return INVAL;
    }
    *dest = to_list(&from_list(src));
    SUCCESS
}
export!(mosquitto_property_copy_all, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_identifier(p: *const Property) -> c_int {
    p.as_ref().map_or(0, |n| c_int::from(n.id))
}
export!(mosquitto_property_identifier, "MOSQ_1.7");

pub(super) unsafe extern "C" fn mosquitto_property_next(p: *const Property) -> *mut Property {
    p.as_ref().map_or(std::ptr::null_mut(), |n| n.next)
}
export!(mosquitto_property_next, "MOSQ_1.7");

/// Names as static C strings, in `TABLE`'s order.
const NAMES_C: &[&[u8]] = &[
    b"payload-format-indicator\0",
    b"message-expiry-interval\0",
    b"content-type\0",
    b"response-topic\0",
    b"correlation-data\0",
    b"subscription-identifier\0",
    b"session-expiry-interval\0",
    b"assigned-client-identifier\0",
    b"server-keep-alive\0",
    b"authentication-method\0",
    b"authentication-data\0",
    b"request-problem-information\0",
    b"will-delay-interval\0",
    b"request-response-information\0",
    b"response-information\0",
    b"server-reference\0",
    b"reason-string\0",
    b"receive-maximum\0",
    b"topic-alias-maximum\0",
    b"topic-alias\0",
    b"maximum-qos\0",
    b"retain-available\0",
    b"user-property\0",
    b"maximum-packet-size\0",
    b"wildcard-subscription-available\0",
    b"subscription-identifier-available\0",
    b"shared-subscription-available\0",
];

pub(super) extern "C" fn mosquitto_property_identifier_to_string(id: c_int) -> *const c_char {
    TABLE
        .iter()
        .position(|(_, i, _)| c_int::from(*i) == id)
        .and_then(|pos| NAMES_C.get(pos))
        .map_or(std::ptr::null(), |s| s.as_ptr().cast())
}
export!(mosquitto_property_identifier_to_string, "MOSQ_1.7");

pub(super) unsafe extern "C" fn mosquitto_string_to_property_info(
    name: *const c_char,
    id: *mut c_int,
    ty: *mut c_int,
) -> c_int {
    let Ok(Some(name)) = opt_str(name) else {
        return INVAL;
    };
    match TABLE.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(&name)) {
        Some((_, i, t)) => {
            put(id, c_int::from(*i));
            put(ty, *t);
            SUCCESS
        }
        None => INVAL,
    }
}
export!(mosquitto_string_to_property_info, "MOSQ_1.6");

const CMD_WILL: c_int = 0x100;

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

pub(super) unsafe extern "C" fn mosquitto_string_to_command(
    s: *const c_char,
    cmd: *mut c_int,
) -> c_int {
    let Ok(Some(s)) = opt_str(s) else {
        return INVAL;
    };
    match COMMANDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&s)) {
        Some((_, c)) => {
            put(cmd, *c);
            SUCCESS
        }
        None => {
            put(cmd, 0);
            INVAL
        }
    }
}
export!(mosquitto_string_to_command, "MOSQ_1.6");

fn context_of(command: c_int) -> Option<PropertyContext> {
    use PropertyContext as C;
    Some(match command {
        CMD_WILL => C::Will,
        c => match c & 0xF0 {
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
        },
    })
}

/// A value of identifier `id`'s type that passes the value rules.
fn sample(id: c_int) -> Option<PropertyValue> {
    Some(match type_of(id)? {
        TYPE_BYTE => PropertyValue::Byte(0),
        TYPE_INT16 => PropertyValue::U16(1),
        TYPE_INT32 => PropertyValue::U32(1),
        TYPE_VARINT => PropertyValue::Varint(1),
        TYPE_BINARY => PropertyValue::Binary(Vec::new()),
        TYPE_STRING => PropertyValue::String("a".into()),
        _ => PropertyValue::Pair(String::new(), String::new()),
    })
}

pub(super) extern "C" fn mosquitto_property_check_command(command: c_int, id: c_int) -> c_int {
    let (Some(ctx), Some(v), Ok(id8)) = (context_of(command), sample(id), u8::try_from(id)) else {
        return PROTOCOL;
    };
    let mut props = Properties::default();
    if id8 == 0x16 {
        props.0.push((0x15, PropertyValue::String("a".into())));
    }
    props.0.push((id8, v));
    match props.check(ctx) {
        Ok(()) => SUCCESS,
        Err(_) => PROTOCOL,
    }
}
export!(mosquitto_property_check_command, "MOSQ_1.6");

/// Checks a whole list for `command` as libmosquitto does before sending.
pub fn check_all(command: c_int, props: &Properties) -> c_int {
    let Some(ctx) = context_of(command) else {
        return PROTOCOL;
    };
    match props.check(ctx) {
        Ok(()) => SUCCESS,
        Err(DecodeError::DuplicateProperty(_)) => DUPLICATE_PROPERTY,
        Err(_) => PROTOCOL,
    }
}

pub(super) unsafe extern "C" fn mosquitto_property_check_all(
    command: c_int,
    p: *const Property,
) -> c_int {
    check_all(command, &from_list(p))
}
export!(mosquitto_property_check_all, "MOSQ_1.6");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_table() {
        assert_eq!(TABLE.len(), NAMES_C.len());
        for ((name, id, _), c) in TABLE.iter().zip(NAMES_C) {
            assert_eq!(c.strip_suffix(b"\0"), Some(name.as_bytes()));
            assert!(type_of(c_int::from(*id)).is_some());
        }
    }

    #[test]
    fn check_command_uses_the_codec_rules() {
        assert_eq!(mosquitto_property_check_command(0x30, 38), SUCCESS);
        assert_eq!(mosquitto_property_check_command(0x10, 22), SUCCESS);
        assert_eq!(mosquitto_property_check_command(0x30, 17), PROTOCOL);
        assert_eq!(mosquitto_property_check_command(CMD_WILL, 24), SUCCESS);
        assert_eq!(mosquitto_property_check_command(0x30, 99), PROTOCOL);
    }

    #[test]
    fn list_round_trip() {
        let mut p = Properties::default();
        p.add_user_property("a", "b");
        p.set_message_expiry_interval(5);
        let l = to_list(&p);
        // SAFETY: made just above.
        let back = unsafe { from_list(l) };
        free_list(l);
        assert_eq!(back, p);
    }
}
