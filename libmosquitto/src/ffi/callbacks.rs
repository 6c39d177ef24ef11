//! The application's callbacks: their setters, and the dispatch of client
//! events to them. As libmosquitto, both the 3.x-style and the `_v5` form
//! are called when both are set.

use std::ffi::{c_char, c_int, c_void, CString};

use super::props::{free_list, to_list, Property};
use super::{export, mosq, Mosq};
use crate::client::Event;

/// `struct mosquitto_message`.
#[repr(C)]
pub struct Message {
    pub mid: c_int,
    pub topic: *mut c_char,
    pub payload: *mut c_void,
    pub payloadlen: c_int,
    pub qos: c_int,
    pub retain: bool,
}

type M = *mut Mosq;
type V = *mut c_void;
type P = *const Property;
pub type OnConnect = extern "C" fn(M, V, c_int);
pub type OnConnectFlags = extern "C" fn(M, V, c_int, c_int);
pub type OnConnectV5 = extern "C" fn(M, V, c_int, c_int, P);
pub type OnDisconnectV5 = extern "C" fn(M, V, c_int, P);
pub type OnPublishV5 = extern "C" fn(M, V, c_int, c_int, P);
pub type OnMessage = extern "C" fn(M, V, *const Message);
pub type OnMessageV5 = extern "C" fn(M, V, *const Message, P);
pub type OnSubscribe = extern "C" fn(M, V, c_int, c_int, *const c_int);
pub type OnSubscribeV5 = extern "C" fn(M, V, c_int, c_int, *const c_int, P);
pub type OnUnsubscribeV5 = extern "C" fn(M, V, c_int, P);
pub type OnLog = extern "C" fn(M, V, c_int, *const c_char);

#[derive(Clone, Copy, Default)]
pub struct Callbacks {
    pub(super) connect: Option<OnConnect>,
    connect_flags: Option<OnConnectFlags>,
    connect_v5: Option<OnConnectV5>,
    disconnect: Option<OnConnect>,
    disconnect_v5: Option<OnDisconnectV5>,
    publish: Option<OnConnect>,
    publish_v5: Option<OnPublishV5>,
    pub(super) message: Option<OnMessage>,
    message_v5: Option<OnMessageV5>,
    subscribe: Option<OnSubscribe>,
    subscribe_v5: Option<OnSubscribeV5>,
    unsubscribe: Option<OnConnect>,
    unsubscribe_v5: Option<OnUnsubscribeV5>,
    log: Option<OnLog>,
}

macro_rules! setter {
    ($name:ident, $field:ident, $ty:ty, $ver:literal) => {
        /// SAFETY: `m` is null or a live handle.
        unsafe extern "C" fn $name(m: *mut Mosq, cb: Option<$ty>) {
            if let Some(m) = mosq(m) {
                m.cbs.lock().unwrap_or_else(|e| e.into_inner()).$field = cb;
            }
        }
        export!($name, $ver);
    };
}

setter!(
    mosquitto_connect_callback_set,
    connect,
    OnConnect,
    "MOSQ_1.0"
);
setter!(
    mosquitto_connect_with_flags_callback_set,
    connect_flags,
    OnConnectFlags,
    "MOSQ_1.5"
);
setter!(
    mosquitto_connect_v5_callback_set,
    connect_v5,
    OnConnectV5,
    "MOSQ_1.6"
);
setter!(
    mosquitto_disconnect_callback_set,
    disconnect,
    OnConnect,
    "MOSQ_1.0"
);
setter!(
    mosquitto_disconnect_v5_callback_set,
    disconnect_v5,
    OnDisconnectV5,
    "MOSQ_1.6"
);
setter!(
    mosquitto_publish_callback_set,
    publish,
    OnConnect,
    "MOSQ_1.0"
);
setter!(
    mosquitto_publish_v5_callback_set,
    publish_v5,
    OnPublishV5,
    "MOSQ_1.6"
);
setter!(
    mosquitto_message_callback_set,
    message,
    OnMessage,
    "MOSQ_1.0"
);
setter!(
    mosquitto_message_v5_callback_set,
    message_v5,
    OnMessageV5,
    "MOSQ_1.6"
);
setter!(
    mosquitto_subscribe_callback_set,
    subscribe,
    OnSubscribe,
    "MOSQ_1.0"
);
setter!(
    mosquitto_subscribe_v5_callback_set,
    subscribe_v5,
    OnSubscribeV5,
    "MOSQ_1.6"
);
setter!(
    mosquitto_unsubscribe_callback_set,
    unsubscribe,
    OnConnect,
    "MOSQ_1.0"
);
setter!(
    mosquitto_unsubscribe_v5_callback_set,
    unsubscribe_v5,
    OnUnsubscribeV5,
    "MOSQ_1.6"
);
setter!(mosquitto_log_callback_set, log, OnLog, "MOSQ_1.0");

