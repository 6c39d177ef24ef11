use std::ffi::{c_int, c_void, CStr, CString};

use super::*;
use crate::protocol::properties::id;

fn free(p: *mut c_void) {
    // SAFETY: from calloc in this module.
    unsafe { libc::free(p) }
}

#[test]
fn properties_are_checked_kept_in_order_and_freed() {
    let mut list: *mut Property = std::ptr::null_mut();
    let l: *mut *mut Property = &mut list;
    let (k, v) = (CString::new("k").unwrap(), CString::new("v").unwrap());
    let ct = CString::new("text/plain").unwrap();
    let user = c_int::from(id::USER_PROPERTY);
    let pair = mosquitto_property_add_string_pair;
    assert_eq!(pair(l, user, k.as_ptr(), v.as_ptr()), 0);
    let content = c_int::from(id::CONTENT_TYPE);
    assert_eq!(mosquitto_property_add_string(l, content, ct.as_ptr()), 0);
    let pfi = c_int::from(id::PAYLOAD_FORMAT_INDICATOR);
    assert_eq!(mosquitto_property_add_byte(l, pfi, 1), 0);
    // A null string is the empty one, as in mosquitto.
    let rt = c_int::from(id::RESPONSE_TOPIC);
    assert_eq!(mosquitto_property_add_string(l, rt, std::ptr::null()), 0);
    // Wrong types, bad values, null lists: refused, nothing added.
    let inval = MOSQ_ERR_INVAL;
    assert_eq!(mosquitto_property_add_byte(l, content, 1), inval);
    assert_eq!(mosquitto_property_add_int16(l, 0x7F, 1), inval);
    assert_eq!(mosquitto_property_add_int32(l, -1, 1), inval);
    let sub_id = c_int::from(id::SUBSCRIPTION_IDENTIFIER);
    assert_eq!(mosquitto_property_add_varint(l, sub_id, 1 << 28), inval);
    let cd = c_int::from(id::CORRELATION_DATA);
    let null = std::ptr::null();
    assert_eq!(mosquitto_property_add_binary(l, cd, null, 3), inval);
    let bad = CString::new(vec![0xC0u8, 0x80]).unwrap();
    let malformed = MOSQ_ERR_MALFORMED_UTF8;
    assert_eq!(
        mosquitto_property_add_string(l, content, bad.as_ptr()),
        malformed
    );
    assert_eq!(pair(l, user, k.as_ptr(), bad.as_ptr()), malformed);
    assert_eq!(pair(l, content, k.as_ptr(), bad.as_ptr()), inval);
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
            (id::RESPONSE_TOPIC, PropertyValue::String(String::new())),
        ]
    );
    // Round trip through a list, then freed by the C call.
    let mut again = to_list(&got.0);
    assert_eq!(from_list(again), got);
    mosquitto_property_free_all(&mut again);
    assert!(again.is_null());
    assert!(to_list(&[]).is_null());
}

#[test]
fn lists_are_walked_and_read() {
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
    let none = std::ptr::null_mut();
    let second = mosquitto_property_read_string_pair(first, user, &mut k, none, true);
    assert!(!second.is_null());
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(k) }.to_bytes(), b"b");
    free(k.cast());
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
    let no_len = std::ptr::null_mut();
    assert!(mosquitto_property_read_binary(list, cd, &mut b, no_len, false).is_null());
    let mut byte = 7u8;
    assert!(!mosquitto_property_read_byte(list, 1, &mut byte, false).is_null());
    assert_eq!(byte, 1);
    assert!(mosquitto_property_read_int16(list, 1, std::ptr::null_mut(), false).is_null());
    assert!(mosquitto_property_read_byte(std::ptr::null(), 1, &mut byte, false).is_null());
    let mut s = std::ptr::null_mut();
    assert!(mosquitto_property_read_string(list, 3, &mut s, false).is_null());
    assert!(s.is_null());
    assert_eq!(take_list(list).0, props);
}

