//! Step two: start-up rules and cross-option checks on a parsed
//! configuration (mosquitto's `config__read` tail, `config__parse_args` tail
//! and `config__check`).

use std::path::PathBuf;

use super::listener::Listener;
use super::parse::Reader;
use super::{Config, ConfigError, ConfigNote, LogTypes, NoteKind, DEFAULT_PORT};

/// The loopback addresses used in local-only mode.
pub const LOCAL_ONLY_ADDRESSES: [&str; 2] = ["127.0.0.1", "::1"];

/// Turns what was read into the configuration the broker runs with.
///
/// `cmd_ports` are the `-p` ports (used only in local-only mode), `verbose`
/// is `-v`.
pub(crate) fn finish(
    reader: Reader,
    cmd_ports: &[u16],
    verbose: bool,
) -> Result<Config, ConfigError> {
    let Reader {
        mut cfg,
        default_listener,
        default_origin,
        listener_origins,
        log_dest,
        log_types,
        ..
    } = reader;

    if let Some(dest) = log_dest {
        cfg.log_dest = dest;
    }
    if verbose {
        cfg.log_types = LogTypes::ALL;
    } else if let Some(types) = log_types {
        cfg.log_types = types;
    }

    check_bridges(&mut cfg)?;

    // TLS needs both halves; mosquitto would silently run the listener in
    // plain text, which is never what was meant.
    let mut origins = listener_origins;
    let default_used = default_listener_in_use(&default_listener);
    if default_used {
        origins.push(default_origin.unwrap_or_default());
    }
    let mut listeners = std::mem::take(&mut cfg.listeners);
    if default_used {
        let mut l = default_listener;
        l.is_default = true;
        if l.port == 0 {
            l.port = DEFAULT_PORT;
        }
        listeners.push(l);
    }
    if !cfg.local_only {
        for (l, (file, line)) in listeners.iter().zip(origins.iter()) {
            if l.uses_tls() || l.uses_psk() {
                check_tls_version(l.tls.tls_version.as_deref())
                    .map_err(|reason| ConfigError::new(file.clone(), *line, reason))?;
            }
            if l.tls.certfile.is_some() != l.tls.keyfile.is_some() {
                return Err(ConfigError::new(
                    file.clone(),
                    *line,
                    format!(
                        "Both certfile and keyfile must be given to use TLS on the listener \
                         on port {}.",
                        l.port
                    ),
                ));
            }
        }
    }

    if cfg.local_only {
        if default_used {
            cfg.notes.push(command_note(
                "Top-level listener options are ignored because no listener is defined \
                 (local only mode).",
            ));
        }
        let ports: &[u16] = if cmd_ports.is_empty() {
            &[DEFAULT_PORT]
        } else {
            cmd_ports
        };
        cfg.listeners = local_only_listeners(ports);
        cfg.security.allow_anonymous = Some(true);
    } else {
        if !cmd_ports.is_empty() {
            cfg.notes.push(command_note(
                "The -p ports are ignored because the configuration defines listeners.",
            ));
        }
        cfg.listeners = listeners;
        if cfg.per_listener_settings {
            for l in &mut cfg.listeners {
                l.security.allow_anonymous.get_or_insert(false);
            }
        } else {
            cfg.security.allow_anonymous.get_or_insert(false);
        }
    }

    if cfg.per_listener_settings {
        for l in &mut cfg.listeners {
            l.security
                .auto_id_prefix
                .get_or_insert_with(|| "auto-".to_string());
        }
    } else {
        cfg.security
            .auto_id_prefix
            .get_or_insert_with(|| "auto-".to_string());
    }
    Ok(cfg)
}

/// The listeners of local-only mode: loopback v4 and v6 on each port,
/// anonymous clients allowed.
pub fn local_only_listeners(ports: &[u16]) -> Vec<Listener> {
    let mut out = Vec::new();
    for port in ports {
        for addr in LOCAL_ONLY_ADDRESSES {
            let mut l = Listener::new(*port);
            l.bind_address = Some(addr.to_string());
            l.security.allow_anonymous = Some(true);
            l.security.auto_id_prefix = Some("auto-".to_string());
            out.push(l);
        }
    }
    out
}

