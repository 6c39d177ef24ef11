//! The arguments of one option line and the value parsers the option table
//! uses (bool, int with range, once-only string and path, choice of words).
//!
//! Error messages are mosquitto's and name the option as written, so an
//! alias reports under its own name.

use std::ops::RangeInclusive;
use std::path::PathBuf;

/// Topic levels allowed in a topic (mosquitto's TOPIC_HIERARCHY_LIMIT).
const TOPIC_HIERARCHY_LIMIT: usize = 200;

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

/// What follows the option name on one line, plus the notices the option
/// leaves for the broker log once the line is accepted.
pub(crate) struct Args<'a> {
    /// The option name as written.
    pub(crate) name: &'a str,
    /// For `plugin_opt_<key>` / `auth_opt_<key>`: the prefix as written and
    /// the key after it.
    pub(crate) prefixed: Option<(&'a str, &'a str)>,
    words: Words<'a>,
    /// One log line each, emitted as `Notice`s after the line succeeded.
    pub(crate) notices: Vec<String>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(
        name: &'a str,
        prefixed: Option<(&'a str, &'a str)>,
        words: Words<'a>,
    ) -> Self {
        Args {
            name,
            prefixed,
            words,
            notices: Vec::new(),
        }
    }

    /// Leaves a notice (a value adjusted into range, an insecure choice).
    pub(crate) fn notice(&mut self, message: impl Into<String>) {
        self.notices.push(message.into());
    }

    /// `Invalid <name> value (<shown>).`
    pub(crate) fn invalid(&self, shown: impl std::fmt::Display) -> String {
        format!("Invalid {} value ({shown}).", self.name)
    }

    /// `Empty <name> value in configuration.`
    pub(crate) fn empty(&self) -> String {
        format!("Empty {} value in configuration.", self.name)
    }

    /// The next word, or `None` at the end or at a trailing comment.
    pub(crate) fn next_arg(&mut self) -> Option<&'a str> {
        self.words.next_arg()
    }

    /// The rest of the line, trimmed; `None` when empty.
    pub(crate) fn rest(&mut self) -> Option<&'a str> {
        self.words.rest()
    }

    /// The first word of the value; required.
    pub(crate) fn word(&mut self) -> Result<&'a str, String> {
        self.words.next().ok_or_else(|| self.empty())
    }

    /// `true`/`1` or `false`/`0`, nothing else.
    pub(crate) fn bool(&mut self) -> Result<bool, String> {
        match self.word()? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(self.invalid(other)),
        }
    }

    /// A whole decimal integer in C `int` range (mosquitto uses `int` for
    /// every numeric option). Unlike mosquitto's `atoi`, trailing garbage is
    /// refused.
    pub(crate) fn int(&mut self) -> Result<i32, String> {
        let tok = self.word()?;
        int_of(tok, self.name)
    }

    /// An integer within `range`, converted to the setting's type.
    pub(crate) fn int_in<T: TryFrom<i32>>(
        &mut self,
        range: RangeInclusive<i32>,
    ) -> Result<T, String> {
        let v = self.int()?;
        if !range.contains(&v) {
            return Err(self.invalid(v));
        }
        T::try_from(v).map_err(|_| self.invalid(v))
    }

    /// An integer where negative values mean 0 (mosquitto stores them in
    /// unsigned settings).
    pub(crate) fn non_negative(&mut self) -> Result<u32, String> {
        Ok(non_negative(self.int()?))
    }

    /// One of the words of `choices`, as its value.
    pub(crate) fn choice<T: Copy>(&mut self, choices: &[(&str, T)]) -> Result<T, String> {
        let tok = self.word()?;
        choices
            .iter()
            .find(|(w, _)| *w == tok)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.invalid(tok))
    }

    /// The rest of the line as a string value. `already_set` gives
    /// mosquitto's "Duplicate" error for options that may only be given once.
    pub(crate) fn string(&mut self, already_set: bool) -> Result<String, String> {
        let v = self.rest().ok_or_else(|| self.empty())?;
        if already_set {
            return Err(format!("Duplicate {} value in configuration.", self.name));
        }
        validate_text(v, self.name)?;
        Ok(v.to_string())
    }

    /// A string that may be given once.
    pub(crate) fn set_string(&mut self, slot: &mut Option<String>) -> Result<(), String> {
        let v = self.string(slot.is_some())?;
        *slot = Some(v);
        Ok(())
    }

    /// A path that may be given once.
    pub(crate) fn set_path(&mut self, slot: &mut Option<PathBuf>) -> Result<(), String> {
        let v = self.string(slot.is_some())?;
        *slot = Some(PathBuf::from(v));
        Ok(())
    }
}

/// [`Args::int`] for a word taken some other way.
pub(crate) fn int_of(tok: &str, name: &str) -> Result<i32, String> {
    tok.parse::<i32>()
        .map_err(|_| format!("Invalid {name} value ({tok})."))
}

pub(crate) fn non_negative(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Checks a string value as mosquitto does: valid UTF-8 (guaranteed by
/// `&str`), no control characters, no non-characters, at most 65535 bytes.
pub(crate) fn validate_text(s: &str, name: &str) -> Result<(), String> {
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
