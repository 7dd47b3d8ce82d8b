//! The adaptive concurrency limiter as native classes: `try_acquire` hands
//! out a permit object, which frees its slot once, reporting how the call
//! went (its latency timed on the limiter's clock, or given).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use seawall::{
    AdaptiveLimiter as CoreLimiter, AdaptiveLimiterConfig, AdaptiveTicket, LimitAlgorithm, Outcome,
};
use seawall_bindings_support::DynClock;

use crate::args::{self, core_u32, number, secs, validated};
use crate::clock::{clock_arg, ManualClock};

type Core = CoreLimiter<DynClock>;

/// An adaptive limiter shared by every handle to it.
#[pyclass(frozen, module = "seawall._native")]
pub struct AdaptiveLimiter(Arc<Core>);

#[pymethods]
impl AdaptiveLimiter {
    #[new]
    #[pyo3(signature = (
        algorithm, initial_limit, min_limit, max_limit, backoff_ratio, latency_threshold,
        tolerance, smoothing, queue_size, long_window, window_calls, window,
        *, timing, clock = None, name = "default"
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        algorithm: &str,
        initial_limit: &Bound<'_, PyAny>,
        min_limit: &Bound<'_, PyAny>,
        max_limit: &Bound<'_, PyAny>,
        backoff_ratio: &Bound<'_, PyAny>,
        latency_threshold: f64,
        tolerance: &Bound<'_, PyAny>,
        smoothing: &Bound<'_, PyAny>,
        queue_size: &Bound<'_, PyAny>,
        long_window: &Bound<'_, PyAny>,
        window_calls: &Bound<'_, PyAny>,
        window: f64,
        timing: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
        name: &str,
    ) -> PyResult<Self> {
        let algorithm = match algorithm {
            "aimd" => LimitAlgorithm::Aimd,
            "gradient" => LimitAlgorithm::Gradient,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid algorithm = '{other}': must be 'aimd' or 'gradient'"
                )))
            }
        };
        let mut given = Vec::new();
        let config = AdaptiveLimiterConfig {
            algorithm,
            initial_limit: core_u32("initial_limit", initial_limit, &mut given)?,
            min_limit: core_u32("min_limit", min_limit, &mut given)?,
            max_limit: core_u32("max_limit", max_limit, &mut given)?,
            backoff_ratio: number("backoff_ratio", backoff_ratio)?,
            latency_threshold: secs("latency_threshold", latency_threshold)?,
            tolerance: number("tolerance", tolerance)?,
            smoothing: number("smoothing", smoothing)?,
            queue_size: number("queue_size", queue_size)?,
            long_window: core_u32("long_window", long_window, &mut given)?,
            window_calls: core_u32("window_calls", window_calls, &mut given)?,
            window: secs("window", window)?,
            timing: args::timing(timing)?,
        };
        let l = Arc::new(validated(
            CoreLimiter::with_clock(config, clock_arg(clock)),
            &given,
        )?);
        crate::telemetry::adaptive_limiter(name, &l);
        Ok(AdaptiveLimiter(l))
    }

    /// A permit if the calls in flight are below the limit, else `None`
    /// (counted as a refusal); never waits.
    fn try_acquire(&self) -> Option<AdaptivePermit> {
        let ticket = self.0.try_acquire().ok()?.detach();
        Some(AdaptivePermit {
            limiter: Arc::clone(&self.0),
            ticket,
            done: AtomicBool::new(false),
        })
    }

    /// Calls admitted at once now.
    fn limit(&self) -> u32 {
        self.0.limit()
    }

    /// The learnt limit, unrounded.
    fn estimate(&self) -> f64 {
        self.0.estimate()
    }

    fn in_flight(&self) -> u32 {
        self.0.in_flight()
    }

    /// `{"limit", "in_flight", "admitted", "rejected"}`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::telemetry::adaptive_limiter_dict(py, &self.0.metrics())
    }
}

/// One slot of an adaptive limiter. `success`, `failure`, `ignore` or
/// `record` free it once (later calls do nothing and return `False`); a
/// permit collected unreleased frees its slot, teaching nothing.
#[pyclass(frozen, module = "seawall._native")]
pub struct AdaptivePermit {
    limiter: Arc<Core>,
    ticket: AdaptiveTicket,
    done: AtomicBool,
}

impl AdaptivePermit {
    fn finish(&self, outcome: Outcome, latency: Option<f64>) -> PyResult<bool> {
        let latency = latency.map(|s| secs("latency", s)).transpose()?;
        // Relaxed: the flag only makes the release happen once; the swap is
        // a read-modify-write, so exactly one caller sees `false`.
        if self.done.swap(true, Ordering::Relaxed) {
            return Ok(false);
        }
        Ok(self.limiter.complete(self.ticket, outcome, latency))
    }
}

#[pymethods]
impl AdaptivePermit {
    /// The call succeeded; its latency is the time since the acquire.
    fn success(&self) -> PyResult<bool> {
        self.finish(Outcome::Success, None)
    }

    /// The call failed (an error, a timeout): a drop for AIMD.
    fn failure(&self) -> PyResult<bool> {
        self.finish(Outcome::Failure, None)
    }

    /// Frees the slot teaching the limiter nothing (a cancelled call).
    fn ignore(&self) -> PyResult<bool> {
        self.finish(Outcome::Ignored, None)
    }

    /// `outcome` one of `"success"`, `"failure"`, `"ignored"`; `latency`
    /// in seconds, or `None` for the time since the acquire.
    #[pyo3(signature = (outcome, latency = None))]
    fn record(&self, outcome: &str, latency: Option<f64>) -> PyResult<bool> {
        let outcome = match outcome {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure,
            "ignored" => Outcome::Ignored,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid outcome = '{other}': must be 'success', 'failure' or 'ignored'"
                )))
            }
        };
        self.finish(outcome, latency)
    }

    /// Calls in flight just after the admission (this one included).
    #[getter]
    fn in_flight(&self) -> u32 {
        self.ticket.in_flight
    }

    /// Whether the permit has been released.
    #[getter]
    fn released(&self) -> bool {
        // Relaxed: a snapshot.
        self.done.load(Ordering::Relaxed)
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        if !*self.done.get_mut() {
            self.limiter.complete(self.ticket, Outcome::Ignored, None);
        }
    }
}
