//! mosquitto.conf and the broker's command line.
//!
//! Reading happens in two steps, as in mosquitto:
//!
//! 1. `parse` turns lines into typed settings, remembering the file
//!    and line of every problem (`Error found at FILE:LINE.`); each option
//!    is looked up in the option table of `options` (one module per scope),
//!    which says where its value goes and how it is parsed;
//! 2. `check` applies the start-up rules that need the whole picture: the
//!    implicit default listener, "local only" mode, the `allow_anonymous`
//!    default, bridge client ids and the other cross-option checks.
//!
//! Nothing is logged here: deprecations, options that are recognised but not
//! yet implemented, and small adjustments are returned in [`Config::notes`]
//! for the broker to log once its logger is running.
//!
//! Entry points: [`Config::load`], [`Config::parse_str`] and
//! [`cli::parse_args`].

mod bridge;
mod check;
pub mod cli;
mod listener;
mod options;
mod parse;
mod reload;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use bridge::{
    Bridge, BridgeAddress, BridgeProtocol, BridgeTopic, Direction, RestartTimeout, StartType,
};
pub use cli::{parse_args, usage, CliAction, CliError, Options};
pub use listener::{KeyForm, Listener, PluginConfig, Protocol, Security, SocketDomain};

/// Options (and `option value` pairs) that mosquitto-rs implements today.
///
/// Every other recognised option is accepted and stored, but produces a
/// [`NoteKind::NotYetActive`] note. An entry with a space matches an option
/// only with that first value (e.g. `log_dest stdout`). Grow this list as
/// features land; it is the only place that decides.
pub const ACTIVE_OPTIONS: &[&str] = &[
    "listener",
    "port",
    "bind_address",
    "bind_interface",
    "max_connections",
    "memory_limit",
    "socket_domain",
    "mount_point",
    "protocol mqtt",
    "protocol websockets",
    "http_dir",
    "websockets_headers_size",
    // Accepted and ignored: it is libwebsockets' log mask, and there is no
    // libwebsockets here.
    "websockets_log_level",
    "allow_anonymous",
    "allow_duplicate_messages",
    "check_retain_source",
    "allow_zero_length_clientid",
    "auto_id_prefix",
    "connect_timeout",
    "connection_messages",
    "log_dest stdout",
    "log_dest stderr",
    "log_dest none",
    "log_type",
    "log_timestamp",
    "log_timestamp_format",
    "max_inflight_bytes",
    "max_inflight_messages",
    "max_keepalive",
    "max_packet_size",
    "max_queued_bytes",
    "max_queued_messages",
    "message_size_limit",
    "outgoing_topic_aliases",
    "queue_qos0_messages",
    "retain_available",
    "set_tcp_nodelay",
    "upgrade_outgoing_qos",
    "include_dir",
    "per_listener_settings",
    "max_qos",
    "max_topic_alias",
    "sys_interval",
    "pid_file",
    "persistent_client_expiration",
    "log_dest syslog",
    "log_dest topic",
    "log_dest file",
    "log_facility",
    "persistence",
    "persistence_file",
    "persistence_location",
    "persistence_discard_corrupt",
    "autosave_interval",
    "autosave_on_changes",
    "password_file",
    "acl_file",
    "psk_file",
    "psk_hint",
    "plugin",
    "plugin_opt_*",
    "auth_plugin_deny_special_chars",
    "clientid_prefixes",
    "use_username_as_clientid",
    "use_identity_as_username",
    "use_subject_as_username",
    "cafile",
    "capath",
    "certfile",
    "keyfile",
    "ciphers",
    "ciphers_tls1.3",
    "tls_version",
    "require_certificate",
    "crlfile",
    "dhparamfile",
    "connection",
    "address",
    "addresses",
    "round_robin",
    "topic",
    "cleansession",
    "local_cleansession",
    "keepalive_interval",
    "idle_timeout",
    "start_type",
    "threshold",
    "restart_timeout",
    "notifications",
    "notifications_local_only",
    "notification_topic",
    "remote_clientid",
    "clientid",
    "local_clientid",
    "remote_username",
    "username",
    "remote_password",
    "password",
    "local_username",
    "local_password",
    "try_private",
    "bridge_protocol_version",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_outgoing_retain",
    "bridge_max_packet_size",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_keyfile",
    "bridge_insecure",
    "bridge_require_ocsp",
    "bridge_tls_version",
    "bridge_identity",
    "bridge_psk",
    "user",
];

