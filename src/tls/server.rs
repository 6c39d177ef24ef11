//! The server side: a listener's OpenSSL context (mosquitto's
//! `net__tls_server_ctx`, `net__tls_load_verify`, `net__load_certificates`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslMode, SslOptions, SslStream,
    SslVerifyMode,
};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;

use super::conn::{State, TlsConn};
use super::context::{apply_tls_version, err, path_str, readable, TlsError};
use super::TlsServerOptions;

/// mosquitto's default cipher list for listeners.
const DEFAULT_CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!LOW:!EXPORT:!SSLv2:@STRENGTH";

/// Gives the PSK for a client's identity (usually from the psk_file, see
/// `security::PskFile::key`); `None` refuses the handshake. It is called
/// from inside OpenSSL during a handshake, on the broker's thread; to follow
/// psk_file reloads, let it read shared state (for instance an
/// `Arc<RwLock<Option<PskFile>>>` that the reload replaces).
pub type PskLookup = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

mod ffi {
    use libc::{c_char, c_int, c_long, c_void};
    extern "C" {
        pub fn SSL_CTX_use_psk_identity_hint(ctx: *mut c_void, hint: *const c_char) -> c_int;
        pub fn SSL_CTX_ctrl(
            ctx: *mut c_void,
            cmd: c_int,
            larg: c_long,
            parg: *mut c_void,
        ) -> c_long;
    }
    pub const SSL_CTRL_SET_DH_AUTO: c_int = 118;
}

/// An OpenSSL server context built from a listener's options.
#[derive(Clone)]
pub struct TlsServerConfig {
    ctx: SslContext,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServerConfig")
    }
}

impl TlsServerConfig {
    /// Builds the listener's context, with mosquitto's settings: TLS 1.2+
    /// unless `tls_version` says otherwise, no compression, no
    /// renegotiation, server cipher preference, automatic DH parameters,
    /// mosquitto's default cipher list. A listener needs `certfile` and
    /// `keyfile`, or `psk_hint` (or both). Every failure names the option
    /// and file.
    pub fn build(
        opts: &TlsServerOptions,
        psk: Option<PskLookup>,
    ) -> Result<TlsServerConfig, TlsError> {
        let has_cert = opts.certfile.is_some() || opts.keyfile.is_some();
        if has_cert && (opts.certfile.is_none() || opts.keyfile.is_none()) {
            return Err(TlsError(
                "Both certfile and keyfile must be given for a TLS listener".into(),
            ));
        }
        if !has_cert && opts.psk_hint.is_none() {
            return Err(TlsError(
                "A TLS listener needs certfile and keyfile, or psk_hint".into(),
            ));
        }
        if opts.psk_hint.is_some() && psk.is_none() {
            return Err(TlsError(
                "psk_hint is set but no PSK lookup (psk_file) was given".into(),
            ));
        }
        let mut b = Self::base_context(opts)?;
        if let Some(dh) = &opts.dhparamfile {
            Self::load_dhparams(&mut b, dh)?;
        }
        if let (Some(cert), Some(key)) = (&opts.certfile, &opts.keyfile) {
            Self::load_certificates(&mut b, opts, cert, key)?;
        }
        if let (Some(hint), Some(lookup)) = (&opts.psk_hint, psk) {
            Self::set_psk(&mut b, hint, lookup)?;
        }
        Ok(TlsServerConfig { ctx: b.build() })
    }

    /// The context with mosquitto's protocol settings and ciphers, before
    /// any file is loaded.
    fn base_context(opts: &TlsServerOptions) -> Result<SslContextBuilder, TlsError> {
        let mut b = SslContext::builder(SslMethod::tls_server())
            .map_err(|e| err("Unable to create TLS context".into(), Some(e)))?;
        if opts.psk_file_configured {
            b.set_options(SslOptions::NO_TLSV1_3);
        }
        apply_tls_version(&mut b, opts.tls_version.as_deref())?;
        b.set_options(
            SslOptions::SINGLE_DH_USE
                | SslOptions::NO_COMPRESSION
                | SslOptions::CIPHER_SERVER_PREFERENCE
                | SslOptions::NO_RENEGOTIATION,
        );
        b.set_mode(
            SslMode::RELEASE_BUFFERS
                | SslMode::ENABLE_PARTIAL_WRITE
                | SslMode::ACCEPT_MOVING_WRITE_BUFFER,
        );
        // SAFETY: SSL_CTX_set_dh_auto(ctx, 1) on the context we own.
        unsafe {
            ffi::SSL_CTX_ctrl(
                b.as_ptr().cast(),
                ffi::SSL_CTRL_SET_DH_AUTO,
                1,
                std::ptr::null_mut(),
            );
        }
        b.set_session_id_context(format!("mosquitto-{}", opts.port).as_bytes())
            .map_err(|e| err("Unable to set TLS session id context".into(), Some(e)))?;
        let ciphers = opts.ciphers.as_deref().unwrap_or(DEFAULT_CIPHERS);
        b.set_cipher_list(ciphers).map_err(|e| {
            err(
                format!("Unable to set TLS ciphers. Check cipher list \"{ciphers}\""),
                Some(e),
            )
        })?;
        if let Some(c13) = &opts.ciphers_tls13 {
            b.set_ciphersuites(c13).map_err(|e| {
                err(
                    format!("Unable to set TLS 1.3 ciphersuites. Check ciphers_tls13 \"{c13}\""),
                    Some(e),
                )
            })?;
        }
        Ok(b)
    }

