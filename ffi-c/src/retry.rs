//! Retry back-off: the delay before each retry, as a pure function of the
//! policy, the attempt, the previous delay and a caller-supplied random
//! number (the caller sleeps and retries; the budget and breaker have their
//! own handles).

use std::time::Duration;

use seawall::{Backoff, RetryConfig, RetryPolicy, RetryStrategy};

use crate::config::{config_error, nanos, unknown_enum, write_default};
use crate::error::{borrow, put, run, seawall_result, Error};

/// How the delay grows between attempts (`seawall_retry_config.strategy`).
/// With `n` the attempt that just failed (1 for the first) and every delay
/// capped at `max_delay_ns`:
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_retry_strategy {
    /// Always `initial_delay_ns`.
    Fixed = 0,
    /// `initial * n`.
    Linear = 1,
    /// `initial * base^(n-1)`.
    Exponential = 2,
    /// `initial * F(n)` (1, 1, 2, 3, 5, ...).
    Fibonacci = 3,
    /// The default: exponential, scaled by a random factor in
    /// `[1 - jitter_factor, 1 + jitter_factor)`.
    ExponentialWithJitter = 4,
    /// Uniform in `[initial, 3 * previous)`.
    DecorrelatedJitter = 5,
}

crate::config::mirror_enum!(RetryStrategy => seawall_retry_strategy { Fixed, Linear, Exponential, Fibonacci, ExponentialWithJitter, DecorrelatedJitter });

/// The core strategy numbered `n`, if any.
fn strategy(n: u32) -> Option<RetryStrategy> {
    RetryStrategy::ALL
        .into_iter()
        .find(|&s| seawall_retry_strategy::from(s) as u32 == n)
}

/// The named retry policies, presets of `seawall_retry_config` for common
/// kinds of call (the same table as the Rust `RetryPolicy` and Python's
/// `RETRY_POLICIES`): fill a config with `seawall_retry_policy_config`.
/// "Jitter" is `SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER` with a 0.1
/// factor, else `SEAWALL_RETRY_STRATEGY_EXPONENTIAL`; none caps the total
/// delay.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_retry_policy {
    /// General purpose: 4 attempts, 1 s doubling to at most 10 s, jitter.
    Standard = 0,
    /// Network calls: 4 attempts, 0.5 s doubling to at most 10 s, jitter.
    Network = 1,
    /// Few, widely spaced retries: 3 attempts, 2 s, base 1.5, at most 20 s,
    /// jitter.
    Conservative = 2,
    /// Database operations: 6 attempts, 1 s, base 1.5, at most 30 s, jitter.
    Database = 3,
    /// Outgoing webhooks: 4 attempts, 30 s doubling to at most 300 s, no
    /// jitter.
    Webhook = 4,
    /// Validation, retried once: 2 attempts, 1 s, no jitter.
    Validation = 5,
    /// Critical operations: 11 attempts, 0.1 s, base 1.3, at most 60 s,
    /// jitter.
    Critical = 6,
}

crate::config::mirror_enum!(RetryPolicy => seawall_retry_policy { Standard, Network, Conservative, Database, Webhook, Validation, Critical });

/// A retry back-off's settings. Fill it with `seawall_retry_config_default`
/// or `seawall_retry_policy_config` and change the fields you need. Every
/// delay is capped at `max_delay_ns`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_retry_config {
    /// A `seawall_retry_strategy` (a `uint32_t`, so that an unknown number
    /// is reported as an error); default
    /// `SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER`.
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
    /// The spread of `SEAWALL_RETRY_STRATEGY_EXPONENTIAL_WITH_JITTER`. [0, 1],
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
            strategy: seawall_retry_strategy::from(c.strategy) as u32,
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

