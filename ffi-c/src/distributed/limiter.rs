//! The fleet rate limiter handle: one rate limit shared by every instance,
//! served from tokens the coordinator leases in advance.

use std::ffi::c_char;
use std::time::Duration;

use seawall::{ConfigError, RateLimitConfig};
use seawall_bindings_support::DynClock;
use seawall_distributed::{FleetLimitConfig, FleetLimitStatus, FleetRateLimiter, OnStoreFailure};

use super::coordinator::seawall_coordinator;
use crate::clock::{clock_arg, seawall_manual_clock};
use crate::config::{
    config_arg, config_error, mirror_enum, nanos, unknown_enum, write_default, CConfig,
};
use crate::error::{name_arg, run, seawall_result};
use crate::handle;
use crate::rate_limit::{check_with, seawall_rate_limit_config};

/// The limiter type behind every handle.
type CFleetLimiter = FleetRateLimiter<DynClock>;

/// A rate limit shared by every instance using the same name in the
/// coordinator's namespace: GCRA on the store's clock, served from tokens
/// the coordinator leases in advance, so a check never waits for the store.
/// Reference-counted like `seawall_rate_limiter`; every function taking one
/// is thread-safe.
pub struct seawall_fleet_rate_limiter {
    _private: [u8; 0],
}

handle::declare!(seawall_fleet_rate_limiter: CFleetLimiter, Shared, "limiter");

/// What a fleet rate limiter does while the store is unreachable
/// (`seawall_fleet_limit_config.on_store_failure`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_on_store_failure {
    /// Each instance admits its share of the limit: the fleet's rate
    /// divided by the instances last seen live (the default).
    Local = 0,
    /// Every call is admitted.
    Allow = 1,
    /// Every call not covered by a leased token is refused.
    Deny = 2,
}

mirror_enum!(OnStoreFailure => seawall_on_store_failure { Local, Allow, Deny });

/// How a fleet rate limiter leases (the limit itself is a
/// `seawall_rate_limit_config` for the whole fleet). A zero-filled struct
/// (or a NULL `fleet` argument) means every default; each 0 field takes the
/// default listed with it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_fleet_limit_config {
    /// Tokens asked for per lease; 0 (the default): `burst / (4 x live
    /// instances)`, at least 1. The fleet may admit more than its limit by
    /// at most the tokens leased and not yet used: instances x `lease`.
    pub lease: u32,
    /// A `seawall_on_store_failure` (as a number, so that an unknown one is
    /// reported as `SEAWALL_RESULT_INVALID_CONFIG`); 0:
    /// `SEAWALL_ON_STORE_FAILURE_LOCAL`.
    pub on_store_failure: u32,
    /// How long leased tokens stay unused before they go back to the fleet:
    /// [1 ms, 1 hour]; 0: 1 s.
    pub lease_ttl_ns: u64,
}

impl From<&FleetLimitConfig> for seawall_fleet_limit_config {
    fn from(c: &FleetLimitConfig) -> Self {
        Self {
            lease: c.lease,
            on_store_failure: seawall_on_store_failure::from(c.on_store_failure) as u32,
            lease_ttl_ns: nanos(c.lease_ttl),
        }
    }
}

impl CConfig for seawall_fleet_limit_config {
    type Core = FleetLimitConfig;

    /// Reads 0 as the default; checks the enum here, the rest in the
    /// limiter's constructor.
    fn to_core(&self) -> Result<FleetLimitConfig, ConfigError> {
        let d = FleetLimitConfig::default();
        let on_store_failure = match self.on_store_failure {
            n if n == seawall_on_store_failure::Local as u32 => OnStoreFailure::Local,
            n if n == seawall_on_store_failure::Allow as u32 => OnStoreFailure::Allow,
            n if n == seawall_on_store_failure::Deny as u32 => OnStoreFailure::Deny,
            n => {
                return Err(unknown_enum(
                    "on_store_failure",
                    n,
                    "one of SEAWALL_ON_STORE_FAILURE_LOCAL (0), _ALLOW (1), _DENY (2)",
                ))
            }
        };
        Ok(FleetLimitConfig {
            lease: self.lease,
            lease_ttl: match self.lease_ttl_ns {
                0 => d.lease_ttl,
                ns => Duration::from_nanos(ns),
            },
            on_store_failure,
        })
    }
}

/// Fills `*out` with the defaults (automatic lease size, 1 s lease time to
/// live, the local share while the store is unreachable).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_limit_config_default(
    out: *mut seawall_fleet_limit_config,
) -> seawall_result {
    const F: &str = "seawall_fleet_limit_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<FleetLimitConfig, _>(F, out) }
}

