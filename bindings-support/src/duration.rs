//! Durations as the bindings' callers give and read them: seconds as an
//! `f64` (Python) and whole nanoseconds as a `u64` (C, and the clocks'
//! readings).

use std::time::Duration;

use crate::fields;

/// What [`non_negative_seconds`] allows, in words.
const NON_NEGATIVE: &str = "a finite, non-negative number of seconds";

/// `secs` seconds as a duration: any finite, non-negative number (the
/// engines judge the range of their own settings). Anything else is an
/// error message naming `field`: "invalid timeout = -1.0: must be a finite,
/// non-negative number of seconds".
pub fn non_negative_seconds(field: &str, secs: f64) -> Result<Duration, String> {
    // `{:?}`, as the core writes a number it refuses: "-1.0", not "-1".
    Duration::try_from_secs_f64(secs)
        .map_err(|_| fields::invalid(field, format_args!("{secs:?}"), NON_NEGATIVE))
}

/// A clock reading or a span in nanoseconds, in seconds.
#[inline]
pub fn nanos_to_seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
/// Computed from whole seconds and nanoseconds, without the `u128` of
/// `as_nanos`, since it runs on answer paths (a rejection's wait).
#[inline]
pub fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_saturates_at_u64_max() {
        assert_eq!(nanos(Duration::ZERO), 0);
        assert_eq!(nanos(Duration::new(3, 7)), 3_000_000_007);
        assert_eq!(nanos(Duration::from_nanos(u64::MAX)), u64::MAX);
        assert_eq!(
            nanos(Duration::new(u64::MAX / 1_000_000_000, 999_999_999)),
            u64::MAX
        );
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }

    #[test]
    fn seconds_must_be_finite_and_non_negative() {
        assert_eq!(
            non_negative_seconds("timeout", 1.5).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            non_negative_seconds("timeout", 0.0).unwrap(),
            Duration::ZERO
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            let e = non_negative_seconds("timeout", bad).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "invalid timeout = {bad:?}: must be a finite, non-negative number of seconds"
                )
            );
        }
    }

    #[test]
    fn readings_convert_to_seconds() {
        assert_eq!(nanos_to_seconds(1_500_000_000), 1.5);
    }
}
