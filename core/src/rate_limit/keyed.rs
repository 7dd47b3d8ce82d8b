//! The keyed rate limiter: a fixed table of GCRA words, one per slot,
//! shared by the keys that hash to it.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use super::{
    refused, reservation_limit, Gcra, RateLimitConfig, RateLimited, RateLimiterMetrics, MAX_SLOTS,
};
use crate::clock::{Clock, QuantaClock};
use crate::config::ConfigError;
use crate::stripes::StripedCounts;
use crate::sync::AtomicU64;

/// [`KeyedRateLimiter`]'s counts: admissions and refusals.
const ALLOWED: usize = 0;
const DENIED: usize = 1;

/// A rate limit per key (client, tenant, host) in bounded memory.
///
/// Keys are hashed into a fixed table of `slots` GCRA words; a key's calls
/// are judged by its slot. Memory is `8 * slots` bytes (plus a kilobyte of
/// counters) whatever the number of keys, and no key is ever allocated,
/// evicted or locked.
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
/// may contend on a line, which costs speed, never correctness. Admissions
/// and refusals, over all keys, are counted on the calling thread's own
/// stripe ([`StripedCounts`]), so counting never adds a shared write.
pub struct KeyedRateLimiter<K: ?Sized, C: Clock = QuantaClock, S = foldhash::fast::RandomState> {
    slots: Box<[AtomicU64]>,
    counts: StripedCounts<2>,
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
            counts: StripedCounts::new(),
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
        let r = self.gcra.apply(slot, self.config.timing.read(&self.clock));
        self.count(r.is_ok());
        r.map_err(refused)
    }

    /// Reserves the next turn of `key`'s slot, if it comes within
    /// `max_wait`: [`RateLimiter::reserve`](super::RateLimiter::reserve) for
    /// one key. `Ok(wait)` takes the turn (the caller sleeps `wait` once and
    /// goes ahead, with no second check); `Err` refuses it, changing
    /// nothing, with the wait that exceeded `max_wait`. Waits beyond
    /// [`MAX_RESERVATION`](super::MAX_RESERVATION) are always refused. Keys
    /// sharing the slot queue behind the turn too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use seawall::{KeyedRateLimiter, ManualClock, RateLimitConfig};
    ///
    /// let config = RateLimitConfig {
    ///     rate: 10,
    ///     period: Duration::from_secs(1),
    ///     burst: 1,
    ///     ..Default::default()
    /// };
    /// let limiter: KeyedRateLimiter<str, _> =
    ///     KeyedRateLimiter::with_hasher(config, 64, ManualClock::new(), Default::default())
    ///         .unwrap();
    /// assert_eq!(limiter.reserve_key("tenant-a", Duration::ZERO), Ok(Duration::ZERO));
    /// // The tenant's next turn is 100 ms away: taken, sleep 100 ms and go.
    /// let wait = limiter.reserve_key("tenant-a", Duration::from_secs(1));
    /// assert_eq!(wait, Ok(Duration::from_millis(100)));
    /// ```
    #[inline]
    pub fn reserve_key(&self, key: &K, max_wait: Duration) -> Result<Duration, RateLimited> {
        let slot = &self.slots[self.slot_of(key)];
        let now = self.config.timing.read(&self.clock);
        let r = self
            .gcra
            .apply_reserve(slot, now, reservation_limit(max_wait));
        self.count(r.is_ok());
        r.map(Duration::from_nanos).map_err(refused)
    }

    #[inline]
    fn count(&self, admitted: bool) {
        self.counts.incr(if admitted { ALLOWED } else { DENIED });
    }

    /// Admissions and refusals so far, over every key (reservations
    /// count as admissions). Exact once the calling threads are joined;
    /// during traffic each count is a lower bound.
    pub fn metrics(&self) -> RateLimiterMetrics {
        RateLimiterMetrics {
            allowed: self.counts.total(ALLOWED),
            denied: self.counts.total(DENIED),
        }
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
