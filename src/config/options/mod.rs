//! The table of mosquitto.conf options.
//!
//! Each [`Spec`] says what one option name is: its scope and setter
//! ([`Set`]: which settings the value goes to, and how it is parsed), and an
//! optional note logged whenever it is used (deprecations). The tables are
//! split by scope, one module each:
//!
//! - [`general`]: broker-wide settings, logging, persistence;
//! - [`security`]: authentication and plugins, global or per listener;
//! - [`listener`]: the current listener, its TLS and PSK settings;
//! - [`bridge`]: the current `connection`, its TLS and PSK settings;
//! - [`REMOVED`] here: options mosquitto 2.0 dropped, accepted and ignored.
//!
//! Every table is sorted by name (a test checks it) and searched with a
//! binary search; `plugin_opt_*` / `auth_opt_*` are matched by prefix. The
//! reader in `parse.rs` resolves the scope (which listener, bridge or plugin
//! is current) and hands the value to the setter.

pub(crate) mod args;
mod bridge;
mod general;
mod listener;
mod security;

use std::path::PathBuf;

use self::args::Args;
use super::listener::{Listener, PluginConfig, Security};
use super::parse::{At, Fail, FileState, Reader};
use super::{Bridge, Config, NoteKind};

/// One option name.
pub(crate) struct Spec {
    /// As written in mosquitto.conf; prefixed options end in `*`.
    pub(crate) name: &'static str,
    /// Logged each time the option is used, before its value is read.
    pub(crate) note: Option<Note>,
    pub(crate) set: Set,
}

/// A note an option always produces.
#[derive(Clone, Copy)]
pub(crate) enum Note {
    /// `The '<option>' option is deprecated: <advice>`
    Deprecated(&'static str),
    /// A message of its own.
    Message(NoteKind, &'static str),
}

/// The scope of an option, with the setter that parses and stores its value.
pub(crate) enum Set {
    /// Broker-wide settings.
    General(Value<Config>),
    /// Security settings: global, or with `per_listener_settings true` the
    /// current listener's. Using one fixes `per_listener_settings`.
    Security(Value<Security>),
    /// The current listener: the last `listener` line of this file, or the
    /// default listener before one.
    Listener(Value<Listener>),
    /// The current bridge (the last `connection` line of this file);
    /// "Invalid bridge configuration." without one.
    Bridge(Value<Bridge>),
    /// As `Bridge`, but a bad value is reported before a missing
    /// `connection` (the order these options have always checked in).
    BridgeValueFirst(Value<Bridge>),
    /// The last `plugin` line of this file; the value is checked first.
    Plugin(Value<PluginConfig>),
    /// Options that shape the configuration itself (`listener`,
    /// `connection`, `include_dir`...) or need more than one setting.
    Reader(ReaderFn),
    /// Another name for the named option (same scope and setter; the
    /// "not implemented yet" check uses the option's name).
    Alias(&'static str),
    /// Dropped by mosquitto 2.0: accepted and ignored.
    Ignored,
}

/// A setter that needs the whole reader.
pub(crate) type ReaderFn = fn(&mut Reader, &mut Args, &mut Here) -> Result<(), Fail>;

/// Where a line is, and the per-file state it may change.
pub(crate) struct Here<'x> {
    pub(crate) fs: &'x mut FileState,
    pub(crate) at: &'x At<'x>,
    /// 0 in a main file, 1 in a file read through `include_dir`.
    pub(crate) level: u32,
}

/// How a value is parsed and where it goes within its scope's settings.
pub(crate) enum Value<T> {
    /// `true`/`false`/`1`/`0`.
    Bool(fn(&mut T) -> &mut bool),
    /// The rest of the line; may be given once.
    Text(fn(&mut T) -> &mut Option<String>),
    /// The rest of the line as a path; may be given once.
    Path(fn(&mut T) -> &mut Option<PathBuf>),
    /// Anything else, parsed with the [`Args`] parsers.
    With(fn(&mut T, &mut Args) -> Result<(), String>),
}

impl<T> Value<T> {
    pub(crate) fn apply(&self, target: &mut T, args: &mut Args) -> Result<(), String> {
        match self {
            Value::Bool(slot) => {
                let v = args.bool()?;
                *slot(target) = v;
                Ok(())
            }
            Value::Text(slot) => args.set_string(slot(target)),
            Value::Path(slot) => args.set_path(slot(target)),
            Value::With(f) => f(target, args),
        }
    }
}

impl Spec {
    const fn new(name: &'static str, set: Set) -> Self {
        Spec {
            name,
            note: None,
            set,
        }
    }

    /// The same option, logging `The '<name>' option is deprecated: <advice>`.
    const fn deprecated(self, advice: &'static str) -> Self {
        Spec {
            note: Some(Note::Deprecated(advice)),
            ..self
        }
    }

    /// The same option, logging `message` whenever it is used.
    const fn noting(self, kind: NoteKind, message: &'static str) -> Self {
        Spec {
            note: Some(Note::Message(kind, message)),
            ..self
        }
    }

    /// For `plugin_opt_*`-style options: the prefix they are matched by.
    pub(crate) fn prefix(&self) -> Option<&'static str> {
        self.name.strip_suffix('*')
    }

    /// The name the "not implemented yet" check uses: aliases use their
    /// option's name; ignored options are not checked.
    pub(crate) fn check_as(&self) -> Option<&'static str> {
        match self.set {
            Set::Alias(target) => Some(target),
            Set::Ignored => None,
            _ => Some(self.name),
        }
    }

