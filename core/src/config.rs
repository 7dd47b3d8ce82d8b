//! What the engines' configurations share: the error that names a bad
//! setting, the limits of the settings (the public `seawall::config::MAX_*`
//! that tests and fuzzers generate values up to), and the conversion of a
//! binding's seconds into a duration.
//!
//! Each engine's settings struct lives with the engine and is exported at
//! the crate root (`seawall::BreakerConfig` is `breaker/config.rs`'s); the
//! engines use this module, never the reverse.

use std::fmt;
use std::time::Duration;

/// The largest duration any setting accepts: one year.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest back-off multiplier.
pub const MAX_MULTIPLIER: f64 = 1000.0;
/// The largest threshold or trial-call count of a breaker: any `u32`. The
/// HALF_OPEN fields have one joint limit besides: see
/// [`crate::BreakerConfig::half_open_max_calls`].
pub const MAX_COUNT: u32 = u32::MAX;
/// The largest count window of a breaker.
pub const MAX_WINDOW_CALLS: u32 = 10_000;
/// The most buckets a breaker's time window may have.
pub const MAX_BUCKETS: u32 = 1000;
/// The narrowest bucket of a breaker's time window.
pub const MIN_BUCKET: Duration = Duration::from_millis(1);

/// A setting outside its allowed range: names the field, the value given and
/// what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration field, as spelled in the engine's settings struct
    /// (e.g. [`crate::BreakerConfig`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_rejects_nan_negative_zero_and_huge() {
        for bad in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e12] {
            let e = seconds("timeout", bad).unwrap_err();
            assert_eq!(e.field, "timeout");
        }
        assert_eq!(
            seconds("timeout", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
    }
}
