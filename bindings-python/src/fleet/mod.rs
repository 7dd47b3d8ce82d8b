//! The fleet breaker: `seawall._native.DistributedBreaker`, the base of the
//! public `DistributedCircuitBreaker`, and its permits. It drives
//! `seawall-distributed`'s breaker (the local core breaker plus the fleet
//! overlay kept in Redis by the process's coordinator thread).
//!
//! A class of its own beside the local `Breaker`: both are thin forwards to
//! what `crate::handle` keeps once, generic over the engine (the protected
//! call, the permits, the manual outcomes, the handle's fields), compiled
//! for each engine apart, so the local hot path carries nothing of the
//! fleet's. Its `call` is native like the local one; `acall` and the
//! decorators are built in Python on its permits (`seawall.distributed`).

mod engine;
mod limiter;

pub(crate) use limiter::FleetLimiter;
pub use limiter::FleetRateLimiter;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::PyTraverseError;

use seawall::Outcome;
use seawall_bindings_support::DynClock;
use seawall_distributed::DistributedBreaker as FleetBreaker;

use crate::args;
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::handle::{
    metrics_dict, name_and_config, protected_call, record_manual, set_fields, Handle, Issuer,
    PermitCore,
};
use crate::policy::{check_interrupt, Hooks};
use crate::registered;
use engine::{Fleet, Spec};

/// A circuit breaker whose OPEN and HALF_OPEN are shared by every instance
/// through Redis. Subclassed by `seawall.DistributedCircuitBreaker`; see
/// that class for the documentation.
#[pyclass(frozen, subclass, weakref, module = "seawall._native")]
pub struct DistributedBreaker {
    inner: Arc<FleetInner>,
}

/// What the handle and its permits share.
pub(crate) struct FleetInner {
    fleet: Fleet,
    handle: Handle,
}

impl FleetInner {
    /// The fleet breaker of this process.
    pub(crate) fn breaker(&self) -> &FleetBreaker<DynClock> {
        self.fleet.get()
    }
}

#[pymethods]
impl DistributedBreaker {
    #[new]
    #[pyo3(signature = (name = None, config = None, *, redis_url, namespace = "seawall".to_owned(), clock = None))]
    fn new(
        py: Python<'_>,
        name: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
        redis_url: String,
        namespace: String,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let (name, config) = name_and_config(py, name, config)?;
        let s = settings(&config)?;
        let hooks = Arc::new(Hooks::new(Some(s.callbacks)));
        let spec = Spec {
            name: name.clone(),
            config: s.core,
            redis_url,
            namespace,
            clock: clock_arg(clock),
            hooks: Arc::clone(&hooks),
            config_mismatches: Default::default(),
        };
        let fleet = Fleet::new(spec).map_err(|e| match e {
            seawall_distributed::Error::Store(e) => {
                PyValueError::new_err(format!("redis_url: {e}"))
            }
            e => PyValueError::new_err(e.to_string()),
        })?;
        let inner = Arc::new(FleetInner {
            fleet,
            handle: Handle::new(py, &name, config, s.policy, hooks)?,
        });
        crate::telemetry::fleet_breaker(&inner);
        Ok(DistributedBreaker { inner })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.inner.handle.traverse(&visit)
    }

    /// Breaks reference cycles through this breaker, as `Breaker` does.
    fn __clear__(&self) {
        self.inner.handle.clear();
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.inner.handle.name(py)
    }

    /// The configuration object the breaker was built from.
    #[getter]
    fn config(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner.handle.config(py)
    }

