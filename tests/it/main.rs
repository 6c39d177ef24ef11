//! The integration tests: one test crate (`cargo test --test it`), one
//! module per area, each named for what it tests (`broker_*`, `clients_*`,
//! `ops_*`, `persist_*`, `security_*`, `bridge_*`), so test paths read
//! `broker_connect::connect_v311_connack_is_byte_exact` and
//! `cargo test --test it -- clients_pub::` runs one module.
//!
//! Every module starts with `use crate::harness::*;` (see `harness/mod.rs`):
//! brokers on free loopback ports, temporary directories, bounded waits, the
//! hand-encoding MQTT client, the client-tool runner. `MQTT_TEST_BROKER` names
//! the broker binary under test (unset: ours). A new test goes into the
//! module of its area, or a new `tests/it/<area>_<topic>.rs` listed below;
//! data files go in `tests/it/fixtures/`. The tests run in parallel threads
//! of this one process: never change the process's environment, working
//! directory or umask (give a child its own with `Command::env`), and never
//! use a fixed port.

mod harness;

mod bridge_broker;
mod broker_bad_input;
mod broker_config;
mod broker_connect;
mod broker_interop;
mod broker_isolation;
mod broker_limits;
mod broker_overload;
mod broker_publish;
mod broker_retain_will;
mod broker_session;
mod broker_unix;
mod broker_v5_connect;
mod broker_v5_messages;
mod broker_websockets;
mod clients_ctrl;
mod clients_demo;
mod clients_errors;
mod clients_man;
mod clients_passwd;
mod clients_proxy;
mod clients_pub;
mod clients_sub;
mod clients_v5;
mod footprint_lowmem;
mod interop_mqttjs;
mod ops_broker;
mod ops_init;
mod ops_man;
mod persist_broker;
mod persist_crash;
mod persist_interop;
mod persist_timing;
mod persist_v5;
mod security_acl;
mod security_broker;
mod security_listeners;
mod security_passwd;
mod security_plugins;
mod security_tls;