/// The validated back-off schedule `*config` describes.
pub(crate) fn backoff(c: &seawall_retry_config, func: &'static str) -> Result<Backoff, Error> {
    let Some(strategy) = strategy(c.strategy) else {
        let e = unknown_enum(
            "strategy",
            c.strategy,
            "a seawall_retry_strategy: SEAWALL_RETRY_STRATEGY_FIXED (0) to _DECORRELATED_JITTER (5)",
        );
        return Err(config_error(func, &e));
    };
    Backoff::new(RetryConfig {
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

/// Fills `*out` with the settings of the named retry policy `policy` (a
/// `seawall_retry_policy`; `SEAWALL_RESULT_INVALID_ARGUMENT` for an unknown
/// number). Change the fields you need, as after
/// `seawall_retry_config_default`.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_policy_config(
    policy: u32,
    out: *mut seawall_retry_config,
) -> seawall_result {
    const F: &str = "seawall_retry_policy_config";
    run(F, || {
        let config = || {
            RetryPolicy::ALL
                .into_iter()
                .find(|&p| seawall_retry_policy::from(p) as u32 == policy)
                .map(|p| seawall_retry_config::from(&p.config()))
                .ok_or_else(|| {
                    Error::argument(
                        F,
                        "policy",
                        policy,
                        "a seawall_retry_policy: SEAWALL_RETRY_POLICY_STANDARD (0) to _CRITICAL (6)",
                    )
                })
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { put(out, F, "out", config) }
    })
}

/// Fills `*out` with the default settings (exponential with 10% jitter, base
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
        backoff(c, F).map(drop)
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
            let p = backoff(c, F)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_and_policy_numbers_are_pinned() {
        // The ABI: these numbers are compiled into callers.
        let strategies = [
            (RetryStrategy::Fixed, 0),
            (RetryStrategy::Linear, 1),
            (RetryStrategy::Exponential, 2),
            (RetryStrategy::Fibonacci, 3),
            (RetryStrategy::ExponentialWithJitter, 4),
            (RetryStrategy::DecorrelatedJitter, 5),
        ];
        for (s, n) in strategies {
            assert_eq!(seawall_retry_strategy::from(s) as u32, n, "{s:?}");
            assert_eq!(strategy(n), Some(s));
        }
        assert_eq!(strategy(6), None);
        let policies = [
            (RetryPolicy::Standard, 0),
            (RetryPolicy::Network, 1),
            (RetryPolicy::Conservative, 2),
            (RetryPolicy::Database, 3),
            (RetryPolicy::Webhook, 4),
            (RetryPolicy::Validation, 5),
            (RetryPolicy::Critical, 6),
        ];
        assert_eq!(policies.len(), RetryPolicy::ALL.len());
        for (p, n) in policies {
            assert_eq!(seawall_retry_policy::from(p) as u32, n, "{p:?}");
        }
    }

    #[test]
    fn policy_configs_are_the_cores_and_unknown_numbers_are_refused() {
        for p in RetryPolicy::ALL {
            let mut out = seawall_retry_config::from(&RetryConfig::default());
            // SAFETY: `out` is valid for a write.
            let r = unsafe {
                seawall_retry_policy_config(seawall_retry_policy::from(p) as u32, &mut out)
            };
            assert_eq!(r, seawall_result::Ok);
            assert_eq!(out, seawall_retry_config::from(&p.config()), "{p:?}");
            assert!(backoff(&out, "t").is_ok());
        }
        let mut out = seawall_retry_config::from(&RetryConfig::default());
        let before = out;
        for n in [7, u32::MAX] {
            // SAFETY: `out` is valid for a write.
            let r = unsafe { seawall_retry_policy_config(n, &mut out) };
            assert_eq!(r, seawall_result::InvalidArgument);
            assert_eq!(out, before, "nothing written");
        }
        // SAFETY: NULL is allowed and reported.
        let r = unsafe { seawall_retry_policy_config(0, std::ptr::null_mut()) };
        assert_eq!(r, seawall_result::NullParameter);
    }
}
