//! The native circuit breaker: `seawall._native.Breaker`, the base of
//! the public `UnifiedCircuitBreaker`, and the permits it hands out.
//!
//! The hot path (`call`) is acquire -> call the function -> record, all in
//! Rust: no Python frame of ours, no lock, no allocation on an admitted call
//! beyond what the user's function does. Nothing is held while the user's
//! function runs except the permit, which is a generation number.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;

use seawall::{Breaker as CoreBreaker, Outcome, Rejected, SeededRandom, State, Ticket};
use seawall_bindings_support::DynClock;

use crate::aio::AsyncCall;
use crate::args::{self, type_name};
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::guard::{FirstAttempt, Guarded};
use crate::handle::{metrics_dict, name_and_config, rejection_args, rejection_error};
use crate::policy::{check_interrupt, take_interrupt, HookListener, Hooks, Policy};
use crate::registered;
use crate::registry::Registry;
use crate::retry::RetryBudget;

/// What every handle on one breaker shares: the core breaker, how outcomes
/// are classified, and the strings a rejection needs (built once).
pub(crate) struct Inner {
    pub(crate) breaker: Arc<CoreBreaker<DynClock>>,
    pub(crate) policy: Policy,
    name: Py<PyString>,
    /// `("Circuit breaker '<name>' is OPEN",)`: the arguments of every
    /// rejection exception (the original's message), built once.
    message: Py<PyTuple>,
    /// `{"name": <name>}`: copied into each rejection's `__dict__`.
    attrs: Py<PyDict>,
    /// `None` once the handle has been cleared by the garbage collector.
    config: Mutex<Option<Py<PyAny>>>,
    /// The Python code run on transitions (see [`Hooks`]).
    hooks: Arc<Hooks>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The core breaker may outlive this handle (a registry keeps it):
        // it must not keep the handle's callbacks alive, unseen by the
        // collector.
        self.hooks.clear();
    }
}

impl Inner {
    /// The exception for a rejected call: a new instance every time (a
    /// shared instance would grow its traceback on every raise), carrying
    /// the breaker's name, the refusing state and the seconds until a trial
    /// call may be admitted (`None` while forced open).
    pub(crate) fn rejection(&self, py: Python<'_>, r: Rejected) -> PyErr {
        rejection_error(py, &self.message, &self.attrs, r)
    }

    /// Runs `f` under a permit: the synchronous protected call.
    #[inline]
    pub(crate) fn run<'py>(
        &self,
        py: Python<'py>,
        fallback: Option<&Bound<'py, PyAny>>,
        f: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let permit = match self.breaker.try_acquire() {
            Ok(p) => p,
            Err(r) => {
                check_interrupt()?;
                return match fallback {
                    Some(fb) => fb.call0(),
                    None => Err(self.rejection(py, r)),
                };
            }
        };
        // A callback interrupted by `KeyboardInterrupt` / `SystemExit` while
        // the permit was granted (on HALF_OPEN): the call is not made and
        // the permit is released as neutral.
        if let Some(e) = take_interrupt() {
            permit.record(Outcome::Ignored);
            return Err(e);
        }
        // The permit is only a generation stamp: dropping it (a panic) would
        // record the call as ignored. No lock is held while `f` runs.
        match f() {
            Ok(v) => match self.policy.classify_result(&v) {
                Ok(outcome) => {
                    permit.record(outcome);
                    check_interrupt()?;
                    Ok(v)
                }
                Err(interrupt) => {
                    permit.record(Outcome::Ignored);
                    Err(interrupt)
                }
            },
            Err(e) => {
                let outcome = match self.policy.classify_exception(e.value(py)) {
                    Ok(o) => o,
                    Err(interrupt) => {
                        permit.record(Outcome::Ignored);
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

    /// Records a ticket's outcome; raises an interrupt a transition
    /// callback raised meanwhile.
    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) -> PyResult<()> {
        self.breaker.record(ticket, outcome);
        check_interrupt()
    }

    /// Visits the Python objects this handle owns.
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.policy.traverse(visit)?;
        visit.call(&self.name)?;
        visit.call(&self.message)?;
        visit.call(&self.attrs)?;
        if let Ok(c) = self.config.try_lock() {
            visit.call(&*c)?;
        }
        self.hooks.traverse(visit)
    }

    /// A manual outcome (`record_success()` / `record_failure()`), counted as
    /// one call through the breaker. While OPEN (before the open time has
    /// passed) or FORCED_OPEN there is no call to count, and it is dropped.
    fn record_manual(&self, outcome: Outcome) -> PyResult<()> {
        if matches!(self.breaker.state(), State::Open | State::ForcedOpen) {
            return Ok(());
        }
        if let Ok(p) = self.breaker.try_acquire() {
            p.record(outcome);
        }
        check_interrupt()
    }
}

/// Calls the fallback after a failure; if the fallback raises too, the
/// original exception becomes its `__context__`, as Python would chain it.
pub(crate) fn call_fallback<'py>(
    py: Python<'py>,
    fb: &Bound<'py, PyAny>,
    original: PyErr,
) -> PyResult<Bound<'py, PyAny>> {
    fb.call0()
        .inspect_err(|e| e.set_context(py, Some(original)))
}

