//! The C view of `seawall::BreakerConfig`.
//!
//! The two conversion functions below are the only places that know the
//! field list: a field added to the core is added to the struct and to both
//! of them, and nowhere else. Fields the C struct does not carry yet take
//! the core's defaults (`..Default::default()`).

use std::time::Duration;

use seawall::BreakerConfig;

use crate::error::{check, run, seawall_result};

/// How a breaker decides. Fill it with `seawall_config_default` and then
/// change the fields you need: the struct may gain fields in later versions
/// (recompile against the new header), and a default-filled struct keeps
/// working. Durations are in nanoseconds. A breaker constructor checks every
/// field and returns `SEAWALL_RESULT_INVALID_CONFIG`, with a last error
/// naming the field, the value and the allowed range, when one is out of
/// range.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_config {
    /// Consecutive failures that open a CLOSED breaker. 1..=4095, default 5.
    pub failure_threshold: u32,
    /// Successful trial calls that close a HALF_OPEN breaker. 1..=4095,
    /// default 3.
    pub success_threshold: u32,
    /// Trial calls admitted at once while HALF_OPEN. 1..=4095, default 1.
    pub half_open_max_calls: u32,
    /// Time spent OPEN after the first trip before trial calls are admitted.
    /// (0, 1 year], default 60 s.
    pub timeout_ns: u64,
    /// How long a batch of trial calls may stay unresolved before the breaker
    /// reopens. (0, 1 year], default 30 s.
    pub half_open_timeout_ns: u64,
    /// Each consecutive trip multiplies the open time by this factor.
    /// [1, 1000], default 1 (no back-off).
    pub timeout_multiplier: f64,
    /// The cap on the grown open time: [timeout_ns, 1 year], or 0 (the
    /// default) for "equal to timeout_ns", so a multiplier needs a cap to
    /// have an effect.
    pub max_timeout_ns: u64,
    /// Shortens each open time by a random share of up to this fraction.
    /// [0, 1), default 0.
    pub timeout_jitter: f64,
    /// Calls lasting at least this long are counted as slow
    /// (`seawall_metrics.slow_calls`). (0, 1 year], or 0 (the default) to
    /// disable slow-call timing and the clock read it costs.
    pub slow_call_duration_ns: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// 0 means "not set".
fn optional(ns: u64) -> Option<Duration> {
    (ns != 0).then(|| Duration::from_nanos(ns))
}

impl From<&BreakerConfig> for seawall_config {
    fn from(c: &BreakerConfig) -> Self {
        Self {
            failure_threshold: c.failure_threshold,
            success_threshold: c.success_threshold,
            half_open_max_calls: c.half_open_max_calls,
            timeout_ns: nanos(c.timeout),
            half_open_timeout_ns: nanos(c.half_open_timeout),
            timeout_multiplier: c.timeout_multiplier,
            max_timeout_ns: c.max_timeout.map_or(0, nanos),
            timeout_jitter: c.timeout_jitter,
            slow_call_duration_ns: c.slow_call_duration.map_or(0, nanos),
        }
    }
}

impl From<&seawall_config> for BreakerConfig {
    /// Unchecked: the breaker constructors validate.
    fn from(c: &seawall_config) -> Self {
        BreakerConfig {
            failure_threshold: c.failure_threshold,
            success_threshold: c.success_threshold,
            half_open_max_calls: c.half_open_max_calls,
            timeout: Duration::from_nanos(c.timeout_ns),
            half_open_timeout: Duration::from_nanos(c.half_open_timeout_ns),
            timeout_multiplier: c.timeout_multiplier,
            max_timeout: optional(c.max_timeout_ns),
            timeout_jitter: c.timeout_jitter,
            slow_call_duration: optional(c.slow_call_duration_ns),
            ..Default::default()
        }
    }
}

/// Fills `*out` with the default configuration.
///
/// # Safety
///
/// `out` is NULL or valid for a write of a `seawall_config`.
#[no_mangle]
pub unsafe extern "C" fn seawall_config_default(out: *mut seawall_config) -> seawall_result {
    const F: &str = "seawall_config_default";
    run(F, || {
        check(out, F, "out")?;
        let c = seawall_config::from(&BreakerConfig::default());
        // SAFETY: non-NULL and aligned (checked), valid by the contract.
        unsafe { out.write(c) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_through_the_c_struct() {
        let d = BreakerConfig::default();
        let c = seawall_config::from(&d);
        assert_eq!(c.timeout_ns, 60_000_000_000);
        assert_eq!(c.max_timeout_ns, 0);
        assert_eq!(BreakerConfig::from(&c), d);
    }

    #[test]
    fn every_field_reaches_the_core() {
        let c = seawall_config {
            failure_threshold: 7,
            success_threshold: 2,
            half_open_max_calls: 4,
            timeout_ns: 1_000,
            half_open_timeout_ns: 2_000,
            timeout_multiplier: 2.5,
            max_timeout_ns: 9_000,
            timeout_jitter: 0.25,
            slow_call_duration_ns: 500,
        };
        let b = BreakerConfig::from(&c);
        b.validate().unwrap();
        assert_eq!(seawall_config::from(&b), c);
    }
}
