//! TLS with the system OpenSSL, as mosquitto does (`src/net.c`,
//! `lib/net_mosq.c`, `lib/tls_mosq.c`).
//!
//! Server side: [`TlsServerConfig::build`] turns a listener's TLS options
//! into an OpenSSL context (mosquitto's `net__tls_server_ctx`,
//! `net__tls_load_verify`, `net__load_certificates`); [`TlsServerConfig::accept`]
//! wraps an accepted non-blocking `mio::net::TcpStream` in a [`TlsConn`].
//! [`TlsConn`] is a `mio::event::Source`: register the `TlsConn` itself,
//! with `READABLE | WRITABLE` (a TLS read can need the socket writable and
//! the other way round). On every event of either kind:
//!
//! - call [`TlsConn::read`] until it returns `WouldBlock` (it first drives the
//!   handshake; while the handshake is not complete it returns `WouldBlock`,
//!   so a client that stalls mid-handshake costs nothing; once the handshake
//!   completes it goes on reading application data in the same call, so the
//!   CONNECT that often arrives with the client's last handshake flight is
//!   not missed under edge triggering). `Ok(0)` is end of stream; any other
//!   error (handshake failure, certificate refused, protocol error) means:
//!   close the connection;
//! - call [`TlsConn::write`] with pending output; `WouldBlock` means wait for
//!   the next event and then call `write` again *with the same unsent bytes
//!   first* (OpenSSL may already have consumed part of a record).
//! - after the handshake, [`TlsConn::peer_identity`] gives the username for
//!   `use_identity_as_username` / `use_subject_as_username` (`None`: CONNACK
//!   4, "bad username or password", as mosquitto).
//!
//! The handshake deadline is the broker's: mosquitto gives no separate
//! handshake timeout; the CONNECT timeout of the connection covers it.
//!
//! Client side (the command-line tools): [`TlsClientConfig`] over a
//! blocking `std::net::TcpStream`; bridges use it non-blocking, and may
//! require the remote broker to staple a good OCSP response
//! (`bridge_require_ocsp`, [`TlsClientOptions::ocsp_required`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mio::net::TcpStream;
use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus, OcspRevokedStatus,
};
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslMode, SslOptions,
    SslRef, SslStream, SslVerifyMode, StatusType,
};
use openssl::stack::Stack;
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509NameRef, X509Ref, X509VerifyResult, X509};

/// mosquitto's default cipher list for listeners.
const DEFAULT_CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!LOW:!EXPORT:!SSLv2:@STRENGTH";

/// A TLS setting or file could not be used, or a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn err(msg: String, e: Option<ErrorStack>) -> TlsError {
    match e {
        Some(stack) if !stack.errors().is_empty() => TlsError(format!("{msg} ({stack})")),
        _ => TlsError(msg),
    }
}

/// Gives the PSK for a client's identity (usually from the psk_file, see
/// `security::PskFile::key`); `None` refuses the handshake. It is called
/// from inside OpenSSL during a handshake, on the broker's thread; to follow
/// psk_file reloads, let it read shared state (for instance an
/// `Arc<RwLock<Option<PskFile>>>` that the reload replaces).
pub type PskLookup = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// A TLS listener's options, named as in mosquitto.conf.
#[derive(Debug, Clone, Default)]
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
    /// TLS 1.3 ciphersuites (`ciphers_tls13`).
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
}

/// What to give as the username of a TLS client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// `use_identity_as_username`: the PSK identity on a PSK connection,
    /// otherwise the certificate's first CN.
    Identity,
    /// `use_subject_as_username`: the certificate subject in RFC 2253 form
    /// (`CN=client1,O=Example`), as OpenSSL's `XN_FLAG_RFC2253` prints it.
    Subject,
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

fn path_str(p: &Path) -> Result<&str, TlsError> {
    match p.to_str() {
        Some(s) if !s.contains('\0') => Ok(s),
        _ => Err(TlsError(format!(
            "Unsupported file name \"{}\" (not UTF-8)",
            p.display()
        ))),
    }
}

