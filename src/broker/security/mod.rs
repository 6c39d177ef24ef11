//! Authentication and authorisation: mosquitto 2.0's default security
//! (`src/security_default.c`, `src/security.c`) as self-contained pieces.
//!
//! - [`crate::passwd`] (shared with `mosquitto_passwd`): the `password_file`
//!   (`username:$7$…` lines) and its credential check, the `psk_file`
//!   (`identity:hexkey` lines) for TLS-PSK listeners, and the error and
//!   warning types of these files.
//! - [`acl`]: the `acl_file` (`user`, `topic`, `pattern` lines) and the
//!   per-message read/write decision.
//! - This file: [`authenticate`] (the CONNECT
//!   decision with mosquitto's CONNACK codes), `clientid_prefixes`, and the
//!   reloadable [`SecurityFiles`] bundle.
//!
//! Where the broker calls what:
//! - start-up: [`SecurityFiles::load`]; log every [`SecurityFiles::warnings`]
//!   entry at the error level (mosquitto logs "Error: … removing entry" and
//!   starts anyway); a `SecurityError` stops start-up.
//! - SIGHUP: [`SecurityFiles::reload`]; on error keep running with the old
//!   bundle, log the error. After a successful reload mosquitto re-checks
//!   every connected client (disconnects anonymous clients when
//!   `allow_anonymous` is now false and clients whose password no longer
//!   checks); call [`authenticate`] again with the stored credentials.
//! - CONNECT: [`clientid_prefix_allowed`] (CONNACK 5 on failure), then
//!   [`authenticate`].
//! - PUBLISH in: [`SecurityFiles::acl_check`] with [`Access::Write`] on the
//!   topic after the listener's mount point was prepended.
//! - delivery (live and retained): [`SecurityFiles::acl_check`] with
//!   [`Access::Read`] on the message topic; a denied message is silently not
//!   delivered to that subscriber.
//! - SUBSCRIBE: [`SecurityFiles::acl_check`] with [`Access::Subscribe`]
//!   (mosquitto: only the `$share`/`$SYS` rules) and then
//!   [`SecurityFiles::subscribe_allowed`] (our extension; SUBACK 0x80).

pub mod acl;

use std::path::PathBuf;

use crate::broker::plugin::{self, ClientFacts, Verdict};

pub use acl::{Access, Acl};
// The files' formats live in the shared `passwd` layer; policy stays here.
pub(crate) use crate::passwd::{is_c_space, read_lines, trim_blanks};
pub use crate::passwd::{AuthResult, PasswordFile, PskFile, SecurityError, Warning};

/// The CONNACK refusals that authentication produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnackCode {
    /// 3.1.1 code 4 (MQTT 5: 0x86). mosquitto 2.0 sends it only on
    /// listeners with `use_identity_as_username`/`use_subject_as_username`
    /// when the TLS connection gives no usable identity (no certificate, no
    /// CN, a CN with an embedded NUL or invalid UTF-8, no PSK identity).
    BadUsernameOrPassword,
    /// 3.1.1 code 5 (MQTT 5: 0x87). mosquitto 2.0 sends it for every
    /// password-file refusal: anonymous client when anonymous access is off,
    /// unknown user, wrong password, missing password; also for a client id
    /// refused by `clientid_prefixes` and for `use_username_as_clientid`
    /// without a username.
    NotAuthorized,
    /// No CONNACK: the connection closes (a plugin's unknown basic-auth
    /// code, as mosquitto 2.0). Its codes below are never sent.
    Unanswered,
}

impl ConnackCode {
    /// The CONNACK return code for MQTT 3.1 and 3.1.1.
    pub fn v311(self) -> u8 {
        match self {
            ConnackCode::BadUsernameOrPassword => 4,
            ConnackCode::NotAuthorized | ConnackCode::Unanswered => 5,
        }
    }

    /// The CONNACK reason code for MQTT 5.
    pub fn v5(self) -> u8 {
        match self {
            ConnackCode::BadUsernameOrPassword => 0x86,
            ConnackCode::NotAuthorized | ConnackCode::Unanswered => 0x87,
        }
    }
}

impl From<ConnackCode> for crate::protocol::ConnectReturnCode {
    fn from(c: ConnackCode) -> Self {
        match c {
            ConnackCode::BadUsernameOrPassword => Self::BadUsernameOrPassword,
            ConnackCode::NotAuthorized | ConnackCode::Unanswered => Self::NotAuthorized,
        }
    }
}

