//! The words the call path reads and writes, apart from the local breaker:
//! the fleet overlay (written only by the coordinator), the pool of leased
//! trial permits, the trial results awaiting a flush, the striped count
//! of calls the fleet rejected, and a fleet rate limiter's leased tokens.
//!
//! Every word is a plain atomic with a single meaning; the coordinator is
//! the only writer of the overlay, and the only thread that empties the pool
//! and the results (with a swap), so callers never wait for it and it never
//! waits for them.

use crossbeam_utils::CachePadded;
use seawall::stripes::StripedCounts;

use crate::sync::{AtomicU64, Ordering};

/// What the fleet says, packed in one word: bits 0-1 the kind, bit 2 set
/// while the coordinator cannot reach the store (degraded), bits 3-63 the
/// OPEN or HALF_OPEN deadline in microseconds of the local breaker's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overlay(pub u64);

/// The fleet adds no restriction (closed, forced states: those are applied
/// to the local breaker itself).
pub(crate) const CLOSED: u64 = 0;
/// Reject until the deadline; after it, calls need a trial permit (unless
/// degraded, when the local breaker decides alone).
pub(crate) const OPEN: u64 = 1;
/// Calls need a trial permit from the local pool.
pub(crate) const HALF_OPEN: u64 = 2;
const KIND: u64 = 0b11;
const DEGRADED: u64 = 0b100;
const SHIFT: u32 = 3;

impl Overlay {
    pub(crate) fn new(kind: u64, deadline_nanos: u64, degraded: bool) -> Self {
        let micros = deadline_nanos.div_ceil(1000).min(u64::MAX >> SHIFT);
        Self(micros << SHIFT | u64::from(degraded) << 2 | kind)
    }

    #[inline]
    pub(crate) fn kind(self) -> u64 {
        self.0 & KIND
    }

    #[inline]
    pub(crate) fn degraded(self) -> bool {
        self.0 & DEGRADED != 0
    }

    /// The deadline in clock nanoseconds.
    #[inline]
    pub(crate) fn deadline(self) -> u64 {
        (self.0 >> SHIFT).saturating_mul(1000)
    }
}

/// Trial permits leased from the fleet: bits 32-63 the low half of the
/// fleet generation they belong to, bits 0-31 the permits left.
pub(crate) struct Pool(AtomicU64);

impl Pool {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Takes one permit; returns its generation tag.
    #[inline]
    pub(crate) fn take(&self) -> Option<u32> {
        // Relaxed: the pool word is self-contained (tag and count together);
        // the overlay load before it orders it after the coordinator's fill.
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            if cur as u32 == 0 {
                return None;
            }
            match self
                .0
                .compare_exchange_weak(cur, cur - 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some((cur >> 32) as u32),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives back an unused permit, if its generation's pool is still there.
    pub(crate) fn give_back(&self, tag: u32) {
        // Relaxed: as in `take`.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                ((cur >> 32) as u32 == tag).then_some(cur + 1)
            });
    }

    /// Replaces the pool (coordinator only); returns the permits left in it
    /// and their tag.
    pub(crate) fn replace(&self, tag: u32, permits: u32) -> (u32, u32) {
        // Relaxed: the overlay store that follows publishes the new pool.
        let old = self
            .0
            .swap(u64::from(tag) << 32 | u64::from(permits), Ordering::Relaxed);
        ((old >> 32) as u32, old as u32)
    }
}

/// Trial outcomes not yet reported: bits 32-63 the generation tag, then 11
/// bits of successes, 10 of failures and 11 of permits freed without a
/// verdict. Each count saturates (one failure is all that matters; the
/// coordinator leases `LEASE_PER_TICK` permits per tick, so the others
/// never reach their limit between two ticks).
pub(crate) struct Results(AtomicU64);

const OK_SHIFT: u32 = 21;
const FAIL_SHIFT: u32 = 11;
const OK_MAX: u64 = (1 << 11) - 1;
const FAIL_MAX: u64 = (1 << 10) - 1;
const FREE_MAX: u64 = (1 << 11) - 1;

/// The permits the coordinator leases for one breaker in one tick (when
/// callers asked for one): one, so instances take turns and the fleet's
/// trial calls stay within `half_open_max_calls`.
pub(crate) const LEASE_PER_TICK: u32 = 1;
// A tick's verdicts (this tick's lease plus the last one's late ones) never
// saturate a count.
const _: () = assert!(2 * LEASE_PER_TICK as u64 <= FAIL_MAX);

/// One trial's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    Freed,
}

/// Drained trial counts: (tag, successes, failures, freed).
pub(crate) type Drained = (u32, u64, u64, u64);