#[test]
fn lists_are_copied_and_checked() {
    let list = to_list(&[(
        id::USER_PROPERTY,
        PropertyValue::Pair("a".into(), "1".into()),
    )]);
    let mut copy = std::ptr::null_mut();
    assert_eq!(mosquitto_property_copy_all(&mut copy, list), 0);
    assert_eq!(
        mosquitto_property_copy_all(std::ptr::null_mut(), list),
        MOSQ_ERR_INVAL
    );
    assert_eq!(
        mosquitto_property_copy_all(std::ptr::null_mut(), std::ptr::null()),
        0
    );
    assert_eq!(mosquitto_property_check_all(0x30, copy), 0);
    assert_eq!(mosquitto_property_add_int32(&mut copy, 17, 5), 0);
    let protocol = crate::capi::MOSQ_ERR_PROTOCOL;
    assert_eq!(mosquitto_property_check_all(0x30, copy), protocol);
    assert_eq!(take_list(copy).0.len(), 2);
    free_list(list);
    let dup = to_list(&[(1, PropertyValue::Byte(0)), (1, PropertyValue::Byte(1))]);
    let duplicate = crate::capi::MOSQ_ERR_DUPLICATE_PROPERTY;
    assert_eq!(mosquitto_property_check_all(0x30, dup), duplicate);
    free_list(dup);
    assert_eq!(mosquitto_property_check_command(0x30, 38), 0);
    assert_eq!(mosquitto_property_check_command(0x10, 22), 0);
    assert_eq!(mosquitto_property_check_command(0x30, 17), protocol);
    assert_eq!(mosquitto_property_check_command(CMD_WILL, 24), 0);
    assert_eq!(mosquitto_property_check_command(0x30, 99), protocol);
    // Commands mosquitto does not know (0x62 is not its PUBREL, 0x60).
    assert_eq!(mosquitto_property_check_command(0x62, 38), 0);
    assert_eq!(mosquitto_property_check_command(0x62, 31), 0);
    assert_eq!(mosquitto_property_check_command(0x62, 1), protocol);
    assert_eq!(mosquitto_property_check_all(0x62, std::ptr::null()), 0);
    let reasons = [(id::REASON_STRING, PropertyValue::String("r".into()))];
    let two = to_list(&[reasons[0].clone(), reasons[0].clone()]);
    assert_eq!(mosquitto_property_check_all(0x62, two), duplicate);
    let one = to_list(&reasons);
    assert_eq!(mosquitto_property_check_all(0x62, one), 0);
    assert_eq!(mosquitto_property_check_all(0x30, one), protocol);
    free_list(two);
    free_list(one);
}

#[test]
fn names_types_and_commands() {
    for (name, ident, ty) in TABLE {
        let s = mosquitto_property_identifier_to_string(c_int::from(*ident));
        // SAFETY: a static C string from the table.
        assert_eq!(unsafe { CStr::from_ptr(s) }, *name);
        let (mut i, mut t) = (0, 0);
        assert_eq!(mosquitto_string_to_property_info(s, &mut i, &mut t), 0);
        assert_eq!((i, t), (c_int::from(*ident), *ty));
    }
    assert!(mosquitto_property_identifier_to_string(0).is_null());
    let (mut i, mut t) = (0, 0);
    let upper = c"Content-Type".as_ptr();
    assert_eq!(mosquitto_string_to_property_info(upper, &mut i, &mut t), 0);
    assert_eq!(i, 3);
    let nope = c"nope".as_ptr();
    assert_eq!(
        mosquitto_string_to_property_info(nope, &mut i, &mut t),
        MOSQ_ERR_INVAL
    );
    assert_eq!(i, 3, "nothing written for an unknown name");
    let mut cmd = -1;
    assert_eq!(mosquitto_string_to_command(c"PubRel".as_ptr(), &mut cmd), 0);
    assert_eq!(cmd, 0x60);
    assert_eq!(mosquitto_string_to_command(nope, &mut cmd), MOSQ_ERR_INVAL);
    assert_eq!(cmd, 0);
}

/// Where libmosquitto's and the plugin API's copies used to differ, the
/// shared code does as mosquitto's `lib/property_mosq.c`.
#[test]
fn strings_and_out_pointers_as_mosquitto() {
    let mut list: *mut Property = std::ptr::null_mut();
    let content = c_int::from(id::CONTENT_TYPE);
    let malformed = MOSQ_ERR_MALFORMED_UTF8;
    // mosquitto_validate_utf8 refuses control characters and strings too
    // long for MQTT (the plugin API's copy said INVAL for those).
    let control = c"a\x01b".as_ptr();
    assert_eq!(
        mosquitto_property_add_string(&mut list, content, control),
        malformed
    );
    let long = CString::new(vec![b'a'; 65536]).unwrap();
    assert_eq!(
        mosquitto_property_add_string(&mut list, content, long.as_ptr()),
        malformed
    );
    assert!(list.is_null());
    // Out-pointers are cleared before the lookup, found or not.
    let list = to_list(&[(id::CONTENT_TYPE, PropertyValue::String("x".into()))]);
    let user = c_int::from(id::USER_PROPERTY);
    let stale = 8usize as *mut std::ffi::c_char;
    let (mut k, mut v) = (stale, stale);
    assert!(mosquitto_property_read_string_pair(list, user, &mut k, &mut v, false).is_null());
    assert!(k.is_null() && v.is_null());
    let (mut b, mut len) = (stale.cast::<c_void>(), 0u16);
    let cd = c_int::from(id::CORRELATION_DATA);
    assert!(mosquitto_property_read_binary(list, cd, &mut b, &mut len, false).is_null());
    assert!(b.is_null());
    free_list(list);
}
