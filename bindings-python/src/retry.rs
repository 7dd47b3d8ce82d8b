//! Retries: the back-off schedule (`Backoff`), the retry budget
//! (`RetryBudget`), the named policies (`retry_policies`) and one call's
//! retry state machine (`RetryState`), as thin native classes over the
//! core. Every retry decision is the core's `RetryState`; the public
//! package (`seawall.retry`) only makes the attempts, sleeps, and tells the
//! state whether a failure is retryable (a question about Python exception
//! types and status codes).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use seawall_bindings_support::DynClock;

use seawall::{
    Backoff as CoreBackoff, Random, RetryBudget as CoreRetryBudget, RetryBudgetConfig, RetryConfig,
    RetryPolicy, RetryState as CoreRetryState, RetryStrategy, Stop, ThreadRandom,
};

use crate::args::{attempt, core_u32, secs, short_repr, type_name, validated};
use crate::clock::{clock_arg, ManualClock};

/// The back-off schedule of a retry policy (the core's `Backoff`): pure, so
/// the same arguments always give the same delay.
#[pyclass(frozen, module = "seawall._native")]
pub struct Backoff(CoreBackoff);

#[pymethods]
impl Backoff {
    #[new]
    #[pyo3(signature = (strategy, max_attempts, initial_delay, max_delay, exponential_base, jitter_factor, max_total_delay = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        strategy: &str,
        max_attempts: &Bound<'_, PyAny>,
        initial_delay: f64,
        max_delay: f64,
        exponential_base: f64,
        jitter_factor: f64,
        max_total_delay: Option<f64>,
    ) -> PyResult<Self> {
        let Some(strategy) = RetryStrategy::from_name(strategy) else {
            let names: Vec<&str> = RetryStrategy::ALL.iter().map(|s| s.name()).collect();
            return Err(PyValueError::new_err(format!(
                "invalid strategy = {strategy:?}: must be one of {}",
                names.join(", ")
            )));
        };
        let mut given = Vec::new();
        let config = RetryConfig {
            strategy,
            max_attempts: core_u32("max_attempts", max_attempts, &mut given)?,
            initial_delay: secs("initial_delay", initial_delay)?,
            max_delay: secs("max_delay", max_delay)?,
            exponential_base,
            jitter_factor,
            max_total_delay: max_total_delay
                .map(|s| secs("max_total_delay", s))
                .transpose()?,
        };
        validated(CoreBackoff::new(config), &given).map(Backoff)
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

/// The core's named retry policies, in its order, as
/// `(name, description, strategy, max_attempts, initial_delay, max_delay,
/// exponential_base, jitter_factor)` (seconds): the one table Python's
/// `RETRY_POLICIES` is built from.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn retry_policies() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    u32,
    f64,
    f64,
    f64,
    f64,
)> {
    RetryPolicy::ALL
        .into_iter()
        .map(|p| {
            let c = p.config();
            (
                p.name(),
                p.description(),
                c.strategy.name(),
                c.max_attempts,
                c.initial_delay.as_secs_f64(),
                c.max_delay.as_secs_f64(),
                c.exponential_base,
                c.jitter_factor,
            )
        })
        .collect()
}

/// A retry budget shared by every caller holding it.
#[pyclass(frozen, module = "seawall._native")]
pub struct RetryBudget(pub(crate) Arc<CoreRetryBudget<DynClock>>);

#[pymethods]
impl RetryBudget {
    #[new]
    #[pyo3(signature = (budget_percent, min_requests, window_size, tokens_per_second, max_tokens, *, clock = None, name = "default"))]
    fn new(
        budget_percent: f64,
        min_requests: &Bound<'_, PyAny>,
        window_size: f64,
        tokens_per_second: f64,
        max_tokens: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
        name: &str,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = RetryBudgetConfig {
            budget_percent,
            min_requests: core_u32("min_requests", min_requests, &mut given)?,
            window_size: secs("window_size", window_size)?,
            tokens_per_second,
            max_tokens: core_u32("max_tokens", max_tokens, &mut given)?,
        };
        let b = Arc::new(validated(
            CoreRetryBudget::with_clock(config, clock_arg(clock)),
            &given,
        )?);
        crate::telemetry::retry_budget(name, &b);
        Ok(RetryBudget(b))
    }

