//! Connections' life in the core: opened for an accepted socket, their
//! output handed to the shell and back, closed (will, session detached or
//! ended), and sessions made and removed.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::context::{CloseReason, Connection, Role, Session};
use super::ids::{ConnId, ListenerId, SessionId};
use super::timers::{self, TimerKind};
use super::Core;
use crate::broker::database::{Message, MsgProps, MsgSource};
use crate::protocol::properties::id;
use crate::protocol::{disconnect_len, Packet, Properties, ProtocolVersion, QoS, Will};

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
            conn.refresh_plain_out();
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
                // An MQTT 5 client is told why (spec 4.13.2).
                let v5 = conn.protocol == ProtocolVersion::V5 && conn.session().is_some();
                if let (true, Some((code, text))) = (v5, reason.v5_disconnect()) {
                    // Request problem information 0 does not cover
                    // DISCONNECT (spec 3.1.2.11.7).
                    let mut props = Properties::default();
                    props.set_reason_string(text);
                    // Not past the client's maximum packet size: the
                    // reason string goes first (spec 3.14.2.2.3).
                    let max = conn.cold.as_ref().map_or(0, |c| c.v5.max_packet as usize);
                    let v5 = ProtocolVersion::V5;
                    if max > 0 && disconnect_len(code.0, &props, v5) > max {
                        props = Properties::default();
                    }
                    let p = Packet::Disconnect(code.0, props);
                    p.encode(conn.out(), ProtocolVersion::V5);
                    self.stats.msgs_sent += 1;
                }
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
        // Gone in the middle of its CONNECT's AUTH exchange.
        let authenticating = conn
            .cold
            .as_ref()
            .is_some_and(|c| c.pending_connect.is_some());
        if let Some(backend) = self.auth.as_mut().filter(|_| authenticating) {
            backend.abandon(ck.index() as u32);
        }
        if let Some(s) = conn.session().and_then(|sk| self.sessions.get(sk)) {
            let rc = i32::from(reason != CloseReason::Disconnect) * 7;
            crate::broker::plugin::client_gone(&s.client_id, ck.index() as u32, rc);
        }
        let owned = conn
            .session()
            .filter(|sk| self.sessions.get(*sk).is_some_and(|s| s.conn() == Some(ck)));
        // The connection's own identity: after a takeover the session
        // already has the new connection's username.
        let will = conn.take_will().map(|w| {
            let source = conn.session().and_then(|sk| {
                let id = &self.sessions.get(sk)?.client_id;
                let user = conn.cold.as_ref().and_then(|c| c.username.as_ref());
                self.new_source(id, user, conn.listener())
            });
            (w, source)
        });
        if let Some(sk) = conn.session() {
            self.connected = self.connected.saturating_sub(1);
            if owned.is_some() {
                self.detach_session(sk);
            }
        }
        if let Some((will, source)) = will {
            self.will_or_wait(will, source, owned);
        }
    }

    /// A will to publish: now, or (MQTT 5 will delay interval) once the
    /// delay has passed if the detached session `sk` is still away.
    fn will_or_wait(&mut self, will: Will, source: Option<Rc<MsgSource>>, sk: Option<SessionId>) {
        let delay = will.properties.will_delay_interval().unwrap_or(0);
        let sess = sk.and_then(|sk| self.sessions.get_mut(sk).map(|s| (sk, s)));
        match sess {
            // A session that ended ends the wait too (spec 3.1.3.2.2).
            Some((sk, s)) if delay > 0 && s.conn().is_none() => {
                let serial = s.expiry_serial;
                s.cold_mut().will = Some((will, source));
                let at = self.now + Duration::from_secs(u64::from(delay));
                self.timers.push(at, TimerKind::WillDelay, sk, serial);
            }
            _ => self.publish_will(will, source),
        }
    }

    /// At shutdown: wills still waiting out their delay are published now,
    /// as mosquitto does (wills are not saved in the database).
    pub fn publish_delayed_wills(&mut self) {
        let waiting: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.cold.as_ref().is_some_and(|c| c.will.is_some()))
            .map(|(sk, _)| sk)
            .collect();
        for sk in waiting {
            let will = self
                .sessions
                .get_mut(sk)
                .and_then(|s| s.cold.as_mut())
                .and_then(|c| c.will.take());
            if let Some((will, source)) = will {
                self.publish_will(will, source);
            }
        }
    }

    /// The will delay of session `sk` (away since `serial`) has passed.
    pub(super) fn will_delay_passed(&mut self, sk: SessionId, serial: u32) {
        let will = match self.sessions.get_mut(sk) {
            Some(s) if s.conn().is_none() && s.expiry_serial == serial => {
                s.cold.as_mut().and_then(|c| c.will.take())
            }
            _ => None,
        };
        if let Some((will, source)) = will {
            self.publish_will(will, source);
        }
    }

    /// Publishes a will through the normal path.
    pub(super) fn publish_will(&mut self, will: Will, source: Option<Rc<MsgSource>>) {
        // The will's properties travel with it, all but its delay; its
        // message expiry counts from now.
        let mut props = will.properties;
        props.remove(id::WILL_DELAY_INTERVAL);
        let v5 = MsgProps::from_publish(props, self.now);
        let msg = Message::new(will.topic, will.payload, will.qos, will.retain);
        self.publish_message(Rc::new(msg.with_source(source).with_props(v5)), None);
    }

    /// The session lost its connection: a clean one ends, a persistent one
    /// waits (until `persistent_client_expiration`, if set).
    pub(crate) fn detach_session(&mut self, sk: SessionId) {
        self.detach_session_within(sk, None);
    }

    /// As `detach_session`, expiring within `left` at the latest (a
    /// session restored from the database with part of its time used).
    pub(crate) fn detach_session_within(&mut self, sk: SessionId, left: Option<Duration>) {
        let serial = self.serial();
        let Some(sess) = self.sessions.get_mut(sk) else {
            return;
        };
        sess.set_conn(None);
        if sess.clean || sess.expiry_interval == 0 {
            self.remove_session(sk);
            return;
        }
        sess.expiry_serial = serial;
        // mosquitto's rule: the shorter of the session's own interval and
        // persistent_client_expiration (3.x sessions have only the latter).
        let own = (sess.expiry_interval != u32::MAX)
            .then(|| Duration::from_secs(u64::from(sess.expiry_interval)));
        let after = [own, self.settings.persistent_client_expiration, left]
            .into_iter()
            .flatten()
            .min();
        if let Some(after) = after {
            let at = self
                .timers
                .push(self.now + after, TimerKind::SessionExpiry, sk, serial);
            sess.cold_mut().expires_ms = Some(at);
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
        let Some(mut sess) = self.sessions.try_remove(sk) else {
            return;
        };
        // A will still waiting out its delay goes now the session ends.
        if let Some((will, source)) = sess.cold.as_mut().and_then(|c| c.will.take()) {
            self.publish_will(will, source);
        }
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
                    let id = &sess.client_id;
                    d.files
                        .reauthenticate(spec.allow_anonymous, id, username, password)
                        .is_ok()
                });
            if !ok {
                refused.push(ck);
            }
        }
        for ck in refused {
            crate::notice!("Client {} disconnected, not authorised.", self.conn_id(ck));
            self.schedule_close(ck, CloseReason::Administrative);
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
        CloseReason::Protocol | CloseReason::TopicAlias => {
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
        CloseReason::ReceiveMaximum => {
            crate::notice!("Client {id} disconnected: receive maximum exceeded.")
        }
        CloseReason::TakenOver
        | CloseReason::Refused
        | CloseReason::Shutdown
        | CloseReason::Administrative => {}
        CloseReason::NotAuthorized => {
            crate::notice!("Client {id} disconnected: re-authentication failed.")
        }
    }
}
