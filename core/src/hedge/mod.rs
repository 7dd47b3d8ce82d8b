//! Hedging: when a call has not answered after a delay, start another
//! attempt at it, and take whichever answers well first.
//!
//! A [`Hedge`] is the policy shared by every call to one dependency: how
//! long to wait before each extra attempt (a fixed delay, or a quantile of
//! the latencies it observed recently, clamped to `[min_delay,
//! max_delay]`), how many extra attempts at most (`max_hedges`), and the
//! [`RetryBudget`] every extra attempt must be granted by, so that hedges
//! never multiply the load on a dependency that slows down for everyone:
//! once the budget's share is spent, calls simply wait for their first
//! attempt. Only calls marked idempotent are hedged (the dependency may
//! see the same request twice); any other call gets no extra attempt.
//!
//! A [`HedgeCall`] is one call's state machine, without any I/O: the
//! driver (an async face, a thread pool, a C event loop) starts the first
//! attempt, sleeps [`HedgeCall::next_delay`], asks
//! [`HedgeCall::may_hedge`] whether to start another attempt, and reports
//! each attempt's end to [`HedgeCall::record_attempt_result`], which names
//! exactly one winner; the driver then cancels the other attempts and
//! ignores whatever they answer. [`Hedge::run`] is that driver as a
//! future, for any async runtime.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use seawall::{
//!     Hedge, HedgeConfig, HedgeDecision, ManualClock, Resolution, RetryBudget,
//!     RetryBudgetConfig,
//! };
//!
//! let clock = ManualClock::new();
//! let budget = Arc::new(RetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone()).unwrap());
//! let config = HedgeConfig { delay: Duration::from_millis(20), quantile: None, ..Default::default() };
//! let hedge = Hedge::with_clock(config, budget, clock.clone()).unwrap();
//!
//! let call = hedge.start(hedge.now(), true); // attempt 0 starts now
//! assert_eq!(call.next_delay(hedge.now()), Some(Duration::from_millis(20)));
//! clock.advance(Duration::from_millis(20)); // no answer yet
//! assert_eq!(call.may_hedge(hedge.now()), HedgeDecision::Start(1));
//! clock.advance(Duration::from_millis(3));
//! assert_eq!(call.record_attempt_result(1, hedge.now(), true), Resolution::Won);
//! assert_eq!(call.record_attempt_result(0, hedge.now(), true), Resolution::Lost);
//! let m = hedge.metrics();
//! assert_eq!((m.calls, m.hedges, m.wins), (1, 1, 1));
//! ```
//!
//! # Which latencies it learns from
//!
//! When a call ends well, the time since its first attempt started is
//! recorded: the first attempt's latency when it won, a lower bound of it
//! when a hedge won (the first attempt was cancelled, its latency is
//! censored). Censoring happens only after the delay, so every sample
//! below the delay is exact and the count of samples above it is too: the
//! quantile the delay is taken from is unbiased up to the delay itself, and
//! hedging does not drag its own delay down. Failed calls are not recorded
//! (a quick failure is not a latency of the service).
//!
//! # Memory ordering
//!
//! A call's state is one atomic word: its attempts started, failed and
//! reported, the winner, whether hedging stopped. Every change is one
//! compare-and-swap of the whole word, applying a pure function of it
//! (`call.rs`), so two attempts that end at once cannot both win, and an
//! attempt started after the call was decided cannot happen. The counters
//! and the latency histogram are statistics (`Relaxed`).

mod call;
mod latency;
mod run;
#[cfg(all(test, not(seawall_loom)))]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::budget::RetryBudget;
use crate::clock::{nanos, Clock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::stripes::StripedCounts;

pub use call::{HedgeCall, HedgeDecision, Resolution};
use latency::Latencies;

/// The counts of [`HedgeMetrics`], indices into [`Hedge`]'s striped counts.
#[derive(Clone, Copy)]
enum Count {
    Calls,
    Hedges,
    Refused,
    Wins,
}

/// The most extra attempts a call may make.
pub const MAX_HEDGES: u32 = 15;
/// The narrowest latency window.
pub const MIN_LATENCY_WINDOW: Duration = Duration::from_millis(10);
/// The largest `min_samples`.
pub const MAX_MIN_SAMPLES: u32 = 1_000_000_000;

/// How a [`Hedge`] decides when to start extra attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HedgeConfig {
    /// Extra attempts per call at most. `0..=15`, default 1; 0 never hedges.
    pub max_hedges: u32,
    /// The delay before each extra attempt when `quantile` is `None`, and
    /// while fewer than `min_samples` latencies were observed. At most one
    /// year; default 100 ms. Clamped to `[min_delay, max_delay]`.
    pub delay: Duration,
    /// Take the delay from this quantile of recent latencies (`0.95`: the
    /// 95th percentile), or `None` for the fixed `delay`. In `(0, 1)`,
    /// default `Some(0.95)`.
    pub quantile: Option<f64>,
    /// The shortest delay. At most `max_delay`; default 1 ms.
    pub min_delay: Duration,
    /// The longest delay. At most one year; default 1 s.
    pub max_delay: Duration,
    /// The span of recent latencies the quantile reads (between half of it
    /// and all of it, see the histogram's docs). `[10 ms, 1 year]`, default
    /// 10 s.
    pub window: Duration,
    /// Latencies needed in the window before the quantile is used.
    /// `1..=1_000_000_000`, default 20.
    pub min_samples: u32,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        Self {
            max_hedges: 1,
            delay: Duration::from_millis(100),
            quantile: Some(0.95),
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(1),
            window: Duration::from_secs(10),
            min_samples: 20,
        }
    }
}

