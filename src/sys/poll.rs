//! `poll(2)` over a few descriptors, for the clients' blocking loop (the
//! socket, the signal pipe, standard input).

use std::io;

/// Waits up to `timeout_ms` (-1: forever) for the events asked for in
/// `fds`; returns how many entries have `revents` set (0 on timeout).
/// `Interrupted` when a signal arrived, as poll(2) reports it.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    let n = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: fds is a valid, writable array of pollfd for its length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), n, timeout_ms) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}
