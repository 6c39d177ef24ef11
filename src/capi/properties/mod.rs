//! `mosquitto_property` lists, as libmosquitto's clients and the broker's
//! plugins build, read and free them. The node layout is ours (mosquitto's
//! public headers keep the type opaque); values and the rules on which
//! property may go in which packet are `protocol`'s. Semantics follow
//! mosquitto's `lib/property_mosq.c`. Building and naming is here; reading,
//! copying and checking lists is in `read`.

// C entry points: every pointer a C caller passes is null or, for list
// pointers, a node made here (the type is opaque to C), which is what each
// function relies on after its null checks.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod read;
#[cfg(test)]
mod tests;

use std::ffi::{c_char, c_int, c_void, CStr};

use super::{put, MOSQ_ERR_INVAL, MOSQ_ERR_MALFORMED_UTF8, MOSQ_ERR_SUCCESS};
use crate::protocol::{Properties, PropertyValue};

pub use read::*;

/// What `mosquitto_property *` points to: one node of a singly linked list,
/// made by `Box` and freed by `mosquitto_property_free_all` (or by whoever
/// a list is handed over to, through `take_list`).
pub struct Property {
    next: *mut Property,
    id: u8,
    value: PropertyValue,
}

// mosquitto's MQTT_PROP_TYPE_* values.
pub const TYPE_BYTE: c_int = 1;
pub const TYPE_INT16: c_int = 2;
pub const TYPE_INT32: c_int = 3;
pub const TYPE_VARINT: c_int = 4;
pub const TYPE_BINARY: c_int = 5;
pub const TYPE_STRING: c_int = 6;
pub const TYPE_STRING_PAIR: c_int = 7;

/// Every property: its name as mosquitto spells it (the tools' `-D`), its
/// identifier (the number the spec gives it, as in `protocol`'s `id`) and
/// its value type.
const TABLE: &[(&CStr, u8, c_int)] = &[
    (c"payload-format-indicator", 0x01, TYPE_BYTE),
    (c"message-expiry-interval", 0x02, TYPE_INT32),
    (c"content-type", 0x03, TYPE_STRING),
    (c"response-topic", 0x08, TYPE_STRING),
    (c"correlation-data", 0x09, TYPE_BINARY),
    (c"subscription-identifier", 0x0B, TYPE_VARINT),
    (c"session-expiry-interval", 0x11, TYPE_INT32),
    (c"assigned-client-identifier", 0x12, TYPE_STRING),
    (c"server-keep-alive", 0x13, TYPE_INT16),
    (c"authentication-method", 0x15, TYPE_STRING),
    (c"authentication-data", 0x16, TYPE_BINARY),
    (c"request-problem-information", 0x17, TYPE_BYTE),
    (c"will-delay-interval", 0x18, TYPE_INT32),
    (c"request-response-information", 0x19, TYPE_BYTE),
    (c"response-information", 0x1A, TYPE_STRING),
    (c"server-reference", 0x1C, TYPE_STRING),
    (c"reason-string", 0x1F, TYPE_STRING),
    (c"receive-maximum", 0x21, TYPE_INT16),
    (c"topic-alias-maximum", 0x22, TYPE_INT16),
    (c"topic-alias", 0x23, TYPE_INT16),
    (c"maximum-qos", 0x24, TYPE_BYTE),
    (c"retain-available", 0x25, TYPE_BYTE),
    (c"user-property", 0x26, TYPE_STRING_PAIR),
    (c"maximum-packet-size", 0x27, TYPE_INT32),
    (c"wildcard-subscription-available", 0x28, TYPE_BYTE),
    (c"subscription-identifier-available", 0x29, TYPE_BYTE),
    (c"shared-subscription-available", 0x2A, TYPE_BYTE),
];

fn type_of(ident: c_int) -> Option<c_int> {
    TABLE
        .iter()
        .find(|(_, i, _)| c_int::from(*i) == ident)
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

/// A list holding `props` in order, for C (null when empty); free it with
/// `free_list` or `mosquitto_property_free_all`, or take it back with
/// `take_list`.
pub fn to_list(props: &[(u8, PropertyValue)]) -> *mut Property {
    let mut head: *mut Property = std::ptr::null_mut();
    for (ident, value) in props.iter().rev() {
        head = Box::into_raw(Box::new(Property {
            next: head,
            id: *ident,
            value: value.clone(),
        }));
    }
    head
}

fn node<'a>(p: *const Property) -> Option<&'a Property> {
    // SAFETY: null or a node of a list made here (see the module's note).
    unsafe { p.as_ref() }
}

/// A copy of the properties of `list`, in order; the list stays.
pub fn from_list(mut p: *const Property) -> Properties {
    let mut out = Properties::default();
    while let Some(n) = node(p) {
        out.0.push((n.id, n.value.clone()));
        p = n.next;
    }
    out
}

/// The properties of `list`, in order; the list is freed (the caller owns
/// it and no longer uses it).
pub fn take_list(list: *mut Property) -> Properties {
    let mut out = Properties::default();
    let mut p = list;
    while !p.is_null() {
        // SAFETY: nodes are made by Box::into_raw here, each freed once.
        let n = unsafe { Box::from_raw(p) };
        p = n.next;
        out.0.push((n.id, n.value));
    }
    out
}

/// Frees a list made here.
pub fn free_list(list: *mut Property) {
    drop(take_list(list));
}

/// Appends at the tail (mosquitto keeps the order of addition) once the
/// identifier is known to take `value`'s type.
fn append(list: *mut *mut Property, ident: c_int, value: PropertyValue) -> c_int {
    let Ok(id8) = u8::try_from(ident) else {
        return MOSQ_ERR_INVAL;
    };
    if list.is_null() || type_of(ident) != Some(value_type(&value)) {
        return MOSQ_ERR_INVAL;
    }
    let new = Box::into_raw(Box::new(Property {
        next: std::ptr::null_mut(),
        id: id8,
        value,
    }));
    let mut slot = list;
    // SAFETY: `list` points to the caller's list head; every node of the
    // list was made here, so each `next` is valid or null.
    unsafe {
        while let Some(n) = (*slot).as_mut() {
            slot = &mut n.next;
        }
        *slot = new;
    }
    MOSQ_ERR_SUCCESS
}

/// A string argument: null is the empty string (as mosquitto stores it);
/// anything but valid MQTT UTF-8 of at most 65535 bytes is malformed.
fn string_arg(p: *const c_char) -> Result<String, c_int> {
    if p.is_null() {
        return Ok(String::new());
    }
    // SAFETY: non-null; C callers pass NUL-terminated strings.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) if s.len() <= 65535 && crate::protocol::valid_mqtt_string(s) => Ok(s.to_string()),
        _ => Err(MOSQ_ERR_MALFORMED_UTF8),
    }
}

