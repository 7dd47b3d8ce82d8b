//! The native circuit breaker: `seawall._native.Breaker`, the base of
//! the public `UnifiedCircuitBreaker`, and the permits it hands out.
//!
//! The hot path (`call`) is acquire -> call the function -> record, all in
//! Rust: no Python frame of ours, no lock, no allocation on an admitted call
//! beyond what the user's function does. Nothing is held while the user's
//! function runs except the permit, which is a generation number.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::PyTraverseError;

use seawall::{Breaker as CoreBreaker, Outcome, SeededRandom, Ticket};
use seawall_bindings_support::DynClock;

use crate::aio::AsyncCall;
use crate::args;
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::guard::{FirstAttempt, Guarded};
use crate::handle::{
    metrics_dict, name_and_config, protected_call, record_manual, Handle, Issuer, PermitCore,
};
use crate::policy::{check_interrupt, HookListener, Hooks, Reporter};
use crate::registered;
use crate::registry::Registry;
use crate::retry::RetryBudget;

/// What every handle on one breaker shares: the core breaker and the
/// handle's fields (classification, rejection, configuration, hooks).
pub(crate) struct Inner {
    pub(crate) breaker: Arc<CoreBreaker<DynClock>>,
    pub(crate) handle: Handle,
}

impl Inner {
    /// Runs `f` under a permit: the synchronous protected call.
    #[inline]
    pub(crate) fn run<'py>(
        &self,
        py: Python<'py>,
        fallback: Option<&Bound<'py, PyAny>>,
        f: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        protected_call(py, &self.handle, &*self.breaker, fallback, f)
    }

    /// Records a ticket's outcome; raises an interrupt a transition
    /// callback raised meanwhile.
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) -> PyResult<()> {
        self.breaker.record(ticket, outcome);
        check_interrupt()
    }
}

/// A circuit breaker. Subclassed by `seawall.UnifiedCircuitBreaker`, which
/// adds the pure-Python conveniences; see that class for the documentation.
#[pyclass(frozen, subclass, weakref, module = "seawall._native")]
pub struct Breaker {
    pub(crate) inner: Arc<Inner>,
}

