//! What the public package hands the native module when it is imported:
//! its enum, configuration and exception classes (`seawall/__init__.py`
//! calls `_native._init` once, after defining them). The native module never
//! imports the public package; using it before `_init` raises an error that
//! says so.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use seawall::State;
use seawall_bindings_support::names;

pub(crate) struct Registered {
    /// `CircuitState` members, in the order of `names::STATES`.
    states: [Py<PyAny>; 5],
    /// `CircuitBreakerConfig`, for breakers built without one.
    pub(crate) config_class: Py<PyAny>,
    /// `CountWindow` and `TimeWindow`, the values a configuration's
    /// `window` may take besides `None`.
    pub(crate) count_window_class: Py<PyAny>,
    pub(crate) time_window_class: Py<PyAny>,
    /// `CircuitBreakerOpenError`.
    pub(crate) open_error: Py<PyType>,
    /// `KeyedBreakerFullError`.
    pub(crate) keyed_full_error: Py<PyType>,
    /// `logging.getLogger("seawall")`.
    pub(crate) logger: Py<PyAny>,
    /// `seawall._events.transition`: logs a transition and reports it to the
    /// attached `ResilienceMetrics` ([`crate::policy::Reporter`]).
    pub(crate) on_transition: Py<PyAny>,
    /// Outcomes that are neither failures nor successes whatever the
    /// configuration says: cancellation and interpreter shutdown.
    pub(crate) neutral: Py<PyTuple>,
}

static REGISTERED: PyOnceLock<Registered> = PyOnceLock::new();

/// The classes the public package registered.
pub(crate) fn get(py: Python<'_>) -> PyResult<&'static Registered> {
    REGISTERED.get(py).ok_or_else(|| {
        PyRuntimeError::new_err(
            "seawall._native is used before the seawall package registered its classes \
             (seawall/__init__.py calls seawall._native._init): import seawall, not the \
             native module alone",
        )
    })
}

impl Registered {
    /// The `CircuitState` member for a core state.
    pub(crate) fn state<'py>(&self, py: Python<'py>, s: State) -> Bound<'py, PyAny> {
        self.states[names::state_number(s) as usize]
            .bind(py)
            .clone()
    }
}

/// `_init(*, circuit_state, config_class, count_window, time_window,
/// open_error, keyed_full_error, on_transition)`: registers the public package's classes; called once by
/// `seawall/__init__.py`. A later call (a reloaded package) changes
/// nothing: the first classes stay, as breakers already hold them.
#[pyfunction]
// One argument per keyword of the Python call.
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (*, circuit_state, config_class, count_window, time_window, open_error, keyed_full_error, on_transition))]
pub(crate) fn _init(
    py: Python<'_>,
    circuit_state: &Bound<'_, PyType>,
    config_class: &Bound<'_, PyType>,
    count_window: &Bound<'_, PyType>,
    time_window: &Bound<'_, PyType>,
    open_error: &Bound<'_, PyType>,
    keyed_full_error: &Bound<'_, PyType>,
    on_transition: &Bound<'_, PyAny>,
) -> PyResult<()> {
    REGISTERED
        .get_or_try_init(py, || {
            let member = |s: &State| circuit_state.getattr(s.as_str()).map(Bound::unbind);
            let [a, b, c, d, e] = &names::STATES;
            let states = [member(a)?, member(b)?, member(c)?, member(d)?, member(e)?];
            let logger = py
                .import("logging")?
                .call_method1("getLogger", ("seawall",))?
                .unbind();
            let asyncio = py.import("asyncio")?;
            let builtins = py.import("builtins")?;
            let neutral = PyTuple::new(
                py,
                [
                    asyncio.getattr("CancelledError")?,
                    builtins.getattr("KeyboardInterrupt")?,
                    builtins.getattr("SystemExit")?,
                    builtins.getattr("GeneratorExit")?,
                ],
            )?
            .unbind();
            Ok::<_, PyErr>(Registered {
                states,
                config_class: config_class.clone().into_any().unbind(),
                count_window_class: count_window.clone().into_any().unbind(),
                time_window_class: time_window.clone().into_any().unbind(),
                open_error: open_error.clone().unbind(),
                keyed_full_error: keyed_full_error.clone().unbind(),
                logger,
                on_transition: on_transition.clone().unbind(),
                neutral,
            })
        })
        .map(drop)
}

/// Logs `message` as a warning through the `seawall` logger, from any
/// thread (the coordinator thread reports fleet events this way).
pub(crate) fn log_warning(message: &str) {
    Python::attach(|py| {
        let logged = get(py).and_then(|c| {
            c.logger
                .bind(py)
                .call_method1("warning", (message,))
                .map(drop)
        });
        if let Err(e) = logged {
            if crate::policy::is_interrupt(py, &e) {
                crate::policy::park_interrupt(e);
                return;
            }
            log::warn!("{message}");
            e.write_unraisable(py, None);
        }
    })
}

/// Logs `message` with `err`'s traceback through the `seawall` logger. Used
/// for exceptions raised by user callbacks, which must never reach the caller
/// whose call happened to make the transition.
pub(crate) fn log_exception(py: Python<'_>, message: &str, err: PyErr) {
    let logged = get(py).and_then(|c| {
        let kwargs = PyDict::new(py);
        // `into_value` sets the exception's `__traceback__`, which the
        // record's formatter prints.
        kwargs.set_item("exc_info", err.clone_ref(py).into_value(py))?;
        c.logger
            .bind(py)
            .call_method("error", (message,), Some(&kwargs))
            .map(drop)
    });
    if let Err(e) = logged {
        if crate::policy::is_interrupt(py, &e) {
            // A logging handler (user code) was interrupted: raised by the
            // binding when the core call in progress returns.
            crate::policy::park_interrupt(e);
            return;
        }
        // Logging itself failed (interpreter shutting down, a broken
        // handler): fall back to the Rust logger and the unraisable hook.
        log::error!("seawall: {message}: {err}");
        e.write_unraisable(py, None);
    }
}
