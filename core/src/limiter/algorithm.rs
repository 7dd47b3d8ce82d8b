//! The limit's update rules, as pure functions of the stored estimate and
//! one sample (AIMD) or one closed window (gradient), and the packing of
//! that estimate into the one word the limiter's admissions read.
//!
//! Every rule computes in `f64` and stores `f32`: both numbers of the
//! estimate share one 64-bit word so that a single compare-and-swap moves
//! them together. `f32` holds every whole number up to 2^24 exactly, the
//! largest `max_limit` ([`super::MAX_LIMIT`]), and a latency to 7
//! significant digits.

use super::{AdaptiveLimiterConfig, LimitAlgorithm};
use crate::clock::nanos;

/// What the limiter has learnt: the limit, and (gradient only) the
/// long-term average latency in nanoseconds (0 before the first window).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) limit: f32,
    pub(crate) long_rtt: f32,
}

impl Estimate {
    /// The word: the limit's bits high, the long-term latency's low.
    pub(crate) fn pack(self) -> u64 {
        (u64::from(self.limit.to_bits()) << 32) | u64::from(self.long_rtt.to_bits())
    }

    pub(crate) fn unpack(word: u64) -> Self {
        Self {
            limit: limit_of(word),
            long_rtt: f32::from_bits(word as u32),
        }
    }
}

/// The limit stored in a word (the admission path's only decoding).
#[inline]
pub(crate) fn limit_of(word: u64) -> f32 {
    f32::from_bits((word >> 32) as u32)
}

/// The configuration, turned into the numbers the rules use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) algorithm: LimitAlgorithm,
    min: f64,
    max: f64,
    backoff_ratio: f64,
    latency_threshold: u64,
    tolerance: f64,
    smoothing: f64,
    queue_size: f64,
    /// The long-term average's weight for a new window_calls: 2 / (long_window + 1).
    long_weight: f64,
}

impl Rules {
    pub(crate) fn new(c: &AdaptiveLimiterConfig) -> Self {
        Self {
            algorithm: c.algorithm,
            min: f64::from(c.min_limit),
            max: f64::from(c.max_limit),
            backoff_ratio: c.backoff_ratio,
            latency_threshold: nanos(c.latency_threshold),
            tolerance: c.tolerance,
            smoothing: c.smoothing,
            queue_size: c.queue_size,
            long_weight: 2.0 / (f64::from(c.long_window) + 1.0),
        }
    }

    /// AIMD, on one sample: a drop (a failure, or a latency above
    /// `latency_threshold`) multiplies the limit by `backoff_ratio`; a
    /// success while the call's in-flight count was at least half the limit
    /// adds 1; anything else leaves it. Clamped to `[min_limit, max_limit]`.
    pub(crate) fn aimd(
        &self,
        e: Estimate,
        dropped: bool,
        latency: u64,
        in_flight: u32,
    ) -> Estimate {
        let limit = f64::from(e.limit);
        let next = if dropped || latency > self.latency_threshold {
            limit * self.backoff_ratio
        } else if 2.0 * f64::from(in_flight) >= limit {
            limit + 1.0
        } else {
            limit
        };
        Estimate {
            limit: next.clamp(self.min, self.max) as f32,
            long_rtt: e.long_rtt,
        }
    }

