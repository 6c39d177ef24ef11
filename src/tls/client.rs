//! The client side: the command-line tools (blocking) and the broker's
//! bridges (non-blocking).

use std::fmt;
use std::net::IpAddr;

use mio::net::TcpStream;
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslOptions, SslStream,
    SslVerifyMode, StatusType,
};
use openssl::x509::X509VerifyResult;

use super::conn::{State, TlsConn};
use super::context::{apply_tls_version, err, path_str, readable, TlsError};
use super::ocsp::{check_ocsp, ocsp_failure, ocsp_failure_index};
use super::TlsClientOptions;

/// One ALPN protocol name in the handshake's encoding: its length in one
/// byte, then the name (1 to 255 bytes).
fn alpn_wire(name: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(name.len()).ok().filter(|&l| l > 0)?;
    let mut wire = Vec::with_capacity(name.len() + 1);
    wire.push(len);
    wire.extend_from_slice(name.as_bytes());
    Some(wire)
}

/// A client context for the tools.
#[derive(Clone)]
pub struct TlsClientConfig {
    ctx: SslContext,
    verify_peer: bool,
    insecure: bool,
    ocsp_required: bool,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsClientConfig")
    }
}

impl TlsClientConfig {
    /// As libmosquitto: TLS needs a CA (`cafile`/`capath`) or a PSK;
    /// certificate and key are used only with a CA; a PSK turns TLS 1.3 off.
    pub fn build(opts: &TlsClientOptions) -> Result<TlsClientConfig, TlsError> {
        let has_ca = opts.cafile.is_some() || opts.capath.is_some() || opts.use_os_certs;
        if !has_ca && opts.psk.is_none() {
            return Err(TlsError(
                "TLS needs a CA certificate (cafile or capath) or a PSK".into(),
            ));
        }
        let mut b = SslContext::builder(SslMethod::tls_client())
            .map_err(|e| err("Unable to create TLS context".into(), Some(e)))?;
        if opts.psk.is_some() {
            b.set_options(SslOptions::NO_TLSV1_3);
        }
        apply_tls_version(&mut b, opts.tls_version.as_deref())?;
        b.set_options(SslOptions::NO_COMPRESSION);
        if let Some(c) = &opts.ciphers {
            b.set_cipher_list(c).map_err(|e| {
                err(
                    format!("Unable to set TLS ciphers. Check cipher list \"{c}\""),
                    Some(e),
                )
            })?;
        }
        if let Some(p) = &opts.alpn {
            let wire =
                alpn_wire(p).ok_or_else(|| TlsError(format!("Invalid ALPN protocol \"{p}\"")))?;
            b.set_alpn_protos(&wire)
                .map_err(|e| err(format!("Unable to set ALPN protocol \"{p}\""), Some(e)))?;
        }
        if opts.ocsp_required {
            b.set_status_callback(|ssl| {
                let verdict = check_ocsp(ssl);
                if let (Err(why), Some(idx)) = (&verdict, ocsp_failure_index()) {
                    ssl.set_ex_data(idx, why.clone());
                }
                Ok(verdict.is_ok())
            })
            .map_err(|e| err("Unable to enable OCSP checks".into(), Some(e)))?;
        }
        if has_ca {
            load_ca(&mut b, opts)?;
        }
        if let Some(hex) = &opts.psk {
            set_psk(&mut b, hex, opts.psk_identity.as_deref())?;
        }
        Ok(TlsClientConfig {
            ctx: b.build(),
            verify_peer: has_ca,
            insecure: opts.insecure,
            ocsp_required: opts.ocsp_required,
        })
    }

    /// A client `Ssl` for `host`: SNI for names, and the certificate checked
    /// against the name or address unless `insecure`.
    fn client_ssl(&self, host: &str) -> Result<Ssl, TlsError> {
        let mut ssl = Ssl::new(&self.ctx)
            .map_err(|e| err("Unable to create TLS connection".into(), Some(e)))?;
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_none() {
            ssl.set_hostname(host)
                .map_err(|e| err(format!("Invalid host name \"{host}\""), Some(e)))?;
        }
        if self.verify_peer && !self.insecure {
            let param = ssl.param_mut();
            match ip {
                Some(ip) => param.set_ip(ip),
                None => param.set_host(host),
            }
            .map_err(|e| err(format!("Invalid host name \"{host}\""), Some(e)))?;
        }
        if self.ocsp_required {
            ssl.set_status_type(StatusType::OCSP)
                .map_err(|e| err("Unable to request OCSP stapling".into(), Some(e)))?;
        }
        Ok(ssl)
    }

