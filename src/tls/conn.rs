//! One TLS connection over a non-blocking mio socket, either side: the
//! broker's accepted clients and its bridges' outgoing connections.

use std::fmt;
use std::io::{self, Read, Write};

use mio::net::TcpStream;
use openssl::nid::Nid;
use openssl::ssl::{ErrorCode, SslStream};
use openssl::x509::{X509NameRef, X509VerifyResult};

use super::ocsp::ocsp_failure;

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

mod ffi {
    use libc::{c_int, c_long, c_uchar, c_ulong, c_void};
    extern "C" {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    Handshaking,
    Established,
    Failed(String),
}

/// One server-side TLS connection over a non-blocking mio socket.
pub struct TlsConn {
    pub(super) stream: SslStream<TcpStream>,
    pub(super) state: State,
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

    /// The client certificate in DER form (for plugins, which get it as an
    /// OpenSSL `X509`).
    pub fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        self.stream.ssl().peer_certificate()?.to_der().ok()
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
