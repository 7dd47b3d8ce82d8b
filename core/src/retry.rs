//! Retry: back-off policies and a per-call retry executor that knows about
//! the circuit breaker and the retry budget.
//!
//! A [`RetryPolicy`] is a validated [`RetryConfig`]; its
//! [`delay`](RetryPolicy::delay) is a pure function of the attempt number,
//! the previous delay and a random number supplied by the caller, so every
//! schedule is reproducible. [`RetryState`] is the per-call state machine,
//! without any I/O: told how each attempt ended, it decides whether to
//! retry (the budget included) and how long to wait, for bindings that sleep
//! in their own way (an event loop, a C caller); [`Retry`] runs a call to
//! completion with a [`Sleep`] of the caller's choice, through the same
//! [`RetryState`].
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Backoff, ManualClock, ManualSleep, Retry, RetryConfig, RetryPolicy};
//!
//! let policy = RetryPolicy::new(RetryConfig {
//!     strategy: Backoff::Exponential,
//!     max_attempts: 4,
//!     initial_delay: Duration::from_millis(100),
//!     ..Default::default()
//! })
//! .unwrap();
//! let clock = ManualClock::new();
//! let sleep = ManualSleep::new(clock.clone());
//! let out = Retry::new(&policy, &sleep)
//!     .run(|attempt| if attempt < 3 { Err("busy") } else { Ok(attempt) })
//!     .unwrap();
//! assert_eq!(out.value, 3);
//! // Slept 100 ms, then 200 ms, on the manual clock.
//! assert_eq!(out.total_delay, Duration::from_millis(300));
//! ```
//!
//! Every piece of state lives in the call: concurrent calls through one
//! policy never share attempt counters.
//!
//! # With a breaker and a budget
//!
//! With a [`Breaker`], every attempt takes a permit and reports its outcome,
//! so the breaker sees each attempt. A rejection by the breaker is never
//! retried as such: when it announces a next trial (`retry_after`) no later
//! than `max_delay` and within what is left of `max_total_delay`, the
//! executor waits for it and tries again (this counts as an attempt);
//! otherwise it stops at once. With a [`RetryBudget`] the first attempt is
//! recorded and every retry must be granted by
//! [`can_retry`](RetryBudget::can_retry).

use std::fmt;
use std::time::Duration;

use crate::breaker::{Breaker, CallError, Rejected};
use crate::budget::RetryBudget;
use crate::clock::{nanos, Clock, ManualClock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION, MAX_MULTIPLIER};
use crate::sync::{AtomicU64, Ordering};
use crate::Outcome;

/// The largest `max_attempts`: any `u32` (delays are defined for every
/// attempt number, see [`RetryPolicy::delay`]).
pub const MAX_ATTEMPTS: u32 = u32::MAX;

/// How the delay grows between attempts. With `n` the number of the attempt
/// that just failed (1 for the first), `i` the initial delay, `b` the base
/// and every delay capped at `max_delay`:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backoff {
    /// `i`.
    Fixed,
    /// `i * n`.
    Linear,
    /// `i * b^(n-1)`.
    Exponential,
    /// `i * F(n)` with `F(1) = F(2) = 1, F(3) = 2, F(4) = 3, ...`.
    Fibonacci,
    /// `i * b^(n-1)` (capped), scaled by a random factor in
    /// `[1 - jitter_factor, 1 + jitter_factor)`, capped again.
    #[default]
    ExponentialWithJitter,
    /// "Decorrelated jitter": uniform in `[i, 3 * previous delay)` (the
    /// previous delay being `i` before the first retry).
    DecorrelatedJitter,
}

