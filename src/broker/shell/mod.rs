//! The shell: the sockets around the broker core. It owns the `mio::Poll`,
//! the listeners, every connection's stream (TLS and websocket wrapping
//! included), bridges' outgoing sockets and the signal pipe; it accepts,
//! reads bytes into the core, runs the core's timers and flushes the
//! output the core encoded, once per connection per loop turn.

mod bridge;
mod event_loop;
mod flush;
mod listen;
mod read;
mod streams;

use std::io;
use std::rc::Rc;
use std::time::Instant;

use mio::{Poll, Token};

use super::core::{Core, SecurityDomain};
use super::settings::Settings;
use super::{plugin, security, websocket};
use crate::broker::core::ids::ConnId;
use crate::sys::signals::SignalPipe;
#[cfg(feature = "tls")]
use crate::tls;
use listen::{ListenSocket, Listener};
use streams::Streams;

/// Tokens at and above this are listeners.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Tokens from here up to LISTENER_BASE are bridges' primary-address probes
/// (one per bridge); below are connections, whose ids never get near.
const PROBE_BASE: usize = usize::MAX / 4;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Wakes the loop when a bridge's host name has been resolved.
const WAKER_TOKEN: Token = Token(usize::MAX - 2);

/// The poll token of connection `ck`'s socket.
fn conn_token(ck: ConnId) -> Token {
    Token(ck.index())
}

/// Re-reads the configuration for SIGHUP (the same files and command line).
pub type Reloader = Box<dyn Fn() -> Result<crate::config::Config, crate::config::ConfigError>>;

pub struct Broker {
    poll: Poll,
    listeners: Vec<Listener>,
    /// TLS contexts per listener spec (None for plain TCP).
    #[cfg(feature = "tls")]
    tls: Vec<Option<tls::TlsServerConfig>>,
    /// Websocket settings per listener spec (None for MQTT listeners).
    websockets: Vec<Option<Rc<websocket::WsConfig>>>,
    /// Bridges' sockets, by the same index as the core's bridges.
    links: Vec<bridge::BridgeLink>,
    resolver: Option<bridge::Resolver>,
    /// Every connection's stream, keyed by the core's connection key.
    streams: Streams,
    /// Reused read buffer, so steady-state reading does not allocate.
    read_scratch: Vec<u8>,
    /// The batch of connections being flushed (reused).
    flushing: Vec<ConnId>,
    /// The connections being read again, kept for its buffer (swapped with
    /// the core's list each turn, as `flushing`).
    reading: Vec<ConnId>,
    signals: Option<SignalPipe>,
    running: bool,
    reloader: Option<Reloader>,
    /// All broker state.
    core: Core,
}

impl Broker {
    /// Opens the listeners (logging each as mosquitto does) and installs
    /// signal handling. Fails if no listener could be opened.
    pub fn new(settings: Settings) -> io::Result<Broker> {
        let poll = Poll::new()?;
        let domains = Self::load_security(&settings)?;
        #[cfg(feature = "tls")]
        let tls_configs = Self::build_tls(&settings, &domains)?;
        let websockets = Self::build_websockets(&settings)?;
        let listeners = listen::open_listeners(&poll, &settings)?;
        let signals = match SignalPipe::install_broker() {
            Ok(mut s) => {
                poll.registry()
                    .register(&mut s, SIGNAL_TOKEN, mio::Interest::READABLE)?;
                Some(s)
            }
            Err(e) => {
                crate::warning!("Warning: unable to install signal handlers: {e}");
                None
            }
        };
        let resolver = match bridge::Resolver::new(poll.registry(), WAKER_TOKEN) {
            Ok(r) => Some(r),
            Err(e) => {
                crate::warning!("Warning: bridges cannot resolve host names: {e}");
                None
            }
        };
        Ok(Broker {
            links: Vec::new(),
            resolver,
            poll,
            listeners,
            #[cfg(feature = "tls")]
            tls: tls_configs,
            websockets,
            streams: Streams::default(),
            read_scratch: vec![0; 64 * 1024],
            flushing: Vec::new(),
            reading: Vec::new(),
            signals,
            running: true,
            reloader: None,
            core: Self::new_core(settings, domains),
        })
    }

    /// The core, with the plugins as its enhanced-authentication backend
    /// when any security domain loads some.
    fn new_core(settings: Settings, domains: Vec<SecurityDomain>) -> Core {
        let chains = domains.iter().map(|d| d.files.plugins).collect();
        let auth = crate::broker::core::PluginAuth::for_chains(chains);
        let mut core = Core::new(settings, domains, Instant::now());
        if let Some(auth) = auth {
            core.auth = Some(Box::new(auth));
        }
        core
    }

    /// Each security domain's files (password, ACL, PSK), warnings logged.
    fn load_security(settings: &Settings) -> io::Result<Vec<SecurityDomain>> {
        let mut domains = Vec::new();
        for paths in &settings.security {
            let mut files = security::SecurityFiles::load(paths).map_err(io::Error::other)?;
            if !paths.plugins.is_empty() {
                let domain = plugin::load_domain(&paths.plugins).map_err(io::Error::other)?;
                files.plugins = plugin::Chain::new(domain);
            }
            for w in files.warnings() {
                crate::error!("Error: {w}");
            }
            domains.push(SecurityDomain {
                #[cfg(feature = "tls")]
                psk: std::sync::Arc::new(std::sync::RwLock::new(files.psk.clone())),
                files,
            });
        }
        Ok(domains)
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
            let plugins = domains.get(spec.security).map(|d| d.files.plugins);
            let lookup: Option<tls::PskLookup> = match (&opts.psk_hint, psk) {
                (Some(hint), Some(keys)) => {
                    let (hint, plugins) = (hint.clone(), plugins.unwrap_or_default());
                    Some(std::sync::Arc::new(move |id: &str| {
                        // The psk_file decides when there is one; the
                        // plugins otherwise, as in mosquitto.
                        match keys.read().ok()?.as_ref() {
                            Some(file) => file.key(id),
                            None => plugins.psk_key(&hint, id),
                        }
                    }))
                }
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

    /// Loads the persistence database, if one is configured.
    pub fn load_persistence(&mut self) -> Result<(), String> {
        self.core.load_persistence()
    }

    /// Number of clients that completed CONNECT and are connected.
    pub fn client_count(&self) -> usize {
        self.core.client_count()
    }

    /// The broker's counters.
    pub fn stats(&self) -> &super::Stats {
        &self.core.stats
    }
}
