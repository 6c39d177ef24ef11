//! The broker's runtime view of its configuration: listener addresses
//! resolved and limits in the types the hot path uses.

use std::net::SocketAddr;
use std::time::Duration;

use super::database::Limits;

#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Every address to bind for this listener (one per family for a
    /// listener without an address).
    pub addrs: Vec<SocketAddr>,
    pub port: u16,
    /// -1: unlimited.
    pub max_connections: i32,
    pub mount_point: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listeners: Vec<ListenerSpec>,
    pub allow_anonymous: bool,
    pub allow_zero_length_clientid: bool,
    pub auto_id_prefix: String,
    pub allow_duplicate_messages: bool,
    pub upgrade_outgoing_qos: bool,
    pub limits: Limits,
    pub queue_qos0_messages: bool,
    /// 0: no limit.
    pub message_size_limit: usize,
    /// 0: no limit beyond the protocol's.
    pub max_packet_size: usize,
    /// 0: no limit.
    pub max_keepalive: u16,
    pub retain_available: bool,
    pub set_tcp_nodelay: bool,
    pub connection_messages: bool,
    pub persistent_client_expiration: Option<Duration>,
    /// Seconds between `$SYS` updates; 0 turns the tree off.
    pub sys_interval: u32,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listeners: Vec::new(),
            allow_anonymous: true,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            allow_duplicate_messages: false,
            upgrade_outgoing_qos: false,
            limits: Limits {
                max_inflight: 20,
                max_queued: 1000,
                max_queued_bytes: 0,
            },
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: 0,
            retain_available: true,
            set_tcp_nodelay: false,
            connection_messages: true,
            persistent_client_expiration: None,
            sys_interval: 10,
            connect_timeout: Duration::from_secs(60),
        }
    }
}
