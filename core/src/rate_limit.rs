//! Rate limiting: the generic cell rate algorithm (GCRA) on one atomic word.
//!
//! A limiter admits `rate` calls per `period`, spaced at least
//! `interval = period / rate` apart on average, with up to `burst` calls
//! admitted back to back. GCRA keeps one number, the *theoretical arrival
//! time* (TAT): the time at which the limiter would be idle again if no
//! further call came. A call at `now` is admitted when
//! `max(TAT, now) - now <= interval * (burst - 1)` and then pushes the TAT
//! `interval` further; otherwise it is refused with the time left until that
//! inequality holds. A refused call changes nothing.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{ManualClock, RateLimitConfig, RateLimiter};
//!
//! let clock = ManualClock::new();
//! // 10 calls per second, 2 at once.
//! let config = RateLimitConfig {
//!     rate: 10,
//!     period: Duration::from_secs(1),
//!     burst: 2,
//!     ..Default::default()
//! };
//! let limiter = RateLimiter::with_clock(config, clock.clone()).unwrap();
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_ok());
//! let refused = limiter.check().unwrap_err();
//! assert_eq!(refused.retry_after, Duration::from_millis(100));
//! clock.advance(refused.retry_after);
//! assert!(limiter.check().is_ok());
//! ```
//!
//! [`RateLimiter::reserve`] decides a waiting caller's wait once: it takes
//! the next turn (if it comes within the caller's `max_wait`) and says how
//! long to sleep, so the caller sleeps once and goes ahead.
//!
//! The decision ([`Gcra::decide`]) is a pure function of the stored TAT and
//! the time; one compare-and-swap loop applies it. [`KeyedRateLimiter`] keeps
//! one such word per slot of a fixed table, so its memory does not grow with
//! the number of keys.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{nanos, Clock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::sync::{AtomicU64, Ordering};

/// The longest wait [`RateLimiter::reserve`] grants (365 days): the
/// theoretical arrival time then stays within the burst span plus this,
/// far inside the range the stored word can tell from the past.
pub const MAX_RESERVATION: Duration = MAX_DURATION;

/// The largest `rate` and `burst` accepted.
pub const MAX_RATE: u32 = 1_000_000_000;
/// The most slots a [`KeyedRateLimiter`] may have (8 MiB of words).
pub const MAX_SLOTS: u32 = 1 << 20;
/// The longest a full burst may take to refill (`burst * period / rate`):
/// 100 years. The theoretical arrival time then stays far below
/// `u64::MAX` nanoseconds; were it to saturate there, every call would
/// conform.
pub const MAX_BURST_SPAN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Which reading of the clock a limiter decides on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Timing {
    /// [`Clock::now`]: exact. On [`QuantaClock`] a reading costs about as
    /// much as the rest of the check.
    #[default]
    Exact,
    /// [`Clock::recent`]: on [`QuantaClock`] one shared load, lagging the
    /// exact time by up to [`QuantaClock::RECENT_RESOLUTION`] (1 ms). A
    /// lagging reading can only refuse more (the TAT looks further ahead)
    /// and can only lower the TAT it installs by at most that lag, so the
    /// limiter behaves as an exact one whose burst is larger by at most the
    /// calls of one resolution (`1 ms / interval`, rounded up), and waits it
    /// announces may be up to 1 ms too long. Suited to limits of up to a few
    /// thousand calls per second, or where that slack is acceptable.
    Recent,
}

/// How many calls a [`RateLimiter`] admits. Build one with struct syntax;
/// [`RateLimitConfig::validate`] (called by every constructor) checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Calls admitted per `period`, on average. `1..=1_000_000_000`.
    pub rate: u32,
    /// The span `rate` refers to. `(0, 1 year]`, and at least `rate`
    /// nanoseconds (calls are spaced by at least one nanosecond).
    pub period: Duration,
    /// Calls that may be admitted back to back after a quiet spell.
    /// `1..=1_000_000_000`, and at most [`MAX_BURST_SPAN`] (100 years) of
    /// calls at the sustained rate; 1 means strictly spaced.
    pub burst: u32,
    /// The clock reading decisions are made on. Default [`Timing::Exact`].
    pub timing: Timing,
}

