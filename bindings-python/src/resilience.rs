//! The engines besides the breaker: back-off delays and the retry budget,
//! as thin native classes over the core (the bulkhead and the rate limiter
//! have their own modules). The public package (`seawall.resilience`) wraps
//! them in the original interfaces and composes them in `with_resilience`.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use seawall::{
    Backoff as CoreBackoff, RetryBudget as CoreRetryBudget, RetryBudgetConfig, RetryConfig,
    RetryPolicy,
};

use crate::args::{attempt, core_u32, validated};
use crate::clock::{BindingClock, ManualClock};

/// Seconds (non-negative, finite) as a `Duration`, naming the field.
pub(crate) fn secs(field: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid {field} = {s}: must be a finite, non-negative number of seconds"
        ))
    })
}

/// The delays of a retry policy (`RetryConfig` of the core): pure, so the
/// same arguments always give the same delay.
#[pyclass(frozen, module = "seawall._native")]
pub struct Backoff(RetryPolicy);

#[pymethods]
impl Backoff {
    #[new]
    #[pyo3(signature = (strategy, max_attempts, initial_delay, max_delay, exponential_base, jitter_factor))]
    fn new(
        strategy: &str,
        max_attempts: &Bound<'_, PyAny>,
        initial_delay: f64,
        max_delay: f64,
        exponential_base: f64,
        jitter_factor: f64,
    ) -> PyResult<Self> {
        let strategy = match strategy {
            "fixed" => CoreBackoff::Fixed,
            "linear" => CoreBackoff::Linear,
            "exponential" => CoreBackoff::Exponential,
            "fibonacci" => CoreBackoff::Fibonacci,
            "exponential_with_jitter" => CoreBackoff::ExponentialWithJitter,
            "decorrelated_jitter" => CoreBackoff::DecorrelatedJitter,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid strategy = {other:?}: must be one of fixed, linear, exponential, \
                     fibonacci, exponential_with_jitter, decorrelated_jitter"
                )))
            }
        };
        let mut given = Vec::new();
        let config = RetryConfig {
            strategy,
            max_attempts: core_u32("max_attempts", max_attempts, &mut given)?,
            initial_delay: secs("initial_delay", initial_delay)?,
            max_delay: secs("max_delay", max_delay)?,
            exponential_base,
            jitter_factor,
            ..Default::default()
        };
        validated(RetryPolicy::new(config), &given).map(Backoff)
    }

    /// Seconds to wait after attempt `attempt` (1-based) failed, given the
    /// previous delay of this call (0 before the first retry) and `unit`, a
    /// random number in `[0, 1)` used only by the jittered strategies.
    fn delay(&self, attempt: &Bound<'_, PyAny>, previous: f64, unit: f64) -> PyResult<f64> {
        let n = self::attempt("attempt", attempt)?;
        Ok(self
            .0
            .delay(n, secs("previous", previous)?, unit)
            .as_secs_f64())
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.0.config().max_attempts
    }
}

/// A retry budget shared by every caller holding it.
#[pyclass(frozen, module = "seawall._native")]
pub struct RetryBudget(CoreRetryBudget<BindingClock>);

#[pymethods]
impl RetryBudget {
    #[new]
    #[pyo3(signature = (budget_percent, min_requests, window_size, tokens_per_second, max_tokens, *, clock = None))]
    fn new(
        budget_percent: f64,
        min_requests: &Bound<'_, PyAny>,
        window_size: f64,
        tokens_per_second: f64,
        max_tokens: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = RetryBudgetConfig {
            budget_percent,
            min_requests: core_u32("min_requests", min_requests, &mut given)?,
            window_size: secs("window_size", window_size)?,
            tokens_per_second,
            max_tokens: core_u32("max_tokens", max_tokens, &mut given)?,
        };
        validated(
            CoreRetryBudget::with_clock(config, BindingClock::from_arg(clock)),
            &given,
        )
        .map(RetryBudget)
    }

    /// Counts a request (`is_retry=False`) or a retry made without asking.
    fn record_attempt(&self, is_retry: bool) {
        self.0.record_attempt(is_retry);
    }

    /// Whether one more retry fits; a granted retry is counted here.
    fn can_retry(&self) -> bool {
        self.0.can_retry()
    }

    fn remaining_percent(&self) -> f64 {
        self.0.remaining_percent()
    }

    /// `(requests, retries)` counted in the window.
    fn counts(&self) -> (u64, u64) {
        let c = self.0.counts();
        (c.requests, c.retries)
    }

    fn reset(&self) {
        self.0.reset();
    }
}
