//! The back-off schedule: the strategies ([`RetryStrategy`]), their settings
//! ([`RetryConfig`]) and the validated schedule ([`Backoff`]) whose
//! [`delay`](Backoff::delay) is a pure function of the attempt, the previous
//! delay and a random number supplied by the caller.

use std::time::Duration;

use crate::clock::nanos;
use crate::config::{ConfigError, MAX_DURATION, MAX_MULTIPLIER};

/// The largest `max_attempts`: any `u32` (delays are defined for every
/// attempt number, see [`Backoff::delay`]).
pub const MAX_ATTEMPTS: u32 = u32::MAX;

/// How the delay grows between attempts. With `n` the number of the attempt
/// that just failed (1 for the first), `i` the initial delay, `b` the base
/// and every delay capped at `max_delay`:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RetryStrategy {
    /// `i`.
    Fixed,
    /// `i * n`.
    Linear,
    /// `i * b^(n-1)`.
    Exponential,
    /// `i * F(n)` with `F(1) = F(2) = 1, F(3) = 2, F(4) = 3, ...`.
    Fibonacci,
    /// `i * b^(n-1)` (capped), scaled by a random factor in
    /// `[1 - jitter_factor, 1 + jitter_factor)`, capped again.
    #[default]
    ExponentialWithJitter,
    /// "Decorrelated jitter": uniform in `[i, 3 * previous delay)` (the
    /// previous delay being `i` before the first retry).
    DecorrelatedJitter,
}

impl RetryStrategy {
    /// Every strategy, in the order above.
    pub const ALL: [RetryStrategy; 6] = [
        Self::Fixed,
        Self::Linear,
        Self::Exponential,
        Self::Fibonacci,
        Self::ExponentialWithJitter,
        Self::DecorrelatedJitter,
    ];

    /// Its name in `snake_case` (`"fixed"`, `"linear"`, `"exponential"`,
    /// `"fibonacci"`, `"exponential_with_jitter"`, `"decorrelated_jitter"`),
    /// as the Python binding spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fixed => "fixed",
            Self::Linear => "linear",
            Self::Exponential => "exponential",
            Self::Fibonacci => "fibonacci",
            Self::ExponentialWithJitter => "exponential_with_jitter",
            Self::DecorrelatedJitter => "decorrelated_jitter",
        }
    }

    /// The strategy named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A retry schedule's settings. The defaults are the original package's
/// `RetryConfig`. [`RetryConfig::validate`] (called by [`Backoff::new`])
/// checks them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// The back-off strategy. Default [`RetryStrategy::ExponentialWithJitter`].
    pub strategy: RetryStrategy,
    /// Attempts in all, the first included. At least 1, default 3.
    pub max_attempts: u32,
    /// The first delay. `[0, 1 year]`, default 1 s.
    pub initial_delay: Duration,
    /// The cap on every delay. `[initial_delay, 1 year]`, default 60 s.
    pub max_delay: Duration,
    /// The growth factor of the exponential strategies. `[1, 1000]`,
    /// default 2.
    pub exponential_base: f64,
    /// The spread of [`RetryStrategy::ExponentialWithJitter`]. `[0, 1]`,
    /// default 0.1; 0 disables the jitter.
    pub jitter_factor: f64,
    /// The cap on the delays of one call summed, breaker waits included.
    /// `None` (default): no cap; else `[0, 1 year]`.
    pub max_total_delay: Option<Duration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            strategy: RetryStrategy::ExponentialWithJitter,
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            exponential_base: 2.0,
            jitter_factor: 0.1,
            max_total_delay: None,
        }
    }
}

impl RetryConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "max_attempts",
                self.max_attempts,
                "an integer in [1, 4294967295]",
            ));
        }
        if self.initial_delay > MAX_DURATION {
            return Err(ConfigError::new(
                "initial_delay",
                self.initial_delay,
                "a duration in [0, 365 days]",
            ));
        }
        if self.max_delay < self.initial_delay || self.max_delay > MAX_DURATION {
            return Err(ConfigError::new(
                "max_delay",
                self.max_delay,
                "a duration in [initial_delay, 365 days]",
            ));
        }
        let b = self.exponential_base;
        if !(1.0..=MAX_MULTIPLIER).contains(&b) {
            return Err(ConfigError::new(
                "exponential_base",
                b,
                "a number in [1, 1000]",
            ));
        }
        let j = self.jitter_factor;
        if !(0.0..=1.0).contains(&j) {
            return Err(ConfigError::new("jitter_factor", j, "a fraction in [0, 1]"));
        }
        if let Some(t) = self.max_total_delay {
            if t > MAX_DURATION {
                return Err(ConfigError::new(
                    "max_total_delay",
                    t,
                    "unset or a duration in [0, 365 days]",
                ));
            }
        }
        Ok(())
    }
}

