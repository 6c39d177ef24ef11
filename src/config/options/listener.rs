//! Listener options: they apply to the current listener (the last
//! `listener` line of the file, or the default listener before one),
//! including its certificate and PSK based TLS settings.

use std::path::PathBuf;

use super::args::{int_of, pub_topic_ok, validate_text, Args};
use super::{Here, Set, Spec, Value};
use crate::config::listener::{KeyForm, Listener, Protocol, SocketDomain};
use crate::config::parse::{Cur, Fail, Reader};
use crate::config::NoteKind;

const fn listener(name: &'static str, value: Value<Listener>) -> Spec {
    Spec::new(name, Set::Listener(value))
}

/// Sorted by name.
pub(super) const OPTIONS: &[Spec] = &[
    Spec::new("bind_address", Set::Reader(bind_address))
        .deprecated("use 'listener <port> <address>' instead."),
    listener("bind_interface", Value::Text(|l| &mut l.bind_interface)),
    listener(
        "cafile",
        Value::With(|l, a| {
            no_psk(l)?;
            a.set_path(&mut l.tls.cafile)
        }),
    ),
    listener("capath", Value::Path(|l| &mut l.tls.capath)),
    listener(
        "certfile",
        Value::With(|l, a| {
            no_psk(l)?;
            a.set_path(&mut l.tls.certfile)
        }),
    ),
    listener("ciphers", Value::Text(|l| &mut l.tls.ciphers)),
    listener("ciphers_tls1.3", Value::Text(|l| &mut l.tls.ciphers_tls13)),
    listener("crlfile", Value::Path(|l| &mut l.tls.crlfile)),
    listener("dhparamfile", Value::Path(|l| &mut l.tls.dhparamfile)),
    listener("http_dir", Value::Path(|l| &mut l.http_dir)),
    listener("keyfile", Value::Path(|l| &mut l.tls.keyfile)),
    Spec::new("listener", Set::Reader(new_listener)),
    listener(
        "max_connections",
        Value::With(|l, a| {
            let v = a.int()?;
            l.max_connections = if v < 0 { -1 } else { v };
            Ok(())
        }),
    ),
    listener(
        "max_qos",
        Value::With(|l, a| {
            let v = a.int()?;
            l.max_qos = u8::try_from(v)
                .ok()
                .filter(|q| *q <= 2)
                .ok_or_else(|| "max_qos must be between 0 and 2 inclusive.".to_string())?;
            Ok(())
        }),
    ),
    listener(
        "max_topic_alias",
        Value::With(|l, a| {
            l.max_topic_alias = a.int_in(0..=65535)?;
            Ok(())
        }),
    ),
    Spec::new("maximum_qos", Set::Alias("max_qos")),
    Spec::new("mount_point", Set::Reader(mount_point)),
    Spec::new("port", Set::Reader(port)).deprecated("use 'listener' instead."),
    listener(
        "protocol",
        Value::With(|l, a| {
            l.protocol = a.choice(&[
                ("mqtt", Protocol::Mqtt),
                ("websockets", Protocol::Websockets),
            ])?;
            Ok(())
        }),
    ),
    listener("psk_hint", Value::Text(|l| &mut l.tls.psk_hint)),
    listener(
        "require_certificate",
        Value::Bool(|l| &mut l.tls.require_certificate),
    ),
    listener("socket_domain", Value::With(socket_domain)),
    listener("tls_engine", Value::Text(|l| &mut l.tls.tls_engine)),
    listener("tls_engine_kpass_sha1", Value::With(tls_engine_kpass_sha1)),
    listener(
        "tls_keyform",
        Value::With(|l, a| {
            // Like mosquitto: "engine" selects the engine, anything else PEM.
            l.tls.tls_keyform = if a.string(false)? == "engine" {
                KeyForm::Engine
            } else {
                KeyForm::Pem
            };
            Ok(())
        }),
    ),
    // Checked by the start-up rules, and only for listeners that use TLS:
    // mosquitto ignores it elsewhere.
    listener("tls_version", Value::Text(|l| &mut l.tls.tls_version)),
    listener(
        "use_identity_as_username",
        Value::Bool(|l| &mut l.tls.use_identity_as_username),
    ),
    listener(
        "use_subject_as_username",
        Value::Bool(|l| &mut l.tls.use_subject_as_username),
    ),
    listener(
        "use_username_as_clientid",
        Value::Bool(|l| &mut l.use_username_as_clientid),
    ),
];

