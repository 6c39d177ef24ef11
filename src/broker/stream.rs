//! A client's byte stream: plain TCP, a unix domain socket, or TLS over TCP
//! when the listener has certificates or a PSK hint (feature `tls`).

use std::io::{self, Read, Write};

use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

#[cfg(feature = "tls")]
use super::tls::TlsConn;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsConn>),
}

/// How log lines name the peer of a unix socket connection: the listening
/// socket's path and port 0, as mosquitto prints it ("/run/m.sock:0").
pub fn unix_peer_name(local: io::Result<std::os::unix::net::SocketAddr>) -> String {
    match local.as_ref().ok().and_then(|a| a.as_pathname()) {
        Some(p) => format!("{}:0", p.display()),
        None => "unix-socket:0".to_string(),
    }
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(_) => true,
        }
    }

    /// Why the TLS handshake failed, once it has (None for plain streams).
    pub fn tls_failure(&self) -> Option<&str> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => None,
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.failure(),
        }
    }

    /// The peer as log lines show it: "address:port", or the socket path
    /// and port 0 for a unix socket.
    pub fn peer_name(&self) -> String {
        let tcp = match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => return unix_peer_name(s.local_addr()),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.get_ref(),
        };
        match tcp.peer_addr() {
            Ok(a) => a.to_string(),
            Err(_) => "unknown".to_string(),
        }
    }

    /// Turns Nagle's algorithm off; unix sockets have none.
    pub fn set_nodelay(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Unix(_) => Ok(()),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.get_ref().set_nodelay(true),
        };
    }

    /// The state of a non-blocking connect: `Ok(true)` once connected,
    /// `Ok(false)` while still in progress, `Err` if it failed.
    pub fn connect_result(&self) -> io::Result<bool> {
        let (pending, peer) = match self {
            Stream::Tcp(s) => (s.take_error(), s.peer_addr().map(|_| ())),
            Stream::Unix(s) => (s.take_error(), s.peer_addr().map(|_| ())),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => {
                let s = t.get_ref();
                (s.take_error(), s.peer_addr().map(|_| ()))
            }
        };
        if let Some(e) = pending? {
            return Err(e);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// TLS needs both directions during the handshake and whenever OpenSSL
    /// wants to read in order to write; plain sockets ask for WRITABLE only
    /// under back-pressure.
    pub fn interest(&self, pending_output: bool) -> Interest {
        if self.is_tls() || pending_output {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.deregister(r),
        }
    }
}
