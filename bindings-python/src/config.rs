//! Reading a Python `CircuitBreakerConfig` (or any object with the same
//! attributes) into the core's `BreakerConfig` plus the Python-side policy:
//! which outcomes are failures, and the transition callbacks.
//!
//! Every error names the field: `TypeError` for a value of the wrong type,
//! `ValueError` (with the core's `ConfigError` text) for one out of range.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyTuple, PyType};

use seawall::{BreakerConfig, Window};

use crate::args::{
    boolean, config_object, core_positive_u32, core_u32, duration, int_in, number, short_repr,
    type_name, validated,
};
use crate::policy::{Callbacks, Policy};
use crate::registered;

/// Everything a breaker is built from.
pub(crate) struct Settings {
    pub(crate) core: BreakerConfig,
    pub(crate) policy: Policy,
    pub(crate) callbacks: Callbacks,
}

/// The attribute `name` of `config`, `None` when missing or `None`.
fn attr<'py>(config: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    if config.is_none() {
        return Ok(None);
    }
    Ok(config.getattr_opt(name)?.filter(|v| !v.is_none()))
}

/// A count field: an `int` (not a `bool`), range-checked by the core.
fn count(
    config: &Bound<'_, PyAny>,
    field: &'static str,
    default: u32,
    given: &mut Vec<(&'static str, String)>,
) -> PyResult<u32> {
    match attr(config, field)? {
        None => Ok(default),
        Some(v) => core_u32(field, &v, given),
    }
}

/// A count field that is unset (`None`) by default and whose core range
/// starts at 1 (see [`core_positive_u32`]).
fn positive_count(
    config: &Bound<'_, PyAny>,
    field: &'static str,
    given: &mut Vec<(&'static str, String)>,
) -> PyResult<Option<u32>> {
    attr(config, field)?
        .map(|v| core_positive_u32(field, &v, given))
        .transpose()
}

/// A number field: an `int` or a `float` (not a `bool`), range-checked by
/// the core.
fn number_or(config: &Bound<'_, PyAny>, field: &'static str, default: f64) -> PyResult<f64> {
    Ok(optional_number(config, field)?.unwrap_or(default))
}

/// A number field that is unset (`None`) by default.
fn optional_number(config: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Option<f64>> {
    attr(config, field)?.map(|v| number(field, &v)).transpose()
}

/// A `bool` field.
fn flag(config: &Bound<'_, PyAny>, field: &'static str, default: bool) -> PyResult<bool> {
    match attr(config, field)? {
        None => Ok(default),
        Some(v) => boolean(field, &v),
    }
}

/// The `window` field: `None` (no window), a `seawall.CountWindow` or a
/// `seawall.TimeWindow`.
fn window(config: &Bound<'_, PyAny>, given: &mut Vec<(&'static str, String)>) -> PyResult<Window> {
    match attr(config, "window")? {
        None => Ok(Window::None),
        Some(w) => window_of(&w, given),
    }
}

/// A `CountWindow` / `TimeWindow` as the core's `Window`; its fields are
/// named `window.size`, `window.length` and `window.buckets`, as the core
/// names them.
fn window_of(w: &Bound<'_, PyAny>, given: &mut Vec<(&'static str, String)>) -> PyResult<Window> {
    let py = w.py();
    let classes = registered::get(py)?;
    if w.is_instance(classes.count_window_class.bind(py))? {
        return Ok(Window::Count {
            size: core_u32("window.size", &w.getattr("size")?, given)?,
        });
    }
    if w.is_instance(classes.time_window_class.bind(py))? {
        return Ok(Window::Time {
            length: duration("window.length", &w.getattr("length")?)?,
            buckets: core_u32("window.buckets", &w.getattr("buckets")?, given)?,
        });
    }
    Err(PyTypeError::new_err(format!(
        "window must be a seawall.CountWindow, a seawall.TimeWindow or None, not {} ({})",
        type_name(w),
        short_repr(w)
    )))
}

fn callable(config: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Option<Py<PyAny>>> {
    match attr(config, field)? {
        None => Ok(None),
        Some(v) if v.is_callable() => Ok(Some(v.unbind())),
        Some(v) => Err(PyTypeError::new_err(format!(
            "{field} must be callable or None, not {}",
            type_name(&v)
        ))),
    }
}

/// A list of exception classes (a single class is accepted too). `None`
/// when empty.
fn exception_classes(
    config: &Bound<'_, PyAny>,
    field: &'static str,
) -> PyResult<Option<Py<PyTuple>>> {
    let py = config.py();
    let Some(v) = attr(config, field)? else {
        return Ok(None);
    };
    let base = py.get_type::<pyo3::exceptions::PyBaseException>();
    let is_exc_class = |c: &Bound<'_, PyAny>| -> PyResult<bool> {
        Ok(match c.cast::<PyType>() {
            Ok(t) => t.is_subclass(&base)?,
            Err(_) => false,
        })
    };
    let items: Vec<Bound<'_, PyAny>> = if is_exc_class(&v)? {
        vec![v]
    } else {
        let iter = v.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{field} must be a list of exception classes, not {}",
                type_name(&v)
            ))
        })?;
        iter.collect::<PyResult<_>>()?
    };
    for c in &items {
        if !is_exc_class(c)? {
            return Err(PyTypeError::new_err(format!(
                "{field} must contain exception classes only, found {} ({})",
                c.repr()?,
                type_name(c)
            )));
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(PyTuple::new(py, items)?.unbind()))
}

