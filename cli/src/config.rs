//! The simulation's settings: a TOML or YAML file and `--set KEY=VALUE`
//! flags, with the field names of the Python `CircuitBreakerConfig`,
//! `RetryConfig`, `RetryBudgetConfig`, `BulkheadConfig`,
//! `AdaptiveLimiterConfig`, `RateLimitConfig`, `ThrottleConfig` and `HedgeConfig` (durations
//! in seconds), turned into the engines' configurations. Nothing is judged here that an engine judges itself: the
//! engines' own validation names a field outside its range.
//!
//! ```toml
//! seed = 7
//! [breaker]                       # a key without a section, in --set: breaker
//! failure_threshold = 5
//! timeout = 30
//! window = { count = 100 }        # or { time = 60, buckets = 10 }
//! failure_rate_threshold = 0.5
//! [retry]                         # optional: retries of failed calls
//! max_attempts = 3
//! [retry_budget]                  # optional: needs [retry] or [hedge]
//! budget_percent = 10
//! [hedge]                         # optional: hedge slow calls (idempotent)
//! max_hedges = 1
//! [scenario]
//! name = "outage"
//! rate = 100
//! ```

use std::path::Path;
use std::time::Duration;

use seawall_bindings_support::duration::non_negative_seconds;
use serde::{Deserialize, Serialize};

use seawall::{
    AdaptiveLimiterConfig, BreakerConfig, BulkheadConfig, HedgeConfig, LimitAlgorithm,
    RateLimitConfig, RetryBudgetConfig, RetryConfig, RetryStrategy, ThrottleConfig, Timing, Window,
};

use crate::Error;

/// Everything a run reads, as written in a file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The seed of every random draw (the dependency's answers, the
    /// breaker's jitter, the retries' jitter).
    pub seed: u64,
    /// The breaker's settings.
    pub breaker: BreakerFields,
    /// Retries of failed and refused calls; none without it.
    pub retry: Option<RetryFields>,
    /// A retry budget over the retries and the hedges; needs `retry` or
    /// `hedge`.
    pub retry_budget: Option<BudgetFields>,
    /// A bulkhead in front of the breaker (refuses when full: no queue).
    pub bulkhead: Option<BulkheadFields>,
    /// An adaptive concurrency limiter in front of the breaker (after the
    /// bulkhead, if both are set): refuses when the calls in flight reach
    /// the limit it learns from their latency and failures.
    pub adaptive_limiter: Option<AdaptiveLimiterFields>,
    /// A rate limiter in front of the bulkhead and the breaker.
    pub rate_limit: Option<RateLimitFields>,
    /// Hedging of slow calls (every call is taken as idempotent), each
    /// hedge drawn from `retry_budget` (or a default budget of its own).
    pub hedge: Option<HedgeFields>,
    /// An adaptive throttler in front of the breaker: it sheds calls
    /// locally while the dependency refuses more than it accepts.
    pub throttle: Option<ThrottleFields>,
    /// The scenario (ignored when a trace is replayed).
    pub scenario: crate::scenario::ScenarioFields,
}

/// `CircuitBreakerConfig`'s fields, durations in seconds. Unset: the
/// engine's default.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct BreakerFields {
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
    pub half_open_max_calls: Option<u32>,
    pub half_open_success_rate: Option<f64>,
    pub timeout: Option<f64>,
    pub half_open_timeout: Option<f64>,
    pub timeout_multiplier: Option<f64>,
    pub max_timeout: Option<f64>,
    pub timeout_jitter: Option<f64>,
    pub window: Option<WindowFields>,
    pub failure_count_threshold: Option<u32>,
    pub failure_rate_threshold: Option<f64>,
    pub slow_call_rate_threshold: Option<f64>,
    pub slow_call_duration: Option<f64>,
    pub minimum_calls: Option<u32>,
    pub trip_on_consecutive_failures: Option<bool>,
    /// One breaker per dependency instance instead of one for all.
    pub per_instance: Option<bool>,
}

/// A window: `{ count = N }` (the last N calls) or `{ time = SECONDS,
/// buckets = N }` (the last SECONDS, in N slices; 10 by default).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WindowFields {
    pub count: Option<u32>,
    pub time: Option<f64>,
    pub buckets: Option<u32>,
}

/// `RetryConfig`'s fields, durations in seconds.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RetryFields {
    pub strategy: Option<String>,
    pub max_attempts: Option<u32>,
    pub initial_delay: Option<f64>,
    pub max_delay: Option<f64>,
    pub exponential_base: Option<f64>,
    pub jitter_factor: Option<f64>,
    pub max_total_delay: Option<f64>,
}

