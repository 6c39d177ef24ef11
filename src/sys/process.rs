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

/// When started as root, switches to `user` (mosquitto's rule: "root"
/// means stay root; a missing "mosquitto" user falls back to "nobody"),
/// after the listeners and certificates are open. The `owned` files (unix
/// listener sockets) are given to that user first, as if it had created
/// them: mosquitto opens its listeners after the switch, so its clients and
/// its own shutdown expect that owner. Returns a warning to log when the
/// process still runs as root.
pub fn drop_privileges(user: &str, owned: &[std::path::PathBuf]) -> Result<Option<String>, String> {
    // SAFETY: geteuid/getegid have no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    if user != "root" {
        let (name, pwd) = match lookup(user) {
            Some(p) => (user.to_owned(), p),
            None if user == "mosquitto" => {
                crate::error!(
                    "Warning: Unable to drop privileges to '{user}' because this user does not \
                     exist. Trying 'nobody' instead."
                );
                match lookup("nobody") {
                    Some(p) => ("nobody".to_owned(), p),
                    None => return Err("Unable to drop privileges to 'nobody'.".into()),
                }
            }
            None => {
                return Err(format!(
                    "Unable to drop privileges to '{user}' because this user does not exist."
                ))
            }
        };
        let (uid, gid) = pwd;
        for path in owned {
            if let Err(e) = std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
                crate::warning!(
                    "Warning: Unable to give {} to user '{name}': {e}.",
                    path.display()
                );
            }
        }
        let cname = std::ffi::CString::new(name).map_err(|_| "Invalid user name.".to_string())?;
        // SAFETY: plain syscalls with a valid NUL-terminated name.
        unsafe {
            if libc::initgroups(cname.as_ptr(), gid) == -1 {
                return Err(format!(
                    "Error setting groups whilst dropping privileges: {}.",
                    io::Error::last_os_error()
                ));
            }
            if libc::setgid(gid) == -1 {
                return Err(format!(
                    "Error setting gid whilst dropping privileges: {}.",
                    io::Error::last_os_error()
                ));
            }
            if libc::setuid(uid) == -1 {
                return Err(format!(
                    "Error setting uid whilst dropping privileges: {}.",
                    io::Error::last_os_error()
                ));
            }
        }
    }
    // SAFETY: as above.
    let still_root = unsafe { libc::geteuid() == 0 || libc::getegid() == 0 };
    Ok(still_root.then(|| "Warning: Mosquitto should not be run as root/administrator.".into()))
}

/// (uid, gid) of a user. getpwnam is not thread-safe; this runs at start-up
/// before any other thread exists.
fn lookup(user: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let c = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam returns NULL or a pointer to a static passwd record
    // that stays valid until the next call; we copy the two ids out at once.
    unsafe {
        let p = libc::getpwnam(c.as_ptr());
        if p.is_null() {
            None
        } else {
            Some(((*p).pw_uid, (*p).pw_gid))
        }
    }
}
