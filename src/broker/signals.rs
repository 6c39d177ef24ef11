//! Signals reach the poll loop through a self-pipe: the handler only writes
//! the signal number to a non-blocking pipe, which is async-signal-safe; the
//! loop reads it like any other event.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) on a valid fd with a one-byte stack buffer; a full
        // pipe just drops the byte, which is fine (the signal is pending).
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// The read end of the signal pipe.
pub struct SignalPipe {
    pub read_fd: RawFd,
}

/// The signals the broker acts on.
pub const HANDLED: [libc::c_int; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

impl SignalPipe {
    pub fn install() -> io::Result<SignalPipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two-element array we pass.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        WRITE_FD.store(fds[1], Ordering::Relaxed);
        for sig in HANDLED {
            // SAFETY: installing a handler that only performs write(2).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        // A client vanishing mid-write must not kill the broker.
        // SAFETY: ignoring SIGPIPE is always sound.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        Ok(SignalPipe { read_fd: fds[0] })
    }

    /// Signals received since the last call.
    pub fn drain(&self, out: &mut Vec<libc::c_int>) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: read(2) into a stack buffer of the given length.
            let n = unsafe { libc::read(self.read_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend(buf.iter().take(n as usize).map(|&b| libc::c_int::from(b)));
        }
    }
}
