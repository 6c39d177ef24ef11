//! The plugin API that plugins loaded with dlopen look up by name. Compiled
//! into the `mosquitto` binary only (build.rs exports these names with
//! `--dynamic-list`): in the library they would also be exported by every
//! cdylib that depends on it, and libmosquitto.so.1 defines some of the same
//! names (`mosquitto_validate_utf8`, the topic checks) for client programs.
//! Each one forwards to its implementation in `broker::plugin::api`.

use std::ffi::{c_char, c_int, c_void};

use mosquitto_rs::broker::plugin::api::{self, Property};
use mosquitto_rs::broker::plugin::ffi::GenericCallback;
use mosquitto_rs::broker::plugin::PluginId;

#[no_mangle]
pub extern "C" fn mosquitto_rs_plugin_log(level: c_int, line: *const c_char) {
    api::mosquitto_rs_plugin_log(level, line)
}

#[no_mangle]
pub extern "C" fn mosquitto_callback_register(
    identifier: *mut PluginId,
    event: c_int,
    cb_func: Option<GenericCallback>,
    event_data: *const c_void,
    userdata: *mut c_void,
) -> c_int {
    api::mosquitto_callback_register(identifier, event, cb_func, event_data, userdata)
}

#[no_mangle]
pub extern "C" fn mosquitto_callback_unregister(
    identifier: *mut PluginId,
    event: c_int,
    cb_func: Option<GenericCallback>,
    event_data: *const c_void,
) -> c_int {
    api::mosquitto_callback_unregister(identifier, event, cb_func, event_data)
}

#[no_mangle]
pub extern "C" fn mosquitto_calloc(nmemb: usize, size: usize) -> *mut c_void {
    api::mosquitto_calloc(nmemb, size)
}

#[no_mangle]
pub extern "C" fn mosquitto_malloc(size: usize) -> *mut c_void {
    api::mosquitto_malloc(size)
}

#[no_mangle]
pub extern "C" fn mosquitto_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    api::mosquitto_realloc(ptr, size)
}

#[no_mangle]
pub extern "C" fn mosquitto_free(mem: *mut c_void) {
    api::mosquitto_free(mem)
}