/// True when `option` (canonical name) with first value `value` is in
/// [`ACTIVE_OPTIONS`].
pub fn is_active(option: &str, value: Option<&str>) -> bool {
    ACTIVE_OPTIONS
        .iter()
        .any(|entry| match entry.split_once(' ') {
            None => *entry == option,
            Some((name, val)) => name == option && value == Some(val),
        })
}

/// The default port of MQTT listeners and bridges.
pub const DEFAULT_PORT: u16 = 1883;

/// A configuration line that could not be accepted.
///
/// `Display` gives mosquitto's shape:
///
/// ```text
/// Error: Invalid allow_anonymous value (yes).
/// Error found at /etc/mosquitto/conf.d/a.conf:3.
/// Error found at /etc/mosquitto/mosquitto.conf:12.
/// ```
///
/// The location lines are left out when `line` is 0 (e.g. the file could not
/// be opened, or the problem is not tied to a line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file holding the offending line.
    pub file: PathBuf,
    /// 1-based line number, 0 when not tied to a line.
    pub line: usize,
    /// What is wrong, without the leading `Error: `.
    pub reason: String,
    /// The `include_dir` lines that led to `file`, innermost first.
    pub included_from: Vec<(PathBuf, usize)>,
}

impl ConfigError {
    /// An error at `file:line`.
    pub fn new(file: impl Into<PathBuf>, line: usize, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line,
            reason: reason.into(),
            included_from: Vec::new(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error: {}", self.reason)?;
        if self.line > 0 {
            write!(f, "\nError found at {}:{}.", self.file.display(), self.line)?;
        }
        for (file, line) in &self.included_from {
            if *line > 0 {
                write!(f, "\nError found at {}:{}.", file.display(), line)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Why a [`ConfigNote`] was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// The option is obsolete or deprecated (it may be ignored entirely).
    Deprecated,
    /// The option is recognised and stored, but mosquitto-rs does not act on
    /// it yet (see [`ACTIVE_OPTIONS`]).
    NotYetActive,
    /// Anything else worth one log line: a value was adjusted into range, a
    /// setting was ignored, an insecure option was chosen.
    Notice,
}

/// Something the broker should log once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNote {
    /// The file the option came from (empty for command-line notes).
    pub file: PathBuf,
    /// 1-based line number, 0 when not tied to a line.
    pub line: usize,
    /// The option name as written in the file.
    pub option: String,
    pub kind: NoteKind,
    /// One log line, ready to print.
    pub message: String,
}

impl fmt::Display for ConfigNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{} ({}:{})",
                self.message,
                self.file.display(),
                self.line
            )
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Where log messages go (`log_dest`).
///
/// `log_dest none` is represented by an empty [`Config::log_dest`] list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    Stdout,
    Stderr,
    Syslog,
    /// `$SYS/broker/log/...` topics.
    Topic,
    /// A file; only one may be configured.
    File(PathBuf),
    /// Diagnostic Log and Trace (automotive).
    Dlt,
}

/// The set of message types to log (`log_type`), with mosquitto's bit values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogTypes(pub u32);

impl LogTypes {
    pub const NONE: LogTypes = LogTypes(0);
    pub const INFORMATION: LogTypes = LogTypes(0x01);
    pub const NOTICE: LogTypes = LogTypes(0x02);
    pub const WARNING: LogTypes = LogTypes(0x04);
    pub const ERROR: LogTypes = LogTypes(0x08);
    pub const DEBUG: LogTypes = LogTypes(0x10);
    pub const SUBSCRIBE: LogTypes = LogTypes(0x20);
    pub const UNSUBSCRIBE: LogTypes = LogTypes(0x40);
    pub const WEBSOCKETS: LogTypes = LogTypes(0x80);
    pub const INTERNAL: LogTypes = LogTypes(0x8000_0000);
    pub const ALL: LogTypes = LogTypes(u32::MAX);
    /// error, warning, notice and information.
    pub const DEFAULT: LogTypes = LogTypes(0x01 | 0x02 | 0x04 | 0x08);

