//! The poll loop: accept, read, run due timers, then flush every connection
//! with pending output once. The poll timeout is the earliest timer, so an
//! idle broker sleeps.

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Token};

use super::streams::Socket;
use super::{Broker, LISTENER_BASE, PROBE_BASE, SIGNAL_TOKEN, WAKER_TOKEN};
use crate::broker::core::context::CloseReason;
use crate::broker::core::ids::{BridgeId, ConnId};
use crate::broker::plugin;
use crate::broker::settings::Settings;
use crate::broker::stream::Stream;

impl Broker {
    /// Runs until SIGINT or SIGTERM.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut signals = Vec::new();
        self.core.start(Instant::now());
        self.bridges_start();
        while self.running {
            let now = Instant::now();
            let timeout = if self.core.has_work_now() {
                Some(Duration::ZERO)
            } else {
                self.core.timers.timeout(now)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER_TOKEN => self.bridge_resolved(),
                    SIGNAL_TOKEN => {
                        if let Some(s) = &self.signals {
                            s.drain(&mut signals);
                        }
                    }
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                    Token(t) if t >= PROBE_BASE => {
                        if let Some(i) = BridgeId::from_index(t - PROBE_BASE) {
                            self.bridge_probe_ready(i);
                        }
                    }
                    Token(t) => {
                        if let Some(ck) = ConnId::from_index(t) {
                            self.conn_event(ck, ev);
                        }
                    }
                }
            }
            let mut again = std::mem::take(&mut self.reading);
            self.core.swap_read_again(&mut again);
            for &ck in &again {
                self.read_conn(ck);
            }
            again.clear();
            self.reading = again;
            for ck in self.core.take_write_again() {
                self.core.want_flush(ck);
            }
            for sig in signals.drain(..) {
                self.on_signal(sig);
            }
            self.core.run_timers(Instant::now());
            self.core.publish_log_lines();
            self.core.autosave_by_changes();
            if plugin::wants_tick() {
                plugin::tick(std::time::SystemTime::now());
            }
            self.core.apply_plugin_actions();
            self.run_tasks();
            self.flush_dirty();
            // Closing connections runs the plugins' disconnect callbacks,
            // which may publish: carry that out now, not on the next event.
            if plugin::has_actions() {
                self.core.apply_plugin_actions();
                self.flush_dirty();
            }
        }
        self.shutdown();
        Ok(())
    }

    /// Readiness of connection `ck`'s socket.
    fn conn_event(&mut self, ck: ConnId, ev: &mio::event::Event) {
        let connecting_bridge = self
            .core
            .conns
            .get(ck)
            .is_some_and(|c| c.bridge().is_some());
        if connecting_bridge && (ev.is_writable() || ev.is_error()) {
            self.bridge_connect_done(ck);
        }
        let tls = self.streams.get(ck).is_some_and(|s| s.stream.is_tls());
        let pending = self.core.conns.get(ck).is_some_and(|c| c.pending_out() > 0);
        if ev.is_writable() || (tls && pending) {
            self.core.want_flush(ck);
        }
        // OpenSSL may need either direction to make progress (handshake,
        // renegotiation): TLS reads on any event.
        if tls || ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.read_conn(ck);
        }
    }

    fn on_signal(&mut self, sig: libc::c_int) {
        match sig {
            libc::SIGINT | libc::SIGTERM => self.running = false,
            libc::SIGHUP => self.reload(),
            libc::SIGUSR1 => self.core.save_persistence(),
            libc::SIGUSR2 => self.core.dump_subscriptions(),
            _ => {}
        }
    }

    /// SIGHUP: reopen log files and re-read the password, ACL and PSK
    /// files (a bad file is reported and the old one kept), then check
    /// every connected client against them again, as mosquitto does.
    fn reload(&mut self) {
        crate::notice!("Reloading config.");
        self.reload_config();
        crate::broker::logging::reopen();
        for (i, domain) in self.core.security.iter_mut().enumerate() {
            let Some(paths) = self.core.settings.security.get(i) else {
                continue;
            };
            match domain.files.reload(paths) {
                Ok(()) => {
                    for w in domain.files.warnings() {
                        crate::error!("Error: {w}");
                    }
                    #[cfg(feature = "tls")]
                    if let Ok(mut keys) = domain.psk.write() {
                        *keys = domain.files.psk.clone();
                    }
                }
                Err(e) => {
                    crate::error!("Error reloading security files: {e}; keeping the old ones.")
                }
            }
        }
        plugin::reload();
        self.core.recheck_clients();
    }

    /// Takes what mosquitto reloads from the configuration file: general
    /// limits and options, logging, and the security settings (listeners
    /// and bridges stay as they are). A file that no longer parses is
    /// reported and the running configuration kept.
    fn reload_config(&mut self) {
        let Some(reload) = &self.reloader else {
            return;
        };
        let cfg = match reload() {
            Ok(c) => c,
            Err(e) => {
                for line in e.to_string().lines() {
                    crate::error!("{line}");
                }
                crate::error!("Error: the configuration was not reloaded.");
                return;
            }
        };
        let mut new = match Settings::from_config(&cfg) {
            Ok(s) => s,
            Err(e) => {
                crate::error!("Error: {e}; the configuration was not reloaded.");
                return;
            }
        };
        if new.security.len() != self.core.settings.security.len()
            || new.listeners.len() != self.core.settings.listeners.len()
        {
            crate::error!(
                "Error: per_listener_settings and listeners cannot change on reload; \
                 the configuration was not reloaded."
            );
            return;
        }
        // The sockets that are open stay as they are.
        for (n, old) in new.listeners.iter_mut().zip(&self.core.settings.listeners) {
            n.addrs.clone_from(&old.addrs);
            n.unix_path.clone_from(&old.unix_path);
            n.disabled.clone_from(&old.disabled);
            n.websockets.clone_from(&old.websockets);
            #[cfg(feature = "tls")]
            n.tls.clone_from(&old.tls);
        }
        new.bridges = std::mem::take(&mut self.core.settings.bridges);
        self.core.settings = new;
        crate::broker::logging::init(crate::broker::logging::LogSettings::from_config(&cfg));
    }

    fn accept(&mut self, li: usize) {
        // Bounded: a flood of connections cannot starve everyone else.
        for _ in 0..256 {
            let Some(listener) = self.listeners.get(li) else {
                return;
            };
            let (stream, peer) = match listener.socket.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log and try again next event.
                    crate::error!("Error accepting connection: {e}");
                    return;
                }
            };
            let spec_idx = listener.spec;
            let Some(spec) = self.core.settings.listeners.get(spec_idx.index()) else {
                return;
            };
            let port = spec.port;
            let max = spec.max_connections;
            if max >= 0 && self.core.listener_count(spec_idx) >= max as usize {
                crate::notice!("Client connection from {peer} denied: max_connections exceeded.");
                continue; // dropping `stream` closes it
            }
            if self.core.settings.set_tcp_nodelay {
                stream.set_nodelay();
            }
            self.core.stats.sockets += 1;
            let Some(mut stream) = self.wrap_stream(spec_idx.index(), stream) else {
                continue;
            };
            let Some(ck) = self.core.conns.vacant_id() else {
                crate::error!("Error: too many connections.");
                continue;
            };
            let interest = stream.interest(false);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, super::conn_token(ck), interest)
            {
                crate::error!("Error registering connection: {e}");
                continue;
            }
            if self.core.settings.connection_messages {
                crate::notice!("New connection from {peer} on port {port}.");
            }
            let Some(ck) = self.core.open_client(spec_idx, Instant::now()) else {
                continue;
            };
            let want_write = false;
            self.streams.insert(ck, Socket { stream, want_write });
        }
    }

    /// The accepted stream as it is, or a TLS server connection on a TLS
    /// listener; in websocket framing on a websockets listener.
    fn wrap_stream(&self, spec: usize, stream: Stream) -> Option<Stream> {
        #[cfg(feature = "tls")]
        let stream = match self.tls.get(spec) {
            Some(Some(cfg)) => {
                let Stream::Tcp(tcp) = stream else {
                    // Start-up refuses TLS options on unix listeners; never
                    // serve plain text where TLS was configured.
                    crate::error!("Error: TLS is only available on TCP listeners.");
                    return None;
                };
                match cfg.accept(tcp) {
                    Ok(t) => Stream::Tls(Box::new(t)),
                    Err(e) => {
                        crate::error!("Error: {e}");
                        return None;
                    }
                }
            }
            _ => stream,
        };
        match self.websockets.get(spec) {
            Some(Some(cfg)) => Some(Stream::Ws(Box::new(crate::broker::websocket::WsConn::new(
                stream,
                cfg.clone(),
            )))),
            _ => Some(stream),
        }
    }

    /// SIGINT/SIGTERM: close every client (publishing wills, as a lost
    /// connection would) and stop.
    fn shutdown(&mut self) {
        let keys: Vec<ConnId> = self.core.conns.iter().map(|(k, _)| k).collect();
        for ck in keys {
            // MQTT 5 clients get DISCONNECT 0x8B first.
            self.core.schedule_close(ck, CloseReason::Shutdown);
            self.flush_conn(ck);
        }
        self.core.publish_delayed_wills();
        self.flush_dirty();
        self.core.save_persistence();
        plugin::cleanup_all();
    }
}
