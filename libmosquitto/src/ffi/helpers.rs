//! libmosquitto's helpers `subscribe_simple` and `subscribe_callback`,
//! written on the API itself (`lib/helpers.c`).

use std::ffi::{c_char, c_int, c_void};

use super::callbacks::Message;
use super::util::{mosquitto_message_copy_impl, mosquitto_message_free_contents_impl};
use super::{api, export, Mosq};
use crate::consts::*;

#[repr(C)]
pub struct LibWill {
    topic: *mut c_char,
    payload: *mut c_void,
    payloadlen: c_int,
    qos: c_int,
    retain: bool,
}

#[repr(C)]
pub struct LibTls {
    cafile: *mut c_char,
    capath: *mut c_char,
    certfile: *mut c_char,
    keyfile: *mut c_char,
    ciphers: *mut c_char,
    tls_version: *mut c_char,
    pw_callback: *const c_void,
    cert_reqs: c_int,
}

type UserCallback = extern "C" fn(*mut Mosq, *mut c_void, *const Message) -> c_int;

/// What `subscribe_callback`'s internal callbacks need.
struct Helper {
    callback: UserCallback,
    userdata: *mut c_void,
    topic: *const c_char,
    qos: c_int,
}

extern "C" fn helper_connect(m: *mut Mosq, obj: *mut c_void, rc: c_int) {
    // SAFETY: obj is the Helper on subscribe_callback's stack, alive for
    // the whole loop.
    if let (0, Some(h)) = (rc, unsafe { obj.cast::<Helper>().as_ref() }) {
        unsafe { api::mosquitto_subscribe_impl(m, std::ptr::null_mut(), h.topic, h.qos) };
    }
}

extern "C" fn helper_message(m: *mut Mosq, obj: *mut c_void, msg: *const Message) {
    // SAFETY: as in helper_connect.
    if let Some(h) = unsafe { obj.cast::<Helper>().as_ref() } {
        if (h.callback)(m, h.userdata, msg) != 0 {
            unsafe { api::mosquitto_disconnect_impl(m) };
        }
    }
}

/// Connects, subscribes and hands each message to `callback` until it
/// returns non-zero (libmosquitto's helper).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn mosquitto_subscribe_callback(
    callback: Option<UserCallback>,
    userdata: *mut c_void,
    topic: *const c_char,
    qos: c_int,
    host: *const c_char,
    port: c_int,
    client_id: *const c_char,
    keepalive: c_int,
    clean_session: bool,
    username: *const c_char,
    password: *const c_char,
    will: *const LibWill,
    tls: *const LibTls,
) -> c_int {
    let Some(callback) = callback else {
        return INVAL;
    };
    if topic.is_null() || !(0..=2).contains(&qos) {
        return INVAL;
    }
    let mut helper = Helper {
        callback,
        userdata,
        topic,
        qos,
    };
    let m = api::mosquitto_new_impl(
        client_id,
        clean_session,
        (&mut helper as *mut Helper).cast(),
    );
    if m.is_null() {
        return NOMEM;
    }
    let rc = setup(m, username, password, will, tls);
    let rc = if rc != SUCCESS {
        rc
    } else {
        if let Some(mq) = m.as_ref() {
            let mut cbs = mq.cbs.lock().unwrap_or_else(|e| e.into_inner());
            cbs.connect = Some(helper_connect);
            cbs.message = Some(helper_message);
        }
        match api::mosquitto_connect_impl(m, host, port, keepalive) {
            SUCCESS => super::loops::mosquitto_loop_forever_impl(m, -1, 1),
            rc => rc,
        }
    };
    api::mosquitto_destroy_impl(m);
    rc
}
export!(mosquitto_subscribe_callback, "MOSQ_1.5");

unsafe fn setup(
    m: *mut Mosq,
    username: *const c_char,
    password: *const c_char,
    will: *const LibWill,
    tls: *const LibTls,
) -> c_int {
    if let Some(w) = will.as_ref() {
        let rc = api::mosquitto_will_set_impl(m, w.topic, w.payloadlen, w.payload, w.qos, w.retain);
        if rc != SUCCESS {
            return rc;
        }
    }
    if !username.is_null() {
        let rc = api::mosquitto_username_pw_set_impl(m, username, password);
        if rc != SUCCESS {
            return rc;
        }
    }
    if let Some(t) = tls.as_ref() {
        let rc = super::opts::mosquitto_tls_set_impl(
            m,
            t.cafile,
            t.capath,
            t.certfile,
            t.keyfile,
            t.pw_callback,
        );
        if rc != SUCCESS {
            return rc;
        }
        let rc = super::opts::mosquitto_tls_opts_set_impl(m, t.cert_reqs, t.tls_version, t.ciphers);
        if rc != SUCCESS {
            return rc;
        }
    }
    SUCCESS
}

/// `subscribe_simple`'s state: the `malloc`ed array being filled.
struct Simple {
    messages: *mut Message,
    count: usize,
    left: usize,
    want_retained: bool,
}

extern "C" fn simple_message(_m: *mut Mosq, obj: *mut c_void, msg: *const Message) -> c_int {
    // SAFETY: obj is the Simple on subscribe_simple's stack; messages has
    // room for `count + left` entries.
    unsafe {
        let (Some(s), Some(mm)) = (obj.cast::<Simple>().as_mut(), msg.as_ref()) else {
            return 1;
        };
        if s.left == 0 {
            return 1;
        }
        if !s.want_retained && mm.retain {
            return 0;
        }
        if mosquitto_message_copy_impl(s.messages.add(s.count), msg) != SUCCESS {
            return 1;
        }
        s.count += 1;
        s.left -= 1;
        c_int::from(s.left == 0)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn mosquitto_subscribe_simple(
    messages: *mut *mut Message,
    msg_count: c_int,
    want_retained: bool,
    topic: *const c_char,
    qos: c_int,
    host: *const c_char,
    port: c_int,
    client_id: *const c_char,
    keepalive: c_int,
    clean_session: bool,
    username: *const c_char,
    password: *const c_char,
    will: *const LibWill,
    tls: *const LibTls,
) -> c_int {
    let Ok(n) = usize::try_from(msg_count) else {
        return INVAL;
    };
    if messages.is_null() || n == 0 {
        return INVAL;
    }
    *messages = std::ptr::null_mut();
    let arr = libc::calloc(n, std::mem::size_of::<Message>()).cast::<Message>();
    if arr.is_null() {
        return NOMEM;
    }
    let mut s = Simple {
        messages: arr,
        count: 0,
        left: n,
        want_retained,
    };
    let rc = mosquitto_subscribe_callback(
        Some(simple_message),
        (&mut s as *mut Simple).cast(),
        topic,
        qos,
        host,
        port,
        client_id,
        keepalive,
        clean_session,
        username,
        password,
        will,
        tls,
    );
    if rc == SUCCESS && s.left == 0 {
        *messages = arr;
        return SUCCESS;
    }
    for i in 0..s.count {
        mosquitto_message_free_contents_impl(arr.add(i));
    }
    libc::free(arr.cast());
    if rc == SUCCESS {
        NO_CONN
    } else {
        rc
    }
}
export!(mosquitto_subscribe_simple, "MOSQ_1.5");
