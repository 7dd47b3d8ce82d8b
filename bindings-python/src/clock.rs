//! The clock a breaker reads: the production clock, or a manual clock that
//! Python tests advance by hand.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDelta, PyFloat, PyInt};

use seawall::clock::EventCount;
use seawall::{Clock, ManualClock as CoreManualClock, QuantaClock};

/// Python cannot name a generic type, so the binding fixes the breaker's
/// clock parameter to this enum. The match costs one predictable branch, and
/// only on the paths that read the clock at all (rejections, transitions,
/// slow-call timing), never on an admitted call of a CLOSED breaker.
#[derive(Clone, Debug)]
pub(crate) enum BindingClock {
    Quanta(QuantaClock),
    Manual(CoreManualClock),
}

impl Clock for BindingClock {
    #[inline]
    fn now(&self) -> u64 {
        match self {
            BindingClock::Quanta(c) => c.now(),
            BindingClock::Manual(c) => c.now(),
        }
    }

    #[inline]
    fn recent(&self) -> u64 {
        match self {
            BindingClock::Quanta(c) => c.recent(),
            BindingClock::Manual(c) => c.recent(),
        }
    }

    /// The manual clock's: its moves wake the waits on it.
    #[inline]
    fn moves(&self) -> Option<&EventCount> {
        match self {
            BindingClock::Quanta(c) => c.moves(),
            BindingClock::Manual(c) => c.moves(),
        }
    }
}

impl BindingClock {
    /// The clock named by an optional `clock=` argument.
    pub(crate) fn from_arg(clock: Option<&Bound<'_, ManualClock>>) -> Self {
        match clock {
            Some(c) => BindingClock::Manual(c.get().0.clone()),
            None => BindingClock::Quanta(QuantaClock),
        }
    }
}

/// A clock that moves only when told to, for testing code that uses
/// breakers (half-open recovery, back-off) without sleeping.
///
/// Pass it as `clock=` to a breaker or to a `Registry`; every breaker given
/// the same clock sees the same time.
#[pyclass(frozen, module = "seawall._native")]
pub struct ManualClock(pub(crate) CoreManualClock);

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> Self {
        ManualClock(CoreManualClock::new())
    }

    /// Moves the clock forward by `seconds` (a number or a `timedelta`).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.advance(non_negative("seconds", seconds)?);
        Ok(())
    }

    /// Sets the clock to `seconds` since its origin, backwards as well as
    /// forwards.
    fn set(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = non_negative("seconds", seconds)?;
        self.0.set(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(())
    }

    /// The time in seconds since the clock's origin.
    fn now(&self) -> f64 {
        self.0.now() as f64 / 1e9
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now={}s)", self.now())
    }
}

/// A number of seconds given as `int`, `float` or `datetime.timedelta`.
pub(crate) fn seconds_of(field: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(d) = v.cast::<PyDelta>() {
        return d.call_method0("total_seconds")?.extract();
    }
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>())
    {
        return Err(PyTypeError::new_err(format!(
            "{field} must be a datetime.timedelta or a number of seconds, not {}",
            type_name(v)
        )));
    }
    // Only an int too large for a float fails here.
    v.extract().map_err(|_| {
        PyValueError::new_err(format!(
            "invalid {field} = {}: must be a finite number of seconds",
            crate::args::short_repr(v)
        ))
    })
}

/// A duration setting of a breaker: checked by the core's rules for
/// durations given in seconds, with the core's error text.
pub(crate) fn duration(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    seawall::config::seconds(field, seconds_of(field, v)?)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

fn non_negative(field: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let s = seconds_of(field, v)?;
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid {field} = {s}: must be a finite, non-negative number of seconds"
        ))
    })
}

/// The name of `v`'s type, for error messages.
pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