/// `RetryBudgetConfig`'s fields, durations in seconds.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct BudgetFields {
    pub budget_percent: Option<f64>,
    pub min_requests: Option<u32>,
    pub window_size: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub max_tokens: Option<u32>,
}

/// `BulkheadConfig`'s `max_concurrent` (the simulated bulkhead has no
/// queue: a call that finds every slot taken is refused).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct BulkheadFields {
    pub max_concurrent: Option<u32>,
}

/// `AdaptiveLimiterConfig`'s fields (`algorithm` `"gradient"` or `"aimd"`,
/// `latency_threshold` in seconds).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct AdaptiveLimiterFields {
    pub algorithm: Option<String>,
    pub initial_limit: Option<u32>,
    pub min_limit: Option<u32>,
    pub max_limit: Option<u32>,
    pub backoff_ratio: Option<f64>,
    pub latency_threshold: Option<f64>,
    pub tolerance: Option<f64>,
    pub smoothing: Option<f64>,
    pub queue_size: Option<f64>,
    pub long_window: Option<u32>,
    pub window_calls: Option<u32>,
    pub window: Option<f64>,
}

impl AdaptiveLimiterFields {
    fn config(&self) -> Result<AdaptiveLimiterConfig, Error> {
        let algorithm = match self.algorithm.as_deref() {
            None | Some("gradient") => LimitAlgorithm::Gradient,
            Some("aimd") => LimitAlgorithm::Aimd,
            Some(other) => {
                return Err(Error::Config(format!(
                "invalid adaptive_limiter.algorithm = {other:?}: must be \"gradient\" or \"aimd\""
            )))
            }
        };
        let mut c = AdaptiveLimiterConfig {
            algorithm,
            ..Default::default()
        };
        set(&mut c.initial_limit, self.initial_limit);
        set(&mut c.min_limit, self.min_limit);
        set(&mut c.max_limit, self.max_limit);
        set(&mut c.backoff_ratio, self.backoff_ratio);
        set(
            &mut c.latency_threshold,
            secs("adaptive_limiter.latency_threshold", self.latency_threshold)?,
        );
        set(&mut c.tolerance, self.tolerance);
        set(&mut c.smoothing, self.smoothing);
        set(&mut c.queue_size, self.queue_size);
        set(&mut c.long_window, self.long_window);
        set(&mut c.window_calls, self.window_calls);
        set(&mut c.window, secs("adaptive_limiter.window", self.window)?);
        c.validate().map(|()| c).map_err(config_error)
    }
}

/// `RateLimitConfig`'s fields: `rate` calls per `period` seconds, `burst`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RateLimitFields {
    pub rate: Option<u32>,
    pub period: Option<f64>,
    pub burst: Option<u32>,
}

/// `HedgeConfig`'s fields, durations in seconds; `quantile = 0` for the
/// fixed `delay`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct HedgeFields {
    pub max_hedges: Option<u32>,
    pub delay: Option<f64>,
    pub quantile: Option<f64>,
    pub min_delay: Option<f64>,
    pub max_delay: Option<f64>,
    pub window: Option<f64>,
    pub min_samples: Option<u32>,
}

/// `ThrottleConfig`'s fields, the window in seconds.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct ThrottleFields {
    pub k: Option<f64>,
    pub window: Option<f64>,
    pub max_rejection_probability: Option<f64>,
}

/// The engines' configurations built from [`Settings`].
#[derive(Clone, Debug)]
pub struct Engines {
    /// The breaker (one, or one per instance).
    pub breaker: BreakerConfig,
    /// One breaker per dependency instance.
    pub breaker_per_instance: bool,
    /// Retries, if any.
    pub retry: Option<RetryConfig>,
    /// The retry budget, if any.
    pub retry_budget: Option<RetryBudgetConfig>,
    /// The bulkhead, if any.
    pub bulkhead: Option<BulkheadConfig>,
    /// The adaptive limiter, if any.
    pub adaptive_limiter: Option<AdaptiveLimiterConfig>,
    /// The rate limiter, if any.
    pub rate_limit: Option<RateLimitConfig>,
    /// Hedging, if any.
    pub hedge: Option<HedgeConfig>,
    /// The adaptive throttler, if any.
    pub throttle: Option<ThrottleConfig>,
}

