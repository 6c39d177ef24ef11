//! The C boundary: every exported function, and all of the crate's `unsafe`.
//!
//! Each function checks its pointers for null and its lengths before use;
//! none panics (the workspace's release profile aborts on panic, so a panic
//! could not unwind into C anyway). Functions are exported under their
//! libmosquitto symbol versions by `export!`: the Rust function keeps a
//! mangled, local name and a `.symver` alias `name@@MOSQ_1.x` is the exported
//! symbol (rustc's own version script would otherwise give every export the
//! base version).
//!
//! Rule: an exported function is called only from its own module (rustc
//! gives a function used from another codegen unit hidden visibility, and
//! its versioned alias would then not be exported); shared code goes in a
//! `*_impl` function. `tests/abi.rs` catches a breach.
//!
//! A `struct mosquitto *` is a `Box<Mosq>`. Its protocol state is a
//! `Client` behind a mutex; the lock is never held while a callback runs, so
//! callbacks may call any function of the API, from any thread.

mod api;
mod callbacks;
mod helpers;
mod loops;
mod opts;
mod props;
mod util;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicPtr};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::client::Client;
use crate::consts::*;
pub use callbacks::Callbacks;

/// Exports `$name` as `$name@@$ver`.
macro_rules! export {
    ($name:ident, $ver:literal) => {
        std::arch::global_asm!(
            concat!(
                ".globl {f}\n.symver {f}, ",
                stringify!($name),
                "@@",
                $ver
            ),
            f = sym $name
        );
    };
}
pub(crate) use export;

/// What a `struct mosquitto *` points to.
pub struct Mosq {
    client: Mutex<Client>,
    cbs: Mutex<Callbacks>,
    userdata: AtomicPtr<c_void>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// pthread_self() of the loop thread (0: none), to tell a loop_stop
    /// from inside a callback without std's per-thread handle.
    loop_tid: std::sync::atomic::AtomicU64,
    /// loop_stop asked the loop thread to end.
    stop: AtomicBool,
    /// Written to wake a loop blocked in poll (new output, loop_stop).
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

impl Mosq {
    fn new(client: Client, userdata: *mut c_void) -> Option<Mosq> {
        let (wake_tx, wake_rx) = UnixStream::pair().ok()?;
        wake_tx.set_nonblocking(true).ok()?;
        wake_rx.set_nonblocking(true).ok()?;
        Some(Mosq {
            client: Mutex::new(client),
            cbs: Mutex::new(Callbacks::default()),
            userdata: AtomicPtr::new(userdata),
            thread: Mutex::new(None),
            loop_tid: std::sync::atomic::AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake_tx,
            wake_rx,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn callbacks(&self) -> Callbacks {
        *self.cbs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        use std::io::Write;
        let _ = (&self.wake_tx).write(&[0]);
    }

    /// Runs `f` on the client under the lock, then tells the callbacks
    /// what happened, without the lock.
    fn with<R>(&self, handle: *mut Mosq, f: impl FnOnce(&mut Client) -> R) -> R {
        let (r, events, want_write) = {
            let mut c = self.lock();
            let r = f(&mut c);
            // A closed connection must end a poll on it in the loop thread.
            let wake = c.want_write() || c.stream.is_none();
            (r, std::mem::take(&mut c.events), wake)
        };
        if want_write {
            self.wake();
        }
        let connected = events
            .iter()
            .any(|e| matches!(e, crate::client::Event::Connect { .. }));
        callbacks::dispatch(self, handle, events);
        if connected {
            let mut c = self.lock();
            c.after_callbacks();
            let more = std::mem::take(&mut c.events);
            drop(c);
            callbacks::dispatch(self, handle, more);
        }
        r
    }
}

/// The `Mosq` behind a handle from C, or `None` for null.
///
/// SAFETY (callers): `p` is null or a pointer from `mosquitto_new` that has
/// not been destroyed, as libmosquitto requires of its callers.
unsafe fn mosq<'a>(p: *mut Mosq) -> Option<&'a Mosq> {
    p.as_ref()
}

/// A C string argument: `Ok(None)` for null, an error for bad UTF-8.
///
/// SAFETY (callers): `p` is null or a NUL-terminated string.
unsafe fn opt_str(p: *const c_char) -> Result<Option<String>, c_int> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p)
        .to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| MALFORMED_UTF8)
}

/// A byte buffer argument of `len` bytes (null allowed when `len` is 0).
///
/// SAFETY (callers): `p` points to `len` readable bytes, or `len` is 0.
unsafe fn bytes<'a>(p: *const c_void, len: c_int) -> Result<&'a [u8], c_int> {
    let len = usize::try_from(len).map_err(|_| PAYLOAD_SIZE)?;
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(INVAL);
    }
    Ok(std::slice::from_raw_parts(p.cast::<u8>(), len))
}

/// This thread's pthread id.
fn self_tid() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() }
}

/// `b` copied into memory the caller `free`s, with a NUL after it (the
/// library's one helper for that, shared with the broker's plugin API).
use mosquitto_rs::capi::calloc_copy as malloc_bytes;

/// Stores `v` through an out-pointer the caller may pass as null.
///
/// SAFETY (callers): `p` is null or valid for a write of T.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        p.write(v);
    }
}
