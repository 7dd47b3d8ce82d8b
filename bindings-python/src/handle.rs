//! What every breaker handle class (`Breaker`, `DistributedBreaker`)
//! shares, none of it on a call's success path: the name and configuration
//! it is built from, its rejection exception, and its metrics dict.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use seawall::Rejected;

use crate::args::{config_object, name as breaker_name};
use crate::registered;

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

/// The arguments of the rejections of the breaker `name`: the exception's
/// `("Circuit breaker '<name>' is OPEN",)` and its attributes'
/// `{"name": <name>}` (see [`rejection_error`]), built once.
pub(crate) fn rejection_args(py: Python<'_>, name: &str) -> PyResult<(Py<PyTuple>, Py<PyDict>)> {
    let message = format!("Circuit breaker '{name}' is OPEN");
    let attrs = PyDict::new(py);
    attrs.set_item("name", name)?;
    Ok((PyTuple::new(py, [message])?.unbind(), attrs.unbind()))
}

/// The exception for a rejected call of the breaker whose rejection
/// arguments are `message` (`("Circuit breaker '<name>' is OPEN",)`) and
/// `attrs` (`{"name": <name>}`): a new instance every time (a shared
/// instance would grow its traceback on every raise), carrying the
/// breaker's name, the refusing state and the seconds until a trial call
/// may be admitted (`None` while forced open).
pub(crate) fn rejection_error(
    py: Python<'_>,
    message: &Py<PyTuple>,
    attrs: &Py<PyDict>,
    r: Rejected,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let c = registered::get(py)?;
        let exc = c.open_error.bind(py).call1(message.bind(py))?;
        // One dict, filled and attached at once, costs less than three
        // attribute stores that grow the instance dict one by one.
        let attrs = attrs.bind(py).copy()?;
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

/// The core's counters as a dict (see the `seawall` crate's `Metrics`).
pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: &seawall::Metrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", registered::get(py)?.state(py, m.state))?;
    d.set_item("permitted", m.permitted)?;
    d.set_item("successes", m.successes)?;
    d.set_item("failures", m.failures)?;
    d.set_item("ignored", m.ignored)?;
    d.set_item("late", m.late)?;
    d.set_item("rejected", m.rejected)?;
    d.set_item("slow_calls", m.slow_calls)?;
    d.set_item("consecutive_failures", m.consecutive_failures)?;
    d.set_item("trial_successes", m.trial_successes)?;
    d.set_item("trial_calls_in_flight", m.trial_calls_in_flight)?;
    match m.window {
        None => d.set_item("window", py.None())?,
        Some(w) => {
            let wd = PyDict::new(py);
            wd.set_item("successes", w.successes)?;
            wd.set_item("failures", w.failures)?;
            wd.set_item("slow_calls", w.slow_calls)?;
            wd.set_item("ignored", w.ignored)?;
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
