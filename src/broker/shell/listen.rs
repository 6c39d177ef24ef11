//! Listening sockets: opened at start-up as the listener specs say, logged
//! as mosquitto logs them.

use std::io;
use std::path::Path;

use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Poll, Token};

use super::LISTENER_BASE;
use crate::broker::core::ids::ListenerId;
use crate::broker::settings::{ListenerSpec, Settings};
use crate::broker::stream;
use crate::sys::net;

pub(super) struct Listener {
    pub socket: ListenSocket,
    /// Its spec in `Settings::listeners`.
    pub spec: ListenerId,
}

pub(super) enum ListenSocket {
    Tcp(TcpListener),
    /// The file is removed when the listener is dropped.
    Unix(UnixListener, net::UnixSocketFile),
}

impl ListenSocket {
    /// Accepts one connection: the stream and the peer as log lines name it.
    pub fn accept(&self) -> io::Result<(stream::Stream, String)> {
        match self {
            ListenSocket::Tcp(l) => {
                let (s, peer) = l.accept()?;
                Ok((stream::Stream::Tcp(s), peer.to_string()))
            }
            ListenSocket::Unix(l, _) => {
                let (s, _) = l.accept()?;
                let peer = stream::unix_peer_name(s.local_addr());
                Ok((stream::Stream::Unix(s), peer))
            }
        }
    }
}

fn ipv6_unavailable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(libc::EAFNOSUPPORT)
}

/// Opens every enabled listener, registered with `poll` under its token.
/// Fails if one cannot be opened, or none is.
pub(super) fn open_listeners(poll: &Poll, settings: &Settings) -> io::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for (i, spec) in settings.listeners.iter().enumerate() {
        let Some(id) = ListenerId::from_index(i) else {
            break;
        };
        if let Some(why) = &spec.disabled {
            crate::error!("Error: listener on port {} not opened: {why}.", spec.port);
            continue;
        }
        match &spec.unix_path {
            Some(path) => open_unix(poll, path, id, &mut listeners)?,
            None => open_tcp(poll, spec, id, &mut listeners)?,
        }
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Unable to open any listening sockets",
        ));
    }
    Ok(listeners)
}

fn open_unix(
    poll: &Poll,
    path: &Path,
    spec: ListenerId,
    out: &mut Vec<Listener>,
) -> io::Result<()> {
    let (mut socket, file) = net::listen_unix(path).map_err(|line| {
        crate::error!("{line}");
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "Unable to open the unix socket listener {}.",
                path.display()
            ),
        )
    })?;
    let token = Token(LISTENER_BASE + out.len());
    poll.registry()
        .register(&mut socket, token, Interest::READABLE)?;
    out.push(Listener {
        socket: ListenSocket::Unix(socket, file),
        spec,
    });
    Ok(())
}

/// One socket per address of the spec (IPv4 and IPv6, say).
fn open_tcp(
    poll: &Poll,
    spec: &ListenerSpec,
    id: ListenerId,
    out: &mut Vec<Listener>,
) -> io::Result<()> {
    let opened_before = out.len();
    // mosquitto names a websockets listener once, not per family.
    if spec.websockets.is_some() {
        crate::information!("Opening websockets listen socket on port {}.", spec.port);
    }
    for addr in &spec.addrs {
        let family = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
        if spec.websockets.is_none() {
            crate::notice!("Opening {family} listen socket on port {}.", spec.port);
        }
        let addr = match &spec.bind_interface {
            None => *addr,
            Some(name) => match net::interface_addr(name, *addr, spec.explicit_address) {
                Ok(a) => a,
                // One family missing is fine; none at all fails below.
                Err(why) => {
                    crate::warning!("Warning: {why}");
                    continue;
                }
            },
        };
        match net::listen(addr) {
            Ok(mut socket) => {
                let token = Token(LISTENER_BASE + out.len());
                poll.registry()
                    .register(&mut socket, token, Interest::READABLE)?;
                out.push(Listener {
                    socket: ListenSocket::Tcp(socket),
                    spec: id,
                });
            }
            // A host without IPv6 still serves IPv4, as mosquitto does.
            Err(e) if addr.is_ipv6() && ipv6_unavailable(&e) => {
                crate::warning!("Warning: {e} ({addr}); skipping this address.");
            }
            Err(e) => {
                crate::error!("Error: {e}");
                return Err(e);
            }
        }
    }
    if let (Some(name), true) = (&spec.bind_interface, out.len() == opened_before) {
        let why = format!(
            "Unable to bind listener on port {} to interface {name}",
            spec.port
        );
        crate::error!("Error: {why}.");
        return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, why));
    }
    Ok(())
}
