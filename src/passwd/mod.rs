//! The password and PSK files, shared by the broker and `mosquitto_passwd`:
//! their formats, the hashes (`$6$` SHA-512, `$7$` PBKDF2-HMAC-SHA512),
//! salts, base64, constant-time comparison and PSK hex keys.
//!
//! - `file`: the broker's `password_file` reader and credential check;
//! - `hash`: one hash as `mosquitto_passwd` writes it, and the digests;
//! - `psk`: the `psk_file` and mosquitto's hex-to-key conversion;
//! - `base64`, `lines`: the pieces both files (and the ACL file) share.
//!
//! Policy (who may connect, ACLs) is the broker's (`broker::security`).
//! Hashing needs OpenSSL (feature `tls`); parsing does not.

mod base64;
mod file;
mod hash;
mod lines;
mod psk;

pub use base64::{base64_decode, base64_encode};
#[cfg(all(test, feature = "tls"))]
pub(crate) use file::hash_sha512_for_test;
pub use file::{AuthResult, PasswordFile};
pub use hash::{
    ct_eq, digest_pbkdf2, digest_sha512, HashKind, PasswordHash, DEFAULT_ITERATIONS,
    HASHING_AVAILABLE, HASH_LEN, SALT_LEN,
};
pub(crate) use lines::{is_c_space, read_lines, trim_blanks};
pub use lines::{SecurityError, Warning};
pub use psk::{hex_to_key, PskFile};

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A file with `content` in a fresh temporary directory.
    pub fn temp_file(name: &str, content: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("mosq-rs-sec-{}-{}-{}", std::process::id(), n, name));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}
