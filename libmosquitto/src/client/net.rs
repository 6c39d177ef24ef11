//! The socket: plain TCP or TLS (the project's `mosquitto_rs::tls` client),
//! opened blocking as libmosquitto's `mosquitto_connect` does, then used
//! non-blocking by the loop.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[cfg(feature = "tls")]
use mosquitto_rs::tls::{TlsClientConfig, TlsConn};

use mosquitto_rs::client::socks::{self, ProxyUrl, SocksError};

use super::Config;
use crate::consts::*;

/// How long a TCP connect or SOCKS5 handshake may take before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub enum Stream {
    Tcp(mio::net::TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsConn>),
}

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.read(buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.write(buf),
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Tcp(_))
    }

    pub fn fd(&self) -> i32 {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.get_ref().as_raw_fd(),
        }
    }

    /// Whether output can be written: a TLS handshake still going on is
    /// driven by reads (its first flight went out when it started), as
    /// libmosquitto finishes its handshake in the loop.
    pub fn ready(&self) -> bool {
        match self {
            Stream::Tcp(_) => true,
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.is_established(),
        }
    }

    pub fn shutdown(&mut self) {
        match self {
            Stream::Tcp(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            #[cfg(feature = "tls")]
            Stream::Tls(t) => {
                t.shutdown();
                let _ = t.get_ref().shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Whether a read error came from TLS rather than the socket.
pub fn is_tls_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionAborted && e.to_string().starts_with("TLS")
}

type OpenError = (i32, String);

thread_local! {
    /// The OS error of this thread's last failed connect, for errno
    /// (callers print MOSQ_ERR_ERRNO with strerror(errno)).
    static LAST_OS_ERROR: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

pub fn last_os_error() -> i32 {
    LAST_OS_ERROR.with(|c| c.get())
}

/// Resolves, connects (from `bind` if set) and, with TLS options, completes
/// the handshake.
pub fn open(cfg: &Config) -> Result<Stream, OpenError> {
    let tcp = tcp_connect(cfg)?;
    tcp.set_nonblocking(true)
        .map_err(|e| (ERRNO, e.to_string()))?;
    if cfg.nodelay {
        let _ = tcp.set_nodelay(true);
    }
    let tcp = mio::net::TcpStream::from_std(tcp);
    match &cfg.tls {
        None => Ok(Stream::Tcp(tcp)),
        #[cfg(feature = "tls")]
        Some(opts) => tls_handshake(cfg, opts, tcp),
        #[cfg(not(feature = "tls"))]
        Some(_) => Err((NOT_SUPPORTED, "TLS support is not built in".into())),
    }
}

fn tcp_connect(cfg: &Config) -> Result<TcpStream, OpenError> {
    // Through a proxy, TCP goes to it; it resolves the broker's name.
    let (host, port) = match &cfg.socks5 {
        Some(p) => (p.host.as_str(), p.port),
        None => (cfg.host.as_str(), cfg.port),
    };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| (EAI, format!("{host}: {e}")))?
        .collect();
    let bind: Option<IpAddr> = match &cfg.bind {
        Some(b) => Some(resolve_ip(b)?),
        None => None,
    };
    let mut last = (EAI, format!("{host}: no address"));
    for addr in addrs {
        let r = match bind {
            Some(local) => mosquitto_rs::sys::net::connect_bound(local, addr, CONNECT_TIMEOUT),
            None => TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT),
        };
        match r {
            Ok(mut s) => {
                if let Some(p) = &cfg.socks5 {
                    socks5(&mut s, p, &cfg.host, cfg.port)?;
                }
                return Ok(s);
            }
            Err(e) => {
                LAST_OS_ERROR.with(|c| c.set(e.raw_os_error().unwrap_or(0)));
                last = (ERRNO, e.to_string());
            }
        }
    }
    Err(last)
}

/// The SOCKS5 handshake (RFC 1928, RFC 1929 login) on a fresh blocking
/// connection to the proxy, with the project's SOCKS5 message code; errors
/// are libmosquitto's (MOSQ_ERR_PROXY, _AUTH, _NO_CONN …).
fn socks5(s: &mut TcpStream, p: &ProxyUrl, host: &str, port: u16) -> Result<(), OpenError> {
    let io = |e: io::Error| (PROXY, format!("SOCKS5 proxy: {e}"));
    let bad = |e: SocksError| (e.code(), format!("SOCKS5 proxy: {}", e.message()));
    s.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
    let user = p.username.as_deref();
    s.write_all(&socks::greeting(user.is_some())).map_err(io)?;
    let mut two = [0u8; 2];
    s.read_exact(&mut two).map_err(io)?;
    match socks::method_reply(two).map_err(bad)? {
        socks::Method::NoAuth => {}
        socks::Method::UserPass => {
            let Some(user) = user else {
                return Err(bad(SocksError::Auth));
            };
            let pass = p.password.as_deref().unwrap_or("");
            let req = socks::auth_request(user.as_bytes(), pass.as_bytes()).map_err(bad)?;
            s.write_all(&req).map_err(io)?;
            s.read_exact(&mut two).map_err(io)?;
            socks::auth_reply(two).map_err(bad)?;
        }
    }
    s.write_all(&socks::connect_request(host, port).map_err(bad)?)
        .map_err(io)?;
    let mut head = [0u8; socks::REPLY_HEAD];
    s.read_exact(&mut head).map_err(io)?;
    let mut reply = vec![0u8; socks::reply_len(head).map_err(bad)?];
    // reply_len is at least REPLY_HEAD + 5.
    let at = socks::REPLY_HEAD.min(reply.len());
    let (first, rest) = reply.split_at_mut(at);
    first.copy_from_slice(head.get(..first.len()).unwrap_or(&[]));
    s.read_exact(rest).map_err(io)?;
    socks::connect_reply(&reply).map_err(bad)?;
    s.set_read_timeout(None).map_err(io)?;
    s.set_write_timeout(None).map_err(io)?;
    Ok(())
}

fn resolve_ip(name: &str) -> Result<IpAddr, OpenError> {
    if let Ok(ip) = name.parse() {
        return Ok(ip);
    }
    (name, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or((EAI, format!("{name}: cannot resolve bind address")))
}

#[cfg(feature = "tls")]
fn tls_handshake(
    cfg: &Config,
    opts: &mosquitto_rs::tls::TlsClientOptions,
    tcp: mio::net::TcpStream,
) -> Result<Stream, OpenError> {
    let config = TlsClientConfig::build(opts).map_err(|e| (TLS, e.0))?;
    let mut conn = config
        .connect_nonblocking(&cfg.host, tcp)
        .map_err(|e| (TLS, e.0))?;
    // Sends the first flight; the loop completes the handshake, and a
    // failure shows there as MOSQ_ERR_TLS, as with libmosquitto.
    // A failure here (a peer that is not TLS may already have reset the
    // connection) is kept by the connection and reported by the loop.
    let _ = conn.handshake();
    Ok(Stream::Tls(Box::new(conn)))
}
