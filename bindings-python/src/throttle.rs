//! The adaptive throttler and the fault injector as native classes: thin
//! drivers of the core's engines (`seawall::throttle`, `seawall::fault`).
//! `AdaptiveThrottler.check` answers like `RateLimiter.check` (0.0
//! admitted); `FaultInjector.decide` packs the core's `Fault` into one
//! float so that the switched-off path allocates nothing.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use seawall::{
    AdaptiveThrottler as CoreThrottler, Fault, FaultConfig, FaultInjector as CoreInjector,
    Priority, Random, SeededRandom, ThreadRandom, ThrottleConfig,
};

use seawall_bindings_support::DynClock;

use crate::args::{self, secs, validated, value_error};
use crate::clock::{clock_arg, ManualClock};

/// The random source of an optional `seed=`.
fn random(seed: Option<&Bound<'_, PyAny>>) -> PyResult<Box<dyn Random>> {
    Ok(match seed {
        Some(v) => Box::new(SeededRandom::new(args::seed("seed", v)?)),
        None => Box::new(ThreadRandom),
    })
}

/// A priority by its name (`"critical"`, `"high"`, `"normal"`, `"low"`).
fn priority(name: &str) -> PyResult<Priority> {
    Priority::from_name(name).ok_or_else(|| {
        value_error(
            "priority",
            format_args!("'{name}'"),
            "one of 'critical', 'high', 'normal', 'low'",
        )
    })
}

/// Client-side throttling (Google SRE book), lowest priority shed first.
#[pyclass(frozen, module = "seawall._native")]
pub struct AdaptiveThrottler(Arc<CoreThrottler<DynClock>>);

#[pymethods]
impl AdaptiveThrottler {
    #[new]
    #[pyo3(signature = (k, window, max_rejection_probability, *, name = "default", clock = None, seed = None))]
    fn new(
        k: f64,
        window: f64,
        max_rejection_probability: f64,
        name: &str,
        clock: Option<&Bound<'_, ManualClock>>,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = ThrottleConfig {
            k,
            window: secs("window", window)?,
            max_rejection_probability,
        };
        let t = CoreThrottler::with_clock_and_random(config, clock_arg(clock), random(seed)?);
        let t = Arc::new(validated(t, &[])?);
        crate::telemetry::throttler(name, &t);
        Ok(AdaptiveThrottler(t))
    }

    /// 0.0 when a call of `priority` is admitted (record its outcome with
    /// `record`), else the probability it was refused with (the refusal is
    /// counted as a request).
    fn check(&self, priority: &str) -> PyResult<f64> {
        Ok(match self.0.check(self::priority(priority)?) {
            // The permit's only effect is its record, made by `record`.
            Ok(_permit) => 0.0,
            Err(t) => t.probability,
        })
    }

    /// Counts an admitted call: one request, and one accept when the
    /// backend `accepted` it.
    fn record(&self, accepted: bool) {
        self.0.record(accepted);
    }

    /// The probability a call of `priority` is refused now.
    fn rejection_probability(&self, priority: &str) -> PyResult<f64> {
        Ok(self.0.rejection_probability(self::priority(priority)?))
    }

    /// `{"requests", "accepts", "throttled", "rejection_probability"}`:
    /// the window's counts, the calls refused so far, the probability now
    /// for a "normal" call (as in `seawall.snapshot()`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::telemetry::throttler_dict(py, &self.0.metrics())
    }

    /// Empties the window.
    fn reset(&self) {
        self.0.reset();
    }
}

/// Injected errors, results and delays, off until enabled.
#[pyclass(frozen, module = "seawall._native")]
pub struct FaultInjector(Arc<CoreInjector>);

/// The core's configuration from the Python arguments.
fn fault_config(
    enabled: bool,
    error_rate: f64,
    result_rate: f64,
    latency_rate: f64,
    latency_min: f64,
    latency_max: f64,
) -> PyResult<FaultConfig> {
    Ok(FaultConfig {
        enabled,
        error_rate,
        result_rate,
        latency_rate,
        latency_min: secs("latency_min", latency_min)?,
        latency_max: secs("latency_max", latency_max)?,
    })
}

#[pymethods]
impl FaultInjector {
    #[new]
    #[pyo3(signature = (enabled, error_rate, result_rate, latency_rate, latency_min, latency_max, *, name = "default", seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        enabled: bool,
        error_rate: f64,
        result_rate: f64,
        latency_rate: f64,
        latency_min: f64,
        latency_max: f64,
        name: &str,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let config = fault_config(
            enabled,
            error_rate,
            result_rate,
            latency_rate,
            latency_min,
            latency_max,
        )?;
        let f = CoreInjector::with_random(config, random(seed)?);
        let f = Arc::new(validated(f, &[])?);
        crate::telemetry::fault_injector(name, &f);
        Ok(FaultInjector(f))
    }

    /// The next call's fault: 0.0 none, -1.0 an error, -2.0 a result, a
    /// positive number a delay in seconds (a delay of 0 is none).
    fn decide(&self) -> f64 {
        match self.0.decide() {
            Fault::None => 0.0,
            Fault::Error => -1.0,
            Fault::Result => -2.0,
            Fault::Latency(d) => d.as_secs_f64(),
        }
    }

    /// Replaces the whole configuration; a bad one raises and changes
    /// nothing.
    #[pyo3(signature = (enabled, error_rate, result_rate, latency_rate, latency_min, latency_max))]
    fn configure(
        &self,
        enabled: bool,
        error_rate: f64,
        result_rate: f64,
        latency_rate: f64,
        latency_min: f64,
        latency_max: f64,
    ) -> PyResult<()> {
        let config = fault_config(
            enabled,
            error_rate,
            result_rate,
            latency_rate,
            latency_min,
            latency_max,
        )?;
        validated(self.0.configure(&config), &[])
    }

    #[getter]
    fn enabled(&self) -> bool {
        self.0.is_enabled()
    }

    #[setter]
    fn set_enabled(&self, enabled: bool) {
        self.0.set_enabled(enabled);
    }

    /// `{"enabled", "errors", "results", "latencies"}`: whether it injects
    /// now, and the faults injected so far (as in `seawall.snapshot()`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::telemetry::fault_dict(py, &self.0.metrics())
    }

    /// `(enabled, error_rate, result_rate, latency_rate, latency_min,
    /// latency_max)` now.
    fn config(&self) -> (bool, f64, f64, f64, f64, f64) {
        let c = self.0.config();
        let s = Duration::as_secs_f64;
        (
            c.enabled,
            c.error_rate,
            c.result_rate,
            c.latency_rate,
            s(&c.latency_min),
            s(&c.latency_max),
        )
    }
}
