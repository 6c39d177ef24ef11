//! mosquitto's password file format, shared by mosquitto_passwd and the
//! broker's password check.
//!
//! Each line is `username:hash` where the hash is
//! `$6$<salt>$<sha512(password ‖ salt)>` or
//! `$7$<iterations>$<salt>$<pbkdf2-hmac-sha512(password, salt, iterations)>`,
//! salt (12 bytes) and hash (64 bytes) in standard base64. Parsing and
//! base64 need nothing; hashing and verifying need OpenSSL (feature `tls`).
//! The same primitives serve the tool and the broker's [`super::PasswordFile`],
//! so they cannot disagree about a file.

use super::base64::{base64_decode, base64_encode};

/// Default PBKDF2 iterations, as mosquitto_passwd uses.
pub const DEFAULT_ITERATIONS: u32 = 101;
/// Salt length mosquitto uses for new passwords.
pub const SALT_LEN: usize = 12;
/// Length of a SHA-512 digest, the hash in every entry.
pub const HASH_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// `$6$`: one SHA-512 over password and salt (mosquitto 1.6 and older).
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Sha512Pbkdf2,
}

/// One parsed password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub kind: HashKind,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

impl PasswordHash {
    /// Parse the part after `username:`; `None` if it is not a hash we know.
    pub fn parse(s: &str) -> Option<PasswordHash> {
        let mut parts = s.trim().split('$');
        if !parts.next()?.is_empty() {
            return None;
        }
        let (kind, iterations) = match parts.next()? {
            "6" => (HashKind::Sha512, 0),
            "7" => {
                let it: u32 = parts.next()?.parse().ok()?;
                if it == 0 {
                    return None;
                }
                (HashKind::Sha512Pbkdf2, it)
            }
            _ => return None,
        };
        let salt = base64_decode(parts.next()?)?;
        let hash = base64_decode(parts.next()?)?;
        if parts.next().is_some() || salt.is_empty() || hash.is_empty() {
            return None;
        }
        Some(PasswordHash {
            kind,
            iterations,
            salt,
            hash,
        })
    }

    /// The text form that goes after `username:`.
    pub fn to_text(&self) -> String {
        match self.kind {
            HashKind::Sha512 => format!(
                "$6${}${}",
                base64_encode(&self.salt),
                base64_encode(&self.hash)
            ),
            HashKind::Sha512Pbkdf2 => format!(
                "$7${}${}${}",
                self.iterations,
                base64_encode(&self.salt),
                base64_encode(&self.hash)
            ),
        }
    }
}

#[cfg(feature = "tls")]
mod hashing {
    use super::{ct_eq, digest_pbkdf2, digest_sha512, HashKind, PasswordHash, SALT_LEN};

    fn digest(kind: HashKind, password: &[u8], salt: &[u8], iterations: u32) -> Option<Vec<u8>> {
        match kind {
            HashKind::Sha512 => digest_sha512(password, salt),
            HashKind::Sha512Pbkdf2 => digest_pbkdf2(password, salt, iterations),
        }
    }

    impl PasswordHash {
        /// Hash a new password with a fresh random salt.
        pub fn new(password: &[u8], kind: HashKind, iterations: u32) -> Option<PasswordHash> {
            let mut salt = vec![0u8; SALT_LEN];
            openssl::rand::rand_bytes(&mut salt).ok()?;
            let hash = digest(kind, password, &salt, iterations)?;
            Some(PasswordHash {
                kind,
                iterations,
                salt,
                hash,
            })
        }

        /// Whether `password` matches, compared in constant time.
        pub fn verify(&self, password: &[u8]) -> bool {
            match digest(self.kind, password, &self.salt, self.iterations) {
                Some(d) => ct_eq(&d, &self.hash),
                None => false,
            }
        }
    }
}

/// Equality that takes the same time for every pair of equal-length inputs.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// `$6$`: one SHA-512 over password then salt. None without OpenSSL.
#[cfg(feature = "tls")]
pub fn digest_sha512(password: &[u8], salt: &[u8]) -> Option<Vec<u8>> {
    let mut h = openssl::sha::Sha512::new();
    h.update(password);
    h.update(salt);
    Some(h.finish().to_vec())
}

/// `$7$`: PBKDF2-HMAC-SHA512. None without OpenSSL.
#[cfg(feature = "tls")]
pub fn digest_pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> Option<Vec<u8>> {
    let mut out = vec![0u8; HASH_LEN];
    openssl::pkcs5::pbkdf2_hmac(
        password,
        salt,
        iterations as usize,
        openssl::hash::MessageDigest::sha512(),
        &mut out,
    )
    .ok()?;
    Some(out)
}

#[cfg(not(feature = "tls"))]
pub fn digest_sha512(_password: &[u8], _salt: &[u8]) -> Option<Vec<u8>> {
    None
}

#[cfg(not(feature = "tls"))]
pub fn digest_pbkdf2(_password: &[u8], _salt: &[u8], _iterations: u32) -> Option<Vec<u8>> {
    None
}

/// Whether hashing is available in this build.
pub const HASHING_AVAILABLE: bool = cfg!(feature = "tls");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert!(base64_decode("a*b").is_none());
    }

    // Lines written by Debian's mosquitto_passwd 2.0.11.
    const DEBIAN_PBKDF2: &str = "$7$101$lSCUHrl/RXxnRMk2$rPIoQIaXokmi1pUuTtp6l+v/+01E4mjj5arVYJKt/YH3iZVVwPuv6O6CDmKpK/ue23nhNBjQPqGRgLt/e5RwOg==";
    const DEBIAN_SHA512: &str = "$6$784pUzYdBzSvd0ip$oO4FN8QD4ZmccXELTaBgSS1MT9Y3t0ywd4pbQZl+I7/80VrxUB9m4BpSikQSsQkKZCL2+hVBicfPLJ3r+MaU9A==";

    #[test]
    fn parse_debian_lines() {
        let h = PasswordHash::parse(DEBIAN_PBKDF2).unwrap();
        assert_eq!(h.kind, HashKind::Sha512Pbkdf2);
        assert_eq!(h.iterations, 101);
        assert_eq!(h.salt.len(), 12);
        assert_eq!(h.hash.len(), 64);
        assert_eq!(h.to_text(), DEBIAN_PBKDF2);
        let h = PasswordHash::parse(DEBIAN_SHA512).unwrap();
        assert_eq!(h.kind, HashKind::Sha512);
        assert_eq!(h.to_text(), DEBIAN_SHA512);
        assert!(PasswordHash::parse("plain").is_none());
        assert!(PasswordHash::parse("$8$x$y").is_none());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn verify_debian_hashes() {
        assert!(PasswordHash::parse(DEBIAN_PBKDF2)
            .unwrap()
            .verify(b"secret"));
        assert!(!PasswordHash::parse(DEBIAN_PBKDF2)
            .unwrap()
            .verify(b"Secret"));
        assert!(PasswordHash::parse(DEBIAN_SHA512).unwrap().verify(b"pw2"));
        assert!(!PasswordHash::parse(DEBIAN_SHA512).unwrap().verify(b"pw"));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn new_hashes_verify() {
        for kind in [HashKind::Sha512, HashKind::Sha512Pbkdf2] {
            let h = PasswordHash::new(b"p4ss", kind, 5).unwrap();
            let again = PasswordHash::parse(&h.to_text()).unwrap();
            assert!(again.verify(b"p4ss"));
            assert!(!again.verify(b"p4sS"));
        }
    }
}