    /// Calls `func()` through the breaker, as `Breaker.call` does.
    #[pyo3(signature = (func, fallback = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fallback = args::fallback(fallback)?;
        protected_call(py, &self.inner.handle, self.engine(), fallback, || {
            func.call0()
        })
    }

    /// Takes a permit for one call, or raises `CircuitBreakerOpenError`.
    /// Never blocks (Redis is never waited for).
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<DistributedPermit> {
        PermitCore::acquire(slf).map(DistributedPermit)
    }

    /// The effective state (the stricter of the local and the fleet state).
    fn get_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(registered::get(py)?.state(py, self.engine().state()))
    }

    /// Counts a success, as if a call through the breaker had succeeded.
    fn record_success(&self) -> PyResult<()> {
        record_manual(self.engine(), Outcome::Success)
    }

    /// Counts a failure, as if a call through the breaker had failed.
    #[pyo3(signature = (error = None))]
    fn record_failure(&self, error: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let _ = error;
        record_manual(self.engine(), Outcome::Failure)
    }

    /// Back to CLOSED, here and across the fleet.
    fn reset(&self) -> PyResult<()> {
        self.engine().reset();
        check_interrupt()
    }

    /// Rejects every call, in every instance, until `reset()` or
    /// `force_closed()`.
    fn force_open(&self) -> PyResult<()> {
        self.engine().force_open();
        check_interrupt()
    }

    /// Admits every call, in every instance, until `reset()` or
    /// `force_open()`.
    fn force_closed(&self) -> PyResult<()> {
        self.engine().force_closed();
        check_interrupt()
    }

    /// Sets this instance's counters back to zero (not the fleet's).
    fn clear_metrics(&self) {
        self.engine().clear_metrics();
    }

    /// Calls `listener(name, old_state, new_state)` on every later
    /// transition, local or fleet. Exceptions are logged.
    fn add_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.handle.add_listener(listener)
    }

    /// The local breaker's counters with the effective state and the
    /// fleet's rejections, plus `"fleet"`: what this instance knows of the
    /// fleet.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.engine();
        let d = metrics_dict(py, &b.metrics())?;
        let f = b.fleet();
        let fd = PyDict::new(py);
        fd.set_item("state", registered::get(py)?.state(py, f.state))?;
        set_fields!(fd, f; generation, epoch, degraded, window_successes, window_failures,
            failing_instances, live_instances, rejected, flushes, trials_granted, fenced,
            config_conflicts);
        // Relaxed: a statistic, read on its own.
        let mismatches = self
            .inner
            .fleet
            .spec
            .config_mismatches
            .load(Ordering::Relaxed);
        fd.set_item("config_mismatches", mismatches)?;
        fd.set_item("instance", b.coordinator().instance_id())?;
        fd.set_item("namespace", b.coordinator().namespace())?;
        d.set_item("fleet", fd)?;
        Ok(d)
    }

    /// In a forked child: builds the breaker again on the child's own
    /// coordinator (the parent's thread did not survive the fork). Does
    /// nothing in the process that built it. Called by the package's
    /// `os.register_at_fork` hook.
    fn _after_fork(&self) -> PyResult<()> {
        self.inner
            .fleet
            .after_fork()
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

impl Issuer for DistributedBreaker {
    type Engine = FleetBreaker<DynClock>;

    #[inline]
    fn engine(&self) -> &FleetBreaker<DynClock> {
        self.inner.breaker()
    }

    fn handle(&self) -> &Handle {
        &self.inner.handle
    }
}

/// Permission for one call, from `DistributedBreaker.acquire()`; the same
/// methods as `Permit`. A permit dropped unreported counts as ignored.
#[pyclass(frozen, module = "seawall._native")]
pub struct DistributedPermit(PermitCore<DistributedBreaker>);

#[pymethods]
impl DistributedPermit {
    /// Reports a success.
    fn success(&self) -> PyResult<()> {
        self.0.finish(Outcome::Success)
    }

    /// Reports a failure.
    fn failure(&self) -> PyResult<()> {
        self.0.finish(Outcome::Failure)
    }

    /// Reports a neutral outcome.
    fn ignore(&self) -> PyResult<()> {
        self.0.finish(Outcome::Ignored)
    }

    /// Reports the outcome of a call that raised `exc`, classified by the
    /// breaker's configuration. Returns whether it counted as a failure.
    fn record_exception(&self, exc: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.0.record_exception(exc)
    }

    /// Reports the outcome of a call that returned `value`. Returns whether
    /// it counted as a failure.
    fn record_result(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.0.record_result(value)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.0.traverse(&visit)
    }

    /// Whether an outcome is still to be reported.
    #[getter]
    fn pending(&self) -> bool {
        self.0.pending()
    }
}