    /// Counts a request (`is_retry=False`) or a retry made without asking.
    pub(crate) fn record_attempt(&self, is_retry: bool) {
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

    /// The tokens in the bucket now (retries it would grant below
    /// `min_requests`).
    fn tokens(&self) -> u64 {
        self.0.tokens()
    }
}

/// One call's retry state machine (the core's `RetryState`): told how each
/// attempt ended, it decides the attempt number, the delay (back-off with
/// jitter), the use of the budget, the wait for a breaker's announced
/// trial, and why the call stops. The caller makes the attempts and sleeps.
///
/// `random` (a callable returning a float in `[0, 1)`, such as a
/// `random.Random`'s `random`) supplies the jitter's random numbers, one
/// per delay computed; `None` draws them natively. `custom` (a callable
/// given the attempt that failed, returning seconds) replaces the back-off
/// (Python's CUSTOM strategy); its delays are not capped by `max_delay`.
/// `attempts` is the number of attempts the caller already made, the first
/// recorded in the budget by the caller: a call whose first attempt ran on
/// the fast path creates its state after that attempt failed, with 1.
#[pyclass(module = "seawall._native")]
pub struct RetryState {
    state: CoreRetryState,
    budget: Option<Py<RetryBudget>>,
    random: Option<Py<PyAny>>,
    custom: Option<Py<PyAny>>,
    stop: Option<Stop>,
}

/// `f` as a callable, or a `TypeError` naming `field`.
fn callable(field: &str, f: Option<Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match f {
        Some(f) if !f.is_callable() => Err(PyTypeError::new_err(format!(
            "{field} must be callable, not {} ({})",
            type_name(&f),
            short_repr(&f)
        ))),
        f => Ok(f.map(Bound::unbind)),
    }
}

/// `custom(attempt)` as a delay: a number of seconds, negative and NaN
/// counting as 0 (as `max(0.0, x)` does in Python).
fn custom_delay(py: Python<'_>, custom: &Py<PyAny>, attempt: u32) -> PyResult<Duration> {
    let x: f64 = custom.call1(py, (attempt,))?.extract(py)?;
    let x = if x > 0.0 { x } else { 0.0 };
    Duration::try_from_secs_f64(x).map_err(|_| {
        PyValueError::new_err(format!(
            "custom_backoff({attempt}) returned {x}: must be a finite number of seconds"
        ))
    })
}

/// A random number from `random()`.
fn draw(py: Python<'_>, random: &Py<PyAny>) -> PyResult<f64> {
    random.call0(py)?.extract(py)
}

#[pymethods]
impl RetryState {
    #[new]
    #[pyo3(signature = (backoff, budget = None, *, random = None, custom = None, attempts = None))]
    fn new(
        backoff: &Bound<'_, Backoff>,
        budget: Option<Bound<'_, RetryBudget>>,
        random: Option<Bound<'_, PyAny>>,
        custom: Option<Bound<'_, PyAny>>,
        attempts: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let attempts = match attempts {
            Some(n) => self::attempt("attempts", n)?,
            None => 0,
        };
        Ok(Self {
            state: CoreRetryState::resumed(&backoff.get().0, attempts),
            budget: budget.map(Bound::unbind),
            random: callable("random", random)?,
            custom: callable("custom", custom)?,
            stop: None,
        })
    }

    /// Begins an attempt and returns its number (1 for a call's first;
    /// that one is recorded in the budget as a request).
    fn begin(&mut self, py: Python<'_>) -> u32 {
        let budget = self.budget.as_ref().map(|b| &*b.bind(py).get().0);
        self.state.begin(budget)
    }

    /// The attempt in progress failed (`retryable`: the caller's verdict):
    /// the seconds to sleep before the next attempt, or `None` when the call
    /// must stop (the reason in `stop`). An exception raised by `random` or
    /// `custom` propagates, and the state is left as it was.
    fn on_failure(&mut self, py: Python<'_>, retryable: bool) -> PyResult<Option<f64>> {
        let mut error = None;
        let decided = match (&self.custom, &self.random) {
            (Some(custom), _) => self.state.after_failure_with(retryable, |n| {
                custom_delay(py, custom, n).unwrap_or_else(|e| {
                    error = Some(e);
                    Duration::ZERO
                })
            }),
            (None, Some(random)) => self.state.after_failure(retryable, || {
                draw(py, random).unwrap_or_else(|e| {
                    error = Some(e);
                    0.0
                })
            }),
            (None, None) => self.state.after_failure(retryable, || ThreadRandom.unit()),
        };
        if let Some(e) = error {
            return Err(e);
        }
        let budget = self.budget.as_ref().map(|b| &*b.bind(py).get().0);
        let granted = decided.and_then(|d| self.state.grant(d, budget));
        Ok(self.answer(granted))
    }

    /// The breaker refused the attempt in progress, announcing its next
    /// trial in `retry_after` seconds (`None`: none, forced open): the
    /// seconds to wait for it, or `None` when the call must stop (the
    /// reason in `stop`).
    fn on_rejection(&mut self, py: Python<'_>, retry_after: Option<f64>) -> Option<f64> {
        // Below 0 (or NaN): due now. Too long for a Duration: beyond any
        // max_delay, so refused.
        let wait =
            retry_after.map(|s| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX));
        let budget = self.budget.as_ref().map(|b| &*b.bind(py).get().0);
        let decided = self.state.on_rejection(wait, budget);
        self.answer(decided)
    }

    /// Attempts begun so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.state.attempts()
    }

    /// Seconds of delay granted so far (back-off delays and breaker waits).
    #[getter]
    fn total_delay(&self) -> f64 {
        self.state.total_delay().as_secs_f64()
    }

    /// Why the call stopped (`"exhausted"`, `"not_retryable"`, `"rejected"`,
    /// `"budget_exhausted"`, `"delay_budget_exhausted"`), `None` while it
    /// has not.
    #[getter]
    fn stop(&self) -> Option<&'static str> {
        self.stop.map(Stop::name)
    }
}

impl RetryState {
    fn answer(&mut self, decided: Result<Duration, Stop>) -> Option<f64> {
        match decided {
            Ok(d) => Some(d.as_secs_f64()),
            Err(stop) => {
                self.stop = Some(stop);
                None
            }
        }
    }
}
