//! The broker API that mosquitto 2.0 exports to plugins (its
//! `src/linker.syms`), under the same names and C signatures. The
//! `mosquitto` binary exports exactly these symbols (`build.rs`, with
//! `exports.list`); `mosquitto_log_printf` is variadic, so it lives in
//! `log_shim.c` and calls [`mosquitto_rs_plugin_log`].
//!
//! Every pointer from a plugin is checked for null; strings are read up to
//! their NUL; refusals are logged and answered with mosquitto's codes.

// These are C entry points: the pointers come from C callers, which an
// `unsafe fn` marker would not reach; each one is checked here instead.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use super::ffi::{self, GenericCallback};
use super::registry::{self, Action, Callback, ClientView, PluginId};
use crate::protocol::topic;

/// A copy of `bytes` in memory plugins may keep or `free` (null for no
/// bytes, as mosquitto hands an empty payload), from the shared copier.
pub(super) fn malloc_copy(bytes: &[u8]) -> *mut c_void {
    if bytes.is_empty() {
        return std::ptr::null_mut();
    }
    crate::capi::calloc_copy(bytes)
}

/// A plugin's C string as text; None (logged) for null or invalid UTF-8.
fn text<'a>(p: *const c_char, what: &str) -> Option<&'a str> {
    if p.is_null() {
        crate::error!("Error: a plugin passed a null {what}; refused.");
        return None;
    }
    // SAFETY: non-null; plugins pass NUL-terminated strings.
    match unsafe { CStr::from_ptr(p) }.to_str() {
        Ok(s) => Some(s),
        Err(_) => {
            crate::error!("Error: a plugin passed a {what} that is not UTF-8; refused.");
            None
        }
    }
}

fn client<'a>(p: *const c_void) -> Option<&'a ClientView> {
    if p.is_null() {
        crate::error!("Error: a plugin passed a null client; refused.");
        return None;
    }
    // SAFETY: only pointers we handed out in events point to a client view,
    // and a view lives at least as long as the event.
    Some(unsafe { &*p.cast::<ClientView>() })
}

/// Called by the C shim with the formatted line.
pub extern "C" fn mosquitto_rs_plugin_log(level: c_int, line: *const c_char) {
    if line.is_null() {
        return;
    }
    // SAFETY: the shim passes its NUL-terminated buffer.
    let s = unsafe { CStr::from_ptr(line) }.to_string_lossy();
    match level {
        ffi::MOSQ_LOG_ERR => crate::error!("{s}"),
        ffi::MOSQ_LOG_WARNING => crate::warning!("{s}"),
        ffi::MOSQ_LOG_NOTICE => crate::notice!("{s}"),
        ffi::MOSQ_LOG_DEBUG => crate::debug!("{s}"),
        _ => crate::information!("{s}"),
    }
}

// ---- callbacks ----

fn plugin_id<'a>(id: *mut PluginId) -> Option<&'a PluginId> {
    if id.is_null() {
        crate::error!("Error: a plugin passed a null plugin id; refused.");
        return None;
    }
    // SAFETY: ids are handed out boxed and never freed while running.
    Some(unsafe { &*id })
}

fn control_topic(event: c_int, data: *const c_void) -> Option<String> {
    if event != ffi::MOSQ_EVT_CONTROL {
        return None;
    }
    text(data.cast(), "control topic").map(str::to_string)
}

pub extern "C" fn mosquitto_callback_register(
    identifier: *mut PluginId,
    event: c_int,
    cb_func: Option<GenericCallback>,
    event_data: *const c_void,
    userdata: *mut c_void,
) -> c_int {
    let (Some(id), Some(func)) = (plugin_id(identifier), cb_func) else {
        return ffi::MOSQ_ERR_INVAL;
    };
    let cb = Callback { func, userdata };
    registry::register(id, event, cb, control_topic(event, event_data))
}

pub extern "C" fn mosquitto_callback_unregister(
    identifier: *mut PluginId,
    event: c_int,
    cb_func: Option<GenericCallback>,
    event_data: *const c_void,
) -> c_int {
    let (Some(id), Some(func)) = (plugin_id(identifier), cb_func) else {
        return ffi::MOSQ_ERR_INVAL;
    };
    registry::unregister(id, event, func, control_topic(event, event_data))
}

