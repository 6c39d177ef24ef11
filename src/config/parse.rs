//! Step one: mosquitto.conf lines to typed settings.
//!
//! Line rules (mosquitto's, slightly more forgiving about blanks):
//! - a line whose first non-blank character is `#` is a comment, blank lines
//!   are skipped, leading and trailing white space (including `\r`) is ignored;
//! - the option name and its arguments are separated by spaces or tabs;
//! - options taking a single word ignore further words (as mosquitto does),
//!   options taking a string, path or list use the rest of the line;
//! - every problem is reported with the file and line it was found at.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bridge::{Bridge, BridgeAddress, BridgeProtocol, BridgeTopic, Direction, StartType};
use super::listener::{KeyForm, Listener, PluginConfig, Protocol, Security, SocketDomain};
use super::{
    is_active, Config, ConfigError, ConfigNote, LogDest, LogTypes, NoteKind, ACTIVE_OPTIONS,
    DEFAULT_PORT, MQTT_MAX_PAYLOAD,
};

/// Topic levels allowed in a topic (mosquitto's TOPIC_HIERARCHY_LIMIT).
const TOPIC_HIERARCHY_LIMIT: usize = 200;

/// The listener that listener options currently apply to.
#[derive(Debug, Clone, Copy)]
enum Cur {
    /// The implicit default listener (`port`, `bind_address`, options before
    /// any `listener` line).
    Default,
    Explicit(usize),
}

/// The security settings that security options currently apply to.
#[derive(Debug, Clone, Copy)]
enum SecTarget {
    Global,
    Default,
    Explicit(usize),
}

/// State that, as in mosquitto, starts afresh in every file.
#[derive(Debug)]
struct FileState {
    listener: Cur,
    bridge: Option<usize>,
    plugin: Option<(SecTarget, usize)>,
}

impl FileState {
    fn new() -> Self {
        FileState {
            listener: Cur::Default,
            bridge: None,
            plugin: None,
        }
    }
}

/// Why a line failed.
enum Fail {
    /// A reason for the current line.
    Msg(String),
    /// An error inside an included file.
    Nested(ConfigError),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Msg(s)
    }
}

/// How the "not yet active" check treats a handled option.
enum Track {
    /// No check (obsolete options that are ignored anyway).
    Skip,
    /// Check under this canonical name (aliases map to one name).
    As(&'static str),
    /// Check under the name as written.
    Written,
}

type Handled = Result<Track, Fail>;

/// The position of the current line.
struct At<'a> {
    file: &'a Path,
    line: usize,
}

/// Accumulates the settings of one or more main files and their includes.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) cfg: Config,
    /// mosquitto's `default_listener`: turned into a real listener by the
    /// start-up rules when any of its settings is used.
    pub(crate) default_listener: Listener,
    /// The first line that configured the default listener.
    pub(crate) default_origin: Option<(PathBuf, usize)>,
    /// The `listener` line of each explicit listener.
    pub(crate) listener_origins: Vec<(PathBuf, usize)>,
    /// `log_dest` lines seen so far (they replace the default).
    pub(crate) log_dest: Option<Vec<LogDest>>,
    /// `log_type` lines seen so far (they replace the default).
    pub(crate) log_types: Option<LogTypes>,
    log_file_seen: bool,
    /// A security option has been seen (per_listener_settings must come first).
    security_touched: bool,
}

impl Reader {
    pub(crate) fn new() -> Self {
        Reader {
            cfg: Config::default(),
            default_listener: Listener {
                is_default: true,
                ..Listener::default()
            },
            default_origin: None,
            listener_origins: Vec::new(),
            log_dest: None,
            log_types: None,
            log_file_seen: false,
            security_touched: false,
        }
    }

