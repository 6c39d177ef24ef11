//! Broker-wide options: limits, logging, persistence, `include_dir`.

use std::path::PathBuf;
use std::time::Duration;

use super::args::Args;
use super::{Here, Set, Spec, Value};
use crate::config::parse::{include_dir_files, read_config_file, Fail, Reader};
use crate::config::{Config, LogDest, LogTypes, NoteKind, MQTT_MAX_PAYLOAD};

/// `message_size_limit`'s largest value, as the `int` it is parsed as.
const MAX_PAYLOAD: i32 = MQTT_MAX_PAYLOAD as i32;

const fn general(name: &'static str, value: Value<Config>) -> Spec {
    Spec::new(name, Set::General(value))
}

/// Sorted by name.
pub(super) const OPTIONS: &[Spec] = &[
    general(
        "allow_duplicate_messages",
        Value::Bool(|c| &mut c.allow_duplicate_messages),
    )
    .deprecated("it will be removed in a future version, duplicates will then always be allowed."),
    general(
        "autosave_interval",
        Value::With(|c, a| {
            c.autosave_interval = a.non_negative()?;
            Ok(())
        }),
    ),
    general(
        "autosave_on_changes",
        Value::Bool(|c| &mut c.autosave_on_changes),
    ),
    // Always global in mosquitto, whatever per_listener_settings says.
    general(
        "clientid_prefixes",
        Value::Text(|c| &mut c.security.clientid_prefixes),
    )
    .deprecated("it will be removed in a future version."),
    // Ours: seconds a new connection has to complete CONNECT.
    general(
        "connect_timeout",
        Value::With(|c, a| {
            c.connect_timeout = a.int_in(0..=65535)?;
            Ok(())
        }),
    ),
    general(
        "connection_messages",
        Value::Bool(|c| &mut c.connection_messages),
    ),
    Spec::new("include_dir", Set::Reader(include_dir)),
    Spec::new("log_dest", Set::Reader(log_dest)),
    general(
        "log_facility",
        Value::With(|c, a| {
            c.log_facility = Some(a.int_in(0..=7)?);
            Ok(())
        }),
    ),
    general("log_timestamp", Value::Bool(|c| &mut c.log_timestamp)),
    general(
        "log_timestamp_format",
        Value::Text(|c| &mut c.log_timestamp_format),
    ),
    Spec::new("log_type", Set::Reader(log_type)),
    general(
        "max_inflight_bytes",
        Value::With(|c, a| {
            c.max_inflight_bytes = u64::from(a.non_negative()?);
            Ok(())
        }),
    ),
    general("max_inflight_messages", Value::With(max_inflight_messages)),
    general(
        "max_keepalive",
        Value::With(|c, a| {
            c.max_keepalive = a.int_in(0..=65535)?;
            Ok(())
        }),
    ),
    general("max_packet_size", Value::With(max_packet_size)),
    general(
        "max_queued_bytes",
        Value::With(|c, a| {
            c.max_queued_bytes = u64::from(a.non_negative()?);
            Ok(())
        }),
    ),
    general(
        "max_queued_messages",
        Value::With(|c, a| {
            c.max_queued_messages = a.non_negative()?;
            Ok(())
        }),
    ),
    general("memory_limit", Value::With(memory_limit)),
    general(
        "message_size_limit",
        Value::With(|c, a| {
            c.message_size_limit = a.int_in(0..=MAX_PAYLOAD)?;
            Ok(())
        }),
    )
    .noting(
        NoteKind::Notice,
        "It is recommended to replace 'message_size_limit' with 'max_packet_size'.",
    ),
    general(
        "outgoing_topic_aliases",
        Value::Bool(|c| &mut c.outgoing_topic_aliases),
    ),
    general("persistence", Value::Bool(|c| &mut c.persistence)),
    // mosquitto-rs extension: what to do with a corrupt database.
    general(
        "persistence_discard_corrupt",
        Value::Bool(|c| &mut c.persistence_discard_corrupt),
    ),
    general("persistence_file", Value::Text(|c| &mut c.persistence_file)),
    general(
        "persistence_location",
        Value::Path(|c| &mut c.persistence_location),
    ),
    general(
        "persistent_client_expiration",
        Value::With(|c, a| {
            c.persistent_client_expiration = Some(expiration(a)?);
            Ok(())
        }),
    ),
    general("pid_file", Value::Path(|c| &mut c.pid_file)),
    general(
        "queue_qos0_messages",
        Value::Bool(|c| &mut c.queue_qos0_messages),
    ),
    general("retain_available", Value::Bool(|c| &mut c.retain_available)),
    Spec::new("retained_persistence", Set::Alias("persistence")),
    general("set_tcp_nodelay", Value::Bool(|c| &mut c.set_tcp_nodelay)),
    general(
        "sys_interval",
        Value::With(|c, a| {
            c.sys_interval = a.int_in(0..=65535)?;
            Ok(())
        }),
    ),
    general(
        "upgrade_outgoing_qos",
        Value::Bool(|c| &mut c.upgrade_outgoing_qos),
    ),
    general(
        "user",
        Value::With(|c, a| {
            c.user = a.string(false)?;
            Ok(())
        }),
    ),
    general(
        "websockets_headers_size",
        Value::With(|c, a| {
            c.websockets_headers_size = u16::try_from(a.int()?).map_err(|_| {
                "Websockets headers size must be between 0 and 65535 inclusive.".to_string()
            })?;
            Ok(())
        }),
    ),
    general(
        "websockets_log_level",
        Value::With(|c, a| {
            c.websockets_log_level = a.int()?;
            Ok(())
        }),
    ),
];

