//! What the fuzz targets share: inputs biased toward the edges (zero, one,
//! the documented limits, values near `u64::MAX`, NaN and the infinities)
//! and oracles that decide from the documented ranges alone whether a
//! configuration is valid, and which fields an error may name.
//!
//! The oracles read the limits from the core's public constants
//! (`seawall::config::MAX_COUNT`, ...), so a widened range moves both sides
//! at once; the rules themselves are the ones the doc comments state.

use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use seawall::config::{MAX_BUCKETS, MAX_COUNT, MAX_DURATION, MAX_MULTIPLIER, MAX_WINDOW_CALLS};
use seawall::{
    BreakerConfig, BulkheadConfig, RateLimitConfig, RetryBudgetConfig, RetryConfig, RetryStrategy,
    Timing, Window,
};

/// Whether the defect `name` is listed in SEAWALL_FUZZ_KNOWN_DEFECTS
/// (comma-separated; scripts/test-fuzz.sh fills it from fuzz/known-defects):
/// a defect already reported and under repair elsewhere, whose one assertion
/// the targets skip so that fuzzing can go on finding others.
pub fn known_defect(name: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("SEAWALL_FUZZ_KNOWN_DEFECTS")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|k| k == name)
}

/// One year in nanoseconds, the largest duration any setting accepts.
pub const YEAR_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;

/// A `u64` biased toward the values that break arithmetic: 0, 1, small
/// numbers, whole milliseconds and seconds, one year and its neighbours, and
/// values near `u64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nanos(pub u64);

impl<'a> Arbitrary<'a> for Nanos {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let v = match u.int_in_range(0..=9u8)? {
            0 => 0,
            1 => u64::from(u.int_in_range(1..=3u8)?),
            2 => u64::from(u.arbitrary::<u16>()?),
            3 => u64::from(u.arbitrary::<u16>()?) * 1_000_000,
            4 => u64::from(u.int_in_range(0..=4000u32)?) * 1_000_000_000,
            5 => YEAR_NS - 1 + u64::from(u.int_in_range(0..=2u8)?),
            6 => u64::MAX - u64::from(u.arbitrary::<u32>()?),
            7 => u64::MAX >> u.int_in_range(0..=63u8)?,
            _ => u.arbitrary()?,
        };
        Ok(Nanos(v))
    }
}

/// A `u32` count biased toward 0, 1, the documented limits and `u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u32);

impl<'a> Arbitrary<'a> for Count {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let near = |base: u32, u: &mut Unstructured<'a>| -> Result<u32> {
            Ok(base
                .saturating_add(u.int_in_range(0..=2u32)?)
                .saturating_sub(1))
        };
        let v = match u.int_in_range(0..=9u8)? {
            0 => 0,
            1 => 1,
            2 => u32::from(u.arbitrary::<u8>()?),
            3 => near(MAX_COUNT, u)?,
            4 => near(4095, u)?,
            5 => near(MAX_WINDOW_CALLS, u)?,
            6 => near(1 << 30, u)?,
            7 => near(1_000_000_000, u)?,
            8 => u32::MAX - u32::from(u.arbitrary::<u8>()?),
            _ => u.arbitrary()?,
        };
        Ok(Count(v))
    }
}

/// An `f64` biased toward the edges of the documented ranges, the values
/// just past them, NaN, the infinities, -0 and subnormals.
#[derive(Clone, Copy, Debug)]
pub struct Float(pub f64);

impl<'a> Arbitrary<'a> for Float {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const EDGES: [f64; 20] = [
            0.0,
            -0.0,
            1.0,
            0.5,
            0.1,
            2.0,
            100.0,
            1000.0,
            1e9,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
            1.0 - f64::EPSILON / 2.0,
            1.0 + f64::EPSILON,
            -1.0,
            f64::MAX,
            1e-6,
        ];
        let v = match u.int_in_range(0..=3u8)? {
            0 | 1 => EDGES[u.choose_index(EDGES.len())?],
            // Fractions in [0, 1] and numbers in [0, 2000).
            2 => f64::from(u.arbitrary::<u32>()?) / f64::from(u32::MAX) * 2000.0,
            _ => f64::from_bits(u.arbitrary()?),
        };
        Ok(Float(v))
    }
}

