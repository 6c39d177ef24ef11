//! The two TLS option structs: a listener's (server) and a client's (the
//! tools' command line, a bridge's configuration). Plain data, compiled in
//! every build: the config and the tools parse TLS options even without
//! the `tls` feature, to refuse them as unavailable rather than unknown.

use std::path::PathBuf;

/// How `keyfile` is interpreted (`tls_keyform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyForm {
    /// A PEM file.
    #[default]
    Pem,
    /// An engine handle (see `tls_engine`).
    Engine,
}

/// A TLS listener's options, named as in mosquitto.conf. The config's
/// listener holds one; the broker fills in `port` and
/// `psk_file_configured` (which are not TLS options of the file) when it
/// builds the listener's context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsServerOptions {
    /// The listener's port; mosquitto names the session id context
    /// `mosquitto-<port>`.
    pub port: u16,
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// TLS ≤ 1.2 cipher list (OpenSSL syntax).
    pub ciphers: Option<String>,
    /// TLS 1.3 ciphersuites (`ciphers_tls1.3`).
    pub ciphers_tls13: Option<String>,
    /// `tlsv1.3`, `tlsv1.2`, `tlsv1.1`; unset: TLS 1.2 and 1.3.
    pub tls_version: Option<String>,
    pub require_certificate: bool,
    pub crlfile: Option<PathBuf>,
    pub dhparamfile: Option<PathBuf>,
    /// Enables TLS-PSK on this listener (mosquitto's `psk_hint`).
    pub psk_hint: Option<String>,
    /// True when a `psk_file` is configured (globally, or for this listener
    /// with per_listener_settings). mosquitto then turns TLS 1.3 off for the
    /// listener, as OpenSSL's PSK callbacks are TLS ≤ 1.2 ones.
    pub psk_file_configured: bool,
    /// `tls_engine`: recognised, not supported.
    pub tls_engine: Option<String>,
    pub tls_keyform: KeyForm,
    /// SHA1 of the engine key password, 40 hex digits.
    pub tls_engine_kpass_sha1: Option<String>,
    /// The certificate CN or PSK identity becomes the username.
    pub use_identity_as_username: bool,
    /// The certificate subject becomes the username.
    pub use_subject_as_username: bool,
}

impl TlsServerOptions {
    /// True when any TLS or PSK option of the file is set.
    pub fn any_set(&self) -> bool {
        self.cafile.is_some()
            || self.capath.is_some()
            || self.certfile.is_some()
            || self.keyfile.is_some()
            || self.tls_engine.is_some()
            || self.tls_keyform != KeyForm::Pem
            || self.tls_engine_kpass_sha1.is_some()
            || self.ciphers.is_some()
            || self.ciphers_tls13.is_some()
            || self.dhparamfile.is_some()
            || self.psk_hint.is_some()
            || self.require_certificate
            || self.crlfile.is_some()
            || self.use_identity_as_username
            || self.use_subject_as_username
    }
}

/// TLS options of a client: the command-line tools (`--cafile`, `--capath`,
/// `--cert`, `--key`, `--insecure`, `--tls-version`, `--ciphers`, `--psk`,
/// `--psk-identity`, …) and a bridge (`bridge_cafile`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientOptions {
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// Do not check that the server certificate's name matches the host
    /// (`--insecure`, `bridge_insecure`). The chain is still verified.
    pub insecure: bool,
    pub tls_version: Option<String>,
    pub ciphers: Option<String>,
    /// Hex key for TLS-PSK (`--psk`, `bridge_psk`), with `psk_identity`.
    pub psk: Option<String>,
    /// `--psk-identity`, `bridge_identity`.
    pub psk_identity: Option<String>,
    /// Also trust the system's default CA certificates
    /// (`--tls-use-os-certs`, `mqtts://` URLs).
    pub use_os_certs: bool,
    /// The application protocol to ask for in the handshake (`--tls-alpn`,
    /// `bridge_alpn`), e.g. for a cloud broker sharing port 443.
    pub alpn: Option<String>,
    /// Ask the server to staple an OCSP response and fail the handshake
    /// unless it is there, signed by someone the CA trusts, and says the
    /// server certificate is good and current (`bridge_require_ocsp`).
    pub ocsp_required: bool,
    /// Tools only: the first TLS option given, as the user spelled it (a
    /// build without TLS names it when refusing).
    pub first: Option<String>,
    /// Tools only: `--keyform` as given.
    pub keyform: Option<String>,
    /// Tools only: `--tls-engine`, `--tls-engine-kpass-sha1` or
    /// `--keyform engine`: recognised but not supported.
    pub unsupported: Option<String>,
}

impl TlsClientOptions {
    /// Whether a tool's connection uses TLS: a CA, a PSK or the system's
    /// CAs were asked for (mosquitto also trusts the system's CAs on an
    /// explicit `-p 8883` with no other TLS option).
    pub fn enabled(&self, port: Option<u16>) -> bool {
        self.cafile.is_some()
            || self.capath.is_some()
            || self.psk.is_some()
            || self.use_os_certs
            || (cfg!(feature = "tls") && port == Some(8883))
    }
}
