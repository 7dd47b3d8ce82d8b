//! Exact per-breaker call counters: one count per [`Counter`] on the core's
//! striped counts (`core/src/stripes/`), so that hot paths never contend.

use crate::stripes::StripedCounts;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
    Permitted = 0,
    Successes,
    Failures,
    Ignored,
    Rejected,
    Slow,
    Late,
}

const COUNTERS: usize = 7;

/// The counters of one breaker.
#[derive(Default)]
pub(crate) struct Counters(StripedCounts<COUNTERS>);

impl Counters {
    /// Adds one to `c`.
    #[inline]
    pub(crate) fn incr(&self, c: Counter) {
        self.0.incr(c as usize);
    }

    /// Adds one to `c` if that takes no call (see
    /// [`StripedCounts::incr_at_once`]); `false`, having counted nothing,
    /// otherwise.
    #[inline(always)]
    pub(crate) fn incr_at_once(&self, c: Counter) -> bool {
        self.0.incr_at_once(c as usize)
    }

    /// The total of `c` since the last [`Counters::clear`].
    pub(crate) fn reported(&self, c: Counter) -> u64 {
        self.0.reported(c as usize)
    }

    /// The total of `c` since creation: monotone.
    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.0.total(c as usize)
    }

    /// Restarts the reported counts from zero. Exact only while no thread
    /// is counting; the raw totals are untouched.
    pub(crate) fn clear(&self) {
        self.0.clear();
    }

    /// Bytes grown on the heap (see [`StripedCounts::heap_bytes`]).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::stripes::STRIPES;

    #[test]
    fn every_counter_has_its_own_count_and_an_idle_stripe_fits_one_line() {
        const ORDER: [Counter; COUNTERS] = [
            Counter::Permitted,
            Counter::Successes,
            Counter::Failures,
            Counter::Ignored,
            Counter::Rejected,
            Counter::Slow,
            Counter::Late,
        ];
        for (i, c) in ORDER.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        assert!(
            COUNTERS * std::mem::size_of::<u64>() <= 64,
            "a stripe must fit one cache line"
        );
        assert_eq!(
            std::mem::size_of::<Counters>(),
            COUNTERS * 8 + 16,
            "the inline stripe, the control word and the baseline's pointer"
        );
    }

    #[test]
    fn counts_per_counter_and_clears_reported_counts_only() {
        let c = Counters::default();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES * 2) {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.incr(Counter::Successes);
                        c.incr(Counter::Rejected);
                    }
                });
            }
        });
        assert_eq!(c.get(Counter::Successes), 160_000);
        assert_eq!(c.get(Counter::Rejected), 160_000);
        assert_eq!(c.get(Counter::Failures), 0);
        c.clear();
        assert_eq!(c.reported(Counter::Successes), 0);
        assert_eq!(
            c.get(Counter::Successes),
            160_000,
            "raw totals stay monotone"
        );
        c.incr(Counter::Successes);
        assert_eq!(c.reported(Counter::Successes), 1);
    }
}