    /// True when every type in `other` is enabled.
    pub fn contains(self, other: LogTypes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Enables the types in `other`.
    pub fn insert(&mut self, other: LogTypes) {
        self.0 |= other.0;
    }

    /// True when no type is enabled.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Default for LogTypes {
    fn default() -> Self {
        LogTypes::DEFAULT
    }
}

/// The broker configuration: every mosquitto 2.0 option, with mosquitto's
/// defaults.
///
/// A `Config` returned by [`Config::load`], [`Config::parse_str`] or
/// [`cli::parse_args`] has been through the start-up rules: `listeners` is the
/// list to open, `security.allow_anonymous` is decided, and every bridge has
/// its client ids. `Config::default()` is the state before any file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // ----- General -----
    /// Deprecated in 2.0; default false.
    pub allow_duplicate_messages: bool,
    /// Seconds between persistence saves (or a change count with
    /// `autosave_on_changes`); 0 saves only at exit/SIGUSR1. Default 1800.
    pub autosave_interval: u32,
    pub autosave_on_changes: bool,
    /// Check the publisher's rights again when a retained message is sent.
    /// Default false (mosquitto 2.0's effective default, whatever its
    /// documentation says).
    pub check_retain_source: bool,
    /// Seconds a connection has to complete CONNECT (TLS and websocket
    /// handshakes included); 0: no deadline. Ours; default 10.
    pub connect_timeout: u16,
    /// Log client connects and disconnects. Default true.
    pub connection_messages: bool,
    /// 0 means no limit. Default 0.
    pub max_inflight_bytes: u64,
    /// 0 means no limit. Default 20.
    pub max_inflight_messages: u16,
    /// 0 means no limit on the client's keepalive. Default 0.
    pub max_keepalive: u16,
    /// 0 means no limit. Default 0.
    pub max_packet_size: u32,
    /// 0 means no limit. Default 0.
    pub max_queued_bytes: u64,
    /// 0 means no limit. Default 1000.
    pub max_queued_messages: u32,
    /// Heap limit in bytes; 0 means no limit.
    pub memory_limit: u64,
    /// Largest accepted publish payload; 0 means the protocol maximum.
    pub message_size_limit: u32,
    /// Ours: topic aliases towards MQTT 5 clients that accept them.
    pub outgoing_topic_aliases: bool,
    pub per_listener_settings: bool,
    pub pid_file: Option<PathBuf>,
    pub queue_qos0_messages: bool,
    pub retain_available: bool,
    pub set_tcp_nodelay: bool,
    /// Seconds between `$SYS` updates; 0 disables them. Default 10.
    pub sys_interval: u32,
    pub upgrade_outgoing_qos: bool,
    /// User to drop privileges to when started as root. Default "mosquitto".
    pub user: String,

    // ----- Persistence -----
    pub persistence: bool,
    /// mosquitto-rs extension: a corrupt database is moved aside to
    /// `<file>.corrupt-<time>` and the broker starts empty. Default false:
    /// refuse to start, so nothing is lost by accident.
    pub persistence_discard_corrupt: bool,
    /// File name of the database; `None` means "mosquitto.db".
    pub persistence_file: Option<String>,
    /// Directory of the database; `None` means the current directory.
    pub persistence_location: Option<PathBuf>,
    /// Remove disconnected persistent sessions after this long; `None` never.
    pub persistent_client_expiration: Option<Duration>,

    // ----- Logging -----
    /// Empty means `log_dest none`. Default: stderr.
    pub log_dest: Vec<LogDest>,
    /// Syslog facility local0..local7; `None` means "daemon".
    pub log_facility: Option<u8>,
    pub log_timestamp: bool,
    /// strftime format; `None` means seconds since the epoch.
    pub log_timestamp_format: Option<String>,
    pub log_types: LogTypes,