/// A retry policy's settings. The defaults are the original package's
/// `RetryConfig`. [`RetryConfig::validate`] (called by [`RetryPolicy::new`])
/// checks them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// The back-off strategy. Default [`Backoff::ExponentialWithJitter`].
    pub strategy: Backoff,
    /// Attempts in all, the first included. At least 1, default 3.
    pub max_attempts: u32,
    /// The first delay. `[0, 1 year]`, default 1 s.
    pub initial_delay: Duration,
    /// The cap on every delay. `[initial_delay, 1 year]`, default 60 s.
    pub max_delay: Duration,
    /// The growth factor of the exponential strategies. `[1, 1000]`,
    /// default 2.
    pub exponential_base: f64,
    /// The spread of [`Backoff::ExponentialWithJitter`]. `[0, 1]`,
    /// default 0.1; 0 disables the jitter.
    pub jitter_factor: f64,
    /// The cap on the delays of one call summed, breaker waits included.
    /// `None` (default): no cap; else `[0, 1 year]`.
    pub max_total_delay: Option<Duration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            strategy: Backoff::ExponentialWithJitter,
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            exponential_base: 2.0,
            jitter_factor: 0.1,
            max_total_delay: None,
        }
    }
}

impl RetryConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "max_attempts",
                self.max_attempts,
                "an integer in [1, 4294967295]",
            ));
        }
        if self.initial_delay > MAX_DURATION {
            return Err(ConfigError::new(
                "initial_delay",
                self.initial_delay,
                "a duration in [0, 365 days]",
            ));
        }
        if self.max_delay < self.initial_delay || self.max_delay > MAX_DURATION {
            return Err(ConfigError::new(
                "max_delay",
                self.max_delay,
                "a duration in [initial_delay, 365 days]",
            ));
        }
        let b = self.exponential_base;
        if !(1.0..=MAX_MULTIPLIER).contains(&b) {
            return Err(ConfigError::new(
                "exponential_base",
                b,
                "a number in [1, 1000]",
            ));
        }
        let j = self.jitter_factor;
        if !(0.0..=1.0).contains(&j) {
            return Err(ConfigError::new("jitter_factor", j, "a fraction in [0, 1]"));
        }
        if let Some(t) = self.max_total_delay {
            if t > MAX_DURATION {
                return Err(ConfigError::new(
                    "max_total_delay",
                    t,
                    "unset or a duration in [0, 365 days]",
                ));
            }
        }
        Ok(())
    }
}

/// A validated retry configuration. Immutable and shareable: every call
/// keeps its own [`RetryState`].
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    config: RetryConfig,
    /// `initial_delay` and `max_delay` in nanoseconds (at most a year, so
    /// far from `u64::MAX`; `initial <= max`).
    initial: u64,
    max: u64,
}

impl RetryPolicy {
    /// Validates `config`.
    pub fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            initial: nanos(config.initial_delay),
            max: nanos(config.max_delay),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The delay after attempt `attempt` (1-based; 0 counts as 1) failed,
    /// given the `previous` delay of this call (zero before the first
    /// retry) and `unit`, a random number in `[0, 1)` (clamped into it; NaN
    /// counts as 0). Deterministic: the same arguments always give the same
    /// delay. `unit` is used only by the jittered strategies.
    ///
    /// Defined for every `attempt`: with `unit` and `previous` fixed, the
    /// delay never decreases as `attempt` grows (it stays at `max_delay`
    /// once there), and it is never above `max_delay` nor below
    /// `initial_delay` (`initial_delay * (1 - jitter_factor)` for
    /// [`Backoff::ExponentialWithJitter`]). The fixed, linear and Fibonacci
    /// delays are exact to the nanosecond; the exponential ones are
    /// computed in `f64`.
    pub fn delay(&self, attempt: u32, previous: Duration, unit: f64) -> Duration {
        let n = attempt.max(1);
        let u = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0 - f64::EPSILON)
        };
        let (i, max) = (self.initial, self.max);
        let ns = match self.config.strategy {
            Backoff::Fixed => i,
            Backoff::Linear => i.saturating_mul(u64::from(n)),
            Backoff::Exponential => match self.exponential(n) {
                // Capped: exactly `max`, which its `f64` may round below.
                x if x >= max as f64 => max,
                x => to_nanos(x).max(i),
            },
            Backoff::Fibonacci => match max.checked_div(i) {
                // `F(n)` stops growing once above `max / i`, where
                // `i * F(n)` is above `max`; it fits a u64 well before.
                Some(limit) => i.saturating_mul(fibonacci(n, limit)),
                None => 0,
            },
            Backoff::ExponentialWithJitter => {
                let j = self.config.jitter_factor;
                // The factor is in [1 - j, 1 + j) and grows with `u`; the
                // product grows with `n` (a rounded product of non-negative
                // numbers never decreases as either grows).
                to_nanos(self.exponential(n) * (1.0 + j * (2.0 * u - 1.0)))
            }
            Backoff::DecorrelatedJitter => {
                let prev = if previous.is_zero() {
                    i
                } else {
                    nanos(previous)
                };
                let high = prev.saturating_mul(3).min(max);
                // Uniform in [i, high); the product is rounded, so the sum
                // is capped at `high` again.
                let span = high.saturating_sub(i);
                i.saturating_add(to_nanos(u * span as f64)).min(high.max(i))
            }
        };
        Duration::from_nanos(ns.min(max))
    }

    /// `initial * base^(n-1)` in nanoseconds, capped at `max`: never NaN or
    /// infinite, and never decreasing as `n` grows. The exponent is the
    /// exact `f64` of `n - 1` (any `u32` is), so no attempt number wraps.
    fn exponential(&self, n: u32) -> f64 {
        if self.initial == 0 {
            // 0 * inf would be NaN.
            return 0.0;
        }
        let growth = self.config.exponential_base.powf(f64::from(n - 1));
        (self.initial as f64 * growth).min(self.max as f64)
    }
}