/// mosquitto creates the default listener when any of these differs from
/// its initial value.
fn default_listener_in_use(l: &Listener) -> bool {
    let d = Listener::default();
    l.has_tls_settings()
        || l.bind_interface.is_some()
        || l.use_username_as_clientid
        || l.bind_address.is_some()
        || l.port != 0
        || l.max_connections != d.max_connections
        || l.max_qos != d.max_qos
        || l.mount_point.is_some()
        || l.protocol != d.protocol
        || l.socket_domain.is_some()
        || l.security.password_file.is_some()
        || l.security.psk_file.is_some()
        || !l.security.plugins.is_empty()
        || !l.security.allow_zero_length_clientid
}

fn command_note(message: &str) -> ConfigNote {
    ConfigNote {
        file: PathBuf::new(),
        line: 0,
        option: String::new(),
        kind: NoteKind::Notice,
        message: message.to_string(),
    }
}

fn check_bridges(cfg: &mut Config) -> Result<(), ConfigError> {
    let host = hostname();
    let mut notes = Vec::new();
    for b in &mut cfg.bridges {
        let err = |reason: &str| {
            ConfigError::new(
                b.file.clone(),
                b.line,
                format!("Invalid bridge configuration: {reason}"),
            )
        };
        if b.addresses.is_empty() {
            return Err(err("no remote addresses defined."));
        }
        if b.topics.is_empty() {
            return Err(err("no topics defined."));
        }
        if b.tls.psk.is_some() && b.tls.psk_identity.is_none() {
            return Err(err("missing bridge_identity."));
        }
        if b.tls.psk_identity.is_some() && b.tls.psk.is_none() {
            return Err(err("missing bridge_psk."));
        }
        if b.tls.certfile.is_some() != b.tls.keyfile.is_some() {
            return Err(err(
                "bridge_certfile and bridge_keyfile must be given together.",
            ));
        }
        if b.uses_tls() || b.tls.psk_identity.is_some() {
            check_tls_version(b.tls.tls_version.as_deref())
                .map_err(|reason| ConfigError::new(b.file.clone(), b.line, reason))?;
        }
        // OCSP is about the server certificate: say so rather than let the
        // option look as if it protected anything.
        if b.tls.ocsp_required && !b.uses_tls() {
            let message = if b.uses_psk() {
                format!(
                    "Bridge {}: bridge_require_ocsp with a PSK: the remote broker sends no \
                     certificate to staple an OCSP response to, so every connection will fail.",
                    b.name
                )
            } else {
                format!(
                    "Bridge {}: bridge_require_ocsp has no effect without bridge_cafile or \
                     bridge_capath.",
                    b.name
                )
            };
            notes.push(ConfigNote {
                file: b.file.clone(),
                line: b.line,
                option: "bridge_require_ocsp".to_string(),
                kind: NoteKind::Notice,
                message,
            });
        }
        let remote = b
            .remote_clientid
            .get_or_insert_with(|| format!("{}.{}", host, b.name))
            .clone();
        b.local_clientid
            .get_or_insert_with(|| format!("local.{remote}"));
    }
    cfg.notes.extend(notes);
    for (i, b) in cfg.bridges.iter().enumerate() {
        let dup = cfg
            .bridges
            .iter()
            .skip(i + 1)
            .find(|o| o.local_clientid == b.local_clientid);
        if let Some(other) = dup {
            return Err(ConfigError::new(
                other.file.clone(),
                other.line,
                format!(
                    "Bridge local_clientid '{}' is not unique. Try changing or setting the \
                     local_clientid value for one of the bridges.",
                    b.local_clientid.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    Ok(())
}

/// The TLS versions mosquitto knows (checked where TLS is in use).
fn check_tls_version(v: Option<&str>) -> Result<(), String> {
    match v {
        None | Some("tlsv1.1") | Some("tlsv1.2") | Some("tlsv1.3") => Ok(()),
        Some(other) => Err(format!(
            "Unsupported tls_version \"{other}\" (use tlsv1.1, tlsv1.2 or tlsv1.3)."
        )),
    }
}

/// This machine's host name (for default bridge client ids).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, which is the
    // length passed; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..end).unwrap_or(&[])).into_owned()
}