    // ----- Websockets (global in mosquitto) -----
    pub websockets_log_level: i32,
    /// 0 means the library default (1024).
    pub websockets_headers_size: u16,

    // ----- Security, listeners, bridges -----
    /// Global security settings. With `per_listener_settings true` each
    /// listener's own [`Listener::security`] is used instead (see
    /// [`Config::security_for`]).
    pub security: Security,
    /// The listeners to open, in order. In local-only mode these are the
    /// loopback listeners (127.0.0.1 and ::1 on each port).
    pub listeners: Vec<Listener>,
    pub bridges: Vec<Bridge>,
    /// True when the configuration defines no listener at all (no `listener`,
    /// `port` or `bind_address`): the broker listens on loopback only and
    /// allows anonymous clients. As in mosquitto, it is enough that one of the
    /// loopback listeners opens (e.g. IPv6 may be missing); the broker should
    /// log that it is starting in local-only mode.
    pub local_only: bool,
    /// The `include_dir` directories that were read, in order.
    pub include_dirs: Vec<PathBuf>,
    /// Messages for the broker to log once at start-up.
    pub notes: Vec<ConfigNote>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_duplicate_messages: false,
            autosave_interval: 1800,
            autosave_on_changes: false,
            check_retain_source: false,
            connect_timeout: 10,
            connection_messages: true,
            max_inflight_bytes: 0,
            max_inflight_messages: 20,
            max_keepalive: 0,
            max_packet_size: 0,
            max_queued_bytes: 0,
            max_queued_messages: 1000,
            memory_limit: 0,
            message_size_limit: 0,
            outgoing_topic_aliases: false,
            per_listener_settings: false,
            pid_file: None,
            queue_qos0_messages: false,
            retain_available: true,
            // mosquitto-rs: on by default (see the man page).
            set_tcp_nodelay: true,
            sys_interval: 10,
            upgrade_outgoing_qos: false,
            user: "mosquitto".to_string(),
            persistence: false,
            persistence_discard_corrupt: false,
            persistence_file: None,
            persistence_location: None,
            persistent_client_expiration: None,
            log_dest: vec![LogDest::Stderr],
            log_facility: None,
            log_timestamp: true,
            log_timestamp_format: None,
            log_types: LogTypes::DEFAULT,
            websockets_log_level: 0,
            websockets_headers_size: 0,
            security: Security::default(),
            listeners: Vec::new(),
            bridges: Vec::new(),
            local_only: true,
            include_dirs: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// The largest payload MQTT can carry.
pub const MQTT_MAX_PAYLOAD: u32 = 268_435_455;

impl Config {
    /// Reads `path` (and its `include_dir` files) and applies the start-up
    /// rules, as `mosquitto -c path` would with no other argument.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut reader = parse::Reader::new();
        reader.read_main_file(path)?;
        check::finish(reader, &[], false)
    }

    /// Parses `text` as if it were a file called `name`. `include_dir` paths
    /// are used as written (relative ones against the current directory).
    pub fn parse_str(text: &str, name: &str) -> Result<Config, ConfigError> {
        let mut reader = parse::Reader::new();
        reader.read_main_text(text.as_bytes(), Path::new(name))?;
        check::finish(reader, &[], false)
    }

    /// The security settings that apply to clients of `listener`.
    pub fn security_for<'a>(&'a self, listener: &'a Listener) -> &'a Security {
        if self.per_listener_settings {
            &listener.security
        } else {
            &self.security
        }
    }

    /// Where the persistence database is read and written:
    /// `persistence_location/persistence_file`, or just the file name.
    pub fn persistence_filepath(&self) -> PathBuf {
        let file = self.persistence_file.as_deref().unwrap_or("mosquitto.db");
        match &self.persistence_location {
            Some(dir) if !dir.as_os_str().is_empty() => {
                PathBuf::from(format!("{}/{}", dir.display(), file))
            }
            _ => PathBuf::from(file),
        }
    }

    /// The notes of one kind.
    pub fn notes_of(&self, kind: NoteKind) -> impl Iterator<Item = &ConfigNote> {
        self.notes.iter().filter(move |n| n.kind == kind)
    }
}
