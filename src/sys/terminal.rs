//! Reading a password from the terminal without echoing it, as
//! mosquitto_passwd does. When standard input is not a terminal (a pipe in
//! a script) the line is read as it is.

use std::io::BufRead;
use std::sync::OnceLock;

/// The terminal settings to put back, also from the SIGINT handler.
static ORIGINAL: OnceLock<libc::termios> = OnceLock::new();

extern "C" fn restore_and_exit(_: libc::c_int) {
    if let Some(t) = ORIGINAL.get() {
        // SAFETY: tcsetattr and _exit are async-signal-safe; `t` is a
        // complete termios read by tcgetattr.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, t);
        }
    }
    // mosquitto_passwd exits successfully when interrupted at a prompt.
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) }
}

/// Install handlers so that SIGINT/SIGTERM at a prompt restore echo.
fn install_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a valid handler is valid input.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = restore_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Read one line from standard input with echo off; the line ending is
/// removed. `None` at end of input.
pub fn read_hidden_line() -> Option<Vec<u8>> {
    // SAFETY: termios is plain old data; tcgetattr fills it or fails.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    let is_tty = unsafe { libc::tcgetattr(0, &mut t) } == 0;
    if is_tty {
        let _ = ORIGINAL.set(t);
        install_handlers();
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: quiet is a valid termios derived from the current one.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    }
    let mut line = Vec::new();
    let r = std::io::stdin().lock().read_until(b'\n', &mut line);
    if is_tty {
        // SAFETY: t is the termios read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
    match r {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            Some(line)
        }
    }
}
