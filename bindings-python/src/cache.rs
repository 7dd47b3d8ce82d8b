//! Python objects the extension looks up once per process: the public enum
//! and exception classes (defined in the pure-Python package), the logger,
//! and the exception classes that are always neutral.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

use seawall::State;

pub(crate) struct Cached {
    /// `seawall.models.CircuitState` members, indexed by [`state_index`].
    states: [Py<PyAny>; 5],
    /// `seawall.models.CircuitBreakerConfig`, for breakers built without one.
    pub(crate) config_class: Py<PyAny>,
    /// `seawall.models.CountWindow` and `seawall.models.TimeWindow`, the
    /// values a configuration's `window` may take besides `None`.
    pub(crate) count_window_class: Py<PyAny>,
    pub(crate) time_window_class: Py<PyAny>,
    /// `seawall.exceptions.CircuitBreakerOpenError`.
    pub(crate) open_error: Py<PyType>,
    /// `logging.getLogger("seawall")`.
    pub(crate) logger: Py<PyAny>,
    /// Outcomes that are neither failures nor successes whatever the
    /// configuration says: cancellation and interpreter shutdown.
    pub(crate) neutral: Py<PyTuple>,
}

static CACHE: PyOnceLock<Cached> = PyOnceLock::new();

/// The cached objects, imported on first use (after the pure-Python package
/// has finished importing, so there is no import cycle).
pub(crate) fn get(py: Python<'_>) -> PyResult<&'static Cached> {
    CACHE.get_or_try_init(py, || {
        let models = py.import("seawall.models")?;
        let cs = models.getattr("CircuitState")?;
        let member = |n: &str| cs.getattr(n).map(Bound::unbind);
        let states = [
            member("CLOSED")?,
            member("OPEN")?,
            member("HALF_OPEN")?,
            member("FORCED_OPEN")?,
            member("FORCED_CLOSED")?,
        ];
        let config_class = models.getattr("CircuitBreakerConfig")?.unbind();
        let count_window_class = models.getattr("CountWindow")?.unbind();
        let time_window_class = models.getattr("TimeWindow")?.unbind();
        let open_error = py
            .import("seawall.exceptions")?
            .getattr("CircuitBreakerOpenError")?
            .cast_into::<PyType>()?
            .unbind();
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
        Ok(Cached {
            states,
            config_class,
            count_window_class,
            time_window_class,
            open_error,
            logger,
            neutral,
        })
    })
}

fn state_index(s: State) -> usize {
    match s {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::ForcedClosed => 4,
    }
}

impl Cached {
    /// The `CircuitState` member for a core state.
    pub(crate) fn state<'py>(&self, py: Python<'py>, s: State) -> Bound<'py, PyAny> {
        self.states[state_index(s)].bind(py).clone()
    }
}

/// Logs `message` with `err`'s traceback through the `seawall` logger. Used
/// for exceptions raised by user callbacks, which must never reach the caller
/// whose call happened to make the transition.
pub(crate) fn log_exception(py: Python<'_>, message: &str, err: PyErr) {
    let logged = get(py).and_then(|c| {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
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
