//! Back-pressure instead of loss: while a client that messages must go to
//! is congested (output not draining, or its queue past half its limit),
//! the publishers feeding it are not read from, so TCP slows them down.
//! They resume when it drains, when it goes away, or after `MAX_PAUSE` —
//! the bound that breaks cycles of clients waiting on each other; from
//! then on the queue limits are the hard bound, as in mosquitto.

use std::time::Duration;

use super::context::{Connection, Session};
use super::ids::ConnId;
use super::timers::TimerKind;
use super::Core;
use crate::broker::database::Limits;

/// Unwritten output above which a connection is congested.
const HIGH_WATER_BYTES: usize = 1024 * 1024;
/// Queue length treated as congested when max_queued_messages is 0.
const UNLIMITED_QUEUE_HIGH_WATER: usize = 10_000;
const MAX_PAUSE: Duration = Duration::from_secs(2);

pub(super) fn congested(conn: &Connection, sess: &Session, limits: &Limits) -> bool {
    let q = &sess.msgs;
    let queue_full = if limits.max_queued > 0 {
        q.queued_len() * 2 >= limits.max_queued
    } else {
        q.queued_len() >= UNLIMITED_QUEUE_HIGH_WATER
    };
    let bytes_full = limits.max_queued_bytes > 0 && q.queued_bytes * 2 >= limits.max_queued_bytes;
    conn.pending_out() >= HIGH_WATER_BYTES || queue_full || bytes_full
}

impl Core {
    /// After routing a message from `pk`: pause it if any receiver it fed
    /// is congested (never for itself, which would deadlock a client that
    /// subscribes to its own topics).
    pub(super) fn apply_backpressure(&mut self, pk: ConnId) {
        if self.pressure.is_empty() {
            return;
        }
        let Some(serial) = self.conns.get(pk).map(|c| c.serial) else {
            self.pressure.clear();
            return;
        };
        let mut paused = false;
        for tk in std::mem::take(&mut self.pressure) {
            if tk == pk {
                continue;
            }
            if let Some(target) = self.conns.get_mut(tk) {
                let waiters = &mut target.cold_mut().waiters;
                if !waiters.contains(&(pk, serial)) {
                    waiters.push((pk, serial));
                }
                paused = true;
            }
        }
        if let (true, Some(conn)) = (paused, self.conns.get_mut(pk)) {
            if !conn.paused {
                conn.paused = true;
                let at = self
                    .timers
                    .push(self.now + MAX_PAUSE, TimerKind::Resume, pk, serial);
                conn.cold_mut().pause_until = Some(at);
            }
        }
    }

    /// Wakes the publishers waiting on `ck` if it is no longer congested
    /// (or is going away: `force`).
    pub(super) fn release_waiters(&mut self, ck: ConnId, force: bool) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if !conn.has_waiters() {
            return;
        }
        if !force {
            let limits = self.settings.limits;
            let busy = conn
                .session()
                .and_then(|sk| self.sessions.get(sk))
                .map(|s| congested(conn, s, &limits))
                .unwrap_or(false);
            if busy {
                return;
            }
        }
        let waiters = self
            .conns
            .get_mut(ck)
            .map(|c| c.take_waiters())
            .unwrap_or_default();
        for (pk, serial) in waiters {
            self.resume(pk, serial);
        }
    }

    /// Lets a paused publisher be read again (its buffered packets first).
    pub(super) fn resume(&mut self, pk: ConnId, serial: u32) {
        if let Some(conn) = self.conns.get_mut(pk) {
            if conn.serial == serial && conn.paused {
                conn.paused = false;
                if let Some(c) = conn.cold.as_mut() {
                    c.pause_until = None;
                }
                self.read_again.push(pk);
            }
        }
    }

    /// The longest pause of the publisher `pk` ended (only the timer of its
    /// current pause counts: older ones belong to pauses already lifted).
    pub(super) fn pause_expired(&mut self, pk: ConnId, serial: u32, at: u64) {
        let current = self.conns.get(pk).is_some_and(|c| {
            c.serial == serial && c.cold.as_ref().and_then(|c| c.pause_until) == Some(at)
        });
        if current {
            crate::debug!("Resuming {} after the longest pause.", self.conn_id(pk));
            self.resume(pk, serial);
        }
    }
}
