//! Counting helpers: a latency histogram and a per-publisher "seen" bit set.

/// A log-linear histogram of nanosecond values: exact below 64 ns, then 32
/// sub-buckets per power of two (about 3 % resolution), fixed size.
#[derive(Clone)]
pub struct Hist {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

const LINEAR: u64 = 64;
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = 64 + 58 * 32;

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= 6
    let mant = (v >> (e - SUB_BITS)) - SUB; // 0..32
    (LINEAR + u64::from(e - 6) * SUB + mant) as usize
}

/// Middle of bucket `i`.
fn value_of(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let e = (i - LINEAR) / SUB + 6;
    let mant = (i - LINEAR) % SUB + SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    mant * width + width / 2
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: vec![0; BUCKETS],
            count: 0,
            max: 0,
        }
    }
}

impl Hist {
    pub fn record(&mut self, v: u64) {
        if let Some(b) = self.buckets.get_mut(index(v)) {
            *b += 1;
        }
        self.count += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        if rank >= self.count {
            return self.max;
        }
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return value_of(i).min(self.max);
            }
        }
        self.max
    }
}

/// Which sequence numbers of one publisher a subscriber has seen.
#[derive(Default, Clone)]
pub struct Seen {
    words: Vec<u64>,
    count: u64,
}

impl Seen {
    /// Marks `seq`; true when it was new. Callers bound `seq` by what was sent.
    pub fn insert(&mut self, seq: u32) -> bool {
        let w = (seq / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1 + self.words.len() / 2, 0);
        }
        let bit = 1u64 << (seq % 64);
        let word = &mut self.words[w];
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.count += 1;
        true
    }

    pub fn contains(&self, seq: u32) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1u64 << (seq % 64)) != 0)
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_quantiles() {
        let mut h = Hist::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(h.max(), 100_000_000);
        assert_eq!(h.quantile(1.0), 100_000_000);
        for v in [0, 1, 63, 64, 65, 1000, u64::MAX / 2, u64::MAX] {
            assert!(index(v) < BUCKETS);
        }
    }

    #[test]
    fn seen_counts() {
        let mut s = Seen::default();
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(s.insert(1000));
        assert!(s.contains(1000) && !s.contains(999) && !s.contains(1_000_000));
        assert_eq!(s.count(), 2);
    }
}
