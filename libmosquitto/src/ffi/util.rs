//! Library-wide and helper functions: init/version, strings, topics, UTF-8,
//! message copies, and `subscribe_simple`/`subscribe_callback`.

use std::ffi::{c_char, c_int, CStr};

use mosquitto_rs::protocol::topic::matches;
use mosquitto_rs::protocol::ReasonCode;

use super::callbacks::Message;
use super::{export, malloc_bytes, put};
use crate::consts::*;

pub(super) extern "C" fn mosquitto_lib_init() -> c_int {
    SUCCESS
}
export!(mosquitto_lib_init, "MOSQ_1.0");

pub(super) extern "C" fn mosquitto_lib_cleanup() -> c_int {
    SUCCESS
}
export!(mosquitto_lib_cleanup, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_lib_version(
    major: *mut c_int,
    minor: *mut c_int,
    revision: *mut c_int,
) -> c_int {
    put(major, VERSION.0);
    put(minor, VERSION.1);
    put(revision, VERSION.2);
    VERSION.0 * 1_000_000 + VERSION.1 * 1000 + VERSION.2
}
export!(mosquitto_lib_version, "MOSQ_1.0");

/// A static NUL-terminated copy of each string the API hands out; strings
/// live for the process, as libmosquitto's constants do.
fn static_cstr(s: &'static str) -> *const c_char {
    use std::sync::Mutex;
    // A Vec (not a HashMap, whose table valgrind sees only through an
    // interior pointer): at most the few dozen texts the API has.
    static CACHE: Mutex<Vec<(&'static str, Box<CStr>)>> = Mutex::new(Vec::new());
    let mut g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = g.iter().find(|(k, _)| *k == s) {
        return c.as_ptr();
    }
    let c = std::ffi::CString::new(s)
        .unwrap_or_default()
        .into_boxed_c_str();
    let p = c.as_ptr();
    g.push((s, c));
    p
}

pub(super) extern "C" fn mosquitto_strerror(rc: c_int) -> *const c_char {
    if rc == ERRNO {
        // SAFETY: strerror returns a valid C string for any errno value.
        return unsafe { libc::strerror(*libc::__errno_location()) };
    }
    static_cstr(strerror(rc))
}
export!(mosquitto_strerror, "MOSQ_1.0");

pub(super) extern "C" fn mosquitto_connack_string(code: c_int) -> *const c_char {
    static_cstr(connack_string(code))
}
export!(mosquitto_connack_string, "MOSQ_1.0");

pub(super) extern "C" fn mosquitto_reason_string(code: c_int) -> *const c_char {
    match u8::try_from(code) {
        Ok(c) => static_cstr(ReasonCode(c).name()),
        Err(_) => static_cstr("Unknown reason"),
    }
}
export!(mosquitto_reason_string, "MOSQ_1.6");

/// libmosquitto's limit on topic levels.
const HIERARCHY_LIMIT: usize = 200;

fn pub_topic_ok(t: &[u8]) -> bool {
    !t.contains(&b'+')
        && !t.contains(&b'#')
        && t.len() <= 65535
        && t.iter().filter(|b| **b == b'/').count() <= HIERARCHY_LIMIT
}

fn sub_topic_ok(t: &[u8]) -> bool {
    let levels = t.split(|b| *b == b'/');
    let n = t.split(|b| *b == b'/').count();
    for (i, level) in levels.enumerate() {
        if level.contains(&b'#') && (level != b"#" || i + 1 != n) {
            return false;
        }
        if level.contains(&b'+') && level != b"+" {
            return false;
        }
    }
    t.len() <= 65535 && n <= HIERARCHY_LIMIT + 1
}

/// SAFETY (callers): `p` null or NUL-terminated.
unsafe fn cbytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes())
}

/// SAFETY (callers): `p` null or valid for `len` bytes.
unsafe fn lbytes<'a>(p: *const c_char, len: usize) -> Option<&'a [u8]> {
    (!p.is_null()).then(|| std::slice::from_raw_parts(p.cast::<u8>(), len))
}

fn rc_of(ok: bool) -> c_int {
    if ok {
        SUCCESS
    } else {
        INVAL
    }
}

pub(super) unsafe extern "C" fn mosquitto_pub_topic_check(t: *const c_char) -> c_int {
    rc_of(cbytes(t).is_some_and(pub_topic_ok))
}
export!(mosquitto_pub_topic_check, "MOSQ_1.4");

