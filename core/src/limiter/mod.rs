//! The adaptive concurrency limiter: a bound on the calls in flight that
//! learns itself from the latency and the errors of the calls it admits.
//!
//! A [`Bulkhead`](crate::Bulkhead) admits a fixed `max_concurrent`; when
//! the dependency slows down, the calls it admits wait in the dependency's
//! own queue and their latency grows with it. An [`AdaptiveLimiter`]
//! lowers its limit when latency rises (or calls fail) and raises it while
//! the dependency keeps up, always within `[min_limit, max_limit]`,
//! starting at `initial_limit`. It never queues: a call over the limit is
//! refused at once ([`LimitReached`]), which is what keeps the admitted
//! calls' latency near the healthy one.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{AdaptiveLimiter, AdaptiveLimiterConfig, LimitAlgorithm, ManualClock, Outcome};
//!
//! let config = AdaptiveLimiterConfig {
//!     algorithm: LimitAlgorithm::Aimd,
//!     initial_limit: 2,
//!     ..Default::default()
//! };
//! let limiter = AdaptiveLimiter::with_clock(config, ManualClock::new()).unwrap();
//! let a = limiter.try_acquire().unwrap();
//! let _b = limiter.try_acquire().unwrap();
//! assert!(limiter.try_acquire().is_err());
//! a.record(Outcome::Success, Duration::from_millis(3)); // near the limit: +1
//! assert_eq!(limiter.limit(), 3);
//! ```
//!
//! # The algorithms
//!
//! [`LimitAlgorithm::Aimd`] updates on every sample (a permit's
//! [`AdaptivePermit::record`]): a *drop* (an [`Outcome::Failure`], or a
//! latency above `latency_threshold`) sets `limit = max(min_limit, limit *
//! backoff_ratio)`; a success whose call started with at least half the
//! limit in flight sets `limit = min(max_limit, limit + 1)`; other
//! successes leave it (a limit the traffic never reaches is not evidence
//! that a higher one is safe).
//!
//! [`LimitAlgorithm::Gradient`] (the default) follows Netflix's
//! `Gradient2Limit`. Samples are gathered in windows that close with the
//! first sample to find both `window_calls` samples in it and `window`
//! elapsed since it opened (as Netflix's `WindowedLimit`: windows of time,
//! so that the averages' spans do not depend on the call rate); the
//! window's mean latency is the short-term average `short`, and an
//! exponential average over `long_window` windows is the long-term one,
//! `long` (the first window sets it). A sample's time is its call's
//! admission plus its latency, on the limiter's clock (read as
//! [`AdaptiveLimiterConfig::timing`] says). When a window
//! closes:
//!
//! ```text
//! long     = long + (short - long) * 2 / (long_window + 1)
//! long     = long * 0.95                  if long > 2 * short  (recover from a spike)
//! limit    = limit                        if in_flight < limit / 2  (app-limited)
//! gradient = clamp(tolerance * long / short, 0.5, 1)
//! limit    = limit * (1 - smoothing) + (limit * gradient + queue_size) * smoothing
//! limit    = clamp(limit, min_limit, max_limit)
//! ```
//!
//! where `in_flight` is what the window's last call saw when it was
//! admitted. While latency holds at the long-term level the gradient is 1
//! and the limit climbs by `queue_size * smoothing` a window; when it rises
//! above `tolerance` times that level the gradient falls below 1 and the
//! limit shrinks geometrically toward `2 * queue_size` (the fixed point of
//! the rule at gradient 0.5); the long-term average follows a lasting
//! change slowly, so a new normal is learnt. Gradient ignores the outcome:
//! failures count by their latency (an error that came back fast is not
//! evidence of queueing). Vegas (a minimum latency as the no-load
//! baseline) was not chosen: its baseline only ever falls, so it needs
//! periodic resets to follow a dependency whose normal latency rises, and
//! one outlier that came back fast skews it for good.
//!
//! # Design
//!
//! Admission reads two words: the *estimate*, which packs the limit (an
//! `f32`) with the gradient's long-term latency (another `f32`), and the
//! *calls* word, whose low 24 bits count the calls in flight and whose high
//! 40 bits count the calls admitted (modulo 2^40). Taking a slot is one
//! compare-and-swap of the calls word that adds one to both, and only while
//! the calls in flight are below the limit read; freeing one is a
//! `fetch_sub` of one. A sample is applied by a compare-and-swap loop on
//! the estimate that recomputes the new estimate from the one it replaces
//! (the pure functions of `algorithm.rs`), so every sample is applied
//! exactly once and concurrent samples have the effect of some sequential
//! order of them. The gradient's windows are gathered in a third word,
//! sample count (high 16 bits) and latency sum in nanoseconds (low 48,
//! saturating): the call whose sample fills the window swaps it back to
//! zero in the same compare-and-swap and is then the only one to apply
//! that window; it then stores the new window's opening time in a fourth
//! word. (A sample that lands in the new window before that store sees the
//! old opening time, and may close the new window early if `window_calls`
//! is 1.) A window that reaches [`MAX_WINDOW`] samples closes however
//! little time has passed (a clock that steps back cannot overflow it). No
//! path takes a lock or waits for another thread.
//!
//! A limit that falls does not revoke permits already held: calls admitted
//! under the old limit finish, and no new call is admitted until the calls
//! in flight are below the new one. Each admission is checked against a
//! limit that was in force at some moment of the call to `try_acquire`.
//!
//! # Memory ordering
//!
//! As in a semaphore, taking a slot is `Acquire` and freeing one
//! `Release`: what a call did under its permit happens before the call
//! that takes the slot next. The estimate and the window carry numbers
//! only (nothing is published through them), so they are `Relaxed`; each
//! update is a read-modify-write, so none is lost.

