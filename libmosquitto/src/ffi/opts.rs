//! Settings: int/string/void options, TLS, SOCKS5, in-flight and reconnect.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::path::PathBuf;

use mosquitto_rs::protocol::ProtocolVersion;
use mosquitto_rs::tls::TlsClientOptions;

use super::{export, mosq, opt_str, Mosq};
use crate::consts::*;

pub(super) unsafe extern "C" fn mosquitto_int_option(
    m: *mut Mosq,
    option: c_int,
    value: c_int,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let mut c = mq.lock();
    match option {
        OPT_PROTOCOL_VERSION => {
            c.cfg.version = match value {
                3 => ProtocolVersion::V31,
                4 => ProtocolVersion::V311,
                5 => ProtocolVersion::V5,
                _ => return INVAL,
            }
        }
        OPT_RECEIVE_MAXIMUM => match u16::try_from(value) {
            Ok(v) if v > 0 => c.cfg.receive_maximum = v,
            _ => return INVAL,
        },
        OPT_SEND_MAXIMUM => match u16::try_from(value) {
            Ok(v) if v > 0 => c.cfg.max_inflight = v,
            _ => return INVAL,
        },
        OPT_SSL_CTX_WITH_DEFAULTS => {}
        OPT_TLS_OCSP_REQUIRED => tls(&mut c.cfg.tls).ocsp_required = value != 0,
        OPT_TLS_USE_OS_CERTS => tls(&mut c.cfg.tls).use_os_certs = value != 0,
        OPT_TCP_NODELAY => c.cfg.nodelay = value != 0,
        _ => return INVAL,
    }
    SUCCESS
}
export!(mosquitto_int_option, "MOSQ_1.6");

fn tls(t: &mut Option<TlsClientOptions>) -> &mut TlsClientOptions {
    t.get_or_insert_with(TlsClientOptions::default)
}

pub(super) unsafe extern "C" fn mosquitto_string_option(
    m: *mut Mosq,
    option: c_int,
    value: *const c_char,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let value = match opt_str(value) {
        Ok(v) => v,
        Err(rc) => return rc,
    };
    let mut c = mq.lock();
    match option {
        OPT_TLS_ALPN => tls(&mut c.cfg.tls).alpn = value,
        OPT_BIND_ADDRESS => c.cfg.bind = value,
        OPT_TLS_KEYFORM => match value.as_deref() {
            Some("pem") | None => {}
            Some("engine") => return NOT_SUPPORTED,
            Some(_) => return INVAL,
        },
        // OpenSSL engines are not supported (as in the project's tools).
        OPT_TLS_ENGINE | OPT_TLS_ENGINE_KPASS_SHA1 => return NOT_SUPPORTED,
        _ => return INVAL,
    }
    SUCCESS
}
export!(mosquitto_string_option, "MOSQ_1.6");

/// `MOSQ_OPT_SSL_CTX` (an application's own SSL_CTX) is not supported:
/// TLS contexts are made by the project's TLS layer.
pub(super) unsafe extern "C" fn mosquitto_void_option(
    m: *mut Mosq,
    option: c_int,
    value: *mut c_void,
) -> c_int {
    if m.is_null() {
        return INVAL;
    }
    match option {
        OPT_SSL_CTX if value.is_null() => SUCCESS,
        OPT_SSL_CTX => NOT_SUPPORTED,
        _ => INVAL,
    }
}
export!(mosquitto_void_option, "MOSQ_1.6");

/// The 1.4 form of the options: protocol version and SSL_CTX by pointer.
pub(super) unsafe extern "C" fn mosquitto_opts_set(
    m: *mut Mosq,
    option: c_int,
    value: *mut c_void,
) -> c_int {
    if m.is_null() {
        return INVAL;
    }
    match option {
        OPT_PROTOCOL_VERSION => match value.cast::<c_int>().as_ref() {
            Some(v) => mosquitto_int_option(m, option, *v),
            None => INVAL,
        },
        _ => mosquitto_void_option(m, option, value),
    }
}
export!(mosquitto_opts_set, "MOSQ_1.4");

pub(super) unsafe fn mosquitto_tls_set_impl(
    m: *mut Mosq,
    cafile: *const c_char,
    capath: *const c_char,
    certfile: *const c_char,
    keyfile: *const c_char,
    pw_callback: *const c_void,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let paths = [cafile, capath, certfile, keyfile].map(|p| opt_str(p));
    let [Ok(cafile), Ok(capath), Ok(certfile), Ok(keyfile)] = paths else {
        return INVAL;
    };
    if cafile.is_none() && capath.is_none() {
        return INVAL;
    }
    if certfile.is_some() != keyfile.is_some() {
        return INVAL;
    }
    // Encrypted keys need the password callback, which is not supported.
    if !pw_callback.is_null() {
        return NOT_SUPPORTED;
    }
    for f in [&cafile, &certfile, &keyfile].into_iter().flatten() {
        if std::fs::metadata(f).is_err() {
            return INVAL;
        }
    }
    if !cfg!(feature = "tls") {
        return NOT_SUPPORTED;
    }
    let mut c = mq.lock();
    let t = tls(&mut c.cfg.tls);
    t.cafile = cafile.map(PathBuf::from);
    t.capath = capath.map(PathBuf::from);
    t.certfile = certfile.map(PathBuf::from);
    t.keyfile = keyfile.map(PathBuf::from);
    SUCCESS
}
unsafe extern "C" fn mosquitto_tls_set(
    m: *mut Mosq,
    cafile: *const c_char,
    capath: *const c_char,
    certfile: *const c_char,
    keyfile: *const c_char,
    pw_callback: *const c_void,
) -> c_int {
    mosquitto_tls_set_impl(m, cafile, capath, certfile, keyfile, pw_callback)
}
export!(mosquitto_tls_set, "MOSQ_1.0");

