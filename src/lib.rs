//! mosquitto-rs: a mosquitto-compatible MQTT broker and its command-line clients.
//!
//! Module map (see ARCHITECTURE.md): `protocol` is the wire format with no IO,
//! `config` reads mosquitto.conf and the broker's command line, `broker` is the
//! single-threaded mio broker, `client` is the small client used by the tools.

pub mod broker;
pub mod client;
pub mod config;
pub mod passwd;
pub mod protocol;
pub mod sys;
pub mod tls;

/// The version we report wherever mosquitto reports its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
