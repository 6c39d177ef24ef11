//! The timer queue: a min-heap of deadlines whose earliest one is the poll
//! timeout, so an idle broker sleeps. Entries are never removed early; each
//! carries the serial of what it belongs to and is ignored when popped if
//! that has changed, which keeps every operation O(log n) with no scans.
//!
//! Deadlines are whole milliseconds on the queue's own clock (since it was
//! made), rounded up so a timer never fires early; an entry is 16 bytes
//! because there is one per connection.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::ids::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Keepalive or CONNECT deadline of the connection in `key`.
    Keepalive,
    /// Expiry of the disconnected persistent session in `key`.
    SessionExpiry,
    /// The next `$SYS` update.
    SysTree,
    /// The next periodic save of the database.
    Autosave,
    /// A bridge's reconnect, PINGREQ and lazy idle check (`key` is the
    /// bridge index, `serial` its attempt).
    BridgeRestart,
    BridgePing,
    BridgeIdle,
    /// Longest a publisher in `key` stays paused by back-pressure.
    Resume,
    /// A bridge on a secondary address checks whether its primary is back
    /// (`key` and `serial` as for the other bridge timers).
    BridgeProbe,
    /// The will delay interval of the disconnected session in `key`.
    WillDelay,
}

/// Up to sixteen kinds: four bits below the deadline.
const KIND_BITS: u32 = 4;

impl TimerKind {
    fn from_bits(b: u64) -> TimerKind {
        match b & ((1 << KIND_BITS) - 1) {
            0 => TimerKind::Keepalive,
            1 => TimerKind::SessionExpiry,
            2 => TimerKind::SysTree,
            3 => TimerKind::Autosave,
            4 => TimerKind::BridgeRestart,
            5 => TimerKind::BridgePing,
            6 => TimerKind::BridgeIdle,
            7 => TimerKind::Resume,
            8 => TimerKind::BridgeProbe,
            _ => TimerKind::WillDelay,
        }
    }
}

/// A due timer as handed back by [`TimerQueue::pop_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// Deadline in milliseconds on the queue's clock.
    pub at: u64,
    pub kind: TimerKind,
    pub key: usize,
    pub serial: u32,
}

/// The stored form: deadline and kind in one word (ordered by deadline
/// first), then key and serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at_kind: u64,
    key: u32,
    serial: u32,
}

pub struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    epoch: Instant,
}

/// What a timer is about: a connection, a session, a bridge (their ids),
/// or nothing in particular (0).
pub trait TimerKey {
    fn timer_key(self) -> usize;
}

impl<K: Id> TimerKey for K {
    fn timer_key(self) -> usize {
        self.index()
    }
}

impl TimerKey for usize {
    fn timer_key(self) -> usize {
        self
    }
}

/// A duration in whole milliseconds (saturating).
pub fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TimerQueue {
    /// An empty queue whose clock starts at `epoch`.
    pub fn new(epoch: Instant) -> TimerQueue {
        TimerQueue {
            heap: BinaryHeap::new(),
            epoch,
        }
    }

    /// `t` on the queue's clock, rounded down: "now" for due checks.
    pub fn now_ms(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        d.as_secs() * 1000 + u64::from(d.subsec_millis())
    }

    /// `t` on the queue's clock, rounded up: a deadline never comes early.
    pub fn deadline_ms(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        d.as_secs() * 1000 + u64::from(d.subsec_nanos().div_ceil(1_000_000))
    }

    /// Schedules at `at` (rounded up to the millisecond); returns the
    /// deadline as stored, which the popped timer will carry.
    pub fn push(&mut self, at: Instant, kind: TimerKind, key: impl TimerKey, serial: u32) -> u64 {
        let at = self.deadline_ms(at);
        self.push_ms(at, kind, key, serial);
        at
    }

    /// Schedules at `at` milliseconds on the queue's clock. Keys are typed
    /// ids or small indexes: they fit in 32 bits (and the serial check
    /// guards against any that would not).
    pub fn push_ms(&mut self, at: u64, kind: TimerKind, key: impl TimerKey, serial: u32) {
        let key = key.timer_key();
        let at = at.min(u64::MAX >> KIND_BITS);
        self.heap.push(Reverse(Entry {
            at_kind: (at << KIND_BITS) | kind as u64,
            key: key as u32,
            serial,
        }));
    }

    /// Time until the earliest deadline, or None when there is none.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse(e)| {
            let at = self.epoch + Duration::from_millis(e.at_kind >> KIND_BITS);
            at.saturating_duration_since(now)
        })
    }

    /// The next timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let now = self.now_ms(now);
        match self.heap.peek() {
            Some(Reverse(e)) if e.at_kind >> KIND_BITS <= now => {
                self.heap.pop().map(|Reverse(e)| Timer {
                    at: e.at_kind >> KIND_BITS,
                    kind: TimerKind::from_bits(e.at_kind),
                    key: e.key as usize,
                    serial: e.serial,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_only_when_due() {
        let mut q = TimerQueue::new(Instant::now());
        let t0 = q.epoch;
        q.push(t0 + Duration::from_secs(5), TimerKind::Keepalive, 1, 1);
        q.push(t0 + Duration::from_secs(1), TimerKind::SessionExpiry, 2, 7);
        assert_eq!(q.timeout(t0), Some(Duration::from_secs(1)));
        assert!(q.pop_due(t0).is_none());
        let t = q.pop_due(t0 + Duration::from_secs(2)).unwrap();
        assert_eq!((t.key, t.serial, t.kind), (2, 7, TimerKind::SessionExpiry));
        assert_eq!(t.at, 1000);
        assert!(q.pop_due(t0 + Duration::from_secs(2)).is_none());
        assert!(q.timeout(t0).is_some());
    }

    #[test]
    fn kinds_round_trip_and_deadlines_round_up() {
        let mut q = TimerQueue::new(Instant::now());
        let t0 = q.epoch;
        let kinds = [
            TimerKind::Keepalive,
            TimerKind::SessionExpiry,
            TimerKind::SysTree,
            TimerKind::Autosave,
            TimerKind::BridgeRestart,
            TimerKind::BridgePing,
            TimerKind::BridgeIdle,
            TimerKind::Resume,
            TimerKind::BridgeProbe,
            TimerKind::WillDelay,
        ];
        for (i, k) in kinds.iter().enumerate() {
            q.push_ms(10, *k, i, i as u32);
        }
        let mut seen = Vec::new();
        while let Some(t) = q.pop_due(t0 + Duration::from_millis(10)) {
            assert_eq!(t.key as u32, t.serial);
            seen.push(t.kind);
        }
        assert_eq!(seen, kinds, "same deadline: in kind order");
        let at = q.push(t0 + Duration::from_micros(1500), TimerKind::Resume, 0, 0);
        assert_eq!(at, 2);
        assert!(q.pop_due(t0 + Duration::from_micros(1999)).is_none());
        assert!(q.pop_due(t0 + Duration::from_millis(2)).is_some());
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
