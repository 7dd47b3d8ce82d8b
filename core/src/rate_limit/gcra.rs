//! The GCRA decision on one stored word, and the compare-and-swap loops
//! that apply it.

use super::{RateLimitConfig, MAX_BURST_SPAN};
use crate::clock::nanos;
use crate::sync::{AtomicU64, Ordering};

/// Theoretical arrival times are kept modulo 2^63 (see [`Gcra::ahead`]).
const TAT_MASK: u64 = u64::MAX >> 1;

/// The GCRA parameters, in clock nanoseconds, and the pure decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds between calls at the sustained rate (at least 1).
    pub interval: u64,
    /// How far the TAT may run ahead of the present: `interval * (burst - 1)`.
    pub tolerance: u64,
}

impl Gcra {
    /// The parameters of a validated configuration.
    pub fn new(config: &RateLimitConfig) -> Self {
        // At least 1 ns (validated); rounds down, so the sustained rate is
        // never below the configured one by more than a part in `interval`.
        let interval = nanos(config.period) / u64::from(config.rate.max(1));
        Self::spaced(interval, config.burst)
    }

    /// Calls `interval` nanoseconds apart (at least 1), `burst` at once.
    /// Saturating; [`Gcra::refills_in_time`] says whether it stays exact.
    pub(crate) fn spaced(interval: u64, burst: u32) -> Self {
        let interval = interval.max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst).saturating_sub(1)),
        }
    }

    /// Whether `burst` calls `interval` nanoseconds apart refill within
    /// [`MAX_BURST_SPAN`], so that no theoretical arrival time saturates.
    pub(crate) fn refills_in_time(interval: u64, burst: u32) -> bool {
        interval
            .max(1)
            .checked_mul(u64::from(burst))
            .is_some_and(|span| span <= nanos(MAX_BURST_SPAN))
    }

    /// How far the theoretical arrival time stored in `word` is ahead of
    /// `now`: 0 for a TAT in the past, or for [`Gcra::EMPTY`].
    ///
    /// A word holds the TAT modulo 2^63, shifted left by one, with the low
    /// bit set (so no TAT is ever mistaken for [`Gcra::EMPTY`]). It is read
    /// relative to `now` as a wrapping difference within 2^62 ns (146 years;
    /// a burst spans at most 100), so a TAT past the end of the clock's range
    /// wraps instead of saturating: near `u64::MAX` a limiter still admits
    /// exactly its burst and then spaces calls.
    #[inline]
    pub fn ahead(word: u64, now: u64) -> u64 {
        let ahead = (word >> 1).wrapping_sub(now) & TAT_MASK;
        if word == Self::EMPTY || ahead > TAT_MASK / 2 {
            0
        } else {
            ahead
        }
    }

    /// The word of a limiter that has admitted nothing yet.
    pub const EMPTY: u64 = 0;

    /// Decides a call at `now` against the stored `word` (see
    /// [`Gcra::ahead`]): `Ok(new word)` when it conforms, `Err(nanoseconds
    /// to wait)` when it does not.
    ///
    /// A clock that steps backwards (a `now` below the times already seen)
    /// makes calls wait longer, never admits extra.
    #[inline]
    pub fn decide(&self, word: u64, now: u64) -> Result<u64, u64> {
        self.reserve(word, now, 0).map(|(next, _)| next)
    }

    /// Decides a call at `now` that may wait up to `max_wait` nanoseconds
    /// for its turn: `Ok((new word, wait))` reserves the call's place
    /// (admitted after `wait`, 0 meaning now, exactly as [`Gcra::decide`]
    /// would admit it then), `Err(wait)` refuses it when the wait would
    /// exceed `max_wait`. The reservation counts as an admission at
    /// `now + wait`: later calls queue behind it.
    #[inline]
    pub fn reserve(&self, word: u64, now: u64, max_wait: u64) -> Result<(u64, u64), u64> {
        let ahead = Self::ahead(word, now);
        let wait = ahead.saturating_sub(self.tolerance);
        if wait > max_wait {
            return Err(wait);
        }
        let tat = now.wrapping_add(ahead).wrapping_add(self.interval);
        Ok(((tat & TAT_MASK) << 1 | 1, wait))
    }

    /// Applies [`Gcra::reserve`] to `word` with one compare-and-swap loop:
    /// `Ok(wait)` or `Err(wait)`, as there.
    #[inline]
    pub(crate) fn apply_reserve(
        &self,
        word: &AtomicU64,
        now: u64,
        max_wait: u64,
    ) -> Result<u64, u64> {
        // Relaxed: see `apply`.
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            let (next, wait) = self.reserve(cur, now, max_wait)?;
            // Relaxed: see `apply`.
            match word.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(wait),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Applies [`Gcra::decide`] to `word` with one compare-and-swap loop.
    ///
    /// # Memory ordering
    ///
    /// `Relaxed` throughout: the word publishes no other memory, and every
    /// admission is a read-modify-write of this one location, so admissions
    /// are totally ordered by its modification order. Two callers that read
    /// the same TAT cannot both install a successor: the second swap fails
    /// and decides again on the value the first one wrote.
    #[inline]
    pub(crate) fn apply(&self, word: &AtomicU64, now: u64) -> Result<(), u64> {
        // Relaxed: see "Memory ordering" above.
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            let next = self.decide(cur, now)?;
            // Relaxed on success and failure: see above; a failed swap hands
            // back the current value, on which the loop decides again.
            match word.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn gcra(rate: u32, burst: u32) -> Gcra {
        Gcra::new(&RateLimitConfig {
            rate,
            period: Duration::from_secs(1),
            burst,
            ..Default::default()
        })
    }

    #[test]
    fn decide_admits_a_burst_then_spaces_calls() {
        let g = gcra(1000, 3); // 1 ms apart, 3 at once
        assert_eq!(g.interval, 1_000_000);
        assert_eq!(g.tolerance, 2_000_000);
        let now = 10_000_000;
        let t1 = g.decide(Gcra::EMPTY, now).unwrap();
        let t2 = g.decide(t1, now).unwrap();
        let t3 = g.decide(t2, now).unwrap();
        assert_eq!(Gcra::ahead(t3, now), 3_000_000);
        assert_eq!(g.decide(t3, now), Err(1_000_000));
        assert_eq!(g.decide(t3, now + 999_999), Err(1));
        let t4 = g.decide(t3, now + 1_000_000).unwrap();
        assert_eq!(Gcra::ahead(t4, now + 1_000_000), 3_000_000);
    }

    #[test]
    fn reserve_takes_turns_within_max_wait_and_refuses_beyond() {
        let g = gcra(1000, 2); // 1 ms apart, 2 at once
        let now = 10_000_000;
        let (t1, w1) = g.reserve(Gcra::EMPTY, now, 0).unwrap();
        let (t2, w2) = g.reserve(t1, now, 0).unwrap();
        assert_eq!((w1, w2), (0, 0));
        assert_eq!(g.reserve(t2, now, 999_999), Err(1_000_000));
        let (t3, w3) = g.reserve(t2, now, 1_000_000).unwrap();
        assert_eq!(w3, 1_000_000);
        let (_, w4) = g.reserve(t3, now, u64::MAX).unwrap();
        assert_eq!(w4, 2_000_000, "queued behind the reserved turn");
        // `decide` is `reserve` with no wait allowed.
        assert_eq!(g.decide(t2, now), Err(1_000_000));
        assert_eq!(g.decide(t1, now), Ok(t2));
    }

    #[test]
    fn decide_survives_a_clock_stepping_back_and_the_end_of_the_clock() {
        let g = gcra(1000, 1);
        // TAT in the future relative to a clock that stepped back: wait.
        let t = g.decide(Gcra::EMPTY, 5_000_000).unwrap();
        assert_eq!(g.decide(t, 1_000_000), Err(5_000_000));
        // A TAT past the end of the clock's range wraps and still counts,
        // wherever it lands (zero included).
        for start in [u64::MAX - 10, u64::MAX - 999_999, u64::MAX] {
            let t = g.decide(Gcra::EMPTY, start).unwrap();
            assert_ne!(t, Gcra::EMPTY);
            assert_eq!(g.decide(t, start), Err(1_000_000), "from {start}");
            let later = start.saturating_add(1);
            assert_eq!(g.decide(t, later), Err(1_000_000 - (later - start)));
        }
    }
}