/// Checks that `path` is a readable file before OpenSSL's vaguer message.
fn readable(path: &Path, option: &str) -> Result<(), TlsError> {
    path_str(path)?;
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(TlsError(format!(
            "Unable to open {option} \"{}\": {e}",
            path.display()
        ))),
    }
}

fn apply_tls_version(b: &mut SslContextBuilder, version: Option<&str>) -> Result<(), TlsError> {
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

mod ffi {
    use libc::{c_char, c_int, c_long, c_uchar, c_ulong, c_void};
    extern "C" {
        pub fn SSL_CTX_use_psk_identity_hint(ctx: *mut c_void, hint: *const c_char) -> c_int;
        pub fn SSL_CTX_ctrl(
            ctx: *mut c_void,
            cmd: c_int,
            larg: c_long,
            parg: *mut c_void,
        ) -> c_long;
        pub fn d2i_X509_NAME(
            a: *mut *mut c_void,
            pp: *mut *const c_uchar,
            length: c_long,
        ) -> *mut c_void;
        pub fn X509_NAME_free(a: *mut c_void);
        pub fn X509_NAME_print_ex(
            out: *mut c_void,
            nm: *const c_void,
            indent: c_int,
            flags: c_ulong,
        ) -> c_int;
        pub fn BIO_s_mem() -> *const c_void;
        pub fn BIO_new(method: *const c_void) -> *mut c_void;
        pub fn BIO_ctrl(b: *mut c_void, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
        pub fn BIO_free(b: *mut c_void) -> c_int;
    }
    pub const SSL_CTRL_SET_DH_AUTO: c_int = 118;
    pub const BIO_CTRL_INFO: c_int = 3;
    /// OpenSSL's XN_FLAG_RFC2253.
    pub const XN_FLAG_RFC2253: c_ulong = 0x317 | (1 << 16) | (1 << 20) | (1 << 24);
}

/// A subject name as `X509_NAME_print_ex(…, XN_FLAG_RFC2253)` prints it,
/// which is what mosquitto uses for `use_subject_as_username`.
fn rfc2253(name: &X509NameRef) -> Option<String> {
    let der = name.to_der().ok()?;
    let len = libc::c_long::try_from(der.len()).ok()?;
    // SAFETY: plain OpenSSL calls on objects created and freed here; the
    // DER buffer outlives the parse; the BIO's memory is copied before the
    // BIO is freed.
    unsafe {
        let mut p = der.as_ptr();
        let parsed = ffi::d2i_X509_NAME(std::ptr::null_mut(), &mut p, len);
        if parsed.is_null() {
            return None;
        }
        let bio = ffi::BIO_new(ffi::BIO_s_mem());
        if bio.is_null() {
            ffi::X509_NAME_free(parsed);
            return None;
        }
        let mut out = None;
        if ffi::X509_NAME_print_ex(bio, parsed, 0, ffi::XN_FLAG_RFC2253) >= 0 {
            let mut data: *mut libc::c_char = std::ptr::null_mut();
            let n = ffi::BIO_ctrl(
                bio,
                ffi::BIO_CTRL_INFO,
                0,
                (&mut data as *mut *mut libc::c_char).cast(),
            );
            if n >= 0 && (!data.is_null() || n == 0) {
                let bytes = if n == 0 {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(data.cast::<u8>(), n as usize).to_vec()
                };
                out = String::from_utf8(bytes).ok();
            }
        }
        ffi::BIO_free(bio);
        ffi::X509_NAME_free(parsed);
        out
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
        if let Some(dh) = &opts.dhparamfile {
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
        }
        if let (Some(cert), Some(key)) = (&opts.certfile, &opts.keyfile) {
            Self::load_verify(&mut b, opts)?;
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
            }
        }
        if let (Some(hint), Some(lookup)) = (&opts.psk_hint, psk) {
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
            let c_hint = std::ffi::CString::new(hint.as_str())
                .map_err(|_| TlsError("psk_hint contains a NUL byte".into()))?;
            // SAFETY: the context is ours; OpenSSL copies the hint.
            let rc =
                unsafe { ffi::SSL_CTX_use_psk_identity_hint(b.as_ptr().cast(), c_hint.as_ptr()) };
            if rc != 1 {
                return Err(err(
                    "Unable to set TLS PSK hint".into(),
                    Some(ErrorStack::get()),
                ));
            }
        }
        Ok(TlsServerConfig { ctx: b.build() })
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Handshaking,
    Established,
    Failed(String),
}

/// One server-side TLS connection over a non-blocking mio socket.
pub struct TlsConn {
    stream: SslStream<TcpStream>,
    state: State,
}

impl fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn")
            .field("state", &self.state)
            .finish()
    }
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

impl TlsConn {
    /// Drives the handshake: `Ok(true)` once it is complete, `Ok(false)` if
    /// it waits for the peer (call again on the next event), `Err` if it
    /// failed (close the connection; the message says why, e.g. a refused
    /// or revoked certificate).
    pub fn handshake(&mut self) -> io::Result<bool> {
        match &self.state {
            State::Established => return Ok(true),
            State::Failed(msg) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    msg.clone(),
                ))
            }
            State::Handshaking => {}
        }
        match self.stream.do_handshake() {
            Ok(()) => {
                self.state = State::Established;
                Ok(true)
            }
            Err(e) if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE => {
                match e.io_error() {
                    Some(io) if io.kind() != io::ErrorKind::WouldBlock => {
                        let msg = format!("TLS handshake failed: {io}");
                        self.state = State::Failed(msg.clone());
                        Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg))
                    }
                    _ => Ok(false),
                }
            }
            Err(e) => {
                let ssl = self.stream.ssl();
                let verify = ssl.verify_result();
                let mut msg = match (ocsp_failure(ssl), e.io_error()) {
                    // OpenSSL only says "invalid status response".
                    (Some(why), _) => format!("TLS handshake failed: OCSP: {why}"),
                    (None, Some(io)) => format!("TLS handshake failed: {io}"),
                    (None, None) if e.code() == ErrorCode::SYSCALL => {
                        "TLS handshake failed: connection closed by peer".to_string()
                    }
                    (None, None) => format!("TLS handshake failed: {e}"),
                };
                if verify != X509VerifyResult::OK {
                    let whose = if ssl.is_server() { "client" } else { "server" };
                    msg.push_str(&format!(
                        " ({whose} certificate: {})",
                        verify.error_string()
                    ));
                }
                self.state = State::Failed(msg.clone());
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg))
            }
        }
    }

    /// Whether the handshake has completed.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Why the handshake failed, once it has.
    pub fn failure(&self) -> Option<&str> {
        match &self.state {
            State::Failed(msg) => Some(msg),
            _ => None,
        }
    }

    /// Reads decrypted bytes. Drives the handshake first; `WouldBlock` while
    /// it is not complete or when no more data is available; `Ok(0)` at end
    /// of stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.handshake()? {
            return Err(would_block());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.stream.read(buf)
    }

    /// Encrypts and sends bytes; may accept only part of `buf`. Drives the
    /// handshake first. After `WouldBlock`, call again with the same unsent
    /// bytes.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.handshake()? {
            return Err(would_block());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.stream.write(buf)
    }

    /// Sends a TLS close_notify if possible (best effort, never blocks).
    pub fn shutdown(&mut self) {
        if self.is_established() {
            let _ = self.stream.shutdown();
        }
    }

    /// The underlying socket (peer address, socket options).
    pub fn get_ref(&self) -> &TcpStream {
        self.stream.get_ref()
    }

    /// The PSK identity the client used, on a PSK connection.
    pub fn psk_identity(&self) -> Option<String> {
        let id = self.stream.ssl().psk_identity()?;
        String::from_utf8(id.to_vec()).ok()
    }

    /// The client certificate's first CN, if there is a certificate and
    /// the CN is valid UTF-8 without a NUL byte (mosquitto refuses those).
    pub fn peer_common_name(&self) -> Option<String> {
        let cert = self.stream.ssl().peer_certificate()?;
        let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
        let bytes = entry.data().as_slice();
        if bytes.contains(&0) {
            return None;
        }
        String::from_utf8(bytes.to_vec()).ok()
    }

    /// The client certificate's subject in RFC 2253 form.
    pub fn peer_subject(&self) -> Option<String> {
        let cert = self.stream.ssl().peer_certificate()?;
        rfc2253(cert.subject_name())
    }

    /// The username for `use_identity_as_username` /
    /// `use_subject_as_username`; `None` → CONNACK 4 (MQTT 5: 0x86).
    pub fn peer_identity(&self, from: IdentitySource) -> Option<String> {
        if !self.is_established() {
            return None;
        }
        match from {
            IdentitySource::Identity => self.psk_identity().or_else(|| self.peer_common_name()),
            IdentitySource::Subject => self.peer_subject(),
        }
    }

    /// The negotiated protocol version, e.g. "TLSv1.3" (for logs).
    pub fn version(&self) -> &'static str {
        self.stream.ssl().version_str()
    }
}