    /// Reads a main configuration file.
    pub(crate) fn read_main_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = read_config_file(path)?;
        self.read_text(&text, path, 0)
    }

    /// Reads main configuration text called `name`.
    pub(crate) fn read_main_text(&mut self, text: &[u8], name: &Path) -> Result<(), ConfigError> {
        self.read_text(text, name, 0)
    }

    fn read_text(&mut self, text: &[u8], file: &Path, level: u32) -> Result<(), ConfigError> {
        let mut fs = FileState::new();
        for (index, raw) in text.split(|b| *b == b'\n').enumerate() {
            let lineno = index + 1;
            let trimmed = raw.trim_ascii();
            if trimmed.is_empty() || trimmed.starts_with(b"#") {
                continue;
            }
            let at = At { file, line: lineno };
            let result = match std::str::from_utf8(trimmed) {
                Ok(line) => self.line(&mut fs, line, &at, level),
                Err(_) => Err(Fail::Msg("Malformed UTF-8 in configuration.".to_string())),
            };
            match result {
                Ok(()) => {}
                Err(Fail::Msg(reason)) => return Err(ConfigError::new(file, lineno, reason)),
                Err(Fail::Nested(mut e)) => {
                    e.included_from.push((file.to_path_buf(), lineno));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn line(&mut self, fs: &mut FileState, line: &str, at: &At, level: u32) -> Result<(), Fail> {
        let mut w = Words::new(line);
        let Some(opt) = w.next() else {
            return Ok(());
        };
        let first_value = w.peek();
        let canonical = match self.option(fs, opt, &mut w, at, level)? {
            Track::Skip => None,
            Track::As(name) => Some(name),
            Track::Written => Some(opt),
        };
        if let Some(canonical) = canonical {
            if !is_active(canonical, first_value) {
                let shown = if ACTIVE_OPTIONS
                    .iter()
                    .any(|e| e.split_once(' ').is_some_and(|(n, _)| n == canonical))
                {
                    format!("{} {}", opt, first_value.unwrap_or(""))
                } else {
                    opt.to_string()
                };
                let message = format!(
                    "The '{}' option is recognised but not implemented yet in mosquitto-rs; \
                     it currently has no effect.",
                    shown.trim_end()
                );
                self.note(NoteKind::NotYetActive, at, opt, message);
            }
        }
        Ok(())
    }

    fn note(&mut self, kind: NoteKind, at: &At, option: &str, message: String) {
        self.cfg.notes.push(ConfigNote {
            file: at.file.to_path_buf(),
            line: at.line,
            option: option.to_string(),
            kind,
            message,
        });
    }

    fn listener(&mut self, cur: Cur, at: &At) -> &mut Listener {
        match cur {
            Cur::Default => {
                if self.default_origin.is_none() {
                    self.default_origin = Some((at.file.to_path_buf(), at.line));
                }
                &mut self.default_listener
            }
            Cur::Explicit(i) => match self.cfg.listeners.get_mut(i) {
                Some(l) => l,
                None => &mut self.default_listener,
            },
        }
    }

    /// Where security options go now, and remembers that one was seen.
    fn sec_target(&mut self, fs: &FileState) -> SecTarget {
        self.security_touched = true;
        if self.cfg.per_listener_settings {
            match fs.listener {
                Cur::Default => SecTarget::Default,
                Cur::Explicit(i) => SecTarget::Explicit(i),
            }
        } else {
            SecTarget::Global
        }
    }

    fn security(&mut self, target: SecTarget, at: &At) -> &mut Security {
        match target {
            SecTarget::Global => &mut self.cfg.security,
            SecTarget::Default => &mut self.listener(Cur::Default, at).security,
            SecTarget::Explicit(i) => &mut self.listener(Cur::Explicit(i), at).security,
        }
    }

    fn bridge(&mut self, fs: &FileState) -> Result<&mut Bridge, Fail> {
        match fs.bridge.and_then(|i| self.cfg.bridges.get_mut(i)) {
            Some(b) => Ok(b),
            None => Err(Fail::Msg("Invalid bridge configuration.".to_string())),
        }
    }

    fn plugin(&mut self, fs: &FileState, at: &At, what: &str) -> Result<&mut PluginConfig, Fail> {
        let missing = || {
            Fail::Msg(format!(
                "The {what} option must follow a plugin (or auth_plugin) line."
            ))
        };
        let (target, index) = fs.plugin.ok_or_else(missing)?;
        self.security(target, at)
            .plugins
            .get_mut(index)
            .ok_or_else(missing)
    }

    /// Handles one option. Returns the canonical option name for the
    /// "not yet active" check, or `None` when no such check applies.
    fn option(
        &mut self,
        fs: &mut FileState,
        opt: &str,
        w: &mut Words,
        at: &At,
        level: u32,
    ) -> Handled {
        if let Some(key) = opt.strip_prefix("auth_opt_") {
            self.note(
                NoteKind::Deprecated,
                at,
                opt,
                "The 'auth_opt_*' options are deprecated; use 'plugin_opt_*' instead.".to_string(),
            );
            return self.plugin_opt(fs, "auth_opt_", key, w, at);
        }
        if let Some(key) = opt.strip_prefix("plugin_opt_") {
            return self.plugin_opt(fs, "plugin_opt_", key, w, at);
        }

        let cur = fs.listener;
        match opt {
            // ----- Options dropped by mosquitto 2.0, accepted from old files -----
            "store_clean_interval" => {
                self.deprecated(at, opt, "it is no longer needed and is ignored.");
                Ok(Track::Skip)
            }
            "retry_interval" => {
                self.deprecated(
                    at,
                    opt,
                    "it was removed in mosquitto 2.0 and is ignored; messages are only \
                     resent when a client reconnects.",
                );
                Ok(Track::Skip)
            }
            "trace_level" | "trace_output" | "ffdc_output" | "max_log_entries" => {
                self.deprecated(
                    at,
                    opt,
                    "it is an RSMB option that is not supported; ignored.",
                );
                Ok(Track::Skip)
            }

            // ----- General -----
            "acl_file" => {
                let t = self.sec_target(fs);
                set_path(&mut self.security(t, at).acl_file, w, opt)?;
                Ok(Track::As("acl_file"))
            }
            "allow_anonymous" => {
                let t = self.sec_target(fs);
                let v = bool_value(w, opt)?;
                self.security(t, at).allow_anonymous = Some(v);
                Ok(Track::As("allow_anonymous"))
            }
            "allow_duplicate_messages" => {
                self.deprecated(
                    at,
                    opt,
                    "it will be removed in a future version, duplicates will then always be \
                     allowed.",
                );
                self.cfg.allow_duplicate_messages = bool_value(w, opt)?;
                Ok(Track::As("allow_duplicate_messages"))
            }
            "allow_zero_length_clientid" => {
                let t = self.sec_target(fs);
                let v = bool_value(w, opt)?;
                self.security(t, at).allow_zero_length_clientid = v;
                Ok(Track::As("allow_zero_length_clientid"))
            }
            "auth_plugin" | "plugin" => {
                if opt == "auth_plugin" {
                    self.deprecated(at, opt, "use 'plugin' instead.");
                }
                let t = self.sec_target(fs);
                let path = string_value(w, opt, false)?;
                let sec = self.security(t, at);
                sec.plugins.push(PluginConfig {
                    path: PathBuf::from(path),
                    options: Vec::new(),
                    deny_special_chars: true,
                });
                let index = sec.plugins.len() - 1;
                fs.plugin = Some((t, index));
                Ok(Track::As("plugin"))
            }
            "auth_plugin_deny_special_chars" => {
                let v = bool_value(w, opt)?;
                self.plugin(fs, at, opt)?.deny_special_chars = v;
                Ok(Track::Written)
            }
            "auto_id_prefix" => {
                let t = self.sec_target(fs);
                set_string(&mut self.security(t, at).auto_id_prefix, w, opt)?;
                Ok(Track::As("auto_id_prefix"))
            }
            "autosave_interval" => {
                self.cfg.autosave_interval = non_negative(int_value(w, opt)?);
                Ok(Track::As("autosave_interval"))
            }
            "autosave_on_changes" => {
                self.cfg.autosave_on_changes = bool_value(w, opt)?;
                Ok(Track::As("autosave_on_changes"))
            }
            // mosquitto-rs extension: what to do with a corrupt database.
            "persistence_discard_corrupt" => {
                self.cfg.persistence_discard_corrupt = bool_value(w, opt)?;
                Ok(Track::As("persistence_discard_corrupt"))
            }
            "check_retain_source" => {
                self.sec_target(fs);
                self.cfg.check_retain_source = bool_value(w, opt)?;
                Ok(Track::As("check_retain_source"))
            }
            "clientid_prefixes" => {
                self.deprecated(at, opt, "it will be removed in a future version.");
                set_string(&mut self.cfg.security.clientid_prefixes, w, opt)?;
                Ok(Track::As("clientid_prefixes"))
            }
            "connection_messages" => {
                self.cfg.connection_messages = bool_value(w, opt)?;
                Ok(Track::As("connection_messages"))
            }
            "include_dir" => {
                if level > 0 {
                    self.note(
                        NoteKind::Notice,
                        at,
                        opt,
                        "include_dir is only read from the main configuration file; this one \
                         is ignored."
                            .to_string(),
                    );
                    return Ok(Track::Skip);
                }
                let dir = w
                    .rest()
                    .ok_or_else(|| "Empty include_dir value in configuration.".to_string())?;
                let files = include_dir_files(dir)?;
                self.cfg.include_dirs.push(PathBuf::from(dir));
                for file in files {
                    let text = read_config_file(&file).map_err(Fail::Nested)?;
                    self.read_text(&text, &file, level + 1)
                        .map_err(Fail::Nested)?;
                }
                Ok(Track::As("include_dir"))
            }
            "log_dest" => {
                let dest = word(w, opt)?;
                let list = self.log_dest.get_or_insert_with(Vec::new);
                let new = match dest {
                    "none" => {
                        list.clear();
                        None
                    }
                    "stdout" => Some(LogDest::Stdout),
                    "stderr" => Some(LogDest::Stderr),
                    "syslog" => Some(LogDest::Syslog),
                    "topic" => Some(LogDest::Topic),
                    "dlt" => Some(LogDest::Dlt),
                    "file" => {
                        if self.log_file_seen {
                            return Err(Fail::Msg("Duplicate \"log_dest file\" value.".into()));
                        }
                        let path = w.rest().ok_or_else(|| {
                            "Empty \"log_dest file\" value in configuration.".to_string()
                        })?;
                        validate_text(path, "log_dest file")?;
                        self.log_file_seen = true;
                        Some(LogDest::File(PathBuf::from(path)))
                    }
                    other => return Err(Fail::Msg(format!("Invalid log_dest value ({other})."))),
                };
                if let Some(d) = new {
                    if !list.contains(&d) {
                        list.push(d);
                    }
                }
                Ok(Track::As("log_dest"))
            }
            "log_facility" => {
                let v = int_value(w, opt)?;
                if !(0..=7).contains(&v) {
                    return Err(Fail::Msg(format!("Invalid log_facility value ({v}).")));
                }
                self.cfg.log_facility = Some(v as u8);
                Ok(Track::As("log_facility"))
            }
            "log_timestamp" => {
                self.cfg.log_timestamp = bool_value(w, opt)?;
                Ok(Track::As("log_timestamp"))
            }
            "log_timestamp_format" => {
                set_string(&mut self.cfg.log_timestamp_format, w, opt)?;
                Ok(Track::As("log_timestamp_format"))
            }
            "log_type" => {
                let t = word(w, opt)?;
                let acc = self.log_types.get_or_insert(LogTypes::NONE);
                let bit = match t {
                    "none" => {
                        *acc = LogTypes::NONE;
                        return Ok(Track::As("log_type"));
                    }
                    "all" => LogTypes::ALL,
                    "information" => LogTypes::INFORMATION,
                    "notice" => LogTypes::NOTICE,
                    "warning" => LogTypes::WARNING,
                    "error" => LogTypes::ERROR,
                    "debug" => LogTypes::DEBUG,
                    "subscribe" => LogTypes::SUBSCRIBE,
                    "unsubscribe" => LogTypes::UNSUBSCRIBE,
                    "websockets" => LogTypes::WEBSOCKETS,
                    "internal" => LogTypes::INTERNAL,
                    other => return Err(Fail::Msg(format!("Invalid log_type value ({other})."))),
                };
                acc.insert(bit);
                Ok(Track::As("log_type"))
            }
            "max_inflight_bytes" => {
                self.cfg.max_inflight_bytes = u64::from(non_negative(int_value(w, opt)?));
                Ok(Track::As("max_inflight_bytes"))
            }
            "max_inflight_messages" => {
                let v = int_value(w, opt)?;
                self.cfg.max_inflight_messages = if v < 0 || v == 65535 {
                    0
                } else {
                    u16::try_from(v)
                        .map_err(|_| "max_inflight_messages must be <= 65535.".to_string())?
                };
                Ok(Track::As("max_inflight_messages"))
            }
            "max_keepalive" => {
                let v = int_value(w, opt)?;
                self.cfg.max_keepalive =
                    u16::try_from(v).map_err(|_| format!("Invalid max_keepalive value ({v})."))?;
                Ok(Track::As("max_keepalive"))
            }
            "max_packet_size" => {
                let v = int_value(w, opt)?;
                // mosquitto refuses 0 as well; we take it as "no limit", the
                // value its annotated config file shows as the default.
                if v != 0 && v < 20 {
                    return Err(Fail::Msg(format!("Invalid max_packet_size value ({v}).")));
                }
                self.cfg.max_packet_size = non_negative(v);
                Ok(Track::As("max_packet_size"))
            }
            "max_queued_bytes" => {
                self.cfg.max_queued_bytes = u64::from(non_negative(int_value(w, opt)?));
                Ok(Track::As("max_queued_bytes"))
            }
            "max_queued_messages" => {
                self.cfg.max_queued_messages = non_negative(int_value(w, opt)?);
                Ok(Track::As("max_queued_messages"))
            }
            "memory_limit" => {
                let tok = word(w, opt)?;
                let v: i64 = tok
                    .parse()
                    .map_err(|_| format!("Invalid memory_limit value ({tok})."))?;
                self.cfg.memory_limit =
                    u64::try_from(v).map_err(|_| format!("Invalid memory_limit value ({v})."))?;
                Ok(Track::As("memory_limit"))
            }
            "message_size_limit" => {
                self.note(
                    NoteKind::Notice,
                    at,
                    opt,
                    "It is recommended to replace 'message_size_limit' with 'max_packet_size'."
                        .to_string(),
                );
                let v = int_value(w, opt)?;
                self.cfg.message_size_limit = u32::try_from(v)
                    .ok()
                    .filter(|v| *v <= MQTT_MAX_PAYLOAD)
                    .ok_or_else(|| format!("Invalid message_size_limit value ({v})."))?;
                Ok(Track::As("message_size_limit"))
            }
            "password_file" => {
                let t = self.sec_target(fs);
                set_path(&mut self.security(t, at).password_file, w, opt)?;
                Ok(Track::As("password_file"))
            }
            "per_listener_settings" => {
                let v = bool_value(w, opt)?;
                self.cfg.per_listener_settings = v;
                if v && self.security_touched {
                    return Err(Fail::Msg(
                        "per_listener_settings must be set before any other security settings."
                            .into(),
                    ));
                }
                Ok(Track::As("per_listener_settings"))
            }
            "persistence" | "retained_persistence" => {
                self.cfg.persistence = bool_value(w, opt)?;
                Ok(Track::As("persistence"))
            }
            "persistence_file" => {
                set_string(&mut self.cfg.persistence_file, w, opt)?;
                Ok(Track::As("persistence_file"))
            }
            "persistence_location" => {
                set_path(&mut self.cfg.persistence_location, w, opt)?;
                Ok(Track::As("persistence_location"))
            }
            "persistent_client_expiration" => {
                self.cfg.persistent_client_expiration = Some(expiration(w, opt)?);
                Ok(Track::As("persistent_client_expiration"))
            }
            "pid_file" => {
                set_path(&mut self.cfg.pid_file, w, opt)?;
                Ok(Track::As("pid_file"))
            }
            "psk_file" => {
                let t = self.sec_target(fs);
                set_path(&mut self.security(t, at).psk_file, w, opt)?;
                Ok(Track::As("psk_file"))
            }
            "queue_qos0_messages" => {
                self.cfg.queue_qos0_messages = bool_value(w, opt)?;
                Ok(Track::As("queue_qos0_messages"))
            }
            "retain_available" => {
                self.cfg.retain_available = bool_value(w, opt)?;
                Ok(Track::As("retain_available"))
            }
            "set_tcp_nodelay" => {
                self.cfg.set_tcp_nodelay = bool_value(w, opt)?;
                Ok(Track::As("set_tcp_nodelay"))
            }
            "sys_interval" => {
                let v = int_value(w, opt)?;
                if !(0..=65535).contains(&v) {
                    return Err(Fail::Msg(format!("Invalid sys_interval value ({v}).")));
                }
                self.cfg.sys_interval = non_negative(v);
                Ok(Track::As("sys_interval"))
            }
            "upgrade_outgoing_qos" => {
                self.cfg.upgrade_outgoing_qos = bool_value(w, opt)?;
                Ok(Track::As("upgrade_outgoing_qos"))
            }
            "user" => {
                self.cfg.user = string_value(w, opt, false)?;
                Ok(Track::As("user"))
            }
            "websockets_log_level" => {
                self.cfg.websockets_log_level = int_value(w, opt)?;
                Ok(Track::As("websockets_log_level"))
            }
            "websockets_headers_size" => {
                let v = int_value(w, opt)?;
                self.cfg.websockets_headers_size = u16::try_from(v).map_err(|_| {
                    "Websockets headers size must be between 0 and 65535 inclusive.".to_string()
                })?;
                Ok(Track::As("websockets_headers_size"))
            }

            // ----- Listeners -----
            "listener" => {
                self.cfg.local_only = false;
                let tok = w
                    .next_arg()
                    .ok_or_else(|| "Empty listener value in configuration.".to_string())?;
                let port = int_value_of(tok, "listener port")
                    .ok()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| format!("Invalid port value ({tok})."))?;
                let host = w.next_arg();
                let mut listener = Listener::new(port);
                match host {
                    None if port == 0 => {
                        return Err(Fail::Msg(
                            "A listener with port 0 must provide a Unix socket path.".into(),
                        ))
                    }
                    None => {}
                    Some(h) => {
                        validate_text(h, opt)?;
                        if port == 0 {
                            listener.unix_socket_path = Some(PathBuf::from(h));
                        } else {
                            listener.bind_address = Some(h.to_string());
                        }
                    }
                }
                self.cfg.listeners.push(listener);
                self.listener_origins.push((at.file.to_path_buf(), at.line));
                fs.listener = Cur::Explicit(self.cfg.listeners.len() - 1);
                Ok(Track::As("listener"))
            }
            "port" => {
                self.deprecated(at, opt, "use 'listener' instead.");
                self.cfg.local_only = false;
                if self.default_listener.port != 0 {
                    self.note(
                        NoteKind::Notice,
                        at,
                        opt,
                        "The default listener port is given more than once; the last one is \
                         used."
                            .to_string(),
                    );
                }
                let v = int_value(w, opt)?;
                let port = u16::try_from(v)
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("Invalid port value ({v})."))?;
                self.listener(Cur::Default, at).port = port;
                Ok(Track::As("port"))
            }
            "bind_address" => {
                self.deprecated(at, opt, "use 'listener <port> <address>' instead.");
                self.cfg.local_only = false;
                set_string(&mut self.listener(Cur::Default, at).bind_address, w, opt)?;
                Ok(Track::As("bind_address"))
            }
            "bind_interface" => {
                set_string(&mut self.listener(cur, at).bind_interface, w, opt)?;
                Ok(Track::As("bind_interface"))
            }
            "http_dir" => {
                set_path(&mut self.listener(cur, at).http_dir, w, opt)?;
                Ok(Track::As("http_dir"))
            }
            "max_connections" => {
                let v = int_value(w, opt)?;
                self.listener(cur, at).max_connections = if v < 0 { -1 } else { v };
                Ok(Track::As("max_connections"))
            }
            "max_qos" | "maximum_qos" => {
                let v = int_value(w, opt)?;
                if !(0..=2).contains(&v) {
                    return Err(Fail::Msg(
                        "max_qos must be between 0 and 2 inclusive.".to_string(),
                    ));
                }
                self.listener(cur, at).max_qos = v as u8;
                Ok(Track::As("max_qos"))
            }
            "max_topic_alias" => {
                let v = int_value(w, opt)?;
                self.listener(cur, at).max_topic_alias = u16::try_from(v)
                    .map_err(|_| format!("Invalid max_topic_alias value ({v})."))?;
                Ok(Track::As("max_topic_alias"))
            }
            "mount_point" => {
                if self.cfg.listeners.is_empty() {
                    return Err(Fail::Msg(
                        "You must create a listener before using the mount_point option in \
                         the configuration file."
                            .into(),
                    ));
                }
                let l = self.listener(cur, at);
                set_string(&mut l.mount_point, w, opt)?;
                if let Some(mp) = &l.mount_point {
                    if !pub_topic_ok(mp) {
                        return Err(Fail::Msg(format!(
                            "Invalid mount_point '{mp}'. Does it contain a wildcard character?"
                        )));
                    }
                }
                Ok(Track::As("mount_point"))
            }
            "protocol" => {
                let p = match word(w, opt)? {
                    "mqtt" => Protocol::Mqtt,
                    "websockets" => Protocol::Websockets,
                    other => return Err(Fail::Msg(format!("Invalid protocol value ({other})."))),
                };
                self.listener(cur, at).protocol = p;
                Ok(Track::As("protocol"))
            }
            "socket_domain" => {
                let d = match word(w, opt)? {
                    "ipv4" => SocketDomain::Ipv4,
                    "ipv6" => SocketDomain::Ipv6,
                    other => {
                        return Err(Fail::Msg(format!(
                            "Invalid socket_domain value \"{other}\" in configuration."
                        )))
                    }
                };
                self.listener(cur, at).socket_domain = Some(d);
                Ok(Track::As("socket_domain"))
            }
            "use_username_as_clientid" => {
                self.listener(cur, at).use_username_as_clientid = bool_value(w, opt)?;
                Ok(Track::As("use_username_as_clientid"))
            }

            // ----- Listener TLS / PSK -----
            "cafile" | "certfile" => {
                let l = self.listener(cur, at);
                if l.tls.psk_hint.is_some() {
                    return Err(Fail::Msg(
                        "Cannot use both certificate and psk encryption in a single listener."
                            .into(),
                    ));
                }
                let slot = if opt == "cafile" {
                    &mut l.tls.cafile
                } else {
                    &mut l.tls.certfile
                };
                set_path(slot, w, opt)?;
                Ok(Track::Written)
            }
            "capath" => {
                set_path(&mut self.listener(cur, at).tls.capath, w, opt)?;
                Ok(Track::As("capath"))
            }
            "keyfile" => {
                set_path(&mut self.listener(cur, at).tls.keyfile, w, opt)?;
                Ok(Track::As("keyfile"))
            }
            "ciphers" => {
                set_string(&mut self.listener(cur, at).tls.ciphers, w, opt)?;
                Ok(Track::As("ciphers"))
            }
            "ciphers_tls1.3" => {
                set_string(&mut self.listener(cur, at).tls.ciphers_tls13, w, opt)?;
                Ok(Track::As("ciphers_tls1.3"))
            }
            "crlfile" => {
                set_path(&mut self.listener(cur, at).tls.crlfile, w, opt)?;
                Ok(Track::As("crlfile"))
            }
            "dhparamfile" => {
                set_path(&mut self.listener(cur, at).tls.dhparamfile, w, opt)?;
                Ok(Track::As("dhparamfile"))
            }
            "psk_hint" => {
                set_string(&mut self.listener(cur, at).tls.psk_hint, w, opt)?;
                Ok(Track::As("psk_hint"))
            }
            "require_certificate" => {
                self.listener(cur, at).tls.require_certificate = bool_value(w, opt)?;
                Ok(Track::As("require_certificate"))
            }
            "tls_engine" => {
                set_string(&mut self.listener(cur, at).tls.tls_engine, w, opt)?;
                Ok(Track::As("tls_engine"))
            }
            "tls_engine_kpass_sha1" => {
                let v = string_value(w, opt, false)?;
                if v.len() != 40 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Fail::Msg(format!(
                        "Invalid tls_engine_kpass_sha1 value ({v}): 40 hexadecimal digits \
                         expected."
                    )));
                }
                self.listener(cur, at).tls.tls_engine_kpass_sha1 = Some(v);
                Ok(Track::As("tls_engine_kpass_sha1"))
            }
            "tls_keyform" => {
                // Like mosquitto: "engine" selects the engine, anything else PEM.
                let v = string_value(w, opt, false)?;
                self.listener(cur, at).tls.tls_keyform = if v == "engine" {
                    KeyForm::Engine
                } else {
                    KeyForm::Pem
                };
                Ok(Track::As("tls_keyform"))
            }
            "tls_version" => {
                // Checked by the start-up rules, and only for listeners that
                // use TLS: mosquitto ignores it elsewhere.
                set_string(&mut self.listener(cur, at).tls.tls_version, w, opt)?;
                Ok(Track::As("tls_version"))
            }
            "use_identity_as_username" => {
                self.listener(cur, at).tls.use_identity_as_username = bool_value(w, opt)?;
                Ok(Track::As("use_identity_as_username"))
            }
            "use_subject_as_username" => {
                self.listener(cur, at).tls.use_subject_as_username = bool_value(w, opt)?;
                Ok(Track::As("use_subject_as_username"))
            }

            // ----- Bridges -----
            "connection" => {
                let name = word(w, opt)
                    .map_err(|_| "Empty connection value in configuration.".to_string())?;
                validate_text(name, opt)?;
                if self.cfg.bridges.iter().any(|b| b.name == name) {
                    return Err(Fail::Msg(format!("Duplicate bridge name \"{name}\".")));
                }
                let mut bridge = Bridge::new(name);
                bridge.file = at.file.to_path_buf();
                bridge.line = at.line;
                self.cfg.bridges.push(bridge);
                fs.bridge = Some(self.cfg.bridges.len() - 1);
                Ok(Track::As("connection"))
            }
            "address" | "addresses" => {
                let b = self.bridge(fs)?;
                if !b.addresses.is_empty() {
                    return Err(Fail::Msg("Invalid bridge configuration.".into()));
                }
                let mut addresses = Vec::new();
                while let Some(tok) = w.next_arg() {
                    addresses.push(bridge_address(tok)?);
                }
                if addresses.is_empty() {
                    return Err(Fail::Msg("Empty address value in configuration.".into()));
                }
                b.addresses = addresses;
                Ok(Track::As("address"))
            }
            "topic" => {
                let topic = bridge_topic(w)?;
                self.bridge(fs)?.topics.push(topic);
                Ok(Track::As("topic"))
            }
            "bridge_attempt_unsubscribe" => {
                let v = bool_value(w, opt)?;
                self.bridge(fs)?.attempt_unsubscribe = v;
                Ok(Track::Written)
            }
            "bridge_cafile" | "bridge_capath" | "bridge_certfile" | "bridge_keyfile" => {
                let b = self.bridge(fs)?;
                if b.tls.psk_identity.is_some() || b.tls.psk.is_some() {
                    return Err(Fail::Msg(
                        "Cannot use both certificate and psk encryption in a single bridge.".into(),
                    ));
                }
                let slot = match opt {
                    "bridge_cafile" => &mut b.tls.cafile,
                    "bridge_capath" => &mut b.tls.capath,
                    "bridge_certfile" => &mut b.tls.certfile,
                    _ => &mut b.tls.keyfile,
                };
                set_path(slot, w, opt)?;
                Ok(Track::Written)
            }
            "bridge_identity" | "bridge_psk" => {
                let b = self.bridge(fs)?;
                if b.has_cert_settings() {
                    return Err(Fail::Msg(
                        "Cannot use both certificate and psk encryption in a single bridge.".into(),
                    ));
                }
                let slot = if opt == "bridge_identity" {
                    &mut b.tls.psk_identity
                } else {
                    &mut b.tls.psk
                };
                set_string(slot, w, opt)?;
                Ok(Track::Written)
            }
            "bridge_alpn" => {
                set_string(&mut self.bridge(fs)?.tls.alpn, w, opt)?;
                Ok(Track::As("bridge_alpn"))
            }
            "bridge_bind_address" => {
                set_string(&mut self.bridge(fs)?.bind_address, w, opt)?;
                Ok(Track::As("bridge_bind_address"))
            }
            "bridge_insecure" => {
                let v = bool_value(w, opt)?;
                let b = self.bridge(fs)?;
                b.tls.insecure = v;
                if v {
                    let message = format!(
                        "Bridge {} is in insecure mode: the remote host name is not checked.",
                        b.name
                    );
                    self.note(NoteKind::Notice, at, opt, message);
                }
                Ok(Track::As("bridge_insecure"))
            }
            "bridge_require_ocsp" => {
                let v = bool_value(w, opt)?;
                self.bridge(fs)?.tls.ocsp_required = v;
                Ok(Track::As("bridge_require_ocsp"))
            }
            "bridge_max_packet_size" => {
                let v = int_value(w, opt)?;
                self.bridge(fs)?.max_packet_size = non_negative(v);
                Ok(Track::As("bridge_max_packet_size"))
            }
            "bridge_outgoing_retain" => {
                let v = bool_value(w, opt)?;
                self.bridge(fs)?.outgoing_retain = v;
                Ok(Track::As("bridge_outgoing_retain"))
            }
            "bridge_protocol_version" => {
                let b = self.bridge(fs)?;
                let v = w.rest().ok_or_else(|| {
                    "Empty bridge_protocol_version value in configuration.".to_string()
                })?;
                b.protocol_version = match v {
                    "mqttv31" => BridgeProtocol::Mqtt31,
                    "mqttv311" => BridgeProtocol::Mqtt311,
                    "mqttv50" => BridgeProtocol::Mqtt5,
                    other => {
                        return Err(Fail::Msg(format!(
                            "Invalid bridge_protocol_version value ({other})."
                        )))
                    }
                };
                Ok(Track::As("bridge_protocol_version"))
            }
            "bridge_tls_version" => {
                set_string(&mut self.bridge(fs)?.tls.tls_version, w, opt)?;
                Ok(Track::As("bridge_tls_version"))
            }
            "clientid" | "remote_clientid" => {
                set_string(&mut self.bridge(fs)?.remote_clientid, w, opt)?;
                Ok(Track::As("remote_clientid"))
            }
            "local_clientid" => {
                set_string(&mut self.bridge(fs)?.local_clientid, w, opt)?;
                Ok(Track::As("local_clientid"))
            }
            "username" | "remote_username" => {
                set_string(&mut self.bridge(fs)?.remote_username, w, opt)?;
                Ok(Track::As("remote_username"))
            }
            "password" | "remote_password" => {
                set_string(&mut self.bridge(fs)?.remote_password, w, opt)?;
                Ok(Track::As("remote_password"))
            }
            "local_username" => {
                set_string(&mut self.bridge(fs)?.local_username, w, opt)?;
                Ok(Track::As("local_username"))
            }
            "local_password" => {
                set_string(&mut self.bridge(fs)?.local_password, w, opt)?;
                Ok(Track::As("local_password"))
            }
            "cleansession" => {
                let b = self.bridge(fs)?;
                b.cleansession = bool_value(w, opt)?;
                Ok(Track::As("cleansession"))
            }
            "local_cleansession" => {
                let b = self.bridge(fs)?;
                b.local_cleansession = Some(bool_value(w, opt)?);
                Ok(Track::As("local_cleansession"))
            }
            "idle_timeout" => {
                let b = self.bridge(fs)?;
                let v = int_value(w, opt)?;
                b.idle_timeout = non_negative(v).max(1);
                if v < 1 {
                    self.adjusted(at, opt, "idle_timeout is too low, using 1 second.");
                }
                Ok(Track::As("idle_timeout"))
            }
            "keepalive_interval" => {
                let b = self.bridge(fs)?;
                let v = int_value(w, opt)?;
                if v > 65535 {
                    return Err(Fail::Msg("Bridge keepalive value too high.".into()));
                }
                b.keepalive_interval = u16::try_from(v).unwrap_or(0).max(5);
                if v < 5 {
                    self.adjusted(at, opt, "keepalive_interval is too low, using 5 seconds.");
                }
                Ok(Track::As("keepalive_interval"))
            }
            "notifications" => {
                let b = self.bridge(fs)?;
                b.notifications = bool_value(w, opt)?;
                Ok(Track::As("notifications"))
            }
            "notifications_local_only" => {
                let b = self.bridge(fs)?;
                b.notifications_local_only = bool_value(w, opt)?;
                Ok(Track::As("notifications_local_only"))
            }
            "notification_topic" => {
                let b = self.bridge(fs)?;
                set_string(&mut b.notification_topic, w, opt)?;
                if let Some(t) = &b.notification_topic {
                    if !pub_topic_ok(t) {
                        return Err(Fail::Msg(format!("Invalid notification_topic '{t}'.")));
                    }
                }
                Ok(Track::As("notification_topic"))
            }
            "restart_timeout" => {
                let b = self.bridge(fs)?;
                let base = int_value(w, opt)?;
                let cap = match w.next_arg() {
                    Some(tok) => Some(int_value_of(tok, opt)?),
                    None => None,
                };
                let base_clamped = non_negative(base).max(1);
                if let Some(cap) = cap {
                    if cap < i32::try_from(base_clamped).unwrap_or(i32::MAX) {
                        return Err(Fail::Msg(
                            "backoff cap is lower than the base in restart_timeout.".into(),
                        ));
                    }
                }
                b.restart_timeout.base = base_clamped;
                b.restart_timeout.cap = cap.map(non_negative);
                if base < 1 {
                    self.adjusted(at, opt, "restart_timeout is too low, using 1 second.");
                }
                Ok(Track::As("restart_timeout"))
            }
            "round_robin" => {
                let b = self.bridge(fs)?;
                b.round_robin = bool_value(w, opt)?;
                Ok(Track::As("round_robin"))
            }
            "start_type" => {
                let b = self.bridge(fs)?;
                b.start_type = match word(w, opt)? {
                    "automatic" => StartType::Automatic,
                    "lazy" => StartType::Lazy,
                    "once" => StartType::Once,
                    "manual" => {
                        return Err(Fail::Msg("Manual start_type not supported.".into()));
                    }
                    other => {
                        return Err(Fail::Msg(format!(
                            "Invalid start_type value in configuration ({other})."
                        )))
                    }
                };
                Ok(Track::As("start_type"))
            }
            "threshold" => {
                let b = self.bridge(fs)?;
                let v = int_value(w, opt)?;
                b.threshold = non_negative(v).max(1);
                if v < 1 {
                    self.adjusted(at, opt, "threshold is too low, using 1 message.");
                }
                Ok(Track::As("threshold"))
            }
            "try_private" => {
                let b = self.bridge(fs)?;
                b.try_private = bool_value(w, opt)?;
                Ok(Track::As("try_private"))
            }

            other => Err(Fail::Msg(format!(
                "Unknown configuration variable \"{other}\"."
            ))),
        }
    }

    fn plugin_opt(
        &mut self,
        fs: &FileState,
        prefix: &str,
        key: &str,
        w: &mut Words,
        at: &At,
    ) -> Handled {
        if key.is_empty() {
            return Err(Fail::Msg(format!("Invalid {prefix} config option.")));
        }
        validate_text(key, prefix)?;
        let value = w
            .rest()
            .ok_or_else(|| format!("Empty {key} value in configuration."))?;
        validate_text(value, key)?;
        let plugin = self.plugin(fs, at, prefix)?;
        plugin.options.push((key.to_string(), value.to_string()));
        Ok(Track::As("plugin_opt_*"))
    }

    fn deprecated(&mut self, at: &At, opt: &str, advice: &str) {
        let message = format!("The '{opt}' option is deprecated: {advice}");
        self.note(NoteKind::Deprecated, at, opt, message);
    }

    fn adjusted(&mut self, at: &At, opt: &str, message: &str) {
        self.note(NoteKind::Notice, at, opt, message.to_string());
    }
}

