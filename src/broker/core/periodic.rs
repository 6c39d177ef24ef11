//! Time-driven work: due timers (keepalive, session expiry, pauses,
//! bridges, `$SYS`, autosave) at the time the shell gives, and the
//! periodic publications.

use std::rc::Rc;
use std::time::Instant;

use super::context::CloseReason;
use super::ids::{BridgeId, ConnId, SessionId};
use super::timers::{self, TimerKind};
use super::Core;
use crate::broker::database::Message;
use crate::protocol::QoS;

impl Core {
    /// Runs every timer due at `now`.
    pub fn run_timers(&mut self, now: Instant) {
        self.now = now;
        while let Some(t) = self.timers.pop_due(now) {
            let (key, serial) = (t.key, t.serial);
            match t.kind {
                TimerKind::Keepalive => {
                    if let Some(ck) = ConnId::from_index(key) {
                        self.check_keepalive(ck, serial, t.at);
                    }
                }
                TimerKind::Autosave => {
                    self.save_persistence();
                    self.schedule_autosave(now);
                }
                TimerKind::BridgeRestart
                | TimerKind::BridgePing
                | TimerKind::BridgeIdle
                | TimerKind::BridgeProbe => {
                    if let Some(i) = BridgeId::from_index(key) {
                        self.bridge_timer(t.kind, i, serial);
                    }
                }
                TimerKind::SysTree => {
                    self.sys_update(now);
                    self.schedule_sys(now);
                }
                TimerKind::Resume => {
                    if let Some(pk) = ConnId::from_index(key) {
                        self.pause_expired(pk, serial, t.at);
                    }
                }
                TimerKind::SessionExpiry => {
                    if let Some(sk) = SessionId::from_index(key) {
                        self.session_expired(sk, serial);
                    }
                }
                TimerKind::WillDelay => {
                    if let Some(sk) = SessionId::from_index(key) {
                        self.will_delay_passed(sk, serial);
                    }
                }
            }
        }
    }

    /// A disconnected session's expiry came, unless it reconnected since.
    fn session_expired(&mut self, sk: SessionId, serial: u32) {
        let expired = self
            .sessions
            .get(sk)
            .map(|s| s.conn().is_none() && s.expiry_serial == serial)
            .unwrap_or(false);
        if expired {
            if let Some(s) = self.sessions.get(sk) {
                crate::notice!("Expiring client {} due to timeout.", s.client_id);
            }
            self.stats.clients_expired += 1;
            self.remove_session(sk);
        }
    }

    /// A connection's deadline came: close it if it has been silent for
    /// 1.5 × keepalive (or never sent CONNECT), otherwise set the next one
    /// and give back the buffers of a client that has nothing in them.
    fn check_keepalive(&mut self, ck: ConnId, serial: u32, at: u64) {
        let now = self.timers.now_ms(self.now);
        let Some(conn) = self.conns.get_mut(ck) else {
            return;
        };
        let live = conn.timer_on && conn.timer_at == at as u32;
        if conn.serial != serial || !live || conn.closing.is_some() {
            return; // stale entry
        }
        let limit = if conn.session().is_none() {
            timers::duration_ms(self.settings.connect_timeout)
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

    /// SIGUSR2: the subscription tree to the log, as mosquitto does.
    pub fn dump_subscriptions(&self) {
        let mut lines = Vec::new();
        self.subs.dump(&mut lines);
        crate::notice!("Subscriptions: {}", lines.len());
        for (filter, s) in lines {
            let id = SessionId::from_index(s.session)
                .and_then(|sk| self.sessions.get(sk))
                .map(|x| &*x.client_id)
                .unwrap_or("?");
            crate::notice!("{filter} {id} (QoS {})", s.opts.qos.as_u8());
        }
    }

    /// `log_dest topic`: log lines become `$SYS/broker/log/...` messages.
    pub fn publish_log_lines(&mut self) {
        let mut lines = Vec::new();
        crate::broker::logging::take_topic_lines(&mut lines);
        for (topic, line) in lines {
            let qos = QoS::ExactlyOnce;
            let msg = Message::new(topic.to_owned(), line.into_bytes(), qos, false);
            self.publish_message(Rc::new(msg), None);
        }
    }

    /// Starts the periodic work: `$SYS` and autosave.
    pub fn start(&mut self, now: Instant) {
        self.now = now;
        self.sys_start(now);
        self.schedule_sys(now);
        self.schedule_autosave(now);
    }

    fn schedule_sys(&mut self, now: Instant) {
        let secs = self.settings.sys_interval;
        if secs > 0 {
            let at = now + std::time::Duration::from_secs(u64::from(secs));
            self.timers.push(at, TimerKind::SysTree, 0, 0);
        }
    }
}
