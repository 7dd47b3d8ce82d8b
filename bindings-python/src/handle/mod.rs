//! What every breaker handle class (`Breaker`, `DistributedBreaker`)
//! shares: the fields a handle keeps beside what it drives ([`Handle`]:
//! classification policy, name, configuration, rejection exception, hooks),
//! what it drives ([`Engine`]: the core breaker or the fleet breaker), the
//! protected call ([`call`]), the permits it hands out ([`permit`]), and its
//! metrics dict.
//!
//! The protected call and the permits are generic over the engine and
//! inlined into each handle's methods, so the local breaker's hot path is
//! compiled for the core breaker alone, as if written for it.

mod call;
mod permit;

pub(crate) use call::{call_fallback, protected_call};
pub(crate) use permit::{Issuer, PermitCore};

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::PyTraverseError;

use seawall::{Breaker as CoreBreaker, Outcome, Rejected, Report, State, Ticket};
use seawall_bindings_support::DynClock;

use crate::args::{config_object, name as breaker_name, type_name};
use crate::policy::{check_interrupt, Hooks, Policy};
use crate::registered;

/// What a breaker handle drives: the core breaker, or this process's fleet
/// breaker.
pub(crate) trait Engine {
    /// A permit for one call, borrowed from the engine.
    type Permit<'a>: Report
    where
        Self: 'a;
    /// A permit detached from the engine as plain data (its ticket's parts),
    /// kept by a Python permit object.
    type Parts: Copy + Send + Sync;
    /// Asks for permission to make one call.
    fn try_acquire(&self) -> Result<Self::Permit<'_>, Rejected>;
    /// The state calls see.
    fn state(&self) -> State;
    /// Detaches `permit` from the borrow of the engine.
    fn detach(permit: Self::Permit<'_>) -> Self::Parts;
    /// Reports the outcome of the call a detached permit stands for.
    fn record_parts(&self, parts: Self::Parts, outcome: Outcome);
}

impl Engine for CoreBreaker<DynClock> {
    type Permit<'a> = seawall::Permit<'a, DynClock>;
    /// `Ticket::into_parts`.
    type Parts = (u64, u64);

    // `always`: a forward, on the protected call's hot path.
    #[inline(always)]
    fn try_acquire(&self) -> Result<Self::Permit<'_>, Rejected> {
        CoreBreaker::try_acquire(self)
    }

    fn state(&self) -> State {
        CoreBreaker::state(self)
    }

    fn detach(permit: Self::Permit<'_>) -> (u64, u64) {
        permit.into_ticket().into_parts()
    }

    fn record_parts(&self, (episode, start): (u64, u64), outcome: Outcome) {
        self.record(Ticket::from_parts(episode, start), outcome);
    }
}

/// A manual outcome (`record_success()` / `record_failure()`), counted as
/// one call through the breaker. While OPEN (before the open time has
/// passed) or FORCED_OPEN there is no call to count, and it is dropped.
pub(crate) fn record_manual(engine: &impl Engine, outcome: Outcome) -> PyResult<()> {
    if matches!(engine.state(), State::Open | State::ForcedOpen) {
        return Ok(());
    }
    if let Ok(p) = engine.try_acquire() {
        p.record(outcome);
    }
    check_interrupt()
}

/// What a breaker handle keeps beside its engine: how outcomes are
/// classified, the strings a rejection needs (built once), the
/// configuration object and the Python code run on transitions.
pub(crate) struct Handle {
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

impl Drop for Handle {
    fn drop(&mut self) {
        // The engine may outlive this handle (a registry keeps a core
        // breaker, the coordinator a fleet breaker's listeners): it must not
        // keep the handle's callbacks alive, unseen by the collector.
        self.hooks.clear();
    }
}

impl Handle {
    /// The fields of the breaker `name` built from `config`, delivering
    /// transitions to `hooks`.
    pub(crate) fn new(
        py: Python<'_>,
        name: &str,
        config: Bound<'_, PyAny>,
        policy: Policy,
        hooks: Arc<Hooks>,
    ) -> PyResult<Self> {
        let (message, attrs) = rejection_args(py, name)?;
        Ok(Handle {
            policy,
            name: PyString::new(py, name).unbind(),
            message: message.unbind(),
            attrs: attrs.unbind(),
            config: Mutex::new(Some(config.unbind())),
            hooks,
        })
    }

    /// The exception for a rejected call (see [`rejection_error`]).
    // Inlined, so that callers pass the two fields: an out-of-line method
    // taking the handle made the local protected call keep a pointer to
    // the handle in a register, and spill another value (callgrind: three
    // instructions more per call).
    #[inline]
    pub(crate) fn rejection(&self, py: Python<'_>, r: Rejected) -> PyErr {
        rejection_error(py, self.message.bind(py), self.attrs.bind(py), r)
    }

    /// Visits the Python objects this handle owns (`__traverse__`).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.policy.traverse(visit)?;
        visit.call(&self.name)?;
        visit.call(&self.message)?;
        visit.call(&self.attrs)?;
        if let Ok(c) = self.config.try_lock() {
            visit.call(&*c)?;
        }
        self.hooks.traverse(visit)
    }

