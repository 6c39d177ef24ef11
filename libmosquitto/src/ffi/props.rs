//! The `mosquitto_property_*` API, exported under libmosquitto's symbol
//! versions. The lists and every function on them are the library's shared
//! `capi::properties` (the broker's plugin API exports the same code); each
//! export here only forwards, since `export!` needs a function of this
//! crate.

use std::ffi::{c_char, c_int, c_void};

use mosquitto_rs::capi::properties as shared;
use mosquitto_rs::protocol::Properties;

use super::export;
use crate::consts::{DUPLICATE_PROPERTY, INVAL, MALFORMED_UTF8, PROTOCOL, SUCCESS};

pub use shared::{check_all, free_list, from_list, Property};

// The shared code returns mosquitto's codes; this crate's must agree.
const _: () = assert!(
    SUCCESS == mosquitto_rs::capi::MOSQ_ERR_SUCCESS
        && PROTOCOL == mosquitto_rs::capi::MOSQ_ERR_PROTOCOL
        && INVAL == mosquitto_rs::capi::MOSQ_ERR_INVAL
        && MALFORMED_UTF8 == mosquitto_rs::capi::MOSQ_ERR_MALFORMED_UTF8
        && DUPLICATE_PROPERTY == mosquitto_rs::capi::MOSQ_ERR_DUPLICATE_PROPERTY
);

/// A list for C from `props` (null when empty); free with `free_list`.
pub fn to_list(props: &Properties) -> *mut Property {
    shared::to_list(&props.0)
}

pub(super) unsafe extern "C" fn mosquitto_property_add_byte(
    l: *mut *mut Property,
    id: c_int,
    v: u8,
) -> c_int {
    shared::mosquitto_property_add_byte(l, id, v)
}
export!(mosquitto_property_add_byte, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_int16(
    l: *mut *mut Property,
    id: c_int,
    v: u16,
) -> c_int {
    shared::mosquitto_property_add_int16(l, id, v)
}
export!(mosquitto_property_add_int16, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_int32(
    l: *mut *mut Property,
    id: c_int,
    v: u32,
) -> c_int {
    shared::mosquitto_property_add_int32(l, id, v)
}
export!(mosquitto_property_add_int32, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_varint(
    l: *mut *mut Property,
    id: c_int,
    v: u32,
) -> c_int {
    shared::mosquitto_property_add_varint(l, id, v)
}
export!(mosquitto_property_add_varint, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_binary(
    l: *mut *mut Property,
    id: c_int,
    v: *const c_void,
    len: u16,
) -> c_int {
    shared::mosquitto_property_add_binary(l, id, v, len)
}
export!(mosquitto_property_add_binary, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_string(
    l: *mut *mut Property,
    id: c_int,
    v: *const c_char,
) -> c_int {
    shared::mosquitto_property_add_string(l, id, v)
}
export!(mosquitto_property_add_string, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_add_string_pair(
    l: *mut *mut Property,
    id: c_int,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    shared::mosquitto_property_add_string_pair(l, id, name, value)
}
export!(mosquitto_property_add_string_pair, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_byte(
    p: *const Property,
    id: c_int,
    value: *mut u8,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_byte(p, id, value, skip_first)
}
export!(mosquitto_property_read_byte, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_int16(
    p: *const Property,
    id: c_int,
    value: *mut u16,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_int16(p, id, value, skip_first)
}
export!(mosquitto_property_read_int16, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_int32(
    p: *const Property,
    id: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_int32(p, id, value, skip_first)
}
export!(mosquitto_property_read_int32, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_varint(
    p: *const Property,
    id: c_int,
    value: *mut u32,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_varint(p, id, value, skip_first)
}
export!(mosquitto_property_read_varint, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_binary(
    p: *const Property,
    id: c_int,
    value: *mut *mut c_void,
    len: *mut u16,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_binary(p, id, value, len, skip_first)
}
export!(mosquitto_property_read_binary, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_string(
    p: *const Property,
    id: c_int,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_string(p, id, value, skip_first)
}
export!(mosquitto_property_read_string, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_read_string_pair(
    p: *const Property,
    id: c_int,
    name: *mut *mut c_char,
    value: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    shared::mosquitto_property_read_string_pair(p, id, name, value, skip_first)
}
export!(mosquitto_property_read_string_pair, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_free_all(list: *mut *mut Property) {
    shared::mosquitto_property_free_all(list)
}
export!(mosquitto_property_free_all, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_copy_all(
    dest: *mut *mut Property,
    src: *const Property,
) -> c_int {
    shared::mosquitto_property_copy_all(dest, src)
}
export!(mosquitto_property_copy_all, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_identifier(p: *const Property) -> c_int {
    shared::mosquitto_property_identifier(p)
}
export!(mosquitto_property_identifier, "MOSQ_1.7");

pub(super) unsafe extern "C" fn mosquitto_property_next(p: *const Property) -> *const Property {
    shared::mosquitto_property_next(p)
}
export!(mosquitto_property_next, "MOSQ_1.7");

pub(super) extern "C" fn mosquitto_property_identifier_to_string(id: c_int) -> *const c_char {
    shared::mosquitto_property_identifier_to_string(id)
}
export!(mosquitto_property_identifier_to_string, "MOSQ_1.7");

pub(super) unsafe extern "C" fn mosquitto_string_to_property_info(
    name: *const c_char,
    id: *mut c_int,
    ty: *mut c_int,
) -> c_int {
    shared::mosquitto_string_to_property_info(name, id, ty)
}
export!(mosquitto_string_to_property_info, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_string_to_command(
    s: *const c_char,
    cmd: *mut c_int,
) -> c_int {
    shared::mosquitto_string_to_command(s, cmd)
}
export!(mosquitto_string_to_command, "MOSQ_1.6");

pub(super) extern "C" fn mosquitto_property_check_command(command: c_int, id: c_int) -> c_int {
    shared::mosquitto_property_check_command(command, id)
}
export!(mosquitto_property_check_command, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_property_check_all(
    command: c_int,
    p: *const Property,
) -> c_int {
    shared::mosquitto_property_check_all(command, p)
}
export!(mosquitto_property_check_all, "MOSQ_1.6");
