//! The broker: one thread, one `mio::Poll`, every client in a slab.
//!
//! `Broker` owns everything; there are no globals. The event loop is in
//! `event_loop`, reading and packet dispatch in `read_handle`, protocol policy
//! in one `handle_*` file per packet kind, and delivery in `deliver`.

mod backpressure;
mod bridge;
pub mod bridge_topic;
mod context;
pub mod database;
mod deliver;
mod event_loop;
mod handle_ack;
mod handle_connect;
mod handle_publish;
mod handle_subscribe;
pub mod heap;
pub mod logging;
pub mod persist;
mod persistence;
mod read_handle;
pub mod retain;
pub mod security;
pub mod settings;
mod stream;
pub mod subs;
mod sys_tree;
mod timers;
mod websocket;

// Shared layers: TLS (the old `broker::tls` path still names it) and the
// OS wrappers.
use crate::sys::net;
use crate::sys::signals::SignalPipe;
pub use crate::tls;

use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Poll, Token};
use slab::Slab;

use context::{CloseReason, Connection, Session};
use database::Message;
pub use persistence::PersistSettings;
use retain::RetainTree;
pub use settings::{ListenerSpec, Settings};
use subs::{SubTree, Subscriber};
use timers::{TimerKind, TimerQueue};

/// Tokens at and above this are listeners.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Tokens from here up to LISTENER_BASE are bridges' primary-address probes
/// (one per bridge); below are connections, whose slab keys never get near.
const PROBE_BASE: usize = usize::MAX / 4;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Wakes the loop when a bridge's host name has been resolved.
const WAKER_TOKEN: Token = Token(usize::MAX - 2);

struct Listener {
    socket: ListenSocket,
    /// Index into `Settings::listeners`.
    spec: usize,
}

enum ListenSocket {
    Tcp(TcpListener),
    /// The file is removed when the listener is dropped.
    Unix(UnixListener, net::UnixSocketFile),
}

