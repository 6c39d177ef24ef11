//! The operating system through libc: nearly every `unsafe` block of the
//! crate lives here, behind safe functions the broker and the clients share.
//!
//! - `net`: listening and connecting sockets, socket addresses in the C
//!   layout, interface addresses, unix socket files, `strerror` wording;
//! - `signals`: the self-pipe signal handler (on a `mio::unix::pipe`);
//! - `time`: local time and `strftime`, for log timestamps and
//!   mosquitto_sub's `%` time formats;
//! - `poll`: poll(2) for the clients' blocking loop;
//! - `process`: running in the background and dropping privileges;
//! - `terminal`: reading a password without echo.

pub mod net;
pub mod poll;
pub mod process;
pub mod signals;
pub mod terminal;
pub mod time;
