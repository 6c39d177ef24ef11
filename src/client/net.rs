//! Opening the connection to the broker: TCP (optionally bound to a local
//! address with `-A`), TLS over TCP (feature `tls`), or a unix socket
//! (`--unix`), always with a deadline so that an unreachable host or a
//! server that stalls the TLS handshake cannot hang a script.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::socks::{self, ProxyUrl, SocksError};
use crate::sys::net::connect_bound;
pub use crate::sys::net::strerror;
#[cfg(feature = "tls")]
use crate::tls::TlsClientConfig;

/// The byte stream to the broker.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<openssl::ssl::SslStream<TcpStream>>),
}

impl Stream {
    /// Decrypted bytes already read from the socket and buffered by TLS,
    /// which `poll(2)` on the socket cannot see.
    pub fn buffered(&self) -> usize {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.ssl().pending(),
            _ => 0,
        }
    }

    /// Reads what is there, waiting at most `limit` (at least 1 ms) for it.
    /// Only TLS needs the limit: the socket can be readable with nothing
    /// for the application in the records that arrived, and a blocking
    /// TLS read would then wait for more with no end.
    pub fn read_within(&mut self, buf: &mut [u8], limit: Duration) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = self {
            s.get_ref()
                .set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
        }
        #[cfg(not(feature = "tls"))]
        let _ = limit;
        self.read(buf)
    }

    /// Say goodbye: TLS close_notify (best effort), then half-close TCP.
    pub fn shutdown_write(&mut self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Stream::Unix(_) => {}
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let _ = s.shutdown();
                let _ = s.get_ref().shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            // A TLS failure after the handshake (for instance the broker
            // closing without close_notify) is a lost connection.
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf).map_err(|e| match e.kind() {
                io::ErrorKind::Other => io::Error::new(io::ErrorKind::UnexpectedEof, e),
                _ => e,
            }),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }
}

/// Why no connection could be made, worded as mosquitto's clients word it.
#[derive(Debug)]
pub enum OpenError {
    /// The host name did not resolve (`Unable to connect (Lookup error.).`).
    Lookup,
    /// A system error (`Error: <strerror>`).
    Io(io::Error),
    /// The TLS handshake failed (`Unable to connect (A TLS error
    /// occurred.).`); the detail is printed with `-d`.
    Tls(String),
    /// The SOCKS5 handshake failed: libmosquitto's error number (the exit
    /// status) and the line the clients print.
    Proxy(i32, String),
}

impl OpenError {
    /// The clients' exit status for it.
    pub fn code(&self) -> i32 {
        match self {
            OpenError::Proxy(code, _) => *code,
            _ => 1,
        }
    }
}

impl From<SocksError> for OpenError {
    fn from(e: SocksError) -> OpenError {
        OpenError::Proxy(e.code(), format!("Error: {}", e.message()))
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Lookup => write!(f, "Unable to connect (Lookup error.)."),
            OpenError::Io(e) => write!(f, "Error: {}", strerror(e)),
            OpenError::Tls(_) => write!(f, "Unable to connect (A TLS error occurred.)."),
            OpenError::Proxy(_, line) => f.write_str(line),
        }
    }
}

/// Where to connect.
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub unix_path: Option<&'a str>,
    pub bind_address: Option<&'a str>,
    pub nodelay: bool,
    /// Reach the broker through this SOCKS5 proxy (not for `unix_path`).
    pub proxy: Option<&'a ProxyUrl>,
    /// Wrap the TCP connection in TLS with this client context.
    #[cfg(feature = "tls")]
    pub tls: Option<&'a TlsClientConfig>,
}

/// Open the stream, giving up at `deadline`.
pub fn open(t: &Target<'_>, deadline: Instant) -> Result<Stream, OpenError> {
    if let Some(path) = t.unix_path {
        return UnixStream::connect(path)
            .map(Stream::Unix)
            .map_err(OpenError::Io);
    }
    // With a proxy, TCP goes to the proxy, which resolves the broker's name.
    let (host, port) = match t.proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (t.host, t.port),
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| OpenError::Lookup)?
        .collect();
    if addrs.is_empty() {
        return Err(OpenError::Lookup);
    }
    let bind: Option<IpAddr> = match t.bind_address {
        Some(b) => Some(
            (b, 0)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip())
                .ok_or(OpenError::Lookup)?,
        ),
        None => None,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        if let Some(b) = bind {
            if b.is_ipv4() != addr.is_ipv4() {
                continue;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(OpenError::Io(io::ErrorKind::TimedOut.into()));
        }
        let r = match bind {
            Some(b) => connect_bound(b, addr, left),
            None => TcpStream::connect_timeout(&addr, left),
        };
        match r {
            Ok(mut s) => {
                if t.nodelay {
                    let _ = s.set_nodelay(true);
                }
                if let Some(p) = t.proxy {
                    socks_handshake(&mut s, p, t.host, t.port, deadline)?;
                }
                #[cfg(feature = "tls")]
                if let Some(tls) = t.tls {
                    return tls_handshake(tls, t.host, s, deadline);
                }
                return Ok(Stream::Tcp(s));
            }
            Err(e) => last = e,
        }
    }
    Err(OpenError::Io(last))
}

