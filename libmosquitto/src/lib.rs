//! libmosquitto.so.1: the C client library of mosquitto 2.0, with its ABI
//! (functions, symbol versions, structures, return codes), on the project's
//! own MQTT codec (`mosquitto_rs::protocol`) and TLS client
//! (`mosquitto_rs::tls`).
//!
//! `client` is the protocol state of one connection, in safe Rust; `ffi` is
//! the C boundary and holds all of the crate's `unsafe`.

mod client;
mod consts;
mod ffi;