#[pymethods]
impl Breaker {
    // The registry's own argument stays out of the signature users see.
    #[new]
    #[pyo3(
        signature = (name = None, config = None, *, clock = None, seed = None, _registry = None),
        text_signature = "(name=None, config=None, *, clock=None, seed=None)"
    )]
    fn new(
        py: Python<'_>,
        name: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, ManualClock>>,
        seed: Option<&Bound<'_, PyAny>>,
        _registry: Option<&Bound<'_, Registry>>,
    ) -> PyResult<Self> {
        let (name, config) = name_and_config(py, name, config)?;
        let s = settings(&config)?;
        let seed = seed.map(|v| args::seed("seed", v)).transpose()?;
        let (breaker, callbacks) = match _registry {
            Some(reg) => {
                if clock.is_some() {
                    return Err(PyTypeError::new_err(
                        "clock: a registry's breakers use the registry's clock; pass it to Registry(clock=...)",
                    ));
                }
                if seed.is_some() {
                    return Err(PyTypeError::new_err(
                        "seed: a registry's breakers draw unseeded jitter; build a seeded breaker on its own",
                    ));
                }
                let core = &reg.get().core;
                let existed = core.get(&name).is_some();
                let b = core
                    .get_or_create(&name, &s.core)
                    .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
                // The first creator's configuration wins, callbacks included.
                (b, (!existed).then_some(s.callbacks))
            }
            None => {
                let clock = clock_arg(clock);
                let b = match seed {
                    None => CoreBreaker::with_clock(name.as_str(), s.core, clock),
                    Some(seed) => {
                        let random = SeededRandom::new(seed);
                        CoreBreaker::with_clock_and_random(name.as_str(), s.core, clock, random)
                    }
                }
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
                (Arc::new(b), Some(s.callbacks))
            }
        };
        // Once per core breaker (a registry's breaker is new when it comes
        // with callbacks): into the process's view of every engine, and the
        // reporter of its transitions, added before any hook.
        if callbacks.is_some() {
            crate::telemetry::breaker(&breaker);
            breaker.add_listener(Reporter);
        }
        // One core listener per handle, delivering to the handle's hooks
        // (which the handle shows to the garbage collector).
        let hooks = Arc::new(Hooks::new(callbacks));
        breaker.add_listener(HookListener(Arc::clone(&hooks)));
        Ok(Breaker {
            inner: Arc::new(Inner {
                breaker,
                handle: Handle::new(py, &name, config, s.policy, hooks)?,
            }),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.inner.handle.traverse(&visit)
    }

    /// Breaks reference cycles through this breaker (see `Handle::clear`).
    fn __clear__(&self) {
        self.inner.handle.clear();
    }

    /// The breaker's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.inner.handle.name(py)
    }

    /// The configuration object the breaker was built from (a snapshot was
    /// taken then: changing the object later has no effect).
    #[getter]
    fn config(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner.handle.config(py)
    }

    /// call(func, fallback=None)
    /// --
    ///
    /// Calls `func()` (no arguments: wrap them in a lambda) under a permit
    /// and returns its result. Its exception, or a result the config's
    /// `result_predicate` calls a failure, counts as the breaker says
    /// (see `CircuitBreakerConfig`); the exception propagates. While the
    /// breaker refuses calls, `func` is not called: `fallback()` is
    /// returned if given, else `CircuitBreakerOpenError` is raised. A call
    /// that failed also returns `fallback()` when given. `fallback` must be
    /// callable: anything else is a `TypeError` before `func` runs.
    #[pyo3(signature = (func, fallback = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.inner
            .run(py, args::fallback(fallback)?, || func.call0())
    }

    /// acall(func, fallback=None)
    /// --
    ///
    /// An awaitable that, awaited, takes a permit, awaits `func()` (a
    /// coroutine function or any function returning an awaitable) and
    /// counts its outcome as `call` does. The permit is taken when the
    /// awaitable is first awaited and held until `func()`'s awaitable ends;
    /// a cancelled call counts as neither success nor failure. `fallback()`
    /// (awaited if it returns an awaitable) stands in for a refused or
    /// failed call, as in `call`.
    #[pyo3(signature = (func, fallback = None))]
    fn acall(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        fallback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<AsyncCall>> {
        AsyncCall::new(
            slf.clone().unbind(),
            func.clone().unbind(),
            None,
            None,
            args::fallback(fallback)?.map(|f| f.clone().unbind()),
        )
        .into_object(slf.py())
        .map(Bound::unbind)
    }

    /// Takes a permit for one call, or raises `CircuitBreakerOpenError`.
    /// Never blocks. Report the outcome through the permit.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        PermitCore::acquire(slf).map(Permit)
    }

    /// The current state, a `CircuitState`.
    fn get_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(registered::get(py)?.state(py, self.engine().state()))
    }

    /// Counts a success, as if a call through the breaker had succeeded.
    fn record_success(&self) -> PyResult<()> {
        record_manual(self.engine(), Outcome::Success)
    }

    /// Counts a failure, as if a call through the breaker had failed with
    /// `error` (which is not classified: the caller has decided).
    #[pyo3(signature = (error = None))]
    fn record_failure(&self, error: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let _ = error;
        record_manual(self.engine(), Outcome::Failure)
    }

    /// Back to CLOSED with no failures counted; calls in flight can no longer
    /// change the state. Metrics totals are kept.
    fn reset(&self) -> PyResult<()> {
        self.engine().reset();
        check_interrupt()
    }

    /// Rejects every call until `reset()` or `force_closed()`.
    fn force_open(&self) -> PyResult<()> {
        self.engine().force_open();
        check_interrupt()
    }

    /// Admits every call (still counted) until `reset()` or `force_open()`.
    fn force_closed(&self) -> PyResult<()> {
        self.engine().force_closed();
        check_interrupt()
    }

    /// Sets every metrics counter back to zero (not the state).
    fn clear_metrics(&self) {
        self.engine().clear_metrics();
    }

    /// Calls `listener(name, old_state, new_state)` on every later
    /// transition, on the thread that made it. Exceptions are logged.
    fn add_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.handle.add_listener(listener)
    }

    /// The engine's counters as a dict: `state`; the calls `permitted`,
    /// `rejected`, and their outcomes `successes`, `failures`, `ignored`,
    /// `slow_calls` and `late` (reported after the state they were
    /// admitted in had ended); `consecutive_failures` (CLOSED),
    /// `trial_successes` and `trial_calls_in_flight` (HALF_OPEN); the
    /// trip rules' `window` (a dict, or `None` without a window);
    /// `transitions` into each state; `time_in_state` in seconds.
    /// `get_metrics()` gives the original `shared.resilience` dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, &self.engine().metrics())
    }

    /// Wraps `func` so that every call goes through this breaker (used by
    /// the decorators). `is_async`: `func` returns an awaitable to await
    /// under the permit. With `budget` or `on_error`, each call is a first
    /// attempt as `with_resilience` makes it (see `FirstAttempt`).
    #[pyo3(signature = (func, is_async, *, budget = None, on_error = None))]
    fn _wrap(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        is_async: bool,
        budget: Option<Py<RetryBudget>>,
        on_error: Option<Py<PyAny>>,
    ) -> Guarded {
        let first =
            (budget.is_some() || on_error.is_some()).then_some(FirstAttempt { budget, on_error });
        Guarded::new(slf.clone().unbind(), func.clone().unbind(), is_async, first)
    }
}

impl Issuer for Breaker {
    type Engine = CoreBreaker<DynClock>;

    #[inline]
    fn engine(&self) -> &CoreBreaker<DynClock> {
        &self.inner.breaker
    }

    fn handle(&self) -> &Handle {
        &self.inner.handle
    }
}

/// Permission for one call, from `Breaker.acquire()`. Report exactly
/// one outcome; a permit dropped unreported counts as ignored (and frees a
/// trial slot).
#[pyclass(frozen, module = "seawall._native")]
pub struct Permit(PermitCore<Breaker>);

#[pymethods]
impl Permit {
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

    /// Reports the outcome of a call that returned `value` (a failure only
    /// if the configuration's `result_predicate` says so). Returns whether
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
