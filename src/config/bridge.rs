//! Bridge settings.

use std::path::PathBuf;

use crate::tls::TlsClientOptions;

/// One remote broker address (`address host[:port]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAddress {
    pub host: String,
    /// Default 1883.
    pub port: u16,
}

/// Which way messages flow for a bridge topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Local to remote (the default).
    #[default]
    Out,
    /// Remote to local.
    In,
    Both,
}

/// When a bridge connects (`start_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartType {
    /// At start-up, and again after `restart_timeout` when it drops.
    #[default]
    Automatic,
    /// When `threshold` messages are queued; stops after `idle_timeout`.
    Lazy,
    /// At start-up only; never restarted.
    Once,
}

/// MQTT version the bridge speaks (`bridge_protocol_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BridgeProtocol {
    /// `mqttv31`
    Mqtt31,
    /// `mqttv311` (the default)
    #[default]
    Mqtt311,
    /// `mqttv50`
    Mqtt5,
}

/// Reconnect delay of an automatic bridge (`restart_timeout`).
///
/// `cap: None` is a constant delay of `base` seconds (`restart_timeout 20`);
/// with a cap the delay is randomised between `base` and `cap`
/// ("decorrelated jitter", `restart_timeout 5 30`, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartTimeout {
    pub base: u32,
    pub cap: Option<u32>,
}

impl Default for RestartTimeout {
    fn default() -> Self {
        RestartTimeout {
            base: 5,
            cap: Some(30),
        }
    }
}

/// One `topic` line of a bridge.
///
/// `pattern: None` is the `""` place marker: the topic is then made only of
/// the prefixes (both must be given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTopic {
    pub pattern: Option<String>,
    pub direction: Direction,
    /// 0, 1 or 2; default 0.
    pub qos: u8,
    pub local_prefix: Option<String>,
    pub remote_prefix: Option<String>,
}

impl BridgeTopic {
    /// The topic (filter) on the local broker: local prefix + pattern.
    pub fn local_topic(&self) -> String {
        join(self.local_prefix.as_deref(), self.pattern.as_deref())
    }

    /// The topic (filter) on the remote broker: remote prefix + pattern.
    pub fn remote_topic(&self) -> String {
        join(self.remote_prefix.as_deref(), self.pattern.as_deref())
    }
}

fn join(prefix: Option<&str>, pattern: Option<&str>) -> String {
    let mut s = String::from(prefix.unwrap_or(""));
    s.push_str(pattern.unwrap_or(""));
    s
}

/// One bridge (`connection <name>` and the options after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The `connection` name.
    pub name: String,
    pub addresses: Vec<BridgeAddress>,
    pub round_robin: bool,
    pub topics: Vec<BridgeTopic>,
    /// `cleansession`; default false.
    pub cleansession: bool,
    /// `local_cleansession`; `None` means "same as cleansession".
    pub local_cleansession: Option<bool>,
    /// Seconds, 5..=65535; default 60.
    pub keepalive_interval: u16,
    /// Seconds a lazy bridge stays idle before stopping; default 60.
    pub idle_timeout: u32,
    pub start_type: StartType,
    /// Queued messages that start a lazy bridge; default 10.
    pub threshold: u32,
    pub restart_timeout: RestartTimeout,
    /// Default true.
    pub notifications: bool,
    pub notifications_local_only: bool,
    /// `None`: `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: Option<String>,
    /// `remote_clientid` (alias `clientid`); after start-up defaults to
    /// `<hostname>.<name>`.
    pub remote_clientid: Option<String>,
    /// After start-up defaults to `local.<remote_clientid>`.
    pub local_clientid: Option<String>,
    /// `remote_username` (alias `username`).
    pub remote_username: Option<String>,
    /// `remote_password` (alias `password`).
    pub remote_password: Option<String>,
    pub local_username: Option<String>,
    pub local_password: Option<String>,
    /// Default true.
    pub try_private: bool,
    pub protocol_version: BridgeProtocol,
    /// `bridge_attempt_unsubscribe`; default true.
    pub attempt_unsubscribe: bool,
    /// `bridge_outgoing_retain`; default true.
    pub outgoing_retain: bool,
    /// `bridge_max_packet_size`; 0 means no limit.
    pub max_packet_size: u32,
    /// `bridge_bind_address`.
    pub bind_address: Option<String>,

    /// `bridge_cafile`, `bridge_capath`, `bridge_certfile`,
    /// `bridge_keyfile`, `bridge_insecure`, `bridge_require_ocsp`,
    /// `bridge_tls_version`, `bridge_alpn`, `bridge_identity`, `bridge_psk`.
    pub tls: TlsClientOptions,

    /// Where the `connection` line is.
    pub file: PathBuf,
    pub line: usize,
}

impl Bridge {
    /// A bridge called `name` with mosquitto's defaults.
    pub fn new(name: &str) -> Self {
        Bridge {
            name: name.to_string(),
            addresses: Vec::new(),
            round_robin: false,
            topics: Vec::new(),
            cleansession: false,
            local_cleansession: None,
            keepalive_interval: 60,
            idle_timeout: 60,
            start_type: StartType::Automatic,
            threshold: 10,
            restart_timeout: RestartTimeout::default(),
            notifications: true,
            notifications_local_only: false,
            notification_topic: None,
            remote_clientid: None,
            local_clientid: None,
            remote_username: None,
            remote_password: None,
            local_username: None,
            local_password: None,
            try_private: true,
            protocol_version: BridgeProtocol::Mqtt311,
            attempt_unsubscribe: true,
            outgoing_retain: true,
            max_packet_size: 0,
            bind_address: None,
            tls: TlsClientOptions::default(),
            file: PathBuf::new(),
            line: 0,
        }
    }

    /// The clean-session flag of the local side.
    pub fn local_cleansession(&self) -> bool {
        self.local_cleansession.unwrap_or(self.cleansession)
    }

    /// True when certificate based TLS is configured.
    pub fn uses_tls(&self) -> bool {
        self.tls.cafile.is_some() || self.tls.capath.is_some()
    }

    /// True when PSK based TLS is configured.
    pub fn uses_psk(&self) -> bool {
        self.tls.psk_identity.is_some() && self.tls.psk.is_some()
    }

    pub(crate) fn has_cert_settings(&self) -> bool {
        self.tls.cafile.is_some()
            || self.tls.capath.is_some()
            || self.tls.certfile.is_some()
            || self.tls.keyfile.is_some()
    }

    /// The notification topic in use.
    pub fn notification_topic(&self) -> String {
        match &self.notification_topic {
            Some(t) => t.clone(),
            None => format!(
                "$SYS/broker/connection/{}/state",
                self.remote_clientid.as_deref().unwrap_or(&self.name)
            ),
        }
    }
}