    /// The setter: an alias's option's, everyone else's own.
    pub(crate) fn setter(&'static self) -> &'static Set {
        match self.set {
            Set::Alias(target) => match find(target) {
                Some(spec) => &spec.set,
                None => &Set::Ignored,
            },
            _ => &self.set,
        }
    }
}

/// Options mosquitto 2.0 dropped: accepted from old files, ignored.
const REMOVED: &[Spec] = &[
    Spec::new("ffdc_output", Set::Ignored).deprecated(RSMB),
    Spec::new("max_log_entries", Set::Ignored).deprecated(RSMB),
    Spec::new("retry_interval", Set::Ignored).deprecated(
        "it was removed in mosquitto 2.0 and is ignored; messages are only resent when a client \
         reconnects.",
    ),
    Spec::new("store_clean_interval", Set::Ignored)
        .deprecated("it is no longer needed and is ignored."),
    Spec::new("trace_level", Set::Ignored).deprecated(RSMB),
    Spec::new("trace_output", Set::Ignored).deprecated(RSMB),
];

const RSMB: &str = "it is an RSMB option that is not supported; ignored.";

/// The tables looked up by exact name, each sorted by name.
const TABLES: &[&[Spec]] = &[
    general::OPTIONS,
    security::OPTIONS,
    listener::OPTIONS,
    bridge::OPTIONS,
    REMOVED,
];

/// The entry for an option as written, and for a prefixed option the
/// prefix and key.
pub(crate) fn lookup(written: &str) -> Option<(&'static Spec, Option<(&str, &str)>)> {
    for spec in security::PREFIXED {
        if let Some(prefix) = spec.prefix() {
            if let Some(key) = written.strip_prefix(prefix) {
                return Some((spec, Some((prefix, key))));
            }
        }
    }
    TABLES.iter().find_map(|table| {
        let i = table.binary_search_by(|s| s.name.cmp(written)).ok()?;
        Some((table.get(i)?, None))
    })
}

/// The entry called exactly `name` (prefixed ones with their `*`).
fn find(name: &str) -> Option<&'static Spec> {
    all().find(|s| s.name == name)
}

/// Every option, for the tests that compare the table with the
/// documentation.
pub(crate) fn all() -> impl Iterator<Item = &'static Spec> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .chain(security::PREFIXED.iter())
}

/// Every table that must be sorted by name.
#[cfg(test)]
pub(crate) fn sorted_tables() -> &'static [&'static [Spec]] {
    TABLES
}