// ---- memory: the C allocator, so plugins and we may free each other's ----

pub extern "C" fn mosquitto_calloc(nmemb: usize, size: usize) -> *mut c_void {
    // SAFETY: calloc checks the product for overflow itself.
    unsafe { libc::calloc(nmemb, size) }
}

pub extern "C" fn mosquitto_malloc(size: usize) -> *mut c_void {
    // SAFETY: plain malloc.
    unsafe { libc::malloc(size) }
}

pub extern "C" fn mosquitto_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the plugin's pointer from malloc/calloc/realloc (or null).
    unsafe { libc::realloc(ptr, size) }
}

pub extern "C" fn mosquitto_free(mem: *mut c_void) {
    // SAFETY: the plugin's pointer from one of the functions above.
    unsafe { libc::free(mem) }
}

pub extern "C" fn mosquitto_strdup(s: *const c_char) -> *mut c_char {
    if s.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: non-null, NUL-terminated.
    unsafe { libc::strdup(s) }
}

// ---- client queries ----

pub extern "C" fn mosquitto_client_address(c: *const c_void) -> *const c_char {
    client(c).map_or(std::ptr::null(), |v| v.address.as_ptr())
}

pub extern "C" fn mosquitto_client_clean_session(c: *const c_void) -> bool {
    client(c).is_some_and(|v| v.clean)
}

pub extern "C" fn mosquitto_client_id(c: *const c_void) -> *const c_char {
    client(c).map_or(std::ptr::null(), |v| v.id.as_ptr())
}

pub extern "C" fn mosquitto_client_keepalive(c: *const c_void) -> c_int {
    client(c).map_or(-1, |v| v.keepalive)
}

/// The client's TLS certificate as a new OpenSSL `X509` the plugin frees
/// with `X509_free`, as mosquitto's; null without one (or without TLS).
pub extern "C" fn mosquitto_client_certificate(c: *const c_void) -> *mut c_void {
    match client(c).and_then(|v| v.certificate.as_deref()) {
        Some(der) => x509_from_der(der),
        None => std::ptr::null_mut(),
    }
}

/// A new `X509` from DER (null if it does not parse).
#[cfg(feature = "tls")]
fn x509_from_der(der: &[u8]) -> *mut c_void {
    extern "C" {
        // libcrypto, linked through the openssl crate.
        fn d2i_X509(a: *mut *mut c_void, pp: *mut *const u8, len: std::ffi::c_long) -> *mut c_void;
    }
    let Ok(len) = std::ffi::c_long::try_from(der.len()) else {
        return std::ptr::null_mut();
    };
    let mut p = der.as_ptr();
    // SAFETY: `p` points to `len` bytes of DER that outlive the call;
    // d2i_X509 allocates a new X509 (null on error) that the caller owns.
    unsafe { d2i_X509(std::ptr::null_mut(), &mut p, len) }
}

#[cfg(not(feature = "tls"))]
fn x509_from_der(_der: &[u8]) -> *mut c_void {
    std::ptr::null_mut()
}

/// `mp_mqtt` (0); websocket clients are reported as plain MQTT too.
/// `mp_mqtt` (0), or `mp_websockets` (2) for a websockets client.
pub extern "C" fn mosquitto_client_protocol(c: *const c_void) -> c_int {
    client(c).map_or(0, |v| if v.websockets { 2 } else { 0 })
}

pub extern "C" fn mosquitto_client_protocol_version(c: *const c_void) -> c_int {
    client(c).map_or(0, |v| v.protocol_version)
}

/// The client's subscriptions (0 for a client not connected).
pub extern "C" fn mosquitto_client_sub_count(c: *const c_void) -> c_int {
    client(c).map_or(0, |v| v.sub_count)
}

pub extern "C" fn mosquitto_client_username(c: *const c_void) -> *const c_char {
    client(c)
        .and_then(|v| v.username.as_ref())
        .map_or(std::ptr::null(), |u| u.as_ptr())
}