    /// `dhparamfile`: fixed DH parameters instead of the automatic ones.
    fn load_dhparams(b: &mut SslContextBuilder, dh: &Path) -> Result<(), TlsError> {
        readable(dh, "dhparamfile")?;
        let pem = std::fs::read(dh).map_err(|e| {
            TlsError(format!(
                "Error loading dhparamfile \"{}\": {e}",
                dh.display()
            ))
        })?;
        let params = Dh::params_from_pem(&pem).map_err(|e| {
            err(
                format!("Error loading dhparamfile \"{}\"", dh.display()),
                Some(e),
            )
        })?;
        b.set_tmp_dh(&params).map_err(|e| {
            err(
                format!("Error loading dhparamfile \"{}\"", dh.display()),
                Some(e),
            )
        })?;
        Ok(())
    }

    /// The CA, the server certificate and key, and the CRL.
    fn load_certificates(
        b: &mut SslContextBuilder,
        opts: &TlsServerOptions,
        cert: &Path,
        key: &Path,
    ) -> Result<(), TlsError> {
        Self::load_verify(b, opts)?;
        readable(cert, "certfile")?;
        b.set_certificate_chain_file(cert).map_err(|e| {
            err(
                format!(
                    "Unable to load server certificate \"{}\". Check certfile",
                    cert.display()
                ),
                Some(e),
            )
        })?;
        readable(key, "keyfile")?;
        b.set_private_key_file(key, SslFiletype::PEM).map_err(|e| {
            err(
                format!(
                    "Unable to load server key file \"{}\". Check keyfile",
                    key.display()
                ),
                Some(e),
            )
        })?;
        b.check_private_key().map_err(|e| {
            err(
                "Server certificate/key are inconsistent".to_string(),
                Some(e),
            )
        })?;
        if let Some(crl) = &opts.crlfile {
            Self::load_crl(b, crl)?;
        }
        Ok(())
    }

    /// `crlfile`: client certificates are also checked against the list.
    fn load_crl(b: &mut SslContextBuilder, crl: &Path) -> Result<(), TlsError> {
        readable(crl, "crlfile")?;
        let store = b.cert_store_mut();
        let lookup = store
            .add_lookup(X509Lookup::file())
            .map_err(|e| err("Unable to obtain TLS store".into(), Some(e)))?;
        match lookup.load_crl_file(crl, SslFiletype::PEM) {
            Ok(n) if n >= 1 => {}
            r => {
                return Err(err(
                    format!(
                        "Unable to load certificate revocation file \"{}\". Check crlfile",
                        crl.display()
                    ),
                    r.err(),
                ))
            }
        }
        store
            .set_flags(X509VerifyFlags::CRL_CHECK)
            .map_err(|e| err("Unable to enable CRL checks".into(), Some(e)))?;
        Ok(())
    }

    /// `psk_hint`: PSK handshakes, keys from `lookup`.
    fn set_psk(b: &mut SslContextBuilder, hint: &str, lookup: PskLookup) -> Result<(), TlsError> {
        b.set_psk_server_callback(move |_ssl, identity, out| {
            let Some(id) = identity.and_then(|i| std::str::from_utf8(i).ok()) else {
                return Ok(0);
            };
            match lookup(id) {
                Some(key) if !key.is_empty() && key.len() <= out.len() => {
                    if let Some(dst) = out.get_mut(..key.len()) {
                        dst.copy_from_slice(&key);
                        Ok(key.len())
                    } else {
                        Ok(0)
                    }
                }
                _ => Ok(0),
            }
        });
        let c_hint = std::ffi::CString::new(hint)
            .map_err(|_| TlsError("psk_hint contains a NUL byte".into()))?;
        // SAFETY: the context is ours; OpenSSL copies the hint.
        let rc = unsafe { ffi::SSL_CTX_use_psk_identity_hint(b.as_ptr().cast(), c_hint.as_ptr()) };
        if rc != 1 {
            return Err(err(
                "Unable to set TLS PSK hint".into(),
                Some(ErrorStack::get()),
            ));
        }
        Ok(())
    }

    fn load_verify(b: &mut SslContextBuilder, opts: &TlsServerOptions) -> Result<(), TlsError> {
        if let Some(ca) = &opts.cafile {
            readable(ca, "cafile")?;
            b.set_ca_file(ca).map_err(|e| {
                err(
                    format!(
                        "Unable to load CA certificates. Check cafile \"{}\"",
                        ca.display()
                    ),
                    Some(e),
                )
            })?;
        }
        if let Some(dir) = &opts.capath {
            let d = path_str(dir)?;
            if !dir.is_dir() {
                return Err(TlsError(format!(
                    "Unable to load CA certificates. Check capath \"{d}\" (not a directory)"
                )));
            }
            b.load_verify_locations(None, Some(dir)).map_err(|e| {
                err(
                    format!("Unable to load CA certificates. Check capath \"{d}\""),
                    Some(e),
                )
            })?;
        }
        if opts.require_certificate {
            b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        } else {
            b.set_verify(SslVerifyMode::NONE);
        }
        Ok(())
    }

    /// Wraps an accepted, non-blocking connection. Nothing is read or
    /// written yet; register the returned [`TlsConn`] with the poll.
    pub fn accept(&self, stream: TcpStream) -> Result<TlsConn, TlsError> {
        let mut ssl = Ssl::new(&self.ctx)
            .map_err(|e| err("Unable to create TLS connection".into(), Some(e)))?;
        ssl.set_accept_state();
        let stream = SslStream::new(ssl, stream)
            .map_err(|e| err("Unable to create TLS connection".into(), Some(e)))?;
        Ok(TlsConn {
            stream,
            state: State::Handshaking,
        })
    }
}
