//! Reading arguments from Python: one place that turns a Python value into
//! what the core takes, so every argument of every class gets the same
//! error: `TypeError` naming the argument and the type given, `ValueError`
//! naming the argument, the value and the allowed range.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

use seawall::ConfigError;

use crate::cache;
use crate::clock::type_name;

/// A short `repr` of `v` for messages (at most ~80 characters).
pub(crate) fn short_repr(v: &Bound<'_, PyAny>) -> String {
    let r = v
        .repr()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<unprintable>".into());
    if r.chars().count() > 80 {
        let mut s: String = r.chars().take(77).collect();
        s.push_str("...");
        s
    } else {
        r
    }
}

/// `v` as an `int` (a `bool` is refused, though Python counts it as one).
fn int<'a, 'py>(field: &str, v: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyInt>> {
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field} must be an int, not bool ({})",
            short_repr(v)
        )));
    }
    v.cast::<PyInt>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{field} must be an int, not {} ({})",
            type_name(v),
            short_repr(v)
        ))
    })
}

/// An integer setting that the core range-checks (a `u32` there).
///
/// Values that do not fit a `u32` (negative or huge) become `u32::MAX`,
/// which is outside the range of every such field of the core, so the
/// core's validation rejects them with its own range text; the value shown
/// in that message is then replaced by the one the user gave (recorded in
/// `given`, see [`validated`]).
pub(crate) fn core_u32(
    field: &'static str,
    v: &Bound<'_, PyAny>,
    given: &mut Vec<(&'static str, String)>,
) -> PyResult<u32> {
    u32_or(field, v, given, u32::MAX)
}

/// [`core_u32`] for a field whose core range starts at 1 and whose upper
/// bound depends on another field (`minimum_calls` and
/// `failure_count_threshold`, at most a count window's size, unbounded
/// otherwise): values that do not fit a `u32` become 0, which the core
/// refuses with the field's own range text whatever the window, before any
/// rule that relates the field to others.
pub(crate) fn core_positive_u32(
    field: &'static str,
    v: &Bound<'_, PyAny>,
    given: &mut Vec<(&'static str, String)>,
) -> PyResult<u32> {
    u32_or(field, v, given, 0)
}

fn u32_or(
    field: &'static str,
    v: &Bound<'_, PyAny>,
    given: &mut Vec<(&'static str, String)>,
    substitute: u32,
) -> PyResult<u32> {
    let n = int(field, v)?;
    match n.extract::<u32>() {
        Ok(x) => Ok(x),
        Err(_) => {
            given.push((field, short_repr(v)));
            Ok(substitute)
        }
    }
}

/// A `bool` setting: `True` or `False` only (not `0`, `1` or other values
/// Python would take as true or false).
pub(crate) fn boolean(field: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>().map(|b| b.is_true()).map_err(|_| {
        PyTypeError::new_err(format!(
            "{field} must be a bool, not {} ({})",
            type_name(v),
            short_repr(v)
        ))
    })
}

/// The result of the core's validation of a configuration read with
/// [`core_u32`]: its `ConfigError` as a `ValueError` showing the value the
/// user gave, and an error too if the core accepted a substituted value
/// (a field whose range reaches `u32::MAX`: then that is the range).
pub(crate) fn validated<T>(
    r: Result<T, ConfigError>,
    given: &[(&'static str, String)],
) -> PyResult<T> {
    match r {
        Err(mut e) => {
            if let Some((_, v)) = given.iter().find(|(f, _)| *f == e.field) {
                e.value = v.clone();
            }
            Err(PyValueError::new_err(e.to_string()))
        }
        Ok(t) => match given.first() {
            None => Ok(t),
            Some((field, v)) => Err(PyValueError::new_err(format!(
                "invalid {field} = {v}: must be an integer in [0, {}]",
                u32::MAX
            ))),
        },
    }
}

/// An `int` in `[min, max]` (both within `i64`).
pub(crate) fn int_in(field: &str, v: &Bound<'_, PyAny>, min: i64, max: i64) -> PyResult<i64> {
    let n = int(field, v)?;
    match n.extract::<i64>() {
        Ok(x) if (min..=max).contains(&x) => Ok(x),
        _ => Err(PyValueError::new_err(format!(
            "invalid {field} = {}: must be an integer in [{min}, {max}]",
            short_repr(v)
        ))),
    }
}

/// An attempt number: any non-negative `int`; those beyond the largest
/// attempt the core takes are clamped to it (delays never decrease with
/// the attempt, so the clamped delay is the right one).
pub(crate) fn attempt(field: &str, v: &Bound<'_, PyAny>) -> PyResult<u32> {
    let n = int(field, v)?;
    if n.lt(0)? {
        return Err(PyValueError::new_err(format!(
            "invalid {field} = {}: must be a non-negative integer",
            short_repr(v)
        )));
    }
    Ok(n.extract::<u32>().unwrap_or(u32::MAX))
}

/// A breaker's name: a `str` that can be encoded as UTF-8.
pub(crate) fn breaker_name(v: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = v.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "name must be a str, not {} ({})",
            type_name(v),
            short_repr(v)
        ))
    })?;
    s.to_str().map(str::to_owned).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid name = {}: must be valid Unicode text (it contains a lone surrogate)",
            short_repr(v)
        ))
    })
}

/// The fields an object must have to be taken as a breaker configuration:
/// those of the original `CircuitBreakerConfig` (Seawall's additions are
/// optional).
const CONFIG_FIELDS: [&str; 9] = [
    "failure_threshold",
    "success_threshold",
    "timeout",
    "half_open_timeout",
    "track_exceptions",
    "track_status_codes",
    "on_open",
    "on_close",
    "on_half_open",
];

/// Checks that `config` is a `CircuitBreakerConfig`, or an object with
/// every field of one; `TypeError` naming what was passed otherwise.
pub(crate) fn config_object(config: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = config.py();
    if config.is_instance(cache::get(py)?.config_class.bind(py))? {
        return Ok(());
    }
    let missing: Vec<&str> = CONFIG_FIELDS
        .iter()
        .copied()
        .filter(|f| !config.hasattr(*f).unwrap_or(false))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "config must be a CircuitBreakerConfig (or an object with all of its fields), \
         not {} ({}), which lacks {}",
        type_name(config),
        short_repr(config),
        missing.join(", ")
    )))
}

/// `attempt_number(attempt)`: checks an attempt number as every function
/// taking one does (a non-negative `int`) and returns it clamped to the
/// largest attempt the core takes.
#[pyfunction]
pub(crate) fn attempt_number(attempt: &Bound<'_, PyAny>) -> PyResult<u32> {
    self::attempt("attempt", attempt)
}
