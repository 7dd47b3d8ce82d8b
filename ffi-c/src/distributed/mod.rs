//! The fleet-wide faces of `seawall-distributed`, behind the `distributed`
//! feature: a coordinator (`coordinator.rs`, one background thread talking
//! to Redis), the distributed breaker (`breaker.rs`, its permits in
//! `permit.rs`) and the fleet rate limiter (`limiter.rs`). The header
//! declares them under `#if defined(SEAWALL_DISTRIBUTED)` (cbindgen's
//! `[defines]`).
//!
//! Like every other face they only convert and forward: the decisions are
//! the distributed crate's, and no call here does I/O (the coordinator
//! thread does, on its own).
//!
//! The distributed breaker has functions of its own
//! (`seawall_distributed_breaker_*`) shaped like the local breaker's, with
//! the same `seawall_permit`, `seawall_rejection`, `seawall_state` and
//! `seawall_metrics`: one set of functions for both would have to tell the
//! two handle types apart on every call, which the local breaker's hot path
//! cannot afford.

mod breaker;
mod coordinator;
mod limiter;
mod permit;

use seawall::ConfigError;
use seawall_bindings_support::fields;

use crate::config::CConfig;
use crate::error::{borrow, seawall_result, Error};

pub use breaker::{
    seawall_distributed_breaker, seawall_distributed_breaker_clear_metrics,
    seawall_distributed_breaker_clone, seawall_distributed_breaker_fleet_epoch,
    seawall_distributed_breaker_fleet_status, seawall_distributed_breaker_force_closed,
    seawall_distributed_breaker_force_open, seawall_distributed_breaker_free,
    seawall_distributed_breaker_get_config, seawall_distributed_breaker_metrics,
    seawall_distributed_breaker_name, seawall_distributed_breaker_new,
    seawall_distributed_breaker_reset, seawall_distributed_breaker_state, seawall_fleet_config,
    seawall_fleet_config_default, seawall_fleet_config_from_local, seawall_fleet_status,
};
pub use coordinator::{
    seawall_coordinator, seawall_coordinator_clone, seawall_coordinator_config,
    seawall_coordinator_config_default, seawall_coordinator_free, seawall_coordinator_instance_id,
    seawall_coordinator_is_degraded, seawall_coordinator_new, seawall_coordinator_new_cluster,
};
pub use limiter::{
    seawall_fleet_limit_config, seawall_fleet_limit_config_default, seawall_fleet_limit_status,
    seawall_fleet_rate_limiter, seawall_fleet_rate_limiter_check, seawall_fleet_rate_limiter_clone,
    seawall_fleet_rate_limiter_free, seawall_fleet_rate_limiter_get_config,
    seawall_fleet_rate_limiter_new, seawall_fleet_rate_limiter_status, seawall_on_store_failure,
};
pub use permit::{
    seawall_distributed_breaker_report, seawall_distributed_breaker_report_failure,
    seawall_distributed_breaker_report_ignored, seawall_distributed_breaker_report_success,
    seawall_distributed_breaker_try_acquire,
};

/// A setting of the `fleet` argument out of range, reported by `func`:
/// "f: invalid fleet.window_ns = 5ms: must be in [10 ms, 1 day]" (the
/// `fleet.` tells it from the local configuration's field of the same name).
#[cold]
fn fleet_config_error(func: &'static str, e: &ConfigError) -> Error {
    let field = format!("fleet.{}", fields::c_name(e.field));
    Error::new(
        seawall_result::InvalidConfig,
        format!("{func}: {}", fields::invalid(field, &e.value, e.allowed)),
    )
}

/// The fleet settings a `_new` builds from: the defaults for a NULL
/// `fleet`, else `*fleet` read by [`CConfig::to_core`].
///
/// # Safety
///
/// `fleet` is NULL or points to a valid `C`.
unsafe fn fleet_arg<C: CConfig>(fleet: *const C, func: &'static str) -> Result<C::Core, Error> {
    if fleet.is_null() {
        return Ok(C::Core::default());
    }
    // SAFETY: `fleet` points to a valid `C` (the caller's contract; not
    // NULL here).
    let c = unsafe { borrow(fleet, func, "fleet") }?;
    c.to_core().map_err(|e| fleet_config_error(func, &e))
}

/// The error of a failed distributed constructor, reported by `func`; an
/// out-of-range setting is made an error by `on_config`: the caller has
/// validated the local configuration (`config`) already, so it is the
/// coordinator's ([`crate::config::config_error`]) or the fleet's
/// ([`fleet_config_error`]).
#[cold]
fn build_error(
    func: &'static str,
    e: seawall_distributed::Error,
    on_config: fn(&'static str, &ConfigError) -> Error,
) -> Error {
    match e {
        seawall_distributed::Error::Config(c) => on_config(func, &c),
        // An invalid name ("invalid name \"a{b\": must not contain ..."),
        // or a URL the Redis client cannot parse ("fleet store: invalid
        // redis_url: ...").
        e => Error::new(seawall_result::InvalidArgument, format!("{func}: {e}")),
    }
}
