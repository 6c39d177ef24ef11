//! C API code that both the broker's plugin API and libmosquitto.so.1
//! export: plain `extern "C"` functions with mangled names (no
//! `#[no_mangle]`: this library is linked into both the broker binary and
//! the client library, and each exports the names its own way).
//!
//! - `properties`: the `mosquitto_property_*` lists, built on `protocol`'s
//!   property codec and rules.

pub mod properties;

use std::ffi::{c_int, c_void};

// mosquitto's MOSQ_ERR_* codes used here.
pub const MOSQ_ERR_SUCCESS: c_int = 0;
pub const MOSQ_ERR_PROTOCOL: c_int = 2;
pub const MOSQ_ERR_INVAL: c_int = 3;
pub const MOSQ_ERR_MALFORMED_UTF8: c_int = 18;
pub const MOSQ_ERR_DUPLICATE_PROPERTY: c_int = 22;

/// `bytes` and a NUL after them in `calloc`ed memory, as mosquitto hands
/// strings and buffers to C callers (who `free` them); null when out of
/// memory.
pub fn calloc_copy(bytes: &[u8]) -> *mut c_void {
    // SAFETY: calloc of len + 1 zeroed bytes; checked for null.
    let p = unsafe { libc::calloc(1, bytes.len() + 1) };
    if !p.is_null() {
        // SAFETY: p holds len + 1 bytes, distinct from `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), bytes.len()) };
    }
    p
}

/// Stores `v` through an out-pointer the C caller may pass as null.
fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-null; by the API's contract a pointer to a T.
        unsafe { out.write(v) };
    }
}