impl HedgeConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_hedges > MAX_HEDGES {
            return Err(ConfigError::new(
                "max_hedges",
                self.max_hedges,
                "an integer in [0, 15]",
            ));
        }
        for (field, d) in [
            ("delay", self.delay),
            ("min_delay", self.min_delay),
            ("max_delay", self.max_delay),
        ] {
            if d > MAX_DURATION {
                return Err(ConfigError::new(field, d, "a duration of at most 365 days"));
            }
        }
        if self.min_delay > self.max_delay {
            return Err(ConfigError::new(
                "min_delay",
                self.min_delay,
                "a duration of at most max_delay",
            ));
        }
        if let Some(q) = self.quantile {
            if !(q > 0.0 && q < 1.0) {
                return Err(ConfigError::new("quantile", q, "a number in (0, 1)"));
            }
        }
        if self.window < MIN_LATENCY_WINDOW || self.window > MAX_DURATION {
            return Err(ConfigError::new(
                "window",
                self.window,
                "a duration in [10 ms, 365 days]",
            ));
        }
        if !(1..=MAX_MIN_SAMPLES).contains(&self.min_samples) {
            return Err(ConfigError::new(
                "min_samples",
                self.min_samples,
                "an integer in [1, 1000000000]",
            ));
        }
        Ok(())
    }
}

/// A snapshot of a hedge's counters ([`Hedge::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HedgeMetrics {
    /// Calls started ([`Hedge::start`], [`HedgeCall::new`]).
    pub calls: u64,
    /// Extra attempts started (each one granted by the budget).
    pub hedges: u64,
    /// Extra attempts the budget refused (none was started).
    pub refused: u64,
    /// Calls won by an extra attempt rather than the first.
    pub wins: u64,
}

/// The hedging policy shared by every call to one dependency: the delay,
/// the recent latencies it is learnt from, the retry budget extra attempts
/// draw from, and the counters. Lock-free; share it with an `Arc`.
pub struct Hedge<C: Clock = QuantaClock> {
    config: HedgeConfig,
    budget: Arc<RetryBudget<C>>,
    /// Only with a `quantile`.
    latencies: Option<Latencies>,
    /// The counters of [`HedgeMetrics`], indexed by [`Count`]: striped
    /// like every per-call count, so threads hedging at once never contend
    /// on them.
    counts: StripedCounts<4>,
    clock: C,
}

impl Hedge<QuantaClock> {
    /// A hedge on the production clock, drawing extra attempts from
    /// `budget`.
    pub fn new(config: HedgeConfig, budget: Arc<RetryBudget>) -> Result<Self, ConfigError> {
        Self::with_clock(config, budget, QuantaClock)
    }
}

impl<C: Clock> Hedge<C> {
    /// A hedge on the given clock (the budget's, for consistent windows),
    /// drawing extra attempts from `budget`.
    pub fn with_clock(
        config: HedgeConfig,
        budget: Arc<RetryBudget<C>>,
        clock: C,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            latencies: config.quantile.map(|_| Latencies::new(config.window)),
            config,
            budget,
            counts: StripedCounts::new(),
            clock,
        })
    }

    /// The time on its clock, in nanoseconds: what the methods taking
    /// `now` expect.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Starts a call whose first attempt starts at `now`, counted in the
    /// budget as a request; `idempotent`: whether it may be hedged at all.
    pub fn start(&self, now: u64, idempotent: bool) -> HedgeCall<&Self> {
        HedgeCall::new(self, now, idempotent, true)
    }

    /// The delay before each extra attempt of a call starting at `now`:
    /// the configured quantile of recent latencies once `min_samples` were
    /// observed, else `delay`; clamped to `[min_delay, max_delay]`.
    pub fn delay(&self, now: u64) -> Duration {
        let c = &self.config;
        let learnt = match (c.quantile, &self.latencies) {
            (Some(q), Some(l)) => l.quantile(now, q, c.min_samples).map(Duration::from_nanos),
            _ => None,
        };
        learnt.unwrap_or(c.delay).clamp(c.min_delay, c.max_delay)
    }

    /// Records a call's latency (see the module's docs for which one).
    /// Ignored with a fixed delay.
    pub fn record_latency(&self, now: u64, latency: Duration) {
        if let Some(l) = &self.latencies {
            l.record(now, nanos(latency));
        }
    }

    /// The budget extra attempts draw from.
    pub fn budget(&self) -> &Arc<RetryBudget<C>> {
        &self.budget
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &HedgeConfig {
        &self.config
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> HedgeMetrics {
        let n = |c: Count| self.counts.total(c as usize);
        HedgeMetrics {
            calls: n(Count::Calls),
            hedges: n(Count::Hedges),
            refused: n(Count::Refused),
            wins: n(Count::Wins),
        }
    }

    fn count(&self, c: Count) {
        self.counts.incr(c as usize);
    }
}

impl<C: Clock> fmt::Debug for Hedge<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
