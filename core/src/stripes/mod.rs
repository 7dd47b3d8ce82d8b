//! Exact counts, striped per thread so that threads counting at once never
//! contend: the one mechanism behind the breaker's per-outcome counters, the
//! rate limiter's refusals and the distributed breaker's fleet rejections.
//!
//! Each of the first [`STRIPES`] threads that count holds a process-wide
//! stripe number, unique among live threads, claimed from a lock-free set
//! (`free.rs`) and handed back when the thread exits. Its holder is the
//! only writer of that stripe in every [`StripedCounts`] and increments with
//! a plain load and store: no locked instruction, no cache line shared with
//! another writer. Threads that find no number free (or whose thread-local
//! storage is already torn down) use one shared stripe with `fetch_add`.
//! Both kinds of increments are exact; a reading sums all stripes.
//!
//! Under `cfg(seawall_loom)` every increment goes to the shared stripe:
//! loom models the engines that count, and the single-writer argument above
//! does not need a model (the set of free numbers has its own:
//! `loom-tests/tests/stripes.rs`).

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

// Under loom the model compiles `free.rs` itself (loom-tests/tests/stripes.rs).
#[cfg(not(seawall_loom))]
mod free;
mod slot;

pub(crate) use slot::thread_stripe;

/// The stripes with a single owner each. A [`StripedCounts`] of up to 8
/// counts takes `STRIPES + 2` padded lines: with 128-byte padding
/// (crossbeam's choice for x86_64, which prefetches line pairs) 1280 bytes.
pub const STRIPES: usize = 8;

/// One thread's `N` counts, on a line of their own.
struct Stripe<const N: usize>([AtomicU64; N]);

impl<const N: usize> Stripe<N> {
    fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// `N` exact counts, striped per thread (see the module docs).
///
/// [`StripedCounts::incr`] writes only the calling thread's stripe (for the
/// first [`STRIPES`] live threads; the others share one stripe and add
/// atomically). A reading sums every stripe: each stripe's value is read on
/// its own with `Relaxed`, so a reading taken while threads count is a lower
/// bound per count, and exact once the counting threads are joined (or have
/// otherwise synchronised with the reader).
pub struct StripedCounts<const N: usize> {
    owned: [CachePadded<Stripe<N>>; STRIPES],
    shared: CachePadded<Stripe<N>>,
    /// The totals at the last `clear`: reported counts are measured from
    /// here, while the totals stay monotone.
    baseline: Stripe<N>,
}

impl<const N: usize> StripedCounts<N> {
    /// `N` counts at zero.
    pub fn new() -> Self {
        Self {
            owned: std::array::from_fn(|_| CachePadded::new(Stripe::new())),
            shared: CachePadded::new(Stripe::new()),
            baseline: Stripe::new(),
        }
    }

    /// Adds one to count `i`. Panics if `i >= N`.
    #[inline]
    pub fn incr(&self, i: usize) {
        match thread_stripe() {
            Some(s) => {
                let cell = &self.owned[s].0[i];
                // Relaxed load and store: this thread is the only writer of
                // its stripe (see the module docs), so no increment can be
                // lost between the two; readers only need the value, and
                // the final totals become visible through whatever joins or
                // synchronises with this thread.
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                // Relaxed: an exact atomic increment; nothing is published
                // through the count.
                self.shared.0[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The sum of count `i` over all stripes, since creation: monotone.
    /// Panics if `i >= N`.
    pub fn total(&self, i: usize) -> u64 {
        // Relaxed: each stripe value is read on its own; a reading taken
        // during traffic is a consistent lower bound per count.
        self.owned
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|s| s.0[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Count `i` since the last [`StripedCounts::clear`]. Panics if
    /// `i >= N`.
    pub fn reported(&self, i: usize) -> u64 {
        // Relaxed: see `total`.
        self.total(i)
            .saturating_sub(self.baseline.0[i].load(Ordering::Relaxed))
    }

    /// Restarts the reported counts from zero. Exact only while no thread
    /// is counting; the totals are untouched.
    pub fn clear(&self) {
        for (i, cell) in self.baseline.0.iter().enumerate() {
            // Relaxed: see `total`.
            cell.store(self.total(i), Ordering::Relaxed);
        }
    }
}

impl<const N: usize> Default for StripedCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for StripedCounts<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reported: Vec<u64> = (0..N).map(|i| self.reported(i)).collect();
        f.debug_struct("StripedCounts")
            .field("reported", &reported)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_padded_per_stripe() {
        assert_eq!(std::mem::align_of::<CachePadded<Stripe<7>>>() % 64, 0);
        assert!(
            std::mem::size_of::<Stripe<8>>() <= 64,
            "eight counts fit one cache line"
        );
        let padded = std::mem::size_of::<CachePadded<Stripe<1>>>();
        assert_eq!(std::mem::size_of::<CachePadded<Stripe<7>>>(), padded);
        assert_eq!(
            std::mem::size_of::<StripedCounts<7>>(),
            (STRIPES + 2) * padded
        );
        assert_eq!(
            std::mem::size_of::<StripedCounts<1>>(),
            (STRIPES + 2) * padded
        );
    }

    #[test]
    fn many_threads_count_exactly_including_beyond_the_owned_stripes() {
        let c = StripedCounts::<3>::new();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES * 2) {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.incr(0);
                        c.incr(2);
                    }
                });
            }
        });
        assert_eq!(c.total(0), 160_000);
        assert_eq!(c.total(2), 160_000);
        assert_eq!(c.total(1), 0);
        c.clear();
        assert_eq!(c.reported(0), 0);
        assert_eq!(c.total(0), 160_000, "totals stay monotone");
        c.incr(0);
        assert_eq!(c.reported(0), 1);
        assert_eq!(c.reported(2), 0);
    }

    #[test]
    fn counts_of_different_sets_do_not_mix() {
        let (a, b) = (StripedCounts::<1>::new(), StripedCounts::<2>::new());
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        a.incr(0);
                        b.incr(1);
                        b.incr(1);
                    }
                });
            }
        });
        assert_eq!((a.total(0), b.total(0), b.total(1)), (3000, 0, 6000));
    }

    #[test]
    #[should_panic]
    fn a_count_beyond_n_panics() {
        StripedCounts::<2>::new().incr(2);
    }
}
