//! Process-level start-up: running in the background (`-d`).

use std::io;

/// Detaches from the terminal as mosquitto does: fork (the parent exits),
/// start a new session, and point the standard streams at /dev/null.
pub fn daemonise() -> io::Result<()> {
    // SAFETY: fork in a single-threaded process; the parent exits at once
    // without running destructors, the child carries on.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: setsid has no memory effects.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    let fd = devnull.as_raw_fd();
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
