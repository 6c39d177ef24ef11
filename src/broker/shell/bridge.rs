//! Bridges' sockets: connecting to the remote (host names resolved on a
//! helper thread so DNS never stalls the loop, each resolved address tried
//! in turn), TLS client wrapping, and, with several addresses and
//! `round_robin false`, the probe of the primary address (a plain TCP
//! connect every 5 s; once it answers the bridge moves back to it). The
//! protocol side is the core's (`core::bridge`).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use mio::{Interest, Token};

use super::streams::Socket;
use super::Broker;
use crate::broker::core::bridge::{Phase, PROBE_INTERVAL};
use crate::broker::core::context::CloseReason;
use crate::broker::core::ids::{BridgeId, ConnId};
use crate::broker::core::timers::TimerKind;
use crate::broker::stream::Stream;
use crate::config::{Bridge, BridgeAddress, StartType};
use crate::sys::net;

/// The look for the primary address: a TCP connection that is closed as
/// soon as it is made, since all it has to tell is that the primary answers.
enum Probe {
    Off,
    Resolving,
    Connecting(mio::net::TcpStream),
}

/// One bridge's socket side, by the same index as the core's bridge.
pub(super) struct BridgeLink {
    probe: Probe,
    /// The other addresses the current attempt's host name resolved to,
    /// last to try first: a refused one moves on to the next, so a name
    /// such as localhost works whichever family the remote listens on.
    other_addrs: Vec<SocketAddr>,
    /// Probes made so far: each takes the next address the primary's name
    /// resolves to, so one that refuses does not hide one that answers.
    probe_turn: usize,
    /// The host being connected to (for TLS name checks).
    host: String,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsClientConfig>,
}

impl BridgeLink {
    /// Plain TCP, or a TLS client connection when the bridge has TLS or
    /// PSK settings (the handshake runs as the connection makes progress).
    fn wrap(&self, tcp: mio::net::TcpStream) -> Result<Stream, String> {
        #[cfg(feature = "tls")]
        if let Some(cfg) = &self.tls {
            return cfg
                .connect_nonblocking(&self.host, tcp)
                .map(|t| Stream::Tls(Box::new(t)))
                .map_err(|e| e.to_string());
        }
        Ok(Stream::Tcp(tcp))
    }
}

/// The local address outgoing connections bind to, if configured.
fn bind_address(cfg: &Bridge) -> Option<SocketAddr> {
    cfg.bind_address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 0))
}

/// A resolver answer: for bridge `bridge`'s attempt `serial`, either its
/// connection or (`probe`) its look for the primary address.
struct Resolved {
    bridge: BridgeId,
    serial: u32,
    probe: bool,
    found: io::Result<Vec<SocketAddr>>,
}

/// Resolver answers come back over a channel; the waker makes the poll
/// loop look at it.
pub(super) struct Resolver {
    tx: mpsc::Sender<Resolved>,
    rx: mpsc::Receiver<Resolved>,
    waker: Arc<mio::Waker>,
}

impl Resolver {
    pub fn new(registry: &mio::Registry, token: Token) -> io::Result<Resolver> {
        let (tx, rx) = mpsc::channel();
        Ok(Resolver {
            tx,
            rx,
            waker: Arc::new(mio::Waker::new(registry, token)?),
        })
    }
}