/// `listener <port> [<address>|<unix socket path>]`: the listener that the
/// following listener options of this file apply to.
fn new_listener(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    r.cfg.local_only = false;
    let tok = a.next_arg().ok_or_else(|| a.empty())?;
    let port = int_of(tok, "listener port")
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("Invalid port value ({tok})."))?;
    let mut listener = Listener::new(port);
    match a.next_arg() {
        None if port == 0 => {
            return Err(Fail::Msg(
                "A listener with port 0 must provide a Unix socket path.".into(),
            ))
        }
        None => {}
        Some(h) => {
            validate_text(h, a.name)?;
            if port == 0 {
                listener.unix_socket_path = Some(PathBuf::from(h));
            } else {
                listener.bind_address = Some(h.to_string());
            }
        }
    }
    r.cfg.listeners.push(listener);
    r.listener_origins
        .push((here.at.file.to_path_buf(), here.at.line));
    here.fs.listener = Cur::Explicit(r.cfg.listeners.len().saturating_sub(1));
    Ok(())
}

/// The default listener's port (deprecated form of `listener`).
fn port(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    r.cfg.local_only = false;
    if r.default_listener.port != 0 {
        let message = "The default listener port is given more than once; the last one is used.";
        r.note(NoteKind::Notice, here.at, a.name, message.to_string());
    }
    let v = a.int()?;
    let port = u16::try_from(v)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("Invalid port value ({v})."))?;
    r.listener(Cur::Default, here.at).port = port;
    Ok(())
}

/// The default listener's address (deprecated form of `listener`).
fn bind_address(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    r.cfg.local_only = false;
    a.set_string(&mut r.listener(Cur::Default, here.at).bind_address)?;
    Ok(())
}

/// Needs an explicit listener somewhere before it, as in mosquitto.
fn mount_point(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    if r.cfg.listeners.is_empty() {
        return Err(Fail::Msg(
            "You must create a listener before using the mount_point option in the \
             configuration file."
                .into(),
        ));
    }
    let l = r.listener(here.fs.listener, here.at);
    a.set_string(&mut l.mount_point)?;
    if let Some(mp) = &l.mount_point {
        if !pub_topic_ok(mp) {
            return Err(Fail::Msg(format!(
                "Invalid mount_point '{mp}'. Does it contain a wildcard character?"
            )));
        }
    }
    Ok(())
}

fn socket_domain(l: &mut Listener, a: &mut Args) -> Result<(), String> {
    l.socket_domain = Some(match a.word()? {
        "ipv4" => SocketDomain::Ipv4,
        "ipv6" => SocketDomain::Ipv6,
        other => {
            return Err(format!(
                "Invalid socket_domain value \"{other}\" in configuration."
            ))
        }
    });
    Ok(())
}

fn tls_engine_kpass_sha1(l: &mut Listener, a: &mut Args) -> Result<(), String> {
    let v = a.string(false)?;
    if v.len() != 40 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "Invalid tls_engine_kpass_sha1 value ({v}): 40 hexadecimal digits expected."
        ));
    }
    l.tls.tls_engine_kpass_sha1 = Some(v);
    Ok(())
}

/// Certificate and PSK encryption exclude each other on one listener.
fn no_psk(l: &Listener) -> Result<(), String> {
    if l.tls.psk_hint.is_some() {
        return Err(
            "Cannot use both certificate and psk encryption in a single listener.".to_string(),
        );
    }
    Ok(())
}
