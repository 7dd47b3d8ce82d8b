//! Retry back-off: the delay before each retry, as a pure function of the
//! policy, the attempt, the previous delay and a caller-supplied random
//! number (the caller sleeps and retries; the budget and breaker have their
//! own handles).

use std::time::Duration;

use seawall::{Backoff, RetryConfig, RetryPolicy};

use crate::config::{config_error, nanos, unknown_enum, write_default};
use crate::error::{borrow, put, run, seawall_result, Error};

/// `seawall_retry_config.strategy`: always `initial_delay_ns`.
pub const SEAWALL_BACKOFF_FIXED: u32 = 0;
/// `seawall_retry_config.strategy`: `initial * n`.
pub const SEAWALL_BACKOFF_LINEAR: u32 = 1;
/// `seawall_retry_config.strategy`: `initial * base^(n-1)`.
pub const SEAWALL_BACKOFF_EXPONENTIAL: u32 = 2;
/// `seawall_retry_config.strategy`: `initial * F(n)` (1, 1, 2, 3, 5, ...).
pub const SEAWALL_BACKOFF_FIBONACCI: u32 = 3;
/// `seawall_retry_config.strategy` (the default): exponential, scaled by a
/// random factor in `[1 - jitter_factor, 1 + jitter_factor)`.
pub const SEAWALL_BACKOFF_EXPONENTIAL_WITH_JITTER: u32 = 4;
/// `seawall_retry_config.strategy`: uniform in `[initial, 3 * previous)`.
pub const SEAWALL_BACKOFF_DECORRELATED_JITTER: u32 = 5;

/// A retry policy's settings. Fill it with `seawall_retry_config_default`
/// and change the fields you need. Every delay is capped at `max_delay_ns`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_retry_config {
    /// One of the `SEAWALL_BACKOFF_*` constants; default
    /// `SEAWALL_BACKOFF_EXPONENTIAL_WITH_JITTER`.
    pub strategy: u32,
    /// Attempts in all, the first included. 1..=UINT32_MAX, default 3.
    pub max_attempts: u32,
    /// The first delay, in nanoseconds. [0, 1 year], default 1 s.
    pub initial_delay_ns: u64,
    /// The cap on every delay, in nanoseconds. [initial_delay_ns, 1 year],
    /// default 60 s.
    pub max_delay_ns: u64,
    /// The growth factor of the exponential strategies. [1, 1000], default 2.
    pub exponential_base: f64,
    /// The spread of `SEAWALL_BACKOFF_EXPONENTIAL_WITH_JITTER`. [0, 1],
    /// default 0.1; 0 disables the jitter.
    pub jitter_factor: f64,
    /// Non-zero when `max_total_delay_ns` is set (default 0: no cap). A byte
    /// so that no bit pattern is invalid.
    pub has_max_total_delay: u8,
    /// The cap on one call's delays summed, in nanoseconds, when
    /// `has_max_total_delay`: [0, 1 year].
    pub max_total_delay_ns: u64,
}

impl From<&RetryConfig> for seawall_retry_config {
    fn from(c: &RetryConfig) -> Self {
        Self {
            strategy: match c.strategy {
                Backoff::Fixed => SEAWALL_BACKOFF_FIXED,
                Backoff::Linear => SEAWALL_BACKOFF_LINEAR,
                Backoff::Exponential => SEAWALL_BACKOFF_EXPONENTIAL,
                Backoff::Fibonacci => SEAWALL_BACKOFF_FIBONACCI,
                Backoff::ExponentialWithJitter => SEAWALL_BACKOFF_EXPONENTIAL_WITH_JITTER,
                Backoff::DecorrelatedJitter => SEAWALL_BACKOFF_DECORRELATED_JITTER,
            },
            max_attempts: c.max_attempts,
            initial_delay_ns: nanos(c.initial_delay),
            max_delay_ns: nanos(c.max_delay),
            exponential_base: c.exponential_base,
            jitter_factor: c.jitter_factor,
            has_max_total_delay: u8::from(c.max_total_delay.is_some()),
            max_total_delay_ns: c.max_total_delay.map_or(0, nanos),
        }
    }
}

