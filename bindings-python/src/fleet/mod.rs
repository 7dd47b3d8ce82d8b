//! The fleet breaker: `seawall._native.DistributedBreaker`, the base of the
//! public `DistributedCircuitBreaker`, and its permits. It drives
//! `seawall-distributed`'s breaker (the local core breaker plus the fleet
//! overlay kept in Redis by the process's coordinator thread).
//!
//! A class of its own beside the local `Breaker`, sharing with it only what
//! is off the local hot path (argument parsing, classification policy,
//! rejection exceptions, hooks): the local classes stay as fast as they are.
//! Its `call` is native like the local one; `acall` and the decorators are
//! built in Python on its permits (`seawall.distributed`).

mod engine;
mod limiter;

pub use limiter::FleetRateLimiter;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;

use seawall::{Outcome, State};
use seawall_distributed::FleetTicket;

use crate::args::type_name;
use crate::breaker::call_fallback;
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::handle::{metrics_dict, name_and_config, rejection_args, rejection_error};
use crate::policy::{check_interrupt, is_interrupt, take_interrupt, Hooks, Policy};
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
struct FleetInner {
    fleet: Fleet,
    policy: Policy,
    name: Py<PyString>,
    message: Py<PyTuple>,
    attrs: Py<PyDict>,
    /// `None` once the handle has been cleared by the garbage collector.
    config: Mutex<Option<Py<PyAny>>>,
    hooks: Arc<Hooks>,
}

impl Drop for FleetInner {
    fn drop(&mut self) {
        // The coordinator keeps the fleet breaker's listeners: they must not
        // keep the handle's callbacks alive, unseen by the collector.
        self.hooks.clear();
    }
}

impl FleetInner {
    fn rejection(&self, py: Python<'_>, r: seawall::Rejected) -> PyErr {
        rejection_error(py, &self.message, &self.attrs, r)
    }

    /// Records a detached ticket's outcome; raises an interrupt a
    /// transition callback raised meanwhile.
    fn record(&self, ticket: FleetTicket, outcome: Outcome) -> PyResult<()> {
        self.fleet.get().record(ticket, outcome);
        check_interrupt()
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
        let (message, attrs) = rejection_args(py, &name)?;
        Ok(DistributedBreaker {
            inner: Arc::new(FleetInner {
                fleet,
                policy: s.policy,
                name: PyString::new(py, &name).unbind(),
                message,
                attrs,
                config: Mutex::new(Some(config.unbind())),
                hooks,
            }),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let inner = &self.inner;
        inner.policy.traverse(&visit)?;
        visit.call(&inner.name)?;
        visit.call(&inner.message)?;
        visit.call(&inner.attrs)?;
        if let Ok(c) = inner.config.try_lock() {
            visit.call(&*c)?;
        }
        inner.hooks.traverse(&visit)
    }

    /// Breaks reference cycles through this breaker, as `Breaker` does.
    fn __clear__(&self) {
        self.inner.hooks.clear();
        let config = self
            .inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(config);
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.inner.name.clone_ref(py)
    }

    /// The configuration object the breaker was built from.
    #[getter]
    fn config(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    /// Calls `func()` through the breaker, as `Breaker.call` does.
    #[pyo3(signature = (func, fallback = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = &self.inner;
        let fallback = fallback.filter(|f| !f.is_none());
        let permit = match inner.fleet.get().try_acquire() {
            Ok(p) => p,
            Err(r) => {
                check_interrupt()?;
                return match fallback {
                    Some(fb) => fb.call0(),
                    None => Err(inner.rejection(py, r)),
                };
            }
        };
        if let Some(e) = take_interrupt() {
            permit.ignore();
            return Err(e);
        }
        match func.call0() {
            Ok(v) => match inner.policy.classify_result(&v) {
                Ok(outcome) => {
                    permit.record(outcome);
                    check_interrupt()?;
                    Ok(v)
                }
                Err(interrupt) => {
                    permit.ignore();
                    Err(interrupt)
                }
            },
            Err(e) => {
                let outcome = match inner.policy.classify_exception(e.value(py)) {
                    Ok(o) => o,
                    Err(interrupt) => {
                        permit.ignore();
                        interrupt.set_context(py, Some(e));
                        return Err(interrupt);
                    }
                };
                permit.record(outcome);
                if let Some(interrupt) = take_interrupt() {
                    interrupt.set_context(py, Some(e));
                    return Err(interrupt);
                }
                match fallback {
                    Some(fb) if outcome == Outcome::Failure => call_fallback(py, fb, e),
                    _ => Err(e),
                }
            }
        }
    }

    /// Takes a permit for one call, or raises `CircuitBreakerOpenError`.
    /// Never blocks (Redis is never waited for).
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<DistributedPermit> {
        let inner = &slf.get().inner;
        match inner.fleet.get().try_acquire() {
            Ok(p) => {
                if let Some(e) = take_interrupt() {
                    p.ignore();
                    return Err(e);
                }
                Ok(DistributedPermit {
                    owner: slf.clone().unbind(),
                    ticket: Mutex::new(Some(p.into_ticket())),
                    reported: AtomicBool::new(false),
                })
            }
            Err(r) => {
                check_interrupt()?;
                Err(inner.rejection(slf.py(), r))
            }
        }
    }

    /// The effective state (the stricter of the local and the fleet state).
    fn get_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(registered::get(py)?.state(py, self.inner.fleet.get().state()))
    }

    /// Counts a success, as if a call through the breaker had succeeded.
    fn record_success(&self) -> PyResult<()> {
        self.record_manual(Outcome::Success)
    }

    /// Counts a failure, as if a call through the breaker had failed.
    #[pyo3(signature = (error = None))]
    fn record_failure(&self, error: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let _ = error;
        self.record_manual(Outcome::Failure)
    }

    /// Back to CLOSED, here and across the fleet.
    fn reset(&self) -> PyResult<()> {
        self.inner.fleet.get().reset();
        check_interrupt()
    }

    /// Rejects every call, in every instance, until `reset()` or
    /// `force_closed()`.
    fn force_open(&self) -> PyResult<()> {
        self.inner.fleet.get().force_open();
        check_interrupt()
    }

    /// Admits every call, in every instance, until `reset()` or
    /// `force_open()`.
    fn force_closed(&self) -> PyResult<()> {
        self.inner.fleet.get().force_closed();
        check_interrupt()
    }

    /// Sets this instance's counters back to zero (not the fleet's).
    fn clear_metrics(&self) {
        self.inner.fleet.get().clear_metrics();
    }

    /// Calls `listener(name, old_state, new_state)` on every later
    /// transition, local or fleet. Exceptions are logged.
    fn add_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "listener must be callable, not {}",
                type_name(listener)
            )));
        }
        self.inner.hooks.add_listener(listener.clone().unbind());
        Ok(())
    }

    /// The local breaker's counters with the effective state and the
    /// fleet's rejections, plus `"fleet"`: what this instance knows of the
    /// fleet.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.fleet.get();
        let d = metrics_dict(py, &b.metrics())?;
        let f = b.fleet();
        let fd = PyDict::new(py);
        fd.set_item("state", registered::get(py)?.state(py, f.state))?;
        fd.set_item("generation", f.generation)?;
        fd.set_item("epoch", f.epoch)?;
        fd.set_item("degraded", f.degraded)?;
        fd.set_item("window_successes", f.window_successes)?;
        fd.set_item("window_failures", f.window_failures)?;
        fd.set_item("failing_instances", f.failing_instances)?;
        fd.set_item("live_instances", f.live_instances)?;
        fd.set_item("rejected", f.rejected)?;
        fd.set_item("flushes", f.flushes)?;
        fd.set_item("trials_granted", f.trials_granted)?;
        fd.set_item("fenced", f.fenced)?;
        fd.set_item("config_conflicts", f.config_conflicts)?;
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

