//! Reading arguments from Python: one place that turns a Python value into
//! what the core takes, so every argument of every class gets the same
//! error: `TypeError` naming the argument and the type given, `ValueError`
//! naming the argument, the value and the allowed range (in the bindings'
//! shared wording, `seawall_bindings_support::fields`). The pure-Python
//! package checks its own arguments with these same functions (the
//! `check_*` functions below, through `seawall._check`).

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDelta, PyFloat, PyInt, PyString};

use seawall::{ConfigError, Timing};
use seawall_bindings_support::{duration, fields};

use crate::registered;

/// The name of `v`'s type, for error messages.
pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A short `repr` of `v` for messages (at most 80 characters).
pub(crate) fn short_repr(v: &Bound<'_, PyAny>) -> String {
    let r = v
        .repr()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<unprintable>".into());
    fields::shorten(r)
}

/// "{field} must be {expected}, not {type} ({value})".
pub(crate) fn type_error(field: &str, expected: &str, v: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(fields::wrong_type(
        field,
        expected,
        &type_name(v),
        &short_repr(v),
    ))
}

/// "invalid {field} = {value}: must be {allowed}".
pub(crate) fn value_error(
    field: impl std::fmt::Display,
    value: impl std::fmt::Display,
    allowed: impl std::fmt::Display,
) -> PyErr {
    PyValueError::new_err(fields::invalid(field, value, allowed))
}

/// `v` as an `int` (a `bool` is refused, though Python counts it as one).
fn int<'a, 'py>(field: &str, v: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyInt>> {
    if v.is_instance_of::<PyBool>() {
        return Err(type_error(field, "an int", v));
    }
    v.cast::<PyInt>()
        .map_err(|_| type_error(field, "an int", v))
}

/// A number (an `int`, a `float` or anything Python can turn into one, but
/// not a `bool`) as an `f64`.
pub(crate) fn number(field: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() {
        return Err(type_error(field, "a number", v));
    }
    v.extract().map_err(|_| {
        if v.is_instance_of::<PyInt>() {
            // An int too large for a float.
            value_error(field, short_repr(v), "a finite number")
        } else {
            type_error(field, "a number", v)
        }
    })
}

/// A number of seconds given as `int`, `float` or `datetime.timedelta`.
pub(crate) fn seconds_of(field: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if let Ok(d) = v.cast::<PyDelta>() {
        return d.call_method0("total_seconds")?.extract();
    }
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>())
    {
        return Err(type_error(
            field,
            "a datetime.timedelta or a number of seconds",
            v,
        ));
    }
    // Only an int too large for a float fails here.
    v.extract()
        .map_err(|_| value_error(field, short_repr(v), "a finite number of seconds"))
}

/// Seconds (finite, non-negative) as a `Duration`, naming the field.
pub(crate) fn secs(field: &str, s: f64) -> PyResult<Duration> {
    duration::non_negative_seconds(field, s).map_err(PyValueError::new_err)
}

/// [`secs`] of a number or a `timedelta`.
pub(crate) fn non_negative_seconds(field: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    secs(field, seconds_of(field, v)?)
}

/// A duration setting of a breaker: checked by the core's rules for
/// durations given in seconds, with the core's error text.
pub(crate) fn duration(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    seawall::config::seconds(field, seconds_of(field, v)?)
        .map_err(|e| PyValueError::new_err(e.to_string()))
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
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| type_error(field, "a bool", v))
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
            Some((field, v)) => Err(value_error(
                field,
                v,
                format_args!("an integer in [0, {}]", u32::MAX),
            )),
        },
    }
}

/// An `int` in `[min, max]` (both within `i64`).
pub(crate) fn int_in(field: &str, v: &Bound<'_, PyAny>, min: i64, max: i64) -> PyResult<i64> {
    let n = int(field, v)?;
    match n.extract::<i64>() {
        Ok(x) if (min..=max).contains(&x) => Ok(x),
        _ => Err(value_error(
            field,
            short_repr(v),
            format_args!("an integer in [{min}, {max}]"),
        )),
    }
}

/// A seed of a random generator: an `int` in `[0, 2**64 - 1]`.
pub(crate) fn seed(field: &str, v: &Bound<'_, PyAny>) -> PyResult<u64> {
    int(field, v)?
        .extract::<u64>()
        .map_err(|_| value_error(field, short_repr(v), "an integer in [0, 2**64 - 1]"))
}

/// An attempt number: any non-negative `int`; those beyond the largest
/// attempt the core takes are clamped to it (delays never decrease with
/// the attempt, so the clamped delay is the right one).
pub(crate) fn attempt(field: &str, v: &Bound<'_, PyAny>) -> PyResult<u32> {
    let n = int(field, v)?;
    if n.lt(0)? {
        return Err(value_error(field, short_repr(v), "a non-negative integer"));
    }
    Ok(n.extract::<u32>().unwrap_or(u32::MAX))
}