/// A non-negative number of nanoseconds as a `u64`: rounds down, and
/// saturates (`as` maps NaN to 0 and anything above `u64::MAX` to it).
fn to_nanos(ns: f64) -> u64 {
    ns as u64
}

/// `F(n)` with `F(1) = F(2) = 1`, stopping early once above `limit`
/// (so at most about `2 * limit`).
fn fibonacci(n: u32, limit: u64) -> u64 {
    let (mut a, mut b) = (1_u64, 1_u64);
    for _ in 2..n {
        if b > limit {
            break;
        }
        (a, b) = (b, a.saturating_add(b));
    }
    b
}

/// Why a call stopped retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stop {
    /// `max_attempts` attempts were made.
    Exhausted,
    /// The error was classified as not retryable.
    NotRetryable,
    /// The breaker refused the call and announced no next trial within
    /// `max_delay` and the remaining delay budget (or is forced open).
    Rejected,
    /// The retry budget refused the retry.
    BudgetExhausted,
    /// The next delay would exceed `max_total_delay`.
    DelayBudgetExhausted,
}

/// A call that gave up: the last error, why it stopped, and its books.
#[derive(Debug, PartialEq, Eq)]
pub struct RetryError<E> {
    /// Attempts made (breaker rejections included).
    pub attempts: u32,
    /// Time slept between attempts.
    pub total_delay: Duration,
    /// Why it stopped.
    pub stop: Stop,
    /// The last attempt's error: the call's own or the breaker's refusal.
    pub error: CallError<E>,
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {} attempt(s) ({:?}): {}",
            self.attempts, self.stop, self.error
        )
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RetryError<E> {}

/// A call that succeeded, and its books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retried<T> {
    /// The call's result.
    pub value: T,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// Time slept between attempts.
    pub total_delay: Duration,
}

/// One call's retry state machine, with no I/O: the caller begins each
/// attempt, says how it ended, and sleeps the delay it is given or stops.
///
/// It owns a copy of its policy (a few words), so it can outlive the
/// policy it was made from (a handle held by a foreign caller). The loop,
/// with a budget shared by the dependency's callers:
///
/// ```
/// use std::time::Duration;
/// use seawall::{Backoff, RetryBudget, RetryConfig, RetryPolicy, RetryState, Stop};
///
/// let policy = RetryPolicy::new(RetryConfig {
///     strategy: Backoff::Fixed,
///     initial_delay: Duration::from_millis(10),
///     ..Default::default()
/// })
/// .unwrap();
/// let budget = RetryBudget::new(Default::default()).unwrap();
/// let mut state = RetryState::new(&policy);
/// let stop = loop {
///     let attempt = state.begin(Some(&budget));
///     let failed = true; // make attempt `attempt` here
///     if !failed {
///         break None;
///     }
///     match state.on_failure(true, Some(&budget), fastrand::f64) {
///         Ok(delay) => assert_eq!(delay, Duration::from_millis(10)), // sleep it
///         Err(stop) => break Some(stop),
///     }
/// };
/// assert_eq!(stop, Some(Stop::Exhausted));
/// assert_eq!(state.attempts(), 3);
/// assert_eq!(state.total_delay(), Duration::from_millis(20));
/// ```
#[derive(Clone, Debug)]
pub struct RetryState {
    policy: RetryPolicy,
    attempts: u32,
    total: Duration,
    previous: Duration,
}

