//! Back-pressure instead of loss, without letting one client decide
//! everyone's speed.
//!
//! A receiver is *congested* when its output is not draining fast enough
//! (1 MiB unwritten) or its queue is past half its limit. A congested
//! receiver that is still *draining* (it made progress on what congests
//! it in the last `STALL_AFTER`: output written, or queued messages let
//! into flight by its acknowledgements) pauses the publishers feeding it: they are not
//! read from, so TCP slows them down and QoS 1/2 stays lossless. A
//! congested receiver that made no progress for `STALL_AFTER` is
//! *stalled*: it pauses nobody until it drains again; its QoS 0 messages
//! are dropped once its buffers are full, its QoS 1/2 ones queue up to the
//! queue limits and are then dropped (counted, logged once per episode).
//!
//! A pause ends when the receivers drain (to half the marks that congest
//! them), go away, or after `STALL_AFTER`
//! — by then a receiver that did not move is stalled and no longer counts,
//! which also breaks cycles of clients waiting on each other.

use std::time::{Duration, Instant};

use super::context::{Connection, Session};
use super::ids::ConnId;
use super::timers::{TimerKind, TimerQueue};
use super::Core;
use crate::broker::database::Limits;

/// Unwritten output above which a connection is congested.
const HIGH_WATER_BYTES: usize = 1024 * 1024;
/// Queue length treated as congested when max_queued_messages is 0.
const UNLIMITED_QUEUE_HIGH_WATER: usize = 10_000;
/// A congested receiver that wrote nothing for this long is stalled. Long
/// enough for a draining client's hiccups (a lost segment waits at least
/// TCP's 200 ms minimum retransmission timeout; a busy client thread is
/// descheduled for tens of milliseconds), short enough that a stalled
/// client costs its publishers one pause of half a second per episode.
pub(super) const STALL_AFTER: Duration = Duration::from_millis(500);
const STALL_AFTER_MS: u32 = STALL_AFTER.as_millis() as u32;
/// The longest pause: a receiver that has not moved by then is stalled.
const MAX_PAUSE: Duration = STALL_AFTER;

/// Whether a QoS 0 message for `conn` is dropped: its buffers are full. A
/// stalled client gets no more than the congestion mark, a draining one up
/// to `cap` (it will take it).
pub(super) fn qos0_full(conn: &Connection, cap: usize) -> bool {
    let pending = conn.pending_out();
    pending > cap || (pending >= HIGH_WATER_BYTES && conn.is_stalled())
}

/// After a delivery to `conn`: whether its publisher must be slowed down.
/// Yes if the receiver is congested (or a message was just dropped for it)
/// and still draining; a stalled one holds nobody back. Notes when a
/// congested receiver was first seen stuck (progress clears it:
/// `Core::made_progress`).
pub(super) fn holds_back(
    conn: &mut Connection,
    sess: &Session,
    limits: &Limits,
    dropped: bool,
    clock: (&TimerQueue, Instant),
) -> bool {
    if !dropped && !congested(conn, sess, limits) {
        if let Some(c) = conn.cold.as_mut() {
            c.stuck_since = None;
            c.stalled = false;
        }
        return false;
    }
    let now = clock.0.now_ms(clock.1) as u32;
    let cold = conn.cold_mut();
    let since = *cold.stuck_since.get_or_insert(now);
    cold.stalled = now.wrapping_sub(since) >= STALL_AFTER_MS;
    !cold.stalled
}

/// Ends `conn`'s pause.
fn unpause(conn: &mut Connection) {
    conn.paused = false;
    if let Some(c) = conn.cold.as_mut() {
        c.pause_until = None;
        c.released_by = None;
    }
}

/// `conn` made progress (see `Core::made_progress`).
pub(super) fn progressed(conn: &mut Connection) {
    if let Some(c) = conn.cold.as_mut() {
        c.stuck_since = None;
        c.stalled = false;
    }
}

pub(super) fn congested(conn: &Connection, sess: &Session, limits: &Limits) -> bool {
    conn.pending_out() >= HIGH_WATER_BYTES || queue_congested(sess, limits)
}

/// The session's queue is past half its limit: only acknowledgements (which
/// let queued messages into flight) drain it, not writes.
fn queue_congested(sess: &Session, limits: &Limits) -> bool {
    queue_past(sess, limits, 2)
}

/// The session's queue holds at least 1/`part` of its limits.
fn queue_past(sess: &Session, limits: &Limits, part: usize) -> bool {
    let q = &sess.msgs;
    let queue_full = if limits.max_queued > 0 {
        q.queued_len() * part >= limits.max_queued
    } else {
        q.queued_len() * part >= UNLIMITED_QUEUE_HIGH_WATER * 2
    };
    let bytes_full =
        limits.max_queued_bytes > 0 && q.queued_bytes * part >= limits.max_queued_bytes;
    queue_full || bytes_full
}