impl DistributedBreaker {
    /// A manual outcome, counted as one call through the breaker; dropped
    /// while OPEN or FORCED_OPEN (there is no call to count).
    fn record_manual(&self, outcome: Outcome) -> PyResult<()> {
        let b = self.inner.fleet.get();
        if matches!(b.state(), State::Open | State::ForcedOpen) {
            return Ok(());
        }
        if let Ok(p) = b.try_acquire() {
            p.record(outcome);
        }
        check_interrupt()
    }
}

/// Permission for one call, from `DistributedBreaker.acquire()`; the same
/// methods as `Permit`. A permit dropped unreported counts as ignored.
#[pyclass(frozen, module = "seawall._native")]
pub struct DistributedPermit {
    owner: Py<DistributedBreaker>,
    /// Taken by the one report (or the drop). Locked only to move it out.
    ticket: Mutex<Option<FleetTicket>>,
    /// Set by the report that takes the ticket.
    reported: AtomicBool,
}

impl DistributedPermit {
    fn inner(&self) -> &FleetInner {
        &self.owner.get().inner
    }

    fn take(&self) -> PyResult<FleetTicket> {
        // Relaxed: the swap only elects the one report; the lock below
        // hands the ticket over.
        if self.reported.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "this permit's outcome was already reported",
            ));
        }
        self.ticket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this permit's outcome was already reported"))
    }

    fn finish(&self, outcome: Outcome) -> PyResult<()> {
        let ticket = self.take()?;
        self.inner().record(ticket, outcome)
    }

    fn finish_with(&self, classify: impl FnOnce(&Policy) -> PyResult<Outcome>) -> PyResult<bool> {
        let ticket = self.take()?;
        let inner = self.inner();
        match classify(&inner.policy) {
            Ok(outcome) => {
                inner.record(ticket, outcome)?;
                Ok(outcome == Outcome::Failure)
            }
            Err(interrupt) => {
                inner.fleet.get().record(ticket, Outcome::Ignored);
                Err(interrupt)
            }
        }
    }
}

#[pymethods]
impl DistributedPermit {
    /// Reports a success.
    fn success(&self) -> PyResult<()> {
        self.finish(Outcome::Success)
    }

    /// Reports a failure.
    fn failure(&self) -> PyResult<()> {
        self.finish(Outcome::Failure)
    }

    /// Reports a neutral outcome.
    fn ignore(&self) -> PyResult<()> {
        self.finish(Outcome::Ignored)
    }

    /// Reports the outcome of a call that raised `exc`, classified by the
    /// breaker's configuration. Returns whether it counted as a failure.
    fn record_exception(&self, exc: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.finish_with(|p| p.classify_exception(exc))
            .inspect_err(|e| {
                let py = exc.py();
                if is_interrupt(py, e) && !e.value(py).is(exc) {
                    e.set_context(py, Some(PyErr::from_value(exc.clone())));
                }
            })
    }

    /// Reports the outcome of a call that returned `value`. Returns whether
    /// it counted as a failure.
    fn record_result(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.finish_with(|p| p.classify_result(value))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)
    }

    /// Whether an outcome is still to be reported.
    #[getter]
    fn pending(&self) -> bool {
        // Relaxed: see `take`.
        !self.reported.load(Ordering::Relaxed)
    }
}

impl Drop for DistributedPermit {
    fn drop(&mut self) {
        let ticket = self
            .ticket
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = ticket {
            self.owner
                .get()
                .inner
                .fleet
                .get()
                .record(t, Outcome::Ignored);
        }
    }
}
