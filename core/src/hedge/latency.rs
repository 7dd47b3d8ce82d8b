//! The latencies a [`Hedge`](super::Hedge) takes its quantile from: a
//! lock-free, log-bucketed histogram over a rolling window of time.
//!
//! # Buckets and accuracy
//!
//! A latency of `v` nanoseconds lands in one of [`BUCKETS`] counters: one
//! for everything below 2^10 ns (about 1 µs), then [`SUB_BUCKETS`] equal
//! slices of every power of two from 2^10 ns up to 2^36 ns (about 69 s);
//! longer latencies count in the last slice. A quantile is answered with
//! the upper edge of the slice it falls in, so between 1 µs and 69 s it is
//! never below the exact quantile of the samples held and at most 1/8
//! (12.5 %) above it.
//!
//! # The rolling window
//!
//! Time is cut into halves of the window; two generations of counters take
//! turns, the current half's and the previous half's. A quantile reads both,
//! so it covers between half a window and a whole window of the past. The
//! first sample of a new half claims the older generation (one
//! compare-and-swap of its half's number) and clears it.
//!
//! # Memory ordering
//!
//! Every access is `Relaxed`: the histogram feeds an estimate, nothing is
//! published through it. A sample counted by another thread while the
//! generation it counts into is being cleared may be lost, and one counted
//! by a thread whose clock reading lags the rollover may land in the next
//! half: a few samples per half window, which moves a quantile by less than
//! the bucket width on any but the smallest sample counts.

use std::time::Duration;

use crate::clock::nanos;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Equal slices of every power of two.
pub(crate) const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Counters per generation.
pub(crate) const BUCKETS: usize = 1 + (MAX_EXP - MIN_EXP) as usize * SUB_BUCKETS;

const SUB_BITS: u32 = 3;
/// Latencies below 2^MIN_EXP ns share the first counter.
const MIN_EXP: u32 = 10;
/// Latencies of 2^MAX_EXP ns and more count in the last slice.
const MAX_EXP: u32 = 36;

