//! Breaker configuration, its validation, and the numbers derived from it
//! that the state word and the rules need (trial limits, rates in parts per
//! million).
//!
//! Depends only on the state word's layout (`state.rs`: how many payload
//! bits the HALF_OPEN fields share); the decisions (`decide.rs`) and the
//! rules (`rules.rs`) read it, never the other way round.

use std::time::Duration;

use super::state::{bits, PAYLOAD_BITS};
use crate::config::{
    ConfigError, MAX_BUCKETS, MAX_DURATION, MAX_MULTIPLIER, MAX_WINDOW_CALLS, MIN_BUCKET,
};

/// Rates are applied in parts per million, in integers: "50% of 100 calls"
/// fires at exactly 50 failures, with no floating-point rounding.
pub(crate) const PPM: u64 = 1_000_000;

/// A rate in `(0, 1]` in parts per million, at least one part.
pub(crate) fn ppm(rate: f64) -> u64 {
    ((rate * PPM as f64).round() as u64).clamp(1, PPM)
}

/// The recent outcomes that the window rules (`failure_count_threshold`,
/// `failure_rate_threshold`, `slow_call_rate_threshold`) judge.
///
/// Windows judge one CLOSED episode at a time: when the breaker closes, what
/// came before leaves the window. Ignored outcomes are kept and reported but
/// are not calls: every rate is a share of successes plus failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Window {
    /// No window: only the consecutive-failure rule applies.
    #[default]
    None,
    /// The last `size` outcomes, a true sliding window: after 1,000 successes
    /// a "50% of the last 100" rule fires at exactly the 50th failure.
    /// `size` in `1..=10000`.
    Count {
        /// Outcomes kept.
        size: u32,
    },
    /// The outcomes of the last `length`, kept as `buckets` slices of
    /// `length / buckets` (memory is fixed, whatever the traffic). The window
    /// holds the current slice and the `buckets - 1` before it, so it spans
    /// between `length - length / buckets` and `length`. `length` in
    /// `(0, 1 year]`, `buckets` in `1..=1000`, slices at least 1 ms.
    Time {
        /// The span of time judged.
        length: Duration,
        /// The number of slices.
        buckets: u32,
    },
}

/// How a circuit breaker decides. Build one with `BreakerConfig::default()`
/// and struct-update syntax; [`BreakerConfig::validate`] (called by every
/// constructor) rejects settings outside the documented ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a CLOSED breaker. `1..=u32::MAX`,
    /// default 5.
    pub failure_threshold: u32,
    /// Whether `failure_threshold` consecutive failures trip the breaker.
    /// Default `true`; may be `false` only when a window rule is set.
    pub trip_on_consecutive_failures: bool,
    /// The window judged by the rules below. Default [`Window::None`].
    pub window: Window,
    /// Failures within the window that open the breaker (whatever the number
    /// of calls). `None` (default) or at least 1; at most the size of a count
    /// window.
    pub failure_count_threshold: Option<u32>,
    /// The share of failed calls within the window that opens the breaker,
    /// once the window holds `minimum_calls` calls. `None` (default) or in
    /// `(0, 1]`, applied exactly to one part in a million.
    pub failure_rate_threshold: Option<f64>,
    /// The share of slow calls (see `slow_call_duration`, which it requires)
    /// within the window that opens the breaker, once the window holds
    /// `minimum_calls` calls. `None` (default) or in `(0, 1]`.
    pub slow_call_rate_threshold: Option<f64>,
    /// The calls (successes plus failures) a window must hold before a rate
    /// rule may fire. At least 1, at most the size of a count window;
    /// default 10.
    pub minimum_calls: u32,
    /// Successful trial calls that close a HALF_OPEN breaker.
    /// `1..=u32::MAX` (see `half_open_max_calls` for the joint limit),
    /// default 3. With `half_open_success_rate`, the number of trial outcomes
    /// judged instead.
    pub success_threshold: u32,
    /// `None` (default): `success_threshold` successes close a HALF_OPEN
    /// breaker and any trial failure reopens it. `Some(rate)`, in `(0, 1]`:
    /// the trials are judged as a batch of `success_threshold` outcomes; the
    /// breaker closes as soon as `ceil(rate * success_threshold)` of them
    /// succeeded and reopens as soon as that has become impossible.
    pub half_open_success_rate: Option<f64>,
    /// Trial calls admitted at once while HALF_OPEN. At least 1, default 1.
    ///
    /// The trial successes, trials in flight and trial failures of HALF_OPEN
    /// share 36 bits of the state word, each as wide as its limit needs:
    /// `bits(success_threshold - 1) + bits(half_open_max_calls) +
    /// bits(failures tolerated) <= 36`. Any `success_threshold` fits with
    /// the default of one trial at a time; both may be up to 2^18 - 1.
    pub half_open_max_calls: u32,
    /// Time spent OPEN after the first trip before trial calls are admitted.
    /// `(0, 1 year]`, default 60 s.
    pub timeout: Duration,
    /// How long a batch of trial calls may stay unresolved. When it passes
    /// with trials still outstanding the breaker reopens (one more
    /// consecutive trip for the back-off) at the next acquire or outcome that
    /// notices, and the batch's results no longer count toward closing.
    /// `(0, 1 year]`, default 30 s.
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
            trip_on_consecutive_failures: true,
            window: Window::None,
            failure_count_threshold: None,
            failure_rate_threshold: None,
            slow_call_rate_threshold: None,
            minimum_calls: 10,
            success_threshold: 3,
            half_open_success_rate: None,
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