/// A circuit breaker. Subclassed by `seawall.UnifiedCircuitBreaker`, which
/// adds the pure-Python conveniences; see that class for the documentation.
#[pyclass(frozen, subclass, weakref, module = "seawall._native")]
pub struct Breaker {
    pub(crate) inner: Arc<Inner>,
}

#[pymethods]
impl Breaker {
    #[new]
    #[pyo3(signature = (name = None, config = None, *, clock = None, seed = None, _registry = None))]
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
        // One core listener per handle, delivering to the handle's hooks
        // (which the handle shows to the garbage collector).
        let hooks = Arc::new(Hooks::new(callbacks));
        breaker.add_listener(HookListener(Arc::clone(&hooks)));
        let (message, attrs) = rejection_args(py, &name)?;
        Ok(Breaker {
            inner: Arc::new(Inner {
                breaker,
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
        self.inner.traverse(&visit)
    }

    /// Breaks reference cycles through this breaker: drops its callbacks,
    /// listeners and configuration object. (The classification policy's
    /// objects stay until the breaker is freed: the hot path reads them
    /// without a lock. Every cycle through them also runs through a
    /// function, cell or instance, which the collector clears.)
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

    /// The configuration object the breaker was built from (a snapshot was
    /// taken then: changing the object later has no effect).
    #[getter]
    fn config(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    /// Calls `func()` through the breaker. See `UnifiedCircuitBreaker.call`.
    #[pyo3(signature = (func, fallback = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        fallback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.inner
            .run(py, fallback.filter(|f| !f.is_none()), || func.call0())
    }

    /// Returns an awaitable that calls and awaits `func()` through the
    /// breaker. See `UnifiedCircuitBreaker.acall`.
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
            fallback
                .filter(|f| !f.is_none())
                .map(|f| f.clone().unbind()),
        )
        .into_object(slf.py())
        .map(Bound::unbind)
    }

    /// Takes a permit for one call, or raises `CircuitBreakerOpenError`.
    /// Never blocks. Report the outcome through the permit.
    fn acquire(slf: &Bound<'_, Self>) -> PyResult<Permit> {
        let inner = &slf.get().inner;
        match inner.breaker.try_acquire() {
            Ok(p) => {
                if let Some(e) = take_interrupt() {
                    p.ignore();
                    return Err(e);
                }
                Ok(Permit {
                    owner: slf.clone().unbind(),
                    ticket: p.into_ticket().into_parts(),
                    reported: AtomicBool::new(false),
                })
            }
            Err(r) => {
                check_interrupt()?;
                Err(inner.rejection(slf.py(), r))
            }
        }
    }

    /// The current state, a `CircuitState`.
    fn get_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(registered::get(py)?.state(py, self.inner.breaker.state()))
    }