/// Creates a fleet rate limiter called `name` (NUL-terminated UTF-8, copied;
/// shared by every instance using the same name in the coordinator's
/// namespace) admitting `*config` (NULL: the defaults) across the whole
/// fleet, leasing as `*fleet` says (NULL: the defaults), on `coordinator`,
/// and writes its handle to `*out`. `clock` is NULL for the production
/// clock or a manual clock (for tests) read by the local share. Release it
/// with `seawall_fleet_rate_limiter_free`.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `config` and `fleet` are
/// NULL or valid; `coordinator` and `clock` are NULL or live handles; `out`
/// is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_new(
    name: *const c_char,
    config: *const seawall_rate_limit_config,
    fleet: *const seawall_fleet_limit_config,
    coordinator: *const seawall_coordinator,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_fleet_rate_limiter,
) -> seawall_result {
    const F: &str = "seawall_fleet_rate_limiter_new";
    run(F, || {
        // SAFETY: `name` is NULL or NUL-terminated (this function's
        // contract).
        let name = unsafe { name_arg(name, F, "name") }?;
        // SAFETY: `coordinator` and `clock` are NULL or live handles (this
        // function's contract).
        let coordinator = unsafe { handle::borrow(coordinator, F) }?;
        // SAFETY: as above.
        let clock = unsafe { clock_arg(clock, F) }?;
        let make = || {
            // SAFETY: `config` and `fleet` are NULL or valid (this
            // function's contract).
            let config: RateLimitConfig = unsafe { config_arg(config, F) }?;
            // The limit first, so that an error left is the fleet's.
            config.validate().map_err(|e| config_error(F, &e))?;
            // SAFETY: as above.
            let fleet = unsafe { super::fleet_arg(fleet, F) }?;
            FleetRateLimiter::with_clock(name, config, fleet, coordinator, clock)
                .map_err(|e| super::build_error(F, e, super::fleet_config_error))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

/// Writes a new handle to the same limiter to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_clone(
    limiter: *const seawall_fleet_rate_limiter,
    out: *mut *const seawall_fleet_rate_limiter,
) -> seawall_result {
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_fleet_rate_limiter_clone", limiter, out) }
}

/// Releases one limiter handle; the last one stops its leases. `NULL` is a
/// no-op.
///
/// # Safety
///
/// `limiter` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_free(
    limiter: *const seawall_fleet_rate_limiter,
) {
    // SAFETY: `limiter` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_fleet_rate_limiter_free", limiter) }
}

/// Admits one call now (`SEAWALL_RESULT_OK`), or refuses it with
/// `SEAWALL_RESULT_RATE_LIMITED` and writes the nanoseconds until a call
/// would be admitted to `*out_retry_after_ns` (if not NULL), as
/// `seawall_rate_limiter_check` does. Never waits for the store.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_retry_after_ns` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_check(
    limiter: *const seawall_fleet_rate_limiter,
    out_retry_after_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_fleet_rate_limiter_check";
    // SAFETY: `limiter` is NULL or a live handle (this function's contract).
    let limiter = || unsafe { handle::borrow(limiter, F) };
    // SAFETY: `out_retry_after_ns` is NULL or valid for a write (this
    // function's contract).
    unsafe { check_with(F, limiter, out_retry_after_ns, CFleetLimiter::check) }
}

/// Writes the fleet's limit the limiter was built with to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_get_config(
    limiter: *const seawall_fleet_rate_limiter,
    out: *mut seawall_rate_limit_config,
) -> seawall_result {
    const F: &str = "seawall_fleet_rate_limiter_get_config";
    let f = |l: &CFleetLimiter| l.config().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, limiter, out, "out", f) }
}

/// A snapshot of a fleet rate limiter, for metrics.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_fleet_limit_status {
    /// True while the store is unreachable: the local share decides alone
    /// (or `on_store_failure` says otherwise).
    pub degraded: bool,
    /// Leased tokens not used yet.
    pub tokens: u64,
    /// Instances that leased recently, as last seen (at least 1).
    pub live_instances: u64,
    /// Lease scripts run.
    pub leases: u64,
    /// Tokens the leases granted.
    pub granted: u64,
    /// Leased tokens given back unused.
    pub returned: u64,
    /// Calls admitted on the local share and charged to the fleet.
    pub charged: u64,
}

impl From<FleetLimitStatus> for seawall_fleet_limit_status {
    fn from(s: FleetLimitStatus) -> Self {
        Self {
            degraded: s.degraded,
            tokens: s.tokens,
            live_instances: s.live_instances,
            leases: s.leases,
            granted: s.granted,
            returned: s.returned,
            charged: s.charged,
        }
    }
}

/// Writes a snapshot of the limiter to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_rate_limiter_status(
    limiter: *const seawall_fleet_rate_limiter,
    out: *mut seawall_fleet_limit_status,
) -> seawall_result {
    const F: &str = "seawall_fleet_rate_limiter_status";
    let f = |l: &CFleetLimiter| l.status().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, limiter, out, "out", f) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_the_default_and_every_field_round_trips() {
        let zero = seawall_fleet_limit_config {
            lease: 0,
            on_store_failure: 0,
            lease_ttl_ns: 0,
        };
        assert_eq!(zero.to_core().unwrap(), FleetLimitConfig::default());
        let c = FleetLimitConfig {
            lease: 7,
            lease_ttl: Duration::from_millis(5),
            on_store_failure: OnStoreFailure::Deny,
        };
        assert_eq!(seawall_fleet_limit_config::from(&c).to_core().unwrap(), c);
        let bad = seawall_fleet_limit_config {
            on_store_failure: 3,
            ..zero
        };
        assert_eq!(bad.to_core().unwrap_err().field, "on_store_failure");
    }
}