/// The CONNECT decision of mosquitto 2.0's default security
/// (`mosquitto_unpwd_check` with only the password file):
///
/// - no password file: everybody is let in when `allow_anonymous` is true,
///   *including clients that send a username*; when it is false everybody is
///   refused, with or without a username (CONNACK 5);
/// - with a password file: a client without a username is let in only when
///   `allow_anonymous` is true; a client with a username must be in the file
///   with a matching password, whatever `allow_anonymous` says.
///
/// Every refusal is CONNACK 5 "not authorised" (MQTT 5: 0x87), never 4.
/// Not for listeners with `use_identity_as_username` /
/// `use_subject_as_username`: there the TLS identity replaces the password
/// check entirely (mosquitto does not consult the password file then).
pub fn authenticate(
    allow_anonymous: bool,
    passwords: Option<&PasswordFile>,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<(), ConnackCode> {
    match (passwords, username) {
        (None, _) | (Some(_), None) => {
            if allow_anonymous {
                Ok(())
            } else {
                Err(ConnackCode::NotAuthorized)
            }
        }
        (Some(file), Some(user)) => {
            if file.check(user, password).is_ok() {
                Ok(())
            } else {
                Err(ConnackCode::NotAuthorized)
            }
        }
    }
}

/// mosquitto's `clientid_prefixes`: when set, a client id must start with it
/// (byte-wise, case-sensitive); otherwise CONNACK 5. Checked on the client id
/// the client sent or the one the broker assigned, before authentication.
pub fn clientid_prefix_allowed(prefixes: Option<&str>, client_id: &str) -> bool {
    match prefixes {
        Some(p) => client_id.as_bytes().starts_with(p.as_bytes()),
        None => true,
    }
}

/// Where the security files are; each one optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityPaths {
    pub password_file: Option<PathBuf>,
    pub acl_file: Option<PathBuf>,
    pub psk_file: Option<PathBuf>,
    /// `plugin` / `auth_plugin` lines (loaded once, at start-up).
    pub plugins: Vec<crate::config::PluginConfig>,
}

/// The loaded security files. One bundle for the whole broker, or one per
/// listener with `per_listener_settings true`.
#[derive(Debug, Clone, Default)]
pub struct SecurityFiles {
    pub passwords: Option<PasswordFile>,
    pub acl: Option<Acl>,
    pub psk: Option<PskFile>,
    /// The domain's plugins (set by the shell after loading them; kept
    /// across reloads, as mosquitto keeps its plugins).
    pub plugins: plugin::Chain,
}

impl SecurityFiles {
    /// Loads every configured file. Any unreadable or invalid file is an
    /// error (start-up stops, as mosquitto's does).
    pub fn load(paths: &SecurityPaths) -> Result<SecurityFiles, SecurityError> {
        let passwords = match &paths.password_file {
            Some(p) => Some(PasswordFile::load(p)?),
            None => None,
        };
        let acl = match &paths.acl_file {
            Some(p) => Some(Acl::load(p)?),
            None => None,
        };
        let psk = match &paths.psk_file {
            Some(p) => Some(PskFile::load(p)?),
            None => None,
        };
        Ok(SecurityFiles {
            passwords,
            acl,
            psk,
            plugins: plugin::Chain::default(),
        })
    }

    /// SIGHUP: loads all files again and replaces `self` only if every one
    /// of them loaded. On error `self` is untouched and keeps working.
    pub fn reload(&mut self, paths: &SecurityPaths) -> Result<(), SecurityError> {
        let mut fresh = SecurityFiles::load(paths)?;
        fresh.plugins = self.plugins;
        *self = fresh;
        Ok(())
    }