use std::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::breaker::Outcome;
use crate::clock::{nanos, Clock, QuantaClock, Timing};
use crate::config::{ConfigError, MAX_DURATION};
use crate::sync::{AtomicU64, Ordering};

mod algorithm;

use algorithm::{limit_of, Estimate, Rules};

/// The largest `max_limit`: 2^24 - 1, the calls-in-flight field's range
/// (and the largest whole number an `f32` holds exactly).
pub const MAX_LIMIT: u32 = (1 << IN_FLIGHT_BITS) - 1;

/// The largest `window_calls`, and the most samples a window holds: the
/// window word's count field.
pub const MAX_WINDOW: u32 = u16::MAX as u32;

const IN_FLIGHT_BITS: u32 = 24;
const IN_FLIGHT_MASK: u64 = (1 << IN_FLIGHT_BITS) - 1;
/// Added to the calls word by an admission: one more in flight, one more
/// admitted.
const ADMIT: u64 = (1 << IN_FLIGHT_BITS) | 1;

const WINDOW_SUM_BITS: u32 = 48;
const WINDOW_SUM_MASK: u64 = (1 << WINDOW_SUM_BITS) - 1;

/// How an [`AdaptiveLimiter`] learns its limit (see the module docs for
/// the exact rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LimitAlgorithm {
    /// Additive increase, multiplicative decrease, on every sample.
    Aimd,
    /// Netflix's Gradient2: long- against short-term average latency.
    #[default]
    Gradient,
}