/// Changes the client's username (taken up by the broker after the basic
/// auth callback that called this). Null removes it.
pub extern "C" fn mosquitto_set_username(c: *mut c_void, username: *const c_char) -> c_int {
    if c.is_null() {
        crate::error!("Error: a plugin passed a null client; refused.");
        return ffi::MOSQ_ERR_INVAL;
    }
    let new = if username.is_null() {
        None
    } else {
        match text(username, "username") {
            Some(u) if crate::protocol::valid_mqtt_string(u) => Some(u),
            _ => return ffi::MOSQ_ERR_MALFORMED_UTF8,
        }
    };
    // SAFETY: as in `client`; the view is ours and mutable.
    let v = unsafe { &mut *c.cast::<ClientView>() };
    v.username = new.and_then(|u| CString::new(u).ok());
    v.username_changed = true;
    // Outside authentication too (e.g. from a message callback): the
    // core gives the client's session the name.
    registry::push_action(Action::SetUsername {
        client_id: v.id.to_string_lossy().into_owned(),
        conn: v.conn,
        username: new.map(str::to_owned),
    });
    ffi::MOSQ_ERR_SUCCESS
}

// ---- kicking and publishing: queued for the core ----

pub extern "C" fn mosquitto_kick_client_by_clientid(
    clientid: *const c_char,
    with_will: bool,
) -> c_int {
    if clientid.is_null() {
        registry::push_action(Action::KickAll { with_will });
        return ffi::MOSQ_ERR_SUCCESS;
    }
    let Some(id) = text(clientid, "client id") else {
        return ffi::MOSQ_ERR_INVAL;
    };
    registry::push_action(Action::KickClientId {
        client_id: id.to_string(),
        with_will,
    });
    ffi::MOSQ_ERR_SUCCESS
}

pub extern "C" fn mosquitto_kick_client_by_username(
    username: *const c_char,
    with_will: bool,
) -> c_int {
    if username.is_null() {
        registry::push_action(Action::KickAll { with_will });
        return ffi::MOSQ_ERR_SUCCESS;
    }
    let Some(u) = text(username, "username") else {
        return ffi::MOSQ_ERR_INVAL;
    };
    registry::push_action(Action::KickUsername {
        username: u.to_string(),
        with_will,
    });
    ffi::MOSQ_ERR_SUCCESS
}

/// Checks and queues a plugin's message; copies the payload. The
/// properties are taken over when the message is (as mosquitto does).
fn queue_publish(
    clientid: *const c_char,
    topic_p: *const c_char,
    payloadlen: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
    properties: *mut Property,
) -> c_int {
    let Ok(len) = usize::try_from(payloadlen) else {
        crate::error!("Error: a plugin published with a negative payload length; refused.");
        return ffi::MOSQ_ERR_INVAL;
    };
    if (len > 0 && payload.is_null()) || !(0..=2).contains(&qos) {
        crate::error!("Error: a plugin published a null payload or a bad QoS; refused.");
        return ffi::MOSQ_ERR_INVAL;
    }
    let Some(t) = text(topic_p, "topic") else {
        return ffi::MOSQ_ERR_INVAL;
    };
    if !topic::valid_topic_name(t) {
        crate::error!("Error: a plugin published to an invalid topic '{t}'; refused.");
        return ffi::MOSQ_ERR_INVAL;
    }
    let client_id = if clientid.is_null() {
        None
    } else {
        match text(clientid, "client id") {
            Some(c) => Some(c.to_string()),
            None => return ffi::MOSQ_ERR_INVAL,
        }
    };
    let bytes = if len == 0 {
        Vec::new()
    } else {
        // SAFETY: non-null and, by the API's contract, payloadlen bytes.
        unsafe { std::slice::from_raw_parts(payload.cast::<u8>(), len) }.to_vec()
    };
    registry::push_action(Action::Publish {
        client_id,
        topic: t.to_string(),
        payload: bytes,
        qos: qos as u8,
        retain,
        properties: publish_properties(properties),
    });
    ffi::MOSQ_ERR_SUCCESS
}

/// What of a plugin's property list goes with its message: the properties
/// a PUBLISH carries to subscribers, and the message expiry interval.
fn publish_properties(list: *mut Property) -> crate::protocol::Properties {
    let mut props = super::props::take_list(list);
    let before = props.0.len();
    props.0.retain(|(i, _)| {
        super::props::travels(*i) || *i == crate::protocol::properties::id::MESSAGE_EXPIRY_INTERVAL
    });
    if props.0.len() < before {
        crate::error!(
            "Error: a plugin published with properties a PUBLISH cannot carry; left out."
        );
    }
    props
}