/// Reads a configuration file, refusing directories as mosquitto does.
fn read_config_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    if path.is_dir() {
        return Err(ConfigError::new(
            path,
            0,
            format!("Config file {} is a directory.", path.display()),
        ));
    }
    std::fs::read(path).map_err(|_| {
        ConfigError::new(
            path,
            0,
            format!("Unable to open config file {}.", path.display()),
        )
    })
}

/// The `*.conf` files of an include directory, in mosquitto's order: by
/// letter ignoring case, and for the same letter upper case first.
pub(crate) fn include_dir_files(dir: &str) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|_| format!("Unable to open include_dir '{dir}'."))?;
    let mut names: Vec<Vec<u8>> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().as_bytes().to_vec())
        .filter(|n| n.len() > 5 && n.ends_with(b".conf"))
        .collect();
    names.sort_by(|a, b| include_order(a, b));
    Ok(names
        .into_iter()
        .map(|name| {
            // mosquitto joins with a plain "/", so the paths in messages match.
            let mut full = dir.as_bytes().to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            PathBuf::from(OsString::from_vec(full))
        })
        .collect())
}

/// mosquitto's include_dir sort: compare letters case-insensitively, and
/// when they differ only in case put the upper case one first.
pub(crate) fn include_order(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let (ux, uy) = (x.to_ascii_uppercase(), y.to_ascii_uppercase());
        if ux != uy {
            return ux.cmp(&uy);
        }
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

// ----- Words of a line -----

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits a line into words separated by spaces or tabs.
pub(crate) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(crate) fn new(line: &'a str) -> Self {
        Words { rest: line }
    }

    /// The next word.
    pub(crate) fn next(&mut self) -> Option<&'a str> {
        let s = self.rest.trim_start_matches(is_blank);
        let end = s.find(is_blank).unwrap_or(s.len());
        let (word, rest) = s.split_at_checked(end).unwrap_or((s, ""));
        self.rest = rest;
        if word.is_empty() {
            None
        } else {
            Some(word)
        }
    }

    /// The next word, or `None` at the end or at a word starting with `#`
    /// (a trailing comment, which is then skipped entirely).
    pub(crate) fn next_arg(&mut self) -> Option<&'a str> {
        match self.next() {
            Some(w) if w.starts_with('#') => {
                self.rest = "";
                None
            }
            other => other,
        }
    }

    /// The next word without consuming it.
    pub(crate) fn peek(&self) -> Option<&'a str> {
        Words { rest: self.rest }.next()
    }

    /// The rest of the line, trimmed; `None` when empty.
    pub(crate) fn rest(&mut self) -> Option<&'a str> {
        let s = self.rest.trim();
        self.rest = "";
        if s.is_empty() {
            None
        } else {
            Some(s)
        }
    }
}