impl ListenSocket {
    /// Accepts one connection: the stream and the peer as log lines name it.
    fn accept(&self) -> io::Result<(stream::Stream, String)> {
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

/// One set of security files and, for TLS-PSK, the keys shared with
/// OpenSSL's callback (which must be `Send + Sync`).
struct SecurityDomain {
    files: security::SecurityFiles,
    #[cfg(feature = "tls")]
    psk: std::sync::Arc<std::sync::RwLock<Option<security::PskFile>>>,
}

fn ipv6_unavailable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(libc::EAFNOSUPPORT)
}

/// A client's topic or filter with its listener's mount point in front.
fn mounted(mount: &Option<Rc<str>>, topic: String) -> String {
    match mount {
        Some(m) => format!("{m}{topic}"),
        None => topic,
    }
}

/// Counters behind `$SYS` and the benchmark's loss report, with
/// mosquitto's meanings: "messages" are MQTT packets of any kind, "publish"
/// counters are PUBLISH packets and their payload bytes.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub msgs_received: u64,
    pub msgs_sent: u64,
    pub pub_msgs_received: u64,
    pub pub_msgs_sent: u64,
    pub pub_bytes_received: u64,
    pub pub_bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Messages dropped because a queue was full (or a QoS 0 message to a
    /// client too far behind).
    pub msgs_dropped: u64,
    /// Sockets accepted.
    pub sockets: u64,
    /// CONNECTs accepted.
    pub connections: u64,
    pub clients_expired: u64,
    pub clients_maximum: u64,
}

impl Stats {
    fn count_publish_sent(&mut self, payload: usize) {
        self.msgs_sent += 1;
        self.pub_msgs_sent += 1;
        self.pub_bytes_sent += payload as u64;
    }
}

/// Re-reads the configuration for SIGHUP (the same files and command line).
pub type Reloader = Box<dyn Fn() -> Result<crate::config::Config, crate::config::ConfigError>>;

pub struct Broker {
    poll: Poll,
    settings: Settings,
    listeners: Vec<Listener>,
    /// Connected clients per listener spec, for max_connections.
    listener_counts: Vec<usize>,
    security: Vec<SecurityDomain>,
    /// TLS contexts per listener spec (None for plain TCP).
    #[cfg(feature = "tls")]
    tls: Vec<Option<tls::TlsServerConfig>>,
    /// Websocket settings per listener spec (None for MQTT listeners).
    websockets: Vec<Option<Rc<websocket::WsConfig>>>,
    bridges: Vec<bridge::BridgeState>,
    resolver: Option<bridge::Resolver>,
    conns: Slab<Connection>,
    sessions: Slab<Session>,
    /// Session key by client id (the key is the session's own id).
    by_id: HashMap<Rc<str>, usize>,
    subs: SubTree,
    retained: RetainTree,
    timers: TimerQueue,
    /// Connections with output to flush (or a close to finish) this turn.
    dirty: Vec<usize>,
    /// Connections that hit the per-turn read budget and must be read again.
    read_again: Vec<usize>,
    /// Connections with retained backlog left after a complete write.
    write_again: Vec<usize>,
    /// Reused buffers, so steady-state work does not allocate.
    read_scratch: Vec<u8>,
    match_scratch: Vec<Subscriber>,
    retained_scratch: Vec<Rc<Message>>,
    /// Congested receivers met while routing the current message.
    pressure: Vec<usize>,
    signals: Option<SignalPipe>,
    next_serial: u32,
    /// Connections that completed CONNECT and are still open.
    connected: usize,
    /// Changes since the last save, for `autosave_on_changes`.
    changes: u64,
    running: bool,
    reloader: Option<Reloader>,
    started: Instant,
    sys: sys_tree::SysTree,
    pub stats: Stats,
}

impl Broker {
    /// Opens the listeners (logging each as mosquitto does) and installs
    /// signal handling. Fails if no listener could be opened.
    pub fn new(settings: Settings) -> io::Result<Broker> {
        let poll = Poll::new()?;
        let mut domains = Vec::new();
        for paths in &settings.security {
            let files = security::SecurityFiles::load(paths).map_err(io::Error::other)?;
            for w in files.warnings() {
                crate::error!("Error: {w}");
            }
            domains.push(SecurityDomain {
                #[cfg(feature = "tls")]
                psk: std::sync::Arc::new(std::sync::RwLock::new(files.psk.clone())),
                files,
            });
        }
        #[cfg(feature = "tls")]
        let tls_configs = Self::build_tls(&settings, &domains)?;
        let websockets = Self::build_websockets(&settings)?;
        let mut listeners = Vec::new();
        for (i, spec) in settings.listeners.iter().enumerate() {
            if let Some(why) = &spec.disabled {
                crate::error!("Error: listener on port {} not opened: {why}.", spec.port);
                continue;
            }
            if let Some(path) = &spec.unix_path {
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
                let token = Token(LISTENER_BASE + listeners.len());
                poll.registry()
                    .register(&mut socket, token, Interest::READABLE)?;
                listeners.push(Listener {
                    socket: ListenSocket::Unix(socket, file),
                    spec: i,
                });
                continue;
            }
            let opened_before = listeners.len();
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
                        let token = Token(LISTENER_BASE + listeners.len());
                        poll.registry()
                            .register(&mut socket, token, Interest::READABLE)?;
                        listeners.push(Listener {
                            socket: ListenSocket::Tcp(socket),
                            spec: i,
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
            if let (Some(name), true) = (&spec.bind_interface, listeners.len() == opened_before) {
                let why = format!(
                    "Unable to bind listener on port {} to interface {name}",
                    spec.port
                );
                crate::error!("Error: {why}.");
                return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, why));
            }
        }
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Unable to open any listening sockets",
            ));
        }
        let signals = match SignalPipe::install_broker() {
            Ok(mut s) => {
                poll.registry()
                    .register(&mut s, SIGNAL_TOKEN, Interest::READABLE)?;
                Some(s)
            }
            Err(e) => {
                crate::warning!("Warning: unable to install signal handlers: {e}");
                None
            }
        };
        let listener_counts = vec![0; settings.listeners.len()];
        let resolver = match bridge::Resolver::new(poll.registry(), WAKER_TOKEN) {
            Ok(r) => Some(r),
            Err(e) => {
                crate::warning!("Warning: bridges cannot resolve host names: {e}");
                None
            }
        };
        Ok(Broker {
            bridges: Vec::new(),
            resolver,
            poll,
            settings,
            listeners,
            listener_counts,
            security: domains,
            #[cfg(feature = "tls")]
            tls: tls_configs,
            websockets,
            conns: Slab::new(),
            sessions: Slab::new(),
            by_id: HashMap::new(),
            subs: SubTree::default(),
            retained: RetainTree::default(),
            timers: TimerQueue::default(),
            dirty: Vec::new(),
            read_again: Vec::new(),
            write_again: Vec::new(),
            read_scratch: vec![0; 64 * 1024],
            match_scratch: Vec::new(),
            retained_scratch: Vec::new(),
            pressure: Vec::new(),
            signals,
            next_serial: 1,
            connected: 0,
            changes: 0,
            running: true,
            reloader: None,
            started: Instant::now(),
            sys: sys_tree::SysTree::default(),
            stats: Stats::default(),
        })
    }

    /// One OpenSSL context per TLS listener; PSK keys come from the
    /// listener's security domain.
    #[cfg(feature = "tls")]
    fn build_tls(
        settings: &Settings,
        domains: &[SecurityDomain],
    ) -> io::Result<Vec<Option<tls::TlsServerConfig>>> {
        let mut out = Vec::new();
        for spec in &settings.listeners {
            let Some(opts) = &spec.tls else {
                out.push(None);
                continue;
            };
            let psk = domains.get(spec.security).map(|d| d.psk.clone());
            let lookup: Option<tls::PskLookup> = match (&opts.psk_hint, psk) {
                (Some(_), Some(keys)) => Some(std::sync::Arc::new(move |id: &str| {
                    keys.read().ok()?.as_ref()?.key(id)
                })),
                _ => None,
            };
            let cfg = tls::TlsServerConfig::build(opts, lookup).map_err(io::Error::other)?;
            out.push(Some(cfg));
        }
        Ok(out)
    }

    /// Each websockets listener's settings, its http_dir resolved: one
    /// that does not exist stops start-up, as in mosquitto.
    fn build_websockets(settings: &Settings) -> io::Result<Vec<Option<Rc<websocket::WsConfig>>>> {
        let mut out = Vec::new();
        for spec in &settings.listeners {
            let Some(ws) = spec.websockets.as_ref().filter(|_| spec.disabled.is_none()) else {
                out.push(None);
                continue;
            };
            match websocket::WsConfig::new(ws.headers_size, ws.http_dir.as_deref()) {
                Ok(c) => out.push(Some(Rc::new(c))),
                Err(line) => {
                    crate::error!("{line}");
                    let why = format!(
                        "Unable to create websockets listener on port {}.",
                        spec.port
                    );
                    crate::error!("Error: {why}");
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
                }
            }
        }
        Ok(out)
    }

    /// What SIGHUP calls to get the new configuration.
    pub fn set_reloader(&mut self, r: Reloader) {
        self.reloader = Some(r);
    }

    /// The local TCP addresses actually bound (useful with port 0 in tests).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match &l.socket {
                ListenSocket::Tcp(s) => s.local_addr().ok(),
                ListenSocket::Unix(..) => None,
            })
            .collect()
    }

    /// The unix socket files the listeners created (to hand them to the
    /// user the broker is about to become).
    pub fn unix_socket_paths(&self) -> Vec<std::path::PathBuf> {
        self.listeners
            .iter()
            .filter_map(|l| match &l.socket {
                ListenSocket::Unix(_, f) => Some(f.path.clone()),
                ListenSocket::Tcp(_) => None,
            })
            .collect()
    }

    /// A fresh serial: never 0 (a connected session's expiry serial) nor
    /// u32::MAX (a bridge session's, never expired).
    fn serial(&mut self) -> u32 {
        self.next_serial = self.next_serial.wrapping_add(1);
        if self.next_serial == 0 || self.next_serial == u32::MAX {
            self.next_serial = 1;
        }
        self.next_serial
    }

    /// The id mosquitto prints for a connection's client.
    fn log_id_of<'a>(&'a self, conn: &'a Connection) -> &'a str {
        if let Some(name) = conn.cold.as_ref().and_then(|c| c.log_name.as_deref()) {
            return name;
        }
        if conn.bridge().is_some() {
            return "<unknown>";
        }
        conn.session()
            .and_then(|sk| self.sessions.get(sk))
            .map(|s| &*s.client_id)
            .unwrap_or("<unknown>")
    }

    /// Queues `ck` for this turn's flush.
    fn mark_dirty(dirty: &mut Vec<usize>, conn: &mut Connection, ck: usize) {
        if !conn.dirty {
            conn.dirty = true;
            dirty.push(ck);
        }
    }

    /// Marks a connection to be closed once its pending output is written
    /// (a CONNACK refusal, say). The close itself happens in the flush.
    fn schedule_close(&mut self, ck: usize, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(ck) {
            if conn.closing.is_none() {
                conn.closing = Some(reason);
            }
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    /// Removes a connection: logs why, publishes its will unless it sent
    /// DISCONNECT, and detaches or ends its session.
    fn finish_close(&mut self, ck: usize) {
        let Some(mut conn) = self.conns.try_remove(ck) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        for (pk, serial) in conn.take_waiters() {
            self.resume(pk, serial);
        }
        if let Some(n) = self
            .listeners
            .get(conn.listener as usize)
            .and_then(|l| self.listener_counts.get_mut(l.spec))
        {
            *n = n.saturating_sub(1);
        }
        let reason = conn.closing.unwrap_or(CloseReason::ConnectionLost);
        if let Some(i) = conn.bridge() {
            if let (Some(why), Some(b)) = (conn.stream.tls_failure(), self.bridges.get(i)) {
                crate::notice!("Bridge {}: {why}.", b.cfg.name);
            }
            self.bridge_lost(i, ck);
            return;
        }
        if self.settings.connection_messages {
            let id = self.log_id_of(&conn);
            match reason {
                CloseReason::Disconnect => crate::notice!("Client {id} disconnected."),
                CloseReason::ConnectionLost => crate::notice!("Client {id} closed its connection."),
                CloseReason::Malformed => {
                    crate::notice!("Client {id} disconnected due to malformed packet.")
                }
                CloseReason::Protocol => {
                    crate::notice!("Client {id} disconnected due to protocol error.")
                }
                CloseReason::Keepalive => {
                    crate::notice!("Client {id} has exceeded timeout, disconnecting.")
                }
                CloseReason::Oversize => {
                    crate::notice!("Client {id} disconnected due to oversize packet.")
                }
                CloseReason::OutOfMemory => {
                    crate::notice!("Client {id} disconnected: out of memory (memory_limit).")
                }
                CloseReason::TakenOver | CloseReason::Refused | CloseReason::Shutdown => {}
            }
        }
        if let Some(will) = conn.take_will() {
            // The connection's own identity: after a takeover the session
            // already has the new connection's username.
            let source = conn.session().and_then(|sk| {
                let id = &self.sessions.get(sk)?.client_id;
                let user = conn.cold.as_ref().and_then(|c| c.username.as_ref());
                self.new_source(id, user, conn.listener)
            });
            let msg = Message::new(will.topic, will.payload, will.qos, will.retain);
            self.publish_message(Rc::new(msg.with_source(source)), None);
        }
        if let Some(sk) = conn.session() {
            self.connected = self.connected.saturating_sub(1);
            let owned = self
                .sessions
                .get(sk)
                .map(|s| s.conn() == Some(ck))
                .unwrap_or(false);
            if owned {
                self.detach_session(sk);
            }
        }
    }

    /// The session lost its connection: a clean one ends, a persistent one
    /// waits (until `persistent_client_expiration`, if set).
    fn detach_session(&mut self, sk: usize) {
        let serial = self.serial();
        let Some(sess) = self.sessions.get_mut(sk) else {
            return;
        };
        sess.set_conn(None);
        if sess.clean {
            self.remove_session(sk);
            return;
        }
        sess.expiry_serial = serial;
        if let Some(after) = self.settings.persistent_client_expiration {
            self.timers
                .push(Instant::now() + after, TimerKind::SessionExpiry, sk, serial);
        }
    }

    /// Ends a session: its subscriptions and queued messages go.
    fn remove_session(&mut self, sk: usize) {
        let Some(sess) = self.sessions.try_remove(sk) else {
            return;
        };
        for (filter, _) in &sess.filters {
            self.subs.unsubscribe(filter, sk);
        }
        if self.by_id.get(&*sess.client_id) == Some(&sk) {
            self.by_id.remove(&*sess.client_id);
        }
    }

    /// Number of clients that completed CONNECT and are connected.
    pub fn client_count(&self) -> usize {
        self.connected
    }
}
