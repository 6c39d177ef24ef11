//! mosquitto's `password_file`.
//!
//! Format, as mosquitto 2.0 reads it (`pwfile__parse` and
//! `unpwd__decode_passwords` in `src/security_default.c`):
//!
//! - one `username:password` entry per line; a line whose first byte is `#`
//!   is a comment; a line without `:` is ignored silently (blank lines too);
//! - the line is split on `:` the way C's `strtok` does it (empty fields are
//!   skipped, so `::alice:x` is `alice` / `x`); the first field is the
//!   username and the second the password, both with surrounding whitespace
//!   trimmed; anything after a third `:` is ignored;
//! - a username without a password field is skipped with a warning;
//! - the password is `$6$<salt>$<hash>` (SHA-512 of password then salt) or
//!   `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512), salt and hash in
//!   base64, 12 and 64 bytes; `mosquitto_passwd` writes `$7$101$…` by default;
//! - anything else, plaintext passwords included, is *not* usable in
//!   mosquitto 2.0 (built with TLS, as every distribution does): the entry is
//!   dropped with "Error: Invalid password hash type for user …, removing
//!   entry." and the broker starts anyway. Run `mosquitto_passwd -U` to hash
//!   a plaintext file. We do the same: the entry becomes a [`Warning`] and
//!   that user cannot log in;
//! - with duplicate usernames the last usable entry wins.
//!
//! Without the `tls` cargo feature there is no hashing: plaintext entries are
//! compared as plaintext (mosquitto built without TLS does that), and hashed
//! entries make [`PasswordFile::load`] fail with a clear error rather than
//! lock every user out silently.
//!
//! A client's password is compared as mosquitto does: as a C string, i.e. up
//! to its first NUL byte (mosquitto hashes `strlen(password)` bytes; some
//! clients send a trailing NUL and mosquitto accepts them).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::base64::base64_decode;
#[cfg(all(test, feature = "tls"))]
use super::base64::base64_encode;
use super::hash::{ct_eq, digest_pbkdf2, digest_sha512, HASH_LEN, SALT_LEN};
use super::lines::{read_lines, trim_blanks, SecurityError, Warning};

#[derive(Clone, PartialEq, Eq)]
enum Stored {
    /// `$6$`: SHA-512(password || salt).
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// Only without the `tls` feature, as mosquitto without TLS.
    #[cfg_attr(feature = "tls", allow(dead_code))]
    Plain(Vec<u8>),
}

impl fmt::Debug for Stored {
    // Never print hashes or passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Sha512 { .. } => f.write_str("Sha512"),
            Stored::Pbkdf2 { iterations, .. } => write!(f, "Pbkdf2({iterations})"),
            Stored::Plain(_) => f.write_str("Plain"),
        }
    }
}

/// The outcome of checking one client's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    Ok,
    /// No usable entry for this username.
    UnknownUser,
    /// The username is known but the client sent no password.
    MissingPassword,
    /// The password does not match.
    BadPassword,
}

impl AuthResult {
    pub fn is_ok(self) -> bool {
        self == AuthResult::Ok
    }
}

/// A loaded password file.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    path: PathBuf,
    users: HashMap<String, Stored>,
    warnings: Vec<Warning>,
}

impl PasswordFile {
    /// Reads and parses `path`. Errors: the file cannot be read, or (without
    /// the `tls` feature) it holds hashed entries. Entries mosquitto would
    /// drop are reported by [`PasswordFile::warnings`].
    pub fn load(path: &Path) -> Result<PasswordFile, SecurityError> {
        let lines = read_lines(path)?;
        Self::parse_lines(path, &lines)
    }

    /// Like [`PasswordFile::load`], but any entry that would be dropped is an
    /// error with its file:line. Not mosquitto's behaviour; for tools and
    /// tests that want to know.
    pub fn load_strict(path: &Path) -> Result<PasswordFile, SecurityError> {
        let file = Self::load(path)?;
        match file.warnings.first() {
            Some(w) => Err(SecurityError::Parse {
                path: w.path.clone(),
                line: w.line,
                reason: w.message.clone(),
            }),
            None => Ok(file),
        }
    }