/// Takes ownership of `payload` (freed here, after copying) and of the
/// properties, as mosquitto.
pub extern "C" fn mosquitto_broker_publish(
    clientid: *const c_char,
    topic: *const c_char,
    payloadlen: c_int,
    payload: *mut c_void,
    qos: c_int,
    retain: bool,
    properties: *mut Property,
) -> c_int {
    let rc = queue_publish(
        clientid, topic, payloadlen, payload, qos, retain, properties,
    );
    if rc == ffi::MOSQ_ERR_SUCCESS {
        // SAFETY: the plugin handed the payload over; malloc'd memory.
        unsafe { libc::free(payload) };
    }
    rc
}

pub extern "C" fn mosquitto_broker_publish_copy(
    clientid: *const c_char,
    topic: *const c_char,
    payloadlen: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
    properties: *mut Property,
) -> c_int {
    queue_publish(
        clientid, topic, payloadlen, payload, qos, retain, properties,
    )
}

// ---- topics and UTF-8 ----

fn topic_arg<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated.
    let s = unsafe { CStr::from_ptr(p) }.to_str().ok()?;
    (s.len() <= 65535).then_some(s)
}

pub extern "C" fn mosquitto_pub_topic_check(t: *const c_char) -> c_int {
    match topic_arg(t) {
        Some(s) if !s.bytes().any(|b| b == b'+' || b == b'#') => ffi::MOSQ_ERR_SUCCESS,
        _ => ffi::MOSQ_ERR_INVAL,
    }
}

pub extern "C" fn mosquitto_sub_topic_check(t: *const c_char) -> c_int {
    match topic_arg(t) {
        Some(s) if s.is_empty() || topic::valid_topic_filter(s) => ffi::MOSQ_ERR_SUCCESS,
        _ => ffi::MOSQ_ERR_INVAL,
    }
}

pub extern "C" fn mosquitto_topic_matches_sub(
    sub: *const c_char,
    t: *const c_char,
    result: *mut bool,
) -> c_int {
    if result.is_null() {
        return ffi::MOSQ_ERR_INVAL;
    }
    // SAFETY: non-null pointer to the caller's bool.
    unsafe { *result = false };
    let (Some(f), Some(name)) = (topic_arg(sub), topic_arg(t)) else {
        return ffi::MOSQ_ERR_INVAL;
    };
    if !topic::valid_topic_filter(f) || !topic::valid_topic_name(name) {
        return ffi::MOSQ_ERR_INVAL;
    }
    // SAFETY: as above.
    unsafe { *result = topic::matches(f, name) };
    ffi::MOSQ_ERR_SUCCESS
}

pub extern "C" fn mosquitto_validate_utf8(s: *const c_char, len: c_int) -> c_int {
    let Ok(n) = usize::try_from(len) else {
        return ffi::MOSQ_ERR_INVAL;
    };
    if s.is_null() || n > 65536 {
        return ffi::MOSQ_ERR_INVAL;
    }
    // SAFETY: non-null and, by contract, len bytes.
    let bytes = unsafe { std::slice::from_raw_parts(s.cast::<u8>(), n) };
    match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') && crate::protocol::valid_mqtt_string(t) => {
            ffi::MOSQ_ERR_SUCCESS
        }
        _ => ffi::MOSQ_ERR_MALFORMED_UTF8,
    }
}

// ---- properties (the shared `capi::properties`) ----

pub use crate::capi::properties::{
    mosquitto_property_add_binary, mosquitto_property_add_byte, mosquitto_property_add_int16,
    mosquitto_property_add_int32, mosquitto_property_add_string,
    mosquitto_property_add_string_pair, mosquitto_property_add_varint,
    mosquitto_property_check_all, mosquitto_property_check_command, mosquitto_property_copy_all,
    mosquitto_property_free_all, mosquitto_property_identifier,
    mosquitto_property_identifier_to_string, mosquitto_property_next,
    mosquitto_property_read_binary, mosquitto_property_read_byte, mosquitto_property_read_int16,
    mosquitto_property_read_int32, mosquitto_property_read_string,
    mosquitto_property_read_string_pair, mosquitto_property_read_varint,
    mosquitto_string_to_property_info, Property,
};
