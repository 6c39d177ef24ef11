//! mosquitto's `psk_file`: `identity:hexkey` lines for TLS-PSK listeners.
//!
//! mosquitto reads it with the password file's line parser
//! (`pwfile__parse`), then checks the keys (`psk__file_parse`):
//!
//! - `#` as the first byte makes a comment; a line without `:` is ignored
//!   (we record a [`Warning`] for a non-blank one, so a typo is visible);
//! - fields are split like C's `strtok(…, ":")` and trimmed; the identity
//!   is the first field, the key the second;
//! - an identity without a key is skipped with a warning;
//! - a key with any non-hexadecimal character refuses the whole file
//!   (mosquitto: "psk for identity … contains non-hexadecimal characters");
//! - the first entry for an identity wins;
//! - the key is turned into bytes the way mosquitto's `mosquitto__hex2bin`
//!   does (through an OpenSSL bignum, keeping leading `00` pairs): for an
//!   even number of digits that is plain hex decoding; an odd number is read
//!   as if a `0` were in front.

use std::path::{Path, PathBuf};

use super::lines::{read_lines, trim_blanks, SecurityError, Warning};

/// A loaded PSK file.
#[derive(Debug, Clone, Default)]
pub struct PskFile {
    path: PathBuf,
    /// In file order; lookups take the first match as mosquitto does.
    entries: Vec<(String, String)>,
    warnings: Vec<Warning>,
}

impl PskFile {
    /// Reads and checks `path`; errors carry file:line and the reason.
    pub fn load(path: &Path) -> Result<PskFile, SecurityError> {
        let lines = read_lines(path)?;
        Self::parse_lines(path, &lines)
    }

    /// Parses file content; `name` stands for the path in messages.
    pub fn parse(name: &str, content: &str) -> Result<PskFile, SecurityError> {
        let lines: Vec<String> = content.split('\n').map(str::to_owned).collect();
        Self::parse_lines(Path::new(name), &lines)
    }

    fn parse_lines(path: &Path, lines: &[String]) -> Result<PskFile, SecurityError> {
        let mut file = PskFile {
            path: path.to_path_buf(),
            entries: Vec::new(),
            warnings: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate() {
            let lineno = i + 1;
            if line.starts_with('#') {
                continue;
            }
            if !line.contains(':') {
                if !trim_blanks(line).is_empty() {
                    file.warnings.push(Warning {
                        path: path.to_path_buf(),
                        line: lineno,
                        message: "line without ':' ignored".into(),
                    });
                }
                continue;
            }
            let mut fields = line.split(':').filter(|f| !f.is_empty());
            let Some(id_field) = fields.next() else {
                continue;
            };
            let identity = trim_blanks(id_field);
            let key = fields.next().map(trim_blanks).unwrap_or("");
            if key.is_empty() {
                file.warnings.push(Warning {
                    path: path.to_path_buf(),
                    line: lineno,
                    message: format!("no key for identity \"{identity}\", entry ignored"),
                });
                continue;
            }
            if !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(SecurityError::Parse {
                    path: path.to_path_buf(),
                    line: lineno,
                    reason: format!(
                        "psk for identity \"{identity}\" contains non-hexadecimal characters"
                    ),
                });
            }
            file.entries.push((identity.to_owned(), key.to_owned()));
        }
        Ok(file)
    }

    /// The file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines that were ignored, with file:line and reason.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The key for `identity` as bytes, or `None` (the handshake fails).
    pub fn key(&self, identity: &str) -> Option<Vec<u8>> {
        self.entries
            .iter()
            .find(|(id, _)| id == identity)
            .and_then(|(_, hex)| hex_to_key(hex))
    }
}

/// mosquitto's hex-to-key conversion (see the module documentation).
pub fn hex_to_key(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded;
    let even = if hex.len() % 2 == 1 {
        padded = format!("0{hex}");
        padded.as_str()
    } else {
        hex
    };
    let digits = even.as_bytes();
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks(2) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_looks_up_first_match() {
        let f = PskFile::parse(
            "psk",
            "# comment\n\nid1:00A1b2\n id2 : 0102 \nid1:ffff\nodd:abc\n",
        )
        .unwrap();
        assert!(f.warnings().is_empty());
        assert_eq!(f.key("id1"), Some(vec![0x00, 0xa1, 0xb2]));
        assert_eq!(f.key("id2"), Some(vec![0x01, 0x02]));
        assert_eq!(f.key("odd"), Some(vec![0x0a, 0xbc]));
        assert_eq!(f.key("nobody"), None);
        assert_eq!(f.key("ID1"), None);
    }

    #[test]
    fn bad_hex_is_an_error_with_line() {
        let err = PskFile::parse("psk", "id1:0a0b\nid2:0x12\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("psk:2:"), "{msg}");
        assert!(msg.contains("non-hexadecimal"), "{msg}");
    }

    #[test]
    fn missing_colon_and_missing_key_are_warnings() {
        let f = PskFile::parse("psk", "justtext\nid:\nok:01\n").unwrap();
        assert_eq!(f.key("ok"), Some(vec![1]));
        assert_eq!(f.key("id"), None);
        let lines: Vec<usize> = f.warnings().iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![1, 2]);
    }

    #[test]
    fn hex_conversion() {
        assert_eq!(hex_to_key("00"), Some(vec![0]));
        assert_eq!(hex_to_key("0001"), Some(vec![0, 1]));
        assert_eq!(hex_to_key("DEADbeef"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(hex_to_key("f"), Some(vec![0x0f]));
        assert_eq!(hex_to_key(""), None);
        assert_eq!(hex_to_key("zz"), None);
    }
}