impl Broker {
    /// Sets up every configured bridge and connects those that start at
    /// once.
    pub(super) fn bridges_start(&mut self) {
        let configs = self.core.settings.bridges.clone();
        for cfg in configs {
            #[cfg(feature = "tls")]
            let tls = match bridge_tls(&cfg) {
                Ok(t) => t,
                Err(e) => {
                    crate::error!("Error: bridge {}: {e}", cfg.name);
                    None
                }
            };
            #[cfg(feature = "tls")]
            let tls_missing = (cfg.uses_tls() || cfg.uses_psk()) && tls.is_none();
            #[cfg(not(feature = "tls"))]
            let tls_missing = cfg.uses_tls() || cfg.uses_psk();
            let disabled = if tls_missing {
                Some("its TLS settings cannot be used")
            } else if cfg.addresses.is_empty() {
                Some("it has no address")
            } else {
                None
            };
            if let Some(why) = disabled {
                crate::error!("Error: bridge {} not started: {why}.", cfg.name);
            }
            let lazy = cfg.start_type == StartType::Lazy;
            self.core.set_time(Instant::now());
            let Some(i) = self.core.bridge_setup(cfg, disabled.is_some()) else {
                continue;
            };
            self.links.push(BridgeLink {
                probe: Probe::Off,
                other_addrs: Vec::new(),
                probe_turn: 0,
                host: String::new(),
                #[cfg(feature = "tls")]
                tls,
            });
            if disabled.is_none() && !lazy {
                self.bridge_connect(i);
            }
        }
    }

    /// Starts a connection attempt to the bridge's next address.
    pub(super) fn bridge_connect(&mut self, i: BridgeId) {
        let serial = self.core.serial();
        let (Some(b), Some(link)) = (self.core.bridges.get_mut(i), self.links.get_mut(i.index()))
        else {
            return;
        };
        // Asked twice in a turn (a lazy bridge's queue): one attempt.
        if b.conn.is_some() || b.phase != Phase::Idle {
            return;
        }
        b.serial = serial;
        link.other_addrs.clear();
        let n = b.cfg.addresses.len().max(1);
        b.cur_addr = b.next_addr % n;
        let Some(addr) = b.cfg.addresses.get(b.cur_addr).cloned() else {
            return;
        };
        crate::notice!(
            "Connecting bridge {} ({}:{})",
            b.cfg.name,
            addr.host,
            addr.port
        );
        link.host = addr.host.clone();
        if let Ok(ip) = addr.host.parse::<IpAddr>() {
            self.bridge_connect_to(i, SocketAddr::new(ip, addr.port));
            return;
        }
        b.phase = Phase::Resolving;
        if let Err(e) = self.resolve(i, serial, false, addr) {
            crate::error!("Error: unable to resolve bridge address: {e}");
            self.core.bridge_failed(i);
        }
    }

