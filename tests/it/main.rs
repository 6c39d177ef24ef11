//! The integration tests: one test crate, one module per area.

mod harness;

mod bridge_broker;
mod broker_bad_input;
mod broker_config;
mod broker_connect;
mod broker_interop;
mod broker_limits;
mod broker_overload;
mod broker_publish;
mod broker_retain_will;
mod broker_session;
mod broker_unix;
mod broker_websockets;
mod clients_demo;
mod clients_errors;
mod clients_man;
mod clients_passwd;
mod clients_proxy;
mod clients_pub;
mod clients_sub;
mod ops_broker;
mod ops_init;
mod ops_man;
mod persist_broker;
mod persist_crash;
mod persist_interop;
mod persist_timing;
mod security_acl;
mod security_broker;
mod security_listeners;
mod security_passwd;
mod security_tls;