impl RetryState {
    /// A call under (a copy of) `policy` that has made no attempt yet.
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            policy: policy.clone(),
            attempts: 0,
            total: Duration::ZERO,
            previous: Duration::ZERO,
        }
    }

    /// The policy it follows.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Counts the start of an attempt and returns its number (1-based;
    /// it stays at `u32::MAX` once there). With a `budget`, the call's
    /// first attempt is recorded in it as a request; later attempts were
    /// counted when the budget granted them (see [`RetryState::on_failure`]).
    pub fn begin<C: Clock>(&mut self, budget: Option<&RetryBudget<C>>) -> u32 {
        if self.attempts == 0 {
            if let Some(budget) = budget {
                budget.record_attempt(false);
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        self.attempts
    }

    /// [`RetryState::begin`] without a budget.
    pub fn begin_attempt(&mut self) -> u32 {
        self.begin(None::<&RetryBudget>)
    }

    /// Attempts begun so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Delay committed so far.
    pub fn total_delay(&self) -> Duration {
        self.total
    }

    /// After the current attempt failed, the whole decision: the delay to
    /// sleep before the next attempt, or why to stop. In order: a failure
    /// not `retryable` stops ([`Stop::NotRetryable`]), as does the last of
    /// `max_attempts` ([`Stop::Exhausted`]) and a delay that would overrun
    /// `max_total_delay` ([`Stop::DelayBudgetExhausted`]); then the
    /// `budget`, if any, is asked for the retry ([`Stop::BudgetExhausted`]
    /// if it refuses; a grant is counted in it at once). A granted delay is
    /// committed: it adds to [`total_delay`](RetryState::total_delay) and
    /// becomes the previous delay of decorrelated jitter.
    ///
    /// `unit` supplies a random number in `[0, 1)` (see
    /// [`RetryPolicy::delay`]); it is called only when a delay is computed,
    /// so a seeded sequence maps one to one onto the delays computed.
    pub fn on_failure<C: Clock>(
        &mut self,
        retryable: bool,
        budget: Option<&RetryBudget<C>>,
        unit: impl FnOnce() -> f64,
    ) -> Result<Duration, Stop> {
        let delay = self.after_failure(retryable, unit)?;
        ask(budget)?;
        self.commit(delay);
        Ok(delay)
    }

    /// After the breaker refused the current attempt, the whole decision:
    /// the wait for its next trial, or why to stop. A `retry_after` (the
    /// breaker's announced next trial; `None` when forced open) beyond
    /// `max_delay` or the rest of `max_total_delay` stops
    /// ([`Stop::Rejected`]), as does the last of `max_attempts`
    /// ([`Stop::Exhausted`]) and a refusal of the `budget`
    /// ([`Stop::BudgetExhausted`]; a grant is counted in it). A granted wait
    /// adds to the total but leaves the back-off schedule where it was.
    pub fn on_rejection<C: Clock>(
        &mut self,
        retry_after: Option<Duration>,
        budget: Option<&RetryBudget<C>>,
    ) -> Result<Duration, Stop> {
        let wait = self.trial_wait(retry_after)?;
        ask(budget)?;
        self.commit_wait(wait);
        Ok(wait)
    }

    /// The first part of [`RetryState::on_failure`]: the policy's decision
    /// alone, without the budget, committing nothing (see
    /// [`RetryState::commit`]).
    pub fn after_failure(
        &self,
        retryable: bool,
        unit: impl FnOnce() -> f64,
    ) -> Result<Duration, Stop> {
        if !retryable {
            return Err(Stop::NotRetryable);
        }
        if self.attempts >= self.policy.config.max_attempts {
            return Err(Stop::Exhausted);
        }
        let d = self.policy.delay(self.attempts, self.previous, unit());
        if !self.fits(d) {
            return Err(Stop::DelayBudgetExhausted);
        }
        Ok(d)
    }

    /// The first part of [`RetryState::on_rejection`]: the policy's
    /// decision alone, without the budget, committing nothing (see
    /// [`RetryState::commit_wait`]).
    pub fn after_rejection(&self, rejected: &Rejected) -> Result<Duration, Stop> {
        self.trial_wait(rejected.retry_after)
    }

    fn trial_wait(&self, retry_after: Option<Duration>) -> Result<Duration, Stop> {
        match retry_after {
            Some(t) if t <= self.policy.config.max_delay && self.fits(t) => {
                if self.attempts >= self.policy.config.max_attempts {
                    Err(Stop::Exhausted)
                } else {
                    Ok(t)
                }
            }
            _ => Err(Stop::Rejected),
        }
    }

    fn fits(&self, d: Duration) -> bool {
        match self.policy.config.max_total_delay {
            Some(cap) => self.total.saturating_add(d) <= cap,
            None => true,
        }
    }

    /// Records that `delay` (from [`RetryState::after_failure`]) is being
    /// slept: it adds to the total and becomes the previous delay of
    /// decorrelated jitter. [`RetryState::on_failure`] does this itself.
    pub fn commit(&mut self, delay: Duration) {
        self.total = self.total.saturating_add(delay);
        self.previous = delay;
    }

    /// Records a wait for the breaker's next trial: it adds to the total
    /// but leaves the back-off schedule where it was.
    /// [`RetryState::on_rejection`] does this itself.
    pub fn commit_wait(&mut self, wait: Duration) {
        self.total = self.total.saturating_add(wait);
    }
}

/// Asks `budget`, if any, for one retry; a grant is counted in it.
fn ask<C: Clock>(budget: Option<&RetryBudget<C>>) -> Result<(), Stop> {
    match budget {
        Some(budget) if !budget.can_retry() => Err(Stop::BudgetExhausted),
        _ => Ok(()),
    }
}

/// How a retry executor waits.
pub trait Sleep {
    /// Blocks the calling thread for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Sleeps the calling thread ([`std::thread::sleep`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleep;

impl Sleep for ThreadSleep {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A sleep that returns at once after advancing a [`ManualClock`], for tests
/// of retrying code (and of breakers on the same clock).
#[derive(Clone, Debug, Default)]
pub struct ManualSleep {
    clock: ManualClock,
    slept: std::sync::Arc<AtomicU64>,
}

impl ManualSleep {
    /// A sleep that advances `clock`.
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            slept: Default::default(),
        }
    }

    /// The clock it advances.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Total time "slept" so far.
    pub fn slept(&self) -> Duration {
        // Relaxed: a running total read by the test that drives the sleeps.
        Duration::from_nanos(self.slept.load(Ordering::Relaxed))
    }
}

impl Sleep for ManualSleep {
    fn sleep(&self, duration: Duration) {
        let d = nanos(duration);
        // Relaxed: see `slept`. Saturating, like the clock it advances.
        let _ = self
            .slept
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(d))
            });
        self.clock.advance(duration);
    }
}