    /// Breaks reference cycles through this handle (`__clear__`): drops its
    /// callbacks, listeners and configuration object. (The classification
    /// policy's objects stay until the handle is freed: the hot path reads
    /// them without a lock. Every cycle through them also runs through a
    /// function, cell or instance, which the collector clears.)
    pub(crate) fn clear(&self) {
        self.hooks.clear();
        let config = self.config.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(config);
    }

    /// The breaker's name.
    pub(crate) fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    /// The configuration object the breaker was built from (`None` once
    /// cleared).
    pub(crate) fn config(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    /// Adds `listener`, called `listener(name, old_state, new_state)` on
    /// every later transition.
    pub(crate) fn add_listener(&self, listener: &Bound<'_, PyAny>) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "listener must be callable, not {}",
                type_name(listener)
            )));
        }
        self.hooks.add_listener(listener.clone().unbind());
        Ok(())
    }
}

/// The arguments of the breaker `name`'s rejections (see
/// [`rejection_error`]): the message, and the attributes naming it.
pub(crate) fn rejection_args<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let attrs = PyDict::new(py);
    attrs.set_item("name", name)?;
    let message = PyTuple::new(py, [format!("Circuit breaker '{name}' is OPEN")])?;
    Ok((message, attrs))
}

/// The exception for a rejected call of the breaker whose rejection
/// arguments are `message` and `attrs` (see [`Handle`]): a new instance
/// every time (a shared instance would grow its traceback on every raise),
/// carrying the breaker's name, the refusing state and the seconds until a
/// trial call may be admitted (`None` while forced open).
pub(crate) fn rejection_error(
    py: Python<'_>,
    message: &Bound<'_, PyTuple>,
    attrs: &Bound<'_, PyDict>,
    r: Rejected,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let c = registered::get(py)?;
        let exc = c.open_error.bind(py).call1(message)?;
        // One dict, filled and attached at once, costs less than three
        // attribute stores that grow the instance dict one by one.
        let attrs = attrs.copy()?;
        attrs.set_item(intern!(py, "state"), c.state(py, r.state))?;
        attrs.set_item(
            intern!(py, "retry_after"),
            r.retry_after.map(|d| d.as_secs_f64()),
        )?;
        exc.setattr(intern!(py, "__dict__"), attrs)?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// The name and configuration object a breaker handle is built from.
///
/// The original took `(name, config=None)`, but its own guide and adapters
/// pass the config alone: accept both (a first argument that is not a str
/// is a config only if it is one). No config means `CircuitBreakerConfig()`.
pub(crate) fn name_and_config<'py>(
    py: Python<'py>,
    name: Option<&Bound<'py, PyAny>>,
    config: Option<&Bound<'py, PyAny>>,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    let (name, config) = match (name, config) {
        (Some(n), c) if n.is_instance_of::<PyString>() => (breaker_name("name", n)?, c),
        (None, c) => ("default".to_owned(), c),
        (Some(c), None) if config_object(c).is_ok() => ("default".to_owned(), Some(c)),
        (Some(n), c) => {
            let e = breaker_name("name", n).unwrap_err();
            if c.is_some() {
                return Err(e);
            }
            // Perhaps meant as a configuration given alone.
            return Err(PyTypeError::new_err(format!(
                "{} (a configuration given alone must be a CircuitBreakerConfig \
                     or an object with all of its fields)",
                e.value(py)
            )));
        }
    };
    let config = match config {
        Some(c) if !c.is_none() => c.clone(),
        _ => registered::get(py)?.config_class.bind(py).call0()?,
    };
    config_object(&config)?;
    Ok((name, config))
}

/// Sets `dict["<field>"] = value.<field>` for each field named, in order:
/// the dicts of counters keyed by the counters' own names.
macro_rules! set_fields {
    ($dict:expr, $value:expr; $($field:ident),+ $(,)?) => {
        $($dict.set_item(stringify!($field), $value.$field)?;)+
    };
}
pub(crate) use set_fields;

/// The core's counters as a dict (see the `seawall` crate's `Metrics`).
pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: &seawall::Metrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", registered::get(py)?.state(py, m.state))?;
    set_fields!(d, m; permitted, successes, failures, ignored, late, rejected, slow_calls,
        consecutive_failures, trial_successes, trial_calls_in_flight);
    match m.window {
        None => d.set_item("window", py.None())?,
        Some(w) => {
            let wd = PyDict::new(py);
            set_fields!(wd, w; successes, failures, slow_calls, ignored);
            wd.set_item("calls", w.calls())?;
            d.set_item("window", wd)?;
        }
    }
    let t = PyDict::new(py);
    t.set_item("closed", m.transitions.to_closed)?;
    t.set_item("open", m.transitions.to_open)?;
    t.set_item("half_open", m.transitions.to_half_open)?;
    t.set_item("forced_open", m.transitions.to_forced_open)?;
    t.set_item("forced_closed", m.transitions.to_forced_closed)?;
    d.set_item("transitions", t)?;
    d.set_item("time_in_state", m.time_in_state.as_secs_f64())?;
    Ok(d)
}
