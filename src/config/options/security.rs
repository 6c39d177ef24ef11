//! Authentication and access-control options: global, or per listener
//! with `per_listener_settings true`; plugins and their options.

use std::path::PathBuf;

use super::args::{validate_text, Args};
use super::{Here, Set, Spec, Value};
use crate::config::listener::{PluginConfig, Security};
use crate::config::parse::{Fail, Reader};
use crate::config::NoteKind;

const fn security(name: &'static str, value: Value<Security>) -> Spec {
    Spec::new(name, Set::Security(value))
}

/// Sorted by name.
pub(super) const OPTIONS: &[Spec] = &[
    security("acl_file", Value::Path(|s| &mut s.acl_file)),
    security(
        "allow_anonymous",
        Value::With(|s, a| {
            s.allow_anonymous = Some(a.bool()?);
            Ok(())
        }),
    ),
    security(
        "allow_zero_length_clientid",
        Value::Bool(|s| &mut s.allow_zero_length_clientid),
    ),
    Spec::new("auth_plugin", Set::Alias("plugin")).deprecated("use 'plugin' instead."),
    Spec::new(
        "auth_plugin_deny_special_chars",
        Set::Plugin(Value::Bool(|p| &mut p.deny_special_chars)),
    ),
    security("auto_id_prefix", Value::Text(|s| &mut s.auto_id_prefix)),
    Spec::new("check_retain_source", Set::Reader(check_retain_source)),
    security("password_file", Value::Path(|s| &mut s.password_file)),
    Spec::new("per_listener_settings", Set::Reader(per_listener_settings)),
    Spec::new("plugin", Set::Reader(plugin)),
    security("psk_file", Value::Path(|s| &mut s.psk_file)),
];

/// Options matched by prefix (`plugin_opt_<key> <value>`).
pub(super) const PREFIXED: &[Spec] = &[
    Spec::new("auth_opt_*", Set::Alias("plugin_opt_*")).noting(
        NoteKind::Deprecated,
        "The 'auth_opt_*' options are deprecated; use 'plugin_opt_*' instead.",
    ),
    Spec::new("plugin_opt_*", Set::Plugin(Value::With(plugin_opt))),
];

/// Global in mosquitto-rs, but it counts as a security option for
/// `per_listener_settings`, as in mosquitto.
fn check_retain_source(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    r.sec_target(here.fs);
    r.cfg.check_retain_source = a.bool()?;
    Ok(())
}

/// Must come before every security option, since it decides where they go.
fn per_listener_settings(r: &mut Reader, a: &mut Args, _: &mut Here) -> Result<(), Fail> {
    let v = a.bool()?;
    r.cfg.per_listener_settings = v;
    if v && r.security_touched {
        return Err(Fail::Msg(
            "per_listener_settings must be set before any other security settings.".into(),
        ));
    }
    Ok(())
}

/// A plugin; the `plugin_opt_*` lines that follow in this file are its.
fn plugin(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    let target = r.sec_target(here.fs);
    let path = a.string(false)?;
    let sec = r.security(target, here.at);
    sec.plugins.push(PluginConfig {
        path: PathBuf::from(path),
        options: Vec::new(),
        deny_special_chars: true,
    });
    let index = sec.plugins.len().saturating_sub(1);
    here.fs.plugin = Some((target, index));
    Ok(())
}

fn plugin_opt(plugin: &mut PluginConfig, a: &mut Args) -> Result<(), String> {
    let (prefix, key) = a.prefixed.unwrap_or((a.name, ""));
    if key.is_empty() {
        return Err(format!("Invalid {prefix} config option."));
    }
    validate_text(key, prefix)?;
    let value = a
        .rest()
        .ok_or_else(|| format!("Empty {key} value in configuration."))?;
    validate_text(value, key)?;
    plugin.options.push((key.to_string(), value.to_string()));
    Ok(())
}