    /// Parses file content; `name` stands for the path in messages.
    pub fn parse(name: &str, content: &str) -> Result<PasswordFile, SecurityError> {
        let lines: Vec<String> = content.split('\n').map(str::to_owned).collect();
        Self::parse_lines(Path::new(name), &lines)
    }

    fn parse_lines(path: &Path, lines: &[String]) -> Result<PasswordFile, SecurityError> {
        let mut file = PasswordFile {
            path: path.to_path_buf(),
            users: HashMap::new(),
            warnings: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate() {
            let lineno = i + 1;
            let warn = |file: &mut PasswordFile, message: String| {
                file.warnings.push(Warning {
                    path: path.to_path_buf(),
                    line: lineno,
                    message,
                })
            };
            if line.starts_with('#') || !line.contains(':') {
                continue;
            }
            let mut fields = line.split(':').filter(|f| !f.is_empty());
            let Some(user_field) = fields.next() else {
                continue;
            };
            let username = trim_blanks(user_field);
            if username.len() > 65535 {
                warn(&mut file, "invalid line, username too long".into());
                continue;
            }
            let Some(pw_field) = fields.next() else {
                warn(
                    &mut file,
                    format!("invalid line for user \"{username}\": no password"),
                );
                continue;
            };
            let password = trim_blanks(pw_field);
            if password.len() > 65535 {
                warn(&mut file, "invalid line, password too long".into());
                continue;
            }
            #[cfg(not(feature = "tls"))]
            if looks_hashed(password) {
                return Err(SecurityError::Parse {
                    path: path.to_path_buf(),
                    line: lineno,
                    reason: format!(
                        "hashed password for user \"{username}\", but this build has no \
                         password hashing (built without the \"tls\" feature)"
                    ),
                });
            }
            match decode(password) {
                Ok(stored) => {
                    file.users.insert(username.to_owned(), stored);
                }
                Err(reason) => warn(
                    &mut file,
                    format!("{reason} for user \"{username}\", removing entry"),
                ),
            }
        }
        Ok(file)
    }

    /// The file this was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries that were dropped, with file:line and reason.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Number of usable entries.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether the file has a usable entry for `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// Checks a CONNECT's credentials against the file. The hashes are
    /// compared in constant time.
    pub fn check(&self, username: &str, password: Option<&[u8]>) -> AuthResult {
        let Some(stored) = self.users.get(username) else {
            return AuthResult::UnknownUser;
        };
        let Some(password) = password else {
            return AuthResult::MissingPassword;
        };
        // As a C string: up to the first NUL.
        let password = match password.iter().position(|&b| b == 0) {
            Some(n) => &password[..n],
            None => password,
        };
        let matched = match stored {
            Stored::Sha512 { salt, hash } => match digest_sha512(password, salt) {
                Some(h) => ct_eq(&h, hash),
                None => false,
            },
            Stored::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => match digest_pbkdf2(password, salt, *iterations) {
                Some(h) => ct_eq(&h, hash),
                None => false,
            },
            Stored::Plain(p) => ct_eq(password, p),
        };
        if matched {
            AuthResult::Ok
        } else {
            AuthResult::BadPassword
        }
    }
}

/// Decodes the password field into what `check` compares with, or the
/// reason mosquitto would drop the entry.
fn looks_hashed(field: &str) -> bool {
    // strtok(…, "$"): empty pieces are skipped.
    let kind = field.split('$').find(|p| !p.is_empty());
    field.starts_with('$') && matches!(kind, Some("6") | Some("7"))
}

fn decode(field: &str) -> Result<Stored, String> {
    let parts: Vec<&str> = field.split('$').filter(|p| !p.is_empty()).collect();
    let kind = parts.first().copied();
    if !looks_hashed(field) {
        if cfg!(feature = "tls") {
            return Err("invalid password hash type (plaintext entries are not \
                        accepted by mosquitto 2.0; hash the file with \
                        mosquitto_passwd -U)"
                .into());
        }
        return Ok(Stored::Plain(field.as_bytes().to_vec()));
    }
    let (iterations, rest) = if kind == Some("7") {
        let it = parts.get(1).ok_or("invalid password hash")?;
        let n: u32 = it
            .parse()
            .ok()
            .filter(|&n: &u32| n >= 1 && n <= i32::MAX as u32)
            .ok_or("invalid hash iterations")?;
        (Some(n), parts.get(2..).unwrap_or(&[]))
    } else {
        (None, parts.get(1..).unwrap_or(&[]))
    };
    let salt_b64 = rest.first().ok_or("invalid password hash")?;
    let salt = base64_decode(salt_b64)
        .filter(|s| s.len() == SALT_LEN)
        .ok_or("unable to decode password salt")?;
    let hash_b64 = rest.get(1).ok_or("invalid password hash")?;
    let hash = base64_decode(hash_b64)
        .filter(|h| h.len() == HASH_LEN)
        .ok_or("unable to decode password")?;
    Ok(match iterations {
        Some(iterations) => Stored::Pbkdf2 {
            iterations,
            salt,
            hash,
        },
        None => Stored::Sha512 { salt, hash },
    })
}

/// A `$6$…` field as `mosquitto_passwd -H sha512` would write it (tests).
#[cfg(all(test, feature = "tls"))]
pub fn hash_sha512(password: &[u8], salt: &[u8; SALT_LEN]) -> Option<String> {
    let h = digest_sha512(password, salt)?;
    Some(format!("$6${}${}", base64_encode(salt), base64_encode(&h)))
}

#[cfg(all(test, feature = "tls"))]
pub(crate) fn hash_sha512_for_test(password: &str, salt: &[u8; SALT_LEN]) -> String {
    hash_sha512(password.as_bytes(), salt).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_and_colonless_lines_are_ignored() {
        let f = PasswordFile::parse("pw", "# alice:x\n\n   \nnocolon\n").unwrap();
        assert!(f.is_empty());
        assert!(f.warnings().is_empty());
    }

    #[test]
    fn username_without_password_is_a_warning_with_line() {
        let f = PasswordFile::parse("pw", "# c\nalice:\n").unwrap();
        assert!(f.is_empty());
        assert_eq!(f.warnings().len(), 1);
        assert_eq!(f.warnings()[0].line, 2);
        assert!(f.warnings()[0].to_string().starts_with("pw:2: "));
    }

    #[cfg(feature = "tls")]
    mod hashed {
        use super::super::*;

        // Vectors computed independently with Python's hashlib:
        //   salt = bytes(range(12))
        //   sha512(b"password" + salt)
        //   pbkdf2_hmac("sha512", b"password", salt, 101)
        const SALT: &str = "AAECAwQFBgcICQoL";
        const SHA512_HASH: &str = "b4be9ENqb54sNj+csQTvm3qRtt6r5BJ4pdELhfw3543YRDKXy8YjBxqSsJubpfDSNaXeWIFnCuo6UMHsY83J5w==";
        const PBKDF2_HASH: &str = "DEO14ViPofBJRJpN8uZINnuFUWj8eUeWhlyZ2QOQ+5LgiM0kGXMwv2HwhIvlBQTsHkd+uve2/GFOr/KZ8Y/8Hw==";

        #[test]
        fn known_vectors() {
            let content =
                format!("alice:$6${SALT}${SHA512_HASH}\nbob:$7$101${SALT}${PBKDF2_HASH}\n");
            let f = PasswordFile::parse("pw", &content).unwrap();
            assert!(f.warnings().is_empty(), "{:?}", f.warnings());
            assert_eq!(f.check("alice", Some(b"password")), AuthResult::Ok);
            assert_eq!(f.check("bob", Some(b"password")), AuthResult::Ok);
            assert_eq!(f.check("alice", Some(b"Password")), AuthResult::BadPassword);
            assert_eq!(f.check("bob", Some(b"passwor")), AuthResult::BadPassword);
            assert_eq!(f.check("bob", None), AuthResult::MissingPassword);
            assert_eq!(f.check("carol", Some(b"password")), AuthResult::UnknownUser);
            // Trailing NUL as some C clients send it; bytes after a NUL are
            // ignored like mosquitto does.
            assert_eq!(f.check("bob", Some(b"password\0")), AuthResult::Ok);
            assert_eq!(f.check("bob", Some(b"password\0xyz")), AuthResult::Ok);
            // Our writer produces the same strings.
            let salt: [u8; 12] = core::array::from_fn(|i| i as u8);
            assert_eq!(
                hash_sha512(b"password", &salt).unwrap(),
                format!("$6${SALT}${SHA512_HASH}")
            );
            let pbkdf2 = digest_pbkdf2(b"password", &salt, 101).unwrap();
            assert_eq!(
                format!("$7$101${}${}", base64_encode(&salt), base64_encode(&pbkdf2)),
                format!("$7$101${SALT}${PBKDF2_HASH}")
            );
        }

        #[test]
        fn whitespace_and_strtok_quirks() {
            let content = format!(" alice \t:  $6${SALT}${SHA512_HASH}  \r\n::bob:$7$101${SALT}${PBKDF2_HASH}:extra\n");
            let f = PasswordFile::parse("pw", &content).unwrap();
            assert!(f.warnings().is_empty(), "{:?}", f.warnings());
            assert!(f.check("alice", Some(b"password")).is_ok());
            assert!(f.check("bob", Some(b"password")).is_ok());
        }

        #[test]
        fn bad_entries_are_dropped_with_reasons() {
            let content = format!(
                "plain:secret\n\
                 badtype:$5${SALT}${SHA512_HASH}\n\
                 badsalt:$6$AAEC${SHA512_HASH}\n\
                 badhash:$6${SALT}$AAAA\n\
                 noiter:$7$0${SALT}${PBKDF2_HASH}\n\
                 short:$7$101${SALT}\n\
                 good:$6${SALT}${SHA512_HASH}\n"
            );
            let f = PasswordFile::parse("pw", &content).unwrap();
            assert_eq!(f.len(), 1);
            assert!(f.contains("good"));
            let lines: Vec<usize> = f.warnings().iter().map(|w| w.line).collect();
            assert_eq!(lines, vec![1, 2, 3, 4, 5, 6]);
            assert!(f.warnings()[0].message.contains("plaintext"));
            assert!(f.warnings()[2].message.contains("salt"));
            assert!(f.warnings()[4].message.contains("iterations"));
            assert_eq!(f.check("plain", Some(b"secret")), AuthResult::UnknownUser);
        }

        #[test]
        fn strict_load_reports_first_bad_line() {
            let path = crate::passwd::test_util::temp_file(
                "pwstrict",
                &format!("good:$6${SALT}${SHA512_HASH}\nplain:secret\n"),
            );
            let err = PasswordFile::load_strict(&path).unwrap_err();
            assert!(err.to_string().contains("pwstrict:2:"), "{err}");
            assert!(PasswordFile::load(&path).is_ok());
        }

        #[test]
        fn duplicate_username_last_wins() {
            let salt = [7u8; 12];
            let a = hash_sha512(b"one", &salt).unwrap();
            let b = hash_sha512(b"two", &salt).unwrap();
            let f = PasswordFile::parse("pw", &format!("u:{a}\nu:{b}\n")).unwrap();
            assert!(f.check("u", Some(b"two")).is_ok());
            assert!(!f.check("u", Some(b"one")).is_ok());
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_tls_plaintext_works_and_hashes_are_refused() {
        let f = PasswordFile::parse("pw", "alice:secret\n").unwrap();
        assert!(f.check("alice", Some(b"secret")).is_ok());
        assert_eq!(f.check("alice", Some(b"secrex")), AuthResult::BadPassword);
        let err = PasswordFile::parse("pw", "alice:secret\nbob:$7$101$AAECAwQFBgcICQoL$AAAA\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pw:2:") && msg.contains("tls"), "{msg}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = PasswordFile::load(Path::new("/nonexistent/mosq-rs/pw")).unwrap_err();
        assert!(matches!(err, SecurityError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/mosq-rs/pw"));
    }
}
