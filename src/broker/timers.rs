//! The timer queue: a min-heap of deadlines whose earliest one is the poll
//! timeout, so an idle broker sleeps. Entries are never removed early; each
//! carries the serial of what it belongs to and is ignored when popped if
//! that has changed, which keeps every operation O(log n) with no scans.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    pub at: Instant,
    pub kind: TimerKind,
    pub key: usize,
    pub serial: u64,
}

#[derive(Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<Timer>>,
}

impl TimerQueue {
    pub fn push(&mut self, at: Instant, kind: TimerKind, key: usize, serial: u64) {
        self.heap.push(Reverse(Timer {
            at,
            kind,
            key,
            serial,
        }));
    }

    /// Time until the earliest deadline, or None when there is none.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(t)| t.at.saturating_duration_since(now))
    }

    /// The next timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse(t)) if t.at <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_only_when_due() {
        let mut q = TimerQueue::default();
        let t0 = Instant::now();
        q.push(t0 + Duration::from_secs(5), TimerKind::Keepalive, 1, 1);
        q.push(t0 + Duration::from_secs(1), TimerKind::SessionExpiry, 2, 7);
        assert_eq!(q.timeout(t0), Some(Duration::from_secs(1)));
        assert!(q.pop_due(t0).is_none());
        let t = q.pop_due(t0 + Duration::from_secs(2)).unwrap();
        assert_eq!((t.key, t.serial), (2, 7));
        assert!(q.pop_due(t0 + Duration::from_secs(2)).is_none());
        assert!(q.timeout(t0).is_some());
    }
}