    /// Gradient, on one closed window whose mean latency is `short`
    /// nanoseconds (at least 1) and whose closing call saw `in_flight`:
    ///
    /// ```text
    /// long     = short                          (first window)
    ///          | long + (short - long) * 2 / (long_window + 1)
    /// long     = long * 0.95                    if long > 2 * short
    /// limit    = limit                          if in_flight < limit / 2
    /// gradient = clamp(tolerance * long / short, 0.5, 1)
    /// limit    = limit * (1 - smoothing) + (limit * gradient + queue_size) * smoothing
    /// limit    = clamp(limit, min_limit, max_limit)
    /// ```
    pub(crate) fn gradient(&self, e: Estimate, short: f64, in_flight: u32) -> Estimate {
        let short = short.max(1.0);
        let mut long = f64::from(e.long_rtt);
        long = if long == 0.0 {
            short
        } else {
            long + (short - long) * self.long_weight
        };
        if long > 2.0 * short {
            long *= 0.95;
        }
        let limit = f64::from(e.limit);
        let next = if f64::from(in_flight) < limit / 2.0 {
            limit
        } else {
            let gradient = (self.tolerance * long / short).clamp(0.5, 1.0);
            let target = limit * gradient + self.queue_size;
            (limit * (1.0 - self.smoothing) + target * self.smoothing).clamp(self.min, self.max)
        };
        Estimate {
            limit: next as f32,
            long_rtt: long as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rules(algorithm: LimitAlgorithm) -> Rules {
        Rules::new(&AdaptiveLimiterConfig {
            algorithm,
            initial_limit: 10,
            min_limit: 2,
            max_limit: 12,
            latency_threshold: Duration::from_millis(100),
            ..Default::default()
        })
    }

    fn at(limit: f32) -> Estimate {
        Estimate {
            limit,
            long_rtt: 0.0,
        }
    }

    #[test]
    fn the_word_round_trips() {
        let e = Estimate {
            limit: 17.25,
            long_rtt: 1.5e7,
        };
        assert_eq!(Estimate::unpack(e.pack()), e);
        assert_eq!(limit_of(e.pack()), 17.25);
    }

    #[test]
    fn aimd_adds_one_near_the_limit_and_backs_off_on_a_drop() {
        let r = rules(LimitAlgorithm::Aimd);
        let ms = 1_000_000;
        assert_eq!(r.aimd(at(10.0), false, ms, 5).limit, 11.0);
        assert_eq!(r.aimd(at(10.0), false, ms, 4).limit, 10.0, "app-limited");
        assert_eq!(r.aimd(at(12.0), false, ms, 12).limit, 12.0, "ceiling");
        assert_eq!(r.aimd(at(10.0), true, ms, 10).limit, 9.0);
        assert_eq!(r.aimd(at(10.0), false, 101 * ms, 10).limit, 9.0, "slow");
        assert_eq!(
            r.aimd(at(10.0), false, 100 * ms, 10).limit,
            11.0,
            "not slow"
        );
        assert_eq!(r.aimd(at(2.0), true, ms, 2).limit, 2.0, "floor");
    }

    #[test]
    fn gradient_shrinks_toward_the_queue_size_when_latency_rises() {
        let r = rules(LimitAlgorithm::Gradient);
        // First window: the long-term average starts at the window's mean,
        // the gradient is 1 (clamped from 1.5) and the limit grows by
        // queue_size * smoothing.
        let e = r.gradient(at(10.0), 1e6, 10);
        assert_eq!(e.long_rtt, 1e6);
        assert!((e.limit - 10.8).abs() < 1e-5, "{e:?}");
        // Latency x10: the gradient is clamped to 0.5.
        let e2 = r.gradient(e, 1e7, 10);
        let long = 1e6 + (1e7 - 1e6) * 2.0 / 601.0;
        assert!((f64::from(e2.long_rtt) - long).abs() < 1.0);
        let want = 10.8 * 0.8 + (10.8 * 0.5 + 4.0) * 0.2;
        assert!((f64::from(e2.limit) - want).abs() < 1e-4, "{e2:?}");
    }

    #[test]
    fn gradient_holds_the_limit_while_app_limited_and_decays_a_stale_long_average() {
        let r = rules(LimitAlgorithm::Gradient);
        let e = Estimate {
            limit: 10.0,
            long_rtt: 1e8,
        };
        let e2 = r.gradient(e, 1e6, 4);
        assert_eq!(e2.limit, 10.0);
        let long = (1e8 + (1e6 - 1e8) * 2.0 / 601.0) * 0.95;
        assert!((f64::from(e2.long_rtt) - long).abs() < 10.0, "{e2:?}");
    }

    #[test]
    fn a_zero_latency_window_does_not_divide_by_zero() {
        let r = rules(LimitAlgorithm::Gradient);
        let e = r.gradient(at(10.0), 0.0, 10);
        assert!(e.limit.is_finite() && e.long_rtt == 1.0, "{e:?}");
    }
}
