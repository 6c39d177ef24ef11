//! `mosquitto_property` lists: what plugins build with
//! `mosquitto_property_add_*` and free with `mosquitto_property_free_all`,
//! what the message event hands them (the message's properties, which they
//! may add to), and what `mosquitto_broker_publish` takes along with a
//! message. The node layout is ours: mosquitto's public headers keep the
//! type opaque. Reading, copying and checking lists is in `props_read`.

// C entry points, checked here (see `api`).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, c_int, c_void, CStr};

use super::ffi;
use crate::protocol::properties::id;
use crate::protocol::{Properties, PropertyValue};

/// What `mosquitto_property *` points to here: one node of a singly linked
/// list, made by `Box` and freed by `mosquitto_property_free_all` (or by
/// the broker when a list is handed over).
pub struct Property {
    pub(super) next: *mut Property,
    pub(super) id: u8,
    pub(super) value: PropertyValue,
}

/// The value type an identifier takes, as mosquitto's `add_*` check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Byte,
    Int16,
    Int32,
    Varint,
    Binary,
    String,
    Pair,
}

fn type_of(ident: c_int) -> Option<Type> {
    Some(match u8::try_from(ident).ok()? {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::REQUEST_PROBLEM_INFORMATION
        | id::REQUEST_RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => Type::Byte,
        id::SERVER_KEEP_ALIVE | id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::TOPIC_ALIAS => {
            Type::Int16
        }
        id::MESSAGE_EXPIRY_INTERVAL
        | id::SESSION_EXPIRY_INTERVAL
        | id::WILL_DELAY_INTERVAL
        | id::MAXIMUM_PACKET_SIZE => Type::Int32,
        id::SUBSCRIPTION_IDENTIFIER => Type::Varint,
        id::CORRELATION_DATA | id::AUTHENTICATION_DATA => Type::Binary,
        id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::ASSIGNED_CLIENT_IDENTIFIER
        | id::AUTHENTICATION_METHOD
        | id::RESPONSE_INFORMATION
        | id::SERVER_REFERENCE
        | id::REASON_STRING => Type::String,
        id::USER_PROPERTY => Type::Pair,
        _ => return None,
    })
}

/// The properties a message carries from publisher to subscribers (those
/// mosquitto keeps on a stored message).
pub(super) fn travels(ident: u8) -> bool {
    matches!(
        ident,
        id::PAYLOAD_FORMAT_INDICATOR
            | id::CONTENT_TYPE
            | id::RESPONSE_TOPIC
            | id::CORRELATION_DATA
            | id::USER_PROPERTY
    )
}

/// Appends a node at the tail (mosquitto keeps the order of addition)
/// once the identifier is known to take `want`'s type.
fn append(list: *mut *mut Property, ident: c_int, want: Type, value: PropertyValue) -> c_int {
    if list.is_null() || type_of(ident) != Some(want) {
        crate::error!("Error: a plugin added property {ident} with the wrong type; refused.");
        return ffi::MOSQ_ERR_INVAL;
    }
    let node = Box::into_raw(Box::new(Property {
        next: std::ptr::null_mut(),
        id: ident as u8,
        value,
    }));
    let mut slot = list;
    // SAFETY: `list` points to the plugin's list head; every node of the
    // list was made here by Box::into_raw, so each `next` is valid or null.
    unsafe {
        while !(*slot).is_null() {
            slot = &mut (**slot).next;
        }
        *slot = node;
    }
    ffi::MOSQ_ERR_SUCCESS
}

/// A plugin's string argument: None (with mosquitto's code) for null,
/// too long or not valid MQTT UTF-8.
fn string_arg(p: *const c_char) -> Result<String, c_int> {
    if p.is_null() {
        return Err(ffi::MOSQ_ERR_INVAL);
    }
    // SAFETY: non-null; plugins pass NUL-terminated strings.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.len() > 65535 {
        return Err(ffi::MOSQ_ERR_INVAL);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) if crate::protocol::valid_mqtt_string(s) => Ok(s.to_string()),
        _ => Err(ffi::MOSQ_ERR_MALFORMED_UTF8),
    }
}

