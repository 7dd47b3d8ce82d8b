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
//! [`RateLimiter::reserve`] (and [`KeyedRateLimiter::reserve_key`], per
//! key) decides a waiting caller's wait once: it takes the next turn (if it
//! comes within the caller's `max_wait`) and says how long to sleep, so the
//! caller sleeps once and goes ahead.
//!
//! The decision ([`Gcra::decide`]) is a pure function of the stored TAT and
//! the time; one compare-and-swap loop applies it. [`KeyedRateLimiter`] keeps
//! one such word per slot of a fixed table, so its memory does not grow with
//! the number of keys.

use std::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{nanos, Clock, QuantaClock, Timing};
use crate::config::{ConfigError, MAX_DURATION};
use crate::stripes::StripedCounts;
use crate::sync::{AtomicU64, Ordering};

mod gcra;
mod keyed;

pub use gcra::Gcra;
pub use keyed::KeyedRateLimiter;

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
    /// [`Timing::Recent`] can only refuse more (the TAT looks further
    /// ahead) and can only lower the TAT it installs by at most the lag, so
    /// the limiter behaves as an exact one whose burst is larger by at most
    /// the calls of one resolution (`1 ms / interval`, rounded up), and
    /// waits it announces may be up to 1 ms too long. Suited to limits of
    /// up to a few thousand calls per second, or where that slack is
    /// acceptable.
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

/// The refusal of a call that would have to wait `wait` nanoseconds.
#[inline]
fn refused(wait: u64) -> RateLimited {
    RateLimited {
        retry_after: Duration::from_nanos(wait),
    }
}

/// `max_wait` as the nanoseconds a reservation may wait: capped at
/// [`MAX_RESERVATION`].
#[inline]
fn reservation_limit(max_wait: Duration) -> u64 {
    nanos(max_wait.min(MAX_RESERVATION))
}

/// A snapshot of a rate limiter's counts ([`RateLimiter::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimiterMetrics {
    /// Calls admitted (reservations included).
    pub allowed: u64,
    /// Calls refused.
    pub denied: u64,
}

/// The word every admission swaps, and the count of admissions, which is
/// written right after that swap while the line is this thread's.
#[derive(Default)]
struct Admissions {
    tat: AtomicU64,
    allowed: AtomicU64,
}

/// A lock-free rate limiter: GCRA on one atomic word.
///
/// [`RateLimiter::check`] costs one clock reading (see [`Timing`]), one
/// load and, when the call is admitted, one compare-and-swap and one count
/// on the same cache line. A refused call writes only its count, on the
/// calling thread's own stripe ([`StripedCounts`]), so callers hammering a
/// saturated limiter share the word's line read-only and write no line
/// another thread writes.
pub struct RateLimiter<C: Clock = QuantaClock> {
    admissions: CachePadded<Admissions>,
    /// Refusals: one striped count.
    denied: StripedCounts<1>,
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
            admissions: CachePadded::new(Admissions {
                tat: AtomicU64::new(Gcra::EMPTY),
                allowed: AtomicU64::new(0),
            }),
            denied: StripedCounts::new(),
            gcra: Gcra::new(&config),
            config,
            clock,
        })
    }

    /// Admits one call now, or says how long until one would be admitted.
    #[inline]
    pub fn check(&self) -> Result<(), RateLimited> {
        let r = self
            .gcra
            .apply(&self.admissions.tat, self.config.timing.read(&self.clock));
        self.count(r.is_ok());
        r.map_err(refused)
    }

    /// Counts an admission (on the line its swap just wrote) or a refusal
    /// (on this thread's stripe).
    #[inline]
    fn count(&self, admitted: bool) {
        if admitted {
            // Relaxed: a count for metrics; nothing is published through it.
            self.admissions.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.denied.incr(0);
        }
    }

    /// The admissions and refusals so far. Exact once the calling threads
    /// are joined; during traffic each count is a lower bound.
    pub fn metrics(&self) -> RateLimiterMetrics {
        RateLimiterMetrics {
            // Relaxed: see `count`.
            allowed: self.admissions.allowed.load(Ordering::Relaxed),
            denied: self.denied.total(0),
        }
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
        let now = self.config.timing.read(&self.clock);
        let r = self
            .gcra
            .apply_reserve(&self.admissions.tat, now, reservation_limit(max_wait));
        self.count(r.is_ok());
        r.map(Duration::from_nanos).map_err(refused)
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
