//! `seawall._native.FleetRateLimiter`: `seawall-distributed`'s rate limit
//! shared by a fleet through Redis, rebuilt in a forked child like the
//! distributed breaker (see [`super::engine`]).

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use seawall::RateLimitConfig;
use seawall_bindings_support::DynClock;
use seawall_distributed::{FleetLimitConfig, FleetRateLimiter as CoreFleetLimiter, OnStoreFailure};

use super::engine::{coordinator, Build, PerProcess};
use crate::args::{self, secs, short_repr, validated, value_error};
use crate::clock::{clock_arg, ManualClock};
use crate::handle::set_fields;
use crate::rate_limit::{check_answer, config};

/// What a fleet rate limiter is built from, kept to build it again in a
/// forked child.
pub(crate) struct LimitSpec {
    name: String,
    config: RateLimitConfig,
    fleet: FleetLimitConfig,
    redis_url: String,
    namespace: String,
    clock: DynClock,
}

impl Build for LimitSpec {
    type Output = CoreFleetLimiter<DynClock>;

    fn build(&self) -> Result<Self::Output, seawall_distributed::Error> {
        let c = coordinator(&self.redis_url, &self.namespace)?;
        CoreFleetLimiter::with_clock(&self.name, self.config, self.fleet, &c, self.clock.clone())
    }
}

/// A GCRA rate limit for a whole fleet of processes, through Redis.
/// Wrapped by `seawall.FleetRateLimiter`; see that class.
#[pyclass(frozen, module = "seawall._native")]
pub struct FleetRateLimiter(Arc<FleetLimiter>);

/// This process's fleet rate limiter, rebuilt in a forked child.
pub(crate) type FleetLimiter = PerProcess<LimitSpec>;

/// `on_store_failure` by its name.
fn on_store_failure(v: &Bound<'_, PyAny>) -> PyResult<OnStoreFailure> {
    match args::name("on_store_failure", v)?.as_str() {
        "local" => Ok(OnStoreFailure::Local),
        "allow" => Ok(OnStoreFailure::Allow),
        "deny" => Ok(OnStoreFailure::Deny),
        _ => Err(value_error(
            "on_store_failure",
            short_repr(v),
            "one of 'local', 'allow', 'deny'",
        )),
    }
}

#[pymethods]
impl FleetRateLimiter {
    #[new]
    #[pyo3(signature = (name, rate, period, burst, *, redis_url, namespace, timing, lease, lease_ttl, on_store_failure, clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &Bound<'_, PyAny>,
        rate: &Bound<'_, PyAny>,
        period: f64,
        burst: &Bound<'_, PyAny>,
        redis_url: String,
        namespace: String,
        timing: &Bound<'_, PyAny>,
        lease: &Bound<'_, PyAny>,
        lease_ttl: f64,
        on_store_failure: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let spec = LimitSpec {
            name: args::name("name", name)?,
            config: config(rate, period, burst, timing, &mut given)?,
            fleet: FleetLimitConfig {
                lease: args::core_u32("lease", lease, &mut given)?,
                lease_ttl: secs("lease_ttl", lease_ttl)?,
                on_store_failure: self::on_store_failure(on_store_failure)?,
            },
            redis_url,
            namespace,
            clock: clock_arg(clock),
        };
        match PerProcess::new(spec) {
            Ok(l) => {
                let l = Arc::new(l);
                crate::telemetry::fleet_rate_limiter(&l);
                validated(Ok(FleetRateLimiter(l)), &given)
            }
            Err(seawall_distributed::Error::Config(e)) => validated(Err(e), &given),
            Err(seawall_distributed::Error::Store(e)) => {
                Err(PyValueError::new_err(format!("redis_url: {e}")))
            }
            Err(e) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    /// 0.0 when the call is admitted, else the seconds to wait before one
    /// would be. Never waits for Redis.
    fn check(&self) -> f64 {
        check_answer(self.0.get().check())
    }

    /// A snapshot: leased tokens left, live instances, degraded, and the
    /// lease counters.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.0.get().status();
        let d = PyDict::new(py);
        set_fields!(d, s; tokens, live_instances, degraded, leases, granted, returned, charged);
        Ok(d)
    }

    /// In a forked child: builds the limiter again on the child's own
    /// coordinator (see `DistributedBreaker._after_fork`).
    fn _after_fork(&self) -> PyResult<()> {
        self.0
            .after_fork()
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}