impl mio::event::Source for TlsConn {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.stream.get_mut().register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.stream.get_mut().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.stream.get_mut().deregister(registry)
    }
}

/// TLS options of the command-line tools (`--cafile`, `--capath`, `--cert`,
/// `--key`, `--insecure`, `--tls-version`, `--ciphers`, `--psk`,
/// `--psk-identity`).
#[derive(Debug, Clone, Default)]
pub struct TlsClientOptions {
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// Do not check that the server certificate's name matches the host.
    /// The chain is still verified.
    pub insecure: bool,
    pub tls_version: Option<String>,
    pub ciphers: Option<String>,
    /// Hex key for TLS-PSK (`--psk`), with `psk_identity`.
    pub psk: Option<String>,
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
}

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
                    b.check_private_key().map_err(|e| {
                        err("Client certificate/key are inconsistent".into(), Some(e))
                    })?;
                }
                (None, None) => {}
                _ => {
                    return Err(TlsError(
                        "Both a certificate and a key file are needed".into(),
                    ))
                }
            }
        }
        if let Some(hex) = &opts.psk {
            let key = crate::broker::security::psk::hex_to_key(hex)
                .ok_or_else(|| TlsError(format!("Invalid PSK \"{hex}\": not hexadecimal")))?;
            let identity = opts
                .psk_identity
                .clone()
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

/// Where the OCSP status callback leaves its reason for refusing, so that
/// the handshake error can say more than OpenSSL's "invalid status
/// response". None if OpenSSL has no index to give (the reason is lost,
/// the refusal is not).
fn ocsp_failure_index() -> Option<Index<Ssl, String>> {
    static INDEX: OnceLock<Option<Index<Ssl, String>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

fn ocsp_failure(ssl: &SslRef) -> Option<&str> {
    ssl.ex_data(ocsp_failure_index()?).map(String::as_str)
}

/// Seconds of clock skew allowed on the response's thisUpdate/nextUpdate,
/// as libmosquitto allows.
const OCSP_LEEWAY_SECS: u32 = 300;

/// Checks the OCSP response the server stapled, as libmosquitto's
/// `mosquitto__verify_ocsp_status_cb` does, and also that the response is
/// about the certificate the server presented (libmosquitto accepts any
/// good entry). Runs inside the handshake, after the certificate chain
/// was verified. `Err` says why the handshake must fail.
fn check_ocsp(ssl: &SslRef) -> Result<(), String> {
    let der = match ssl.ocsp_status() {
        Some(d) if !d.is_empty() => d,
        _ => return Err("no response stapled".into()),
    };
    let resp = OcspResponse::from_der(der).map_err(|_| "invalid response".to_string())?;
    let status = resp.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return Err(format!(
            "response status {} ({})",
            response_status_name(status),
            status.as_raw()
        ));
    }
    let basic = resp
        .basic()
        .map_err(|_| "invalid response (not a basic response)".to_string())?;
    let leaf = ssl
        .peer_certificate()
        .ok_or_else(|| "the server sent no certificate".to_string())?;
    let empty;
    let chain = match ssl.peer_cert_chain() {
        Some(c) => c,
        None => {
            empty = Stack::<X509>::new().map_err(|e| first_reason(&e))?;
            &empty
        }
    };
    // The signer must chain to our CA: the server's intermediates may help
    // find it, but are not trusted by themselves.
    basic
        .verify(chain, ssl.ssl_context().cert_store(), OcspFlag::empty())
        .map_err(|e| format!("response verification failed: {}", first_reason(&e)))?;
    let issuer = find_issuer(ssl, &leaf)
        .ok_or_else(|| "the issuer of the server certificate is unknown".to_string())?;
    // Responders name certificates by SHA-1 hashes almost always; accept
    // SHA-256 too.
    let mut found = None;
    for md in [MessageDigest::sha1(), MessageDigest::sha256()] {
        let id = OcspCertId::from_cert(md, &leaf, issuer).map_err(|e| first_reason(&e))?;
        if let Some(st) = basic.find_status(&id) {
            found = Some((
                st.status,
                st.reason,
                st.check_validity(OCSP_LEEWAY_SECS, None),
            ));
            break;
        }
    }
    let (cert_status, reason, current) =
        found.ok_or_else(|| "the response is not about the server certificate".to_string())?;
    if cert_status == OcspCertStatus::REVOKED {
        return Err(format!(
            "the server certificate is revoked ({})",
            revoked_reason_name(reason)
        ));
    }
    if cert_status != OcspCertStatus::GOOD {
        return Err("the server certificate's status is unknown".into());
    }
    current.map_err(|e| format!("the response is not current: {}", first_reason(&e)))
}

/// The certificate that issued `leaf`: from the chain verified against the
/// trust store (which holds the CA even when the server does not send it),
/// else from what the server sent.
fn find_issuer<'a>(ssl: &'a SslRef, leaf: &X509Ref) -> Option<&'a X509Ref> {
    let verified = ssl.verified_chain().into_iter().flatten();
    let sent = ssl.peer_cert_chain().into_iter().flatten();
    verified
        .chain(sent)
        .find(|c| c.issued(leaf) == X509VerifyResult::OK)
}