/// A name: a `str` that can be encoded as UTF-8.
pub(crate) fn name(field: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = v
        .cast::<PyString>()
        .map_err(|_| type_error(field, "a str", v))?;
    s.to_str().map(str::to_owned).map_err(|_| {
        value_error(
            field,
            short_repr(v),
            "valid Unicode text (it contains a lone surrogate)",
        )
    })
}

/// A key as the bytes the core hashes: a `str` as its UTF-8 encoding, or
/// `bytes` as they are (so `"a"` and `b"a"` are the same key, as the C
/// face's byte keys are).
#[inline]
pub(crate) fn key<'a>(field: &str, v: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(s) = v.cast::<PyString>() {
        return s.to_str().map(str::as_bytes).map_err(|_| {
            value_error(
                field,
                short_repr(v),
                "valid Unicode text (it contains a lone surrogate)",
            )
        });
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    Err(type_error(field, "a str or bytes", v))
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
    if config.is_instance(registered::get(py)?.config_class.bind(py))? {
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

// The checks of the pure-Python package (`seawall._check`), the same
// functions as the native classes' so that the two never word an error
// differently.

/// `shown(value)`: a short `repr` of `value` for messages.
#[pyfunction]
pub(crate) fn shown(value: &Bound<'_, PyAny>) -> String {
    short_repr(value)
}

/// `type_error(field, expected, value)`: the `TypeError` for a `value` that
/// is not `expected` (returned, not raised).
#[pyfunction]
#[pyo3(name = "type_error")]
pub(crate) fn py_type_error(
    py: Python<'_>,
    field: &str,
    expected: &str,
    value: &Bound<'_, PyAny>,
) -> Py<PyAny> {
    type_error(field, expected, value).into_value(py).into_any()
}

/// `check_bool(field, value)`: `value` if it is a `bool`.
#[pyfunction]
pub(crate) fn check_bool(field: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    boolean(field, value)
}

/// `check_int(field, value)`: `value` if it is an `int` (not a `bool`); its
/// range is for the engine to check.
#[pyfunction]
pub(crate) fn check_int<'py>(
    field: &str,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyInt>> {
    int(field, value).cloned()
}

/// `check_number(field, value)`: an `int` or `float` (not a `bool`) as a
/// float.
#[pyfunction]
pub(crate) fn check_number(field: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    number(field, value)
}

/// `check_seconds(field, value)`: a `timedelta` or a number of seconds, as
/// seconds.
#[pyfunction]
pub(crate) fn check_seconds(field: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    seconds_of(field, value)
}

/// `check_non_negative_seconds(field, value)`: as `check_seconds`, finite
/// and non-negative.
#[pyfunction]
pub(crate) fn check_non_negative_seconds(field: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    let s = seconds_of(field, value)?;
    secs(field, s).map(|_| s)
}

/// The `fallback` of a protected call: `None` (absent) or a callable taking
/// no argument. Checked before anything runs, so a misplaced argument
/// (`call(func, 42)`, read as `call(func, fallback=42)`) is refused without
/// calling `func` nor counting anything.
pub(crate) fn fallback<'a, 'py>(
    v: Option<&'a Bound<'py, PyAny>>,
) -> PyResult<Option<&'a Bound<'py, PyAny>>> {
    match v {
        Some(f) if f.is_none() => Ok(None),
        Some(f) if !f.is_callable() => Err(type_error(
            "fallback",
            "callable or None (call(func, fallback) calls func() with no \
             arguments: pass call(lambda: func(42)) to give it some)",
            f,
        )),
        v => Ok(v),
    }
}

/// `check_fallback(value)`: `value` if it is a fallback (see [`fallback`]).
#[pyfunction]
pub(crate) fn check_fallback<'py>(
    value: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(fallback(value.as_ref())?.cloned())
}

/// `check_name(field, value)`: a `str` that is valid Unicode.
#[pyfunction]
pub(crate) fn check_name(field: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    name(field, value)
}

/// A timing by its name (`"exact"` or `"recent"`).
pub(crate) fn timing(v: &Bound<'_, PyAny>) -> PyResult<Timing> {
    let name = name("timing", v)?;
    Timing::from_name(&name).ok_or_else(|| {
        let names: Vec<String> = Timing::ALL
            .iter()
            .map(|t| format!("'{}'", t.name()))
            .collect();
        value_error(
            "timing",
            short_repr(v),
            format_args!("one of {}", names.join(", ")),
        )
    })
}