    /// Resolves `addr` on a helper thread; the answer comes back through
    /// the resolver's channel, tagged with `i`, `serial` and `probe`.
    fn resolve(
        &self,
        i: BridgeId,
        serial: u32,
        probe: bool,
        addr: BridgeAddress,
    ) -> io::Result<()> {
        let Some(r) = &self.resolver else {
            return Err(io::Error::other("no resolver"));
        };
        let (tx, waker) = (r.tx.clone(), Arc::clone(&r.waker));
        std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                let found = (addr.host.as_str(), addr.port)
                    .to_socket_addrs()
                    .map(|a| a.collect());
                let _ = tx.send(Resolved {
                    bridge: i,
                    serial,
                    probe,
                    found,
                });
                let _ = waker.wake();
            })
            .map(|_| ())
    }

    /// Host names resolved on the helper thread.
    pub(super) fn bridge_resolved(&mut self) {
        let answers: Vec<Resolved> = match &self.resolver {
            Some(r) => r.rx.try_iter().collect(),
            None => return,
        };
        for Resolved {
            bridge: i,
            serial,
            probe,
            found,
        } in answers
        {
            if probe {
                self.bridge_probe_resolved(i, serial, found);
                continue;
            }
            let current = self
                .core
                .bridges
                .get(i)
                .is_some_and(|b| b.serial == serial && b.phase == Phase::Resolving);
            if !current {
                continue;
            }
            let mut addrs = found.unwrap_or_default();
            addrs.reverse();
            let first = addrs.pop();
            if let Some(link) = self.links.get_mut(i.index()) {
                link.other_addrs = addrs;
            }
            match first {
                Some(addr) => self.bridge_connect_to(i, addr),
                None => {
                    let name = self.core.bridges.get(i).map(|b| b.cfg.name.clone());
                    crate::error!(
                        "Error creating bridge {}: unable to resolve its address.",
                        name.unwrap_or_default()
                    );
                    self.core.bridge_failed(i);
                }
            }
        }
    }

    fn bridge_connect_to(&mut self, i: BridgeId, addr: SocketAddr) {
        let serial = self.core.serial();
        let (Some(b), Some(link)) = (self.core.bridges.get(i), self.links.get(i.index())) else {
            return;
        };
        let stream = match net::connect(addr, bind_address(&b.cfg)) {
            Ok(s) => s,
            Err(e) => {
                crate::error!("Error creating bridge {} ({addr}): {e}.", b.cfg.name);
                if !self.bridge_try_other_address(i) {
                    self.core.bridge_failed(i);
                }
                return;
            }
        };
        if self.core.settings.set_tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let mut stream = match link.wrap(stream) {
            Ok(s) => s,
            Err(e) => {
                crate::error!("Error creating bridge {}: {e}.", b.cfg.name);
                self.core.bridge_failed(i);
                return;
            }
        };
        let Some(ck) = self.core.conns.vacant_id() else {
            self.core.bridge_failed(i);
            return;
        };
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, super::conn_token(ck), interest)
        {
            crate::error!("Error creating bridge {}: {e}.", b.cfg.name);
            self.core.bridge_failed(i);
            return;
        }
        if let Some(ck) = self.core.open_bridge_conn(i, serial, Instant::now()) {
            // WRITABLE until the connection is made and CONNECT written.
            let want_write = true;
            self.streams.insert(ck, Socket { stream, want_write });
        }
    }

    /// The TCP connection of a bridge finished (or failed): send CONNECT.
    pub(super) fn bridge_connect_done(&mut self, ck: ConnId) {
        let Some(i) = self.core.conns.get(ck).and_then(|c| c.bridge()) else {
            return;
        };
        if self.core.bridges.get(i).map(|b| b.phase) != Some(Phase::Connecting) {
            return;
        }
        let Some(socket) = self.streams.get(ck) else {
            return;
        };
        match socket.stream.connect_result() {
            Ok(true) => self.core.bridge_send_connect(ck),
            Ok(false) => {}
            Err(e) => {
                if let Some(b) = self.core.bridges.get(i) {
                    crate::notice!("Bridge {}: connection failed: {e}.", b.cfg.name);
                }
                self.core.schedule_close(ck, CloseReason::ConnectionLost);
            }
        }
    }

    /// The bridge's connection is gone: stop the probe, then try the next
    /// address its name resolved to, or let the core plan the next attempt.
    pub(super) fn bridge_lost(&mut self, i: BridgeId, was_connecting: bool, to_primary: bool) {
        self.probe_stop(i);
        if was_connecting && self.bridge_try_other_address(i) {
            return;
        }
        self.core.bridge_retry(i, to_primary);
    }

    /// Connects to the next address the host name resolved to, if any is
    /// left for this attempt.
    fn bridge_try_other_address(&mut self, i: BridgeId) -> bool {
        let Some(addr) = self
            .links
            .get_mut(i.index())
            .and_then(|b| b.other_addrs.pop())
        else {
            return false;
        };
        self.bridge_connect_to(i, addr);
        true
    }

    /// Every [`PROBE_INTERVAL`] while the core's bridge `probes()`: a probe
    /// that has not connected by now failed; start the next one. A host name
    /// still being resolved is left to finish rather than piling up threads.
    pub(super) fn bridge_probe_tick(&mut self, i: BridgeId, serial: u32) {
        let Some(b) = self.core.bridges.get(i) else {
            return;
        };
        if !b.probes() {
            self.probe_stop(i);
            return;
        }
        let primary = b.cfg.addresses.first().cloned();
        let at = Instant::now() + PROBE_INTERVAL;
        self.core.timers.push(at, TimerKind::BridgeProbe, i, serial);
        if self
            .links
            .get(i.index())
            .is_some_and(|l| matches!(l.probe, Probe::Resolving))
        {
            return;
        }
        self.probe_stop(i);
        let Some(primary) = primary else {
            return;
        };
        if let Ok(ip) = primary.host.parse::<IpAddr>() {
            self.probe_connect(i, SocketAddr::new(ip, primary.port));
            return;
        }
        if let Some(link) = self.links.get_mut(i.index()) {
            link.probe = Probe::Resolving;
        }
        if let Err(e) = self.resolve(i, serial, true, primary) {
            if let (Some(b), Some(link)) = (self.core.bridges.get(i), self.links.get_mut(i.index()))
            {
                crate::debug!("Bridge {}: cannot resolve its primary: {e}.", b.cfg.name);
                link.probe = Probe::Off;
            }
        }
    }

    /// The primary's host name, resolved for a probe.
    fn bridge_probe_resolved(
        &mut self,
        i: BridgeId,
        serial: u32,
        found: io::Result<Vec<SocketAddr>>,
    ) {
        let (Some(b), Some(link)) = (self.core.bridges.get(i), self.links.get_mut(i.index()))
        else {
            return;
        };
        if b.serial != serial || !matches!(link.probe, Probe::Resolving) {
            return;
        }
        link.probe = Probe::Off;
        if !b.probes() {
            return;
        }
        // Unresolvable for now: the next tick tries again.
        let addrs = found.unwrap_or_default();
        let turn = link.probe_turn;
        link.probe_turn = turn.wrapping_add(1);
        if let Some(addr) = addrs.get(turn % addrs.len().max(1)).copied() {
            self.probe_connect(i, addr);
        }
    }

    /// Starts the probe's non-blocking connect; its outcome arrives as an
    /// event on the bridge's probe token.
    fn probe_connect(&mut self, i: BridgeId, addr: SocketAddr) {
        let (Some(b), Some(link)) = (self.core.bridges.get(i), self.links.get_mut(i.index()))
        else {
            return;
        };
        let mut stream = match net::connect(addr, bind_address(&b.cfg)) {
            Ok(s) => s,
            Err(e) => {
                crate::debug!("Bridge {}: primary {addr} unreachable: {e}.", b.cfg.name);
                return;
            }
        };
        let token = Token(super::PROBE_BASE + i.index());
        match self
            .poll
            .registry()
            .register(&mut stream, token, Interest::WRITABLE)
        {
            Ok(()) => link.probe = Probe::Connecting(stream),
            Err(e) => crate::debug!("Bridge {}: cannot watch the probe: {e}.", b.cfg.name),
        }
    }

    /// Closes the probe, if any.
    fn probe_stop(&mut self, i: BridgeId) {
        let Some(link) = self.links.get_mut(i.index()) else {
            return;
        };
        if let Probe::Connecting(mut s) = std::mem::replace(&mut link.probe, Probe::Off) {
            let _ = self.poll.registry().deregister(&mut s);
        }
    }

    /// An event on bridge `i`'s probe: once the connect has an outcome the
    /// probe is closed, and if the primary answered the bridge moves to it.
    pub(super) fn bridge_probe_ready(&mut self, i: BridgeId) {
        let Some(link) = self.links.get(i.index()) else {
            return;
        };
        let Probe::Connecting(s) = &link.probe else {
            return;
        };
        let answered = match s.take_error() {
            Ok(Some(_)) | Err(_) => false,
            Ok(None) => match s.peer_addr() {
                Ok(_) => true,
                // Still connecting (a stale event).
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => false,
            },
        };
        self.probe_stop(i);
        if answered {
            self.core.bridge_to_primary(i);
        }
    }
}

/// The TLS client context of a bridge with `bridge_cafile`/`capath` or
/// `bridge_identity`/`bridge_psk`; None for a plain bridge.
#[cfg(feature = "tls")]
fn bridge_tls(cfg: &Bridge) -> Result<Option<crate::tls::TlsClientConfig>, String> {
    if !(cfg.uses_tls() || cfg.uses_psk()) {
        return Ok(None);
    }
    crate::tls::TlsClientConfig::build(&cfg.tls)
        .map(Some)
        .map_err(|e| e.to_string())
}