    /// Counts a success, as if a call through the breaker had succeeded.
    fn record_success(&self) -> PyResult<()> {
        self.inner.record_manual(Outcome::Success)
    }

    /// Counts a failure, as if a call through the breaker had failed with
    /// `error` (which is not classified: the caller has decided).
    #[pyo3(signature = (error = None))]
    fn record_failure(&self, error: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let _ = error;
        self.inner.record_manual(Outcome::Failure)
    }

    /// Back to CLOSED with no failures counted; calls in flight can no longer
    /// change the state. Metrics totals are kept.
    fn reset(&self) -> PyResult<()> {
        self.inner.breaker.reset();
        check_interrupt()
    }

    /// Rejects every call until `reset()` or `force_closed()`.
    fn force_open(&self) -> PyResult<()> {
        self.inner.breaker.force_open();
        check_interrupt()
    }

    /// Admits every call (still counted) until `reset()` or `force_open()`.
    fn force_closed(&self) -> PyResult<()> {
        self.inner.breaker.force_closed();
        check_interrupt()
    }

    /// Sets every metrics counter back to zero (not the state).
    fn clear_metrics(&self) {
        self.inner.breaker.clear_metrics();
    }

    /// Calls `listener(name, old_state, new_state)` on every later
    /// transition, on the thread that made it. Exceptions are logged.
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

    /// The core's counters (see the `seawall` crate's `Metrics`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, &self.inner.breaker.metrics())
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

/// Permission for one call, from `Breaker.acquire()`. Report exactly
/// one outcome; a permit dropped unreported counts as ignored (and frees a
/// trial slot).
#[pyclass(frozen, module = "seawall._native")]
pub struct Permit {
    /// The breaker handle (held, and shown to the garbage collector).
    owner: Py<Breaker>,
    /// The ticket's parts (`Ticket::into_parts`), reported at most once.
    ticket: (u64, u64),
    /// Set by the one report (or the drop) that takes the ticket.
    reported: AtomicBool,
}

impl Permit {
    fn inner(&self) -> &Inner {
        &self.owner.get().inner
    }

    fn take(&self) -> PyResult<Ticket> {
        // Relaxed: the swap only elects the one report; the ticket's parts
        // are immutable and the breaker orders the outcome itself. No lock:
        // a process may fork while another thread reports.
        if self.reported.swap(true, Ordering::Relaxed) {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this permit's outcome was already reported",
            ));
        }
        Ok(Ticket::from_parts(self.ticket.0, self.ticket.1))
    }

    fn finish(&self, outcome: Outcome) -> PyResult<()> {
        let ticket = self.take()?;
        self.inner().record(ticket, outcome)
    }

    /// Reports the outcome `classify` decides; an interrupt raised while
    /// classifying releases the permit as neutral and propagates.
    fn finish_with(&self, classify: impl FnOnce(&Policy) -> PyResult<Outcome>) -> PyResult<bool> {
        let ticket = self.take()?;
        let inner = self.inner();
        match classify(&inner.policy) {
            Ok(outcome) => {
                inner.record(ticket, outcome)?;
                Ok(outcome == Outcome::Failure)
            }
            Err(interrupt) => {
                inner.breaker.record(ticket, Outcome::Ignored);
                Err(interrupt)
            }
        }
    }
}

#[pymethods]
impl Permit {
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
                if crate::policy::is_interrupt(py, e) && !e.value(py).is(exc) {
                    e.set_context(exc.py(), Some(PyErr::from_value(exc.clone())));
                }
            })
    }

    /// Reports the outcome of a call that returned `value` (a failure only
    /// if the configuration's `result_predicate` says so). Returns whether
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

impl Drop for Permit {
    fn drop(&mut self) {
        if !*self.reported.get_mut() {
            let (episode, start) = self.ticket;
            let t = Ticket::from_parts(episode, start);
            self.owner.get().inner.breaker.record(t, Outcome::Ignored);
        }
    }
}
