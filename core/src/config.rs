//! Breaker configuration and its validation.

use std::fmt;
use std::time::Duration;

/// The largest duration any setting accepts: one year.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest threshold or trial-call count: the width of the packed fields.
pub const MAX_COUNT: u32 = 4095;
/// The largest back-off multiplier.
pub const MAX_MULTIPLIER: f64 = 1000.0;

/// How a circuit breaker decides. Build one with `BreakerConfig::default()`
/// and struct-update syntax; [`BreakerConfig::validate`] (called by every
/// constructor) rejects settings outside the documented ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a CLOSED breaker. `1..=4095`, default 5.
    pub failure_threshold: u32,
    /// Successful trial calls that close a HALF_OPEN breaker. `1..=4095`,
    /// default 3.
    pub success_threshold: u32,
    /// Trial calls admitted at once while HALF_OPEN. `1..=4095`, default 1.
    pub half_open_max_calls: u32,
    /// Time spent OPEN after the first trip before trial calls are admitted.
    /// `(0, 1 year]`, default 60 s.
    pub timeout: Duration,
    /// How long a batch of trial calls may stay unresolved. When it passes
    /// with trials still outstanding the breaker reopens and their results no
    /// longer count. `(0, 1 year]`, default 30 s.
    pub half_open_timeout: Duration,
    /// Each consecutive trip (a HALF_OPEN breaker reopening) multiplies the
    /// open time by this factor. `[1, 1000]`, default 1 (no back-off).
    pub timeout_multiplier: f64,
    /// The cap on the grown open time. `[timeout, 1 year]`; `None` (the
    /// default) means `timeout`, so a multiplier needs a cap to have effect.
    pub max_timeout: Option<Duration>,
    /// Shortens each open time by a random share of up to this fraction, so a
    /// fleet of breakers does not probe in step. `[0, 1)`, default 0.
    pub timeout_jitter: f64,
    /// Calls lasting at least this long (from the permit's issue to its
    /// outcome) are counted as slow. `None` (default) disables slow-call
    /// timing, and with it the clock read a permit would otherwise take.
    pub slow_call_duration: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            success_threshold: 3,
            half_open_max_calls: 1,
            timeout: Duration::from_secs(60),
            half_open_timeout: Duration::from_secs(30),
            timeout_multiplier: 1.0,
            max_timeout: None,
            timeout_jitter: 0.0,
            slow_call_duration: None,
        }
    }
}

/// A setting outside its allowed range: names the field, the value given and
/// what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration field, as spelled in [`BreakerConfig`].
    pub field: &'static str,
    /// The rejected value, formatted.
    pub value: String,
    /// The allowed range, in words.
    pub allowed: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} = {}: must be {}",
            self.field, self.value, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, allowed: &'static str) -> Self {
        Self {
            field,
            value: format!("{value:?}"),
            allowed,
        }
    }
}

/// Converts a number of seconds given by a binding (Python, C) into a
/// duration, with the same checks as the Rust fields: finite, positive and at
/// most [`MAX_DURATION`].
pub fn seconds(field: &'static str, secs: f64) -> Result<Duration, ConfigError> {
    const ALLOWED: &str = "a finite number of seconds in (0, 31536000]";
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_DURATION.as_secs_f64() {
        return Err(ConfigError::new(field, secs, ALLOWED));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn count(field: &'static str, v: u32) -> Result<(), ConfigError> {
    if v == 0 || v > MAX_COUNT {
        return Err(ConfigError::new(field, v, "an integer in [1, 4095]"));
    }
    Ok(())
}

fn duration(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() || d > MAX_DURATION {
        return Err(ConfigError::new(field, d, "a duration in (0, 365 days]"));
    }
    Ok(())
}

impl BreakerConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        count("failure_threshold", self.failure_threshold)?;
        count("success_threshold", self.success_threshold)?;
        count("half_open_max_calls", self.half_open_max_calls)?;
        duration("timeout", self.timeout)?;
        duration("half_open_timeout", self.half_open_timeout)?;
        let m = self.timeout_multiplier;
        if !(1.0..=MAX_MULTIPLIER).contains(&m) {
            return Err(ConfigError::new(
                "timeout_multiplier",
                m,
                "a number in [1, 1000]",
            ));
        }
        if let Some(max) = self.max_timeout {
            if max < self.timeout || max > MAX_DURATION {
                return Err(ConfigError::new(
                    "max_timeout",
                    max,
                    "a duration in [timeout, 365 days]",
                ));
            }
        }
        let j = self.timeout_jitter;
        if !(0.0..1.0).contains(&j) {
            return Err(ConfigError::new(
                "timeout_jitter",
                j,
                "a fraction in [0, 1)",
            ));
        }
        if let Some(slow) = self.slow_call_duration {
            duration("slow_call_duration", slow)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: BreakerConfig) -> ConfigError {
        c.validate().expect_err("config should be rejected")
    }

    #[test]
    fn defaults_match_the_original_package() {
        let c = BreakerConfig::default();
        assert_eq!(c.failure_threshold, 5);
        assert_eq!(c.success_threshold, 3);
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert_eq!(c.half_open_timeout, Duration::from_secs(30));
        c.validate().unwrap();
    }

    #[test]
    fn each_bad_field_is_named_with_value_and_range() {
        let d = BreakerConfig::default;
        let e = err(BreakerConfig { failure_threshold: 0, ..d() });
        assert_eq!(e.to_string(), "invalid failure_threshold = 0: must be an integer in [1, 4095]");
        assert_eq!(err(BreakerConfig { success_threshold: 4096, ..d() }).field, "success_threshold");
        assert_eq!(err(BreakerConfig { half_open_max_calls: 0, ..d() }).field, "half_open_max_calls");
        assert_eq!(err(BreakerConfig { timeout: Duration::ZERO, ..d() }).field, "timeout");
        assert_eq!(err(BreakerConfig { half_open_timeout: MAX_DURATION * 2, ..d() }).field, "half_open_timeout");
        let e = err(BreakerConfig { timeout_multiplier: 0.5, ..d() });
        assert_eq!(e.to_string(), "invalid timeout_multiplier = 0.5: must be a number in [1, 1000]");
        assert_eq!(err(BreakerConfig { timeout_multiplier: f64::NAN, ..d() }).value, "NaN");
        let e = err(BreakerConfig { max_timeout: Some(Duration::from_secs(1)), ..d() });
        assert_eq!(e.field, "max_timeout");
        assert_eq!(err(BreakerConfig { timeout_jitter: 1.0, ..d() }).field, "timeout_jitter");
        assert_eq!(err(BreakerConfig { timeout_jitter: f64::NAN, ..d() }).field, "timeout_jitter");
        assert_eq!(err(BreakerConfig { slow_call_duration: Some(Duration::ZERO), ..d() }).field, "slow_call_duration");
    }

    #[test]
    fn seconds_rejects_nan_negative_zero_and_huge() {
        for bad in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e12] {
            let e = seconds("timeout", bad).unwrap_err();
            assert_eq!(e.field, "timeout");
        }
        assert_eq!(seconds("timeout", 1.5).unwrap(), Duration::from_millis(1500));
    }
}
