//! What the password, PSK and ACL files have in common: reading lines,
//! mosquitto's trimming, and the error and warning types.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A security file could not be used. Start-up stops on this; a reload keeps
/// the previous files.
#[derive(Debug)]
pub enum SecurityError {
    /// The file could not be opened or read.
    Io { path: PathBuf, source: io::Error },
    /// A line the broker cannot accept.
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl fmt::Display for SecurityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurityError::Io { path, source } => {
                write!(f, "Unable to open \"{}\": {}.", path.display(), source)
            }
            SecurityError::Parse { path, line, reason } => {
                write!(f, "Error found at {}:{}: {}", path.display(), line, reason)
            }
        }
    }
}

impl std::error::Error for SecurityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SecurityError::Io { source, .. } => Some(source),
            SecurityError::Parse { .. } => None,
        }
    }
}

/// A line that mosquitto skips with a log message instead of refusing the
/// file (for instance a password entry that is not a valid hash). The
/// broker should log these; the entry has no effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Reads a whole security file and splits it into lines (without the line
/// terminator). Bytes that are not UTF-8 are replaced: such names can never
/// match an MQTT username, identity or topic, which are UTF-8.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<String>, SecurityError> {
    let bytes = std::fs::read(path).map_err(|source| SecurityError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.split('\n').map(str::to_owned).collect())
}

/// C's `isspace` in the "C" locale, which mosquitto uses to trim.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// mosquitto's `misc__trimblanks`: whitespace off both ends.
pub(crate) fn trim_blanks(s: &str) -> &str {
    s.trim_matches(is_c_space)
}