/// The validated back-off schedule of a [`RetryConfig`]: its delays and its
/// limits. Immutable and shareable: every call keeps its own
/// [`RetryState`](super::RetryState).
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    config: RetryConfig,
    /// `initial_delay` and `max_delay` in nanoseconds (at most a year, so
    /// far from `u64::MAX`; `initial <= max`).
    initial: u64,
    max: u64,
}

impl Backoff {
    /// Validates `config`.
    pub fn new(config: RetryConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            initial: nanos(config.initial_delay),
            max: nanos(config.max_delay),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The delay after attempt `attempt` (1-based; 0 counts as 1) failed,
    /// given the `previous` delay of this call (zero before the first
    /// retry) and `unit`, a random number in `[0, 1)` (clamped into it; NaN
    /// counts as 0). Deterministic: the same arguments always give the same
    /// delay. `unit` is used only by the jittered strategies.
    ///
    /// Defined for every `attempt`: with `unit` and `previous` fixed, the
    /// delay never decreases as `attempt` grows (it stays at `max_delay`
    /// once there), and it is never above `max_delay` nor below
    /// `initial_delay` (`initial_delay * (1 - jitter_factor)` for
    /// [`RetryStrategy::ExponentialWithJitter`]). The fixed, linear and Fibonacci
    /// delays are exact to the nanosecond; the exponential ones are
    /// computed in `f64`.
    pub fn delay(&self, attempt: u32, previous: Duration, unit: f64) -> Duration {
        let n = attempt.max(1);
        let u = crate::random::clamp_unit(unit);
        let (i, max) = (self.initial, self.max);
        let ns = match self.config.strategy {
            RetryStrategy::Fixed => i,
            RetryStrategy::Linear => i.saturating_mul(u64::from(n)),
            RetryStrategy::Exponential => match self.exponential(n) {
                // Capped: exactly `max`, which its `f64` may round below.
                x if x >= max as f64 => max,
                x => to_nanos(x).max(i),
            },
            RetryStrategy::Fibonacci => match max.checked_div(i) {
                // `F(n)` stops growing once above `max / i`, where
                // `i * F(n)` is above `max`; it fits a u64 well before.
                Some(limit) => i.saturating_mul(fibonacci(n, limit)),
                None => 0,
            },
            RetryStrategy::ExponentialWithJitter => {
                let j = self.config.jitter_factor;
                // The factor is in [1 - j, 1 + j) and grows with `u`; the
                // product grows with `n` (a rounded product of non-negative
                // numbers never decreases as either grows).
                to_nanos(self.exponential(n) * (1.0 + j * (2.0 * u - 1.0)))
            }
            RetryStrategy::DecorrelatedJitter => {
                let prev = if previous.is_zero() {
                    i
                } else {
                    nanos(previous)
                };
                let high = prev.saturating_mul(3).min(max);
                // Uniform in [i, high); the product is rounded, so the sum
                // is capped at `high` again.
                let span = high.saturating_sub(i);
                i.saturating_add(to_nanos(u * span as f64)).min(high.max(i))
            }
        };
        Duration::from_nanos(ns.min(max))
    }

    /// `initial * base^(n-1)` in nanoseconds, capped at `max`: never NaN or
    /// infinite, and never decreasing as `n` grows. The exponent is the
    /// exact `f64` of `n - 1` (any `u32` is), so no attempt number wraps.
    fn exponential(&self, n: u32) -> f64 {
        if self.initial == 0 {
            // 0 * inf would be NaN.
            return 0.0;
        }
        let growth = self.config.exponential_base.powf(f64::from(n - 1));
        (self.initial as f64 * growth).min(self.max as f64)
    }
}

/// A non-negative number of nanoseconds as a `u64`: rounds down, and
/// saturates (`as` maps NaN to 0 and anything above `u64::MAX` to it).
fn to_nanos(ns: f64) -> u64 {
    ns as u64
}

/// `F(n)` with `F(1) = F(2) = 1`, stopping early once above `limit`
/// (so at most about `2 * limit`).
fn fibonacci(n: u32, limit: u64) -> u64 {
    let (mut a, mut b) = (1_u64, 1_u64);
    for _ in 2..n {
        if b > limit {
            break;
        }
        (a, b) = (b, a.saturating_add(b));
    }
    b
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_starts_one_one_two_and_stops_at_the_limit() {
        let f: Vec<u64> = (1..=8).map(|n| fibonacci(n, u64::MAX)).collect();
        assert_eq!(f, [1, 1, 2, 3, 5, 8, 13, 21]);
        assert_eq!(fibonacci(1000, 10), 13);
        assert_eq!(fibonacci(u32::MAX, 0), 1);
        // Unlimited, it saturates instead of wrapping.
        assert_eq!(fibonacci(200, u64::MAX), u64::MAX);
    }
}
