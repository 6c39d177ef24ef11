//! The broker, in two layers.
//!
//! `core` holds all broker state — sessions, per-connection protocol state
//! and output buffers, the subscription and retained trees, timers,
//! statistics, settings — and never touches a socket or reads the clock:
//! the time comes in as an argument and what the sockets must do (write,
//! close, read again) is recorded for the shell. `shell` owns the
//! `mio::Poll`, listeners, streams (TLS, websockets), accept, reading bytes
//! into the core and flushing its output once per loop turn. Layers import
//! downward only: the shell uses the core, never the reverse.

pub mod bridge_topic;
mod core;
pub mod database;
pub mod heap;
pub mod logging;
pub mod persist;
mod persistence;
pub mod plugin;
pub mod retain;
pub mod security;
pub mod settings;
mod shell;
mod stream;
pub mod subs;
mod websocket;

// Shared layer: TLS (the old `broker::tls` path still names it).
pub use crate::tls;

pub use self::core::Stats;
pub use persistence::PersistSettings;
pub use settings::{ListenerSpec, Settings};
pub use shell::{Broker, Reloader};
