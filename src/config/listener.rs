//! Listener and security settings.

use std::path::PathBuf;

/// Which protocol a listener speaks (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Mqtt,
    Websockets,
}

/// Restricts a listener to one address family (`socket_domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketDomain {
    Ipv4,
    Ipv6,
}

pub use crate::tls::KeyForm;
use crate::tls::TlsServerOptions;

/// One `plugin` (or `auth_plugin`) with its `plugin_opt_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    pub path: PathBuf,
    /// `plugin_opt_<key> <value>` / `auth_opt_<key> <value>`, in file order.
    pub options: Vec<(String, String)>,
    /// `auth_plugin_deny_special_chars`; default true.
    pub deny_special_chars: bool,
}

/// Authentication and access-control settings, global or per listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// `None` when not set in the file; the start-up rules set it (true in
    /// local-only mode, false otherwise) on the settings that are in use.
    pub allow_anonymous: Option<bool>,
    /// Default true.
    pub allow_zero_length_clientid: bool,
    /// Prefix of generated client ids; "auto-" after start-up when unset.
    pub auto_id_prefix: Option<String>,
    pub password_file: Option<PathBuf>,
    pub acl_file: Option<PathBuf>,
    pub psk_file: Option<PathBuf>,
    /// Deprecated `clientid_prefixes`. Always global in mosquitto: only
    /// [`crate::config::Config::security`] carries it.
    pub clientid_prefixes: Option<String>,
    pub plugins: Vec<PluginConfig>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            allow_anonymous: None,
            allow_zero_length_clientid: true,
            auto_id_prefix: None,
            password_file: None,
            acl_file: None,
            psk_file: None,
            clientid_prefixes: None,
            plugins: Vec::new(),
        }
    }
}

impl Security {
    /// `allow_anonymous`, false when still undecided.
    pub fn allows_anonymous(&self) -> bool {
        self.allow_anonymous.unwrap_or(false)
    }

    /// The prefix for generated client ids ("auto-" when unset).
    pub fn auto_id_prefix(&self) -> &str {
        self.auto_id_prefix.as_deref().unwrap_or("auto-")
    }
}

/// One network (or unix socket) listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// TCP port; 0 for a unix socket listener.
    pub port: u16,
    /// Address or host name to bind to; `None` means all interfaces.
    pub bind_address: Option<String>,
    /// Path of the unix socket (`listener 0 <path>`).
    pub unix_socket_path: Option<PathBuf>,
    /// Network device to bind to (`bind_interface`, Linux only).
    pub bind_interface: Option<String>,
    /// `None`: both IPv4 and IPv6.
    pub socket_domain: Option<SocketDomain>,
    /// -1 means unlimited.
    pub max_connections: i32,
    /// Default 2.
    pub max_qos: u8,
    /// Default 10.
    pub max_topic_alias: u16,
    pub mount_point: Option<String>,
    pub protocol: Protocol,
    pub use_username_as_clientid: bool,
    /// Websockets listeners: directory to serve over plain HTTP.
    pub http_dir: Option<PathBuf>,

    /// Certificate and PSK based TLS (`cafile` … `psk_hint`); `port` and
    /// `psk_file_configured` in it are left for the broker to fill in.
    pub tls: TlsServerOptions,

    /// Used when `per_listener_settings` is true.
    pub security: Security,
    /// True for the listener made from the top-level `port`/`bind_address`
    /// and listener options (mosquitto's "default listener").
    pub is_default: bool,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            port: 0,
            bind_address: None,
            unix_socket_path: None,
            bind_interface: None,
            socket_domain: None,
            max_connections: -1,
            max_qos: 2,
            max_topic_alias: 10,
            mount_point: None,
            protocol: Protocol::Mqtt,
            use_username_as_clientid: false,
            http_dir: None,
            tls: TlsServerOptions::default(),
            security: Security::default(),
            is_default: false,
        }
    }
}

impl Listener {
    /// A TCP listener on `port` with every other setting at its default.
    pub fn new(port: u16) -> Self {
        Listener {
            port,
            ..Listener::default()
        }
    }

    /// True when certificate based TLS is configured (certfile and keyfile).
    pub fn uses_tls(&self) -> bool {
        self.tls.certfile.is_some() && self.tls.keyfile.is_some()
    }

    /// True when PSK based TLS is configured.
    pub fn uses_psk(&self) -> bool {
        self.tls.psk_hint.is_some()
    }

    /// True for a unix socket listener.
    pub fn is_unix_socket(&self) -> bool {
        self.unix_socket_path.is_some()
    }

    /// True when any of the TLS or PSK options is set.
    pub(crate) fn has_tls_settings(&self) -> bool {
        self.tls.any_set()
    }
}