pub(super) unsafe extern "C" fn mosquitto_pub_topic_check2(t: *const c_char, len: usize) -> c_int {
    rc_of(lbytes(t, len).is_some_and(pub_topic_ok))
}
export!(mosquitto_pub_topic_check2, "MOSQ_1.5");

pub(super) unsafe extern "C" fn mosquitto_sub_topic_check(t: *const c_char) -> c_int {
    rc_of(cbytes(t).is_some_and(sub_topic_ok))
}
export!(mosquitto_sub_topic_check, "MOSQ_1.4");

pub(super) unsafe extern "C" fn mosquitto_sub_topic_check2(t: *const c_char, len: usize) -> c_int {
    rc_of(lbytes(t, len).is_some_and(sub_topic_ok))
}
export!(mosquitto_sub_topic_check2, "MOSQ_1.5");

fn topic_matches(sub: &[u8], topic: &[u8], result: *mut bool) -> c_int {
    // SAFETY (of put): result checked non-null by callers.
    let (Ok(s), Ok(t)) = (std::str::from_utf8(sub), std::str::from_utf8(topic)) else {
        return INVAL;
    };
    if s.is_empty() || t.is_empty() || !sub_topic_ok(sub) || t.contains(['+', '#']) {
        return INVAL;
    }
    unsafe { put(result, matches(s, t)) };
    SUCCESS
}