/// The per-call customisation of [`Retry::run_with`]. Every method has a
/// default, so an implementation overrides only what it needs.
pub trait RetryHooks<E> {
    /// Whether `error` may be retried. Default: every error.
    fn is_retryable(&mut self, error: &E) -> bool {
        let _ = error;
        true
    }

    /// What `error` counts as for the breaker. Default: a failure.
    fn outcome(&mut self, error: &E) -> Outcome {
        let _ = error;
        Outcome::Failure
    }

    /// Called before each wait: the attempt that failed (1-based), its error
    /// and the wait about to start.
    fn on_retry(&mut self, attempt: u32, error: &CallError<E>, delay: Duration) {
        let _ = (attempt, error, delay);
    }

    /// A random number in `[0, 1)` for the jittered strategies. Default:
    /// `fastrand::f64()`.
    fn random(&mut self) -> f64 {
        fastrand::f64()
    }
}

/// The default hooks: everything retryable, every error a breaker failure,
/// no callback, `fastrand` jitter.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl<E> RetryHooks<E> for DefaultHooks {}

/// A retry executor for one call: a policy, a way to sleep, and optionally
/// a breaker and a budget. Cheap to build (references only); build one per
/// call or share it, it holds no per-call state.
pub struct Retry<'a, S: Sleep, BC: Clock = QuantaClock, GC: Clock = QuantaClock> {
    policy: &'a RetryPolicy,
    sleeper: &'a S,
    breaker: Option<&'a Breaker<BC>>,
    budget: Option<&'a RetryBudget<GC>>,
}