fn status_codes(config: &Bound<'_, PyAny>, field: &'static str) -> PyResult<Vec<i64>> {
    let Some(v) = attr(config, field)? else {
        return Ok(Vec::new());
    };
    let bad =
        |what: String| PyTypeError::new_err(format!("{field} must be a list of ints, {what}"));
    let iter = v
        .try_iter()
        .map_err(|_| bad(format!("not {}", type_name(&v))))?;
    let mut codes = Vec::new();
    for c in iter {
        let c = c?;
        if c.is_instance_of::<PyBool>() || !c.is_instance_of::<PyInt>() {
            return Err(bad(format!("found {} ({})", c.repr()?, type_name(&c))));
        }
        codes.push(int_in(field, &c, i64::MIN, i64::MAX)?);
    }
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

fn optional_duration(
    config: &Bound<'_, PyAny>,
    field: &'static str,
) -> PyResult<Option<std::time::Duration>> {
    attr(config, field)?
        .map(|v| duration(field, &v))
        .transpose()
}

/// Reads and validates `config` (`None` means all defaults).
pub(crate) fn settings(config: &Bound<'_, PyAny>) -> PyResult<Settings> {
    let d = BreakerConfig::default();
    let mut raw = Vec::new();
    let core = BreakerConfig {
        failure_threshold: count(config, "failure_threshold", d.failure_threshold, &mut raw)?,
        trip_on_consecutive_failures: flag(
            config,
            "trip_on_consecutive_failures",
            d.trip_on_consecutive_failures,
        )?,
        window: window(config, &mut raw)?,
        failure_count_threshold: positive_count(config, "failure_count_threshold", &mut raw)?,
        failure_rate_threshold: optional_number(config, "failure_rate_threshold")?,
        slow_call_rate_threshold: optional_number(config, "slow_call_rate_threshold")?,
        minimum_calls: positive_count(config, "minimum_calls", &mut raw)?
            .unwrap_or(d.minimum_calls),
        success_threshold: count(config, "success_threshold", d.success_threshold, &mut raw)?,
        half_open_success_rate: optional_number(config, "half_open_success_rate")?,
        half_open_max_calls: count(
            config,
            "half_open_max_calls",
            d.half_open_max_calls,
            &mut raw,
        )?,
        timeout: optional_duration(config, "timeout")?.unwrap_or(d.timeout),
        half_open_timeout: optional_duration(config, "half_open_timeout")?
            .unwrap_or(d.half_open_timeout),
        timeout_multiplier: number_or(config, "timeout_multiplier", d.timeout_multiplier)?,
        max_timeout: optional_duration(config, "max_timeout")?,
        timeout_jitter: number_or(config, "timeout_jitter", d.timeout_jitter)?,
        slow_call_duration: optional_duration(config, "slow_call_duration")?,
    };
    validated(core.validate(), &raw)?;
    let py = config.py();
    let track = match attr(config, "track_exceptions")? {
        // Absent or None: the original's default, `[Exception]`.
        None => Some(PyTuple::new(py, [py.get_type::<pyo3::exceptions::PyException>()])?.unbind()),
        Some(_) => exception_classes(config, "track_exceptions")?,
    };
    let policy = Policy {
        track,
        codes: status_codes(config, "track_status_codes")?,
        exclude: exception_classes(config, "exclude_exceptions")?,
        failure_predicate: callable(config, "failure_predicate")?,
        result_predicate: callable(config, "result_predicate")?,
    };
    let callbacks = Callbacks {
        on_open: callable(config, "on_open")?,
        on_close: callable(config, "on_close")?,
        on_half_open: callable(config, "on_half_open")?,
    };
    Ok(Settings {
        core,
        policy,
        callbacks,
    })
}

/// `validate_config(config)`: raises `TypeError`/`ValueError` naming the
/// first bad field, exactly as building a breaker from `config` would.
#[pyfunction]
pub(crate) fn validate_config(config: &Bound<'_, PyAny>) -> PyResult<()> {
    config_object(config)?;
    settings(config).map(drop)
}

/// `validate_window(window)`: raises `TypeError`/`ValueError` naming the
/// first bad field of a `CountWindow` / `TimeWindow` (`window.size`,
/// `window.length`, `window.buckets`), exactly as building a breaker with
/// that window would.
#[pyfunction]
pub(crate) fn validate_window(window: &Bound<'_, PyAny>) -> PyResult<()> {
    let mut raw = Vec::new();
    let window = window_of(window, &mut raw)?;
    // The core checks a window as part of a configuration. With no window
    // rule set and `minimum_calls` at its lowest, nothing but the window's
    // own fields can be refused.
    let config = BreakerConfig {
        window,
        minimum_calls: 1,
        ..BreakerConfig::default()
    };
    validated(config.validate(), &raw)
}