/// Calls the callbacks for `events`, in order, with no lock held.
pub fn dispatch(m: &Mosq, h: *mut Mosq, events: Vec<Event>) {
    for ev in events {
        let cb = m.callbacks();
        let ud = m.userdata.load(std::sync::atomic::Ordering::Acquire);
        match ev {
            Event::Connect { rc, flags, props } => {
                if let Some(f) = cb.connect {
                    f(h, ud, rc);
                }
                if let Some(f) = cb.connect_flags {
                    f(h, ud, rc, flags);
                }
                if let Some(f) = cb.connect_v5 {
                    let list = to_list(&props);
                    f(h, ud, rc, flags, list);
                    free_list(list);
                }
            }
            Event::Disconnect { rc, props } => {
                if let Some(f) = cb.disconnect {
                    f(h, ud, rc);
                }
                if let Some(f) = cb.disconnect_v5 {
                    let list = to_list(&props);
                    f(h, ud, rc, list);
                    free_list(list);
                }
            }
            Event::Publish { mid, reason, props } => {
                if let Some(f) = cb.publish {
                    f(h, ud, c_int::from(mid));
                }
                if let Some(f) = cb.publish_v5 {
                    let list = to_list(&props);
                    f(h, ud, c_int::from(mid), reason, list);
                    free_list(list);
                }
            }
            Event::Message(p) => message(&cb, h, ud, p),
            Event::Subscribe {
                mid,
                granted,
                props,
            } => {
                let n = c_int::try_from(granted.len()).unwrap_or(0);
                if let Some(f) = cb.subscribe {
                    f(h, ud, c_int::from(mid), n, granted.as_ptr());
                }
                if let Some(f) = cb.subscribe_v5 {
                    let list = to_list(&props);
                    f(h, ud, c_int::from(mid), n, granted.as_ptr(), list);
                    free_list(list);
                }
            }
            Event::Unsubscribe { mid, props } => {
                if let Some(f) = cb.unsubscribe {
                    f(h, ud, c_int::from(mid));
                }
                if let Some(f) = cb.unsubscribe_v5 {
                    let list = to_list(&props);
                    f(h, ud, c_int::from(mid), list);
                    free_list(list);
                }
            }
            Event::Log { level, text } => {
                if let Some(f) = cb.log {
                    if let Ok(s) = CString::new(text) {
                        f(h, ud, level, s.as_ptr());
                    }
                }
            }
        }
    }
}

/// on_message: the message lives for the call only (the library frees it),
/// topic and payload NUL-terminated as libmosquitto's.
fn message(cb: &Callbacks, h: *mut Mosq, ud: *mut c_void, p: mosquitto_rs::protocol::Publish) {
    if cb.message.is_none() && cb.message_v5.is_none() {
        return;
    }
    let Ok(topic) = CString::new(p.topic) else {
        return;
    };
    let len = c_int::try_from(p.payload.len()).unwrap_or(c_int::MAX);
    let mut payload = p.payload;
    payload.push(0);
    let msg = Message {
        mid: c_int::from(p.packet_id),
        topic: topic.as_ptr().cast_mut(),
        payload: if len == 0 {
            std::ptr::null_mut()
        } else {
            payload.as_mut_ptr().cast()
        },
        payloadlen: len,
        qos: c_int::from(p.qos.as_u8()),
        retain: p.retain,
    };
    if let Some(f) = cb.message {
        f(h, ud, &msg);
    }
    if let Some(f) = cb.message_v5 {
        let list = to_list(&p.properties);
        f(h, ud, &msg, list);
        free_list(list);
    }
}
