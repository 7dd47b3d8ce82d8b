//! The keyed breaker as a native class: a breaker per key (a `str`, as
//! UTF-8, or `bytes`), made on the key's first call from one
//! configuration, at most `max_keys` keys alive, idle keys evicted. The
//! public `seawall.KeyedBreaker` subclasses it: `acquire` and `call` run
//! here, with no Python frame, and raise the package's errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use seawall::{
    KeyedBreaker as CoreKeyedBreaker, KeyedPermit as CorePermit, KeyedRejected, KeyedTicket,
    Outcome, Rejected,
};
use seawall_bindings_support::DynClock;

use crate::args::{self, core_u32, non_negative_seconds, validated};
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::handle::{metrics_dict, rejection_args, rejection_error};
use crate::registered;
use crate::telemetry;

type Core = CoreKeyedBreaker<DynClock>;

/// The defaults of `seawall.KeyedBreaker(max_keys=, idle_timeout=)`.
const DEFAULT_MAX_KEYS: u32 = 1024;
const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// A breaker per key, bounded; see `seawall.KeyedBreaker`.
#[pyclass(frozen, subclass, module = "seawall._native")]
pub struct KeyedBreaker {
    family: Arc<Core>,
    /// The `clock=` it was made with (its `clock` attribute).
    clock: Option<Py<ManualClock>>,
}

/// Permission for one call of one key, from `KeyedBreaker.acquire`.
/// Report exactly one outcome; a permit dropped unreported counts as
/// ignored. Until then it keeps its key's breaker from eviction.
#[pyclass(frozen, module = "seawall._native")]
pub struct KeyedPermit {
    family: Arc<Core>,
    /// `KeyedTicket::into_parts`.
    parts: (usize, usize, u64, u64),
    reported: AtomicBool,
}

impl KeyedPermit {
    fn finish(&self, outcome: Outcome) -> PyResult<()> {
        // Relaxed: the swap only has to let one report through; the
        // family's record orders what it writes itself.
        if self.reported.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "this permit's outcome was already reported",
            ));
        }
        let (family, entry, episode, start) = self.parts;
        // SAFETY: the parts come from a ticket of `self.family`, and the
        // swap above lets exactly one report rebuild it.
        let ticket = unsafe { KeyedTicket::from_parts(family, entry, episode, start) };
        self.family.record(ticket, outcome);
        Ok(())
    }
}

impl Drop for KeyedPermit {
    fn drop(&mut self) {
        if !self.reported.load(Ordering::Relaxed) {
            let _ = self.finish(Outcome::Ignored);
        }
    }
}

#[pymethods]
impl KeyedPermit {
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

    /// Whether an outcome is still to be reported.
    #[getter]
    fn pending(&self) -> bool {
        // Relaxed: see `finish`.
        !self.reported.load(Ordering::Relaxed)
    }
}

/// The exception for a call the key's breaker (named `name`) refused: the
/// package's `CircuitBreakerOpenError`, as a breaker raises it.
fn open_error(py: Python<'_>, name: &str, r: Rejected) -> PyErr {
    match rejection_args(py, name) {
        Ok((message, attrs)) => rejection_error(py, &message, &attrs, r),
        Err(e) => e,
    }
}

impl KeyedBreaker {
    /// `key`'s permit, or the error its refusal raises: the package's
    /// `CircuitBreakerOpenError` when the key's breaker refuses,
    /// `KeyedBreakerFullError` when the key is new and none is idle.
    fn permit<'a>(
        &'a self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<CorePermit<'a, DynClock>> {
        let key = args::key("key", key)?;
        self.family.try_acquire(key).map_err(|r| match r {
            KeyedRejected::Open(r) => open_error(py, &self.family.name_of(key), r),
            KeyedRejected::Full { max_keys } => self.full_error(py, key, max_keys),
        })
    }

    /// `KeyedBreakerFullError` for `key`, with the breaker's `name` it
    /// would have had, `max_keys`, and no `retry_after` (room comes when a
    /// key goes idle, at no known time).
    fn full_error(&self, py: Python<'_>, key: &[u8], max_keys: u32) -> PyErr {
        let build = || -> PyResult<PyErr> {
            let message = format!(
                "Keyed breaker '{}' is full: {max_keys} keys alive, none idle",
                self.family.prefix()
            );
            let exc = registered::get(py)?
                .keyed_full_error
                .bind(py)
                .call1((message,))?;
            exc.setattr(intern!(py, "name"), self.family.name_of(key))?;
            exc.setattr(intern!(py, "retry_after"), py.None())?;
            exc.setattr(intern!(py, "max_keys"), max_keys)?;
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|e| e)
    }
}