impl Settings {
    /// Reads a `.toml`, `.yaml` or `.yml` file. Errors name the file and,
    /// from the parser, the line and the field.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let parsed = match ext {
            "toml" => toml::from_str(&text).map_err(|e| e.to_string()),
            "yaml" | "yml" => serde_yaml_ng::from_str(&text).map_err(|e| e.to_string()),
            _ => Err(format!(
                "unknown settings format {ext:?}: name the file .toml, .yaml or .yml"
            )),
        };
        parsed.map_err(|e| Error::Input(format!("{}: {}", path.display(), e.trim_end())))
    }

    /// Sets one field from a `KEY=VALUE` flag. `KEY` is a field of
    /// `[breaker]`, or `SECTION.FIELD` (`retry.max_attempts`,
    /// `scenario.rate`, `breaker.window.count`); `VALUE` is a TOML value
    /// (`5`, `0.5`, `true`, `"text"`; a bare word is taken as text).
    pub fn set(&mut self, assignment: &str) -> Result<(), Error> {
        let bad = |why: String| Error::Input(format!("--set {assignment}: {why}"));
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE".into()))?;
        let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t.remove("v").expect("the key just written"),
            Err(_) => toml::Value::String(value.to_owned()),
        };
        let mut path: Vec<&str> = key.trim().split('.').collect();
        if path.len() == 1 || !SECTIONS.contains(&path[0]) {
            path.insert(0, "breaker");
        }
        let mut root = toml::Table::try_from(&*self).map_err(|e| bad(e.to_string()))?;
        let (last, parents) = path.split_last().expect("at least the section");
        let mut table = &mut root;
        for part in parents {
            table = table
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| bad(format!("{part} is not a section")))?;
        }
        table.insert(last.to_string(), value);
        *self = root
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().trim_end().to_owned()))?;
        Ok(())
    }

    /// The fields given, as `key = value` with dotted keys
    /// (`breaker.failure_threshold = 5`, `scenario.rate = 100.0`), sorted.
    pub fn given(&self) -> Vec<String> {
        fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match value {
                    toml::Value::Table(t) if key != "breaker.window" => walk(&key, t, out),
                    v => out.push(format!("{key} = {v}")),
                }
            }
        }
        let mut out = Vec::new();
        // Unset fields are `None`, which TOML leaves out; the seed is
        // reported on its own.
        let mut table = toml::Table::try_from(self).expect("plain fields serialize");
        table.remove("seed");
        walk("", &table, &mut out);
        out.sort();
        out
    }

    /// The engines' configurations. Errors name the field.
    pub fn engines(&self) -> Result<Engines, Error> {
        let b = &self.breaker;
        let mut breaker = BreakerConfig::default();
        set(&mut breaker.failure_threshold, b.failure_threshold);
        set(&mut breaker.success_threshold, b.success_threshold);
        set(&mut breaker.half_open_max_calls, b.half_open_max_calls);
        breaker.half_open_success_rate = b.half_open_success_rate;
        set(&mut breaker.timeout, secs("timeout", b.timeout)?);
        set(
            &mut breaker.half_open_timeout,
            secs("half_open_timeout", b.half_open_timeout)?,
        );
        set(&mut breaker.timeout_multiplier, b.timeout_multiplier);
        breaker.max_timeout = secs("max_timeout", b.max_timeout)?;
        set(&mut breaker.timeout_jitter, b.timeout_jitter);
        breaker.window = match &b.window {
            None => Window::None,
            Some(w) => w.window()?,
        };
        breaker.failure_count_threshold = b.failure_count_threshold;
        breaker.failure_rate_threshold = b.failure_rate_threshold;
        breaker.slow_call_rate_threshold = b.slow_call_rate_threshold;
        breaker.slow_call_duration = secs("slow_call_duration", b.slow_call_duration)?;
        set(&mut breaker.minimum_calls, b.minimum_calls);
        set(
            &mut breaker.trip_on_consecutive_failures,
            b.trip_on_consecutive_failures,
        );
        breaker.validate().map_err(config_error)?;

        let retry = self.retry.as_ref().map(RetryFields::config).transpose()?;
        let retry_budget = match (&self.retry_budget, &retry, &self.hedge) {
            (Some(_), None, None) => {
                return Err(Error::Config(
                    "retry_budget needs a [retry] or [hedge] section: the budget limits \
                     retries and hedges"
                        .into(),
                ))
            }
            (b, _, _) => b.as_ref().map(BudgetFields::config).transpose()?,
        };
        let hedge = self.hedge.as_ref().map(HedgeFields::config).transpose()?;
        let bulkhead = self
            .bulkhead
            .as_ref()
            .map(|f| {
                let mut c = BulkheadConfig {
                    max_queue_size: 0,
                    ..Default::default()
                };
                set(&mut c.max_concurrent, f.max_concurrent);
                c.validate().map(|()| c).map_err(config_error)
            })
            .transpose()?;
        let adaptive_limiter = self
            .adaptive_limiter
            .as_ref()
            .map(AdaptiveLimiterFields::config)
            .transpose()?;
        let rate_limit = self
            .rate_limit
            .as_ref()
            .map(|f| {
                let mut c = RateLimitConfig {
                    timing: Timing::Exact,
                    ..Default::default()
                };
                set(&mut c.rate, f.rate);
                set(&mut c.period, secs("rate_limit.period", f.period)?);
                set(&mut c.burst, f.burst);
                c.validate().map(|()| c).map_err(config_error)
            })
            .transpose()?;
        let throttle = self
            .throttle
            .as_ref()
            .map(|f| {
                let mut c = ThrottleConfig::default();
                set(&mut c.k, f.k);
                set(&mut c.window, secs("throttle.window", f.window)?);
                set(
                    &mut c.max_rejection_probability,
                    f.max_rejection_probability,
                );
                c.validate().map(|()| c).map_err(config_error)
            })
            .transpose()?;
        Ok(Engines {
            breaker,
            breaker_per_instance: b.per_instance.unwrap_or(false),
            retry,
            retry_budget,
            bulkhead,
            adaptive_limiter,
            rate_limit,
            hedge,
            throttle,
        })
    }
}