impl Default for RateLimitConfig {
    /// 100 calls per second with bursts of 100.
    fn default() -> Self {
        Self {
            rate: 100,
            period: Duration::from_secs(1),
            burst: 100,
            timing: Timing::Exact,
        }
    }
}

impl RateLimitConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rate == 0 || self.rate > MAX_RATE {
            return Err(ConfigError::new(
                "rate",
                self.rate,
                "an integer in [1, 1000000000]",
            ));
        }
        if self.period.is_zero() || self.period > MAX_DURATION {
            return Err(ConfigError::new(
                "period",
                self.period,
                "a duration in (0, 365 days]",
            ));
        }
        if nanos(self.period) < u64::from(self.rate) {
            return Err(ConfigError::new(
                "period",
                self.period,
                "at least `rate` nanoseconds (1 ns between calls)",
            ));
        }
        if self.burst == 0 || self.burst > MAX_RATE {
            return Err(ConfigError::new(
                "burst",
                self.burst,
                "an integer in [1, 1000000000]",
            ));
        }
        if !Gcra::refills_in_time(Gcra::new(self).interval, self.burst) {
            return Err(ConfigError::new(
                "burst",
                self.burst,
                "at most 100 years of calls at `rate` per `period`",
            ));
        }
        Ok(())
    }
}