/// A `Duration`, from biased nanoseconds or beyond what `u64` nanoseconds
/// hold (up to `Duration::MAX`).
#[derive(Clone, Copy, Debug)]
pub struct Dur(pub Duration);

impl<'a> Arbitrary<'a> for Dur {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let d = match u.int_in_range(0..=7u8)? {
            0 => Duration::MAX,
            1 => Duration::new(u.arbitrary()?, u.int_in_range(0..=999_999_999)?),
            2 => MAX_DURATION,
            3 => MAX_DURATION + Duration::from_nanos(1),
            _ => Duration::from_nanos(u.arbitrary::<Nanos>()?.0),
        };
        Ok(Dur(d))
    }
}

fn count(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(u.arbitrary::<Count>()?.0)
}

fn float(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(u.arbitrary::<Float>()?.0)
}

fn dur(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(u.arbitrary::<Dur>()?.0)
}

fn float_opt(u: &mut Unstructured<'_>) -> Result<Option<f64>> {
    Ok(if u.arbitrary()? {
        Some(float(u)?)
    } else {
        None
    })
}

fn dur_opt(u: &mut Unstructured<'_>) -> Result<Option<Duration>> {
    Ok(if u.arbitrary()? { Some(dur(u)?) } else { None })
}

/// A field's `default`, kept 3 times in 4 in sane mode; otherwise a value
/// from `draw`.
fn or_draw<'a, T>(
    u: &mut Unstructured<'a>,
    sane: bool,
    default: T,
    draw: impl FnOnce(&mut Unstructured<'a>) -> Result<T>,
) -> Result<T> {
    Ok(if sane && u.ratio(3u8, 4u8)? {
        default
    } else {
        draw(u)?
    })
}

/// A `BreakerConfig` with every field arbitrary; half of the time the fields
/// are drawn around the defaults so that valid configurations are common.
pub fn breaker_config(u: &mut Unstructured<'_>) -> Result<BreakerConfig> {
    let d = BreakerConfig::default();
    let sane = u.arbitrary::<bool>()?;
    let window = or_draw(u, sane, d.window, |u| {
        Ok(match u.int_in_range(0..=2u8)? {
            0 => Window::None,
            1 => Window::Count { size: count(u)? },
            _ => Window::Time {
                length: dur(u)?,
                buckets: count(u)?,
            },
        })
    })?;
    let count_opt = |u: &mut Unstructured<'_>| {
        Ok(if u.arbitrary()? {
            Some(count(u)?)
        } else {
            None
        })
    };
    Ok(BreakerConfig {
        failure_threshold: or_draw(u, sane, d.failure_threshold, count)?,
        trip_on_consecutive_failures: or_draw(u, sane, d.trip_on_consecutive_failures, |u| {
            u.arbitrary()
        })?,
        window,
        failure_count_threshold: or_draw(u, sane, d.failure_count_threshold, count_opt)?,
        failure_rate_threshold: or_draw(u, sane, d.failure_rate_threshold, float_opt)?,
        slow_call_rate_threshold: or_draw(u, sane, d.slow_call_rate_threshold, float_opt)?,
        minimum_calls: or_draw(u, sane, d.minimum_calls, count)?,
        success_threshold: or_draw(u, sane, d.success_threshold, count)?,
        half_open_success_rate: or_draw(u, sane, d.half_open_success_rate, float_opt)?,
        half_open_max_calls: or_draw(u, sane, d.half_open_max_calls, count)?,
        timeout: or_draw(u, sane, d.timeout, dur)?,
        half_open_timeout: or_draw(u, sane, d.half_open_timeout, dur)?,
        timeout_multiplier: or_draw(u, sane, d.timeout_multiplier, float)?,
        max_timeout: or_draw(u, sane, d.max_timeout, dur_opt)?,
        timeout_jitter: or_draw(u, sane, d.timeout_jitter, float)?,
        slow_call_duration: or_draw(u, sane, d.slow_call_duration, dur_opt)?,
        // Fields the core gains later keep their defaults.
        ..d
    })
}

