//! The reading side of the `mosquitto_property` API that mosquitto 2.0.11's
//! broker exports to plugins: walking a list (`_identifier`, `_next`),
//! looking values up (`_read_*`, values in `calloc`ed memory the plugin
//! frees), copying, checking lists against a command's rules, and the
//! property names. Semantics follow mosquitto's `lib/property_mosq.c`.

// C entry points, checked here (see `api`).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, c_int, c_void, CStr};

use super::ffi;
use super::props::{from_list, to_list, Property};
use crate::protocol::properties::id;
use crate::protocol::{DecodeError, Properties, PropertyContext, PropertyValue};

use ffi::{MOSQ_ERR_DUPLICATE_PROPERTY, MOSQ_ERR_PROTOCOL};
/// libmosquitto's pseudo-command for will properties.
const CMD_WILL: c_int = 0x100;

// mosquitto's MQTT_PROP_TYPE_* values.
const TYPE_BYTE: c_int = 1;
const TYPE_INT16: c_int = 2;
const TYPE_INT32: c_int = 3;
const TYPE_VARINT: c_int = 4;
const TYPE_BINARY: c_int = 5;
const TYPE_STRING: c_int = 6;
const TYPE_STRING_PAIR: c_int = 7;

/// Every property: its name as a C string (as mosquitto spells it), its
/// identifier and its value type.
const TABLE: &[(&[u8], u8, c_int)] = &[
    (
        b"payload-format-indicator\0",
        id::PAYLOAD_FORMAT_INDICATOR,
        TYPE_BYTE,
    ),
    (
        b"message-expiry-interval\0",
        id::MESSAGE_EXPIRY_INTERVAL,
        TYPE_INT32,
    ),
    (b"content-type\0", id::CONTENT_TYPE, TYPE_STRING),
    (b"response-topic\0", id::RESPONSE_TOPIC, TYPE_STRING),
    (b"correlation-data\0", id::CORRELATION_DATA, TYPE_BINARY),
    (
        b"subscription-identifier\0",
        id::SUBSCRIPTION_IDENTIFIER,
        TYPE_VARINT,
    ),
    (
        b"session-expiry-interval\0",
        id::SESSION_EXPIRY_INTERVAL,
        TYPE_INT32,
    ),
    (
        b"assigned-client-identifier\0",
        id::ASSIGNED_CLIENT_IDENTIFIER,
        TYPE_STRING,
    ),
    (b"server-keep-alive\0", id::SERVER_KEEP_ALIVE, TYPE_INT16),
    (
        b"authentication-method\0",
        id::AUTHENTICATION_METHOD,
        TYPE_STRING,
    ),
    (
        b"authentication-data\0",
        id::AUTHENTICATION_DATA,
        TYPE_BINARY,
    ),
    (
        b"request-problem-information\0",
        id::REQUEST_PROBLEM_INFORMATION,
        TYPE_BYTE,
    ),
    (
        b"will-delay-interval\0",
        id::WILL_DELAY_INTERVAL,
        TYPE_INT32,
    ),
    (
        b"request-response-information\0",
        id::REQUEST_RESPONSE_INFORMATION,
        TYPE_BYTE,
    ),
    (
        b"response-information\0",
        id::RESPONSE_INFORMATION,
        TYPE_STRING,
    ),
    (b"server-reference\0", id::SERVER_REFERENCE, TYPE_STRING),
    (b"reason-string\0", id::REASON_STRING, TYPE_STRING),
    (b"receive-maximum\0", id::RECEIVE_MAXIMUM, TYPE_INT16),
    (
        b"topic-alias-maximum\0",
        id::TOPIC_ALIAS_MAXIMUM,
        TYPE_INT16,
    ),
    (b"topic-alias\0", id::TOPIC_ALIAS, TYPE_INT16),
    (b"maximum-qos\0", id::MAXIMUM_QOS, TYPE_BYTE),
    (b"retain-available\0", id::RETAIN_AVAILABLE, TYPE_BYTE),
    (b"user-property\0", id::USER_PROPERTY, TYPE_STRING_PAIR),
    (
        b"maximum-packet-size\0",
        id::MAXIMUM_PACKET_SIZE,
        TYPE_INT32,
    ),
    (
        b"wildcard-subscription-available\0",
        id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        TYPE_BYTE,
    ),
    (
        b"subscription-identifier-available\0",
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        TYPE_BYTE,
    ),
    (
        b"shared-subscription-available\0",
        id::SHARED_SUBSCRIPTION_AVAILABLE,
        TYPE_BYTE,
    ),
];

