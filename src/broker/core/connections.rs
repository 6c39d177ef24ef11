//! Connections' life in the core: opened for an accepted socket, their
//! output handed to the shell and back, closed (will, session detached or
//! ended), and sessions made and removed.

use std::rc::Rc;
use std::time::Instant;

use super::context::{CloseReason, Connection, Role, Session};
use super::ids::{ConnId, ListenerId, SessionId};
use super::timers::{self, TimerKind};
use super::Core;
use crate::broker::database::Message;
use crate::protocol::QoS;

impl Core {
    /// Takes on a connection accepted on listener spec `listener`: it has
    /// `connect_timeout` to send CONNECT. None if connection ids ran out.
    pub fn open_client(&mut self, listener: ListenerId, now: Instant) -> Option<ConnId> {
        self.now = now;
        let serial = self.serial();
        let now_ms = self.timers.now_ms(now);
        let spec = self.settings.listeners.get(listener.index());
        let mount = spec.and_then(|s| s.mount_point.as_deref()).map(Rc::from);
        let max_qos = spec
            .and_then(|s| QoS::from_u8(s.max_qos))
            .unwrap_or(QoS::ExactlyOnce);
        let mut conn = Connection::new(serial, Role::Client(listener), now_ms as u32);
        if mount.is_some() {
            conn.cold_mut().mount_point = mount;
        }
        conn.max_qos = max_qos;
        let limit = timers::duration_ms(self.settings.connect_timeout);
        let deadline = now_ms.saturating_add(limit);
        // connect_timeout 0: no deadline.
        conn.timer_at = deadline as u32;
        conn.timer_on = limit > 0;
        let ck = self.conns.insert(conn)?;
        if let Some(n) = self.listener_counts.get_mut(listener.index()) {
            *n += 1;
        }
        if limit > 0 {
            self.timers
                .push_ms(deadline, TimerKind::Keepalive, ck, serial);
        }
        Some(ck)
    }

    /// Connections open on listener spec `listener`.
    pub fn listener_count(&self, listener: ListenerId) -> usize {
        self.listener_counts
            .get(listener.index())
            .copied()
            .unwrap_or(0)
    }

    /// Asks for `ck` to be flushed this turn (the shell has output of its
    /// own for it, or the socket became writable).
    pub fn want_flush(&mut self, ck: ConnId) {
        if let Some(conn) = self.conns.get_mut(ck) {
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    /// Whether the shell should read from `ck` now: open, not closing and
    /// not paused by back-pressure.
    pub fn wants_input(&self, ck: ConnId) -> bool {
        self.conns
            .get(ck)
            .is_some_and(|c| c.closing.is_none() && !c.paused)
    }

    /// Marks a connection to be closed once its pending output is written
    /// (a CONNACK refusal, say). The close itself happens in the flush.
    pub fn schedule_close(&mut self, ck: ConnId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(ck) {
            if conn.closing.is_none() {
                conn.closing = Some(reason);
            }
            Self::mark_dirty(&mut self.dirty, conn, ck);
        }
    }

    /// Removes a connection whose socket the shell has closed: logs why,
    /// publishes its will unless it sent DISCONNECT, and detaches or ends
    /// its session.
    pub fn close_conn(&mut self, ck: ConnId, now: Instant) {
        self.now = now;
        let Some(mut conn) = self.conns.try_remove(ck) else {
            return;
        };
        for (pk, serial) in conn.take_waiters() {
            self.resume(pk, serial);
        }
        let count = conn
            .listener()
            .and_then(|l| self.listener_counts.get_mut(l.index()));
        if let Some(n) = count {
            *n = n.saturating_sub(1);
        }
        let reason = conn.closing.unwrap_or(CloseReason::ConnectionLost);
        if let Some(i) = conn.bridge() {
            self.bridge_lost(i, ck);
            return;
        }
        if self.settings.connection_messages {
            log_close(self.log_id_of(&conn), reason);
        }
        if let Some(will) = conn.take_will() {
            // The connection's own identity: after a takeover the session
            // already has the new connection's username.
            let source = conn.session().and_then(|sk| {
                let id = &self.sessions.get(sk)?.client_id;
                let user = conn.cold.as_ref().and_then(|c| c.username.as_ref());
                self.new_source(id, user, conn.listener())
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
    pub(crate) fn detach_session(&mut self, sk: SessionId) {
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
                .push(self.now + after, TimerKind::SessionExpiry, sk, serial);
        }
    }

    /// A new session for `client_id`, indexed by it; None if session ids
    /// have run out.
    pub(crate) fn new_session(&mut self, client_id: &str, clean: bool) -> Option<SessionId> {
        let id: Rc<str> = Rc::from(client_id);
        let sk = self.sessions.insert(Session::new(Rc::clone(&id), clean))?;
        self.by_id.insert(id, sk);
        Some(sk)
    }

    /// Ends a session: its subscriptions and queued messages go.
    pub(super) fn remove_session(&mut self, sk: SessionId) {
        let Some(sess) = self.sessions.try_remove(sk) else {
            return;
        };
        for (filter, _) in &sess.filters {
            self.subs.unsubscribe(filter, sk.index());
        }
        if self.by_id.get(&*sess.client_id) == Some(&sk) {
            self.by_id.remove(&*sess.client_id);
        }
    }

    /// Before the shell writes `ck`: tops its output up from the retained
    /// backlog, so that goes in this write too. Returns the session whose
    /// backlog was used, for `after_flush`.
    pub fn before_flush(&mut self, ck: ConnId) -> Option<SessionId> {
        let backlog_of = self
            .conns
            .get(ck)
            .and_then(|c| c.session())
            .filter(|sk| self.sessions.get(*sk).is_some_and(|s| s.has_backlog()));
        if let Some(sk) = backlog_of {
            self.pump_backlog(ck, sk);
        }
        if let Some(conn) = self.conns.get_mut(ck) {
            conn.dirty = false;
        }
        backlog_of
    }

    /// After the shell wrote what it could of `ck` (`pending`: some is
    /// left; `wrote`: some was written): wakes publishers waiting on it, and
    /// asks for another write next turn if backlog remains and the kernel
    /// took everything.
    pub fn after_flush(
        &mut self,
        ck: ConnId,
        backlog_of: Option<SessionId>,
        pending: bool,
        wrote: bool,
    ) {
        if wrote {
            self.wrote_to(ck);
        }
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if conn.has_waiters() {
            self.release_waiters(ck, false);
        }
        if let Some(sk) = backlog_of {
            let more = self.sessions.get(sk).is_some_and(|s| s.has_backlog());
            if more && !pending {
                self.write_again.push(ck);
            }
        }
    }

    /// Disconnects clients the reloaded password file no longer admits.
    pub fn recheck_clients(&mut self) {
        let mut refused = Vec::new();
        for (ck, conn) in self.conns.iter() {
            let Some(sess) = conn.session().and_then(|sk| self.sessions.get(sk)) else {
                continue;
            };
            let spec = conn
                .listener()
                .and_then(|l| self.settings.listeners.get(l.index()));
            let Some(spec) = spec else {
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
}

/// The log line for a client's connection closing, as mosquitto words it.
fn log_close(id: &str, reason: CloseReason) {
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
