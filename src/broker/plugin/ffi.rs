//! The C ABI of mosquitto 2.0's plugin interface (`mosquitto_plugin.h`,
//! `mosquitto_broker.h`): return codes, events, access bits and the structs
//! handed to plugins. Field order and types follow the headers exactly; the
//! integration test `plugins_layout` compares sizes and offsets with a C
//! program compiled against Debian's headers.

use std::ffi::{c_char, c_int, c_long, c_void};

// Return codes (`enum mosq_err_t`) that the broker side looks at.
pub const MOSQ_ERR_AUTH_CONTINUE: c_int = -4;
pub const MOSQ_ERR_SUCCESS: c_int = 0;
pub const MOSQ_ERR_NOMEM: c_int = 1;
pub const MOSQ_ERR_PROTOCOL: c_int = 2;
pub const MOSQ_ERR_INVAL: c_int = 3;
pub const MOSQ_ERR_NOT_FOUND: c_int = 6;
pub const MOSQ_ERR_AUTH: c_int = 11;
pub const MOSQ_ERR_ACL_DENIED: c_int = 12;
pub const MOSQ_ERR_NOT_SUPPORTED: c_int = 10;
pub const MOSQ_ERR_MALFORMED_UTF8: c_int = 18;
pub const MOSQ_ERR_PLUGIN_DEFER: c_int = 17;
pub const MOSQ_ERR_ALREADY_EXISTS: c_int = 31;
pub const MOSQ_ERR_UNKNOWN: c_int = 13;
pub const MOSQ_ERR_MALFORMED_PACKET: c_int = 21;
pub const MOSQ_ERR_DUPLICATE_PROPERTY: c_int = 22;
pub const MOSQ_ERR_QOS_NOT_SUPPORTED: c_int = 24;
pub const MOSQ_ERR_RETAIN_NOT_SUPPORTED: c_int = 28;
pub const MOSQ_ERR_TOPIC_ALIAS_INVALID: c_int = 29;

// Events (`enum mosquitto_plugin_event`).
pub const MOSQ_EVT_RELOAD: c_int = 1;
pub const MOSQ_EVT_ACL_CHECK: c_int = 2;
pub const MOSQ_EVT_BASIC_AUTH: c_int = 3;
pub const MOSQ_EVT_EXT_AUTH_START: c_int = 4;
pub const MOSQ_EVT_EXT_AUTH_CONTINUE: c_int = 5;
pub const MOSQ_EVT_CONTROL: c_int = 6;
pub const MOSQ_EVT_MESSAGE: c_int = 7;
pub const MOSQ_EVT_PSK_KEY: c_int = 8;
pub const MOSQ_EVT_TICK: c_int = 9;
pub const MOSQ_EVT_DISCONNECT: c_int = 10;
/// One past the highest event number.
pub const EVENT_COUNT: usize = 11;

// Access bits of an ACL check.
pub const MOSQ_ACL_READ: c_int = 1;
pub const MOSQ_ACL_WRITE: c_int = 2;
pub const MOSQ_ACL_SUBSCRIBE: c_int = 4;
pub const MOSQ_ACL_UNSUBSCRIBE: c_int = 8;

// Log levels of `mosquitto_log_printf`.
pub const MOSQ_LOG_INFO: c_int = 1 << 0;
pub const MOSQ_LOG_NOTICE: c_int = 1 << 1;
pub const MOSQ_LOG_WARNING: c_int = 1 << 2;
pub const MOSQ_LOG_ERR: c_int = 1 << 3;
pub const MOSQ_LOG_DEBUG: c_int = 1 << 4;

/// `MOSQ_FUNC_generic_callback`.
pub type GenericCallback = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;

/// `struct mosquitto_opt` (and the identical `mosquitto_auth_opt`).
#[repr(C)]
pub struct MosquittoOpt {
    pub key: *mut c_char,
    pub value: *mut c_char,
}

/// `struct mosquitto_acl_msg` (versions 3 and 4).
#[repr(C)]
pub struct AclMsg {
    pub topic: *const c_char,
    pub payload: *const c_void,
    pub payloadlen: c_long,
    pub qos: c_int,
    pub retain: bool,
}