/// Collects the fields that break a documented rule. A rule that ties two
/// fields together names both: the validator may name either.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Every field implicated in a broken rule; empty means valid.
    pub fields: Vec<&'static str>,
    /// Fields of a rule the oracle cannot decide exactly here (a rounding
    /// edge): the validator may refuse naming one of them, or accept.
    pub maybe: Vec<&'static str>,
}

impl Verdict {
    fn rule(&mut self, ok: bool, fields: &[&'static str]) {
        if !ok {
            self.fields.extend_from_slice(fields);
        }
    }

    /// No rule is broken: the validator must accept.
    pub fn valid(&self) -> bool {
        self.fields.is_empty()
    }

    /// Some rule is or may be broken: the validator may refuse.
    pub fn may_refuse(&self) -> bool {
        !self.fields.is_empty() || !self.maybe.is_empty()
    }

    /// Whether `field` is one the validator may name.
    pub fn names(&self, field: &str) -> bool {
        self.fields.iter().chain(&self.maybe).any(|f| *f == field)
    }

    /// A verdict naming one field.
    pub fn broken(field: &'static str) -> Self {
        Self {
            fields: vec![field],
            maybe: Vec::new(),
        }
    }
}

fn in_count(v: u32) -> bool {
    (1..=MAX_COUNT).contains(&v)
}

fn positive_duration(d: Duration) -> bool {
    !d.is_zero() && d <= MAX_DURATION
}

fn fraction(r: Option<f64>) -> bool {
    r.is_none_or(|v| v > 0.0 && v <= 1.0)
}

/// The documented rules of `BreakerConfig` (its field docs and
/// `Window`'s), written independently of `BreakerConfig::validate`.
pub fn breaker_verdict(c: &BreakerConfig) -> Verdict {
    let mut v = Verdict::default();
    v.rule(in_count(c.failure_threshold), &["failure_threshold"]);
    v.rule(in_count(c.success_threshold), &["success_threshold"]);
    v.rule(in_count(c.half_open_max_calls), &["half_open_max_calls"]);
    v.rule(positive_duration(c.timeout), &["timeout"]);
    v.rule(
        positive_duration(c.half_open_timeout),
        &["half_open_timeout"],
    );
    v.rule(
        (1.0..=MAX_MULTIPLIER).contains(&c.timeout_multiplier),
        &["timeout_multiplier"],
    );
    if let Some(max) = c.max_timeout {
        v.rule(
            max >= c.timeout && max <= MAX_DURATION,
            &["max_timeout", "timeout"],
        );
    }
    v.rule((0.0..1.0).contains(&c.timeout_jitter), &["timeout_jitter"]);
    if let Some(slow) = c.slow_call_duration {
        v.rule(positive_duration(slow), &["slow_call_duration"]);
    }
    v.rule(
        fraction(c.half_open_success_rate),
        &["half_open_success_rate"],
    );
    trial_bits_rule(c, &mut v);
    let mut max_calls = u32::MAX;
    match c.window {
        Window::None => {}
        Window::Count { size } => {
            v.rule((1..=MAX_WINDOW_CALLS).contains(&size), &["window.size"]);
            max_calls = size;
        }
        Window::Time { length, buckets } => {
            v.rule(positive_duration(length), &["window.length"]);
            v.rule((1..=MAX_BUCKETS).contains(&buckets), &["window.buckets"]);
            if buckets > 0 {
                v.rule(
                    length.as_nanos() / u128::from(buckets) >= 1_000_000,
                    &["window.buckets", "window.length"],
                );
            }
        }
    }
    if let Some(n) = c.failure_count_threshold {
        v.rule(
            n >= 1 && n <= max_calls,
            &["failure_count_threshold", "window.size"],
        );
    }
    v.rule(
        fraction(c.failure_rate_threshold),
        &["failure_rate_threshold"],
    );
    v.rule(
        fraction(c.slow_call_rate_threshold),
        &["slow_call_rate_threshold"],
    );
    v.rule(
        c.minimum_calls >= 1 && c.minimum_calls <= max_calls,
        &["minimum_calls", "window.size"],
    );
    let rules = [
        (
            "failure_count_threshold",
            c.failure_count_threshold.is_some(),
        ),
        ("failure_rate_threshold", c.failure_rate_threshold.is_some()),
        (
            "slow_call_rate_threshold",
            c.slow_call_rate_threshold.is_some(),
        ),
    ];
    if c.window == Window::None {
        for (field, set) in rules {
            v.rule(!set, &[field, "window"]);
        }
    }
    v.rule(
        c.slow_call_rate_threshold.is_none() || c.slow_call_duration.is_some(),
        &["slow_call_rate_threshold", "slow_call_duration"],
    );
    v.rule(
        c.trip_on_consecutive_failures || rules.iter().any(|r| r.1),
        &["trip_on_consecutive_failures"],
    );
    v
}

fn bits(n: u64) -> u32 {
    u64::BITS - n.leading_zeros()
}

/// The joint HALF_OPEN limit (`half_open_max_calls`'s doc): the trial
/// successes needed (minus one), the trials in flight and the trial
/// failures tolerated share 36 bits. With a success rate, the successes
/// needed are `ceil(rate * success_threshold)`, the rate taken to a part in
/// a million; where rounding the rate down or up decides, either verdict is
/// accepted.
fn trial_bits_rule(c: &BreakerConfig, v: &mut Verdict) {
    const FIELDS: [&str; 3] = [
        "half_open_max_calls",
        "success_threshold",
        "half_open_success_rate",
    ];
    if !in_count(c.success_threshold)
        || !in_count(c.half_open_max_calls)
        || !fraction(c.half_open_success_rate)
    {
        return;
    }
    let batch = u64::from(c.success_threshold);
    let fits = |ppm: u64| {
        let (needed, tolerated) = match c.half_open_success_rate {
            None => (batch, 0),
            Some(_) => {
                let needed = (ppm * batch).div_ceil(1_000_000).clamp(1, batch);
                (needed, batch - needed)
            }
        };
        bits(needed - 1) + bits(u64::from(c.half_open_max_calls)) + bits(tolerated) <= 36
    };
    let exact = c.half_open_success_rate.unwrap_or(1.0) * 1e6;
    let (low, high) = (fits(exact.floor() as u64), fits(exact.ceil() as u64));
    if !low && !high {
        v.fields.extend_from_slice(&FIELDS);
    } else if !(low && high) {
        v.maybe.extend_from_slice(&FIELDS);
    }
}

/// The back-off strategies, in the order of the C enum's values.
pub const STRATEGIES: [RetryStrategy; 6] = [
    RetryStrategy::Fixed,
    RetryStrategy::Linear,
    RetryStrategy::Exponential,
    RetryStrategy::Fibonacci,
    RetryStrategy::ExponentialWithJitter,
    RetryStrategy::DecorrelatedJitter,
];

/// A `RetryConfig` with every field arbitrary.
pub fn retry_config(u: &mut Unstructured<'_>) -> Result<RetryConfig> {
    Ok(RetryConfig {
        strategy: STRATEGIES[u.choose_index(STRATEGIES.len())?],
        max_attempts: count(u)?,
        initial_delay: dur(u)?,
        max_delay: dur(u)?,
        exponential_base: float(u)?,
        jitter_factor: float(u)?,
        max_total_delay: dur_opt(u)?,
    })
}

/// The documented rules of `RetryConfig`.
pub fn retry_verdict(c: &RetryConfig) -> Verdict {
    let mut v = Verdict::default();
    v.rule(
        (1..=seawall::retry::MAX_ATTEMPTS).contains(&c.max_attempts),
        &["max_attempts"],
    );
    v.rule(c.initial_delay <= MAX_DURATION, &["initial_delay"]);
    v.rule(
        c.max_delay >= c.initial_delay && c.max_delay <= MAX_DURATION,
        &["max_delay", "initial_delay"],
    );
    v.rule(
        (1.0..=MAX_MULTIPLIER).contains(&c.exponential_base),
        &["exponential_base"],
    );
    v.rule((0.0..=1.0).contains(&c.jitter_factor), &["jitter_factor"]);
    if let Some(t) = c.max_total_delay {
        v.rule(t <= MAX_DURATION, &["max_total_delay"]);
    }
    v
}

/// A `RetryBudgetConfig` with every field arbitrary.
pub fn budget_config(u: &mut Unstructured<'_>) -> Result<RetryBudgetConfig> {
    Ok(RetryBudgetConfig {
        budget_percent: float(u)?,
        min_requests: count(u)?,
        window_size: dur(u)?,
        tokens_per_second: float(u)?,
        max_tokens: count(u)?,
    })
}

/// The documented rules of `RetryBudgetConfig`.
pub fn budget_verdict(c: &RetryBudgetConfig) -> Verdict {
    const MAX: u32 = seawall::budget::MAX_BUDGET_COUNT;
    let mut v = Verdict::default();
    v.rule(
        (0.0..=100.0).contains(&c.budget_percent),
        &["budget_percent"],
    );
    v.rule(c.min_requests <= MAX, &["min_requests"]);
    v.rule(
        c.window_size >= seawall::budget::MIN_WINDOW && c.window_size <= MAX_DURATION,
        &["window_size"],
    );
    v.rule(
        c.tokens_per_second > 0.0 && c.tokens_per_second <= f64::from(MAX),
        &["tokens_per_second"],
    );
    v.rule(c.max_tokens <= MAX, &["max_tokens"]);
    // The bucket refills `max_tokens` within 100 years (one token every
    // `1e9 / tokens_per_second` ns, at least 1).
    if c.max_tokens > 0 && c.tokens_per_second > 0.0 {
        let interval = ((1e9 / c.tokens_per_second) as u64).max(1);
        v.rule(
            u128::from(interval) * u128::from(c.max_tokens)
                <= seawall::rate_limit::MAX_BURST_SPAN.as_nanos(),
            &["tokens_per_second", "max_tokens"],
        );
    }
    v
}

/// A `BulkheadConfig` with every field arbitrary.
pub fn bulkhead_config(u: &mut Unstructured<'_>) -> Result<BulkheadConfig> {
    Ok(BulkheadConfig {
        max_concurrent: count(u)?,
        max_queue_size: count(u)?,
        timeout: dur(u)?,
    })
}

/// The documented rules of `BulkheadConfig`.
pub fn bulkhead_verdict(c: &BulkheadConfig) -> Verdict {
    const MAX: u32 = seawall::bulkhead::MAX_PERMITS;
    let mut v = Verdict::default();
    v.rule((1..=MAX).contains(&c.max_concurrent), &["max_concurrent"]);
    v.rule(c.max_queue_size <= MAX, &["max_queue_size"]);
    v.rule(c.timeout <= MAX_DURATION, &["timeout"]);
    v
}

/// A `RateLimitConfig` with every field arbitrary.
pub fn rate_limit_config(u: &mut Unstructured<'_>) -> Result<RateLimitConfig> {
    Ok(RateLimitConfig {
        rate: count(u)?,
        period: dur(u)?,
        burst: count(u)?,
        timing: if u.arbitrary()? {
            Timing::Exact
        } else {
            Timing::Recent
        },
    })
}

/// The documented rules of `RateLimitConfig`.
pub fn rate_limit_verdict(c: &RateLimitConfig) -> Verdict {
    const MAX: u32 = seawall::rate_limit::MAX_RATE;
    let mut v = Verdict::default();
    v.rule((1..=MAX).contains(&c.rate), &["rate"]);
    v.rule(positive_duration(c.period), &["period"]);
    v.rule(
        c.period.as_nanos() >= u128::from(c.rate),
        &["period", "rate"],
    );
    v.rule((1..=MAX).contains(&c.burst), &["burst"]);
    // At most 100 years of calls at the sustained rate, so that no
    // theoretical arrival time saturates.
    let interval = (nanos(c.period) / u64::from(c.rate.max(1))).max(1);
    v.rule(
        u128::from(interval) * u128::from(c.burst)
            <= seawall::rate_limit::MAX_BURST_SPAN.as_nanos(),
        &["burst", "rate", "period"],
    );
    v
}

/// Converts a duration to nanoseconds, saturating at `u64::MAX`.
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub mod c;
