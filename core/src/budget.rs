//! The retry budget: retries limited to a share of recent requests.
//!
//! A retry storm starts when every caller of a struggling dependency retries
//! at once. A [`RetryBudget`], shared by all callers of one dependency, lets
//! retries through only while they stay below `budget_percent` of the
//! requests (first attempts plus retries) of the last `window_size`. While
//! the window holds fewer than `min_requests` requests (a quiet service,
//! where a share of almost nothing would forbid every retry), retries are
//! paced by a token bucket instead: `tokens_per_second`, holding at most
//! `max_tokens`.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{ManualClock, RetryBudget, RetryBudgetConfig};
//!
//! let config = RetryBudgetConfig { budget_percent: 10.0, min_requests: 10, ..Default::default() };
//! let budget = RetryBudget::with_clock(config, ManualClock::new()).unwrap();
//! for _ in 0..90 {
//!     budget.record_attempt(false);
//! }
//! // 10 retries fit: 10 of 100 requests.
//! assert_eq!((0..20).filter(|_| budget.can_retry()).count(), 10);
//! ```
//!
//! # The window
//!
//! The shared ring of ten time slices (`slices.rs`): the window spans
//! between nine and ten slices of `window_size / 10` of the past; counts
//! saturate at [`MAX_BUCKET_COUNT`] per slice.
//!
//! # Memory ordering
//!
//! The window's words are self-contained (see `slices.rs`), and so is the
//! token bucket. Each decision to grant a retry is a read-modify-write of
//! the current slice that checks the share against the value it replaces,
//! so concurrent callers can never together exceed the budget within one
//! slice.

use std::fmt;
use std::time::Duration;

use crate::clock::{Clock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::rate_limit::Gcra;
use crate::slices::{Pair, SliceWindow};
pub use crate::slices::{BUCKETS, MAX_BUCKET_COUNT};
use crate::sync::{AtomicU64, Ordering};

/// The narrowest window: ten slices of one millisecond.
pub const MIN_WINDOW: Duration = Duration::from_millis(10);
/// The largest `min_requests`, `max_tokens` and `tokens_per_second`.
pub const MAX_BUDGET_COUNT: u32 = 1_000_000_000;

/// Parts per million in 100 percent.
const MILLION: u64 = 1_000_000;

/// How a [`RetryBudget`] limits retries. The defaults are the original
/// package's `RetryBudgetConfig`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetConfig {
    /// The largest share of the window's requests that may be retries, in
    /// percent. `[0, 100]`, default 10; applied to a part in a million.
    pub budget_percent: f64,
    /// Below this many requests in the window the token bucket decides
    /// instead. `0..=1_000_000_000`, default 100.
    pub min_requests: u32,
    /// The span of recent requests judged. `[10 ms, 1 year]`, default 60 s.
    pub window_size: Duration,
    /// The token bucket's refill rate. A finite number in `(0, 1e9]`,
    /// fast enough to refill `max_tokens` within 100 years; default 10.
    pub tokens_per_second: f64,
    /// The token bucket's capacity; it starts full. `0..=1_000_000_000`,
    /// default 100; 0 forbids retries below `min_requests`.
    pub max_tokens: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            budget_percent: 10.0,
            min_requests: 100,
            window_size: Duration::from_secs(60),
            tokens_per_second: 10.0,
            max_tokens: 100,
        }
    }
}