/// Ask the proxy for a connection to the broker, bounded by `deadline`.
/// Reads take exactly what each reply holds, so bytes the broker sends
/// afterwards stay in the socket for TLS or MQTT.
fn socks_handshake(
    s: &mut TcpStream,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(), OpenError> {
    let username = proxy.username.as_deref();
    send(s, &socks::greeting(username.is_some()), deadline)?;
    let mut two = [0u8; 2];
    recv(s, &mut two, deadline)?;
    match socks::method_reply(two)? {
        socks::Method::NoAuth => {}
        socks::Method::UserPass => {
            // The proxy picked a method we did not offer.
            let Some(user) = username else {
                return Err(SocksError::Auth.into());
            };
            let pass = proxy.password.as_deref().unwrap_or("");
            send(
                s,
                &socks::auth_request(user.as_bytes(), pass.as_bytes())?,
                deadline,
            )?;
            recv(s, &mut two, deadline)?;
            socks::auth_reply(two)?;
        }
    }
    send(s, &socks::connect_request(host, port)?, deadline)?;
    let mut head = [0u8; socks::REPLY_HEAD];
    recv(s, &mut head, deadline)?;
    let mut reply = vec![0u8; socks::reply_len(head)?];
    let (first, rest) = reply.split_at_mut(socks::REPLY_HEAD);
    first.copy_from_slice(&head);
    recv(s, rest, deadline)?;
    socks::connect_reply(&reply)?;
    s.set_read_timeout(None).map_err(OpenError::Io)?;
    s.set_write_timeout(None).map_err(OpenError::Io)?;
    Ok(())
}

/// The time left before `deadline`, or a timeout error.
fn left(deadline: Instant) -> Result<Duration, OpenError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(OpenError::Io(io::ErrorKind::TimedOut.into()));
    }
    Ok(left)
}

/// Write all of `buf` to the proxy before `deadline`.
fn send(s: &mut TcpStream, buf: &[u8], deadline: Instant) -> Result<(), OpenError> {
    let mut done = 0;
    while let Some(part) = buf.get(done..).filter(|p| !p.is_empty()) {
        s.set_write_timeout(Some(left(deadline)?))
            .map_err(OpenError::Io)?;
        match s.write(part) {
            Ok(0) => return Err(SocksError::Proxy.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(proxy_io_error(e)),
        }
    }
    Ok(())
}

/// Fill `buf` from the proxy before `deadline`; the proxy closing first is
/// a proxy error, as libmosquitto reports it.
fn recv(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Result<(), OpenError> {
    let mut done = 0;
    while let Some(part) = buf.get_mut(done..).filter(|p| !p.is_empty()) {
        s.set_read_timeout(Some(left(deadline)?))
            .map_err(OpenError::Io)?;
        match s.read(part) {
            Ok(0) => return Err(SocksError::Proxy.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(proxy_io_error(e)),
        }
    }
    Ok(())
}

/// A socket error during the SOCKS handshake, as libmosquitto reports it.
fn proxy_io_error(e: io::Error) -> OpenError {
    match e.kind() {
        // The deadline: reported as any other connect timeout.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => OpenError::Io(e),
        io::ErrorKind::ConnectionReset => {
            OpenError::Proxy(7, "Error: The connection was lost.".to_owned())
        }
        _ => OpenError::Proxy(14, format!("Error: {}", strerror(&e))),
    }
}

/// The TLS handshake over a connected socket, bounded by `deadline` (the
/// socket's read and write timeouts cover it and are cleared afterwards).
#[cfg(feature = "tls")]
fn tls_handshake(
    tls: &TlsClientConfig,
    host: &str,
    s: TcpStream,
    deadline: Instant,
) -> Result<Stream, OpenError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(OpenError::Io(io::ErrorKind::TimedOut.into()));
    }
    s.set_read_timeout(Some(left)).map_err(OpenError::Io)?;
    s.set_write_timeout(Some(left)).map_err(OpenError::Io)?;
    let tls_stream = tls
        .connect(host, s)
        .map_err(|e| OpenError::Tls(e.to_string()))?;
    tls_stream
        .get_ref()
        .set_read_timeout(None)
        .map_err(OpenError::Io)?;
    tls_stream
        .get_ref()
        .set_write_timeout(None)
        .map_err(OpenError::Io)?;
    Ok(Stream::Tls(Box::new(tls_stream)))
}