fn node<'a>(p: *const Property) -> Option<&'a Property> {
    // SAFETY: a plugin's `mosquitto_property *` is null or a node of a list
    // made by `props` (plugins never build nodes themselves: the type is
    // opaque in mosquitto's headers).
    unsafe { p.as_ref() }
}

/// The first node with `ident` (the second one with `skip_first`), as
/// mosquitto's readers look it up; `skip_first` lets a plugin continue
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

fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-null; the plugin's pointer to a value of this type.
        unsafe { out.write(v) };
    }
}

/// `bytes` and a NUL after them in `calloc`ed memory (as mosquitto's
/// readers return them, for `free`/`mosquitto_free`); null when out of
/// memory.
fn calloc_copy(bytes: &[u8]) -> *mut c_void {
    // SAFETY: calloc of len + 1 bytes, zeroed; checked for null.
    let p = unsafe { libc::calloc(1, bytes.len() + 1) };
    if !p.is_null() {
        // SAFETY: p holds len + 1 bytes, distinct from `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), bytes.len()) };
    }
    p
}

fn found(n: &Property) -> *const Property {
    n
}

pub extern "C" fn mosquitto_property_identifier(p: *const Property) -> c_int {
    node(p).map_or(0, |n| c_int::from(n.id))
}

pub extern "C" fn mosquitto_property_next(p: *const Property) -> *const Property {
    node(p).map_or(std::ptr::null(), |n| n.next)
}

pub extern "C" fn mosquitto_property_read_byte(
    p: *const Property,
    ident: c_int,
    value: *mut u8,
    skip_first: bool,
) -> *const Property {
    match find(p, ident, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Byte(v),
                ..
            },
        ) => {
            put(value, *v);
            found(n)
        }
        _ => std::ptr::null(),
    }
}

pub extern "C" fn mosquitto_property_read_int16(
    p: *const Property,
    ident: c_int,
    value: *mut u16,
    skip_first: bool,
) -> *const Property {
    match find(p, ident, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::U16(v),
                ..
            },
        ) => {
            put(value, *v);
            found(n)
        }
        _ => std::ptr::null(),
    }
}

pub extern "C" fn mosquitto_property_read_int32(
    p: *const Property,
    ident: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    match find(p, ident, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::U32(v),
                ..
            },
        ) => {
            put(value, *v);
            found(n)
        }
        _ => std::ptr::null(),
    }
}

pub extern "C" fn mosquitto_property_read_varint(
    p: *const Property,
    ident: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    match find(p, ident, skip_first) {
        Some(
            n @ Property {
                value: PropertyValue::Varint(v),
                ..
            },
        ) => {
            put(value, *v);
            found(n)
        }
        _ => std::ptr::null(),
    }
}

/// As mosquitto: `value` and `len` both given or both null.
pub extern "C" fn mosquitto_property_read_binary(
    p: *const Property,
    ident: c_int,
    value: *mut *mut c_void,
    len: *mut u16,
    skip_first: bool,
) -> *const Property {
    if value.is_null() != len.is_null() {
        return std::ptr::null();
    }
    let Some(
        n @ Property {
            value: PropertyValue::Binary(b),
            ..
        },
    ) = find(p, ident, skip_first)
    else {
        return std::ptr::null();
    };
    if !value.is_null() {
        let copy = calloc_copy(b);
        if copy.is_null() {
            return std::ptr::null();
        }
        put(value, copy);
        put(len, u16::try_from(b.len()).unwrap_or(u16::MAX));
    }
    found(n)
}

pub extern "C" fn mosquitto_property_read_string(
    p: *const Property,
    ident: c_int,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    let Some(
        n @ Property {
            value: PropertyValue::String(s),
            ..
        },
    ) = find(p, ident, skip_first)
    else {
        return std::ptr::null();
    };
    if !value.is_null() {
        let copy = calloc_copy(s.as_bytes());
        if copy.is_null() {
            return std::ptr::null();
        }
        put(value, copy.cast());
    }
    found(n)
}

pub extern "C" fn mosquitto_property_read_string_pair(
    p: *const Property,
    ident: c_int,
    name: *mut *mut c_char,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    let Some(
        n @ Property {
            value: PropertyValue::Pair(k, v),
            ..
        },
    ) = find(p, ident, skip_first)
    else {
        return std::ptr::null();
    };
    let k_copy = if name.is_null() {
        std::ptr::null_mut()
    } else {
        calloc_copy(k.as_bytes())
    };
    let v_copy = if value.is_null() {
        std::ptr::null_mut()
    } else {
        calloc_copy(v.as_bytes())
    };
    if (!name.is_null() && k_copy.is_null()) || (!value.is_null() && v_copy.is_null()) {
        // SAFETY: each is null or from calloc above, and not handed out.
        unsafe {
            libc::free(k_copy);
            libc::free(v_copy);
        }
        return std::ptr::null();
    }
    put(name, k_copy.cast());
    put(value, v_copy.cast());
    found(n)
}