impl<'a, S: Sleep> Retry<'a, S> {
    /// An executor of `policy` that waits with `sleeper`.
    pub fn new(policy: &'a RetryPolicy, sleeper: &'a S) -> Self {
        Self {
            policy,
            sleeper,
            breaker: None,
            budget: None,
        }
    }
}

impl<'a, S: Sleep, BC: Clock, GC: Clock> Retry<'a, S, BC, GC> {
    /// Runs every attempt under `breaker`.
    pub fn breaker<C: Clock>(self, breaker: &'a Breaker<C>) -> Retry<'a, S, C, GC> {
        Retry {
            policy: self.policy,
            sleeper: self.sleeper,
            breaker: Some(breaker),
            budget: self.budget,
        }
    }

    /// Asks `budget` before every retry.
    pub fn budget<C: Clock>(self, budget: &'a RetryBudget<C>) -> Retry<'a, S, BC, C> {
        Retry {
            policy: self.policy,
            sleeper: self.sleeper,
            breaker: self.breaker,
            budget: Some(budget),
        }
    }

    /// Runs `op` (given the attempt number) until it succeeds or a stop
    /// condition holds, with the [`DefaultHooks`].
    pub fn run<T, E>(
        &self,
        op: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<Retried<T>, RetryError<E>> {
        self.run_with(op, &mut DefaultHooks)
    }

    /// Runs `op` (given the attempt number) until it succeeds or a stop
    /// condition holds, consulting `hooks`.
    pub fn run_with<T, E, H: RetryHooks<E>>(
        &self,
        mut op: impl FnMut(u32) -> Result<T, E>,
        hooks: &mut H,
    ) -> Result<Retried<T>, RetryError<E>> {
        let mut state = RetryState::new(self.policy);
        loop {
            let attempt = state.begin(self.budget);
            let error = match self.attempt(attempt, &mut op, hooks) {
                Ok(value) => {
                    return Ok(Retried {
                        value,
                        attempts: attempt,
                        total_delay: state.total_delay(),
                    })
                }
                Err(e) => e,
            };
            let decision = match &error {
                CallError::Failed(e) => {
                    let retryable = hooks.is_retryable(e);
                    state.on_failure(retryable, self.budget, || hooks.random())
                }
                CallError::Rejected(r) => state.on_rejection(r.retry_after, self.budget),
            };
            let delay = match decision {
                Ok(d) => d,
                Err(stop) => {
                    return Err(RetryError {
                        attempts: attempt,
                        total_delay: state.total_delay(),
                        stop,
                        error,
                    })
                }
            };
            hooks.on_retry(attempt, &error, delay);
            self.sleeper.sleep(delay);
        }
    }

    fn attempt<T, E, H: RetryHooks<E>>(
        &self,
        attempt: u32,
        op: &mut impl FnMut(u32) -> Result<T, E>,
        hooks: &mut H,
    ) -> Result<T, CallError<E>> {
        let Some(breaker) = self.breaker else {
            return op(attempt).map_err(CallError::Failed);
        };
        let permit = breaker.try_acquire().map_err(CallError::Rejected)?;
        match op(attempt) {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                permit.record(hooks.outcome(&e));
                Err(CallError::Failed(e))
            }
        }
    }
}

impl<S: Sleep, BC: Clock, GC: Clock> fmt::Debug for Retry<'_, S, BC, GC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", self.policy)
            .field("breaker", &self.breaker.map(|b| b.name()))
            .field("budget", &self.budget.is_some())
            .finish()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_starts_one_one_two_and_stops_at_the_limit() {
        let f: Vec<u64> = (1..=8).map(|n| fibonacci(n, u64::MAX)).collect();
        assert_eq!(f, [1, 1, 2, 3, 5, 8, 13, 21]);
        assert_eq!(fibonacci(1000, 10), 13);
        assert_eq!(fibonacci(u32::MAX, 0), 1);
        // Unlimited, it saturates instead of wrapping.
        assert_eq!(fibonacci(200, u64::MAX), u64::MAX);
    }

    fn fixed(max_attempts: u32, max_total_ms: Option<u64>) -> RetryPolicy {
        RetryPolicy::new(RetryConfig {
            strategy: Backoff::Fixed,
            max_attempts,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_total_delay: max_total_ms.map(Duration::from_millis),
            ..Default::default()
        })
        .unwrap()
    }

    /// A budget whose bucket decides (below `min_requests`), holding
    /// `tokens` retries.
    fn budget(tokens: u32) -> RetryBudget<ManualClock> {
        let config = crate::RetryBudgetConfig {
            min_requests: 1_000,
            max_tokens: tokens,
            ..Default::default()
        };
        RetryBudget::with_clock(config, ManualClock::new()).unwrap()
    }

    #[test]
    fn the_first_attempt_is_recorded_and_grants_are_charged() {
        let policy = fixed(10, None);
        let b = budget(2);
        let mut state = RetryState::new(&policy);
        assert_eq!(state.begin(Some(&b)), 1);
        assert_eq!((b.counts().requests, b.counts().retries), (1, 0));
        let ms100 = Duration::from_millis(100);
        for attempt in 2..=3 {
            assert_eq!(state.on_failure(true, Some(&b), || 0.5), Ok(ms100));
            // A granted retry is counted by the grant, not by `begin`.
            assert_eq!(state.begin(Some(&b)), attempt);
        }
        let before = b.counts();
        assert_eq!(
            state.on_failure(true, Some(&b), || 0.5),
            Err(Stop::BudgetExhausted)
        );
        assert_eq!(b.counts(), before, "a refusal charges nothing");
        // Nothing was committed by the refusal.
        assert_eq!((state.attempts(), state.total_delay()), (3, 2 * ms100));
        // The policy's own stops come before the budget is asked.
        let b = budget(5);
        let mut state = RetryState::new(&policy);
        state.begin(Some(&b));
        assert_eq!(
            state.on_failure(false, Some(&b), || 0.5),
            Err(Stop::NotRetryable)
        );
        assert_eq!(b.remaining_percent(), 100.0);
    }

    #[test]
    fn rejections_wait_for_the_announced_trial_within_the_limits() {
        let policy = fixed(3, Some(1_500));
        let mut state = RetryState::new(&policy);
        let none = None::<&RetryBudget>;
        state.begin_attempt();
        let ms = Duration::from_millis;
        // Beyond max_delay (1 s), or no trial announced: stop.
        assert_eq!(
            state.on_rejection(Some(ms(1_001)), none),
            Err(Stop::Rejected)
        );
        assert_eq!(state.on_rejection(None, none), Err(Stop::Rejected));
        assert_eq!(state.on_rejection(Some(ms(1_000)), none), Ok(ms(1_000)));
        assert_eq!(state.total_delay(), ms(1_000));
        state.begin_attempt();
        // 1_000 + 600 would overrun max_total_delay (1.5 s).
        assert_eq!(state.on_rejection(Some(ms(600)), none), Err(Stop::Rejected));
        assert_eq!(state.on_failure(true, none, || 0.5), Ok(ms(100)));
        state.begin_attempt();
        assert_eq!(state.on_rejection(Some(ms(1)), none), Err(Stop::Exhausted));
        assert_eq!(state.total_delay(), ms(1_100));
        // A budget refusal stops a wait like a retry.
        let b = budget(0);
        let mut state = RetryState::new(&policy);
        state.begin(Some(&b));
        assert_eq!(
            state.on_rejection(Some(ms(10)), Some(&b)),
            Err(Stop::BudgetExhausted)
        );
    }

    #[test]
    fn attempt_counts_saturate() {
        let policy = RetryPolicy::new(RetryConfig::default()).unwrap();
        let mut state = RetryState::new(&policy);
        state.attempts = u32::MAX - 1;
        assert_eq!(state.begin_attempt(), u32::MAX);
        assert_eq!(state.begin_attempt(), u32::MAX);
        assert_eq!(state.after_failure(true, || 0.5), Err(Stop::Exhausted));
    }
}