/// The counter a latency of `v` nanoseconds goes to.
pub(crate) fn bucket(v: u64) -> usize {
    if v < 1 << MIN_EXP {
        return 0;
    }
    let exp = 63 - v.leading_zeros();
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (v >> (exp - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    1 + (exp - MIN_EXP) as usize * SUB_BUCKETS + sub
}

/// The upper edge of counter `i`, in nanoseconds: the largest latency it
/// holds, plus one.
pub(crate) fn upper_edge(i: usize) -> u64 {
    if i == 0 {
        return 1 << MIN_EXP;
    }
    let exp = MIN_EXP + ((i - 1) / SUB_BUCKETS) as u32;
    let sub = ((i - 1) % SUB_BUCKETS) as u64;
    (SUB_BUCKETS as u64 + sub + 1) << (exp - SUB_BITS)
}

/// One half window's counters.
struct Generation {
    /// The number of the half it counts, plus one (0: never used).
    half: AtomicU64,
    counts: Box<[AtomicU32]>,
}

/// Recent latencies, answering quantiles.
pub(crate) struct Latencies {
    generations: [Generation; 2],
    half_nanos: u64,
}

impl Latencies {
    /// An empty histogram over `window` (at least 2 ns).
    pub(crate) fn new(window: Duration) -> Self {
        let generation = || Generation {
            half: AtomicU64::new(0),
            counts: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        };
        Self {
            generations: [generation(), generation()],
            half_nanos: (nanos(window) / 2).max(1),
        }
    }

    /// The half-window number of `now`, plus one.
    fn half(&self, now: u64) -> u64 {
        now / self.half_nanos + 1
    }

    /// Counts one latency of `v` nanoseconds, observed at `now`.
    pub(crate) fn record(&self, now: u64, v: u64) {
        let half = self.half(now);
        let g = &self.generations[(half % 2) as usize];
        // Relaxed: see the module's "Memory ordering".
        let seen = g.half.load(Ordering::Relaxed);
        if seen < half
            && g.half
                .compare_exchange(seen, half, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            for c in g.counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
        // Saturating would cost a CAS loop; 2^32 samples in half a window
        // is beyond any call rate this serves.
        g.counts[bucket(v)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile of the latencies of the last half to whole window
    /// at `now`, in nanoseconds (the upper edge of its bucket), or `None`
    /// while fewer than `min_samples` are held.
    pub(crate) fn quantile(&self, now: u64, q: f64, min_samples: u32) -> Option<u64> {
        let half = self.half(now);
        // Relaxed: see the module's "Memory ordering".
        let live = self.generations.each_ref().map(|g| {
            let h = g.half.load(Ordering::Relaxed);
            (h == half || h + 1 == half).then_some(g)
        });
        let count = |i: usize| -> u64 {
            live.iter()
                .flatten()
                .map(|g| u64::from(g.counts[i].load(Ordering::Relaxed)))
                .sum()
        };
        let total: u64 = (0..BUCKETS).map(count).sum();
        if total == 0 || total < u64::from(min_samples) {
            return None;
        }
        // The rank of the quantile, 1-based: at least 1, at most `total`.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        // Samples counted since the sum above only move the answer up.
        let mut seen = 0;
        for i in 0..BUCKETS {
            seen += count(i);
            if seen >= rank {
                return Some(upper_edge(i));
            }
        }
        Some(upper_edge(BUCKETS - 1))
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_bucket_holds_the_latencies_below_its_edge() {
        assert_eq!(BUCKETS, 209);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1023), 0);
        assert_eq!(bucket(1024), 1);
        assert_eq!(upper_edge(0), 1024);
        for i in 1..BUCKETS {
            let lower = upper_edge(i - 1);
            let upper = upper_edge(i);
            assert_eq!(bucket(lower), i, "the lower edge of {i}");
            assert_eq!(bucket(upper - 1), i, "just below the upper edge of {i}");
            // The documented accuracy: a bucket is at most 1/8 of its lower edge wide.
            assert!((upper - lower) * 8 <= lower, "bucket {i}: {lower}..{upper}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_an_eighth_above_the_exact_one() {
        let l = Latencies::new(Duration::from_secs(10));
        // 1..=1000 ms: the exact p95 is 950 ms.
        for ms in 1..=1000u64 {
            l.record(0, ms * 1_000_000);
        }
        let p95 = l.quantile(0, 0.95, 1).unwrap();
        assert!(
            (950_000_000..=950_000_000 + 950_000_000 / 8).contains(&p95),
            "{p95}"
        );
        let p50 = l.quantile(0, 0.5, 1).unwrap();
        assert!(
            (500_000_000..=500_000_000 + 500_000_000 / 8).contains(&p50),
            "{p50}"
        );
        assert_eq!(l.quantile(0, 0.5, 1001), None, "too few samples");
    }

    #[test]
    fn old_halves_leave_the_window() {
        let second = 1_000_000_000;
        let l = Latencies::new(Duration::from_secs(2));
        l.record(0, 5 * second);
        // One half later both halves are read; two halves later only the new one.
        l.record(second, 1_000_000);
        assert_eq!(
            l.quantile(second, 1.0, 2),
            Some(upper_edge(bucket(5 * second)))
        );
        assert_eq!(
            l.quantile(2 * second, 1.0, 1),
            Some(upper_edge(bucket(1_000_000)))
        );
        assert_eq!(l.quantile(3 * second, 1.0, 1), None, "all of it is old");
        // A new half reuses and clears the older generation.
        l.record(4 * second, 2_000_000);
        assert_eq!(
            l.quantile(4 * second, 1.0, 1),
            Some(upper_edge(bucket(2_000_000)))
        );
        assert_eq!(
            l.quantile(4 * second, 0.0, 2),
            None,
            "the cleared counts are gone"
        );
    }

    #[test]
    fn a_clock_that_steps_backwards_reads_an_older_window() {
        let l = Latencies::new(Duration::from_secs(2));
        l.record(10_000_000_000, 1_000_000);
        // Behind by a whole window: neither generation is its half or the one before.
        assert_eq!(l.quantile(0, 0.5, 1), None);
        // Counted into the generation of its own (older) half, which it does not clear.
        l.record(9_000_000_000, 3_000_000);
        assert!(l.quantile(10_000_000_000, 1.0, 2).is_some());
    }
}
