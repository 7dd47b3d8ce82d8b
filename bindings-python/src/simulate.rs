//! The `seawall` command line from Python: `python -m seawall` runs the
//! binary's own parser and runs (crate `seawall-cli`), and
//! `seawall.simulate()` / `seawall.sweep()` take the same arguments and get
//! the JSON back. Nothing is decided here: the simulator drives the core's
//! engines.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Runs the command line `argv` (the program's name first) as the `seawall`
/// binary does, printing to the process's stdout and stderr, and returns
/// its exit status. The GIL is released while it runs.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| seawall_cli::cli::main(argv))
}

/// Runs `args` (`["simulate", "outage", "--set", "timeout=30"]`, without
/// the program's name), writes any pictures asked for, and returns the
/// JSON. Raises `ValueError` with the command line's message (naming the
/// file, line or field) for bad arguments. The GIL is released while it
/// runs.
#[pyfunction]
pub fn simulate_json(py: Python<'_>, args: Vec<String>) -> PyResult<String> {
    py.detach(|| seawall_cli::cli::json(&args))
        .map_err(PyValueError::new_err)
}
