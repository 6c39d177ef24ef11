//! The command-line clients: mosquitto_pub, mosquitto_sub, mosquitto_rr,
//! mosquitto_ctrl and mosquitto_passwd (mosquitto's `client/` and `apps/mosquitto_passwd`).
//!
//! `options` parses the command line shared by pub and sub, `cli` turns it
//! into a connection (`net`, through a SOCKS5 proxy with `socks`), `session`
//! is the small blocking MQTT client on top of `protocol`, and
//! `publisher`/`subscriber`/`rr` are the tools' main loops; `props`
//! holds the `-D` properties for each packet; `ctrl` is mosquitto_ctrl.
//! `output`, `format` and `json` print messages for mosquitto_sub;
//! `passwd` is mosquitto_passwd. Below the client: `protocol`, and the
//! shared layers `tls`, `passwd` (the password-file format) and `sys`.

/// `print!` for the tools without its panic when stdout is closed
/// (`mosquitto_sub -d | head -1`): like mosquitto's tools, which ignore
/// SIGPIPE and their failed prints, the text is dropped.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` without the panic, as `out!`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod cli;
pub mod ctrl;
pub mod format;
pub mod json;
pub mod net;
pub mod options;
pub mod output;
pub mod passwd;
pub mod props;
pub mod publisher;
pub mod rr;
pub mod session;
pub mod socks;
pub mod subscriber;
pub mod usage;

// The password file format is a shared layer (`crate::passwd`); the old
// `client::password` path still names it.
pub use crate::passwd as password;