// ----- Value parsers -----

fn word<'a>(w: &mut Words<'a>, name: &str) -> Result<&'a str, String> {
    w.next()
        .ok_or_else(|| format!("Empty {name} value in configuration."))
}

fn bool_value(w: &mut Words, name: &str) -> Result<bool, String> {
    match word(w, name)? {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("Invalid {name} value ({other}).")),
    }
}

/// A whole decimal integer in C `int` range (mosquitto uses `int` for every
/// numeric option). Unlike mosquitto's `atoi`, trailing garbage is refused.
fn int_value_of(tok: &str, name: &str) -> Result<i32, String> {
    tok.parse::<i32>()
        .map_err(|_| format!("Invalid {name} value ({tok})."))
}

fn int_value(w: &mut Words, name: &str) -> Result<i32, String> {
    let tok = word(w, name)?;
    int_value_of(tok, name)
}

fn non_negative(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Checks a string value as mosquitto does: valid UTF-8 (guaranteed by
/// `&str`), no control characters, no non-characters, at most 65535 bytes.
fn validate_text(s: &str, name: &str) -> Result<(), String> {
    if s.len() > 65535 {
        return Err(format!("The {name} value is too long."));
    }
    let bad = s.chars().any(|c| {
        let u = u32::from(c);
        u <= 0x1f
            || (0x7f..=0x9f).contains(&u)
            || (0xfdd0..=0xfdef).contains(&u)
            || (u & 0xfffe) == 0xfffe
    });
    if bad {
        return Err("Malformed UTF-8 in configuration.".to_string());
    }
    Ok(())
}

/// The rest of the line as a string value. `already_set` gives mosquitto's
/// "Duplicate" error for options that may only be given once.
fn string_value(w: &mut Words, name: &str, already_set: bool) -> Result<String, String> {
    let v = w
        .rest()
        .ok_or_else(|| format!("Empty {name} value in configuration."))?;
    if already_set {
        return Err(format!("Duplicate {name} value in configuration."));
    }
    validate_text(v, name)?;
    Ok(v.to_string())
}

fn set_string(slot: &mut Option<String>, w: &mut Words, name: &str) -> Result<(), String> {
    let v = string_value(w, name, slot.is_some())?;
    *slot = Some(v);
    Ok(())
}

fn set_path(slot: &mut Option<PathBuf>, w: &mut Words, name: &str) -> Result<(), String> {
    let v = string_value(w, name, slot.is_some())?;
    *slot = Some(PathBuf::from(v));
    Ok(())
}

/// `persistent_client_expiration <n><h|d|w|m|y>`.
fn expiration(w: &mut Words, name: &str) -> Result<Duration, String> {
    let tok = word(w, name)?;
    let invalid = || format!("Invalid {name} duration in configuration.");
    let mut chars = tok.chars();
    let unit = chars.next_back().ok_or_else(invalid)?;
    let mult: u64 = match unit {
        'h' => 3600,
        'd' => 86400,
        'w' => 86400 * 7,
        'm' => 86400 * 30,
        'y' => 86400 * 365,
        _ => return Err(invalid()),
    };
    let n: i64 = chars.as_str().parse().map_err(|_| invalid())?;
    let n = u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(invalid)?;
    let secs = n.checked_mul(mult).ok_or_else(invalid)?;
    Ok(Duration::from_secs(secs))
}

/// `host[:port]`; the port is taken after the last colon, as mosquitto does
/// (so an IPv6 address needs an explicit port).
fn bridge_address(tok: &str) -> Result<BridgeAddress, String> {
    validate_text(tok, "address")?;
    match tok.rsplit_once(':') {
        Some((host, port)) => {
            let p = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("Invalid port value ({port})."))?;
            Ok(BridgeAddress {
                host: host.to_string(),
                port: p,
            })
        }
        None => Ok(BridgeAddress {
            host: tok.to_string(),
            port: DEFAULT_PORT,
        }),
    }
}

/// `topic pattern [[[out|in|both] qos] local-prefix remote-prefix]`, where
/// `""` stands for an empty pattern or prefix.
fn bridge_topic(w: &mut Words) -> Result<BridgeTopic, String> {
    let pattern = w
        .next()
        .ok_or_else(|| "Empty topic value in configuration.".to_string())?;
    validate_text(pattern, "topic")?;
    let mut topic = BridgeTopic {
        pattern: if pattern == "\"\"" {
            None
        } else {
            Some(pattern.to_string())
        },
        direction: Direction::Out,
        qos: 0,
        local_prefix: None,
        remote_prefix: None,
    };
    if let Some(dir) = w.next_arg() {
        topic.direction = match dir.to_ascii_lowercase().as_str() {
            "out" => Direction::Out,
            "in" => Direction::In,
            "both" => Direction::Both,
            _ => return Err(format!("Invalid bridge topic direction '{dir}'.")),
        };
        if let Some(qos) = w.next_arg() {
            topic.qos = qos
                .parse::<u8>()
                .ok()
                .filter(|q| *q <= 2)
                .ok_or_else(|| format!("Invalid bridge QoS level '{qos}'."))?;
            if let Some(lp) = w.next_arg() {
                validate_text(lp, "topic")?;
                topic.local_prefix = (lp != "\"\"").then(|| lp.to_string());
                if let Some(rp) = w.next_arg() {
                    validate_text(rp, "topic")?;
                    topic.remote_prefix = (rp != "\"\"").then(|| rp.to_string());
                }
            }
        }
    }
    for (side, prefix) in [
        ("local", &topic.local_prefix),
        ("remote", &topic.remote_prefix),
    ] {
        if let Some(p) = prefix {
            if !pub_topic_ok(p) {
                return Err(format!("Invalid bridge topic {side} prefix '{p}'."));
            }
        }
    }
    if topic.pattern.is_none() && (topic.local_prefix.is_none() || topic.remote_prefix.is_none()) {
        return Err("Invalid bridge remapping.".to_string());
    }
    let pat = topic.pattern.as_deref().unwrap_or("");
    for (side, prefix) in [
        ("local", &topic.local_prefix),
        ("remote", &topic.remote_prefix),
    ] {
        if let Some(p) = prefix {
            let full = format!("{p}{pat}");
            if !sub_topic_ok(&full) {
                return Err(format!(
                    "Invalid bridge topic {side} prefix and pattern combination '{full}'."
                ));
            }
        }
    }
    if let Some(p) = &topic.pattern {
        if !sub_topic_ok(p) {
            return Err(format!("Invalid bridge topic pattern '{p}'."));
        }
    }
    Ok(topic)
}

/// A topic one may publish to: no wildcards, within mosquitto's limits.
pub(crate) fn pub_topic_ok(t: &str) -> bool {
    !t.contains(['+', '#']) && t.len() <= 65535 && t.matches('/').count() <= TOPIC_HIERARCHY_LIMIT
}

/// A valid subscription filter: `+` and `#` only as whole levels, `#` last.
pub(crate) fn sub_topic_ok(t: &str) -> bool {
    if t.len() > 65535 || t.matches('/').count() > TOPIC_HIERARCHY_LIMIT {
        return false;
    }
    let levels: Vec<&str> = t.split('/').collect();
    let last = levels.len().saturating_sub(1);
    levels.iter().enumerate().all(|(i, level)| match *level {
        "+" => true,
        "#" => i == last,
        l => !l.contains(['+', '#']),
    })
}