/// A call refused by a rate limiter, and how long until it would be
/// admitted (if nobody else takes the slot first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// Time until a call would conform.
    pub retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limit exceeded; retry in {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

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

/// The time a decision is made on.
#[inline]
fn read<C: Clock>(clock: &C, timing: Timing) -> u64 {
    match timing {
        Timing::Exact => clock.now(),
        Timing::Recent => clock.recent(),
    }
}

/// A lock-free rate limiter: GCRA on one atomic word.
///
/// [`RateLimiter::check`] costs one clock reading (see [`Timing`]), one
/// load and, when the call is admitted, one compare-and-swap. A refused call writes nothing, so
/// callers hammering a saturated limiter share its cache line read-only.
pub struct RateLimiter<C: Clock = QuantaClock> {
    tat: CachePadded<AtomicU64>,
    gcra: Gcra,
    config: RateLimitConfig,
    clock: C,
}

impl RateLimiter<QuantaClock> {
    /// A limiter on the production clock.
    pub fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, QuantaClock)
    }
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter on the given clock, with its full burst available.
    pub fn with_clock(config: RateLimitConfig, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            tat: CachePadded::new(AtomicU64::new(Gcra::EMPTY)),
            gcra: Gcra::new(&config),
            config,
            clock,
        })
    }

    /// Admits one call now, or says how long until one would be admitted.
    #[inline]
    pub fn check(&self) -> Result<(), RateLimited> {
        self.gcra
            .apply(&self.tat, read(&self.clock, self.config.timing))
            .map_err(|wait| RateLimited {
                retry_after: Duration::from_nanos(wait),
            })
    }

    /// Reserves the next call's turn, if it comes within `max_wait`:
    /// `Ok(wait)` means the call is admitted once `wait` has passed
    /// (`Duration::ZERO`: now, as [`RateLimiter::check`] would) and its
    /// place is taken, so the caller sleeps `wait` once and goes ahead,
    /// with no second check; `Err` refuses it, changing nothing, with the
    /// wait that exceeded `max_wait`. Waits beyond [`MAX_RESERVATION`] are
    /// always refused.
    ///
    /// A reserved turn is spent even if the caller gives up its sleep:
    /// reserve only what will run.
    ///
    /// ```
    /// use std::time::Duration;
    /// use seawall::{ManualClock, RateLimitConfig, RateLimiter};
    ///
    /// let config = RateLimitConfig {
    ///     rate: 10,
    ///     period: Duration::from_secs(1),
    ///     burst: 1,
    ///     ..Default::default()
    /// };
    /// let limiter = RateLimiter::with_clock(config, ManualClock::new()).unwrap();
    /// assert_eq!(limiter.reserve(Duration::ZERO), Ok(Duration::ZERO));
    /// // The next turn is 100 ms away: taken, sleep 100 ms and go.
    /// assert_eq!(limiter.reserve(Duration::from_secs(1)), Ok(Duration::from_millis(100)));
    /// // The one after is 200 ms away: beyond 150 ms, refused.
    /// let refused = limiter.reserve(Duration::from_millis(150)).unwrap_err();
    /// assert_eq!(refused.retry_after, Duration::from_millis(200));
    /// ```
    #[inline]
    pub fn reserve(&self, max_wait: Duration) -> Result<Duration, RateLimited> {
        let max_wait = nanos(max_wait.min(MAX_RESERVATION));
        self.gcra
            .apply_reserve(&self.tat, read(&self.clock, self.config.timing), max_wait)
            .map(Duration::from_nanos)
            .map_err(|wait| RateLimited {
                retry_after: Duration::from_nanos(wait),
            })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The clock it reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A rate limit per key (client, tenant, host) in bounded memory.
///
/// Keys are hashed into a fixed table of `slots` GCRA words; a key's calls
/// are judged by its slot. Memory is `8 * slots` bytes whatever the number of
/// keys, and no key is ever allocated, evicted or locked.
///
/// The trade-off: keys that share a slot share one allowance. A collision
/// never lets a key exceed its own limit; it can only make a quiet key wait
/// for a busy neighbour. With `k` keys active at once in `n` slots, a given
/// key shares its slot with probability about `1 - (1 - 1/n)^(k-1)`; size the
/// table to a few times the number of keys expected to be busy at the same
/// time (4096 slots, 32 KiB, keep 100 busy keys 97.6% collision-free). An
/// exact per-key table (with eviction of idle keys) would remove collisions
/// but grow with the key set and need allocation or locking on first sight
/// of a key.
///
/// Slots are not padded to cache lines: two busy keys in neighbouring slots
/// may contend on a line, which costs speed, never correctness.
pub struct KeyedRateLimiter<K: ?Sized, C: Clock = QuantaClock, S = foldhash::fast::RandomState> {
    slots: Box<[AtomicU64]>,
    mask: u64,
    gcra: Gcra,
    config: RateLimitConfig,
    hasher: S,
    clock: C,
    _key: PhantomData<fn(&K)>,
}

impl<K: Hash + ?Sized> KeyedRateLimiter<K, QuantaClock> {
    /// A keyed limiter on the production clock with a randomly seeded hash.
    pub fn new(config: RateLimitConfig, slots: u32) -> Result<Self, ConfigError> {
        Self::with_hasher(config, slots, QuantaClock, Default::default())
    }
}

impl<K: Hash + ?Sized, C: Clock, S: BuildHasher> KeyedRateLimiter<K, C, S> {
    /// A keyed limiter on the given clock and hasher. `slots` in
    /// `1..=1048576` is rounded up to a power of two.
    pub fn with_hasher(
        config: RateLimitConfig,
        slots: u32,
        clock: C,
        hasher: S,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if slots == 0 || slots > MAX_SLOTS {
            return Err(ConfigError::new(
                "slots",
                slots,
                "an integer in [1, 1048576]",
            ));
        }
        let n = slots.next_power_of_two();
        Ok(Self {
            slots: (0..n).map(|_| AtomicU64::new(Gcra::EMPTY)).collect(),
            mask: u64::from(n) - 1,
            gcra: Gcra::new(&config),
            config,
            hasher,
            clock,
            _key: PhantomData,
        })
    }

    /// Admits one call for `key` now, or says how long until one would be.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<(), RateLimited> {
        let slot = &self.slots[self.slot_of(key)];
        self.gcra
            .apply(slot, read(&self.clock, self.config.timing))
            .map_err(|wait| RateLimited {
                retry_after: Duration::from_nanos(wait),
            })
    }

    /// The slot `key` is judged by (exposed so tests and capacity planning
    /// can see collisions).
    pub fn slot_of(&self, key: &K) -> usize {
        // The mask keeps the index below the table's length.
        (self.hasher.hash_one(key) & self.mask) as usize
    }

    /// The number of slots (the configured count rounded up to a power of
    /// two).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the limiter occupies, the table included; constant for its
    /// lifetime, whatever keys it sees.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + std::mem::size_of_val(&*self.slots)
    }

    /// The configuration applied to every key.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }
}

impl<K: ?Sized, C: Clock, S> fmt::Debug for KeyedRateLimiter<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("config", &self.config)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
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