#[no_mangle]
pub extern "C" fn mosquitto_strdup(s: *const c_char) -> *mut c_char {
    api::mosquitto_strdup(s)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_address(c: *const c_void) -> *const c_char {
    api::mosquitto_client_address(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_clean_session(c: *const c_void) -> bool {
    api::mosquitto_client_clean_session(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_id(c: *const c_void) -> *const c_char {
    api::mosquitto_client_id(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_keepalive(c: *const c_void) -> c_int {
    api::mosquitto_client_keepalive(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_certificate(_c: *const c_void) -> *mut c_void {
    api::mosquitto_client_certificate(_c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_protocol(c: *const c_void) -> c_int {
    api::mosquitto_client_protocol(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_protocol_version(c: *const c_void) -> c_int {
    api::mosquitto_client_protocol_version(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_sub_count(_c: *const c_void) -> c_int {
    api::mosquitto_client_sub_count(_c)
}

#[no_mangle]
pub extern "C" fn mosquitto_client_username(c: *const c_void) -> *const c_char {
    api::mosquitto_client_username(c)
}

#[no_mangle]
pub extern "C" fn mosquitto_set_username(c: *mut c_void, username: *const c_char) -> c_int {
    api::mosquitto_set_username(c, username)
}

#[no_mangle]
pub extern "C" fn mosquitto_kick_client_by_clientid(
    clientid: *const c_char,
    with_will: bool,
) -> c_int {
    api::mosquitto_kick_client_by_clientid(clientid, with_will)
}

#[no_mangle]
pub extern "C" fn mosquitto_kick_client_by_username(
    username: *const c_char,
    with_will: bool,
) -> c_int {
    api::mosquitto_kick_client_by_username(username, with_will)
}

#[no_mangle]
pub extern "C" fn mosquitto_broker_publish(
    clientid: *const c_char,
    topic: *const c_char,
    payloadlen: c_int,
    payload: *mut c_void,
    qos: c_int,
    retain: bool,
    properties: *mut Property,
) -> c_int {
    api::mosquitto_broker_publish(
        clientid, topic, payloadlen, payload, qos, retain, properties,
    )
}

#[no_mangle]
pub extern "C" fn mosquitto_broker_publish_copy(
    clientid: *const c_char,
    topic: *const c_char,
    payloadlen: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
    properties: *mut Property,
) -> c_int {
    api::mosquitto_broker_publish_copy(
        clientid, topic, payloadlen, payload, qos, retain, properties,
    )
}

#[no_mangle]
pub extern "C" fn mosquitto_pub_topic_check(t: *const c_char) -> c_int {
    api::mosquitto_pub_topic_check(t)
}

#[no_mangle]
pub extern "C" fn mosquitto_sub_topic_check(t: *const c_char) -> c_int {
    api::mosquitto_sub_topic_check(t)
}

#[no_mangle]
pub extern "C" fn mosquitto_topic_matches_sub(
    sub: *const c_char,
    t: *const c_char,
    result: *mut bool,
) -> c_int {
    api::mosquitto_topic_matches_sub(sub, t, result)
}

#[no_mangle]
pub extern "C" fn mosquitto_validate_utf8(s: *const c_char, len: c_int) -> c_int {
    api::mosquitto_validate_utf8(s, len)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_free_all(list: *mut *mut Property) {
    api::mosquitto_property_free_all(list)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_byte(l: *mut *mut Property, _id: c_int, _v: u8) -> c_int {
    api::mosquitto_property_add_byte(l, _id, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_int16(
    l: *mut *mut Property,
    _id: c_int,
    _v: u16,
) -> c_int {
    api::mosquitto_property_add_int16(l, _id, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_int32(
    l: *mut *mut Property,
    _id: c_int,
    _v: u32,
) -> c_int {
    api::mosquitto_property_add_int32(l, _id, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_varint(
    l: *mut *mut Property,
    _id: c_int,
    _v: u32,
) -> c_int {
    api::mosquitto_property_add_varint(l, _id, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_binary(
    l: *mut *mut Property,
    _id: c_int,
    _v: *const c_void,
    _len: u16,
) -> c_int {
    api::mosquitto_property_add_binary(l, _id, _v, _len)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_string(
    l: *mut *mut Property,
    _id: c_int,
    _v: *const c_char,
) -> c_int {
    api::mosquitto_property_add_string(l, _id, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_add_string_pair(
    l: *mut *mut Property,
    _id: c_int,
    _n: *const c_char,
    _v: *const c_char,
) -> c_int {
    api::mosquitto_property_add_string_pair(l, _id, _n, _v)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_identifier(p: *const Property) -> c_int {
    api::mosquitto_property_identifier(p)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_next(p: *const Property) -> *const Property {
    api::mosquitto_property_next(p)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_byte(
    p: *const Property,
    id: c_int,
    v: *mut u8,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_byte(p, id, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_int16(
    p: *const Property,
    id: c_int,
    v: *mut u16,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_int16(p, id, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_int32(
    p: *const Property,
    id: c_int,
    v: *mut u32,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_int32(p, id, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_varint(
    p: *const Property,
    id: c_int,
    v: *mut u32,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_varint(p, id, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_binary(
    p: *const Property,
    id: c_int,
    v: *mut *mut c_void,
    len: *mut u16,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_binary(p, id, v, len, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_string(
    p: *const Property,
    id: c_int,
    v: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_string(p, id, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_read_string_pair(
    p: *const Property,
    id: c_int,
    n: *mut *mut c_char,
    v: *mut *mut c_char,
    skip_first: bool,
) -> *const Property {
    api::mosquitto_property_read_string_pair(p, id, n, v, skip_first)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_copy_all(
    dest: *mut *mut Property,
    src: *const Property,
) -> c_int {
    api::mosquitto_property_copy_all(dest, src)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_check_command(command: c_int, id: c_int) -> c_int {
    api::mosquitto_property_check_command(command, id)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_check_all(command: c_int, p: *const Property) -> c_int {
    api::mosquitto_property_check_all(command, p)
}

#[no_mangle]
pub extern "C" fn mosquitto_property_identifier_to_string(id: c_int) -> *const c_char {
    api::mosquitto_property_identifier_to_string(id)
}

#[no_mangle]
pub extern "C" fn mosquitto_string_to_property_info(
    name: *const c_char,
    id: *mut c_int,
    ty: *mut c_int,
) -> c_int {
    api::mosquitto_string_to_property_info(name, id, ty)
}

/// Every export, so the linker keeps them all (nothing in Rust calls them).
pub fn exported() -> [usize; 48] {
    [
        mosquitto_rs_plugin_log as *const () as usize,
        mosquitto_callback_register as *const () as usize,
        mosquitto_callback_unregister as *const () as usize,
        mosquitto_calloc as *const () as usize,
        mosquitto_malloc as *const () as usize,
        mosquitto_realloc as *const () as usize,
        mosquitto_free as *const () as usize,
        mosquitto_strdup as *const () as usize,
        mosquitto_client_address as *const () as usize,
        mosquitto_client_clean_session as *const () as usize,
        mosquitto_client_id as *const () as usize,
        mosquitto_client_keepalive as *const () as usize,
        mosquitto_client_certificate as *const () as usize,
        mosquitto_client_protocol as *const () as usize,
        mosquitto_client_protocol_version as *const () as usize,
        mosquitto_client_sub_count as *const () as usize,
        mosquitto_client_username as *const () as usize,
        mosquitto_set_username as *const () as usize,
        mosquitto_kick_client_by_clientid as *const () as usize,
        mosquitto_kick_client_by_username as *const () as usize,
        mosquitto_broker_publish as *const () as usize,
        mosquitto_broker_publish_copy as *const () as usize,
        mosquitto_pub_topic_check as *const () as usize,
        mosquitto_sub_topic_check as *const () as usize,
        mosquitto_topic_matches_sub as *const () as usize,
        mosquitto_validate_utf8 as *const () as usize,
        mosquitto_property_free_all as *const () as usize,
        mosquitto_property_add_byte as *const () as usize,
        mosquitto_property_add_int16 as *const () as usize,
        mosquitto_property_add_int32 as *const () as usize,
        mosquitto_property_add_varint as *const () as usize,
        mosquitto_property_add_binary as *const () as usize,
        mosquitto_property_add_string as *const () as usize,
        mosquitto_property_add_string_pair as *const () as usize,
        mosquitto_property_identifier as *const () as usize,
        mosquitto_property_next as *const () as usize,
        mosquitto_property_read_byte as *const () as usize,
        mosquitto_property_read_int16 as *const () as usize,
        mosquitto_property_read_int32 as *const () as usize,
        mosquitto_property_read_varint as *const () as usize,
        mosquitto_property_read_binary as *const () as usize,
        mosquitto_property_read_string as *const () as usize,
        mosquitto_property_read_string_pair as *const () as usize,
        mosquitto_property_copy_all as *const () as usize,
        mosquitto_property_check_command as *const () as usize,
        mosquitto_property_check_all as *const () as usize,
        mosquitto_property_identifier_to_string as *const () as usize,
        mosquitto_string_to_property_info as *const () as usize,
    ]
}
