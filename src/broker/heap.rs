//! Heap accounting for `$SYS/broker/heap/*` and `memory_limit`: a global
//! allocator that counts the bytes it hands out. Only the `mosquitto`
//! binary installs it; elsewhere the counters stay at zero and nothing is
//! limited or published.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes allocated now, and the most ever at once. Relaxed atomics: the
/// resolver threads allocate too, but nobody needs ordering, only sums.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static MAXIMUM: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counted.
pub struct CountingAlloc;

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    if now > MAXIMUM.load(Ordering::Relaxed) {
        MAXIMUM.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(by: usize) {
    CURRENT.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every call is passed to `System` unchanged; the counters are
// bookkeeping only.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Heap bytes in use now (0 when the counting allocator is not installed).
pub fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// The most heap bytes ever in use at once.
pub fn maximum() -> usize {
    MAXIMUM.load(Ordering::Relaxed)
}

/// Whether `memory_limit` (0: none) leaves room for `more` bytes.
pub fn has_room(limit: u64, more: usize) -> bool {
    limit == 0 || (current() as u64).saturating_add(more as u64) <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_it_hands_out_and_takes_back() {
        let a = CountingAlloc;
        let layout = Layout::from_size_align(4096, 8).unwrap();
        let before = current();
        // SAFETY: a valid layout; the pointer is freed with the same one.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            let p = a.realloc(p, layout, 8192);
            assert!(!p.is_null());
            // Other test threads use the system allocator directly, so
            // these counters move only by what this test does.
            assert_eq!(current(), before + 8192);
            assert!(maximum() >= before + 8192);
            a.dealloc(p, Layout::from_size_align(8192, 8).unwrap());
        }
        assert_eq!(current(), before);
        assert!(has_room(0, usize::MAX));
        assert!(!has_room(1, 2));
    }
}