pub(super) unsafe fn mosquitto_tls_opts_set_impl(
    m: *mut Mosq,
    cert_reqs: c_int,
    tls_version: *const c_char,
    ciphers: *const c_char,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let (Ok(version), Ok(ciphers)) = (opt_str(tls_version), opt_str(ciphers)) else {
        return INVAL;
    };
    if let Some(v) = version.as_deref() {
        if !matches!(v, "tlsv1.3" | "tlsv1.2" | "tlsv1.1") {
            return INVAL;
        }
    }
    // SSL_VERIFY_NONE (0) is refused: the server is always verified.
    if cert_reqs == 0 {
        return NOT_SUPPORTED;
    }
    let mut c = mq.lock();
    let t = tls(&mut c.cfg.tls);
    t.tls_version = version;
    t.ciphers = ciphers;
    SUCCESS
}
unsafe extern "C" fn mosquitto_tls_opts_set(
    m: *mut Mosq,
    cert_reqs: c_int,
    tls_version: *const c_char,
    ciphers: *const c_char,
) -> c_int {
    mosquitto_tls_opts_set_impl(m, cert_reqs, tls_version, ciphers)
}
export!(mosquitto_tls_opts_set, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_tls_insecure_set(m: *mut Mosq, value: bool) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    tls(&mut mq.lock().cfg.tls).insecure = value;
    SUCCESS
}
export!(mosquitto_tls_insecure_set, "MOSQ_1.2");

pub(super) unsafe extern "C" fn mosquitto_tls_psk_set(
    m: *mut Mosq,
    psk: *const c_char,
    identity: *const c_char,
    ciphers: *const c_char,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let (Ok(Some(psk)), Ok(Some(identity)), Ok(ciphers)) =
        (opt_str(psk), opt_str(identity), opt_str(ciphers))
    else {
        return INVAL;
    };
    if psk.is_empty() || !psk.bytes().all(|b| b.is_ascii_hexdigit()) {
        return INVAL;
    }
    if !cfg!(feature = "tls") {
        return NOT_SUPPORTED;
    }
    let mut c = mq.lock();
    let t = tls(&mut c.cfg.tls);
    t.psk = Some(psk);
    t.psk_identity = Some(identity);
    if ciphers.is_some() {
        t.ciphers = ciphers;
    }
    SUCCESS
}
export!(mosquitto_tls_psk_set, "MOSQ_1.0");

/// The SSL object is inside the project's TLS layer and not handed out.
pub(super) unsafe extern "C" fn mosquitto_ssl_get(_m: *mut Mosq) -> *mut c_void {
    std::ptr::null_mut()
}
export!(mosquitto_ssl_get, "MOSQ_1.7");

/// Connect through a SOCKS5 proxy (the broker's name is resolved by the
/// proxy); a NULL username means no login.
pub(super) unsafe extern "C" fn mosquitto_socks5_set(
    m: *mut Mosq,
    host: *const c_char,
    port: c_int,
    username: *const c_char,
    password: *const c_char,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let (Ok(Some(host)), Ok(username), Ok(password)) =
        (opt_str(host), opt_str(username), opt_str(password))
    else {
        return INVAL;
    };
    let Ok(port) = u16::try_from(port) else {
        return INVAL;
    };
    if port == 0 {
        return INVAL;
    }
    mq.lock().cfg.socks5 = Some(mosquitto_rs::client::socks::ProxyUrl {
        host,
        port,
        username,
        password,
    });
    SUCCESS
}
export!(mosquitto_socks5_set, "MOSQ_1.4");

pub(super) unsafe extern "C" fn mosquitto_reconnect_delay_set(
    m: *mut Mosq,
    delay: c_uint,
    delay_max: c_uint,
    exponential: bool,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    if delay_max < delay {
        return INVAL;
    }
    let mut c = mq.lock();
    c.cfg.reconnect_delay = delay;
    c.cfg.reconnect_delay_max = delay_max;
    c.cfg.reconnect_exponential = exponential;
    SUCCESS
}
export!(mosquitto_reconnect_delay_set, "MOSQ_1.2");

pub(super) unsafe extern "C" fn mosquitto_max_inflight_messages_set(
    m: *mut Mosq,
    max: c_uint,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    mq.lock().cfg.max_inflight = u16::try_from(max).unwrap_or(u16::MAX);
    SUCCESS
}
export!(mosquitto_max_inflight_messages_set, "MOSQ_1.2");

/// Deprecated in libmosquitto 2.0 and a no-op there too: messages are
/// retried on reconnect.
pub(super) unsafe extern "C" fn mosquitto_message_retry_set(_m: *mut Mosq, _retry: c_uint) {}
export!(mosquitto_message_retry_set, "MOSQ_1.0");

/// Threads are always safe to use here; nothing to set.
pub(super) unsafe extern "C" fn mosquitto_threaded_set(m: *mut Mosq, _threaded: bool) -> c_int {
    if m.is_null() {
        INVAL
    } else {
        SUCCESS
    }
}
export!(mosquitto_threaded_set, "MOSQ_1.4");