/// The one joint limit: the trial bookkeeping of HALF_OPEN shares 36 bits of
/// the state word.
const TRIAL_BITS_RULE: &str = "small enough that the HALF_OPEN bookkeeping fits 36 bits: \
bits(success_threshold - 1) + bits(half_open_max_calls) + bits(trial failures tolerated) <= 36, \
where bits(n) is the bit length of n (e.g. success_threshold up to 2^31 with half_open_max_calls \
up to 31, or both up to 2^18 - 1)";

fn count(field: &'static str, v: u32) -> Result<(), ConfigError> {
    // Any u32 up to MAX_COUNT (all of them) but zero.
    if v == 0 {
        return Err(ConfigError::new(field, v, "an integer in [1, 4294967295]"));
    }
    Ok(())
}

fn rate(field: &'static str, r: Option<f64>) -> Result<(), ConfigError> {
    match r {
        Some(v) if !(v > 0.0 && v <= 1.0) => {
            Err(ConfigError::new(field, v, "a fraction in (0, 1]"))
        }
        _ => Ok(()),
    }
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
        rate("half_open_success_rate", self.half_open_success_rate)?;
        if self.trial_bits() > PAYLOAD_BITS {
            return Err(ConfigError {
                field: "half_open_max_calls",
                value: format!(
                    "{} (with success_threshold = {}{})",
                    self.half_open_max_calls,
                    self.success_threshold,
                    match self.half_open_success_rate {
                        Some(r) => format!(", half_open_success_rate = {r}"),
                        None => String::new(),
                    }
                ),
                allowed: TRIAL_BITS_RULE,
            });
        }
        self.validate_window()
    }

    fn validate_window(&self) -> Result<(), ConfigError> {
        let max_calls = match self.window {
            Window::None => u32::MAX,
            Window::Count { size } => {
                if size == 0 || size > MAX_WINDOW_CALLS {
                    return Err(ConfigError::new(
                        "window.size",
                        size,
                        "an integer in [1, 10000]",
                    ));
                }
                size
            }
            Window::Time { length, buckets } => {
                duration("window.length", length)?;
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(ConfigError::new(
                        "window.buckets",
                        buckets,
                        "an integer in [1, 1000]",
                    ));
                }
                if length / buckets < MIN_BUCKET {
                    return Err(ConfigError::new(
                        "window.buckets",
                        buckets,
                        "at most window.length / 1 ms (slices of at least 1 ms)",
                    ));
                }
                u32::MAX
            }
        };
        if let Some(n) = self.failure_count_threshold {
            if n == 0 || n > max_calls {
                return Err(ConfigError::new(
                    "failure_count_threshold",
                    n,
                    "at least 1 and at most the size of a count window",
                ));
            }
        }
        rate("failure_rate_threshold", self.failure_rate_threshold)?;
        rate("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        if self.minimum_calls == 0 || self.minimum_calls > max_calls {
            return Err(ConfigError::new(
                "minimum_calls",
                self.minimum_calls,
                "at least 1 and at most the size of a count window",
            ));
        }
        let rules = [
            (
                "failure_count_threshold",
                self.failure_count_threshold.is_some(),
            ),
            (
                "failure_rate_threshold",
                self.failure_rate_threshold.is_some(),
            ),
            (
                "slow_call_rate_threshold",
                self.slow_call_rate_threshold.is_some(),
            ),
        ];
        if self.window == Window::None {
            if let Some((field, _)) = rules.iter().find(|r| r.1) {
                return Err(ConfigError::new(
                    field,
                    "set",
                    "unset unless a window is configured",
                ));
            }
        }
        if self.slow_call_rate_threshold.is_some() && self.slow_call_duration.is_none() {
            return Err(ConfigError::new(
                "slow_call_rate_threshold",
                self.slow_call_rate_threshold,
                "unset unless slow_call_duration is set",
            ));
        }
        if !self.trip_on_consecutive_failures && !rules.iter().any(|r| r.1) {
            return Err(ConfigError::new(
                "trip_on_consecutive_failures",
                false,
                "true unless a window rule (failure_count_threshold, failure_rate_threshold or slow_call_rate_threshold) is set",
            ));
        }
        Ok(())
    }
}

impl BreakerConfig {
    /// The HALF_OPEN bookkeeping this configuration needs: trial successes
    /// needed to close, and trial failures tolerated (success-rate mode).
    pub(crate) fn trial_limits(&self) -> (u32, u32) {
        match self.half_open_success_rate {
            None => (self.success_threshold, 0),
            Some(rate) => {
                let batch = u64::from(self.success_threshold);
                let needed = (ppm(rate) * batch).div_ceil(PPM).max(1);
                (needed as u32, (batch - needed) as u32)
            }
        }
    }

    /// The payload bits the HALF_OPEN fields need together; a valid
    /// configuration needs at most [`PAYLOAD_BITS`].
    pub(crate) fn trial_bits(&self) -> u32 {
        let (successes, failures) = self.trial_limits();
        bits(successes.saturating_sub(1)) + bits(self.half_open_max_calls) + bits(failures)
    }
}

#[cfg(test)]
mod tests;