/// How an [`AdaptiveLimiter`] learns its limit. The AIMD fields are read
/// by [`LimitAlgorithm::Aimd`] only, the gradient fields by
/// [`LimitAlgorithm::Gradient`] only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveLimiterConfig {
    /// The update rule. Default [`LimitAlgorithm::Gradient`].
    pub algorithm: LimitAlgorithm,
    /// The limit before any sample. `[min_limit, max_limit]`, default 20.
    pub initial_limit: u32,
    /// The floor. `[1, max_limit]`, default 1.
    pub min_limit: u32,
    /// The ceiling. `[min_limit, MAX_LIMIT]`, default 200.
    pub max_limit: u32,
    /// AIMD: the factor a drop multiplies the limit by. `(0, 1)`, default 0.9.
    pub backoff_ratio: f64,
    /// AIMD: a call slower than this counts as a drop. `[0, 1 year]`,
    /// default 5 s.
    pub latency_threshold: Duration,
    /// Gradient: how much slower than the long-term average the short-term
    /// one may be before the limit shrinks. `[1, 100]`, default 1.5.
    pub tolerance: f64,
    /// Gradient: the weight of a window's new limit against the old.
    /// `(0, 1]`, default 0.2.
    pub smoothing: f64,
    /// Gradient: the head-room added to `limit * gradient`.
    /// `[0, MAX_LIMIT]`, default 4.
    pub queue_size: f64,
    /// Gradient: the long-term average's span, in windows. `[1, 2^32 - 1]`,
    /// default 600.
    pub long_window: u32,
    /// Gradient: the fewest samples in a window. `[1, MAX_WINDOW]`,
    /// default 10.
    pub window_calls: u32,
    /// Gradient: the shortest window. `[0, 1 year]`, default 1 s.
    pub window: Duration,
    /// The clock reading an admission records as its call's start. Default
    /// [`Timing::Exact`]. [`Timing::Recent`] spares the admission the
    /// hardware counter read (on [`QuantaClock`] about half the cost of an
    /// admission and release); latencies the limiter measures itself
    /// ([`AdaptivePermit::success`], [`AdaptivePermit::failure`],
    /// [`AdaptiveLimiter::complete`] without a latency) then come from two
    /// readings that each lag by up to 1 ms, so each is off by less than
    /// 1 ms either way: suited to dependencies whose calls take many
    /// milliseconds. A latency the caller gives ([`AdaptivePermit::record`],
    /// `complete` with one) stays exact; only the windows' opening and
    /// closing times move by the lag.
    pub timing: Timing,
}

impl Default for AdaptiveLimiterConfig {
    fn default() -> Self {
        Self {
            algorithm: LimitAlgorithm::Gradient,
            initial_limit: 20,
            min_limit: 1,
            max_limit: 200,
            backoff_ratio: 0.9,
            latency_threshold: Duration::from_secs(5),
            tolerance: 1.5,
            smoothing: 0.2,
            queue_size: 4.0,
            long_window: 600,
            window_calls: 10,
            window: Duration::from_secs(1),
            timing: Timing::Exact,
        }
    }
}

impl AdaptiveLimiterConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_limit == 0 || self.min_limit > MAX_LIMIT {
            return Err(ConfigError::new(
                "min_limit",
                self.min_limit,
                "an integer in [1, 16777215]",
            ));
        }
        if self.max_limit < self.min_limit || self.max_limit > MAX_LIMIT {
            return Err(ConfigError::new(
                "max_limit",
                self.max_limit,
                "an integer in [min_limit, 16777215]",
            ));
        }
        if self.initial_limit < self.min_limit || self.initial_limit > self.max_limit {
            return Err(ConfigError::new(
                "initial_limit",
                self.initial_limit,
                "an integer in [min_limit, max_limit]",
            ));
        }
        if !(self.backoff_ratio > 0.0 && self.backoff_ratio < 1.0) {
            return Err(ConfigError::new(
                "backoff_ratio",
                self.backoff_ratio,
                "a number in (0, 1)",
            ));
        }
        if self.latency_threshold > MAX_DURATION {
            return Err(ConfigError::new(
                "latency_threshold",
                self.latency_threshold,
                "a duration in [0, 365 days]",
            ));
        }
        if !(1.0..=100.0).contains(&self.tolerance) {
            return Err(ConfigError::new(
                "tolerance",
                self.tolerance,
                "a number in [1, 100]",
            ));
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(ConfigError::new(
                "smoothing",
                self.smoothing,
                "a number in (0, 1]",
            ));
        }
        if !(0.0..=f64::from(MAX_LIMIT)).contains(&self.queue_size) {
            return Err(ConfigError::new(
                "queue_size",
                self.queue_size,
                "a number in [0, 16777215]",
            ));
        }
        if self.long_window == 0 {
            return Err(ConfigError::new(
                "long_window",
                self.long_window,
                "an integer in [1, 4294967295]",
            ));
        }
        if self.window > MAX_DURATION {
            return Err(ConfigError::new(
                "window",
                self.window,
                "a duration in [0, 365 days]",
            ));
        }
        if self.window_calls == 0 || self.window_calls > MAX_WINDOW {
            return Err(ConfigError::new(
                "window_calls",
                self.window_calls,
                "an integer in [1, 65535]",
            ));
        }
        Ok(())
    }
}