/// Reads the `*.conf` files of a directory, in mosquitto's order, as if
/// they were part of the main file (only there: not from included files).
fn include_dir(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    if here.level > 0 {
        let message = "include_dir is only read from the main configuration file; this one is \
                       ignored.";
        r.note(NoteKind::Notice, here.at, a.name, message.to_string());
        return Ok(());
    }
    let dir = a.rest().ok_or_else(|| a.empty())?;
    let files = include_dir_files(dir)?;
    r.cfg.include_dirs.push(PathBuf::from(dir));
    for file in files {
        let text = read_config_file(&file).map_err(Fail::Nested)?;
        r.read_text(&text, &file, here.level + 1)
            .map_err(Fail::Nested)?;
    }
    Ok(())
}

/// `log_dest` lines accumulate (replacing the default); `none` clears them.
fn log_dest(r: &mut Reader, a: &mut Args, _: &mut Here) -> Result<(), Fail> {
    let dest = a.word()?;
    let list = r.log_dest.get_or_insert_with(Vec::new);
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
            if r.log_file_seen {
                return Err(Fail::Msg("Duplicate \"log_dest file\" value.".into()));
            }
            let path = a
                .rest()
                .ok_or_else(|| "Empty \"log_dest file\" value in configuration.".to_string())?;
            super::args::validate_text(path, "log_dest file")?;
            r.log_file_seen = true;
            Some(LogDest::File(PathBuf::from(path)))
        }
        other => return Err(Fail::Msg(a.invalid(other))),
    };
    if let Some(d) = new {
        if !list.contains(&d) {
            list.push(d);
        }
    }
    Ok(())
}

/// `log_type` lines accumulate (replacing the default); `none` clears them.
fn log_type(r: &mut Reader, a: &mut Args, _: &mut Here) -> Result<(), Fail> {
    let t = a.choice(&[
        ("none", LogTypes::NONE),
        ("all", LogTypes::ALL),
        ("information", LogTypes::INFORMATION),
        ("notice", LogTypes::NOTICE),
        ("warning", LogTypes::WARNING),
        ("error", LogTypes::ERROR),
        ("debug", LogTypes::DEBUG),
        ("subscribe", LogTypes::SUBSCRIBE),
        ("unsubscribe", LogTypes::UNSUBSCRIBE),
        ("websockets", LogTypes::WEBSOCKETS),
        ("internal", LogTypes::INTERNAL),
    ])?;
    let acc = r.log_types.get_or_insert(LogTypes::NONE);
    if t == LogTypes::NONE {
        *acc = LogTypes::NONE;
    } else {
        acc.insert(t);
    }
    Ok(())
}

/// Negative values and 65535 mean "no limit" (0), as in mosquitto.
fn max_inflight_messages(c: &mut Config, a: &mut Args) -> Result<(), String> {
    let v = a.int()?;
    c.max_inflight_messages = if v < 0 || v == 65535 {
        0
    } else {
        u16::try_from(v).map_err(|_| "max_inflight_messages must be <= 65535.".to_string())?
    };
    Ok(())
}

fn max_packet_size(c: &mut Config, a: &mut Args) -> Result<(), String> {
    let v = a.int()?;
    // mosquitto refuses 0 as well; we take it as "no limit", the value its
    // annotated config file shows as the default.
    if v != 0 && v < 20 {
        return Err(a.invalid(v));
    }
    c.max_packet_size = super::args::non_negative(v);
    Ok(())
}

/// Bytes, beyond C `int` range.
fn memory_limit(c: &mut Config, a: &mut Args) -> Result<(), String> {
    let tok = a.word()?;
    let v: i64 = tok.parse().map_err(|_| a.invalid(tok))?;
    c.memory_limit = u64::try_from(v).map_err(|_| a.invalid(v))?;
    Ok(())
}

/// `persistent_client_expiration <n><h|d|w|m|y>`.
fn expiration(a: &mut Args) -> Result<Duration, String> {
    let tok = a.word()?;
    let invalid = || format!("Invalid {} duration in configuration.", a.name);
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
