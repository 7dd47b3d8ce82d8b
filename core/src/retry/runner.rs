//! The retry runner: [`Retry`] drives a [`RetryState`] to the end of a call,
//! sleeping with a [`Sleep`] and asking [`RetryHooks`] what to retry; and
//! what a call ends with ([`Retried`], [`RetryError`]).

use std::fmt;
use std::time::Duration;

use super::{Backoff, RetryState, Stop};
use crate::breaker::{Breaker, CallError};
use crate::budget::RetryBudget;
use crate::clock::{nanos, Clock, ManualClock, QuantaClock};
use crate::random::{Random, ThreadRandom};
use crate::sync::{AtomicU64, Ordering};
use crate::Outcome;

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
    /// the calling thread's [`ThreadRandom`].
    fn random(&mut self) -> f64 {
        ThreadRandom.unit()
    }
}

/// The default hooks: everything retryable, every error a breaker failure,
/// no callback, jitter from [`ThreadRandom`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl<E> RetryHooks<E> for DefaultHooks {}

/// A retry executor for one call: a back-off schedule, a way to sleep, and
/// optionally a breaker and a budget. Cheap to build (references only); build one per
/// call or share it, it holds no per-call state.
pub struct Retry<'a, S: Sleep, BC: Clock = QuantaClock, GC: Clock = QuantaClock> {
    backoff: &'a Backoff,
    sleeper: &'a S,
    breaker: Option<&'a Breaker<BC>>,
    budget: Option<&'a RetryBudget<GC>>,
}

impl<'a, S: Sleep> Retry<'a, S> {
    /// An executor of `backoff` that waits with `sleeper`.
    pub fn new(backoff: &'a Backoff, sleeper: &'a S) -> Self {
        Self {
            backoff,
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
            backoff: self.backoff,
            sleeper: self.sleeper,
            breaker: Some(breaker),
            budget: self.budget,
        }
    }

    /// Asks `budget` before every retry.
    pub fn budget<C: Clock>(self, budget: &'a RetryBudget<C>) -> Retry<'a, S, BC, C> {
        Retry {
            backoff: self.backoff,
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
        let mut state = RetryState::new(self.backoff);
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
            .field("backoff", self.backoff)
            .field("breaker", &self.breaker.map(|b| b.name()))
            .field("budget", &self.budget.is_some())
            .finish()
    }
}