/// A call refused because the calls in flight had reached the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitReached {
    /// The limit in force when the call was refused.
    pub limit: u32,
}

impl fmt::Display for LimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "adaptive concurrency limit reached ({})", self.limit)
    }
}

impl std::error::Error for LimitReached {}

/// A snapshot of an adaptive limiter, for metrics
/// ([`AdaptiveLimiter::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdaptiveLimiterMetrics {
    /// Calls admitted at once now (the estimate, rounded down).
    pub limit: u32,
    /// Calls holding a permit now.
    pub in_flight: u32,
    /// Calls admitted so far (modulo 2^40).
    pub admitted: u64,
    /// Calls refused so far.
    pub rejected: u64,
}

/// A lock-free adaptive concurrency limiter: see the module documentation.
pub struct AdaptiveLimiter<C: Clock = QuantaClock> {
    /// Calls in flight (low 24 bits) and admitted (high 40), see "Design".
    calls: CachePadded<AtomicU64>,
    /// The packed [`Estimate`]: what admissions check against.
    estimate: CachePadded<AtomicU64>,
    /// The gradient's open window: samples (high 16 bits), latency sum in
    /// nanoseconds (low 48).
    window: CachePadded<AtomicU64>,
    /// When the open window opened, on the clock (see "Design").
    window_start: AtomicU64,
    /// Calls refused, written only on refusals (as the bulkhead's).
    rejected: CachePadded<AtomicU64>,
    rules: Rules,
    /// `config.window` in nanoseconds.
    window_nanos: u64,
    config: AdaptiveLimiterConfig,
    clock: C,
}

impl AdaptiveLimiter<QuantaClock> {
    /// A limiter on the production clock.
    pub fn new(config: AdaptiveLimiterConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, QuantaClock)
    }
}

impl<C: Clock> AdaptiveLimiter<C> {
    /// A limiter on the given clock (permits measure their latency on it).
    pub fn with_clock(config: AdaptiveLimiterConfig, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let estimate = Estimate {
            // Exact: at most 2^24 - 1.
            limit: config.initial_limit as f32,
            long_rtt: 0.0,
        };
        Ok(Self {
            calls: CachePadded::new(AtomicU64::new(0)),
            estimate: CachePadded::new(AtomicU64::new(estimate.pack())),
            window: CachePadded::new(AtomicU64::new(0)),
            window_start: AtomicU64::new(config.timing.read(&clock)),
            rejected: CachePadded::new(AtomicU64::new(0)),
            rules: Rules::new(&config),
            window_nanos: nanos(config.window),
            config,
            clock,
        })
    }