    /// A non-blocking client connection for the broker's bridges: the
    /// handshake progresses on each read or write, like [`TlsConn`]'s
    /// server side.
    pub fn connect_nonblocking(&self, host: &str, stream: TcpStream) -> Result<TlsConn, TlsError> {
        let mut ssl = self.client_ssl(host)?;
        ssl.set_connect_state();
        let stream = SslStream::new(ssl, stream)
            .map_err(|e| err("Unable to create TLS connection".into(), Some(e)))?;
        Ok(TlsConn {
            stream,
            state: State::Handshaking,
        })
    }

    /// Handshakes over a connected blocking socket. `host` is what the user
    /// gave (name or address): it is sent as SNI (names only) and checked
    /// against the server certificate unless `insecure`.
    pub fn connect(
        &self,
        host: &str,
        stream: std::net::TcpStream,
    ) -> Result<SslStream<std::net::TcpStream>, TlsError> {
        let ssl = self.client_ssl(host)?;
        ssl.connect(stream).map_err(|e| match e {
            openssl::ssl::HandshakeError::Failure(mid) => {
                let verify = mid.ssl().verify_result();
                if let Some(why) = ocsp_failure(mid.ssl()) {
                    TlsError(format!("TLS handshake failed: OCSP: {why}"))
                } else if verify != X509VerifyResult::OK {
                    TlsError(format!(
                        "TLS handshake failed: server certificate: {}",
                        verify.error_string()
                    ))
                } else {
                    TlsError(format!("TLS handshake failed: {}", mid.error()))
                }
            }
            openssl::ssl::HandshakeError::SetupFailure(e) => {
                err("TLS handshake failed".into(), Some(e))
            }
            openssl::ssl::HandshakeError::WouldBlock(_) => {
                TlsError("TLS handshake timed out".into())
            }
        })
    }
}

/// The CAs to verify the server with, and our certificate if we have one.
fn load_ca(b: &mut SslContextBuilder, opts: &TlsClientOptions) -> Result<(), TlsError> {
    if opts.use_os_certs {
        b.set_default_verify_paths().map_err(|e| {
            err(
                "Unable to load the system's CA certificates".into(),
                Some(e),
            )
        })?;
    }
    if let Some(ca) = &opts.cafile {
        readable(ca, "cafile")?;
        b.set_ca_file(ca).map_err(|e| {
            err(
                format!("Unable to load CA certificates \"{}\"", ca.display()),
                Some(e),
            )
        })?;
    }
    if let Some(dir) = &opts.capath {
        path_str(dir)?;
        b.load_verify_locations(None, Some(dir)).map_err(|e| {
            err(
                format!("Unable to load CA certificates from \"{}\"", dir.display()),
                Some(e),
            )
        })?;
    }
    b.set_verify(SslVerifyMode::PEER);
    match (&opts.certfile, &opts.keyfile) {
        (Some(cert), Some(key)) => {
            readable(cert, "certificate")?;
            b.set_certificate_chain_file(cert).map_err(|e| {
                err(
                    format!("Unable to load client certificate \"{}\"", cert.display()),
                    Some(e),
                )
            })?;
            readable(key, "key")?;
            b.set_private_key_file(key, SslFiletype::PEM).map_err(|e| {
                err(
                    format!("Unable to load client key file \"{}\"", key.display()),
                    Some(e),
                )
            })?;
            b.check_private_key()
                .map_err(|e| err("Client certificate/key are inconsistent".into(), Some(e)))?;
        }
        (None, None) => {}
        _ => {
            return Err(TlsError(
                "Both a certificate and a key file are needed".into(),
            ))
        }
    }
    Ok(())
}

/// A PSK handshake with `hex` as the key and `identity` as ours.
fn set_psk(b: &mut SslContextBuilder, hex: &str, identity: Option<&str>) -> Result<(), TlsError> {
    let key = crate::passwd::hex_to_key(hex)
        .ok_or_else(|| TlsError(format!("Invalid PSK \"{hex}\": not hexadecimal")))?;
    let identity = identity
        .map(str::to_owned)
        .ok_or_else(|| TlsError("A PSK needs a PSK identity".into()))?;
    let id_bytes = identity.into_bytes();
    if id_bytes.contains(&0) {
        return Err(TlsError("PSK identity contains a NUL byte".into()));
    }
    b.set_psk_client_callback(move |_ssl, _hint, id_out, key_out| {
        // The identity is written NUL-terminated.
        let (Some(id_dst), Some(key_dst)) = (
            id_out.get_mut(..id_bytes.len() + 1),
            key_out.get_mut(..key.len()),
        ) else {
            return Ok(0);
        };
        let (id_text, nul) = id_dst.split_at_mut(id_bytes.len());
        id_text.copy_from_slice(&id_bytes);
        nul.fill(0);
        key_dst.copy_from_slice(&key);
        Ok(key.len())
    });
    Ok(())
}
