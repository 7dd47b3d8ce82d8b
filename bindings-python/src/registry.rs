//! The native side of `seawall.Registry`: the core's concurrent map of named
//! breakers, on one clock.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use seawall_bindings_support::DynClock;

use crate::clock::{clock_arg, ManualClock};
use crate::handle::metrics_dict;

/// Named breakers shared by a process (see `seawall.Registry`, which keeps
/// the Python handles; this holds the core breakers).
#[pyclass(frozen, module = "seawall._native")]
pub struct Registry {
    // Boxed: the skip list holds a `CachePadded` field inline, more aligned
    // than a Python object (see `fits_python_alignment!` in lib.rs).
    pub(crate) core: Box<seawall::Registry<DynClock>>,
}

#[pymethods]
impl Registry {
    #[new]
    #[pyo3(signature = (*, clock = None))]
    fn new(clock: Option<&Bound<'_, ManualClock>>) -> Self {
        Registry {
            core: Box::new(seawall::Registry::with_clock(clock_arg(clock))),
        }
    }

    /// The names of all breakers, sorted.
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.core.names().iter().map(|n| &**n))
    }

    /// `{name: metrics}` for every breaker, in name order.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, m) in self.core.snapshot() {
            d.set_item(&*name, metrics_dict(py, &m)?)?;
        }
        Ok(d)
    }

    /// Removes the breaker called `name`; holders keep a working breaker.
    /// Returns whether there was one.
    /// (A name that is not a str, or not valid Unicode, names no breaker.)
    fn remove(&self, name: &Bound<'_, PyAny>) -> bool {
        key(name).is_some_and(|n| self.core.remove(n).is_some())
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        key(name).is_some_and(|n| self.core.get(n).is_some())
    }

    fn __len__(&self) -> usize {
        self.core.len()
    }
}

/// `name` as a key of the core's map, if it can be one.
fn key<'a>(name: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    name.cast::<PyString>().ok()?.to_str().ok()
}