pub(super) unsafe extern "C" fn mosquitto_topic_matches_sub(
    sub: *const c_char,
    topic: *const c_char,
    result: *mut bool,
) -> c_int {
    match (cbytes(sub), cbytes(topic)) {
        (Some(s), Some(t)) if !result.is_null() => {
            put(result, false);
            topic_matches(s, t, result)
        }
        _ => INVAL,
    }
}
export!(mosquitto_topic_matches_sub, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_topic_matches_sub2(
    sub: *const c_char,
    sublen: usize,
    topic: *const c_char,
    topiclen: usize,
    result: *mut bool,
) -> c_int {
    match (lbytes(sub, sublen), lbytes(topic, topiclen)) {
        (Some(s), Some(t)) if !result.is_null() => {
            put(result, false);
            topic_matches(s, t, result)
        }
        _ => INVAL,
    }
}
export!(mosquitto_topic_matches_sub2, "MOSQ_1.5");

/// Splits a topic into levels: `*topics` is a `malloc`ed array of
/// `malloc`ed strings (NULL for an empty level), freed by
/// `mosquitto_sub_topic_tokens_free`.
pub(super) unsafe extern "C" fn mosquitto_sub_topic_tokenise(
    subtopic: *const c_char,
    topics: *mut *mut *mut c_char,
    count: *mut c_int,
) -> c_int {
    let Some(t) = cbytes(subtopic) else {
        return INVAL;
    };
    if topics.is_null() || count.is_null() || t.is_empty() {
        return INVAL;
    }
    let levels: Vec<&[u8]> = t.split(|b| *b == b'/').collect();
    let Ok(n) = c_int::try_from(levels.len()) else {
        return INVAL;
    };
    let arr = libc::calloc(levels.len(), std::mem::size_of::<*mut c_char>()).cast::<*mut c_char>();
    if arr.is_null() {
        return NOMEM;
    }
    for (i, level) in levels.iter().enumerate() {
        if !level.is_empty() {
            let s = malloc_bytes(level).cast::<c_char>();
            if s.is_null() {
                free_tokens(arr, i);
                return NOMEM;
            }
            *arr.add(i) = s;
        }
    }
    *topics = arr;
    *count = n;
    SUCCESS
}
export!(mosquitto_sub_topic_tokenise, "MOSQ_1.0");

unsafe fn free_tokens(arr: *mut *mut c_char, n: usize) {
    for i in 0..n {
        libc::free((*arr.add(i)).cast());
    }
    libc::free(arr.cast());
}

pub(super) unsafe extern "C" fn mosquitto_sub_topic_tokens_free(
    topics: *mut *mut *mut c_char,
    count: c_int,
) -> c_int {
    let (Some(t), Ok(n)) = (topics.as_mut(), usize::try_from(count)) else {
        return INVAL;
    };
    if t.is_null() || n == 0 {
        return INVAL;
    }
    free_tokens(*t, n);
    *t = std::ptr::null_mut();
    SUCCESS
}
export!(mosquitto_sub_topic_tokens_free, "MOSQ_1.0");

/// mosquitto's UTF-8 rules: well-formed, and no NUL, control characters
/// or non-characters.
fn utf8_ok(b: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(b) else {
        return false;
    };
    s.chars().all(|c| {
        let cp = u32::from(c);
        !(cp <= 0x1F
            || (0x7F..=0x9F).contains(&cp)
            || (0xFDD0..=0xFDEF).contains(&cp)
            || cp & 0xFFFE == 0xFFFE)
    })
}

pub(super) unsafe extern "C" fn mosquitto_validate_utf8(s: *const c_char, len: c_int) -> c_int {
    if s.is_null() || !(0..=65536).contains(&len) {
        return INVAL;
    }
    let b = std::slice::from_raw_parts(s.cast::<u8>(), usize::try_from(len).unwrap_or(0));
    if utf8_ok(b) {
        SUCCESS
    } else {
        MALFORMED_UTF8
    }
}
export!(mosquitto_validate_utf8, "MOSQ_1.5");

/// Copies a message into `malloc`ed memory the caller frees with
/// `mosquitto_message_free(_contents)`.
pub(super) unsafe fn mosquitto_message_copy_impl(dst: *mut Message, src: *const Message) -> c_int {
    let (Some(d), Some(s)) = (dst.as_mut(), src.as_ref()) else {
        return INVAL;
    };
    let topic = match cbytes(s.topic) {
        Some(t) => malloc_bytes(t).cast::<c_char>(),
        None => std::ptr::null_mut(),
    };
    if !s.topic.is_null() && topic.is_null() {
        return NOMEM;
    }
    let mut payload = std::ptr::null_mut();
    if s.payloadlen > 0 && !s.payload.is_null() {
        let len = usize::try_from(s.payloadlen).unwrap_or(0);
        payload = malloc_bytes(std::slice::from_raw_parts(s.payload.cast::<u8>(), len));
        if payload.is_null() {
            libc::free(topic.cast());
            return NOMEM;
        }
    }
    *d = Message {
        mid: s.mid,
        topic,
        payload,
        payloadlen: s.payloadlen,
        qos: s.qos,
        retain: s.retain,
    };
    SUCCESS
}
unsafe extern "C" fn mosquitto_message_copy(dst: *mut Message, src: *const Message) -> c_int {
    mosquitto_message_copy_impl(dst, src)
}
export!(mosquitto_message_copy, "MOSQ_1.0");

pub(super) unsafe fn mosquitto_message_free_contents_impl(m: *mut Message) {
    if let Some(m) = m.as_mut() {
        libc::free(m.topic.cast());
        libc::free(m.payload);
        m.topic = std::ptr::null_mut();
        m.payload = std::ptr::null_mut();
    }
}
unsafe extern "C" fn mosquitto_message_free_contents(m: *mut Message) {
    mosquitto_message_free_contents_impl(m)
}
export!(mosquitto_message_free_contents, "MOSQ_1.5");

pub(super) unsafe extern "C" fn mosquitto_message_free(m: *mut *mut Message) {
    if let Some(p) = m.as_mut() {
        if !p.is_null() {
            mosquitto_message_free_contents_impl(*p);
            libc::free((*p).cast());
            *p = std::ptr::null_mut();
        }
    }
}
export!(mosquitto_message_free, "MOSQ_1.0");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_rules_are_mosquittos() {
        assert!(utf8_ok("a/b/ü/主题".as_bytes()));
        for bad in [
            &b"a\0b"[..],
            b"\x01",
            b"\xc2\x80",
            b"\xef\xbf\xbf",
            b"\xed\xa0\x80",
            b"\xff",
        ] {
            assert!(!utf8_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn topic_checks() {
        assert!(pub_topic_ok(b"a/b"));
        assert!(!pub_topic_ok(b"a/+"));
        assert!(sub_topic_ok(b"a/+/#"));
        assert!(!sub_topic_ok(b"a/#/b"));
        assert!(!sub_topic_ok(b"a/b+"));
        let deep = "a/".repeat(HIERARCHY_LIMIT + 1);
        assert!(!pub_topic_ok(deep.as_bytes()));
    }
}
