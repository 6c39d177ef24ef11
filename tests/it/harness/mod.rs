//! The harness every integration test module uses (`use crate::harness::*;`):
//!
//! - `processes`: the broker under test (`MQTT_TEST_BROKER`), temporary
//!   directories, free loopback ports, bounded waits, `Broker`, `RefBroker`;
//! - `mqtt`: the hand-encoding test MQTT `Client`;
//! - `websocket`: a hand-written RFC 6455 client under `Client`;
//! - `tools`: running mosquitto_pub/sub/passwd (ours and Debian's), `Sub`;
//! - `paho`: the Eclipse Paho Python interop scenarios;
//! - `pki`: a throw-away certificate authority made with `openssl`.
//!
//! All in one crate, so an unused helper is a dead-code warning: delete it.

pub mod mqtt;
pub mod paho;
#[cfg(feature = "tls")]
pub mod pki;
pub mod processes;
pub mod tools;
pub mod websocket;

pub use mqtt::*;
pub use paho::*;
pub use processes::*;
pub use tools::*;
pub use websocket::*;