impl RetryBudgetConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = self.budget_percent;
        if !(0.0..=100.0).contains(&p) {
            return Err(ConfigError::new(
                "budget_percent",
                p,
                "a number in [0, 100]",
            ));
        }
        if self.min_requests > MAX_BUDGET_COUNT {
            return Err(ConfigError::new(
                "min_requests",
                self.min_requests,
                "an integer in [0, 1000000000]",
            ));
        }
        if self.window_size < MIN_WINDOW || self.window_size > MAX_DURATION {
            return Err(ConfigError::new(
                "window_size",
                self.window_size,
                "a duration in [10 ms, 365 days]",
            ));
        }
        let t = self.tokens_per_second;
        if !(t > 0.0 && t <= f64::from(MAX_BUDGET_COUNT)) {
            return Err(ConfigError::new(
                "tokens_per_second",
                t,
                "a finite number in (0, 1000000000]",
            ));
        }
        if self.max_tokens > MAX_BUDGET_COUNT {
            return Err(ConfigError::new(
                "max_tokens",
                self.max_tokens,
                "an integer in [0, 1000000000]",
            ));
        }
        if self.max_tokens > 0 && !Gcra::refills_in_time(self.token_interval(), self.max_tokens) {
            return Err(ConfigError::new(
                "tokens_per_second",
                t,
                "fast enough to refill `max_tokens` within 100 years",
            ));
        }
        Ok(())
    }

    /// Nanoseconds between tokens (saturating; at least 1).
    fn token_interval(&self) -> u64 {
        // `as` saturates: a rate below 1e9 / u64::MAX gives u64::MAX.
        ((1e9 / self.tokens_per_second) as u64).max(1)
    }
}

/// The requests and retries a budget's window holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetCounts {
    /// Attempts counted: first attempts and retries.
    pub requests: u64,
    /// Retries counted (granted by [`RetryBudget::can_retry`] or reported
    /// with `record_attempt(true)`).
    pub retries: u64,
}

/// A snapshot of a retry budget ([`RetryBudget::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RetryBudgetMetrics {
    /// The share of the retry allowance left, `0..=1`.
    pub remaining_ratio: f64,
    /// Retries refused for lack of budget.
    pub exhausted: u64,
}

/// A lock-free retry budget shared by every caller of one dependency.
///
/// Callers report each first attempt with
/// [`record_attempt(false)`](RetryBudget::record_attempt) and ask
/// [`can_retry`](RetryBudget::can_retry) before each retry; a granted retry
/// is counted by `can_retry` itself (do not report it again).
pub struct RetryBudget<C: Clock = QuantaClock> {
    /// Requests and (marked) retries.
    window: SliceWindow,
    /// The token bucket, as GCRA: a retry takes a token when the bucket's
    /// theoretical arrival time allows it. Starts full (`Gcra::EMPTY`).
    tokens: AtomicU64,
    /// Retries refused, for [`RetryBudget::metrics`]: written only when
    /// `can_retry` refuses (a retry path, never a first attempt's).
    exhausted: AtomicU64,
    floor: Option<Gcra>,
    /// `budget_percent` in parts per million.
    ppm: u64,
    config: RetryBudgetConfig,
    clock: C,
}

impl RetryBudget<QuantaClock> {
    /// A budget on the production clock.
    pub fn new(config: RetryBudgetConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, QuantaClock)
    }
}

impl<C: Clock> RetryBudget<C> {
    /// A budget on the given clock, with an empty window and a full bucket.
    pub fn with_clock(config: RetryBudgetConfig, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let floor = (config.max_tokens > 0)
            .then(|| Gcra::spaced(config.token_interval(), config.max_tokens));
        Ok(Self {
            window: SliceWindow::new(config.window_size),
            tokens: AtomicU64::new(Gcra::EMPTY),
            exhausted: AtomicU64::new(0),
            floor,
            ppm: (config.budget_percent * 10_000.0).round() as u64,
            config,
            clock,
        })
    }

    /// Counts one attempt: a request, and a retry when `is_retry`.
    pub fn record_attempt(&self, is_retry: bool) {
        self.window.add(self.clock.now(), 1, u64::from(is_retry));
    }

    /// The window's counts at `now`, leaving out ring slot `skip`.
    fn sum(&self, now: u64, skip: Option<usize>) -> BudgetCounts {
        let Pair { requests, marked } = self.window.sum(now, skip);
        BudgetCounts {
            requests,
            retries: marked,
        }
    }

