//! The poll loop: accept, read, run due timers, then flush every connection
//! with pending output once. The poll timeout is the earliest timer, so an
//! idle broker sleeps.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use mio::{Events, Token};

use super::context::{CloseReason, Connection, NO_LISTENER};
use super::database::Message;
use super::stream::Stream;
use super::timers::TimerKind;
use super::{Broker, Settings, LISTENER_BASE, PROBE_BASE, SIGNAL_TOKEN, WAKER_TOKEN};
use crate::protocol::QoS;

/// A duration in whole milliseconds (saturating).
pub(super) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Output buffers larger than this are given back after they drain, so a
/// burst does not pin memory on an idle connection.
const WBUF_KEEP: usize = 64 * 1024;

impl Broker {
    /// Runs until SIGINT or SIGTERM.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut signals = Vec::new();
        self.sys_start();
        self.schedule_sys(Instant::now());
        self.schedule_autosave(Instant::now());
        self.bridges_start();
        while self.running {
            let now = Instant::now();
            let timeout = if self.read_again.is_empty() && self.write_again.is_empty() {
                self.timers.timeout(now)
            } else {
                Some(Duration::ZERO)
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
                    Token(t) if t >= PROBE_BASE => self.bridge_probe_ready(t - PROBE_BASE),
                    Token(ck) => {
                        let mut tls = false;
                        let connecting_bridge =
                            self.conns.get(ck).is_some_and(|c| c.bridge().is_some());
                        if connecting_bridge && (ev.is_writable() || ev.is_error()) {
                            self.bridge_connect_done(ck);
                        }
                        if let Some(conn) = self.conns.get_mut(ck) {
                            tls = conn.stream.is_tls();
                            if ev.is_writable() || (tls && conn.pending_out() > 0) {
                                Self::mark_dirty(&mut self.dirty, conn, ck);
                            }
                        }
                        // OpenSSL may need either direction to make progress
                        // (handshake, renegotiation): TLS reads on any event.
                        if tls || ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read_conn(ck);
                        }
                    }
                }
            }
            for ck in std::mem::take(&mut self.read_again) {
                self.read_conn(ck);
            }
            for ck in std::mem::take(&mut self.write_again) {
                if let Some(conn) = self.conns.get_mut(ck) {
                    Self::mark_dirty(&mut self.dirty, conn, ck);
                }
            }
            for sig in signals.drain(..) {
                self.on_signal(sig);
            }
            self.run_timers(Instant::now());
            self.publish_log_lines();
            self.autosave_by_changes();
            self.flush_dirty();
        }
        self.shutdown();
        Ok(())
    }

    /// SIGHUP: reopen log files and re-read the password, ACL and PSK
    /// files (a bad file is reported and the old one kept), then check
    /// every connected client against them again, as mosquitto does.
    fn reload(&mut self) {
        crate::notice!("Reloading config.");
        self.reload_config();
        super::logging::reopen();
        for (i, domain) in self.security.iter_mut().enumerate() {
            let Some(paths) = self.settings.security.get(i) else {
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
        self.recheck_clients();
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
        if new.security.len() != self.settings.security.len()
            || new.listeners.len() != self.settings.listeners.len()
        {
            crate::error!(
                "Error: per_listener_settings and listeners cannot change on reload; \
                 the configuration was not reloaded."
            );
            return;
        }
        // The sockets that are open stay as they are.
        for (n, old) in new.listeners.iter_mut().zip(&self.settings.listeners) {
            n.addrs.clone_from(&old.addrs);
            n.unix_path.clone_from(&old.unix_path);
            n.disabled.clone_from(&old.disabled);
            n.websockets.clone_from(&old.websockets);
            #[cfg(feature = "tls")]
            n.tls.clone_from(&old.tls);
        }
        new.bridges = std::mem::take(&mut self.settings.bridges);
        self.settings = new;
        super::logging::init(super::logging::LogSettings::from_config(&cfg));
    }

    /// Disconnects clients the reloaded password file no longer admits.
    fn recheck_clients(&mut self) {
        let mut refused = Vec::new();
        for (ck, conn) in self.conns.iter() {
            let Some(sess) = conn.session().and_then(|sk| self.sessions.get(sk)) else {
                continue;
            };
            let Some(spec) = self
                .listeners
                .get(conn.listener as usize)
                .and_then(|l| self.settings.listeners.get(l.spec))
            else {
                continue;
            };
            if sess.bridge().is_some() || spec.tls_identity.is_some() {
                continue;
            }
            let cold = conn.cold.as_deref();
            let username = cold.and_then(|c| c.username.as_deref());
            let password = cold.and_then(|c| c.password.as_deref());
            let ok = self
                .security
                .get(usize::from(sess.security))
                .is_some_and(|d| {
                    d.files
                        .authenticate(spec.allow_anonymous, username, password)
                        .is_ok()
                });
            if !ok {
                refused.push(ck);
            }
        }
        for ck in refused {
            crate::notice!("Client {} disconnected, not authorised.", self.conn_id(ck));
            self.schedule_close(ck, CloseReason::Refused);
        }
    }

    /// `log_dest topic`: log lines become `$SYS/broker/log/...` messages.
    fn publish_log_lines(&mut self) {
        let mut lines = Vec::new();
        super::logging::take_topic_lines(&mut lines);
        for (topic, line) in lines {
            let msg = Message::new(topic.to_owned(), line.into_bytes(), QoS::ExactlyOnce, false);
            self.publish_message(std::rc::Rc::new(msg), None);
        }
    }

    fn schedule_sys(&mut self, now: Instant) {
        let secs = self.settings.sys_interval;
        if secs > 0 {
            let at = now + Duration::from_secs(u64::from(secs));
            self.timers.push(at, TimerKind::SysTree, 0, 0);
        }
    }

    fn on_signal(&mut self, sig: libc::c_int) {
        match sig {
            libc::SIGINT | libc::SIGTERM => self.running = false,
            libc::SIGHUP => self.reload(),
            libc::SIGUSR1 => self.save_persistence(),
            libc::SIGUSR2 => self.dump_subscriptions(),
            _ => {}
        }
    }

    /// SIGUSR2: the subscription tree to the log, as mosquitto does.
    fn dump_subscriptions(&self) {
        let mut lines = Vec::new();
        self.subs.dump(&mut lines);
        crate::notice!("Subscriptions: {}", lines.len());
        for (filter, s) in lines {
            let id = self
                .sessions
                .get(s.session)
                .map(|x| &*x.client_id)
                .unwrap_or("?");
            crate::notice!("{filter} {id} (QoS {})", s.qos.as_u8());
        }
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
            let Some(spec) = self.settings.listeners.get(spec_idx) else {
                return;
            };
            let port = spec.port;
            let max = spec.max_connections;
            let mount = spec.mount_point.as_deref().map(std::rc::Rc::from);
            let max_qos = QoS::from_u8(spec.max_qos).unwrap_or(QoS::ExactlyOnce);
            let count = self.listener_counts.get(spec_idx).copied().unwrap_or(0);
            if max >= 0 && count >= max as usize {
                crate::notice!("Client connection from {peer} denied: max_connections exceeded.");
                continue; // dropping `stream` closes it
            }
            if self.settings.set_tcp_nodelay {
                stream.set_nodelay();
            }
            self.stats.sockets += 1;
            let Some(stream) = self.wrap_stream(spec_idx, stream) else {
                continue;
            };
            let serial = self.serial();
            let entry = self.conns.vacant_entry();
            let ck = entry.key();
            let now = self.timers.now_ms(Instant::now());
            let listener = u32::try_from(li).unwrap_or(NO_LISTENER);
            let mut conn = Connection::new(serial, stream, listener, now as u32);
            if mount.is_some() {
                conn.cold_mut().mount_point = mount;
            }
            conn.max_qos = max_qos;
            let interest = conn.stream.interest(false);
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut conn.stream, Token(ck), interest)
            {
                crate::error!("Error registering connection: {e}");
                continue;
            }
            if self.settings.connection_messages {
                crate::notice!("New connection from {peer} on port {port}.");
            }
            let deadline = now.saturating_add(duration_ms(self.settings.connect_timeout));
            conn.timer_at = deadline as u32;
            conn.timer_on = true;
            entry.insert(conn);
            if let Some(n) = self.listener_counts.get_mut(spec_idx) {
                *n += 1;
            }
            self.timers
                .push_ms(deadline, TimerKind::Keepalive, ck, serial);
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
            Some(Some(cfg)) => Some(Stream::Ws(Box::new(super::websocket::WsConn::new(
                stream,
                cfg.clone(),
            )))),
            _ => Some(stream),
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(t) = self.timers.pop_due(now) {
            match t.kind {
                TimerKind::Keepalive => self.check_keepalive(t.key, t.serial, t.at, now),
                TimerKind::Autosave => {
                    self.save_persistence();
                    self.schedule_autosave(now);
                }
                TimerKind::BridgeRestart
                | TimerKind::BridgePing
                | TimerKind::BridgeIdle
                | TimerKind::BridgeProbe => self.bridge_timer(t.kind, t.key, t.serial),
                TimerKind::SysTree => {
                    self.sys_update(now);
                    self.schedule_sys(now);
                }
                TimerKind::Resume => self.pause_expired(t.key, t.serial, t.at),
                TimerKind::SessionExpiry => {
                    let expired = self
                        .sessions
                        .get(t.key)
                        .map(|s| s.conn().is_none() && s.expiry_serial == t.serial)
                        .unwrap_or(false);
                    if expired {
                        if let Some(s) = self.sessions.get(t.key) {
                            crate::notice!("Expiring client {} due to timeout.", s.client_id);
                        }
                        self.stats.clients_expired += 1;
                        self.remove_session(t.key);
                    }
                }
            }
        }
    }

    /// A connection's deadline came: close it if it has been silent for
    /// 1.5 × keepalive (or never sent CONNECT), otherwise set the next one
    /// and give back the buffers of a client that has nothing in them.
    fn check_keepalive(&mut self, ck: usize, serial: u32, at: u64, now: Instant) {
        let now = self.timers.now_ms(now);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let live = conn.timer_on && conn.timer_at == at as u32;
        if conn.serial != serial || !live || conn.closing.is_some() {
            return; // stale entry
        }
        let limit = if conn.session().is_none() {
            duration_ms(self.settings.connect_timeout)
        } else if conn.keepalive == 0 {
            conn.timer_on = false;
            return;
        } else {
            u64::from(conn.keepalive) * 1500
        };
        // A publisher we stopped reading is not silent by its own doing.
        let silent = if conn.paused {
            0
        } else {
            u64::from((now as u32).wrapping_sub(conn.last_rx))
        };
        if silent >= limit {
            self.schedule_close(ck, CloseReason::Keepalive);
        } else {
            conn.release_idle_buffers();
            let deadline = now + (limit - silent);
            conn.timer_at = deadline as u32;
            self.timers
                .push_ms(deadline, TimerKind::Keepalive, ck, serial);
        }
    }

    /// Writes every dirty connection's output: one write per connection per
    /// turn, WRITABLE interest only while the kernel pushes back.
    fn flush_dirty(&mut self) {
        let mut i = 0;
        // Closing a connection can publish a will, which dirties others: the
        // list may grow while we walk it.
        while let Some(&ck) = self.dirty.get(i) {
            i += 1;
            self.flush_conn(ck);
        }
        self.dirty.clear();
    }

    fn flush_conn(&mut self, ck: usize) {
        // Top up from the retained backlog first, so it goes in this write.
        let backlog_of = self
            .conns
            .get(ck)
            .and_then(|c| c.session())
            .filter(|sk| self.sessions.get(*sk).is_some_and(|s| s.has_backlog()));
        if let Some(sk) = backlog_of {
            self.pump_backlog(ck, sk);
        }
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        conn.dirty = false;
        let mut failed = false;
        // One write for TCP: a short write means the kernel pushed back and
        // WRITABLE will follow. A TLS write sends at most one record (16 KB)
        // without any push-back, so write on until done or WouldBlock, or
        // the rest of a large message would wait for an unrelated event.
        let tls = conn.stream.is_tls();
        let mut pending = false;
        // A websocket's own bytes (handshake answer, pong) go before MQTT
        // bytes; plain streams have none and make no call.
        let ws = conn.stream.websocket().is_some();
        let mut own_pending = false;
        if ws {
            match conn.stream.flush_own() {
                Ok(done) => own_pending = !done,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => own_pending = true,
                Err(_) => failed = true,
            }
        }
        if let Some(b) = conn.io.as_deref_mut().filter(|_| !failed) {
            while b.wpos < b.wbuf.len() {
                match conn.stream.write(b.wbuf.get(b.wpos..).unwrap_or(&[])) {
                    Ok(n) => {
                        b.wpos += n;
                        self.stats.bytes_sent += n as u64;
                        if !tls || n == 0 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            pending = b.wpos < b.wbuf.len();
            if !pending {
                b.wbuf.clear();
                b.wpos = 0;
                if b.wbuf.capacity() > WBUF_KEEP {
                    b.wbuf.shrink_to(WBUF_KEEP / 4);
                }
            }
        }
        if ws && !failed {
            // Closing: a close frame after the last MQTT bytes, if they
            // all went out.
            if let (Some(reason), false) = (conn.closing, pending) {
                conn.stream.send_close(reason);
            }
            match conn.stream.flush_own() {
                Ok(done) => own_pending = !done,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => own_pending = true,
                Err(_) => failed = true,
            }
            // An HTTP answer or a close frame is out: that was all.
            if conn.stream.is_finished() && conn.closing.is_none() {
                conn.closing = Some(CloseReason::ConnectionLost);
            }
        }
        if !pending && conn.release_wbuf {
            conn.release_wbuf = false;
            conn.release_idle_buffers();
        }
        if failed {
            if conn.closing.is_none() {
                conn.closing = Some(CloseReason::ConnectionLost);
            }
            self.finish_close(ck);
            return;
        }
        if conn.closing.is_some() {
            // Whatever could be written has been; a peer that does not read
            // its refusal does not keep the socket open.
            self.finish_close(ck);
            return;
        }
        let has_waiters = conn.has_waiters();
        let pending = pending || own_pending;
        if pending != conn.want_write && !conn.stream.is_tls() {
            conn.want_write = pending;
            let interest = conn.stream.interest(pending);
            let _ = self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(ck), interest);
        }
        if has_waiters {
            self.release_waiters(ck, false);
        }
        // The kernel took everything and backlog remains: next turn again.
        if let Some(sk) = backlog_of {
            let more = self.sessions.get(sk).is_some_and(|s| s.has_backlog());
            if more && !pending {
                self.write_again.push(ck);
            }
        }
    }

    /// SIGINT/SIGTERM: close every client (publishing wills, as a lost
    /// connection would) and stop.
    fn shutdown(&mut self) {
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for ck in keys {
            if let Some(c) = self.conns.get_mut(ck) {
                if c.closing.is_none() {
                    c.closing = Some(CloseReason::Shutdown);
                }
            }
            self.flush_conn(ck);
        }
        self.flush_dirty();
        self.save_persistence();
    }
}