    /// Takes a slot if the calls in flight are below the limit, without
    /// waiting; a refusal is counted in [`AdaptiveLimiter::metrics`].
    #[inline]
    pub fn try_acquire(&self) -> Result<AdaptivePermit<'_, C>, LimitReached> {
        let ticket = self.try_take()?;
        Ok(AdaptivePermit {
            limiter: self,
            ticket,
        })
    }

    /// The admission itself: a slot and the ticket that frees it.
    #[inline]
    fn try_take(&self) -> Result<AdaptiveTicket, LimitReached> {
        // Relaxed: a guess for the swap below, which decides.
        let mut cur = self.calls.load(Ordering::Relaxed);
        loop {
            // Relaxed: the limit is a number, not a publication; any value
            // it had during this call is a limit that was in force.
            // Saturating conversion; the stored limit is in [1, 2^24).
            let limit = limit_of(self.estimate.load(Ordering::Relaxed)) as u64;
            let in_flight = cur & IN_FLIGHT_MASK;
            if in_flight >= limit {
                return Err(self.refused(limit as u32));
            }
            // Acquire on success: pairs with the Release of the release
            // that freed this slot (see "Memory ordering"). Relaxed on
            // failure: the value only feeds the next attempt. Wrapping:
            // the admitted count is kept modulo 2^40; the in-flight field
            // is below 2^24 - 1 here and cannot carry into it.
            match self.calls.compare_exchange_weak(
                cur,
                cur.wrapping_add(ADMIT),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Ok(AdaptiveTicket {
                        started: self.config.timing.read(&self.clock),
                        in_flight: in_flight as u32 + 1,
                    })
                }
                Err(actual) => cur = actual,
            }
        }
    }

    #[cold]
    fn refused(&self, limit: u32) -> LimitReached {
        // Relaxed: a count for metrics; nothing is published through it.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        LimitReached { limit }
    }

    #[inline]
    fn release(&self) {
        // Release: pairs with the Acquire of whoever takes this slot next.
        // Every permit releases once, so the field never goes below zero
        // and never borrows from the admitted count.
        self.calls.fetch_sub(1, Ordering::Release);
    }

    /// Applies one sample to the limit (see the module docs).
    fn sample(&self, ticket: AdaptiveTicket, outcome: Outcome, latency: u64) {
        match (self.rules.algorithm, outcome) {
            (_, Outcome::Ignored) => {}
            (LimitAlgorithm::Aimd, _) => {
                let dropped = outcome == Outcome::Failure;
                self.update(|e| self.rules.aimd(e, dropped, latency, ticket.in_flight));
            }
            (LimitAlgorithm::Gradient, _) => {
                let at = ticket.started.saturating_add(latency);
                if let Some(short) = self.close_window(latency, at) {
                    self.update(|e| self.rules.gradient(e, short, ticket.in_flight));
                }
            }
        }
    }

    /// Adds a latency, of a sample taken at `at`, to the open window; if
    /// that closes it, empties it and returns its mean (this caller alone
    /// applies it).
    fn close_window(&self, latency: u64, at: u64) -> Option<f64> {
        let fewest = u64::from(self.config.window_calls);
        let latency = latency.min(WINDOW_SUM_MASK);
        // Relaxed: the window holds numbers only; the swap below decides.
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let count = (cur >> WINDOW_SUM_BITS) + 1;
            let sum = ((cur & WINDOW_SUM_MASK) + latency).min(WINDOW_SUM_MASK);
            // Relaxed: a number; see "Design" for the race it may lose.
            let opened = self.window_start.load(Ordering::Relaxed);
            let long_enough = at.saturating_sub(opened) >= self.window_nanos;
            let (next, closed) = if count >= fewest && long_enough || count >= u64::from(MAX_WINDOW)
            {
                (0, Some(sum as f64 / count as f64))
            } else {
                ((count << WINDOW_SUM_BITS) | sum, None)
            };
            // Relaxed: see above; a read-modify-write, so no sample is lost
            // and one caller alone empties a full window.
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    if closed.is_some() {
                        // Relaxed: a number, read as above.
                        self.window_start.store(at, Ordering::Relaxed);
                    }
                    return closed;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Replaces the estimate with `rule` of it, in one compare-and-swap.
    fn update(&self, rule: impl Fn(Estimate) -> Estimate) {
        // Relaxed: the estimate holds numbers only (see "Memory ordering");
        // the swap below applies the rule to the value it replaces.
        let mut cur = self.estimate.load(Ordering::Relaxed);
        loop {
            let next = rule(Estimate::unpack(cur)).pack();
            if next == cur {
                return;
            }
            // Relaxed: see above.
            match self.estimate.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Frees the slot of a ticket from [`AdaptivePermit::detach`] and
    /// applies its sample: `latency` if given, else the time since it was
    /// admitted on the limiter's clock. Returns `false`, and changes
    /// nothing, when no call is in flight (a ticket freed twice).
    pub fn complete(
        &self,
        ticket: AdaptiveTicket,
        outcome: Outcome,
        latency: Option<Duration>,
    ) -> bool {
        // Relaxed: a guess for the swap below.
        let mut cur = self.calls.load(Ordering::Relaxed);
        while cur & IN_FLIGHT_MASK > 0 {
            // Release on success: as in `release`. Relaxed on failure: a
            // new guess.
            match self.calls.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let latency = latency.map_or_else(|| self.since(ticket), nanos);
                    self.sample(ticket, outcome, latency);
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    fn since(&self, ticket: AdaptiveTicket) -> u64 {
        // Saturating: a clock that stepped back measures zero.
        self.config
            .timing
            .read(&self.clock)
            .saturating_sub(ticket.started)
    }

    /// The limit now: calls admitted at once.
    pub fn limit(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        limit_of(self.estimate.load(Ordering::Relaxed)) as u32
    }

    /// The limit now, unrounded (the learnt estimate).
    pub fn estimate(&self) -> f64 {
        // Relaxed: a snapshot for reporting.
        f64::from(limit_of(self.estimate.load(Ordering::Relaxed)))
    }

    /// Calls holding a permit now.
    pub fn in_flight(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        (self.calls.load(Ordering::Relaxed) & IN_FLIGHT_MASK) as u32
    }

    /// A snapshot for metrics. Each figure is a value it really had; taken
    /// during traffic they may be from slightly different moments.
    pub fn metrics(&self) -> AdaptiveLimiterMetrics {
        // Relaxed: snapshots for reporting.
        let calls = self.calls.load(Ordering::Relaxed);
        AdaptiveLimiterMetrics {
            limit: self.limit(),
            in_flight: (calls & IN_FLIGHT_MASK) as u32,
            admitted: calls >> IN_FLIGHT_BITS,
            // Relaxed: see `refused`.
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &AdaptiveLimiterConfig {
        &self.config
    }

    /// The clock it reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C: Clock> fmt::Debug for AdaptiveLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimiter")
            .field("config", &self.config)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

/// What a detached permit keeps: when its call was admitted and how many
/// calls were in flight then (itself included). Hand it to
/// [`AdaptiveLimiter::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveTicket {
    /// The admission's time on the limiter's clock, the reading
    /// [`AdaptiveLimiterConfig::timing`] names.
    pub started: u64,
    /// Calls in flight just after the admission.
    pub in_flight: u32,
}

/// One slot of an [`AdaptiveLimiter`]. Report how the call went with
/// [`record`](AdaptivePermit::record) (or [`success`](AdaptivePermit::success)
/// / [`failure`](AdaptivePermit::failure), which time it on the limiter's
/// clock); dropping it frees the slot without a sample.
#[must_use = "dropping the permit frees the slot at once, teaching the limit nothing"]
pub struct AdaptivePermit<'a, C: Clock = QuantaClock> {
    limiter: &'a AdaptiveLimiter<C>,
    ticket: AdaptiveTicket,
}

impl<C: Clock> AdaptivePermit<'_, C> {
    /// Applies the call's sample (`Ignored`: none) and frees the slot.
    pub fn record(self, outcome: Outcome, latency: Duration) {
        self.limiter.sample(self.ticket, outcome, nanos(latency));
    }

    /// A success, timed from the admission on the limiter's clock.
    pub fn success(self) {
        self.limiter.sample(
            self.ticket,
            Outcome::Success,
            self.limiter.since(self.ticket),
        );
    }

    /// A failure (error, timeout, overload): a drop for AIMD.
    pub fn failure(self) {
        self.limiter.sample(
            self.ticket,
            Outcome::Failure,
            self.limiter.since(self.ticket),
        );
    }

    /// When the call was admitted, and the calls in flight then.
    pub fn ticket(&self) -> AdaptiveTicket {
        self.ticket
    }

    /// Keeps the slot taken without a guard; free it later with
    /// [`AdaptiveLimiter::complete`].
    pub fn detach(self) -> AdaptiveTicket {
        let ticket = self.ticket;
        std::mem::forget(self);
        ticket
    }
}

impl<C: Clock> Drop for AdaptivePermit<'_, C> {
    #[inline]
    fn drop(&mut self) {
        self.limiter.release();
    }
}

impl<C: Clock> fmt::Debug for AdaptivePermit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("ticket", &self.ticket)
            .finish()
    }
}

#[cfg(test)]
mod tests;
