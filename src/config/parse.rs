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

use super::bridge::Bridge;
use super::listener::{Listener, PluginConfig, Security};
use super::options::args::{Args, Words};
use super::options::{self, Here, Note, Set};
use super::{
    is_active, Config, ConfigError, ConfigNote, LogDest, LogTypes, NoteKind, ACTIVE_OPTIONS,
};

/// The listener that listener options currently apply to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cur {
    /// The implicit default listener (`port`, `bind_address`, options before
    /// any `listener` line).
    Default,
    Explicit(usize),
}

/// The security settings that security options currently apply to.
#[derive(Debug, Clone, Copy)]
pub(super) enum SecTarget {
    Global,
    Default,
    Explicit(usize),
}

/// State that, as in mosquitto, starts afresh in every file.
#[derive(Debug)]
pub(super) struct FileState {
    pub(super) listener: Cur,
    pub(super) bridge: Option<usize>,
    pub(super) plugin: Option<(SecTarget, usize)>,
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
pub(super) enum Fail {
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

/// The position of the current line.
pub(super) struct At<'a> {
    pub(super) file: &'a Path,
    pub(super) line: usize,
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
    pub(super) log_file_seen: bool,
    /// A security option has been seen (per_listener_settings must come first).
    pub(super) security_touched: bool,
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

    pub(super) fn read_text(
        &mut self,
        text: &[u8],
        file: &Path,
        level: u32,
    ) -> Result<(), ConfigError> {
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
        let canonical = self.option(fs, opt, w, at, level)?;
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

    pub(super) fn note(&mut self, kind: NoteKind, at: &At, option: &str, message: String) {
        self.cfg.notes.push(ConfigNote {
            file: at.file.to_path_buf(),
            line: at.line,
            option: option.to_string(),
            kind,
            message,
        });
    }

    pub(super) fn listener(&mut self, cur: Cur, at: &At) -> &mut Listener {
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
    pub(super) fn sec_target(&mut self, fs: &FileState) -> SecTarget {
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

    pub(super) fn security(&mut self, target: SecTarget, at: &At) -> &mut Security {
        match target {
            SecTarget::Global => &mut self.cfg.security,
            SecTarget::Default => &mut self.listener(Cur::Default, at).security,
            SecTarget::Explicit(i) => &mut self.listener(Cur::Explicit(i), at).security,
        }
    }

    pub(super) fn bridge(&mut self, fs: &FileState) -> Result<&mut Bridge, Fail> {
        match fs.bridge.and_then(|i| self.cfg.bridges.get_mut(i)) {
            Some(b) => Ok(b),
            None => Err(Fail::Msg("Invalid bridge configuration.".to_string())),
        }
    }

    pub(super) fn plugin(
        &mut self,
        fs: &FileState,
        at: &At,
        what: &str,
    ) -> Result<&mut PluginConfig, Fail> {
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

    /// Handles one option: looks it up in the option table, logs its note,
    /// finds its scope's settings and hands the value to its setter.
    /// Returns the name for the "not yet active" check, `None` for none.
    fn option(
        &mut self,
        fs: &mut FileState,
        opt: &str,
        words: Words,
        at: &At,
        level: u32,
    ) -> Result<Option<&'static str>, Fail> {
        let Some((spec, prefixed)) = options::lookup(opt) else {
            return Err(Fail::Msg(format!(
                "Unknown configuration variable \"{opt}\"."
            )));
        };
        match spec.note {
            Some(Note::Deprecated(advice)) => self.deprecated(at, opt, advice),
            Some(Note::Message(kind, message)) => self.note(kind, at, opt, message.to_string()),
            None => {}
        }
        let mut args = Args::new(opt, prefixed, words);
        let mut here = Here { fs, at, level };
        self.apply(spec.setter(), &mut args, &mut here)?;
        for message in args.notices {
            self.note(NoteKind::Notice, at, opt, message);
        }
        Ok(spec.check_as())
    }

    /// Resolves the scope of `set` (current listener, bridge, plugin...) and
    /// applies the value to it.
    fn apply(&mut self, set: &Set, args: &mut Args, here: &mut Here) -> Result<(), Fail> {
        match set {
            Set::General(value) => value.apply(&mut self.cfg, args)?,
            Set::Security(value) => {
                let target = self.sec_target(here.fs);
                value.apply(self.security(target, here.at), args)?;
            }
            Set::Listener(value) => {
                value.apply(self.listener(here.fs.listener, here.at), args)?;
            }
            Set::Bridge(value) => value.apply(self.bridge(here.fs)?, args)?,
            Set::BridgeValueFirst(value) => match self.bridge(here.fs) {
                Ok(bridge) => value.apply(bridge, args)?,
                Err(missing) => {
                    // Parse into a scratch bridge so a bad value is reported first.
                    value.apply(&mut Bridge::new(""), args)?;
                    return Err(missing);
                }
            },
            Set::Plugin(value) => {
                let what = args.prefixed.map_or(args.name, |(prefix, _)| prefix);
                match self.plugin(here.fs, here.at, what) {
                    Ok(plugin) => value.apply(plugin, args)?,
                    Err(missing) => {
                        let mut scratch = PluginConfig {
                            path: PathBuf::new(),
                            options: Vec::new(),
                            deny_special_chars: true,
                        };
                        value.apply(&mut scratch, args)?;
                        return Err(missing);
                    }
                }
            }
            Set::Reader(f) => f(self, args, here)?,
            Set::Alias(_) | Set::Ignored => {}
        }
        Ok(())
    }

    fn deprecated(&mut self, at: &At, opt: &str, advice: &str) {
        let message = format!("The '{opt}' option is deprecated: {advice}");
        self.note(NoteKind::Deprecated, at, opt, message);
    }
}

/// Reads a configuration file, refusing directories as mosquitto does.
pub(super) fn read_config_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
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