pub extern "C" fn mosquitto_property_free_all(list: *mut *mut Property) {
    if list.is_null() {
        return;
    }
    // SAFETY: the caller's list head; the list is ours to free.
    free_list(unsafe { *list });
    put(list, std::ptr::null_mut());
}

/// `mosquitto_property_add_<kind>` for a fixed-size number kind.
macro_rules! number_adder {
    ($name:ident, $t:ty, $variant:ident) => {
        pub extern "C" fn $name(l: *mut *mut Property, ident: c_int, v: $t) -> c_int {
            append(l, ident, PropertyValue::$variant(v))
        }
    };
}

number_adder!(mosquitto_property_add_byte, u8, Byte);
number_adder!(mosquitto_property_add_int16, u16, U16);
number_adder!(mosquitto_property_add_int32, u32, U32);

pub extern "C" fn mosquitto_property_add_varint(
    l: *mut *mut Property,
    ident: c_int,
    v: u32,
) -> c_int {
    if v > 268_435_455 {
        return MOSQ_ERR_INVAL;
    }
    append(l, ident, PropertyValue::Varint(v))
}

pub extern "C" fn mosquitto_property_add_binary(
    l: *mut *mut Property,
    ident: c_int,
    v: *const c_void,
    len: u16,
) -> c_int {
    let bytes = match (v.is_null(), len) {
        (_, 0) => Vec::new(),
        (true, _) => return MOSQ_ERR_INVAL,
        // SAFETY: non-null and, by the API's contract, `len` bytes.
        (false, n) => {
            unsafe { std::slice::from_raw_parts(v.cast::<u8>(), usize::from(n)) }.to_vec()
        }
    };
    append(l, ident, PropertyValue::Binary(bytes))
}

/// As mosquitto: the value is checked before the identifier.
pub extern "C" fn mosquitto_property_add_string(
    l: *mut *mut Property,
    ident: c_int,
    v: *const c_char,
) -> c_int {
    if l.is_null() {
        return MOSQ_ERR_INVAL;
    }
    match string_arg(v) {
        Ok(s) => append(l, ident, PropertyValue::String(s)),
        Err(rc) => rc,
    }
}

/// As mosquitto: the identifier is checked before the strings.
pub extern "C" fn mosquitto_property_add_string_pair(
    l: *mut *mut Property,
    ident: c_int,
    n: *const c_char,
    v: *const c_char,
) -> c_int {
    if l.is_null() || type_of(ident) != Some(TYPE_STRING_PAIR) {
        return MOSQ_ERR_INVAL;
    }
    match (string_arg(n), string_arg(v)) {
        (Ok(n), Ok(v)) => append(l, ident, PropertyValue::Pair(n, v)),
        (Err(rc), _) | (_, Err(rc)) => rc,
    }
}

pub extern "C" fn mosquitto_property_identifier_to_string(ident: c_int) -> *const c_char {
    TABLE
        .iter()
        .find(|(_, i, _)| c_int::from(*i) == ident)
        .map_or(std::ptr::null(), |(name, _, _)| name.as_ptr())
}

/// Names compare without case, as mosquitto's `strcasecmp`; nothing is
/// written for an unknown name.
pub extern "C" fn mosquitto_string_to_property_info(
    name: *const c_char,
    ident: *mut c_int,
    ty: *mut c_int,
) -> c_int {
    if name.is_null() {
        return MOSQ_ERR_INVAL;
    }
    // SAFETY: non-null; C callers pass NUL-terminated strings.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    match TABLE
        .iter()
        .find(|(n, _, _)| n.to_bytes().eq_ignore_ascii_case(name))
    {
        Some((_, i, t)) => {
            put(ident, c_int::from(*i));
            put(ty, *t);
            MOSQ_ERR_SUCCESS
        }
        None => MOSQ_ERR_INVAL,
    }
}