pub extern "C" fn mosquitto_property_copy_all(
    dest: *mut *mut Property,
    src: *const Property,
) -> c_int {
    if dest.is_null() {
        return ffi::MOSQ_ERR_INVAL;
    }
    put(dest, to_list(&from_list(src).0));
    ffi::MOSQ_ERR_SUCCESS
}

pub extern "C" fn mosquitto_property_identifier_to_string(ident: c_int) -> *const c_char {
    TABLE
        .iter()
        .find(|(_, i, _)| c_int::from(*i) == ident)
        .map_or(std::ptr::null(), |(name, _, _)| name.as_ptr().cast())
}

/// Names compare without case, as mosquitto's `strcasecmp`.
pub extern "C" fn mosquitto_string_to_property_info(
    name: *const c_char,
    ident: *mut c_int,
    ty: *mut c_int,
) -> c_int {
    if name.is_null() || ident.is_null() || ty.is_null() {
        return ffi::MOSQ_ERR_INVAL;
    }
    // SAFETY: non-null; plugins pass NUL-terminated strings.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes_with_nul();
    match TABLE.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
        Some((_, i, t)) => {
            put(ident, c_int::from(*i));
            put(ty, *t);
            ffi::MOSQ_ERR_SUCCESS
        }
        None => {
            put(ident, 0);
            ffi::MOSQ_ERR_INVAL
        }
    }
}

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
fn sample(ident: u8) -> Option<PropertyValue> {
    let (_, _, ty) = TABLE.iter().find(|(_, i, _)| *i == ident)?;
    Some(match *ty {
        TYPE_BYTE => PropertyValue::Byte(0),
        TYPE_INT16 => PropertyValue::U16(1),
        TYPE_INT32 => PropertyValue::U32(1),
        TYPE_VARINT => PropertyValue::Varint(1),
        TYPE_BINARY => PropertyValue::Binary(Vec::new()),
        TYPE_STRING => PropertyValue::String("a".into()),
        _ => PropertyValue::Pair(String::new(), String::new()),
    })
}

pub extern "C" fn mosquitto_property_check_command(command: c_int, ident: c_int) -> c_int {
    let Some(ctx) = context_of(command) else {
        return MOSQ_ERR_PROTOCOL;
    };
    let Some((ident, value)) = u8::try_from(ident).ok().and_then(|i| Some((i, sample(i)?))) else {
        return MOSQ_ERR_PROTOCOL;
    };
    let mut props = Properties::default();
    // Authentication data is only valid beside a method.
    if ident == id::AUTHENTICATION_DATA {
        props
            .0
            .push((id::AUTHENTICATION_METHOD, PropertyValue::String("a".into())));
    }
    props.0.push((ident, value));
    match props.check(ctx) {
        Ok(()) => ffi::MOSQ_ERR_SUCCESS,
        Err(_) => MOSQ_ERR_PROTOCOL,
    }
}

pub extern "C" fn mosquitto_property_check_all(command: c_int, p: *const Property) -> c_int {
    let Some(ctx) = context_of(command) else {
        return MOSQ_ERR_PROTOCOL;
    };
    match from_list(p).check(ctx) {
        Ok(()) => ffi::MOSQ_ERR_SUCCESS,
        Err(DecodeError::DuplicateProperty(_)) => MOSQ_ERR_DUPLICATE_PROPERTY,
        Err(_) => MOSQ_ERR_PROTOCOL,
    }
}

#[cfg(test)]
mod tests {
    use super::super::props::{mosquitto_property_add_int32, take_list};
    use super::*;

    fn free(p: *mut c_void) {
        // SAFETY: from calloc in this module.
        unsafe { libc::free(p) }
    }

