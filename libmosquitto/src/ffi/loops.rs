//! The network loop in every form: `loop`, `loop_forever`, the loop thread
//! (`loop_start`/`loop_stop`), and the pieces for callers with their own
//! poll (`socket`, `want_write`, `loop_read`/`loop_write`/`loop_misc`).

use std::ffi::c_int;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{export, mosq, Mosq};
use crate::client::ConnState;
use crate::consts::*;

/// The handle, movable to the loop thread. The application keeps it alive
/// until loop_stop/destroy (which join the thread first).
struct SendPtr(*mut Mosq);
// SAFETY: Mosq's shared state is behind mutexes and atomics; the pointer
// outlives the thread (destroy joins it).
unsafe impl Send for SendPtr {}

/// One loop turn (`mosquitto_loop`).
fn run_once(mq: &Mosq, h: *mut Mosq, timeout: c_int) -> c_int {
    let (fd, want_write, ka_ms) = {
        let c = mq.lock();
        match c.fd() {
            Some(fd) => (fd, c.want_write(), c.next_keepalive_ms()),
            None => return NO_CONN,
        }
    };
    let mut ms = if timeout < 0 { 1000 } else { timeout };
    if let Some(k) = ka_ms {
        ms = ms.min(c_int::try_from(k).unwrap_or(c_int::MAX));
    }
    let mut events = libc::POLLIN;
    if want_write {
        events |= libc::POLLOUT;
    }
    let mut fds = [
        libc::pollfd {
            fd,
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: mq.wake_rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    match mosquitto_rs::sys::poll::poll(&mut fds, ms) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return SUCCESS,
        Err(_) => return ERRNO,
    }
    if fds[1].revents != 0 {
        let mut buf = [0u8; 64];
        while matches!((&mq.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }
    let r = fds[0].revents;
    if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
        let rc = mq.with(h, |c| {
            if c.fd() == Some(fd) {
                c.read()
            } else {
                SUCCESS
            }
        });
        if rc == ERRNO {
            super::api::set_errno(mq.lock().os_errno);
        }
        if rc != SUCCESS {
            return rc;
        }
    }
    if r & libc::POLLOUT != 0 {
        let rc = mq.with(h, |c| {
            if c.fd() == Some(fd) {
                c.write()
            } else {
                SUCCESS
            }
        });
        if rc != SUCCESS {
            return rc;
        }
    }
    mq.with(h, |c| if c.fd().is_some() { c.misc() } else { SUCCESS })
}

pub(super) unsafe extern "C" fn mosquitto_loop(
    m: *mut Mosq,
    timeout: c_int,
    _max_packets: c_int,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    if timeout < -1 {
        return INVAL;
    }
    run_once(mq, m, timeout)
}
export!(mosquitto_loop, "MOSQ_1.0");

/// Errors after which loop_forever gives up rather than reconnecting.
fn fatal(rc: c_int) -> bool {
    matches!(rc, 1 | 2 | 3 | 6 | 8 | 9 | 10 | 11 | 12 | 13 | 15 | 16)
}

/// Sleeps `secs` unless loop_stop wakes it; false when asked to stop.
fn interruptible_sleep(mq: &Mosq, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if mq.stop.load(Ordering::Acquire) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let mut fds = [libc::pollfd {
            fd: mq.wake_rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = c_int::try_from(left.as_millis()).unwrap_or(c_int::MAX);
        let _ = mosquitto_rs::sys::poll::poll(&mut fds, ms);
        let mut buf = [0u8; 64];
        while matches!((&mq.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// `mosquitto_loop_forever`: loops until the application disconnects,
/// reconnecting after losses with the configured delay and back-off.
fn forever(mq: &Mosq, h: *mut Mosq, timeout: c_int) -> c_int {
    mq.lock().reconnects = 0;
    loop {
        let mut rc;
        loop {
            if mq.stop.load(Ordering::Acquire) {
                return SUCCESS;
            }
            rc = run_once(mq, h, timeout);
            if rc != SUCCESS {
                break;
            }
        }
        // A TLS protocol error (errno EPROTO) ends the loop too.
        if fatal(rc) || (rc == ERRNO && mq.lock().os_errno == libc::EPROTO) {
            if rc == ERRNO {
                super::api::set_errno(libc::EPROTO);
            }
            return rc;
        }
        loop {
            let delay = {
                let mut c = mq.lock();
                if !super::api::wants_reconnect(&c) || mq.stop.load(Ordering::Acquire) {
                    return SUCCESS;
                }
                c.reconnect_delay()
            };
            if !interruptible_sleep(mq, delay) {
                return SUCCESS;
            }
            let rc = mq.with(h, |c| {
                if c.state == ConnState::Disconnecting {
                    return SUCCESS;
                }
                c.connect()
            });
            if mq.lock().state == ConnState::Disconnecting {
                return SUCCESS;
            }
            if rc == SUCCESS {
                break;
            }
        }
    }
}

pub(super) unsafe fn mosquitto_loop_forever_impl(
    m: *mut Mosq,
    timeout: c_int,
    _max_packets: c_int,
) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    forever(mq, m, timeout)
}
unsafe extern "C" fn mosquitto_loop_forever(
    m: *mut Mosq,
    timeout: c_int,
    _max_packets: c_int,
) -> c_int {
    mosquitto_loop_forever_impl(m, timeout, _max_packets)
}
export!(mosquitto_loop_forever, "MOSQ_1.1");

pub(super) unsafe extern "C" fn mosquitto_loop_start(m: *mut Mosq) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    let mut t = mq.thread.lock().unwrap_or_else(|e| e.into_inner());
    if t.is_some() {
        return INVAL;
    }
    mq.stop.store(false, Ordering::Release);
    let p = SendPtr(m);
    let spawned = std::thread::Builder::new()
        .name("mosquitto loop".into())
        .spawn(move || {
            let p = p;
            // SAFETY: the handle outlives the thread (see SendPtr).
            if let Some(mq) = unsafe { p.0.as_ref() } {
                mq.loop_tid.store(super::self_tid(), Ordering::Release);
                forever(mq, p.0, 1000);
            }
        });
    match spawned {
        Ok(j) => {
            *t = Some(j);
            SUCCESS
        }
        Err(_) => ERRNO,
    }
}
export!(mosquitto_loop_start, "MOSQ_1.0");

/// Ends the loop thread. Without `force` the thread ends when the
/// application's disconnect completes, as libmosquitto's; with it, now.
pub fn stop_thread(mq: &Mosq, force: bool) -> c_int {
    let handle = mq.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(handle) = handle else {
        return INVAL;
    };
    if mq.loop_tid.load(Ordering::Acquire) == super::self_tid() {
        // Called from a callback on the loop thread: cannot join itself.
        mq.stop.store(true, Ordering::Release);
        return INVAL;
    }
    if force {
        mq.stop.store(true, Ordering::Release);
    }
    mq.wake();
    let _ = handle.join();
    mq.loop_tid.store(0, Ordering::Release);
    mq.stop.store(false, Ordering::Release);
    SUCCESS
}

pub(super) unsafe extern "C" fn mosquitto_loop_stop(m: *mut Mosq, force: bool) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    stop_thread(mq, force)
}
export!(mosquitto_loop_stop, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_loop_read(m: *mut Mosq, max_packets: c_int) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    if max_packets < 1 {
        return INVAL;
    }
    mq.with(m, |c| c.read())
}
export!(mosquitto_loop_read, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_loop_write(m: *mut Mosq, max_packets: c_int) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    if max_packets < 1 {
        return INVAL;
    }
    mq.with(m, |c| c.write())
}
export!(mosquitto_loop_write, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_loop_misc(m: *mut Mosq) -> c_int {
    let Some(mq) = mosq(m) else { return INVAL };
    mq.with(m, |c| c.misc())
}
export!(mosquitto_loop_misc, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_socket(m: *mut Mosq) -> c_int {
    mosq(m).and_then(|mq| mq.lock().fd()).unwrap_or(-1)
}
export!(mosquitto_socket, "MOSQ_1.0");

pub(super) unsafe extern "C" fn mosquitto_want_write(m: *mut Mosq) -> bool {
    mosq(m).is_some_and(|mq| mq.lock().want_write())
}
export!(mosquitto_want_write, "MOSQ_1.0");
