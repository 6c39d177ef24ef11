//! A client's byte stream: plain TCP, a unix domain socket, or TLS over TCP
//! when the listener has certificates or a PSK hint (feature `tls`); on a
//! websockets listener, any of these wrapped in websocket framing.

use std::io::{self, IoSlice, Read, Write};

use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use super::core::context::CloseReason;
#[cfg(feature = "tls")]
use super::tls::TlsConn;
use super::websocket::WsConn;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsConn>),
    /// Boxed: plain connections do not pay for its state.
    Ws(Box<WsConn>),
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
            Stream::Ws(w) => w.inner().is_tls(),
        }
    }

    /// The TLS connection, also under websocket framing.
    #[cfg(feature = "tls")]
    pub fn tls_conn(&self) -> Option<&TlsConn> {
        match self {
            Stream::Tls(t) => Some(t),
            Stream::Ws(w) => w.inner().tls_conn(),
            _ => None,
        }
    }

    pub fn websocket(&self) -> Option<&WsConn> {
        match self {
            Stream::Ws(w) => Some(w),
            _ => None,
        }
    }

    /// A websocket has bytes of its own to send (handshake answer, pong,
    /// close frame, HTTP answer): the connection needs a flush.
    pub fn has_own_output(&self) -> bool {
        matches!(self, Stream::Ws(w) if w.has_own_output())
    }

    /// Writes those bytes; `Ok(true)` when none are left (always, at once,
    /// for other streams).
    pub fn flush_own(&mut self) -> io::Result<bool> {
        match self {
            Stream::Ws(w) => w.flush_own(),
            _ => Ok(true),
        }
    }

    /// A websocket that has said its last word (HTTP answer or close
    /// frame written) and is to be closed.
    pub fn is_finished(&self) -> bool {
        matches!(self, Stream::Ws(w) if w.is_finished())
    }

    /// Queues a websocket close frame before the broker closes the socket.
    pub fn send_close(&mut self, reason: CloseReason) {
        if let Stream::Ws(w) = self {
            w.send_close(reason);
        }
    }

    /// Why the TLS handshake failed, once it has (None for plain streams).
    pub fn tls_failure(&self) -> Option<&str> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => None,
            #[cfg(feature = "tls")]
            Stream::Tls(t) => t.failure(),
            Stream::Ws(w) => w.inner().tls_failure(),
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
            Stream::Ws(w) => return w.inner().peer_name(),
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
            Stream::Ws(w) => {
                w.inner().set_nodelay();
                Ok(())
            }
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
            Stream::Ws(w) => return w.inner().connect_result(),
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
            Stream::Ws(w) => w.read(buf),
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
            Stream::Ws(w) => w.write(buf),
        }
    }

    /// One `writev` on sockets (a websocket frame header with its
    /// payload); TLS writes the first non-empty slice.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            _ => {
                let first = bufs.iter().find(|b| !b.is_empty());
                self.write(first.map_or(&[][..], |b| &b[..]))
            }
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
            Stream::Ws(w) => w.inner_mut().register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.reregister(r, t, i),
            Stream::Ws(w) => w.inner_mut().reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.deregister(r),
            Stream::Ws(w) => w.inner_mut().deregister(r),
        }
    }
}
