//! Errors and helpers both sides of the TLS layer use.

use std::fmt;
use std::path::Path;

use openssl::error::ErrorStack;
use openssl::ssl::{SslContextBuilder, SslOptions};

/// A TLS setting or file could not be used, or a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

pub(super) fn err(msg: String, e: Option<ErrorStack>) -> TlsError {
    match e {
        Some(stack) if !stack.errors().is_empty() => TlsError(format!("{msg} ({stack})")),
        _ => TlsError(msg),
    }
}

pub(super) fn path_str(p: &Path) -> Result<&str, TlsError> {
    match p.to_str() {
        Some(s) if !s.contains('\0') => Ok(s),
        _ => Err(TlsError(format!(
            "Unsupported file name \"{}\" (not UTF-8)",
            p.display()
        ))),
    }
}

/// Checks that `path` is a readable file before OpenSSL's vaguer message.
pub(super) fn readable(path: &Path, option: &str) -> Result<(), TlsError> {
    path_str(path)?;
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(TlsError(format!(
            "Unable to open {option} \"{}\": {e}",
            path.display()
        ))),
    }
}

pub(super) fn apply_tls_version(
    b: &mut SslContextBuilder,
    version: Option<&str>,
) -> Result<(), TlsError> {
    let base = SslOptions::NO_SSLV3 | SslOptions::NO_TLSV1;
    let opts = match version {
        None | Some("tlsv1.2") => base | SslOptions::NO_TLSV1_1,
        Some("tlsv1.3") => base | SslOptions::NO_TLSV1_1 | SslOptions::NO_TLSV1_2,
        Some("tlsv1.1") => base,
        Some(other) => {
            return Err(TlsError(format!(
                "Unsupported tls_version \"{other}\" (use tlsv1.3, tlsv1.2 or tlsv1.1)"
            )))
        }
    };
    b.set_options(opts);
    Ok(())
}
