//! Signals reach a poll loop through a self-pipe: the handler only writes
//! the signal number to a non-blocking pipe, which is async-signal-safe; the
//! loop reads it like any other event, so a signal can never be lost between
//! checking a flag and going to sleep. One implementation for the broker
//! (registered with its `mio::Poll`) and the clients (whose `poll(2)` waits
//! on [`SignalPipe::fd`]).

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use mio::unix::pipe;

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

/// The signals the broker acts on.
pub const BROKER_SIGNALS: [libc::c_int; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The read end of the signal pipe (the write end is kept open with it).
/// Dropping it does not restore the handlers: the process is about to exit.
pub struct SignalPipe {
    read: pipe::Receiver,
    _write: pipe::Sender,
}

impl SignalPipe {
    /// Routes `signals` to a new pipe (the clients: SIGINT, SIGTERM).
    pub fn install(signals: &[libc::c_int]) -> io::Result<SignalPipe> {
        Self::install_with(signals, 0)
    }

    /// The broker's signals, with SA_RESTART, and SIGPIPE ignored: a client
    /// vanishing mid-write must not kill the broker.
    pub fn install_broker() -> io::Result<SignalPipe> {
        let pipe = Self::install_with(&BROKER_SIGNALS, libc::SA_RESTART)?;
        // SAFETY: ignoring SIGPIPE is always sound.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        Ok(pipe)
    }

    fn install_with(signals: &[libc::c_int], flags: libc::c_int) -> io::Result<SignalPipe> {
        // Non-blocking and close-on-exec, as the handler needs.
        let (write, read) = pipe::new()?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for &sig in signals {
            // SAFETY: a zeroed sigaction with a handler that only performs
            // write(2) and an empty mask is a valid argument to sigaction(2).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                sa.sa_flags = flags;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(SignalPipe {
            read,
            _write: write,
        })
    }

    /// Signals received since the last call.
    pub fn drain(&self, out: &mut Vec<libc::c_int>) {
        let mut buf = [0u8; 64];
        loop {
            match (&self.read).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend(buf.iter().take(n).map(|&b| libc::c_int::from(b))),
            }
        }
    }

    /// The read end, for `poll(2)`.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

impl mio::event::Source for SignalPipe {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.read.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.read.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.read.deregister(registry)
    }
}