/// A list holding `props` in order, for a plugin (null when empty).
pub(super) fn to_list(props: &[(u8, PropertyValue)]) -> *mut Property {
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

/// A copy of the properties of `list`, in order; the list stays.
pub(super) fn from_list(mut p: *const Property) -> Properties {
    let mut out = Properties::default();
    // SAFETY: null or a list made here (the type is opaque to plugins).
    while let Some(node) = unsafe { p.as_ref() } {
        out.0.push((node.id, node.value.clone()));
        p = node.next;
    }
    out
}

/// The properties of `list`, in order; the list is freed.
pub(super) fn take_list(list: *mut Property) -> Properties {
    let mut out = Properties::default();
    let mut p = list;
    while !p.is_null() {
        // SAFETY: nodes are made by Box::into_raw here, each freed once:
        // the caller owns the list and no longer uses it.
        let node = unsafe { Box::from_raw(p) };
        p = node.next;
        out.0.push((node.id, node.value));
    }
    out
}

pub extern "C" fn mosquitto_property_free_all(list: *mut *mut Property) {
    if list.is_null() {
        return;
    }
    // SAFETY: the plugin's list head; the list is ours to free.
    drop(take_list(unsafe { *list }));
    // SAFETY: as above.
    unsafe { *list = std::ptr::null_mut() };
}

pub extern "C" fn mosquitto_property_add_byte(l: *mut *mut Property, ident: c_int, v: u8) -> c_int {
    append(l, ident, Type::Byte, PropertyValue::Byte(v))
}

pub extern "C" fn mosquitto_property_add_int16(
    l: *mut *mut Property,
    ident: c_int,
    v: u16,
) -> c_int {
    append(l, ident, Type::Int16, PropertyValue::U16(v))
}

pub extern "C" fn mosquitto_property_add_int32(
    l: *mut *mut Property,
    ident: c_int,
    v: u32,
) -> c_int {
    append(l, ident, Type::Int32, PropertyValue::U32(v))
}

pub extern "C" fn mosquitto_property_add_varint(
    l: *mut *mut Property,
    ident: c_int,
    v: u32,
) -> c_int {
    if v > 268_435_455 {
        return ffi::MOSQ_ERR_INVAL;
    }
    append(l, ident, Type::Varint, PropertyValue::Varint(v))
}

pub extern "C" fn mosquitto_property_add_binary(
    l: *mut *mut Property,
    ident: c_int,
    v: *const c_void,
    len: u16,
) -> c_int {
    let bytes = match (v.is_null(), len) {
        (_, 0) => Vec::new(),
        (true, _) => return ffi::MOSQ_ERR_INVAL,
        // SAFETY: non-null and, by the API's contract, `len` bytes.
        (false, n) => {
            unsafe { std::slice::from_raw_parts(v.cast::<u8>(), usize::from(n)) }.to_vec()
        }
    };
    append(l, ident, Type::Binary, PropertyValue::Binary(bytes))
}

pub extern "C" fn mosquitto_property_add_string(
    l: *mut *mut Property,
    ident: c_int,
    v: *const c_char,
) -> c_int {
    match string_arg(v) {
        Ok(s) => append(l, ident, Type::String, PropertyValue::String(s)),
        Err(rc) => rc,
    }
}

pub extern "C" fn mosquitto_property_add_string_pair(
    l: *mut *mut Property,
    ident: c_int,
    n: *const c_char,
    v: *const c_char,
) -> c_int {
    match (string_arg(n), string_arg(v)) {
        (Ok(n), Ok(v)) => append(l, ident, Type::Pair, PropertyValue::Pair(n, v)),
        (Err(rc), _) | (_, Err(rc)) => rc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn properties_are_checked_kept_in_order_and_freed() {
        let mut list: *mut Property = std::ptr::null_mut();
        let l: *mut *mut Property = &mut list;
        let (k, v) = (CString::new("k").unwrap(), CString::new("v").unwrap());
        let ct = CString::new("text/plain").unwrap();
        let user = id::USER_PROPERTY as c_int;
        assert_eq!(
            mosquitto_property_add_string_pair(l, user, k.as_ptr(), v.as_ptr()),
            0
        );
        let content = id::CONTENT_TYPE as c_int;
        assert_eq!(mosquitto_property_add_string(l, content, ct.as_ptr()), 0);
        let pfi = id::PAYLOAD_FORMAT_INDICATOR as c_int;
        assert_eq!(mosquitto_property_add_byte(l, pfi, 1), 0);
        // Wrong types, bad values, null lists: refused, nothing added.
        let inval = ffi::MOSQ_ERR_INVAL;
        assert_eq!(mosquitto_property_add_byte(l, content, 1), inval);
        assert_eq!(mosquitto_property_add_int16(l, 0x7F, 1), inval);
        assert_eq!(
            mosquitto_property_add_string(l, content, std::ptr::null()),
            inval
        );
        let sub_id = id::SUBSCRIPTION_IDENTIFIER as c_int;
        assert_eq!(mosquitto_property_add_varint(l, sub_id, 1 << 28), inval);
        let cd = id::CORRELATION_DATA as c_int;
        assert_eq!(
            mosquitto_property_add_binary(l, cd, std::ptr::null(), 3),
            inval
        );
        let bad = CString::new(vec![0xC0u8, 0x80]).unwrap();
        assert_eq!(
            mosquitto_property_add_string(l, content, bad.as_ptr()),
            ffi::MOSQ_ERR_MALFORMED_UTF8
        );
        assert_eq!(
            mosquitto_property_add_byte(std::ptr::null_mut(), pfi, 1),
            inval
        );
        let got = take_list(list);
        assert_eq!(
            got.0,
            [
                (
                    id::USER_PROPERTY,
                    PropertyValue::Pair("k".into(), "v".into())
                ),
                (id::CONTENT_TYPE, PropertyValue::String("text/plain".into())),
                (id::PAYLOAD_FORMAT_INDICATOR, PropertyValue::Byte(1)),
            ]
        );
        // Round trip through a list, then freed by the plugin's call.
        let mut again = to_list(&got.0);
        assert_eq!(take_list(to_list(&got.0)), got);
        mosquitto_property_free_all(&mut again);
        assert!(again.is_null());
        assert!(to_list(&[]).is_null());
    }
}
