//! The keyed breaker as a native class: a breaker per key (a `str`, as
//! UTF-8, or `bytes`), made on the key's first call from one
//! configuration, at most `max_keys` keys alive, idle keys evicted. The
//! public `seawall.KeyedBreaker` wraps it and raises the package's errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use seawall::{KeyedBreaker as CoreKeyedBreaker, KeyedRejected, KeyedTicket, Outcome, Rejected};
use seawall_bindings_support::DynClock;

use crate::args::{self, core_u32, non_negative_seconds, validated};
use crate::clock::{clock_arg, ManualClock};
use crate::config::settings;
use crate::handle::{metrics_dict, rejection_args, rejection_error};
use crate::registered;
use crate::telemetry;

type Core = CoreKeyedBreaker<DynClock>;

/// A breaker per key, bounded; see `seawall.KeyedBreaker`.
#[pyclass(frozen, module = "seawall._native")]
pub struct KeyedBreaker(Arc<Core>);

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

#[pymethods]
impl KeyedBreaker {
    #[new]
    #[pyo3(signature = (config, *, max_keys, idle_timeout, prefix = "", clock = None))]
    fn new(
        config: &Bound<'_, PyAny>,
        max_keys: &Bound<'_, PyAny>,
        idle_timeout: &Bound<'_, PyAny>,
        prefix: &str,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let py = config.py();
        let config = if config.is_none() {
            registered::get(py)?.config_class.bind(py).call0()?
        } else {
            args::config_object(config)?;
            config.clone()
        };
        let core = settings(&config)?.core;
        let mut given = Vec::new();
        let max_keys = core_u32("max_keys", max_keys, &mut given)?;
        let idle = non_negative_seconds("idle_timeout", idle_timeout)?;
        let family = Arc::new(validated(
            Core::with_clock(prefix, core, max_keys, idle, clock_arg(clock)),
            &given,
        )?);
        telemetry::keyed_breaker(&family);
        Ok(KeyedBreaker(family))
    }

    /// A permit for one call of `key` (a `str` or `bytes`), making the
    /// key's breaker if it has none; `None` when the key is new and the
    /// family is full (no idle key to evict). Raises
    /// `CircuitBreakerOpenError` when the key's breaker refuses.
    fn acquire(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<KeyedPermit>> {
        let key = args::key("key", key)?;
        match self.0.try_acquire(key) {
            Ok(p) => Ok(Some(KeyedPermit {
                family: Arc::clone(&self.0),
                parts: p.into_ticket().into_parts(),
                reported: AtomicBool::new(false),
            })),
            Err(KeyedRejected::Open(r)) => Err(open_error(py, &self.0.name_of(key), r)),
            Err(KeyedRejected::Full { .. }) => Ok(None),
        }
    }

    /// The name `key`'s breaker has (or would have): the prefix, then the
    /// key.
    fn name(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        Ok(self.0.name_of(args::key("key", key)?))
    }

    /// The state of `key`'s breaker, `None` if it has none.
    fn state<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let s = self.0.state(args::key("key", key)?);
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
        self.0
            .key_metrics(args::key("key", key)?)
            .map(|m| metrics_dict(py, &m))
            .transpose()
    }

    /// Resets `key`'s breaker to CLOSED; whether it had one.
    fn reset(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.with(args::key("key", key)?, |b| b.reset()).is_some())
    }

    /// Each live key's breaker name and metrics, sorted by name.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyDict>)>> {
        self.0
            .snapshot()
            .into_iter()
            .map(|(n, m)| Ok((n.to_string(), metrics_dict(py, &m)?)))
            .collect()
    }

    /// The totals over every key the family ever had, evicted ones
    /// included.
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.0.metrics();
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
        self.0.evict_idle()
    }

    /// The live keys, as `bytes`, in no particular order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.0.keys().iter().map(|k| PyBytes::new(py, k)))
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    #[getter]
    fn max_keys(&self) -> u32 {
        self.0.max_keys()
    }

    #[getter]
    fn idle_timeout(&self) -> f64 {
        self.0.idle_timeout().as_secs_f64()
    }

    #[getter]
    fn prefix(&self) -> &str {
        self.0.prefix()
    }
}
