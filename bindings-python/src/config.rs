//! Reading a Python `CircuitBreakerConfig` (or any object with the same
//! attributes) into the core's `BreakerConfig` plus the Python-side policy:
//! which outcomes are failures, and the transition callbacks.
//!
//! Every error names the field: `TypeError` for a value of the wrong type,
//! `ValueError` (with the core's `ConfigError` text) for one out of range.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyTuple, PyType};

use seawall::BreakerConfig;

use crate::args::{config_object, core_u32, int_in, validated};
use crate::clock::{duration, type_name};
use crate::policy::{Callbacks, Policy};

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

fn number(config: &Bound<'_, PyAny>, field: &'static str, default: f64) -> PyResult<f64> {
    let Some(v) = attr(config, field)? else {
        return Ok(default);
    };
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field} must be a number, not bool"
        )));
    }
    v.extract().map_err(|_| {
        if v.is_instance_of::<PyInt>() {
            // An int too large for a float.
            PyValueError::new_err(format!(
                "invalid {field} = {}: must be a finite number",
                crate::args::short_repr(&v)
            ))
        } else {
            PyTypeError::new_err(format!("{field} must be a number, not {}", type_name(&v)))
        }
    })
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
        success_threshold: count(config, "success_threshold", d.success_threshold, &mut raw)?,
        half_open_max_calls: count(
            config,
            "half_open_max_calls",
            d.half_open_max_calls,
            &mut raw,
        )?,
        timeout: optional_duration(config, "timeout")?.unwrap_or(d.timeout),
        half_open_timeout: optional_duration(config, "half_open_timeout")?
            .unwrap_or(d.half_open_timeout),
        timeout_multiplier: number(config, "timeout_multiplier", d.timeout_multiplier)?,
        max_timeout: optional_duration(config, "max_timeout")?,
        timeout_jitter: number(config, "timeout_jitter", d.timeout_jitter)?,
        slow_call_duration: optional_duration(config, "slow_call_duration")?,
        ..d
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