/// Whether a congested receiver drained enough to let its publishers go:
/// half the congestion marks (a quarter of the queue, half the unwritten
/// bytes). Releasing them as soon as it is below the marks paused and
/// resumed each publisher on nearly every message of a fan-in (a pause,
/// a timer, a resume and a PUBACK write of its own per message); with this
/// margin each resume lets a run of messages through.
fn drained(conn: &Connection, sess: &Session, limits: &Limits) -> bool {
    conn.pending_out() < HIGH_WATER_BYTES / 2 && !queue_past(sess, limits, 4)
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
        // Taken and put back cleared, so its buffer is reused: a fan-in
        // publisher pauses on nearly every message.
        let mut pressure = std::mem::take(&mut self.pressure);
        for &tk in &pressure {
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
        pressure.clear();
        self.pressure = pressure;
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

    /// Some of `ck`'s output was written. That is progress unless its
    /// queue is what congests it: a client that reads but does not
    /// acknowledge (its PINGRESPs go out) is not draining.
    pub(super) fn wrote_to(&mut self, ck: ConnId) {
        let Some(conn) = self.conns.get(ck) else {
            return;
        };
        if conn.cold.as_ref().is_none_or(|c| c.stuck_since.is_none()) {
            return;
        }
        let limits = self.settings.limits;
        let queue = conn
            .session()
            .and_then(|sk| self.sessions.get(sk))
            .is_some_and(|s| queue_congested(s, &limits));
        if !queue {
            self.made_progress(ck);
        }
    }

    /// `ck` drained some of what congested it (output written, or queued
    /// messages let into flight by its acknowledgements): it counts for
    /// back-pressure again.
    pub(super) fn made_progress(&mut self, ck: ConnId) {
        if let Some(conn) = self.conns.get_mut(ck) {
            progressed(conn);
        }
    }

    /// Wakes the publishers waiting on `ck` once it has drained (see
    /// `drained`), or is going away (`force`).
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
                .map(|s| !drained(conn, s, &limits))
                .unwrap_or(false);
            if busy {
                return;
            }
        }
        let mut waiters = self
            .conns
            .get_mut(ck)
            .map(|c| c.take_waiters())
            .unwrap_or_default();
        for &(pk, serial) in &waiters {
            if force {
                self.resume(pk, serial);
            } else {
                self.release(pk, serial, ck);
            }
        }
        // The emptied list goes back for its buffer (resuming touches no
        // waiter list).
        waiters.clear();
        if let Some(c) = self.conns.get_mut(ck).and_then(|c| c.cold.as_mut()) {
            if c.waiters.is_empty() {
                c.waiters = waiters;
            }
        }
    }

    /// Lets a paused publisher be read again (its buffered packets first).
    pub(super) fn resume(&mut self, pk: ConnId, serial: u32) {
        if let Some(conn) = self.conns.get_mut(pk) {
            if conn.serial == serial && conn.paused {
                unpause(conn);
                self.read_again.push(pk);
            }
        }
    }

    /// Receiver `rk` drained: its paused publisher `pk` gets a turn to be
    /// read, in the order they paused, but only if `rk` has room left when
    /// that turn comes. Resuming every waiter at once let the first few
    /// refill the queue and each of the rest read one message, pause again
    /// and cost a PUBACK write of its own (fan-in: 2.5 messages per write).
    fn release(&mut self, pk: ConnId, serial: u32, rk: ConnId) {
        if let Some(conn) = self.conns.get_mut(pk) {
            if conn.serial == serial && conn.paused {
                conn.cold_mut().released_by = Some(rk);
                self.read_again.push(pk);
            }
        }
    }

    /// Before reading `pk`: a publisher released by a receiver (`release`)
    /// is resumed if that receiver is not congested again by now, or else
    /// waits on it once more, behind the others.
    pub(super) fn admit_released(&mut self, pk: ConnId) {
        let Some(conn) = self.conns.get_mut(pk).filter(|c| c.paused) else {
            return;
        };
        // `unpause` clears it: only a paused publisher can hold one.
        let Some(rk) = conn.cold.as_mut().and_then(|c| c.released_by.take()) else {
            return;
        };
        let serial = conn.serial;
        let limits = self.settings.limits;
        let full = self.conns.get(rk).is_some_and(|r| {
            r.session()
                .and_then(|sk| self.sessions.get(sk))
                .is_some_and(|s| congested(r, s, &limits))
        });
        match self.conns.get_mut(rk) {
            Some(r) if full => {
                let waiters = &mut r.cold_mut().waiters;
                if !waiters.contains(&(pk, serial)) {
                    waiters.push((pk, serial));
                }
            }
            // Being read now: no second read from `read_again`.
            _ => {
                if let Some(conn) = self.conns.get_mut(pk) {
                    unpause(conn);
                }
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