    /// Entries the files' loaders skipped, with file:line and reason.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut all = Vec::new();
        if let Some(p) = &self.passwords {
            all.extend(p.warnings().iter().cloned());
        }
        if let Some(a) = &self.acl {
            all.extend(a.warnings().iter().cloned());
        }
        if let Some(k) = &self.psk {
            all.extend(k.warnings().iter().cloned());
        }
        all
    }

    /// [`authenticate`] against this bundle's password file.
    pub fn authenticate(
        &self,
        allow_anonymous: bool,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ConnackCode> {
        authenticate(allow_anonymous, self.passwords.as_ref(), username, password)
    }

    /// mosquitto's `mosquitto_acl_check` for a (non-bridge) client: the
    /// `$SYS`/`$share` rules of [`acl::dollar_allowed`] always apply; the
    /// ACL file, when there is one, decides the rest; without one every
    /// other access is allowed. Bridges are not checked at all in mosquitto:
    /// do not call this for bridge connections.
    pub fn acl_check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        let none = plugin::AclMessage::default();
        self.acl_check_message(client_id, username, topic, access, none)
    }

    /// [`acl_check`](Self::acl_check), with what plugins are shown of the
    /// message (or subscription) besides its topic.
    pub fn acl_check_message(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
        msg: plugin::AclMessage,
    ) -> bool {
        if self.plugins.is_empty() {
            return acl::acl_allows(self.acl.as_ref(), client_id, username, topic, access);
        }
        self.acl_with_plugins(client_id, username, topic, access, msg)
    }

    /// mosquitto 2.0's `mosquitto_acl_check` with plugins: the `$` rules,
    /// then each plugin in order, then the ACL file (registered after the
    /// plugins in mosquitto); the first answer that is not "defer" counts,
    /// and when everybody deferred the access is denied.
    fn acl_with_plugins(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
        msg: plugin::AclMessage,
    ) -> bool {
        if !acl::dollar_allowed(topic, access) {
            return false;
        }
        let bit = match access {
            Access::Read => plugin::ffi::MOSQ_ACL_READ,
            Access::Write => plugin::ffi::MOSQ_ACL_WRITE,
            Access::Subscribe => plugin::ffi::MOSQ_ACL_SUBSCRIBE,
            Access::Unsubscribe => plugin::ffi::MOSQ_ACL_UNSUBSCRIBE,
        };
        match self.plugins.acl_check(client_id, username, topic, bit, msg) {
            Verdict::Allow => true,
            Verdict::Deny | Verdict::Failed => false,
            Verdict::Defer { asked } => match &self.acl {
                // mosquitto's file check allows every subscription.
                Some(a) => {
                    access == Access::Subscribe || a.check(client_id, username, topic, access)
                }
                None => !asked,
            },
        }
    }

    /// The CONNECT decision with plugins, as mosquitto 2.0's
    /// `mosquitto_unpwd_check`: the plugins' basic-auth callbacks in order
    /// (version 2–4 plugins after), then the password file; without any
    /// verdict, only an anonymous client on a listener that allows
    /// anonymous access is let in. Without plugins: [`authenticate`].
    pub fn authenticate_client(
        &self,
        allow_anonymous: bool,
        facts: &ClientFacts,
        password: Option<&[u8]>,
    ) -> Result<(), ConnackCode> {
        let username = facts.username;
        if self.plugins.is_empty() {
            return authenticate(allow_anonymous, self.passwords.as_ref(), username, password);
        }
        let plugins = self.plugins.basic_auth(facts, password);
        let verdict = self.files_after_plugins(plugins, allow_anonymous, username, password);
        if verdict.is_err() {
            plugin::forget_client(facts.id, facts.conn);
        }
        verdict
    }

    /// SIGHUP's re-check of a connected client: [`authenticate`], or with
    /// plugins the same chain as at CONNECT (mosquitto re-runs
    /// `mosquitto_unpwd_check`, plugins included).
    pub fn reauthenticate(
        &self,
        allow_anonymous: bool,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ConnackCode> {
        if self.plugins.is_empty() {
            return authenticate(allow_anonymous, self.passwords.as_ref(), username, password);
        }
        let plugins = self.plugins.recheck_auth(client_id, username, password);
        self.files_after_plugins(plugins, allow_anonymous, username, password)
    }

    fn files_after_plugins(
        &self,
        plugins: Verdict,
        allow_anonymous: bool,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ConnackCode> {
        let asked = match plugins {
            Verdict::Allow => return Ok(()),
            Verdict::Deny => return Err(ConnackCode::NotAuthorized),
            Verdict::Failed => return Err(ConnackCode::Unanswered),
            Verdict::Defer { asked } => asked,
        };
        match (&self.passwords, username) {
            (Some(file), Some(user)) if !file.check(user, password).is_ok() => {
                Err(ConnackCode::NotAuthorized)
            }
            (Some(_), Some(_)) => Ok(()),
            // Nobody was asked: anonymous access decides for everybody.
            (None, _) if !asked => authenticate(allow_anonymous, None, username, password),
            (_, None) if allow_anonymous => Ok(()),
            _ => Err(ConnackCode::NotAuthorized),
        }
    }

    /// Our extension (see [`Acl::subscribe_allowed`]); true without an ACL
    /// file.
    pub fn subscribe_allowed(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        match &self.acl {
            Some(a) => a.subscribe_allowed(client_id, username, filter),
            None => true,
        }
    }

    /// The PSK for a TLS-PSK identity, if a psk file is loaded and lists it.
    pub fn psk_key(&self, identity: &str) -> Option<Vec<u8>> {
        self.psk.as_ref().and_then(|p| p.key(identity))
    }
}

#[cfg(test)]
pub(crate) use crate::passwd::test_util;

#[cfg(test)]
mod tests {
    use super::test_util::temp_file;
    use super::*;

    fn pwfile() -> PasswordFile {
        // "secret" for alice (sha512, salt "0123456789ab"); bob has a
        // pbkdf2 hash; both computed by the password module itself.
        #[cfg(feature = "tls")]
        {
            let a = crate::passwd::hash_sha512_for_test("secret", b"0123456789ab");
            PasswordFile::parse("t", &format!("alice:{a}\n")).unwrap()
        }
        #[cfg(not(feature = "tls"))]
        {
            PasswordFile::parse("t", "alice:secret\n").unwrap()
        }
    }

    #[test]
    fn authenticate_follows_mosquitto_2() {
        let pw = pwfile();
        // No password file.
        assert_eq!(authenticate(true, None, None, None), Ok(()));
        assert_eq!(authenticate(true, None, Some("x"), Some(b"y")), Ok(()));
        assert_eq!(
            authenticate(false, None, None, None),
            Err(ConnackCode::NotAuthorized)
        );
        assert_eq!(
            authenticate(false, None, Some("alice"), Some(b"secret")),
            Err(ConnackCode::NotAuthorized)
        );
        // Password file.
        assert_eq!(authenticate(true, Some(&pw), None, None), Ok(()));
        assert_eq!(
            authenticate(false, Some(&pw), None, None),
            Err(ConnackCode::NotAuthorized)
        );
        assert_eq!(
            authenticate(false, Some(&pw), Some("alice"), Some(b"secret")),
            Ok(())
        );
        assert_eq!(
            authenticate(true, Some(&pw), Some("alice"), Some(b"wrong")),
            Err(ConnackCode::NotAuthorized)
        );
        assert_eq!(
            authenticate(true, Some(&pw), Some("alice"), None),
            Err(ConnackCode::NotAuthorized)
        );
        assert_eq!(
            authenticate(true, Some(&pw), Some("mallory"), Some(b"secret")),
            Err(ConnackCode::NotAuthorized)
        );
        assert_eq!(ConnackCode::NotAuthorized.v311(), 5);
        assert_eq!(ConnackCode::NotAuthorized.v5(), 0x87);
        assert_eq!(ConnackCode::BadUsernameOrPassword.v311(), 4);
        assert_eq!(ConnackCode::BadUsernameOrPassword.v5(), 0x86);
    }

    #[test]
    fn clientid_prefixes() {
        assert!(clientid_prefix_allowed(None, "anything"));
        assert!(clientid_prefix_allowed(Some("sensor-"), "sensor-1"));
        assert!(clientid_prefix_allowed(Some("sensor-"), "sensor-"));
        assert!(!clientid_prefix_allowed(Some("sensor-"), "Sensor-1"));
        assert!(!clientid_prefix_allowed(Some("sensor-"), "sens"));
        assert!(!clientid_prefix_allowed(Some("sensor-"), ""));
    }

    #[test]
    fn bundle_load_and_reload_keeps_old_on_error() {
        let acl = temp_file("acl", "user alice\ntopic readwrite a/#\n");
        let psk = temp_file("psk", "id1:0a0b\n");
        let paths = SecurityPaths {
            password_file: None,
            acl_file: Some(acl.clone()),
            psk_file: Some(psk.clone()),
            plugins: Vec::new(),
        };
        let mut files = SecurityFiles::load(&paths).unwrap();
        assert!(files.acl_check("c", Some("alice"), "a/b", Access::Write));
        assert!(!files.acl_check("c", Some("alice"), "b", Access::Write));
        assert_eq!(files.psk_key("id1"), Some(vec![0x0a, 0x0b]));

        // A bad ACL line: the reload fails and the old rules stay.
        std::fs::write(&acl, "user alice\ntopic sometimes b/#\n").unwrap();
        let err = files.reload(&paths).unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
        assert!(files.acl_check("c", Some("alice"), "a/b", Access::Write));
        assert!(!files.acl_check("c", Some("alice"), "b/c", Access::Write));

        // A good one replaces them.
        std::fs::write(&acl, "user alice\ntopic readwrite b/#\n").unwrap();
        files.reload(&paths).unwrap();
        assert!(!files.acl_check("c", Some("alice"), "a/b", Access::Write));
        assert!(files.acl_check("c", Some("alice"), "b/c", Access::Write));

        // A missing file is an error too, and the bundle is kept.
        std::fs::remove_file(&psk).unwrap();
        let err = files.reload(&paths).unwrap_err();
        assert!(matches!(err, SecurityError::Io { .. }));
        assert_eq!(files.psk_key("id1"), Some(vec![0x0a, 0x0b]));
    }

    #[test]
    fn no_acl_file_allows_all_but_dollar_rules() {
        let files = SecurityFiles::default();
        assert!(files.acl_check("c", None, "a/b", Access::Write));
        assert!(files.acl_check("c", None, "a/b", Access::Read));
        assert!(!files.acl_check("c", None, "$SYS/broker/uptime", Access::Write));
        assert!(files.acl_check("c", None, "$SYS/broker/uptime", Access::Read));
        assert!(files.subscribe_allowed("c", None, "#"));
    }
}