    /// The requests and retries in the window now.
    pub fn counts(&self) -> BudgetCounts {
        self.sum(self.clock.now(), None)
    }

    /// Does a retry fit with `c` in the window? The retry itself counts as a
    /// request: `(retries + 1) / (requests + 1) <= budget_percent / 100`.
    fn fits(&self, c: BudgetCounts) -> bool {
        (c.retries + 1).saturating_mul(MILLION) <= self.ppm.saturating_mul(c.requests + 1)
    }

    /// Asks for one retry. When granted (`true`), the retry is counted in
    /// the window (as a request and a retry) or, below `min_requests`, takes
    /// a token; the caller then makes the attempt without reporting it.
    pub fn can_retry(&self) -> bool {
        let now = self.clock.now();
        let n = self.window.slice_number(now);
        let others = self.sum(now, Some((n % BUCKETS) as usize));
        // The share is checked against the value the swap replaces, so no
        // concurrent grant in this slice can slip past it.
        let granted = self.window.update(n, |base| {
            let c = BudgetCounts {
                requests: others.requests + base.requests(),
                retries: others.retries + base.marked(),
            };
            if c.requests < u64::from(self.config.min_requests) {
                Err(true)
            } else if !self.fits(c) {
                Err(false)
            } else {
                Ok(base.add(1, 1))
            }
        });
        let granted = match granted {
            Ok(()) => true,
            Err(true) => self.take_token(now),
            Err(false) => false,
        };
        if !granted {
            // Relaxed: a count for metrics; written only on refusals.
            self.exhausted.fetch_add(1, Ordering::Relaxed);
        }
        granted
    }

    /// A snapshot for metrics: the share of the allowance left (as
    /// [`RetryBudget::remaining_percent`], over 100) and the retries refused
    /// so far.
    pub fn metrics(&self) -> RetryBudgetMetrics {
        RetryBudgetMetrics {
            remaining_ratio: self.remaining_percent() / 100.0,
            // Relaxed: see `can_retry`.
            exhausted: self.exhausted.load(Ordering::Relaxed),
        }
    }

    /// Below `min_requests`: a retry takes a token, and is then counted.
    fn take_token(&self, now: u64) -> bool {
        let Some(floor) = self.floor else {
            return false;
        };
        if floor.apply(&self.tokens, now).is_err() {
            return false;
        }
        self.window.add(now, 1, 1);
        true
    }

    /// The tokens in the bucket now.
    pub fn tokens(&self) -> u64 {
        let Some(g) = self.floor else { return 0 };
        let now = self.clock.now();
        // Relaxed: see the module's "Memory ordering".
        let tat = self.tokens.load(Ordering::Relaxed);
        // Each token is one interval of room below the TAT's tolerance.
        let room = (g.tolerance.saturating_add(g.interval)).saturating_sub(Gcra::ahead(tat, now));
        (room / g.interval).min(u64::from(self.config.max_tokens))
    }

    /// The share of the retry allowance left, in percent: of the window's
    /// `budget_percent` share at or above `min_requests`, of the token
    /// bucket below it.
    pub fn remaining_percent(&self) -> f64 {
        let c = self.counts();
        if c.requests < u64::from(self.config.min_requests) {
            if self.config.max_tokens == 0 {
                return 0.0;
            }
            return 100.0 * self.tokens() as f64 / f64::from(self.config.max_tokens);
        }
        let allowed = self.config.budget_percent / 100.0 * c.requests as f64;
        if allowed <= 0.0 {
            return 0.0;
        }
        (100.0 * (allowed - c.retries as f64) / allowed).clamp(0.0, 100.0)
    }

    /// Empties the window and refills the bucket. Exact only while no other
    /// thread uses the budget.
    pub fn reset(&self) {
        self.window.reset();
        // Relaxed: see the module's "Memory ordering".
        self.tokens.store(0, Ordering::Relaxed);
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.config
    }
}

impl<C: Clock> fmt::Debug for RetryBudget<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