#[pymethods]
impl KeyedBreaker {
    #[new]
    #[pyo3(
        signature = (config = None, *, max_keys = None, idle_timeout = None, prefix = "", clock = None),
        text_signature = "(config=None, *, max_keys=1024, idle_timeout=300.0, prefix='', clock=None)"
    )]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        max_keys: Option<&Bound<'_, PyAny>>,
        idle_timeout: Option<&Bound<'_, PyAny>>,
        prefix: &str,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let config = match config {
            None => registered::get(py)?.config_class.bind(py).call0()?,
            Some(c) => {
                args::config_object(c)?;
                c.clone()
            }
        };
        let core = settings(&config)?.core;
        let mut given = Vec::new();
        let max_keys = match max_keys {
            None => DEFAULT_MAX_KEYS,
            Some(v) => core_u32("max_keys", v, &mut given)?,
        };
        let idle = match idle_timeout {
            None => DEFAULT_IDLE_TIMEOUT,
            Some(v) => non_negative_seconds("idle_timeout", v)?,
        };
        let family = Arc::new(validated(
            Core::with_clock(prefix, core, max_keys, idle, clock_arg(clock)),
            &given,
        )?);
        telemetry::keyed_breaker(&family);
        Ok(KeyedBreaker {
            family,
            clock: clock.map(|c| c.clone().unbind()),
        })
    }

    /// A permit for one call of `key` (a `str` or `bytes`), making the
    /// key's breaker if it has none: report it with `success()`,
    /// `failure()` or `ignore()` (dropped unreported: ignored). Raises
    /// `CircuitBreakerOpenError` when the key's breaker refuses, and
    /// `KeyedBreakerFullError` when the key is new and no key is idle.
    fn acquire(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<KeyedPermit> {
        let p = self.permit(py, key)?;
        Ok(KeyedPermit {
            family: Arc::clone(&self.family),
            parts: p.into_ticket().into_parts(),
            reported: AtomicBool::new(false),
        })
    }

    /// call(key, func, /, *args, **kwargs)
    /// --
    ///
    /// Runs `func(*args, **kwargs)` under `key`'s breaker and returns its
    /// result: an `Exception` counts as a failure (and is raised again),
    /// anything else that escapes (cancellation, `KeyboardInterrupt`) as
    /// neither. Refused calls raise as `acquire` does, without running
    /// `func`.
    #[pyo3(signature = (key, func, /, *args, **kwargs))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let permit = self.permit(py, key)?;
        match func.call(args, kwargs) {
            Ok(result) => {
                permit.success();
                Ok(result)
            }
            Err(e) => {
                if e.is_instance_of::<PyException>(py) {
                    permit.failure();
                } else {
                    permit.ignore();
                }
                Err(e)
            }
        }
    }

    /// The name `key`'s breaker has (or would have): the prefix, then the
    /// key.
    fn name(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self.family.name_of(args::key("key", key)?))
    }

    /// The state of `key`'s breaker, `None` if it has none.
    fn state<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let s = self.family.state(args::key("key", key)?);
        let c = registered::get(py)?;
        Ok(s.map(|s| c.state(py, s)))
    }

    /// The metrics of `key`'s breaker (as `Breaker.metrics()`), `None` if
    /// it has none.
    fn metrics<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.family
            .key_metrics(args::key("key", key)?)
            .map(|m| metrics_dict(py, &m))
            .transpose()
    }

    /// Resets `key`'s breaker to CLOSED; whether it had one.
    fn reset(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self
            .family
            .with(args::key("key", key)?, |b| b.reset())
            .is_some())
    }

    /// Each live key's breaker name and metrics, sorted by name.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyDict>)>> {
        self.family
            .snapshot()
            .into_iter()
            .map(|(n, m)| Ok((n.to_string(), metrics_dict(py, &m)?)))
            .collect()
    }

    /// The totals over every key the family ever had, evicted ones
    /// included.
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.family.metrics();
        let d = PyDict::new(py);
        d.set_item("permitted", m.permitted)?;
        d.set_item("rejected", m.rejected)?;
        d.set_item("full", m.full)?;
        d.set_item("successes", m.successes)?;
        d.set_item("failures", m.failures)?;
        d.set_item("ignored", m.ignored)?;
        d.set_item("created", m.created)?;
        d.set_item("evicted", m.evicted)?;
        d.set_item("keys", m.keys)?;
        Ok(d)
    }

    /// Evicts every idle key now; returns how many.
    fn evict_idle(&self) -> usize {
        self.family.evict_idle()
    }

    /// The live keys, as `bytes`, in no particular order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.family.keys().iter().map(|k| PyBytes::new(py, k)))
    }

    fn __len__(&self) -> usize {
        self.family.len()
    }

    #[getter]
    fn max_keys(&self) -> u32 {
        self.family.max_keys()
    }

    #[getter]
    fn idle_timeout(&self) -> f64 {
        self.family.idle_timeout().as_secs_f64()
    }

    /// The `ManualClock` the family was made with, `None` for the
    /// production clock.
    #[getter]
    fn clock(&self, py: Python<'_>) -> Option<Py<ManualClock>> {
        self.clock.as_ref().map(|c| c.clone_ref(py))
    }

    #[getter]
    fn prefix(&self) -> &str {
        self.family.prefix()
    }
}