/// OpenSSL's reason for the first error on the stack, e.g. "status
/// expired", with its details ("Verify error:unable to get local issuer
/// certificate") when it has some.
fn first_reason(e: &ErrorStack) -> String {
    let Some(first) = e.errors().first() else {
        return "unknown error".into();
    };
    let reason = first.reason().unwrap_or("unknown error");
    match first.data() {
        Some(d) if !d.is_empty() => format!("{reason} ({d})"),
        _ => reason.to_string(),
    }
}

fn response_status_name(s: OcspResponseStatus) -> &'static str {
    match s {
        OcspResponseStatus::MALFORMED_REQUEST => "malformedrequest",
        OcspResponseStatus::INTERNAL_ERROR => "internalerror",
        OcspResponseStatus::TRY_LATER => "trylater",
        OcspResponseStatus::SIG_REQUIRED => "sigrequired",
        OcspResponseStatus::UNAUTHORIZED => "unauthorized",
        _ => "unknown",
    }
}

/// The CRL reason names OpenSSL prints (`OCSP_crl_reason_str`).
fn revoked_reason_name(r: OcspRevokedStatus) -> &'static str {
    match r {
        OcspRevokedStatus::UNSPECIFIED => "unspecified",
        OcspRevokedStatus::KEY_COMPROMISE => "keyCompromise",
        OcspRevokedStatus::CA_COMPROMISE => "cACompromise",
        OcspRevokedStatus::AFFILIATION_CHANGED => "affiliationChanged",
        OcspRevokedStatus::STATUS_SUPERSEDED => "superseded",
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION => "cessationOfOperation",
        OcspRevokedStatus::STATUS_CERTIFICATE_HOLD => "certificateHold",
        OcspRevokedStatus::REMOVE_FROM_CRL => "removeFromCRL",
        _ => "no reason given",
    }
}