/// The validated policy `*config` describes.
pub(crate) fn policy(c: &seawall_retry_config, func: &'static str) -> Result<RetryPolicy, Error> {
    let strategy = match c.strategy {
        SEAWALL_BACKOFF_FIXED => Backoff::Fixed,
        SEAWALL_BACKOFF_LINEAR => Backoff::Linear,
        SEAWALL_BACKOFF_EXPONENTIAL => Backoff::Exponential,
        SEAWALL_BACKOFF_FIBONACCI => Backoff::Fibonacci,
        SEAWALL_BACKOFF_EXPONENTIAL_WITH_JITTER => Backoff::ExponentialWithJitter,
        SEAWALL_BACKOFF_DECORRELATED_JITTER => Backoff::DecorrelatedJitter,
        other => {
            let e = unknown_enum("strategy", other, "a SEAWALL_BACKOFF_* constant (0 to 5)");
            return Err(config_error(func, &e));
        }
    };
    RetryPolicy::new(RetryConfig {
        strategy,
        max_attempts: c.max_attempts,
        initial_delay: Duration::from_nanos(c.initial_delay_ns),
        max_delay: Duration::from_nanos(c.max_delay_ns),
        exponential_base: c.exponential_base,
        jitter_factor: c.jitter_factor,
        max_total_delay: (c.has_max_total_delay != 0)
            .then(|| Duration::from_nanos(c.max_total_delay_ns)),
    })
    .map_err(|e| config_error(func, &e))
}

/// Fills `*out` with the default policy (exponential with 10% jitter, base
/// 2, 1 s initial delay, 60 s cap, 3 attempts, no total cap).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_config_default(
    out: *mut seawall_retry_config,
) -> seawall_result {
    const F: &str = "seawall_retry_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<RetryConfig, _>(F, out) }
}

/// Checks `*config` like `seawall_retry_delay` does, without computing a
/// delay: `SEAWALL_RESULT_INVALID_CONFIG` names the field, value and range.
///
/// # Safety
///
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_config_validate(
    config: *const seawall_retry_config,
) -> seawall_result {
    const F: &str = "seawall_retry_config_validate";
    run(F, || {
        // SAFETY: `config` is NULL or valid (this function's contract).
        let c = unsafe { borrow(config, F, "config") }?;
        policy(c, F).map(drop)
    })
}

/// Writes to `*out_delay_ns` the delay to wait after attempt `attempt`
/// (1-based: 1 after the first attempt failed) of one call, given that
/// call's `previous_ns` delay (0 before its first retry; used by the
/// decorrelated jitter) and `unit`, a random number in [0, 1) the caller
/// draws (used by the jittered strategies only). Pure and deterministic: the
/// same arguments always give the same delay; the caller does the waiting
/// and counts attempts against `max_attempts`. Returns
/// `SEAWALL_RESULT_INVALID_CONFIG` for an invalid `*config`,
/// `SEAWALL_RESULT_INVALID_ARGUMENT` for `attempt` 0 or a `unit` outside
/// [0, 1) (NaN included).
///
/// # Safety
///
/// `config` is NULL or valid; `out_delay_ns` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_delay(
    config: *const seawall_retry_config,
    attempt: u32,
    previous_ns: u64,
    unit: f64,
    out_delay_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_retry_delay";
    run(F, || {
        // SAFETY: `config` is NULL or valid (this function's contract).
        let c = unsafe { borrow(config, F, "config") }?;
        let delay = || {
            let p = policy(c, F)?;
            if attempt == 0 {
                return Err(Error::argument(
                    F,
                    "attempt",
                    attempt,
                    "in [1, 4294967295] (attempts are numbered from 1)",
                ));
            }
            if !(0.0..1.0).contains(&unit) {
                return Err(Error::argument(F, "unit", unit, "in [0, 1)"));
            }
            Ok(nanos(p.delay(
                attempt,
                Duration::from_nanos(previous_ns),
                unit,
            )))
        };
        // SAFETY: `out_delay_ns` is NULL or valid for a write (this
        // function's contract).
        unsafe { put(out_delay_ns, F, "out_delay_ns", delay) }
    })
}