    #[test]
    fn lists_are_walked_read_copied_and_checked() {
        let props = [
            (
                id::USER_PROPERTY,
                PropertyValue::Pair("a".into(), "1".into()),
            ),
            (id::CORRELATION_DATA, PropertyValue::Binary(b"cd".to_vec())),
            (
                id::USER_PROPERTY,
                PropertyValue::Pair("b".into(), "2".into()),
            ),
            (id::PAYLOAD_FORMAT_INDICATOR, PropertyValue::Byte(1)),
        ];
        let list = to_list(&props);
        let user = c_int::from(id::USER_PROPERTY);
        // Walking.
        let mut ids = Vec::new();
        let mut p: *const Property = list;
        while !p.is_null() {
            ids.push(mosquitto_property_identifier(p));
            p = mosquitto_property_next(p);
        }
        assert_eq!(ids, [38, 9, 38, 1]);
        assert_eq!(mosquitto_property_identifier(std::ptr::null()), 0);
        // Repeated user properties, one after the other.
        let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
        let first = mosquitto_property_read_string_pair(list, user, &mut k, &mut v, false);
        assert!(!first.is_null());
        // SAFETY: NUL-terminated copies made by the call.
        let got = unsafe { (CStr::from_ptr(k), CStr::from_ptr(v)) };
        assert_eq!((got.0.to_bytes(), got.1.to_bytes()), (&b"a"[..], &b"1"[..]));
        free(k.cast());
        free(v.cast());
        let second =
            mosquitto_property_read_string_pair(first, user, &mut k, std::ptr::null_mut(), true);
        assert!(!second.is_null());
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(k) }.to_bytes(), b"b");
        free(k.cast());
        let none = std::ptr::null_mut();
        assert!(mosquitto_property_read_string_pair(second, user, none, none, true).is_null());
        // Binary, byte; wrong types and absent identifiers give null.
        let (mut b, mut len) = (std::ptr::null_mut(), 0u16);
        let cd = c_int::from(id::CORRELATION_DATA);
        assert!(!mosquitto_property_read_binary(list, cd, &mut b, &mut len, false).is_null());
        // SAFETY: len bytes from the call.
        assert_eq!(
            unsafe { std::slice::from_raw_parts(b.cast::<u8>(), 2) },
            b"cd"
        );
        assert_eq!(len, 2);
        free(b);
        assert!(
            mosquitto_property_read_binary(list, cd, &mut b, std::ptr::null_mut(), false).is_null()
        );
        let mut byte = 7u8;
        assert!(!mosquitto_property_read_byte(list, 1, &mut byte, false).is_null());
        assert_eq!(byte, 1);
        assert!(mosquitto_property_read_int16(list, 1, std::ptr::null_mut(), false).is_null());
        assert!(mosquitto_property_read_byte(std::ptr::null(), 1, &mut byte, false).is_null());
        let mut s = std::ptr::null_mut();
        assert!(mosquitto_property_read_string(list, 3, &mut s, false).is_null());
        assert!(s.is_null());
        // Copy, then checks against a command's rules.
        let mut copy = std::ptr::null_mut();
        assert_eq!(mosquitto_property_copy_all(&mut copy, list), 0);
        assert_eq!(mosquitto_property_check_all(0x30, copy), 0);
        assert_eq!(mosquitto_property_add_int32(&mut copy, 17, 5), 0);
        assert_eq!(mosquitto_property_check_all(0x30, copy), MOSQ_ERR_PROTOCOL);
        assert_eq!(take_list(copy).0.len(), 5);
        assert_eq!(take_list(list).0, props);
        let mut dup = to_list(&[(1, PropertyValue::Byte(0)), (1, PropertyValue::Byte(1))]);
        assert_eq!(
            mosquitto_property_check_all(0x30, dup),
            MOSQ_ERR_DUPLICATE_PROPERTY
        );
        drop(take_list(std::mem::replace(&mut dup, std::ptr::null_mut())));
        assert_eq!(mosquitto_property_check_command(0x30, 38), 0);
        assert_eq!(mosquitto_property_check_command(0x10, 22), 0);
        assert_eq!(
            mosquitto_property_check_command(0x30, 17),
            MOSQ_ERR_PROTOCOL
        );
        assert_eq!(mosquitto_property_check_command(CMD_WILL, 24), 0);
        assert_eq!(
            mosquitto_property_check_command(0x30, 99),
            MOSQ_ERR_PROTOCOL
        );
    }

    #[test]
    fn names_and_types() {
        for (name, ident, ty) in TABLE {
            let s = mosquitto_property_identifier_to_string(c_int::from(*ident));
            // SAFETY: a static C string from the table.
            assert_eq!(unsafe { CStr::from_ptr(s) }.to_bytes_with_nul(), *name);
            let (mut i, mut t) = (0, 0);
            assert_eq!(mosquitto_string_to_property_info(s, &mut i, &mut t), 0);
            assert_eq!((i, t), (c_int::from(*ident), *ty));
        }
        assert!(mosquitto_property_identifier_to_string(0).is_null());
        let upper = c"Content-Type";
        let (mut i, mut t) = (0, 0);
        assert_eq!(
            mosquitto_string_to_property_info(upper.as_ptr(), &mut i, &mut t),
            0
        );
        assert_eq!(i, 3);
        let nope = c"nope";
        let rc = mosquitto_string_to_property_info(nope.as_ptr(), &mut i, &mut t);
        assert_eq!(rc, ffi::MOSQ_ERR_INVAL);
    }
}