#[repr(C)]
pub struct EvtReload {
    pub future: *mut c_void,
    pub options: *mut MosquittoOpt,
    pub option_count: c_int,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtAclCheck {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub topic: *const c_char,
    pub payload: *const c_void,
    pub properties: *mut c_void,
    pub access: c_int,
    pub payloadlen: u32,
    pub qos: u8,
    pub retain: bool,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtBasicAuth {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub username: *mut c_char,
    pub password: *mut c_char,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtPskKey {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub hint: *const c_char,
    pub identity: *const c_char,
    pub key: *mut c_char,
    pub max_key_len: c_int,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtExtendedAuth {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub data_in: *const c_void,
    pub data_out: *mut c_void,
    pub data_in_len: u16,
    pub data_out_len: u16,
    pub auth_method: *const c_char,
    pub future2: [*mut c_void; 3],
}

#[repr(C)]
pub struct EvtControl {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub topic: *const c_char,
    pub payload: *const c_void,
    pub properties: *const c_void,
    pub reason_string: *mut c_char,
    pub payloadlen: u32,
    pub qos: u8,
    pub reason_code: u8,
    pub retain: bool,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtMessage {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub topic: *mut c_char,
    pub payload: *mut c_void,
    pub properties: *mut c_void,
    pub reason_string: *mut c_char,
    pub payloadlen: u32,
    pub qos: u8,
    pub reason_code: u8,
    pub retain: bool,
    pub future2: [*mut c_void; 4],
}

/// `time_t` is `long` on the Linux targets plugins exist for.
#[repr(C)]
pub struct EvtTick {
    pub future: *mut c_void,
    pub now_ns: c_long,
    pub next_ns: c_long,
    pub now_s: c_long,
    pub next_s: c_long,
    pub future2: [*mut c_void; 4],
}

#[repr(C)]
pub struct EvtDisconnect {
    pub future: *mut c_void,
    pub client: *mut c_void,
    pub reason: c_int,
    pub future2: [*mut c_void; 4],
}

/// A zeroed event struct: every field above is a pointer, an integer or a
/// bool, for which all-zero bytes are a valid value (null, 0, false).
pub fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `Zeroable` is implemented only for the plain C structs above.
    unsafe { std::mem::zeroed() }
}

/// Marker for the structs of this file (all-zero is valid for them).
pub trait Zeroable {}
impl Zeroable for AclMsg {}
impl Zeroable for EvtReload {}
impl Zeroable for EvtAclCheck {}
impl Zeroable for EvtBasicAuth {}
impl Zeroable for EvtPskKey {}
impl Zeroable for EvtExtendedAuth {}
impl Zeroable for EvtControl {}
impl Zeroable for EvtMessage {}
impl Zeroable for EvtTick {}
impl Zeroable for EvtDisconnect {}

/// Name, size and field offsets of each struct, for the layout test (the
/// C side prints the same lines from the real headers). One line a struct.
#[rustfmt::skip]
pub fn layout_report() -> String {
    use std::mem::{offset_of, size_of};
    macro_rules! report {
        ($out:ident, $c:literal, $t:ty, $($f:ident),*) => {
            $out.push_str(&format!("{} size {}\n", $c, size_of::<$t>()));
            $( $out.push_str(&format!("{}.{} {}\n", $c, stringify!($f), offset_of!($t, $f))); )*
        };
    }
    let mut o = String::new();
    report!(o, "mosquitto_opt", MosquittoOpt, key, value);
    report!(o, "mosquitto_acl_msg", AclMsg, topic, payload, payloadlen, qos, retain);
    report!(o, "mosquitto_evt_reload", EvtReload, future, options, option_count, future2);
    report!(o, "mosquitto_evt_acl_check", EvtAclCheck, future, client, topic, payload, properties, access, payloadlen, qos, retain, future2);
    report!(o, "mosquitto_evt_basic_auth", EvtBasicAuth, future, client, username, password, future2);
    report!(o, "mosquitto_evt_psk_key", EvtPskKey, future, client, hint, identity, key, max_key_len, future2);
    report!(o, "mosquitto_evt_extended_auth", EvtExtendedAuth, future, client, data_in, data_out, data_in_len, data_out_len, auth_method, future2);
    report!(o, "mosquitto_evt_control", EvtControl, future, client, topic, payload, properties, reason_string, payloadlen, qos, reason_code, retain, future2);
    report!(o, "mosquitto_evt_message", EvtMessage, future, client, topic, payload, properties, reason_string, payloadlen, qos, reason_code, retain, future2);
    report!(o, "mosquitto_evt_tick", EvtTick, future, now_ns, next_ns, now_s, next_s, future2);
    report!(o, "mosquitto_evt_disconnect", EvtDisconnect, future, client, reason, future2);
    o
}