impl Results {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Counts a verdict for the permit tagged `tag`; a verdict of another
    /// generation is dropped (the store would fence it anyway).
    pub(crate) fn add(&self, tag: u32, v: Verdict) {
        // Relaxed: the word is self-contained; the coordinator reads it with
        // a swap.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                if (cur >> 32) as u32 != tag {
                    return None;
                }
                let (shift, max) = match v {
                    Verdict::Success => (OK_SHIFT, OK_MAX),
                    Verdict::Failure => (FAIL_SHIFT, FAIL_MAX),
                    Verdict::Freed => (0, FREE_MAX),
                };
                let n = (cur >> shift) & max;
                Some(if n < max { cur + (1 << shift) } else { cur })
            });
    }

    /// Takes the counts and starts the generation tagged `tag` from zero.
    pub(crate) fn drain(&self, tag: u32) -> Drained {
        // Relaxed: as in `add`.
        let old = self.0.swap(u64::from(tag) << 32, Ordering::Relaxed);
        (
            (old >> 32) as u32,
            (old >> OK_SHIFT) & OK_MAX,
            (old >> FAIL_SHIFT) & FAIL_MAX,
            old & FREE_MAX,
        )
    }
}

/// Calls rejected by the fleet (the local breaker counts its own), on the
/// core's striped counts, so a fleet-wide OPEN does not make every rejecting
/// thread contend on one line.
pub(crate) struct Rejections(StripedCounts<1>);

impl Rejections {
    pub(crate) fn new() -> Self {
        Self(StripedCounts::new())
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.0.incr(0);
    }

    /// Restarts the count from zero (exact only while nothing is rejected).
    pub(crate) fn clear(&self) {
        self.0.clear();
    }

    /// The rejections since the last `clear`.
    pub(crate) fn total(&self) -> u64 {
        self.0.reported(0)
    }
}

/// The leased tokens not used yet: callers take them one at a time, the
/// coordinator adds what a lease grants and takes back what stayed unused.
/// No token is lost or handed out twice (the loom model checks it).
pub(crate) struct Tokens(CachePadded<AtomicU64>);

impl Tokens {
    pub(crate) fn new() -> Self {
        Self(CachePadded::new(AtomicU64::new(0)))
    }

    /// Takes one token; returns how many are left, or `None` if there was
    /// none.
    #[inline]
    pub(crate) fn take(&self) -> Option<u64> {
        // Relaxed: a count, publishing nothing.
        let mut n = self.0.load(Ordering::Relaxed);
        while n > 0 {
            match self
                .0
                .compare_exchange_weak(n, n - 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(n - 1),
                Err(actual) => n = actual,
            }
        }
        None
    }

    /// Adds granted tokens.
    pub(crate) fn grant(&self, n: u64) {
        // Relaxed: as in `take`.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes every token left (to give them back).
    pub(crate) fn take_all(&self) -> u64 {
        // Relaxed: as in `take`.
        self.0.swap(0, Ordering::Relaxed)
    }

    pub(crate) fn get(&self) -> u64 {
        // Relaxed: as in `take`.
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_packs_kind_degraded_and_deadline() {
        let o = Overlay::new(OPEN, 5_000_000_001, true);
        assert_eq!(o.kind(), OPEN);
        assert!(o.degraded());
        assert_eq!(o.deadline(), 5_000_001_000, "rounded up to the microsecond");
        let h = Overlay::new(HALF_OPEN, 0, false);
        assert_eq!(
            (h.kind(), h.degraded(), h.deadline()),
            (HALF_OPEN, false, 0)
        );
        assert_eq!(
            Overlay::new(OPEN, u64::MAX, false).deadline(),
            u64::MAX,
            "never passes"
        );
    }

    #[test]
    fn pool_hands_out_each_permit_once_and_only_to_its_generation() {
        let p = Pool::new();
        assert_eq!(p.take(), None);
        p.replace(7, 2);
        assert_eq!(p.take(), Some(7));
        p.give_back(7);
        assert_eq!(p.take(), Some(7));
        assert_eq!(p.take(), Some(7));
        assert_eq!(p.take(), None);
        p.give_back(6);
        assert_eq!(
            p.take(),
            None,
            "a permit of an older generation is not given back"
        );
        assert_eq!(p.replace(8, 0), (7, 0));
    }

    #[test]
    fn results_count_per_generation_and_saturate() {
        let r = Results::new();
        r.drain(3);
        r.add(3, Verdict::Success);
        r.add(3, Verdict::Success);
        r.add(3, Verdict::Freed);
        r.add(2, Verdict::Failure);
        assert_eq!(r.drain(3), (3, 2, 0, 1));
        for _ in 0..2000 {
            r.add(3, Verdict::Failure);
        }
        assert_eq!(r.drain(4), (3, 0, FAIL_MAX, 0));
        assert_eq!(r.drain(4), (4, 0, 0, 0));
    }

    #[test]
    fn rejections_count_exactly_across_threads_and_clear_to_zero() {
        let r = Rejections::new();
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| (0..1000).for_each(|_| r.incr()));
            }
        });
        assert_eq!(r.total(), 12_000);
        r.clear();
        assert_eq!(r.total(), 0);
        r.incr();
        assert_eq!(r.total(), 1);
    }
}