/// The sections a `--set` key may start with.
const SECTIONS: [&str; 9] = [
    "breaker",
    "retry",
    "retry_budget",
    "bulkhead",
    "adaptive_limiter",
    "rate_limit",
    "hedge",
    "throttle",
    "scenario",
];

impl WindowFields {
    fn window(&self) -> Result<Window, Error> {
        match (self.count, self.time) {
            (Some(size), None) if self.buckets.is_none() => Ok(Window::Count { size }),
            (None, Some(length)) => Ok(Window::Time {
                length: non_negative_seconds("window.time", length).map_err(Error::Config)?,
                buckets: self.buckets.unwrap_or(10),
            }),
            _ => Err(Error::Config(
                "window: give { count = N } or { time = SECONDS, buckets = N }".into(),
            )),
        }
    }
}

impl RetryFields {
    fn config(&self) -> Result<RetryConfig, Error> {
        let mut c = RetryConfig::default();
        if let Some(name) = &self.strategy {
            c.strategy = RetryStrategy::from_name(name).ok_or_else(|| {
                let names: Vec<_> = RetryStrategy::ALL.iter().map(|s| s.name()).collect();
                Error::Config(format!(
                    "invalid retry.strategy = {name:?}: must be one of {}",
                    names.join(", ")
                ))
            })?;
        }
        set(&mut c.max_attempts, self.max_attempts);
        set(
            &mut c.initial_delay,
            secs("retry.initial_delay", self.initial_delay)?,
        );
        set(&mut c.max_delay, secs("retry.max_delay", self.max_delay)?);
        set(&mut c.exponential_base, self.exponential_base);
        set(&mut c.jitter_factor, self.jitter_factor);
        c.max_total_delay = secs("retry.max_total_delay", self.max_total_delay)?;
        c.validate().map(|()| c).map_err(config_error)
    }
}

impl BudgetFields {
    fn config(&self) -> Result<RetryBudgetConfig, Error> {
        let mut c = RetryBudgetConfig::default();
        set(&mut c.budget_percent, self.budget_percent);
        set(&mut c.min_requests, self.min_requests);
        set(
            &mut c.window_size,
            secs("retry_budget.window_size", self.window_size)?,
        );
        set(&mut c.tokens_per_second, self.tokens_per_second);
        set(&mut c.max_tokens, self.max_tokens);
        c.validate().map(|()| c).map_err(config_error)
    }
}

impl HedgeFields {
    fn config(&self) -> Result<HedgeConfig, Error> {
        let mut c = HedgeConfig::default();
        set(&mut c.max_hedges, self.max_hedges);
        set(&mut c.delay, secs("hedge.delay", self.delay)?);
        if let Some(q) = self.quantile {
            c.quantile = (q != 0.0).then_some(q);
        }
        set(&mut c.min_delay, secs("hedge.min_delay", self.min_delay)?);
        set(&mut c.max_delay, secs("hedge.max_delay", self.max_delay)?);
        set(&mut c.window, secs("hedge.window", self.window)?);
        set(&mut c.min_samples, self.min_samples);
        c.validate().map(|()| c).map_err(config_error)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn secs(field: &str, value: Option<f64>) -> Result<Option<Duration>, Error> {
    value
        .map(|v| non_negative_seconds(field, v))
        .transpose()
        .map_err(Error::Config)
}

fn config_error(e: seawall::ConfigError) -> Error {
    Error::Config(e.to_string())
}
