//! Client lifetime, connect, disconnect, publish, subscribe.

use std::ffi::{c_char, c_int, c_void};

use mosquitto_rs::protocol::topic::{valid_topic_filter, valid_topic_name};
use mosquitto_rs::protocol::{
    ProtocolVersion, Publish, QoS, Subscribe, SubscriptionOptions, Unsubscribe, Will,
};

use super::props::{check_all, from_list, Property};
use super::{bytes, export, mosq, opt_str, put, Mosq};
use crate::client::{Client, ConnState};
use crate::consts::*;

const CMD_PUBLISH: c_int = 0x30;
const CMD_SUBSCRIBE: c_int = 0x80;
const CMD_UNSUBSCRIBE: c_int = 0xA0;
const CMD_DISCONNECT: c_int = 0xE0;
const CMD_CONNECT: c_int = 0x10;
const CMD_WILL: c_int = 0x100;

pub(super) unsafe fn mosquitto_new_impl(
    id: *const c_char,
    clean_session: bool,
    userdata: *mut c_void,
) -> *mut Mosq {
    let Ok(id) = opt_str(id) else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    // libmosquitto refuses a persistent session without a client id.
    if id.is_none() && !clean_session {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    match Mosq::new(Client::new(id, clean_session), userdata) {
        Some(m) => Box::into_raw(Box::new(m)),
        None => {
            set_errno(libc::ENOMEM);
            std::ptr::null_mut()
        }
    }
}
unsafe extern "C" fn mosquitto_new(
    id: *const c_char,
    clean_session: bool,
    userdata: *mut c_void,
) -> *mut Mosq {
    mosquitto_new_impl(id, clean_session, userdata)
}
export!(mosquitto_new, "MOSQ_1.0");

/// Connects; a socket error leaves its errno for the caller's strerror.
pub(super) fn connect_with_errno(c: &mut Client) -> c_int {
    let rc = c.connect();
    if rc == ERRNO {
        set_errno(crate::client::last_os_error());
    }
    rc
}

pub(super) fn set_errno(e: c_int) {
    // SAFETY: errno is this thread's own int.
    unsafe { *libc::__errno_location() = e };
}

pub(super) unsafe fn mosquitto_destroy_impl(m: *mut Mosq) {
    if m.is_null() {
        return;
    }
    super::loops::stop_thread(&*m, true);
    // SAFETY: made by Box::into_raw in mosquitto_new; destroyed once.
    drop(Box::from_raw(m));
}
unsafe extern "C" fn mosquitto_destroy(m: *mut Mosq) {
    mosquitto_destroy_impl(m)
}
export!(mosquitto_destroy, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_reinitialise(
    m: *mut Mosq,
    id: *const c_char,
    clean_session: bool,
    userdata: *mut c_void,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let Ok(id) = opt_str(id) else {
        return MALFORMED_UTF8;
    };
    if id.is_none() && !clean_session {
        return INVAL;
    }
    super::loops::stop_thread(mq, true);
    mq.lock().reset(id, clean_session);
    mq.userdata
        .store(userdata, std::sync::atomic::Ordering::Release);
    SUCCESS
}
export!(mosquitto_reinitialise, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_user_data_set(m: *mut Mosq, userdata: *mut c_void) {
    if let Some(m) = mosq(m) {
        m.userdata
            .store(userdata, std::sync::atomic::Ordering::Release);
    }
}
export!(mosquitto_user_data_set, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_userdata(m: *mut Mosq) -> *mut c_void {
    mosq(m).map_or(std::ptr::null_mut(), |m| {
        m.userdata.load(std::sync::atomic::Ordering::Acquire)
    })
}
export!(mosquitto_userdata, "MOSQ_1.5");

pub(super) unsafe fn mosquitto_will_set_impl(
    m: *mut Mosq,
    topic: *const c_char,
    len: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
) -> c_int {
    mosquitto_will_set_v5(m, topic, len, payload, qos, retain, std::ptr::null_mut())
}
unsafe extern "C" fn mosquitto_will_set(
    m: *mut Mosq,
    topic: *const c_char,
    len: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
) -> c_int {
    mosquitto_will_set_impl(m, topic, len, payload, qos, retain)
}
export!(mosquitto_will_set, "MOSQ_1.0");

/// On success the library owns `props` (libmosquitto's rule); on failure
/// the caller still does.
pub(super) unsafe extern "C" fn mosquitto_will_set_v5(
    m: *mut Mosq,
    topic: *const c_char,
    len: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
    props: *mut Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let topic = match opt_str(topic) {
        Ok(Some(t)) => t,
        Ok(None) => return INVAL,
        Err(rc) => return rc,
    };
    if !(0..=268_435_455).contains(&len) {
        return PAYLOAD_SIZE;
    }
    let Some(qos) = u8::try_from(qos).ok().and_then(QoS::from_u8) else {
        return INVAL;
    };
    if !valid_topic_name(&topic) {
        return INVAL;
    }
    let payload = match bytes(payload, len) {
        Ok(b) => b.to_vec(),
        Err(rc) => return rc,
    };
    let properties = from_list(props);
    let rc = check_all(CMD_WILL, &properties);
    if rc != SUCCESS {
        return rc;
    }
    mq.lock().cfg.will = Some(Will {
        topic,
        payload,
        qos,
        retain,
        properties,
    });
    super::props::free_list(props);
    SUCCESS
}
export!(mosquitto_will_set_v5, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_will_clear(m: *mut Mosq) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    mq.lock().cfg.will = None;
    SUCCESS
}
export!(mosquitto_will_clear, "MOSQ_1.0");

pub(super) unsafe fn mosquitto_username_pw_set_impl(
    m: *mut Mosq,
    username: *const c_char,
    password: *const c_char,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let username = match opt_str(username) {
        Ok(u) => u,
        Err(rc) => return rc,
    };
    let mut c = mq.lock();
    if c.cfg.version != ProtocolVersion::V5 && username.is_none() && !password.is_null() {
        return INVAL;
    }
    let password =
        (!password.is_null()).then(|| std::ffi::CStr::from_ptr(password).to_bytes().to_vec());
    c.cfg.username = username;
    c.cfg.password = password;
    SUCCESS
}
unsafe extern "C" fn mosquitto_username_pw_set(
    m: *mut Mosq,
    username: *const c_char,
    password: *const c_char,
) -> c_int {
    mosquitto_username_pw_set_impl(m, username, password)
}
export!(mosquitto_username_pw_set, "MOSQ_1.0");

/// Common part of every connect form.
unsafe fn connect_common(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
    bind: *const c_char,
    props: *const Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let host = match opt_str(host) {
        Ok(Some(h)) if !h.is_empty() => h,
        _ => return INVAL,
    };
    let bind = match opt_str(bind) {
        Ok(b) => b,
        Err(_) => return INVAL,
    };
    let (Ok(port), Ok(keepalive)) = (u16::try_from(port), u16::try_from(keepalive)) else {
        return INVAL;
    };
    if keepalive != 0 && keepalive < 5 {
        return INVAL;
    }
    let properties = from_list(props);
    mq.with(m, |c| {
        if !properties.is_empty() && c.cfg.version != ProtocolVersion::V5 {
            return NOT_SUPPORTED;
        }
        let rc = check_all(CMD_CONNECT, &properties);
        if rc != SUCCESS {
            return rc;
        }
        c.cfg.host = host;
        c.cfg.port = if port == 0 { 1883 } else { port };
        c.cfg.keepalive = keepalive;
        if bind.is_some() {
            c.cfg.bind = bind;
        }
        c.cfg.connect_props = properties;
        connect_with_errno(c)
    })
}

pub(super) unsafe fn mosquitto_connect_impl(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
) -> c_int {
    connect_common(m, host, port, keepalive, std::ptr::null(), std::ptr::null())
}
unsafe extern "C" fn mosquitto_connect(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
) -> c_int {
    mosquitto_connect_impl(m, host, port, keepalive)
}
export!(mosquitto_connect, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_connect_bind(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
    bind: *const c_char,
) -> c_int {
    connect_common(m, host, port, keepalive, bind, std::ptr::null())
}
export!(mosquitto_connect_bind, "MOSQ_1.2");

pub(super) unsafe extern "C" fn mosquitto_connect_bind_v5(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
    bind: *const c_char,
    props: *const Property,
) -> c_int {
    connect_common(m, host, port, keepalive, bind, props)
}
export!(mosquitto_connect_bind_v5, "MOSQ_1.6");

/// The `_async` forms connect as the blocking ones do (see README): the
/// result is the same once the loop runs.
pub(super) unsafe extern "C" fn mosquitto_connect_async(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
) -> c_int {
    connect_common(m, host, port, keepalive, std::ptr::null(), std::ptr::null())
}
export!(mosquitto_connect_async, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_connect_bind_async(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    keepalive: c_int,
    bind: *const c_char,
) -> c_int {
    connect_common(m, host, port, keepalive, bind, std::ptr::null())
}
export!(mosquitto_connect_bind_async, "MOSQ_1.2");

/// DNS SRV lookups are not built in (libmosquitto builds without them too
/// unless WITH_SRV).
pub(super) unsafe extern "C" fn mosquitto_connect_srv(
    m: *mut Mosq,
    _host: *const c_char,
    _keepalive: c_int,
    _bind: *const c_char,
) -> c_int {
    if m.is_null() {
        return INVAL;
    }
    NOT_SUPPORTED
}
export!(mosquitto_connect_srv, "MOSQ_1.3");

unsafe fn reconnect(m: *mut Mosq) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    mq.with(m, |c| {
        if c.cfg.host.is_empty() {
            return INVAL;
        }
        connect_with_errno(c)
    })
}

pub(super) unsafe extern "C" fn mosquitto_reconnect(m: *mut Mosq) -> c_int {
    reconnect(m)
}
export!(mosquitto_reconnect, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_reconnect_async(m: *mut Mosq) -> c_int {
    reconnect(m)
}
export!(mosquitto_reconnect_async, "MOSQ_1.2");

pub(super) unsafe fn mosquitto_disconnect_impl(m: *mut Mosq) -> c_int {
    mosquitto_disconnect_v5(m, 0, std::ptr::null())
}
unsafe extern "C" fn mosquitto_disconnect(m: *mut Mosq) -> c_int {
    mosquitto_disconnect_impl(m)
}
export!(mosquitto_disconnect, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_disconnect_v5(
    m: *mut Mosq,
    reason: c_int,
    props: *const Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let Ok(reason) = u8::try_from(reason) else {
        return INVAL;
    };
    let properties = from_list(props);
    mq.with(m, |c| {
        if c.cfg.version != ProtocolVersion::V5 && !properties.is_empty() {
            return NOT_SUPPORTED;
        }
        let rc = check_all(CMD_DISCONNECT, &properties);
        if rc != SUCCESS {
            return rc;
        }
        c.disconnect(reason, properties)
    })
}
export!(mosquitto_disconnect_v5, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_publish(
    m: *mut Mosq,
    mid: *mut c_int,
    topic: *const c_char,
    len: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
) -> c_int {
    mosquitto_publish_v5(m, mid, topic, len, payload, qos, retain, std::ptr::null())
}
export!(mosquitto_publish, "MOSQ_1.0");

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn mosquitto_publish_v5(
    m: *mut Mosq,
    mid: *mut c_int,
    topic: *const c_char,
    len: c_int,
    payload: *const c_void,
    qos: c_int,
    retain: bool,
    props: *const Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let Some(qos) = u8::try_from(qos).ok().and_then(QoS::from_u8) else {
        return INVAL;
    };
    let properties = from_list(props);
    let topic = match opt_str(topic) {
        Ok(t) => t.unwrap_or_default(),
        Err(rc) => return rc,
    };
    // MQTT 5 may publish through a topic alias alone.
    let alias_only = topic.is_empty() && properties.topic_alias().is_some();
    if !valid_topic_name(&topic) && !alias_only {
        return INVAL;
    }
    if !(0..=268_435_455).contains(&len) {
        return PAYLOAD_SIZE;
    }
    let payload = match bytes(payload, len) {
        Ok(b) => b.to_vec(),
        Err(rc) => return rc,
    };
    mq.with(m, |c| {
        if c.cfg.version != ProtocolVersion::V5 && !properties.is_empty() {
            return NOT_SUPPORTED;
        }
        let rc = check_all(CMD_PUBLISH, &properties);
        if rc != SUCCESS {
            return rc;
        }
        let id = c.next_mid();
        put(mid, c_int::from(id));
        let msg = Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id: if qos == QoS::AtMostOnce { 0 } else { id },
            payload,
            properties,
        };
        c.publish(msg, id)
    })
}
export!(mosquitto_publish_v5, "MOSQ_1.6");

pub(super) unsafe fn mosquitto_subscribe_impl(
    m: *mut Mosq,
    mid: *mut c_int,
    sub: *const c_char,
    qos: c_int,
) -> c_int {
    let subs = [sub.cast_mut()];
    mosquitto_subscribe_multiple(m, mid, 1, subs.as_ptr(), qos, 0, std::ptr::null())
}
unsafe extern "C" fn mosquitto_subscribe(
    m: *mut Mosq,
    mid: *mut c_int,
    sub: *const c_char,
    qos: c_int,
) -> c_int {
    mosquitto_subscribe_impl(m, mid, sub, qos)
}
export!(mosquitto_subscribe, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_subscribe_v5(
    m: *mut Mosq,
    mid: *mut c_int,
    sub: *const c_char,
    qos: c_int,
    options: c_int,
    props: *const Property,
) -> c_int {
    let subs = [sub.cast_mut()];
    mosquitto_subscribe_multiple(m, mid, 1, subs.as_ptr(), qos, options, props)
}
export!(mosquitto_subscribe_v5, "MOSQ_1.6");

/// The `count` strings of a C array, each a valid filter.
unsafe fn filters(count: c_int, subs: *const *mut c_char) -> Result<Vec<String>, c_int> {
    let n = usize::try_from(count).map_err(|_| INVAL)?;
    if n == 0 || subs.is_null() {
        return Err(INVAL);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match opt_str(*subs.add(i))? {
            Some(s) if valid_topic_filter(&s) => out.push(s),
            _ => return Err(INVAL),
        }
    }
    Ok(out)
}

pub(super) unsafe extern "C" fn mosquitto_subscribe_multiple(
    m: *mut Mosq,
    mid: *mut c_int,
    count: c_int,
    subs: *const *mut c_char,
    qos: c_int,
    options: c_int,
    props: *const Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let list = match filters(count, subs) {
        Ok(l) => l,
        Err(rc) => return rc,
    };
    let Some(q) = u8::try_from(qos).ok().and_then(QoS::from_u8) else {
        return INVAL;
    };
    // Options are the MQTT 5 bits above the QoS (no-local, RAP, handling).
    let Ok(opts) = u8::try_from(options & 0xFC)
        .ok()
        .and_then(|o| SubscriptionOptions::from_byte(o | q.as_u8()).ok())
        .ok_or(INVAL)
    else {
        return INVAL;
    };
    let properties = from_list(props);
    mq.with(m, |c| {
        if c.cfg.version != ProtocolVersion::V5 && (!properties.is_empty() || options & 0xFC != 0) {
            return NOT_SUPPORTED;
        }
        let rc = check_all(CMD_SUBSCRIBE, &properties);
        if rc != SUCCESS {
            return rc;
        }
        if c.stream.is_none() {
            return NO_CONN;
        }
        let id = c.next_mid();
        put(mid, c_int::from(id));
        let mut sub = Subscribe {
            packet_id: id,
            filters: Vec::new(),
            options: Vec::new(),
            properties,
        };
        for f in list {
            sub.push(f, opts);
        }
        c.subscribe(sub)
    })
}
export!(mosquitto_subscribe_multiple, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_unsubscribe(
    m: *mut Mosq,
    mid: *mut c_int,
    sub: *const c_char,
) -> c_int {
    let subs = [sub.cast_mut()];
    mosquitto_unsubscribe_multiple(m, mid, 1, subs.as_ptr(), std::ptr::null())
}
export!(mosquitto_unsubscribe, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_unsubscribe_v5(
    m: *mut Mosq,
    mid: *mut c_int,
    sub: *const c_char,
    props: *const Property,
) -> c_int {
    let subs = [sub.cast_mut()];
    mosquitto_unsubscribe_multiple(m, mid, 1, subs.as_ptr(), props)
}
export!(mosquitto_unsubscribe_v5, "MOSQ_1.6");

pub(super) unsafe extern "C" fn mosquitto_unsubscribe_multiple(
    m: *mut Mosq,
    mid: *mut c_int,
    count: c_int,
    subs: *const *mut c_char,
    props: *const Property,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let list = match filters(count, subs) {
        Ok(l) => l,
        Err(rc) => return rc,
    };
    let properties = from_list(props);
    mq.with(m, |c| {
        if c.cfg.version != ProtocolVersion::V5 && !properties.is_empty() {
            return NOT_SUPPORTED;
        }
        let rc = check_all(CMD_UNSUBSCRIBE, &properties);
        if rc != SUCCESS {
            return rc;
        }
        if c.stream.is_none() {
            return NO_CONN;
        }
        let id = c.next_mid();
        put(mid, c_int::from(id));
        c.unsubscribe(Unsubscribe {
            packet_id: id,
            filters: list,
            properties,
        })
    })
}
export!(mosquitto_unsubscribe_multiple, "MOSQ_1.6");

/// Whether the client is between connect and disconnect (for loop_forever).
pub fn wants_reconnect(c: &Client) -> bool {
    !matches!(c.state, ConnState::Disconnecting | ConnState::New)
}
