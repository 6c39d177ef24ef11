//! Helpers shared by every integration test module.

pub mod clients;
pub mod common;
#[cfg(feature = "tls")]
pub mod pki;
